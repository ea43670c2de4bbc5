/**
 * A Transformer decoder block (Vaswani et al. 2017, section 3.1), arguments as
 * keras-hub's `TransformerDecoder`.
 */
import * as tf from '@tensorflow/tfjs';
import { checkPaddingMasks, passMask, resolveInputMasks } from './masks';
import { checkSequence, type Kwargs, type Shape, shapeList } from './shapes';
import { AttentionInferenceWeights, combineMasks, MASKED_SCORE, MultiHeadAttention } from './multi_head_attention';
import { TransformerBlockArgs, TransformerBlockBase } from './transformer_block_base';
import type { BlockOutput } from './transformer_encoder_block';

export type TransformerDecoderBlockArgs = TransformerBlockArgs;

/**
 * What incremental decoding keeps for one block between steps: the
 * self-attention keys (B, H, t, K) and values (B, H, t, V) of the positions
 * decoded so far, and the cross-attention keys/values of the encoder output,
 * computed once. Owned by the caller, who disposes them.
 */
export interface DecoderBlockCache {
  keys: tf.Tensor4D | null;
  values: tf.Tensor4D | null;
  crossKeys: tf.Tensor4D | null;
  crossValues: tf.Tensor4D | null;
  /** (B, 1, 1, S): 0 for real encoder positions, a large negative number for padding; or null. */
  crossMask: tf.Tensor | null;
  /** Weights reshaped and fused once for the steps (the same for every step). */
  selfWeights: AttentionInferenceWeights | null;
  crossWeights: AttentionInferenceWeights | null;
}

/**
 * Causal self-attention, cross-attention over the encoder output, then a
 * position-wise feed-forward network; each in a residual connection with a
 * layer norm (post-LN by default, pre-LN with `normalizeFirst`).
 *
 * Inputs: `[decoderSequence (B, T, D), encoderSequence (B, S, De)]`, or only
 * the decoder sequence for a decoder-only (GPT-style) stack, which then has no
 * cross-attention. Output (B, T, D). Padding masks that tfjs propagates on
 * either input are honoured; position t never sees decoder positions > t.
 *
 * Weights: self-attention's 8, cross-attention's 8 (with an encoder input),
 * then self_attention_layer_norm, cross_attention_layer_norm (with an encoder
 * input), feed-forward (inner kernel [D, I], bias [I], outer kernel [I, D],
 * bias [D]) and feedforward_layer_norm (gamma, beta [D] each).
 *
 * ```ts
 * const block = new TransformerDecoderBlock({numHeads: 4, intermediateDim: 256});
 * const y = block.apply([tf.zeros([2, 7, 64]), tf.zeros([2, 10, 64])]) as tf.Tensor; // [2, 7, 64]
 * ```
 */
export class TransformerDecoderBlock extends TransformerBlockBase {
  /** @nocollapse */
  static className = 'TransformerDecoderBlock';

  selfAttention: MultiHeadAttention | null = null;
  crossAttention: MultiHeadAttention | null = null;
  private selfAttentionNorm!: ReturnType<TransformerBlockBase['addLayerNorm']>;
  private crossAttentionNorm: ReturnType<TransformerBlockBase['addLayerNorm']> | null = null;
  private feedForwardNorm!: ReturnType<TransformerBlockBase['addLayerNorm']>;
  private feedForwardWeights!: ReturnType<TransformerBlockBase['addFeedForward']>;

  constructor(args: TransformerDecoderBlockArgs) {
    super(args, 'TransformerDecoderBlock');
  }

  override build(inputShape: Shape | Shape[]): void {
    const shapes = shapeList(inputShape);
    if (shapes.length > 2) {
      throw new Error(
        `TransformerDecoderBlock '${this.name}': expected [decoderSequence, encoderSequence] or decoderSequence, got ${shapes.length} inputs`,
      );
    }
    const [decoderShape, encoderShape] = shapes;
    const width = this.modelWidth(decoderShape, 'decoderSequence');
    this.selfAttention = this.buildAttention('self_attention', width, decoderShape, decoderShape, true);
    if (encoderShape) {
      this.modelWidth(encoderShape, 'encoderSequence');
      this.crossAttention = this.buildAttention('cross_attention', width, decoderShape, encoderShape, false);
    }
    this.selfAttentionNorm = this.addLayerNorm('self_attention_layer_norm', width);
    if (encoderShape) this.crossAttentionNorm = this.addLayerNorm('cross_attention_layer_norm', width);
    this.feedForwardWeights = this.addFeedForward(width);
    this.feedForwardNorm = this.addLayerNorm('feedforward_layer_norm', width);
    this.built = true;
  }

  /** The output keeps the decoder sequence's padding mask. */
  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return passMask(list[0], resolveInputMasks(inputs, mask)[0]) as tf.Tensor;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const [decoderMask, encoderMask = null] = resolveInputMasks(inputs, kwargs.mask);
    const [x, encoderOutput = null] = list;
    if ((encoderOutput == null) !== (this.crossAttention == null)) {
      throw new Error(
        `TransformerDecoderBlock '${this.name}': built ${this.crossAttention ? 'with' : 'without'} an encoder sequence, ` +
          `called ${encoderOutput ? 'with' : 'without'} one`,
      );
    }
    checkSequence(this.label, 'decoderSequence', x, this.selfAttention?.queryDense?.kernel?.shape[0] as number);
    if (encoderOutput) {
      checkSequence(this.label, 'encoderSequence', encoderOutput, this.crossAttention?.keyDense?.kernel?.shape[0] as number, x.shape[0]);
    }
    checkPaddingMasks(this.label, [
      ['decoderSequence', decoderMask, x],
      ['encoderSequence', encoderOutput ? encoderMask : null, encoderOutput ?? x],
    ]);
    return tf.tidy(() => this.forward(x, encoderOutput, decoderMask, encoderMask, (kwargs.training as boolean) ?? false).output);
  }

  /**
   * The block on explicit tensors: x (B, T, D), encoderOutput (B, S, De) or
   * null, masks (B, T) / (B, S) with 1 = real token, or null. Returns the output
   * and the attention probabilities. Call inside a tidy.
   */
  forward(
    x: tf.Tensor,
    encoderOutput: tf.Tensor | null,
    decoderMask: tf.Tensor | null,
    encoderMask: tf.Tensor | null,
    training: boolean,
  ): BlockOutput {
    const result: Partial<BlockOutput> = {};
    const selfMask = combineMasks(x, x, decoderMask, decoderMask, null, true, null);
    let h = this.residual(x, this.selfAttentionNorm, training, (q) => {
      const attended = this.selfAttention!.attend(q, q, q, selfMask, training);
      result.selfAttention = attended.probabilities;
      return attended.output;
    });
    if (encoderOutput != null) {
      const crossMask = combineMasks(h, encoderOutput, decoderMask, encoderMask, null, false, null);
      h = this.residual(h, this.crossAttentionNorm!, training, (q) => {
        const attended = this.crossAttention!.attend(q, encoderOutput, encoderOutput, crossMask, training);
        result.crossAttention = attended.probabilities;
        return attended.output;
      });
    }
    result.output = this.residual(h, this.feedForwardNorm, training, (q) => this.feedForward(q, this.feedForwardWeights)) as tf.Tensor3D;
    return result as BlockOutput;
  }

  /**
   * A cache for incremental decoding against `encoderOutput` (B, S, De) with its
   * padding mask (B, S) (or null), before any position is decoded. Call inside
   * a tidy and keep the result.
   */
  startCache(encoderOutput: tf.Tensor | null, encoderMask: tf.Tensor | null): DecoderBlockCache {
    const cache: DecoderBlockCache = {
      keys: null,
      values: null,
      crossKeys: null,
      crossValues: null,
      crossMask: null,
      selfWeights: this.selfAttention!.inferenceWeights(),
      crossWeights: null,
    };
    if (this.crossAttention && encoderOutput) {
      const { keys, values } = this.crossAttention.projectKeysValues(encoderOutput, encoderOutput);
      cache.crossKeys = keys;
      cache.crossValues = values;
      cache.crossWeights = this.crossAttention.inferenceWeights();
      // (B, S) -> (B, 1, 1, S), broadcast over heads and the single query.
      if (encoderMask) {
        const [batch, length] = encoderMask.shape;
        cache.crossMask = tf.scalar(1).sub(encoderMask.cast('float32')).mul(MASKED_SCORE).reshape([batch, 1, 1, length]);
      }
    }
    return cache;
  }

  /**
   * One decoding step: x (B, 1, D) is the next position; returns its output
   * (B, 1, D) and the cache extended by it. Equals the last row of `forward`
   * over all positions so far (the cache holds exactly what the causal mask
   * lets that row see). Inference only. Call inside a tidy.
   */
  forwardStep(x: tf.Tensor, cache: DecoderBlockCache): { output: tf.Tensor3D; cache: DecoderBlockCache } {
    const next: DecoderBlockCache = { ...cache };
    let h = this.residual(x, this.selfAttentionNorm, false, (q) => {
      // (B, H, t, K) + (B, H, 1, K) -> (B, H, t+1, K), likewise the values.
      const step = this.selfAttention!.selfAttendStep(q, cache.selfWeights!, cache.keys, cache.values);
      next.keys = step.keys;
      next.values = step.values;
      return step.output;
    });
    if (this.crossAttention) {
      h = this.residual(h, this.crossAttentionNorm!, false, (q) =>
        this.crossAttention!.crossAttendStep(q, cache.crossWeights!, cache.crossKeys!, cache.crossValues!, cache.crossMask),
      );
    }
    const output = this.residual(h, this.feedForwardNorm, false, (q) => this.feedForward(q, this.feedForwardWeights)) as tf.Tensor3D;
    return { output, cache: next };
  }
}
tf.serialization.registerClass(TransformerDecoderBlock);
