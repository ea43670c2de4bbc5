/**
 * Loading Keras models that contain `MultiHeadAttention`, as tensorflowjs_converter writes them.
 *
 * Keras 2 functional models call the layer as `mha(query, value=v, key=k)`: `value` and `key` are
 * keyword arguments, and the converter records them inside the layer's inbound node,
 *
 *     "inbound_nodes": [[["layer_norm", 0, 0, {"value": ["layer_norm", 0, 0]}]]]
 *
 * which plain `tf.loadLayersModel` cannot resolve: tfjs passes keyword arguments through as
 * plain values, so the layer would get a list of strings for `value` (tfjs issue #8574). Our
 * `MultiHeadAttention` takes its inputs positionally, `[query, value, key]`, so
 * `loadKerasModel` rewrites each such node into an ordinary three-input node before tfjs
 * deserializes the model, then loads the weights unchanged (names and layout are Keras's).
 *
 * Keyword arguments that are not tensors map onto the layer's config where the meaning is the
 * same (`use_causal_mask: true` -> `causal: true`); a tensor `attention_mask` keyword, which our
 * layer takes as a call option rather than an input, is rejected with an error naming the layer.
 */
import * as tf from '@tensorflow/tfjs';
import { ensureBackend } from '../backend';
import { isNodeRuntime } from './atomic';

/** A tensor reference in a Keras 2 inbound node: [layer name, node index, tensor index, kwargs?]. */
type TensorReference = [string, number, number, Record<string, unknown>?];
type InboundNode = TensorReference[];

interface KerasLayerJson {
  class_name: string;
  name?: string;
  config: Record<string, unknown>;
  inbound_nodes?: InboundNode[];
}

/** Keyword arguments of Keras's `MultiHeadAttention.call` that are input tensors, in our input order. */
const TENSOR_KWARGS = ['value', 'key'] as const;

/**
 * Loads a Keras model converted by tensorflowjs_converter (layers format) whose
 * `MultiHeadAttention` layers received `value`/`key` as keyword arguments.
 *
 * `location` is anything `tf.loadLayersModel` takes: a URL of model.json
 * (`https://...`, `/models/x/model.json`), `file://.../model.json` in Node, a
 * plain path in Node, or an `IOHandler`. Models without such nodes load as
 * they would with `tf.loadLayersModel`.
 *
 * ```ts
 * import 'tfjs-attention';
 * const model = await loadKerasModel('file://converted/model.json');
 * model.predict(tf.tensor2d([[3, 1, 4, 1, 5, 9]], undefined, 'int32'));
 * ```
 */
export async function loadKerasModel(location: string | tf.io.IOHandler): Promise<tf.LayersModel> {
  const handler = resolveHandler(location);
  await ensureBackend();
  if (handler.load == null)
    throw new Error(`loadKerasModel: the handler for ${describeLocation(location)} cannot load`);
  const artifacts = await handler.load();
  if (artifacts.modelTopology == null) {
    throw new Error(
      `loadKerasModel: ${describeLocation(location)} has no modelTopology; expected a tfjs layers-model model.json`,
    );
  }
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    throw new Error(
      `loadKerasModel: ${describeLocation(location)} holds a graph model (binary topology); expected a layers model`,
    );
  }
  const modelTopology = rewriteKerasTopology(
    artifacts.modelTopology as Record<string, unknown>,
    describeLocation(location),
  );
  return tf.loadLayersModel(tf.io.fromMemory({ ...artifacts, modelTopology }));
}

/**
 * Returns a copy of a Keras model topology (model.json's `modelTopology`) in
 * which every `MultiHeadAttention` node with `value`/`key` keyword arguments
 * lists them as positional inputs `[query, value, key]`. Exposed for tools
 * that convert model.json files once instead of at every load.
 */
export function rewriteKerasTopology(
  topology: Record<string, unknown>,
  source = 'model.json',
): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(topology)) as Record<string, unknown>;
  const modelConfig = (copy.model_config ?? copy) as { class_name?: string; config?: { layers?: KerasLayerJson[] } };
  const layers = modelConfig.config?.layers;
  if (!Array.isArray(layers)) return copy; // A single layer or an unknown format: nothing to rewrite.
  for (const layer of layers) {
    if (layer.class_name !== 'MultiHeadAttention' || !Array.isArray(layer.inbound_nodes)) continue;
    layer.inbound_nodes = layer.inbound_nodes.map((node, index) =>
      rewriteAttentionNode(layer, node, `${source}: layer ${layer.name ?? layer.config.name} node ${index}`),
    );
  }
  return copy;
}

function rewriteAttentionNode(layer: KerasLayerJson, node: InboundNode, where: string): InboundNode {
  if (!Array.isArray(node) || node.length !== 1 || !Array.isArray(node[0])) {
    // Already positional ([query], [query, value] or [query, value, key]), or a Keras 3
    // node format that tfjs itself does not read: leave it to tfjs's own error.
    return node;
  }
  const [name, nodeIndex, tensorIndex, kwargs = {}] = node[0];
  const rest: Record<string, unknown> = { ...kwargs };
  const query: TensorReference = [name, nodeIndex, tensorIndex, {}];
  const inputs: TensorReference[] = [query];
  for (const key of TENSOR_KWARGS) {
    if (!(key in rest)) continue;
    const reference = rest[key];
    delete rest[key];
    if (!isTensorReference(reference)) {
      throw new Error(
        `${where}: keyword argument '${key}' is ${JSON.stringify(reference)}; ` +
          'expected a tensor reference [layer name, node index, tensor index]',
      );
    }
    if (key === 'key' && inputs.length === 1) {
      throw new Error(`${where}: has a 'key' keyword argument but no 'value'; Keras's MultiHeadAttention needs value`);
    }
    inputs.push([reference[0], reference[1], reference[2], {}]);
  }
  if ('use_causal_mask' in rest) {
    if (rest.use_causal_mask === true) layer.config.causal = true;
    delete rest.use_causal_mask;
  }
  if ('return_attention_scores' in rest) {
    if (rest.return_attention_scores === true) layer.config.return_attention_scores = true;
    delete rest.return_attention_scores;
  }
  if (rest.attention_mask != null) {
    throw new Error(
      `${where}: an attention_mask input tensor is not supported by loadKerasModel; ` +
        `pass the mask with layer.apply(inputs, {attentionMask}) in tfjs, or use padding masks (Embedding mask_zero)`,
    );
  }
  delete rest.attention_mask;
  // Anything left (e.g. `training`) stays a keyword argument: tfjs applies the layer with the
  // keyword arguments of a node's last input entry.
  inputs[inputs.length - 1][3] = rest;
  return inputs;
}

function isTensorReference(value: unknown): value is TensorReference {
  return (
    Array.isArray(value) &&
    value.length >= 3 &&
    typeof value[0] === 'string' &&
    Number.isInteger(value[1]) &&
    Number.isInteger(value[2])
  );
}

function resolveHandler(location: string | tf.io.IOHandler): tf.io.IOHandler {
  if (typeof location !== 'string') return location;
  if (location.length === 0) throw new Error("loadKerasModel: location is ''; expected a model.json URL or path");
  const url = isNodeRuntime() && !/^[a-z][a-z0-9+.-]*:\/\//i.test(location) ? `file://${location}` : location;
  const handlers = tf.io.getLoadHandlers(url);
  if (handlers.length === 0) {
    // tfjs's http handler covers relative and absolute URLs in the browser.
    return tf.io.http(url);
  }
  if (handlers.length > 1) throw new Error(`loadKerasModel: more than one load handler matches ${url}`);
  return handlers[0];
}

function describeLocation(location: string | tf.io.IOHandler): string {
  return typeof location === 'string' ? location : 'the given IOHandler';
}
