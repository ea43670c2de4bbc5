/**
 * A Transformer decoder block (Vaswani et al. 2017, section 3.1), arguments as
 * keras-hub's `TransformerDecoder`.
 */
import * as tf from '@tensorflow/tfjs';
import { checkPositiveInt, layerArgNames } from './args';
import type { IncrementalRole } from './incremental';
import { checkPaddingMasks, passMask, resolveInputMasks } from './masks';
import { checkSequence, type Kwargs, type Shape, shapeList } from './shapes';
import {
  type BlockCacheArgs,
  type BlockHeadMaskArgs,
  type BlockKind,
  TransformerBlock,
  type TransformerBlockArgs,
} from './transformer_block';

export interface TransformerDecoderBlockArgs extends TransformerBlockArgs {
  /** Size of each head's queries and keys. Default: model width / numHeads (which must divide it). */
  keyDim?: number | null;
}

/** Keyword arguments of `apply`: `training`, and the attention caches of incremental decoding. */
export type TransformerDecoderBlockCallArgs = BlockCacheArgs &
  BlockHeadMaskArgs & {
    training?: boolean;
    mask?: tf.Tensor | Array<tf.Tensor | null>;
  };

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<TransformerDecoderBlockArgs>({
  numHeads: true,
  intermediateDim: true,
  keyDim: true,
  dropout: true,
  activation: true,
  layerNormEpsilon: true,
  normalizeFirst: true,
  fullyMaskedQueries: true,
  kernelInitializer: true,
  biasInitializer: true,
});

const KIND: BlockKind = {
  argNames: ARG_NAMES,
  owner: () => TransformerDecoderBlock,
  label: 'TransformerDecoderBlock',
  weightOrder: [
    'self_attention',
    'cross_attention',
    'self_attention_layer_norm',
    'cross_attention_layer_norm',
    'feedforward_intermediate_dense',
    'feedforward_output_dense',
    'feedforward_layer_norm',
  ],
  attentionScopes: { self: 'self_attention', cross: 'cross_attention' },
  regularizers: false,
  inputNames: { sequence: 'decoderSequence', memory: 'encoderSequence' },
  exactKeyDim: true,
  paddingMasks: true,
};

/**
 * Causal self-attention, cross-attention over the encoder output, then a
 * position-wise feed-forward network; each in a residual connection with a
 * layer norm (post-LN by default, pre-LN with `normalizeFirst`).
 *
 * Inputs: `[decoderSequence (B, T, D), encoderSequence (B, S, De)]`, or only
 * the decoder sequence for a decoder-only (GPT-style) stack, which then has no
 * cross-attention. Output (B, T, D). Padding masks that tfjs propagates on
 * either input are honoured; position t never sees decoder positions > t.
 * For generation the attention takes key/value caches (`selfAttentionCache`,
 * `crossAttentionCache`: see TransformerBlock).
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
export class TransformerDecoderBlock extends TransformerBlock {
  /** @nocollapse */
  static className = 'TransformerDecoderBlock';

  readonly keyDim: number | null;

  constructor(args: TransformerDecoderBlockArgs) {
    super(args, KIND);
    this.keyDim = args.keyDim == null ? null : checkPositiveInt(this.label, 'keyDim', args.keyDim);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shapes = shapeList(inputShape);
    if (shapes.length > 2) {
      throw new Error(
        `${this.label}: expected [decoderSequence, encoderSequence] or decoderSequence, got ${shapes.length} inputs`,
      );
    }
    const [decoderShape, encoderShape = null] = shapes;
    this.buildSublayers(decoderShape, encoderShape, this.keyDim, true);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return shapeList(inputShape)[0];
  }

  /** The output keeps the decoder sequence's padding mask. */
  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    return this.withCacheMasks(passMask(list[0], resolveInputMasks(inputs, mask)[0]));
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const args = kwargs as TransformerDecoderBlockCallArgs;
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const [decoderMask, encoderMask = null] = resolveInputMasks(inputs, args.mask);
    const [x, encoderOutput = null] = list;
    if ((encoderOutput == null) !== (this.crossAttention == null)) {
      throw new Error(
        `${this.label}: built ${this.crossAttention ? 'with' : 'without'} an encoder sequence, ` +
          `called ${encoderOutput ? 'with' : 'without'} one`,
      );
    }
    checkSequence(this.label, 'decoderSequence', x, this.selfAttention?.queryDense?.kernel?.shape[0] as number);
    if (encoderOutput) {
      const width = this.crossAttention?.keyDense?.kernel?.shape[0] as number;
      checkSequence(this.label, 'encoderSequence', encoderOutput, width, x.shape[0]);
    }
    checkPaddingMasks(this.label, [
      ['decoderSequence', decoderMask, x],
      ['encoderSequence', encoderOutput ? encoderMask : null, encoderOutput ?? x],
    ]);
    const caches = this.cachesOf(args);
    const headMasks = this.headMasksOf(args, x.shape[0]);
    return tf.tidy(() => {
      // Padded decoder positions are neither attended nor attend; padded encoder positions are not
      // attended. The causal mask is the self-attention's own.
      const masks = this.paddingMasksOf(decoderMask, encoderMask)!;
      const self = {
        ...caches?.self,
        masks: masks.self,
        headMask: headMasks.self,
      };
      const cross =
        encoderOutput == null
          ? null
          : {
              ...caches?.cross,
              memory: encoderOutput,
              masks: masks.cross,
              headMask: headMasks.cross,
            };
      return this.outputsOf(this.runBlock(x, self, cross, args.training ?? false), caches != null);
    });
  }

  /** Runs one position at a time with its self-attention's cache (and cross-attention's, static). */
  incrementalRole(): IncrementalRole {
    return { kind: 'cached', slots: this.blockCacheSlots(0, 1) };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.blockConfig(), keyDim: this.keyDim };
  }
}
tf.serialization.registerClass(TransformerDecoderBlock);
