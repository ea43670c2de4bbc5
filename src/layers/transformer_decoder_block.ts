/**
 * A Transformer decoder block (Vaswani et al. 2017, section 3.1), arguments as
 * keras-hub's `TransformerDecoder`.
 */
import * as tf from '@tensorflow/tfjs';
import { checkLayerArgNames, layerArgNames } from './args';
import { checkSequence, type Kwargs, type Shape, shapeList } from './shapes';
import { checkPaddingMasks, combineMasks, passMask, resolveInputMasks } from './masks';
import { MultiHeadAttention } from './multi_head_attention';
import { type LayerNormWeights, TransformerBlockArgs, TransformerBlockBase } from './transformer_block_base';
import type { BlockOutput } from './transformer_encoder_block';

/** The arguments of `TransformerDecoderBlock`: the blocks' shared ones. */
export type TransformerDecoderBlockArgs = TransformerBlockArgs;

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<TransformerDecoderBlockArgs>({
  numHeads: true,
  intermediateDim: true,
  keyDim: true,
  dropout: true,
  activation: true,
  layerNormEpsilon: true,
  normalizeFirst: true,
  kernelInitializer: true,
  biasInitializer: true,
});

/** A layer norm's weights as typed arrays. */
export interface LayerNormArrays {
  gamma: Float32Array;
  beta: Float32Array;
  epsilon: number;
}

/** A decoder block's own weights as typed arrays (`inferenceArrays`); kernels row-major [in, out]. */
export interface DecoderBlockArrays {
  selfNorm: LayerNormArrays;
  crossNorm: LayerNormArrays | null;
  feedForwardNorm: LayerNormArrays;
  /** [D, I] and [I]. */
  innerKernel: Float32Array;
  innerBias: Float32Array;
  /** [I, D] and [D]. */
  outerKernel: Float32Array;
  outerBias: Float32Array;
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
    checkLayerArgNames(this, TransformerDecoderBlock, args, ARG_NAMES);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shapes = shapeList(inputShape);
    if (shapes.length > 2) {
      throw new Error(
        `TransformerDecoderBlock '${this.name}': expected [decoderSequence, encoderSequence] ` +
          `or decoderSequence, got ${shapes.length} inputs`,
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
        `TransformerDecoderBlock '${this.name}': ` +
          `built ${this.crossAttention ? 'with' : 'without'} an encoder sequence, ` +
          `called ${encoderOutput ? 'with' : 'without'} one`,
      );
    }
    checkSequence(this.label, 'decoderSequence', x, this.selfAttention?.queryDense?.kernel?.shape[0] as number);
    if (encoderOutput) {
      checkSequence(
        this.label,
        'encoderSequence',
        encoderOutput,
        this.crossAttention?.keyDense?.kernel?.shape[0] as number,
        x.shape[0],
      );
    }
    checkPaddingMasks(this.label, [
      ['decoderSequence', decoderMask, x],
      ['encoderSequence', encoderOutput ? encoderMask : null, encoderOutput ?? x],
    ]);
    return tf.tidy(
      () => this.forward(x, encoderOutput, decoderMask, encoderMask, (kwargs.training as boolean) ?? false).output,
    );
  }

  /**
   * The block on explicit tensors: x (B, T, D), encoderOutput (B, S, De) or
   * null, masks (B, T) / (B, S) with 1 = real token, or null. Returns the output
   * and, with `withProbabilities`, the attention probabilities (else null). Call inside a tidy.
   */
  forward(
    x: tf.Tensor,
    encoderOutput: tf.Tensor | null,
    decoderMask: tf.Tensor | null,
    encoderMask: tf.Tensor | null,
    training: boolean,
    withProbabilities = false,
  ): BlockOutput {
    const result: Partial<BlockOutput> = {};
    const selfMask = combineMasks(x, x, decoderMask, decoderMask, null, true, null);
    const crossMask = encoderOutput
      ? combineMasks(x, encoderOutput, decoderMask, encoderMask, null, false, null)
      : null;
    result.output = this.runSublayers(
      x,
      (q) => {
        const attended = this.selfAttention!.attend(q, q, q, selfMask, training, withProbabilities);
        result.selfAttention = attended.probabilities;
        result.selfAttentionInput = q as tf.Tensor3D;
        return attended.output;
      },
      encoderOutput == null
        ? null
        : (q) => {
            const attended = this.crossAttention!.attend(
              q,
              encoderOutput,
              encoderOutput,
              crossMask,
              training,
              withProbabilities,
            );
            result.crossAttention = attended.probabilities;
            return attended.output;
          },
      training,
    );
    return result as BlockOutput;
  }

  /**
   * The block's three residual sub-blocks (self-attention, cross-attention when `crossAttend` is
   * given, feed-forward) around attention functions of the (normalized) query rows: `forward`
   * passes the whole sequence's attention, cached decoding (src/decode/tfjs_step.ts) one
   * position's. Call inside a tidy.
   */
  runSublayers(
    x: tf.Tensor,
    selfAttend: (query: tf.Tensor) => tf.Tensor,
    crossAttend: ((query: tf.Tensor) => tf.Tensor) | null,
    training: boolean,
  ): tf.Tensor3D {
    let h = this.residual(x, this.selfAttentionNorm, training, selfAttend);
    if (crossAttend) h = this.residual(h, this.crossAttentionNorm!, training, crossAttend);
    return this.residual(h, this.feedForwardNorm, training, (q) =>
      this.feedForward(q, this.feedForwardWeights),
    ) as tf.Tensor3D;
  }

  /**
   * The block's own weights as typed arrays (copies of their current values), for inference
   * outside tfjs (src/decode/typed_array_step.ts): its layer norms and feed-forward. The
   * attention sub-layers export theirs (`MultiHeadAttention.inferenceWeights`).
   */
  inferenceArrays(): DecoderBlockArrays {
    const read = (v: tf.LayerVariable) => (v.read().dataSync() as Float32Array).slice();
    const norm = (n: LayerNormWeights) => ({
      gamma: read(n.gamma),
      beta: read(n.beta),
      epsilon: this.layerNormEpsilon,
    });
    const ff = this.feedForwardWeights;
    return {
      selfNorm: norm(this.selfAttentionNorm),
      crossNorm: this.crossAttentionNorm ? norm(this.crossAttentionNorm) : null,
      feedForwardNorm: norm(this.feedForwardNorm),
      innerKernel: read(ff.innerKernel),
      innerBias: read(ff.innerBias),
      outerKernel: read(ff.outerKernel),
      outerBias: read(ff.outerBias),
    };
  }
}
tf.serialization.registerClass(TransformerDecoderBlock);
