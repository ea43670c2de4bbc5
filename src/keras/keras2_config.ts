/**
 * Keras 2 (tf-keras) model configs, from a Keras 2 `.h5`'s `model_config` or a model.json that
 * tensorflowjs_converter wrote, parsed into the shared graph form of graph.ts.
 *
 * tf-keras's node format (tf_keras/engine/node.py `serialize`, functional.py `get_network_config`):
 * a layer's `inbound_nodes` is one entry per call, each a list of `[layer, node, tensor, kwargs]`,
 * one per positional input, the call's keyword arguments in the entries' kwargs:
 *
 *     "inbound_nodes": [[["layer_norm", 0, 0, {"value": ["layer_norm", 0, 0]}]]]
 *
 * Tensors inside kwargs are `[layer, node, tensor]` lists. `TFOpLambda` layers (tf.* functions
 * used on Keras tensors, e.g. `x + y` is `tf.__operators__.add`) write a call as one such entry,
 * not wrapped in a list: `"inbound_nodes": [["input_1", 0, 0, {"y": ["mha", 0, 0], "name": null}]]`.
 *
 * Plain `tf.loadLayersModel` passes such kwargs on as plain values, so tensors given by keyword
 * never reach the layer (tfjs issue #8574); here they become arguments of the call, which
 * graph.ts turns into the layer's inputs.
 */
import { KerasGraph, NestedModel, NodeCall, sequentialGraph, TensorRef } from './graph';
import { asObject, parseLayers, refList, tensorRef } from './keras3_config';

/**
 * Parses a Keras 2 model config (`{class_name: 'Functional' | 'Model' | 'Sequential', config: {layers, ...}}`).
 * `readModules`: the config carries Keras 3-style `module`/`registered_name` per layer (tf.keras
 * 2.13+ writes them in its `.keras` zip); an `.h5` of Keras 2 has none. `nested`: the model is
 * nested in another, so a Sequential needs no input shape (its input is what it is called on).
 */
export function parseKeras2Config(
  modelConfig: unknown,
  where: string,
  readModules = false,
  nested = false,
): KerasGraph {
  const root = asObject(modelConfig, where, 'the model config');
  if (root.class_name !== 'Functional' && root.class_name !== 'Model' && root.class_name !== 'Sequential') {
    throw new Error(
      `${where}: the model is a ${String(root.class_name)}; only functional and Sequential models can be loaded`,
    );
  }
  const { config, layers } = parseLayers(root, where, parseNode, readModules, (layer, at) =>
    parseNestedModel(layer, at, readModules),
  );
  if (root.class_name === 'Sequential') {
    return sequentialGraph(String(config.name ?? 'sequential'), layers, where, nested);
  }
  return {
    name: String(config.name ?? 'model'),
    layers,
    inputs: refList(config.input_layers, where, 'input_layers'),
    outputs: refList(config.output_layers, where, 'output_layers'),
  };
}

/**
 * A tf.keras model nested in a model. tf.keras counts its calls from 1 when the model has a call
 * of its own from being built on its inputs (a Functional, or a Sequential whose layers start
 * with an InputLayer), everywhere: tf_keras/engine/functional.py `get_network_config` starts such
 * a layer's `node_conversion_map` at 1 (`_should_skip_first_node`), and node.py serializes call
 * arguments and keyword arguments through that map.
 */
function parseNestedModel(layer: Record<string, unknown>, where: string, readModules: boolean): NestedModel {
  const graph = parseKeras2Config(layer, where, readModules, true);
  const first = (layer.config as { layers: { class_name?: unknown }[] }).layers[0];
  const built = layer.class_name !== 'Sequential' || first?.class_name === 'InputLayer';
  return { graph, firstCall: { nodes: built ? 1 : 0, io: built ? 1 : 0 } };
}

function parseNode(node: unknown, where: string): NodeCall {
  if (!Array.isArray(node) || node.length === 0) {
    throw new Error(`${where}: expected a list of [layer, node, tensor, kwargs] entries, got ${JSON.stringify(node)}`);
  }
  // A TFOpLambda call is a single entry, not a list of them.
  const entries = typeof node[0] === 'string' ? [node] : node;
  const args: TensorRef[] = [];
  const kwargs: Record<string, unknown> = {};
  for (const entry of entries) {
    args.push(tensorRef(entry, where));
    const extra = Array.isArray(entry) ? entry[3] : undefined;
    if (extra != null) {
      for (const [key, value] of Object.entries(asObject(extra, where, 'call kwargs'))) kwargs[key] = parseValue(value);
    }
  }
  return { args, kwargs };
}

/** `[layer, node, tensor]` lists become TensorRef; other values stay as written. */
function parseValue(value: unknown): unknown {
  if (
    Array.isArray(value) &&
    (value.length === 3 || value.length === 4) &&
    typeof value[0] === 'string' &&
    Number.isInteger(value[1]) &&
    Number.isInteger(value[2])
  ) {
    return new TensorRef(value[0], value[1], value[2]);
  }
  if (Array.isArray(value)) return value.map(parseValue);
  return value;
}
