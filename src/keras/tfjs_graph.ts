/**
 * A tfjs `LayersModel` (functional or `tf.sequential`) as the list of its layer calls, for the
 * Keras writer (save.ts): which tensors each call takes and gives, their shapes and dtypes, and the
 * order tfjs's model executor runs them in (`predict`, `fit` and `evaluate` share it, and the
 * padding masks a layer receives depend on it: export_masks.ts).
 *
 * Tensors are named by keys `layer/call/output` (`embedding/0/0`), the model's own numbering of a
 * layer's calls (tfjs's `getConfig`).
 */
import * as tf from '@tensorflow/tfjs';

/** One call of a layer in the model. */
export interface TfjsCall {
  layer: tf.layers.Layer;
  /** Which of the layer's calls in this model (0 unless the layer is shared). */
  node: number;
  /** Keys of the input tensors, in the order the layer takes them. */
  inputs: string[];
  /** Keys of the output tensors. */
  outputs: string[];
  /** The call's keyword arguments as tfjs recorded them. */
  kwargs: Record<string, unknown>;
}

/** A symbolic tensor's shape (null: unknown) and dtype. */
export interface TensorSpec {
  shape: Array<number | null>;
  dtype: string;
}

export interface TfjsGraph {
  name: string;
  /** The model's InputLayers, with the keys of their tensors. */
  inputs: { layer: tf.layers.Layer; key: string }[];
  /** Every call but the InputLayers', each after the calls it reads from. */
  calls: TfjsCall[];
  outputs: string[];
  specs: Map<string, TensorSpec>;
}

export function tensorKey(layer: string, node: number, index: number): string {
  return `${layer}/${node}/${index}`;
}

/** The model's calls; a nested model (a model used as a layer) is refused by name. */
export function readTfjsGraph(model: tf.LayersModel, where: string): TfjsGraph {
  if (model instanceof tf.Sequential) return readSequential(model, where);
  const config = model.getConfig() as unknown as {
    name: string;
    layers: { name: string; inboundNodes: [string, number, number, Record<string, unknown>][][] }[];
    inputLayers: [string, number, number][];
    outputLayers: [string, number, number][];
  };
  const specs = new Map<string, TensorSpec>();
  const calls: TfjsCall[] = [];
  const inputs: TfjsGraph['inputs'] = [];
  for (const entry of config.layers) {
    const layer = model.getLayer(entry.name);
    refuseNestedModel(layer, where);
    if (layer.getClassName() === 'InputLayer') {
      const key = tensorKey(layer.name, 0, 0);
      specs.set(key, specOf(layer.getOutputAt(0) as tf.SymbolicTensor));
      inputs.push({ layer, key });
      continue;
    }
    if (entry.inboundNodes.length !== layer.inboundNodes.length) {
      throw new Error(
        `${where}: layer '${layer.name}' (${layer.getClassName()}) is also called outside this model; ` +
          'export a model whose layers belong to it alone',
      );
    }
    entry.inboundNodes.forEach((node, n) => {
      const produced = layer.getOutputAt(n) as tf.SymbolicTensor | tf.SymbolicTensor[];
      const outputs = (Array.isArray(produced) ? produced : [produced]).map((tensor, i) => {
        const key = tensorKey(layer.name, n, i);
        specs.set(key, specOf(tensor));
        return key;
      });
      calls.push({
        layer,
        node: n,
        inputs: node.map(([name, nodeIndex, tensorIndex]) => tensorKey(name, nodeIndex, tensorIndex)),
        outputs,
        kwargs: node[0]?.[3] ?? {},
      });
    });
  }
  // The model's inputs in its own order (config.layers lists them wherever the graph needs them).
  const order = config.inputLayers.map(([name]) => name);
  inputs.sort((a, b) => order.indexOf(a.layer.name) - order.indexOf(b.layer.name));
  return {
    name: config.name,
    inputs,
    calls,
    outputs: config.outputLayers.map(([name, node, index]) => tensorKey(name, node, index)),
    specs,
  };
}

/** A `tf.sequential`: its input, then each layer called once on the previous one's output. */
function readSequential(model: tf.Sequential, where: string): TfjsGraph {
  const input = model.inputs[0];
  const inputLayer = input.sourceLayer as tf.layers.Layer;
  const specs = new Map<string, TensorSpec>();
  let previous = tensorKey(inputLayer.name, 0, 0);
  specs.set(previous, specOf(input));
  const calls = model.layers.map((layer): TfjsCall => {
    refuseNestedModel(layer, where);
    const key = tensorKey(layer.name, 0, 0);
    specs.set(key, specOf(layer.getOutputAt(0) as tf.SymbolicTensor));
    const call = { layer, node: 0, inputs: [previous], outputs: [key], kwargs: {} };
    previous = key;
    return call;
  });
  return {
    name: model.name,
    inputs: [{ layer: inputLayer, key: tensorKey(inputLayer.name, 0, 0) }],
    calls,
    outputs: [previous],
    specs,
  };
}

function refuseNestedModel(layer: tf.layers.Layer, where: string): void {
  if (layer instanceof tf.LayersModel) {
    throw new Error(
      `${where}: layer '${layer.name}' is a model used as a layer (${layer.getClassName()}), which saveKerasModel ` +
        'does not write; build the model from its layers directly',
    );
  }
}

function specOf(tensor: tf.SymbolicTensor): TensorSpec {
  return { shape: [...tensor.shape], dtype: tensor.dtype };
}

/**
 * The calls in the order tfjs 4.22's model executor runs them for `predict` (tfjs-layers
 * engine/executor.ts `getTopologicalSortAndRecipientCounts`): for each output in turn, a depth-first
 * walk that pushes a tensor's inputs in order and so visits the last input first; a call runs when
 * its first output is reached (the executor runs a call once per output tensor it sorts, which
 * changes nothing here).
 */
export function executionOrder(graph: TfjsGraph): TfjsCall[] {
  const producer = new Map<string, TfjsCall>();
  for (const call of graph.calls) for (const key of call.outputs) producer.set(key, call);
  const visited = new Set<string>(graph.inputs.map((i) => i.key));
  const order: TfjsCall[] = [];
  const ran = new Set<TfjsCall>();
  for (const fetch of graph.outputs) {
    const stack = [fetch];
    const marks: number[] = [];
    const seen = new Set<string>(visited);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (seen.has(top)) {
        stack.pop();
        continue;
      }
      const call = producer.get(top)!;
      const marked = marks[marks.length - 1] === stack.length - 1;
      if (marked) {
        stack.pop();
        marks.pop();
        seen.add(top);
        if (!ran.has(call)) {
          ran.add(call);
          order.push(call);
        }
      } else {
        marks.push(stack.length - 1);
        for (const input of call.inputs) if (!seen.has(input)) stack.push(input);
      }
    }
    seen.forEach((key) => visited.add(key));
  }
  return order;
}
