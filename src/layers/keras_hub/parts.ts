/**
 * What the keras-hub layers (this folder) share: their default names and registration, and the
 * weights of their Keras sub-layers (Dense, LayerNormalization, MultiHeadAttention, embeddings)
 * kept in Keras's order with their paths in a Keras 3 weights file.
 *
 * Keras 3's `.keras` weights file (keras/src/saving/saving_lib.py `_save_state` and
 * `_walk_saveable`) stores a layer's own variables under `<path>/vars/0, 1, ...` in creation order,
 * then walks its attributes sorted by name, public ones before private ones (`_name_key` puts a
 * leading `_` last), skipping names starting with `__` and those every `Layer()` has, and saves
 * each sub-layer once, under `<path>/<attribute name>` of the first attribute that reaches it.
 * keras-hub's transformer layers keep their sub-layers in private attributes
 * (`_self_attention_layer`, `_feedforward_intermediate_dense`, ...), so those are the group names;
 * TokenAndPositionEmbedding's are public (`token_embedding`, `position_embedding`). Keras's
 * `layer.weights` lists a layer's own variables, then each sub-layer's in the order the sub-layers
 * were assigned: the order of `weights` here, which Keras 2 `.h5` files also use.
 */
import * as tf from '@tensorflow/tfjs';
import type { MultiHeadAttention } from '../multi_head_attention';
import type { SubLayerName } from '../transformer_block';

const nameCounts: Record<string, number> = {};

/**
 * The layer's name: as given, else `<prefix>_<n>` (e.g. 'transformer_encoder_1'). tfjs 4.22 would
 * derive a default name from the className, and keras-hub's registered names ('keras_hub>...')
 * hold a '>', which tfjs then refuses in weight names ("Not a valid tensor name").
 */
export function layerArgsWithName<T extends { name?: string }>(args: T, prefix: string): T {
  if (args == null || typeof args !== 'object' || args.name != null) return args;
  nameCounts[prefix] = (nameCounts[prefix] ?? 0) + 1;
  return { ...args, name: `${prefix}_${nameCounts[prefix]}` };
}

/**
 * Registers a keras-hub layer class with tfjs's serialization under keras-hub's name (its
 * className, e.g. 'keras_hub>TransformerEncoder') and under the name tfjs 4.22's model.json loader
 * looks up: `convertPythonicToTs` camelCases every string value but a layer's `name`, the
 * `class_name` too ('kerasHub>TransformerEncoder'), although saving writes the className as it is.
 */
export function registerKerasHubClass(cls: tf.serialization.SerializableConstructor<tf.layers.Layer>): void {
  tf.serialization.registerClass(cls);
  const camel = cls.className.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  const map = tf.serialization.SerializationMap.getMap().classNameMap;
  map[camel] = map[cls.className];
}

/** One Keras sub-layer of a keras-hub layer, in Keras's order, and where Keras saves it. */
export type SubLayer =
  { group: string; variables: tf.LayerVariable[] } | { group: string; attention: MultiHeadAttention };

/** The variables of the sub-layers, in Keras's order. */
export function subLayerWeights(parts: SubLayer[]): tf.LayerVariable[] {
  return parts.flatMap((p) => ('attention' in p ? p.attention.weights : p.variables));
}

/** Each variable's path in a Keras 3 weights file, relative to the layer's group. */
export function subLayerPaths(parts: SubLayer[]): string[] {
  return parts.flatMap((p) =>
    'attention' in p
      ? p.attention.kerasWeightPaths().map((path) => `${p.group}/${path}`)
      : p.variables.map((_v, i) => `${p.group}/vars/${i}`),
  );
}

/**
 * A layer whose weights live in its sub-layer parts (dense, norm, attention, embedding tables),
 * listed from `parts` in Keras's order, so that they train, save and load as Keras's layer does.
 */
export abstract class LayerWithParts extends tf.layers.Layer {
  /** Filled in build, in Keras's weight order. */
  protected parts: SubLayer[] = [];

  override get trainableWeights(): tf.LayerVariable[] {
    return this.trainable ? subLayerWeights(this.parts) : [];
  }

  override set trainableWeights(weights: tf.LayerVariable[]) {
    // The base constructor assigns []; the weights are listed from `parts`.
    this._trainableWeights = weights;
  }

  override get nonTrainableWeights(): tf.LayerVariable[] {
    return this.trainable ? [] : subLayerWeights(this.parts);
  }

  override set nonTrainableWeights(_weights: tf.LayerVariable[]) {
    // See trainableWeights.
  }

  /** Where each of `this.weights` sits in a Keras 3 weights file, relative to this layer's group. */
  kerasWeightPaths(): string[] {
    return subLayerPaths(this.parts);
  }
}

/** keras-hub's attribute name of each transformer sub-layer: the group Keras 3 saves it under. */
export const KERAS_HUB_GROUPS: Record<SubLayerName, string> = {
  self_attention: '_self_attention_layer',
  self_attention_layer_norm: '_self_attention_layer_norm',
  cross_attention: '_cross_attention_layer',
  cross_attention_layer_norm: '_cross_attention_layer_norm',
  feedforward_intermediate_dense: '_feedforward_intermediate_dense',
  feedforward_output_dense: '_feedforward_output_dense',
  feedforward_layer_norm: '_feedforward_layer_norm',
};
