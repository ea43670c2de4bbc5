/**
 * A Transformer encoder block (Vaswani et al. 2017, section 3.1), arguments as
 * keras-hub's `TransformerEncoder`.
 */
import * as tf from '@tensorflow/tfjs';
import { checkBoolean, checkLayerArgNames, layerArgNames } from './args';
import { checkPaddingMasks, combineMasks, passMask, resolveInputMasks } from './masks';
import { checkSequence, type Kwargs, type Shape } from './shapes';
import { MultiHeadAttention } from './multi_head_attention';
import { TransformerBlockArgs, TransformerBlockBase } from './transformer_block_base';

/** The arguments of `TransformerEncoderBlock`. */
export interface TransformerEncoderBlockArgs extends TransformerBlockArgs {
  /** Whether position t attends only to positions <= t (a GPT-style block). Default false. */
  causal?: boolean;
}

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<TransformerEncoderBlockArgs>({
  numHeads: true,
  intermediateDim: true,
  keyDim: true,
  dropout: true,
  activation: true,
  layerNormEpsilon: true,
  normalizeFirst: true,
  kernelInitializer: true,
  biasInitializer: true,
  causal: true,
});

/** What a block computed, with the attention probabilities for visualisation. */
export interface BlockOutput {
  output: tf.Tensor3D;
  /**
   * Self-attention probabilities (B, H, T, T); null while a gradient tape records
   * (see `MultiHeadAttention.attend`).
   */
  selfAttention: tf.Tensor4D | null;
  /** Cross-attention probabilities (B, H, T, S), decoder blocks with an encoder input only; null as above. */
  crossAttention?: tf.Tensor4D | null;
  /**
   * What the self-attention attended over (its query, key and value): the block's input, or its
   * layer-normalized input with `normalizeFirst`. For `MultiHeadAttention.valueVectors`.
   */
  selfAttentionInput: tf.Tensor3D;
}

/**
 * Self-attention then a position-wise feed-forward network, each wrapped in a
 * residual connection with a layer norm (post-LN by default, pre-LN with
 * `normalizeFirst`). Input and output (B, T, D). The padding mask that tfjs
 * propagates (e.g. from an embedding with `maskZero`) keeps padded positions
 * from being attended, and passes through to the output.
 *
 * Weights: the self-attention's 8 (see MultiHeadAttention), then
 * self_attention_layer_norm gamma/beta [D], feedforward_intermediate_dense
 * kernel [D, I] / bias [I], feedforward_output_dense kernel [I, D] / bias [D],
 * feedforward_layer_norm gamma/beta [D].
 *
 * ```ts
 * const block = new TransformerEncoderBlock({numHeads: 4, intermediateDim: 256});
 * const y = block.apply(tf.zeros([2, 10, 64])) as tf.Tensor; // [2, 10, 64]
 * ```
 */
export class TransformerEncoderBlock extends TransformerBlockBase {
  /** @nocollapse */
  static className = 'TransformerEncoderBlock';

  readonly causal: boolean;
  selfAttention: MultiHeadAttention | null = null;
  private selfAttentionNorm!: ReturnType<TransformerBlockBase['addLayerNorm']>;
  private feedForwardNorm!: ReturnType<TransformerBlockBase['addLayerNorm']>;
  private feedForwardWeights!: ReturnType<TransformerBlockBase['addFeedForward']>;

  constructor(args: TransformerEncoderBlockArgs) {
    super(args, 'TransformerEncoderBlock');
    checkLayerArgNames(this, TransformerEncoderBlock, args, ARG_NAMES);
    this.causal = checkBoolean(`TransformerEncoderBlock '${this.name}'`, 'causal', args.causal ?? false);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const width = this.modelWidth(shape, 'input');
    this.selfAttention = this.buildAttention('self_attention', width, shape, shape, this.causal);
    this.selfAttentionNorm = this.addLayerNorm('self_attention_layer_norm', width);
    this.feedForwardWeights = this.addFeedForward(width);
    this.feedForwardNorm = this.addLayerNorm('feedforward_layer_norm', width);
    this.built = true;
  }

  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return passMask(input, mask) as tf.Tensor;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const mask = resolveInputMasks(inputs, kwargs.mask)[0];
    checkSequence(this.label, 'input', x, this.selfAttention?.queryDense?.kernel?.shape[0] as number);
    checkPaddingMasks(this.label, [['input', mask, x]]);
    return tf.tidy(() => this.forward(x, mask, (kwargs.training as boolean) ?? false).output);
  }

  /**
   * The block on explicit tensors: x (B, T, D), mask (B, T) with 1 = real token
   * or null. Returns the output and, with `withProbabilities`, the attention probabilities
   * (else null). Call inside a tidy.
   */
  forward(x: tf.Tensor, mask: tf.Tensor | null, training: boolean, withProbabilities = false): BlockOutput {
    const attention = this.selfAttention!;
    const attentionMask = combineMasks(x, x, mask, mask, null, this.causal, null);
    let probabilities: tf.Tensor4D | null = null;
    let selfAttentionInput = x as tf.Tensor3D;
    const attended = this.residual(x, this.selfAttentionNorm, training, (h) => {
      const result = attention.attend(h, h, h, attentionMask, training, withProbabilities);
      probabilities = result.probabilities;
      selfAttentionInput = h as tf.Tensor3D;
      return result.output;
    });
    const output = this.residual(attended, this.feedForwardNorm, training, (h) =>
      this.feedForward(h, this.feedForwardWeights),
    );
    return { output: output as tf.Tensor3D, selfAttention: probabilities, selfAttentionInput };
  }

  /** The constructor's arguments, as tfjs serializes layers. */
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), causal: this.causal };
  }
}
tf.serialization.registerClass(TransformerEncoderBlock);
