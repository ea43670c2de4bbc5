/**
 * Models nested in a model (a `keras.Sequential` feed-forward block, or a functional model called
 * as a layer), inlined into the outer graph, and where Keras keeps their weights.
 *
 * Each call of a nested model becomes its layers called on that call's inputs: the nested model's
 * InputLayers are replaced by the call's input tensors, and a reference to the nested model's
 * output (`["ffn", 0, 0]`) by a reference to the inner layer that computes it. A nested model
 * called twice shares its layers (one tfjs layer, two calls), as in Keras. Inner layers keep their
 * Keras names (`dense_3`), unless the outer model already has that name (then
 * `<nested model>/<layer>`). Masks flow through the inlined layers as they flow through the
 * nested model in Keras.
 *
 * Where the weights are (keras/src/saving/saving_lib.py, keras/src/legacy/saving/legacy_h5_format.py,
 * and tf-keras's equals):
 * - `.keras`: the nested model is a group of the outer `layers/` named after its class
 *   (`functional`, `sequential`, with a counter), holding its own `layers/<group>` named the same
 *   way; a functional model's InputLayer counts, a Sequential's does not (`Sequential.layers`
 *   leaves it out): `layers/sequential/layers/dense_1/vars/0`.
 * - full-model `.h5`: the nested model is one `model_weights/<its name>` group whose `weight_names`
 *   list all its weights in `_legacy_weights` order: every trainable weight of its layers (in
 *   layer order), then every non-trainable one.
 *
 * How the outer graph numbers a nested model's calls differs between Keras versions: see
 * `NestedModel.firstCall` (keras2_config.ts, keras3_config.ts).
 */
import { isOperation, KerasGraph, LayerJson, NodeCall, refsOf, TensorRef } from './graph';
import { keras3GroupNames } from './weights';

/** A graph without nested models, and where its layers' weights are. */
export interface FlatGraph extends KerasGraph {
  /** Layer name -> its weights group in a `.keras` weights file, below `layers/`. */
  kerasGroups: Map<string, string>;
  /**
   * A full-model `.h5`'s `model_weights/<group>` of each nested model -> the layers inlined from it,
   * in Keras's layer order (their weights are listed in that group, not in groups of their own).
   */
  h5Groups: Map<string, string[]>;
}

/** The most layer calls inlining may create (a model calling a nested model calling a nested model ... grows fast). */
export const MAX_INLINED_CALLS = 100_000;

/** Inlines every nested model of `graph` (recursively); a graph without any comes back with its weight groups. */
export function inlineNestedModels(graph: KerasGraph, where: string): FlatGraph {
  return inline(graph, where, { calls: 0 });
}

interface Inlined {
  /** The nested model's layer. */
  layer: LayerJson;
  flat: FlatGraph;
  /** Inner layer name -> its name in the outer graph. */
  names: Map<string, string>;
  /** Per call of the nested model: its input tensors (outer references). */
  inputs: TensorRef[][];
  /** The index the outer graph's references give the first call, per kind of reference. */
  firstCall: { nodes: number; io: number };
}

function inline(graph: KerasGraph, where: string, budget: { calls: number }): FlatGraph {
  const groups = keras3GroupNames(
    graph.layers.map((l) => ({
      name: l.name,
      kerasClass: l.class_name,
      isOperation: l.model == null && (isOperation(l) || l.noWeightsGroup === true),
    })),
  );
  if (!graph.layers.some((l) => l.model != null)) {
    return { ...graph, kerasGroups: groups, h5Groups: new Map() };
  }
  // Every outer name stays; inner names must not shadow one (nested models' included, which resolve() looks for).
  const taken = new Set(graph.layers.map((l) => l.name));
  const nested = new Map<string, Inlined>();
  for (const layer of graph.layers) {
    if (layer.model == null) continue;
    const at = `${where}: layer '${layer.name}' (a nested ${layer.class_name})`;
    const flat = inline(layer.model.graph, at, budget);
    const inputNames = new Set(flat.inputs.map((r) => r.layer));
    const names = new Map<string, string>();
    for (const inner of flat.layers) {
      if (inputNames.has(inner.name)) continue;
      let name = taken.has(inner.name) ? `${layer.name}/${inner.name}` : inner.name;
      for (let i = 2; taken.has(name); i++) name = `${layer.name}/${inner.name}_${i}`;
      taken.add(name);
      names.set(inner.name, name);
    }
    const inputs = layer.nodes.map((node, c) => callInputs(node, flat.inputs.length, `${at} call ${c}`));
    nested.set(layer.name, { layer, flat, names, inputs, firstCall: layer.model.firstCall });
  }
  const offsets = callOffsets(graph, nested, where);

  /** An outer reference, with every reference to a nested model's output replaced by the inner layer's. */
  const resolve = (ref: TensorRef, kind: 'nodes' | 'io', depth = 0): TensorRef => {
    const model = nested.get(ref.layer);
    if (model == null) return ref;
    if (depth > graph.layers.length) throw new Error(`${where}: nested models refer to each other in a cycle`);
    const call = ref.node - offsets.get(ref.layer)![kind];
    const output = model.flat.outputs[ref.tensor];
    if (output == null) {
      throw new Error(
        `${where}: refers to output ${ref.tensor} of the nested model '${ref.layer}', ` +
          `which has ${model.flat.outputs.length} output(s)`,
      );
    }
    return resolve(innerRef(model, output, call, where), 'nodes', depth + 1);
  };

  const layers: LayerJson[] = [];
  const kerasGroups = new Map<string, string>();
  const h5Groups = new Map<string, string[]>();
  for (const layer of graph.layers) {
    const model = nested.get(layer.name);
    if (model == null) {
      layers.push({ ...layer, nodes: layer.nodes.map((node) => mapRefs(node, (r) => resolve(r, 'nodes'))) });
      if (groups.has(layer.name)) kerasGroups.set(layer.name, groups.get(layer.name)!);
      continue;
    }
    const members: string[] = [];
    for (const inner of model.flat.layers) {
      const name = model.names.get(inner.name);
      if (name == null) continue; // one of the nested model's inputs
      const nodes: NodeCall[] = [];
      model.inputs.forEach((_inputs, call) => {
        for (const node of inner.nodes) {
          nodes.push(mapRefs(node, (r) => resolve(innerRef(model, r, call, where), 'nodes')));
        }
      });
      budget.calls += nodes.length;
      if (budget.calls > MAX_INLINED_CALLS) {
        throw new Error(
          `${where}: inlining the nested models makes more than ${MAX_INLINED_CALLS} layer calls; ` +
            'a model this deep is not supported',
        );
      }
      const trainable = layer.config.trainable === false ? { trainable: false } : {};
      layers.push({ ...inner, name, config: { ...inner.config, ...trainable, name }, nodes });
      members.push(name);
      const group = model.flat.kerasGroups.get(inner.name);
      if (group != null) kerasGroups.set(name, `${groups.get(layer.name)}/layers/${group}`);
    }
    h5Groups.set(layer.name, members);
  }
  return {
    name: graph.name,
    layers,
    inputs: graph.inputs.map((r) => resolve(r, 'io')),
    outputs: graph.outputs.map((r) => resolve(r, 'io')),
    kerasGroups,
    h5Groups,
  };
}

/**
 * `ref` (a tensor inside the nested model) for call `call` of it, in the outer graph: an input of
 * the nested model is that call's input tensor; a layer's call n is the inlined layer's call
 * `call * (calls per nested call) + n`.
 */
function innerRef(model: Inlined, ref: TensorRef, call: number, where: string): TensorRef {
  const index = model.flat.inputs.findIndex((r) => r.layer === ref.layer);
  if (index >= 0) return model.inputs[call][index];
  const name = model.names.get(ref.layer);
  const inner = model.flat.layers.find((l) => l.name === ref.layer);
  if (name == null || inner == null) {
    throw new Error(
      `${where}: the nested model '${model.layer.name}' refers to layer '${ref.layer}', which it does not have ` +
        'as a layer or an input',
    );
  }
  return new TensorRef(name, call * inner.nodes.length + ref.node, ref.tensor);
}

/** The input tensors of one call of a nested model: one per input of the model. */
function callInputs(node: NodeCall, count: number, where: string): TensorRef[] {
  const { mask, training, ...rest } = node.kwargs;
  // The padding masks Keras 3.15+ writes into a call (one per input, null for none) are the ones
  // the inlined layers get by propagation.
  const masks = [mask].flat(Infinity);
  if (!masks.every((m) => m == null || m instanceof TensorRef)) {
    throw new Error(`${where}: mask=${JSON.stringify(mask)}; expected a tensor, null or a list of them`);
  }
  if (training != null && training !== false) {
    throw new Error(`${where}: training=${JSON.stringify(training)} is not supported (it changes the result)`);
  }
  const extra = Object.keys(rest);
  if (extra.length > 0) {
    throw new Error(`${where}: call argument(s) ${extra.join(', ')} of a nested model are not supported`);
  }
  const tensors: TensorRef[] = [];
  const walk = (value: unknown): void => {
    if (value instanceof TensorRef) tensors.push(value);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value != null) {
      throw new Error(
        `${where}: a nested model called on ${JSON.stringify(value)}; expected its input tensors ` +
          '(a dict of inputs is not supported)',
      );
    }
  };
  walk(node.args);
  if (tensors.length !== count) {
    throw new Error(`${where}: the nested model is called on ${tensors.length} tensor(s); it has ${count} input(s)`);
  }
  return tensors;
}

/**
 * Per nested model, the index of its first call in each kind of reference. Keras's rule
 * (`firstCall`) is kept when every reference fits it; when none would fit but all fit the other
 * numbering, that one (a model.json that tfjs wrote counts every nested model from 1).
 */
function callOffsets(
  graph: KerasGraph,
  nested: Map<string, Inlined>,
  where: string,
): Map<string, { nodes: number; io: number }> {
  const refs = new Map<string, { nodes: number[]; io: number[] }>(
    [...nested.keys()].map((n) => [n, { nodes: [], io: [] }]),
  );
  for (const layer of graph.layers) {
    for (const node of layer.nodes) for (const r of refsOf(node)) refs.get(r.layer)?.nodes.push(r.node);
  }
  for (const r of [...graph.inputs, ...graph.outputs]) refs.get(r.layer)?.io.push(r.node);
  const offsets = new Map<string, { nodes: number; io: number }>();
  for (const [name, model] of nested) {
    const calls = model.inputs.length;
    const fits = (indices: number[], first: number) => indices.every((i) => i - first >= 0 && i - first < calls);
    const pick = (kind: 'nodes' | 'io'): number => {
      const indices = refs.get(name)![kind];
      const first = model.firstCall[kind];
      if (fits(indices, first)) return first;
      if (fits(indices, 1 - first)) return 1 - first;
      const bad = indices.find((i) => i - first < 0 || i - first >= calls);
      throw new Error(
        `${where}: refers to call ${bad} of the nested model '${name}', which is called ${calls} time(s)` +
          (first === 1 ? ' (counted from 1)' : ''),
      );
    };
    offsets.set(name, { nodes: pick('nodes'), io: pick('io') });
  }
  return offsets;
}

/** A call with every TensorRef in it replaced by `f(ref)`. */
function mapRefs(node: NodeCall, f: (ref: TensorRef) => TensorRef): NodeCall {
  const map = (value: unknown): unknown => {
    if (value instanceof TensorRef) return f(value);
    if (Array.isArray(value)) return value.map(map);
    if (value != null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, map(v)]));
    }
    return value;
  };
  return {
    args: node.args.map(map),
    kwargs: Object.fromEntries(Object.entries(node.kwargs).map(([k, v]) => [k, map(v)])),
  };
}
