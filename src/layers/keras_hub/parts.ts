/**
 * What the keras-hub layers (this folder) share: Keras's activation names, the weights of their
 * Keras sub-layers (Dense, LayerNormalization, MultiHeadAttention) kept in Keras's order with
 * their paths in a Keras 3 weights file, and the residual sub-block of the transformer layers.
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
import { describeValue as describe } from '../../describe';
import { dense2d } from '../../ops/dense';
import { gelu } from '../../ops/gelu';
import { layerNormalize } from '../../ops/layer_norm';
import { MultiHeadAttention } from '../multi_head_attention';

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

/** Keras activation names these layers run, each in tfjs ops. */
const ACTIVATION_FUNCTIONS: Record<string, (x: tf.Tensor) => tf.Tensor> = {
  linear: (x) => x,
  relu: (x) => tf.relu(x),
  // Keras's 'gelu' is exact (approximate=False), x * Phi(x).
  gelu,
  tanh: (x) => tf.tanh(x),
  sigmoid: (x) => tf.sigmoid(x),
  silu: (x) => x.mul(tf.sigmoid(x)),
  swish: (x) => x.mul(tf.sigmoid(x)),
  softplus: (x) => tf.softplus(x),
  elu: (x) => tf.elu(x),
  selu: (x) => tf.selu(x),
};
export const KERAS_ACTIVATIONS = Object.keys(ACTIVATION_FUNCTIONS);

/**
 * A Keras activation: a name ('relu', 'gelu', ...) or Keras 3's serialized function
 * (`{class_name: 'function', config: 'relu'}`, whichever casing the loader hands over).
 */
export function resolveActivation(layer: string, value: unknown): string {
  const name =
    typeof value === 'string'
      ? value
      : value != null && typeof value === 'object' && typeof (value as { config?: unknown }).config === 'string'
        ? ((value as { config: string }).config as string)
        : undefined;
  if (name == null || !(name in ACTIVATION_FUNCTIONS)) {
    const choices = KERAS_ACTIVATIONS.map((a) => `'${a}'`).join(', ');
    throw new Error(`${layer}: activation must be one of ${choices}, got ${describe(value)}`);
  }
  return name;
}

/** A Keras Dense sub-layer: kernel [in, out], bias [out] (vars/0, vars/1). */
export interface DenseWeights {
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable;
}

/** A Keras LayerNormalization sub-layer: gamma, beta [D] (vars/0, vars/1). */
export interface NormWeights {
  gamma: tf.LayerVariable;
  beta: tf.LayerVariable;
  epsilon: number;
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

/** `activation(x W + b)` over the last axis of (B, T, Din): (B, T, Dout). Call inside a tidy. */
export function applyDense(x: tf.Tensor, dense: DenseWeights, activation: string): tf.Tensor {
  const [batch, length, width] = x.shape;
  const kernel = dense.kernel.read();
  // (B, T, Din) -> (B*T, Din): 2-D matmuls train on every backend.
  const flat = x.reshape([batch * length, width]);
  const fusedActivation = activation === 'relu' ? 'relu' : 'linear';
  let y: tf.Tensor = dense2d(flat, kernel, dense.bias.read(), fusedActivation);
  if (activation !== 'relu' && activation !== 'linear') y = ACTIVATION_FUNCTIONS[activation](y);
  return y.reshape([batch, length, kernel.shape[1] as number]);
}

/** Layer normalization over the last axis (Ba et al. 2016), Keras's LayerNormalization. Call inside a tidy. */
export function applyNorm(x: tf.Tensor, norm: NormWeights): tf.Tensor {
  return layerNormalize(x, norm.gamma.read(), norm.beta.read(), norm.epsilon);
}

/**
 * One residual sub-block of keras-hub's transformer layers: `norm(x + dropout(f(x)))` (post-LN,
 * BERT-style) or, with `normalizeFirst`, `x + dropout(f(norm(x)))` (pre-LN, GPT-2-style).
 * Call inside a tidy.
 */
export function residualBlock(
  x: tf.Tensor,
  norm: NormWeights,
  normalizeFirst: boolean,
  dropout: number,
  training: boolean,
  f: (input: tf.Tensor) => tf.Tensor,
): tf.Tensor {
  const drop = (t: tf.Tensor) => (training && dropout > 0 ? tf.dropout(t, dropout) : t);
  if (normalizeFirst) return x.add(drop(f(applyNorm(x, norm))));
  return applyNorm(x.add(drop(f(x))), norm);
}
