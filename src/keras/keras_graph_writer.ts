/**
 * Writing a Keras 3 functional model: the `config.json` of a `.keras` archive, in the form
 * `keras.Model.get_config()` gives it (keras/src/models/functional.py `get_config` and
 * `serialize_node`; keras/src/saving/serialization_lib.py), and the weights, each at its path in
 * `model.weights.h5`.
 *
 * - each layer or operation is `{module, class_name, config, registered_name, name, inbound_nodes}`;
 *   a call (inbound node) is `{args, kwargs}`, every tensor in it a `__keras_tensor__` naming the
 *   layer, call and output it comes from (`keras_history`);
 * - the layers are listed in the order Keras itself lists them (`Functional.layers`: keras/src/ops/
 *   function.py `map_graph`, by depth from the inputs, ties in the order a depth-first walk from
 *   the outputs first reaches them), because a `.keras` weights file names each layer's group by
 *   its class and its rank among that class's layers in that order (`layers/dense_1`, weights.ts
 *   `keras3GroupNames`), and Keras loads a file by the order it computes.
 */
import * as tf from '@tensorflow/tfjs';
import { keras3GroupNames } from './weights';

/** A tensor of the Keras graph: output `index` of call `node` of layer (or operation) `layer`. */
export interface KerasTensor {
  layer: string;
  node: number;
  index: number;
  shape: Array<number | null>;
  dtype: string;
}

/** What a layer of the Keras model is: its class, its config, and its weights. */
export interface KerasLayerSpec {
  /** Keras's module for the class: 'keras.layers', or keras-hub's 'keras_hub.src.layers.modeling...'. */
  module: string;
  className: string;
  /** keras-hub's registered name ('keras_hub>TransformerEncoder'); null for Keras's own classes. */
  registeredName?: string | null;
  name: string;
  /** The config without `name` (added here), with `trainable` for a layer. */
  config: Record<string, unknown>;
  /** Each weight, at its path below the layer's group (`vars/0`, `query_dense/vars/1`, ...). */
  weights?: { path: string; variable: tf.LayerVariable }[];
  /**
   * What the layer is written for (`'embedding'`, `'embedding/positions'`): a second `layer` with
   * the same key is the same layer, called again (a tfjs layer shared by several calls).
   */
  key?: string;
}

interface Entry extends KerasLayerSpec {
  isOperation: boolean;
  calls: { args: unknown[]; kwargs: Record<string, unknown>; inputs: KerasTensor[] }[];
}

/** A weight of the written model: its dataset path in `model.weights.h5`. */
export interface WrittenWeight {
  path: string;
  variable: tf.LayerVariable;
}

/** The keras.ops classes written as operations, and their modules. */
const NUMPY_OPERATIONS =
  'Add Subtract Multiply Divide Maximum Minimum Power Equal NotEqual LogicalAnd LogicalOr GetItem';
const REDUCE_OPERATIONS = 'Mean Sum Max Min Prod';
const NN_OPERATIONS = 'Relu Relu6 Sigmoid Tanh Softplus Softsign Silu Selu Mish Gelu LeakyRelu Elu Softmax';
const OPERATION_MODULES: Record<string, string> = Object.fromEntries([
  ...`${NUMPY_OPERATIONS} ${REDUCE_OPERATIONS}`.split(' ').map((op) => [op, 'keras.src.ops.numpy']),
  ...NN_OPERATIONS.split(' ').map((op) => [op, 'keras.src.ops.nn']),
]);

export class KerasGraphWriter {
  private readonly entries = new Map<string, Entry>();
  private readonly inputs: KerasTensor[] = [];
  private readonly keys = new Map<string, string>();

  constructor(
    /** Names that only the layers given them explicitly may take (the tfjs model's layer names). */
    private readonly reserved: ReadonlySet<string> = new Set(),
  ) {}

  /** A name neither used nor reserved: `base`, else `base_1`, `base_2`, ... */
  uniqueName(base: string): string {
    const free = (name: string) => !this.entries.has(name) && !this.reserved.has(name);
    if (free(base)) return base;
    for (let i = 1; ; i++) if (free(`${base}_${i}`)) return `${base}_${i}`;
  }

  /** A model input (an InputLayer). */
  input(name: string, shape: Array<number | null>, dtype: string): KerasTensor {
    const entry = this.add(
      {
        module: 'keras.layers',
        className: 'InputLayer',
        name,
        config: { batch_shape: shape, dtype, sparse: false, ragged: false, optional: false },
      },
      false,
    );
    const tensor = { layer: entry.name, node: 0, index: 0, shape, dtype };
    this.inputs.push(tensor);
    return tensor;
  }

  /** A layer, not yet called (its name must be new: see `uniqueName`), or the one written for `spec.key`. */
  layer(spec: KerasLayerSpec): string {
    const written = spec.key == null ? undefined : this.keys.get(spec.key);
    if (written != null) return written;
    const name = this.add(spec, false).name;
    if (spec.key != null) this.keys.set(spec.key, name);
    return name;
  }

  /** Calls layer `name` on `args`/`kwargs` (tensors anywhere in them); returns its outputs. */
  call(
    name: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
    outputs: Array<{ shape: Array<number | null>; dtype: string }>,
  ): KerasTensor[] {
    const entry = this.entries.get(name);
    if (entry == null) throw new Error(`KerasGraphWriter: no layer '${name}'`);
    const node = entry.calls.length;
    entry.calls.push({ args, kwargs, inputs: tensorsIn([args, kwargs]) });
    return outputs.map((o, index) => ({ layer: name, node, index, ...o }));
  }

  /**
   * A keras.ops operation (`keras.ops.not_equal(x, 0)`, `x[:, None]`), called once; `config`: its
   * constructor's arguments (`{axis: [1]}` for Mean).
   */
  op(
    className: string,
    name: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
    output: { shape: Array<number | null>; dtype: string },
    config: Record<string, unknown> = {},
  ): KerasTensor {
    const module = OPERATION_MODULES[className];
    if (module == null) throw new Error(`KerasGraphWriter: no keras.ops operation ${className}`);
    const entry = this.add({ module, className, registeredName: className, name: this.uniqueName(name), config }, true);
    return this.call(entry.name, args, kwargs, [output])[0];
  }

  /**
   * The model config (`config.json`) with the given outputs, and where each weight goes in
   * `model.weights.h5` (`layers/<group>/<path>`, groups in Keras's layer order), with the name of
   * each group's layer (its `vars` group's `name` attribute, as Keras writes it).
   */
  finish(
    modelName: string,
    outputs: KerasTensor[],
  ): { config: Record<string, unknown>; weights: WrittenWeight[]; groups: Map<string, string> } {
    const order = kerasLayerOrder(this.entries, this.inputs, outputs);
    const groups = keras3GroupNames(
      order.map((e) => ({ name: e.name, kerasClass: e.className, isOperation: e.isOperation })),
    );
    const weights = order.flatMap((e) =>
      (e.weights ?? []).map((w) => ({ path: `layers/${groups.get(e.name)}/${w.path}`, variable: w.variable })),
    );
    const ref = (t: KerasTensor) => [t.layer, t.node, t.index];
    const io = (tensors: KerasTensor[]) => (tensors.length === 1 ? ref(tensors[0]) : tensors.map(ref));
    const config = {
      module: 'keras.src.models.functional',
      class_name: 'Functional',
      config: {
        name: modelName,
        trainable: true,
        layers: order.map(serializeEntry),
        input_layers: io(this.inputs),
        output_layers: io(outputs),
      },
      registered_name: 'Functional',
      build_config: { input_shape: null },
      compile_config: {},
    };
    const named = new Map(order.filter((e) => !e.isOperation).map((e) => [groups.get(e.name)!, e.name]));
    return { config, weights, groups: named };
  }

  private add(spec: KerasLayerSpec, isOperation: boolean): Entry {
    if (this.entries.has(spec.name)) throw new Error(`KerasGraphWriter: two layers are named '${spec.name}'`);
    const entry: Entry = { ...spec, isOperation, calls: [] };
    this.entries.set(spec.name, entry);
    return entry;
  }
}

/** Every Keras tensor in a nested structure of call arguments, in Keras's order (`tree.flatten`: dict keys sorted). */
function tensorsIn(value: unknown): KerasTensor[] {
  if (isKerasTensor(value)) return [value];
  if (Array.isArray(value)) return value.flatMap(tensorsIn);
  if (value != null && typeof value === 'object') {
    return Object.keys(value)
      .sort()
      .flatMap((k) => tensorsIn((value as Record<string, unknown>)[k]));
  }
  return [];
}

function isKerasTensor(value: unknown): value is KerasTensor {
  return value != null && typeof value === 'object' && 'layer' in value && 'node' in value && 'index' in value;
}

function serializeEntry(entry: Entry): Record<string, unknown> {
  const value = (v: unknown): unknown => {
    if (isKerasTensor(v)) {
      return {
        class_name: '__keras_tensor__',
        config: { shape: v.shape, dtype: v.dtype, keras_history: [v.layer, v.node, v.index] },
      };
    }
    if (Array.isArray(v)) return v.map(value);
    if (v != null && typeof v === 'object' && !('class_name' in v)) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, value(x)]));
    }
    return v;
  };
  return {
    module: entry.module,
    class_name: entry.className,
    config: { name: entry.name, ...entry.config },
    registered_name: entry.registeredName ?? null,
    name: entry.name,
    inbound_nodes: entry.calls.map((c) => ({ args: value(c.args), kwargs: value(c.kwargs) })),
  };
}

/**
 * The layers in Keras's order (keras/src/ops/function.py `map_graph` and `_build_map`): a
 * depth-first walk from each output, through each call's input tensors in order, numbers the
 * layers as it first reaches them and lists the calls inputs first; a call's depth is the longest
 * path from it to an output; layers go by decreasing depth, ties by their number.
 */
function kerasLayerOrder(entries: Map<string, Entry>, inputs: KerasTensor[], outputs: KerasTensor[]): Entry[] {
  const callKey = (t: { layer: string; node: number }) => `${t.layer}/${t.node}`;
  const number = new Map<string, number>();
  const finished = new Set<string>();
  const postorder: { layer: string; node: number }[] = [];
  const visit = (tensor: KerasTensor): void => {
    const call = { layer: tensor.layer, node: tensor.node };
    if (finished.has(callKey(call))) return;
    if (!number.has(call.layer)) number.set(call.layer, number.size);
    const entry = entries.get(call.layer)!;
    if (entry.className !== 'InputLayer') entry.calls[call.node].inputs.forEach(visit);
    finished.add(callKey(call));
    postorder.push(call);
  };
  outputs.forEach(visit);
  // Depths: outputs 0, each call's inputs at least one deeper; a layer takes its deepest call's.
  const depth = new Map<string, number>();
  const layerDepth = new Map<string, number>();
  for (const call of [...postorder].reverse()) {
    const d = Math.max(depth.get(callKey(call)) ?? 0, layerDepth.get(call.layer) ?? 0);
    depth.set(callKey(call), d);
    layerDepth.set(call.layer, d);
    const entry = entries.get(call.layer)!;
    if (entry.className === 'InputLayer') continue;
    for (const input of entry.calls[call.node].inputs) {
      depth.set(callKey(input), Math.max(depth.get(callKey(input)) ?? 0, d + 1));
    }
  }
  for (const input of inputs) {
    if (!layerDepth.has(input.layer)) {
      layerDepth.set(input.layer, 0);
      number.set(input.layer, -1);
    }
  }
  const unused = [...entries.keys()].filter((name) => !layerDepth.has(name));
  if (unused.length > 0) throw new Error(`KerasGraphWriter: ${unused.join(', ')} do not lead to an output`);
  return [...layerDepth.keys()]
    .sort((a, b) => layerDepth.get(b)! - layerDepth.get(a)! || number.get(a)! - number.get(b)!)
    .map((name) => entries.get(name)!);
}
