/**
 * The per-head projection that produces queries, keys or values.
 */
import * as tf from '@tensorflow/tfjs';
import { denseSideBySide } from '../ops/dense';
import { checkPositiveInt, checkLayerArgNames, layerArgNames } from './args';
import { type IncrementalRole, POSITION_WISE } from './incremental';
import { checkRank, type Kwargs, type Shape } from './shapes';
import { ProjectionArgs, ProjectionBase } from './projection_base';

/**
 * Also `useBias` (a bias [H, headDim]), `kernelInitializer` (kernel [D, H, headDim]) and `biasInitializer`:
 * see ProjectionArgs.
 */
export interface AttentionProjectionArgs extends ProjectionArgs {
  /** Number of heads H. Required. */
  numHeads: number;
  /** Size of each head's projection (K for queries and keys, V for values). Required. */
  headDim: number;
}

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<AttentionProjectionArgs>({
  numHeads: true,
  headDim: true,
  useBias: true,
  kernelInitializer: true,
  biasInitializer: true,
  kernelRegularizer: true,
  biasRegularizer: true,
  kernelConstraint: true,
  biasConstraint: true,
});

/**
 * Projects every position to one vector per head: (B, T, D) -> (B, T, H, headDim),
 * with kernel [D, H, headDim] and bias [H, headDim] — the layout of Keras's
 * `EinsumDense('abc,cde->abde')` inside `MultiHeadAttention`, so Keras weights
 * load unchanged. Used with `headDim = valueDim` it gives each head its own
 * value matrix.
 *
 * ```ts
 * const project = new AttentionProjection({numHeads: 4, headDim: 16});
 * const heads = project.apply(tf.zeros([2, 5, 64])) as tf.Tensor; // [2, 5, 4, 16]
 * ```
 */
export class AttentionProjection extends ProjectionBase {
  /** @nocollapse */
  static className = 'AttentionProjection';

  readonly numHeads: number;
  readonly headDim: number;

  constructor(args: AttentionProjectionArgs) {
    super(args);
    checkLayerArgNames(this, AttentionProjection, args, ARG_NAMES);
    this.numHeads = checkPositiveInt(this.label, 'numHeads', args.numHeads);
    this.headDim = checkPositiveInt(this.label, 'headDim', args.headDim);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    checkRank(this.label, 'input', shape, 3);
    this.addProjectionWeights([shape[2] as number, this.numHeads, this.headDim], [this.numHeads, this.headDim]);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [shape[0], shape[1], this.numHeads, this.headDim];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs?: Kwargs): tf.Tensor {
    return tf.tidy(() => projectHeads(Array.isArray(inputs) ? inputs[0] : inputs, this));
  }

  /** How `generate` runs this layer one new position at a time (see `IncrementalRole`). */
  incrementalRole(): IncrementalRole {
    return POSITION_WISE;
  }

  /** The layer's arguments, as tfjs serializes them (Keras's names for Keras's arguments). */
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), numHeads: this.numHeads, headDim: this.headDim };
  }
}
tf.serialization.registerClass(AttentionProjection);

/** (B, T, D) -> (B, T, H, headDim) with the layer's weights; call inside a tidy. */
export function projectHeads(x: tf.Tensor, layer: AttentionProjection): tf.Tensor4D {
  const [batch, length] = x.shape;
  return projectJoined(x, [layer]).reshape([batch, length, layer.numHeads, layer.headDim]) as tf.Tensor4D;
}

/**
 * (B, T, D) through several projections side by side, unsplit: (B, T, sum of H*E),
 * each row holding the first projection's H*E values, then the next one's. Layers
 * without a bias add zeros. The kernels [D, H, E] and biases [H, E] go in as they are
 * (`denseSideBySide` reads them as (D, H*E) and H*E). Call inside a tidy.
 */
export function projectJoined(x: tf.Tensor, layers: AttentionProjection[]): tf.Tensor3D {
  const biases = layers.some((layer) => layer.bias != null)
    ? layers.map((layer) => layer.bias?.read() ?? tf.zeros([layer.numHeads * layer.headDim]))
    : null;
  return denseSideBySide(
    x,
    layers.map((layer) => layer.kernel!.read()),
    biases,
  ) as tf.Tensor3D;
}
