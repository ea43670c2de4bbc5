/**
 * Layer normalization that keeps the padding mask on its output.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import { layerNormalize } from '../ops/layer_norm';
import { checkPositiveNumber, checkLayerArgNames, layerArgNames } from './args';
import { type IncrementalRole, POSITION_WISE } from './incremental';
import { passMask } from './masks';
import { checkRank, type Kwargs, type Shape } from './shapes';

/** The arguments of `MaskedLayerNormalization`, and tfjs's `LayerArgs`. */
export interface MaskedLayerNormalizationArgs extends LayerArgs {
  /** Added to the variance. Default 1e-5 (PyTorch's; tfjs's LayerNormalization uses 1e-3). */
  epsilon?: number;
}

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<MaskedLayerNormalizationArgs>({
  epsilon: true,
});

/**
 * Normalizes the last axis: (B, T, D) -> (B, T, D), with gamma [D] and beta [D].
 * Numerically what `tf.layers.layerNormalization` computes, but the padding
 * mask survives `model.predict`: tfjs's model executor passes a multi-input
 * layer only its first input's mask, so later layers (our cross-attention)
 * read the others from `tensor.kerasMask`, which tfjs's own layers drop.
 *
 * ```ts
 * const norm = new MaskedLayerNormalization();
 * const y = norm.apply(tf.ones([2, 3, 4])) as tf.Tensor; // zeros: every row is constant
 * ```
 */
export class MaskedLayerNormalization extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'MaskedLayerNormalization';

  readonly epsilon: number;
  gamma: tf.LayerVariable | null = null;
  beta: tf.LayerVariable | null = null;

  constructor(args: MaskedLayerNormalizationArgs = {}) {
    super(args);
    checkLayerArgNames(this, MaskedLayerNormalization, args, ARG_NAMES);
    this.epsilon = checkPositiveNumber(`MaskedLayerNormalization '${this.name}'`, 'epsilon', args.epsilon ?? 1e-5);
    this.supportsMasking = true;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    checkRank(`MaskedLayerNormalization '${this.name}'`, 'input', shape, shape.length || 1);
    const width = shape[shape.length - 1] as number;
    this.gamma = this.addWeight('gamma', [width], 'float32', tf.initializers.ones());
    this.beta = this.addWeight('beta', [width], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return passMask(Array.isArray(inputs) ? inputs[0] : inputs, mask) as tf.Tensor;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => layerNormalize(x, this.gamma!.read(), this.beta!.read(), this.epsilon));
  }

  /** How `generate` runs this layer one new position at a time (see `IncrementalRole`). */
  incrementalRole(): IncrementalRole {
    return POSITION_WISE;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), epsilon: this.epsilon };
  }
}
tf.serialization.registerClass(MaskedLayerNormalization);
