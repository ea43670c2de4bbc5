/**
 * A layers model's topology checked before tfjs deserializes it. tfjs 4.22's `Container.fromConfig`
 * processes each layer's calls (inbound nodes) once the calls they read from exist, and loops
 * forever when one never will: a call that reads a layer's call that does not exist
 * (`["encoder_block_1", 1, 0]` of a layer called once), a missing layer, or a cycle. It also keeps
 * layers in plain objects keyed by name, so a layer named `toString` or a class named `constructor`
 * finds `Object.prototype`'s members instead (`unprocessedNodes[...].push is not a function`).
 *
 * So, for every model (nested ones too): names are strings, unique and not members of
 * `Object.prototype`; every tensor reference names an existing layer, a call it has and a tensor
 * index; the calls form no cycle (checked per call, since a shared layer may read its own earlier
 * call); at most MAX_LAYERS layers and MAX_DEPTH calls from an input to an output; every layer used
 * by the outputs, every input layer they read listed as an input. Both node formats are read:
 * Keras 2 / tfjs (`[[layer, call, tensor, kwargs], ...]`, tensors in kwargs too) and Keras 3
 * (`{args, kwargs}` with `__keras_tensor__` objects). How references number a nested model's calls
 * depends on who reads the topology next: `CallNumbering`.
 */
import { describeValue } from '../describe';
import { MAX_DEPTH, MAX_LAYERS } from './limits';
import { ModelLoadError } from './load_error';

/** A reference to output `tensor` of call `call` of layer `layer`. */
interface Ref {
  layer: string;
  call: number;
  tensor: number;
}

const MODEL_CLASSES = ['Functional', 'Model', 'Sequential'];
/** The most tensors a layer call may output that a reference may name (tfjs layers have one or a few). */
const MAX_TENSOR_INDEX = 1024;
/** Models inside models followed at most this deep. */
const MAX_MODEL_NESTING = 8;

/**
 * How a topology's references number the calls of a model nested in it (a layer of class
 * Functional, Model or Sequential):
 * - 'tfjs', for a topology tfjs deserializes as it is: a nested model's node 0 is the one tfjs makes
 *   when it builds the model (its own inputs to its own outputs, reading nothing of the outer graph),
 *   and its calls are nodes 1 to n (tfjs-layers 4.22 engine/container.ts);
 * - 'keras', for a Keras config or a model.json that keras/nested_models.ts inlines before tfjs sees
 *   it: from 0 or from 1 (Keras versions differ; that file's `callOffsets` tells them apart). A
 *   reference to a nested model is only checked to be one of the two, and a graph with nested models
 *   is left to the check of what tfjs then builds (inlined, with the 'tfjs' numbering) for its cycles,
 *   depth and unused layers.
 */
export type CallNumbering = 'tfjs' | 'keras';

/** Checks `modelTopology` (a model config, or `{model_config, ...}`) as the module comment says. */
export function checkTopology(modelTopology: unknown, file: string, numbering: CallNumbering = 'tfjs'): void {
  const fail = (problem: string): never => {
    throw new ModelLoadError(file, problem);
  };
  const root = asObject(modelTopology, 'modelTopology', fail);
  const config = root.model_config != null ? asObject(root.model_config, 'model_config', fail) : root;
  const count = { layers: 0 };
  checkModel(config, 'the model', 0, count, fail, numbering);
}

type Fail = (problem: string) => never;

function checkModel(
  model: Record<string, unknown>,
  where: string,
  nesting: number,
  count: { layers: number },
  fail: Fail,
  numbering: CallNumbering,
): void {
  if (nesting > MAX_MODEL_NESTING) fail(`nests models more than ${MAX_MODEL_NESTING} deep`);
  const className = checkClassName(model.class_name, where, fail);
  if (!MODEL_CLASSES.includes(className)) {
    fail(`${where} is a ${describeValue(className)}; expected a ${MODEL_CLASSES.join(', ')} model config`);
  }
  const config = model.config;
  const layersValue = Array.isArray(config) ? config : asObject(config, `${where}'s config`, fail).layers;
  if (!Array.isArray(layersValue)) fail(`${where}'s config has no layers list`);
  const layers = (layersValue as unknown[]).map((l, i) => asObject(l, `layer ${i} of ${where}`, fail));
  count.layers += layers.length;
  if (count.layers > MAX_LAYERS) fail(`has more than ${MAX_LAYERS} layers`);

  const calls = new Map<string, number>();
  const models = new Set<string>(); // the layers that are nested models
  for (const [i, layer] of layers.entries()) {
    const layerClass = checkClassName(layer.class_name, `layer ${i} of ${where}`, fail);
    const layerConfig = layer.config == null ? {} : asObject(layer.config, `layer ${i} of ${where}`, fail);
    // A functional model's layers are found by their own `name` (tfjs's Container.fromConfig reads
    // nothing else); a Sequential model's may name themselves in their config only.
    const name = className === 'Sequential' ? (layer.name ?? layerConfig.name) : layer.name;
    if (name != null || className !== 'Sequential') {
      if (typeof name !== 'string' || name === '') fail(`layer ${i} of ${where} has the name ${describeValue(name)}`);
      const text = name as string;
      if (layerConfig.name != null && layerConfig.name !== text) {
        fail(
          `layer ${describeValue(text)} of ${where} has config.name ${describeValue(layerConfig.name)}; ` +
            'the two must agree',
        );
      }
      if (text in Object.prototype) {
        fail(
          `layer ${i} of ${where} is named ${describeValue(text)}, a member of every JavaScript object, which ` +
            "tfjs's deserializer mistakes for one; rename the layer",
        );
      }
      if (calls.has(text)) fail(`${where} has two layers named ${describeValue(text)}`);
      const nodes = layer.inbound_nodes == null ? [] : layer.inbound_nodes;
      if (!Array.isArray(nodes)) fail(`layer ${describeValue(text)} has inbound_nodes ${describeValue(nodes)}`);
      // An InputLayer's one call is its own creation.
      calls.set(
        text,
        layerClass === 'InputLayer' ? Math.max(1, (nodes as unknown[]).length) : (nodes as unknown[]).length,
      );
    }
    if (MODEL_CLASSES.includes(layerClass)) {
      if (name != null) models.add(name as string);
      checkModel(layer, `model ${describeValue(name)}`, nesting + 1, count, fail, numbering);
    }
  }
  if (className === 'Sequential') return;

  // Every call's references, checked and turned into the call each reads ("layer/call"); then the
  // calls must form no cycle.
  const reads = new Map<string, Ref[]>(); // "layer/call" -> the calls it reads
  const checkRef = (ref: Ref, from: string): Ref => {
    const have = calls.get(ref.layer);
    if (have == null) fail(`${from} reads layer ${describeValue(ref.layer)}, which ${where} does not have`);
    if (ref.tensor > MAX_TENSOR_INDEX) fail(`${from} reads tensor ${ref.tensor} of layer ${describeValue(ref.layer)}`);
    // A nested model's calls are numbered from 1 ('tfjs'), or from 0 or 1 ('keras'): up to `have`.
    const nested = models.has(ref.layer);
    if (ref.call >= have! + (nested ? 1 : 0)) {
      const counted = nested ? (numbering === 'tfjs' ? ', counted from 1' : ', counted from 0 or 1') : '';
      const layer = describeValue(ref.layer);
      fail(`${from} reads call ${ref.call} of layer ${layer}, which is called ${have} time(s)${counted}`);
    }
    // tfjs's node 0 of a nested model reads nothing of this graph: "layer/-1".
    return nested ? { ...ref, call: numbering === 'tfjs' ? ref.call - 1 : -1 } : ref;
  };
  for (const layer of layers) {
    const name = String(layer.name);
    ((layer.inbound_nodes ?? []) as unknown[]).forEach((node, n) => {
      const from = `layer ${describeValue(name)} call ${n}`;
      const refs = nodeRefs(node, from, fail);
      // tfjs never makes a call that reads no tensor, and waits forever for the layers that read it.
      if (refs.length === 0) fail(`${from} reads no tensor; a layer's call takes at least one`);
      const read = refs.map((ref) => checkRef(ref, from));
      // tfjs numbers a layer's calls in the order it makes them: call n must be makeable after call
      // n - 1, never need a later one (or the numbers would not be the config's, and tfjs would wait).
      reads.set(`${name}/${n}`, n === 0 ? read : [...read, { layer: name, call: n - 1, tensor: 0 }]);
    });
  }
  const outputs = refList(asObject(model.config, where, fail).output_layers, `${where}'s output_layers`, fail);
  const inputs = refList(asObject(model.config, where, fail).input_layers, `${where}'s input_layers`, fail);
  const outputCalls = outputs.map((ref) => checkRef(ref, `${where}'s inputs and outputs`));
  inputs.forEach((ref) => checkRef(ref, `${where}'s inputs and outputs`));
  if (numbering === 'keras' && models.size > 0) return;
  checkAcyclic(reads, where, fail);
  // tfjs builds every layer of the config but keeps in the model only those its outputs depend on:
  // another layer's weights would outlive the model. Keras never saves such a layer.
  const used = new Set<string>();
  const pending = outputCalls.map((r) => `${r.layer}/${r.call}`);
  while (pending.length > 0) {
    const call = pending.pop()!;
    if (used.has(call)) continue;
    used.add(call);
    for (const ref of reads.get(call) ?? []) pending.push(`${ref.layer}/${ref.call}`);
  }
  const usedLayers = new Set([...used].map((call) => call.slice(0, call.lastIndexOf('/'))));
  const inputNames = new Set(inputs.map((ref) => ref.layer));
  for (const layer of layers) {
    const name = String(layer.name);
    if (layer.class_name !== 'InputLayer' && !usedLayers.has(name)) {
      fail(`layer ${describeValue(name)} of ${where} is not used by its outputs; a saved model has no such layer`);
    }
    if (layer.class_name === 'InputLayer' && usedLayers.has(name) && !inputNames.has(name)) {
      fail(`${where}'s outputs read its input layer ${describeValue(name)}, which is not one of its input_layers`);
    }
  }
}

/**
 * Iterative depth-first search over calls: a call met again on the current path is a cycle; a call
 * done has its depth, 1 + the deepest call it reads, which must stay within MAX_DEPTH.
 */
function checkAcyclic(reads: Map<string, Ref[]>, where: string, fail: Fail): void {
  const state = new Map<string, 'active' | 'done'>();
  const depth = new Map<string, number>();
  for (const start of reads.keys()) {
    if (state.has(start)) continue;
    const stack: [string, number][] = [[start, 0]];
    state.set(start, 'active');
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const refs = reads.get(top[0]) ?? [];
      if (top[1] >= refs.length) {
        state.set(top[0], 'done');
        const own = 1 + Math.max(0, ...refs.map((r) => depth.get(`${r.layer}/${r.call}`) ?? 0));
        if (own > MAX_DEPTH) {
          fail(
            `${where} is more than ${MAX_DEPTH} calls deep (at ${top[0].replace(/\/(\d+)$/, ' call $1')}); ` +
              'tfjs cannot build it',
          );
        }
        depth.set(top[0], own);
        stack.pop();
        continue;
      }
      const ref = refs[top[1]++];
      const next = `${ref.layer}/${ref.call}`;
      const seen = state.get(next);
      if (seen === 'active') {
        const path = stack.map(([call]) => call.replace(/\/(\d+)$/, ' call $1'));
        const cycle = path.slice(path.indexOf(next.replace(/\/(\d+)$/, ' call $1')));
        fail(`${where} has a cycle (${[...cycle, cycle[0]].join(' -> ').slice(0, 300)}); a model never does`);
      }
      if (seen == null) {
        state.set(next, 'active');
        stack.push([next, 0]);
      }
    }
  }
}

/** The tensor references of one call, in either node format. */
function nodeRefs(node: unknown, from: string, fail: Fail): Ref[] {
  const refs: Ref[] = [];
  if (Array.isArray(node)) {
    // Keras 2 / tfjs: a list of [layer, call, tensor, kwargs] entries, or (TFOpLambda) one entry.
    const entries = typeof node[0] === 'string' ? [node] : node;
    for (const entry of entries) {
      refs.push(toRef(entry, from, fail));
      if (Array.isArray(entry) && entry[3] != null) collect(entry[3], refs, from, fail, 'keras2');
    }
  } else if (node != null && typeof node === 'object') {
    collect(node, refs, from, fail, 'keras3');
  } else {
    fail(`${from} is ${describeValue(node)}; expected a list of tensor references or {args, kwargs}`);
  }
  return refs;
}

/** Tensor references anywhere in a call's arguments (iteratively; the JSON depth is bounded anyway). */
function collect(value: unknown, refs: Ref[], from: string, fail: Fail, format: 'keras2' | 'keras3'): void {
  const stack = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (Array.isArray(item)) {
      if (format === 'keras2' && isRefLike(item)) refs.push(toRef(item, from, fail));
      else stack.push(...item);
    } else if (item != null && typeof item === 'object') {
      const object = item as Record<string, unknown>;
      if (format === 'keras3' && object.class_name === '__keras_tensor__') {
        refs.push(toRef((object.config as Record<string, unknown> | null)?.keras_history, from, fail));
      } else {
        stack.push(...Object.values(object));
      }
    }
  }
}

function isRefLike(value: unknown[]): boolean {
  return (
    (value.length === 3 || value.length === 4) &&
    typeof value[0] === 'string' &&
    Number.isInteger(value[1]) &&
    Number.isInteger(value[2])
  );
}

function toRef(value: unknown, from: string, fail: Fail): Ref {
  if (
    !Array.isArray(value) ||
    value.length < 3 ||
    typeof value[0] !== 'string' ||
    !Number.isSafeInteger(value[1]) ||
    !Number.isSafeInteger(value[2]) ||
    value[1] < 0 ||
    value[2] < 0
  ) {
    return fail(`${from} has the tensor reference ${describeValue(value)}; expected [layer name, call, tensor]`);
  }
  return { layer: value[0], call: value[1], tensor: value[2] };
}

function refList(value: unknown, what: string, fail: Fail): Ref[] {
  if (value == null) return [];
  if (!Array.isArray(value)) return fail(`${what} is ${describeValue(value)}; expected a list of tensor references`);
  if (typeof value[0] === 'string') return [toRef(value, what, fail)];
  return value.map((v) => toRef(v, what, fail));
}

function checkClassName(value: unknown, where: string, fail: Fail): string {
  if (typeof value !== 'string' || value === '') fail(`${where} has the class_name ${describeValue(value)}`);
  if ((value as string) in Object.prototype) {
    fail(
      `${where} has the class_name ${describeValue(value)}, which is no layer class ` +
        '(a member of every JavaScript object)',
    );
  }
  return value as string;
}

function asObject(value: unknown, what: string, fail: Fail): Record<string, unknown> {
  if (value == null || typeof value !== 'object' || Array.isArray(value)) {
    fail(`${what} is ${describeValue(value)}; expected a JSON object`);
  }
  return value as Record<string, unknown>;
}
