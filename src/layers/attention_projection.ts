/**
 * The per-head projection that produces queries, keys or values.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';
import {
  addBias,
  checkBoolean,
  checkPositiveInt,
  checkRank,
  InitializerIdentifier,
  Kwargs,
  matMul2d,
  resolveInitializer,
  resolveInputMask,
  passMask,
  serializeInitializer,
  Shape,
} from './layer_utils';

export interface AttentionProjectionArgs extends LayerArgs {
  /** Number of heads H. Required. */
  numHeads: number;
  /** Size of each head's projection (K for queries and keys, V for values). Required. */
  headDim: number;
  /** Whether to add a bias [H, headDim]. Default true. */
  useBias?: boolean;
  /** Initializer of the kernel [D, H, headDim]. Default 'glorotUniform' (fans as Keras's EinsumDense). */
  kernelInitializer?: InitializerIdentifier;
  /** Initializer of the bias. Default 'zeros'. */
  biasInitializer?: InitializerIdentifier;
}

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
export class AttentionProjection extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'AttentionProjection';

  readonly numHeads: number;
  readonly headDim: number;
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  /**
   * Set by an owning layer (e.g. 'query') so that weights are named
   * `<owner>/query/kernel` like Keras's; not part of the config.
   */
  weightScope = '';

  kernel: tf.LayerVariable | null = null;
  bias: tf.LayerVariable | null = null;

  constructor(args: AttentionProjectionArgs) {
    super(args);
    const name = `AttentionProjection '${this.name}'`;
    this.numHeads = checkPositiveInt(name, 'numHeads', args.numHeads);
    this.headDim = checkPositiveInt(name, 'headDim', args.headDim);
    this.useBias = checkBoolean(name, 'useBias', args.useBias ?? true);
    this.kernelInitializer = resolveInitializer(name, 'kernelInitializer', args.kernelInitializer, 'glorotUniform');
    this.biasInitializer = resolveInitializer(name, 'biasInitializer', args.biasInitializer, 'zeros');
    this.supportsMasking = true;
  }

  private weightName(name: string): string {
    return this.weightScope ? `${this.weightScope}/${name}` : name;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    checkRank(`AttentionProjection '${this.name}'`, 'input', shape, 3);
    const inputDim = shape[2] as number;
    this.kernel = this.addWeight(
      this.weightName('kernel'),
      [inputDim, this.numHeads, this.headDim],
      'float32',
      this.kernelInitializer,
    );
    if (this.useBias) {
      this.bias = this.addWeight(this.weightName('bias'), [this.numHeads, this.headDim], 'float32', this.biasInitializer);
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [shape[0], shape[1], this.numHeads, this.headDim];
  }

  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return passMask(input, mask as tf.Tensor | undefined) as tf.Tensor;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs?: Kwargs): tf.Tensor {
    return tf.tidy(() => projectHeads(Array.isArray(inputs) ? inputs[0] : inputs, this));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      numHeads: this.numHeads,
      headDim: this.headDim,
      useBias: this.useBias,
      kernelInitializer: serializeInitializer(this.kernelInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
    };
  }
}
tf.serialization.registerClass(AttentionProjection);

/** The layer's kernel [D, H, E] as a matrix (D, H*E). Call inside a tidy. */
export function flatKernel(layer: AttentionProjection): tf.Tensor2D {
  const kernel = layer.kernel!.read();
  return kernel.reshape([kernel.shape[0], layer.numHeads * layer.headDim]);
}

/** The layer's bias [H, E] as a vector (H*E), or null without a bias. Call inside a tidy. */
export function flatBias(layer: AttentionProjection): tf.Tensor1D | null {
  return layer.bias ? (layer.bias.read().reshape([layer.numHeads * layer.headDim]) as tf.Tensor1D) : null;
}

/** (B, T, D) -> (B, T, H, headDim) with the layer's weights; call inside a tidy. */
export function projectHeads(x: tf.Tensor, layer: AttentionProjection): tf.Tensor4D {
  return projectHeadsShared(x, [layer])[0];
}

/**
 * (B, T, D) through several projections that share this input at once: one
 * (B*T, D) @ (D, sum of H*E) matmul, split per projection into (B, T, H, E).
 * Self-attention's query, key and value (or cross-attention's key and value)
 * run as one larger matmul, and the gradient transposes the input once instead
 * of once per projection. Call inside a tidy.
 */
export function projectHeadsShared(x: tf.Tensor, layers: AttentionProjection[]): tf.Tensor4D[] {
  const withBias = layers.filter((layer) => layer.bias != null).length;
  if (withBias > 0 && withBias < layers.length) return layers.map((layer) => projectHeads(x, layer));
  const [batch, length, width] = x.shape;
  // One projection uses its weights as they are; several are put side by side.
  const joined = <T extends tf.Tensor>(parts: T[], axis: number): T => (parts.length === 1 ? parts[0] : (tf.concat(parts, axis) as T));
  // (B, T, D) -> (B*T, D) @ (D, sum of H*E): a 2-D matmul trains on every backend.
  const flat = matMul2d(x.reshape([batch * length, width]), joined(layers.map(flatKernel), 1));
  // Not dense2d's fused bias: the wasm kernel rejects a bias whose storage is
  // 2-D ([H, K]), and a reshape keeps the storage.
  const biased = withBias ? addBias(flat, joined(layers.map((layer) => flatBias(layer)!), 0)) : flat;
  // (B*T, sum of H*E) -> per projection (B*T, H*E) -> (B, T, H, E)
  const parts = layers.length === 1 ? [biased] : tf.split(biased, layers.map((layer) => layer.numHeads * layer.headDim), 1);
  return parts.map((part, i) => part.reshape([batch, length, layers[i].numHeads, layers[i].headDim]) as tf.Tensor4D);
}
