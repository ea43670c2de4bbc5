/**
 * The projection that merges the heads back into one vector per position.
 */
import * as tf from '@tensorflow/tfjs';
import { denseOverLastAxes } from '../ops/dense';
import { checkPositiveInt, checkLayerArgNames, layerArgNames } from './args';
import { type IncrementalRole, POSITION_WISE } from './incremental';
import { checkRank, type Kwargs, type Shape } from './shapes';
import { ProjectionArgs, ProjectionBase } from './projection_base';

/**
 * Also `useBias` (a bias [Dout]), `kernelInitializer` (kernel [H, V, Dout]) and `biasInitializer`:
 * see ProjectionArgs.
 */
export interface AttentionOutputProjectionArgs extends ProjectionArgs {
  /** Width of the output, Dout. Required. */
  outputDim: number;
}

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<AttentionOutputProjectionArgs>({
  outputDim: true,
  useBias: true,
  kernelInitializer: true,
  biasInitializer: true,
  kernelRegularizer: true,
  biasRegularizer: true,
  kernelConstraint: true,
  biasConstraint: true,
});

/**
 * Merges heads: (B, T, H, V) -> (B, T, Dout), kernel [H, V, Dout], bias [Dout]
 * — Keras's `EinsumDense('abcd,cde->abe')` at the end of `MultiHeadAttention`.
 *
 * ```ts
 * const merge = new AttentionOutputProjection({outputDim: 64});
 * const out = merge.apply(tf.zeros([2, 5, 4, 16])) as tf.Tensor; // [2, 5, 64]
 * ```
 */
export class AttentionOutputProjection extends ProjectionBase {
  /** @nocollapse */
  static className = 'AttentionOutputProjection';

  readonly outputDim: number;

  constructor(args: AttentionOutputProjectionArgs) {
    super(args);
    checkLayerArgNames(this, AttentionOutputProjection, args, ARG_NAMES);
    this.outputDim = checkPositiveInt(this.label, 'outputDim', args.outputDim);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    checkRank(this.label, 'input', shape, 4);
    if (shape[2] == null) throw new Error(`${this.label}: input needs a known number of heads (axis 2), got ${shape}`);
    this.addProjectionWeights([shape[2], shape[3] as number, this.outputDim], [this.outputDim]);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [shape[0], shape[1], this.outputDim];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs?: Kwargs): tf.Tensor {
    return tf.tidy(() => mergeHeads(Array.isArray(inputs) ? inputs[0] : inputs, this));
  }

  /** How `generate` runs this layer one new position at a time (see `IncrementalRole`). */
  incrementalRole(): IncrementalRole {
    return POSITION_WISE;
  }

  /** The layer's arguments, as tfjs serializes them (Keras's names for Keras's arguments). */
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), outputDim: this.outputDim };
  }
}
tf.serialization.registerClass(AttentionOutputProjection);

/** (B, T, H, V) -> (B, T, Dout) with the layer's weights [H, V, Dout]; call inside a tidy. */
export function mergeHeads(x: tf.Tensor, layer: AttentionOutputProjection): tf.Tensor3D {
  return denseOverLastAxes(x, layer.kernel!.read(), layer.bias ? layer.bias.read() : null, 2) as tf.Tensor3D;
}
