/**
 * The projection that merges the heads back into one vector per position.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';
import {
  checkBoolean,
  checkPositiveInt,
  checkRank,
  InitializerIdentifier,
  Kwargs,
  dense2d,
  resolveInitializer,
  resolveInputMask,
  passMask,
  serializeInitializer,
  Shape,
} from './layer_utils';

export interface AttentionOutputProjectionArgs extends LayerArgs {
  /** Width of the output, Dout. Required. */
  outputDim: number;
  /** Whether to add a bias [Dout]. Default true. */
  useBias?: boolean;
  /** Initializer of the kernel [H, V, Dout]. Default 'glorotUniform'. */
  kernelInitializer?: InitializerIdentifier;
  /** Initializer of the bias. Default 'zeros'. */
  biasInitializer?: InitializerIdentifier;
}

/**
 * Merges heads: (B, T, H, V) -> (B, T, Dout), kernel [H, V, Dout], bias [Dout]
 * — Keras's `EinsumDense('abcd,cde->abe')` at the end of `MultiHeadAttention`.
 *
 * ```ts
 * const merge = new AttentionOutputProjection({outputDim: 64});
 * const out = merge.apply(tf.zeros([2, 5, 4, 16])) as tf.Tensor; // [2, 5, 64]
 * ```
 */
export class AttentionOutputProjection extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'AttentionOutputProjection';

  readonly outputDim: number;
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  /** Set by an owning layer (e.g. 'attention_output'); not part of the config. */
  weightScope = '';

  kernel: tf.LayerVariable | null = null;
  bias: tf.LayerVariable | null = null;

  constructor(args: AttentionOutputProjectionArgs) {
    super(args);
    const name = `AttentionOutputProjection '${this.name}'`;
    this.outputDim = checkPositiveInt(name, 'outputDim', args.outputDim);
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
    const name = `AttentionOutputProjection '${this.name}'`;
    checkRank(name, 'input', shape, 4);
    if (shape[2] == null) throw new Error(`${name}: input needs a known number of heads (axis 2), got ${shape}`);
    this.kernel = this.addWeight(
      this.weightName('kernel'),
      [shape[2], shape[3] as number, this.outputDim],
      'float32',
      this.kernelInitializer,
    );
    if (this.useBias) {
      this.bias = this.addWeight(this.weightName('bias'), [this.outputDim], 'float32', this.biasInitializer);
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [shape[0], shape[1], this.outputDim];
  }

  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return passMask(input, mask as tf.Tensor | undefined) as tf.Tensor;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs?: Kwargs): tf.Tensor {
    return tf.tidy(() => mergeHeads(Array.isArray(inputs) ? inputs[0] : inputs, this));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      outputDim: this.outputDim,
      useBias: this.useBias,
      kernelInitializer: serializeInitializer(this.kernelInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
    };
  }
}
tf.serialization.registerClass(AttentionOutputProjection);

/** (B, T, H, V) -> (B, T, Dout) with the layer's weights; call inside a tidy. */
export function mergeHeads(x: tf.Tensor, layer: AttentionOutputProjection): tf.Tensor3D {
  const [batch, length, numHeads, valueDim] = x.shape;
  // (B, T, H, V) -> (B*T, H*V) @ (H*V, Dout) -> (B*T, Dout)
  const flat = dense2d(
    x.reshape([batch * length, numHeads * valueDim]),
    layer.kernel!.read().reshape([numHeads * valueDim, layer.outputDim]),
    layer.bias ? layer.bias.read() : null,
  );
  return flat.reshape([batch, length, layer.outputDim]) as tf.Tensor3D;
}
