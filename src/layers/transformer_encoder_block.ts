/**
 * A Transformer encoder block (Vaswani et al. 2017, section 3.1), arguments as
 * keras-hub's `TransformerEncoder`.
 */
import * as tf from '@tensorflow/tfjs';
import { checkBoolean, checkPositiveInt, layerArgNames } from './args';
import type { IncrementalRole } from './incremental';
import { checkPaddingMasks, passMask, resolveInputMasks } from './masks';
import { checkSequence, type Kwargs, type Shape } from './shapes';
import {
  type BlockCacheArgs,
  type BlockHeadMaskArgs,
  type BlockKind,
  TransformerBlock,
  type TransformerBlockArgs,
} from './transformer_block';

/** The arguments of `TransformerEncoderBlock`. */
export interface TransformerEncoderBlockArgs extends TransformerBlockArgs {
  /** Size of each head's queries and keys. Default: model width / numHeads (which must divide it). */
  keyDim?: number | null;
  /** Whether position t attends only to positions <= t (a GPT-style block). Default false. */
  causal?: boolean;
}

/** Keyword arguments of `apply`: `training`, and the self-attention cache of a causal block. */
export type TransformerEncoderBlockCallArgs = Pick<
  BlockCacheArgs,
  'selfAttentionCache' | 'selfAttentionCacheUpdateIndex'
> &
  Pick<BlockHeadMaskArgs, 'selfAttentionHeadMask'> & {
    training?: boolean;
    mask?: tf.Tensor | Array<tf.Tensor | null>;
  };

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<TransformerEncoderBlockArgs>({
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
  causal: true,
});

const KIND: BlockKind = {
  argNames: ARG_NAMES,
  owner: () => TransformerEncoderBlock,
  label: 'TransformerEncoderBlock',
  weightOrder: [
    'self_attention',
    'self_attention_layer_norm',
    'feedforward_intermediate_dense',
    'feedforward_output_dense',
    'feedforward_layer_norm',
  ],
  attentionScopes: { self: 'self_attention', cross: 'cross_attention' },
  regularizers: false,
  inputNames: { sequence: 'input', memory: 'memory' },
  exactKeyDim: true,
  paddingMasks: true,
};

/**
 * Self-attention then a position-wise feed-forward network, each wrapped in a
 * residual connection with a layer norm (post-LN by default, pre-LN with
 * `normalizeFirst`). Input and output (B, T, D). The padding mask that tfjs
 * propagates (e.g. from an embedding with `maskZero`) keeps padded positions
 * from being attended, and passes through to the output. With `causal`, a
 * GPT-style block whose self-attention takes a key/value cache
 * (`selfAttentionCache`, see TransformerBlock), for generation.
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
export class TransformerEncoderBlock extends TransformerBlock {
  /** @nocollapse */
  static className = 'TransformerEncoderBlock';

  readonly keyDim: number | null;
  readonly causal: boolean;

  constructor(args: TransformerEncoderBlockArgs) {
    super(args, KIND);
    this.keyDim = args.keyDim == null ? null : checkPositiveInt(this.label, 'keyDim', args.keyDim);
    this.causal = checkBoolean(this.label, 'causal', args.causal ?? false);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    this.buildSublayers(shape, null, this.keyDim, this.causal);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
  }

  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    return this.withCacheMasks(passMask(input, mask));
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const args = kwargs as TransformerEncoderBlockCallArgs;
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const mask = resolveInputMasks(inputs, args.mask)[0];
    checkSequence(this.label, 'input', x, this.selfAttention?.queryDense?.kernel?.shape[0] as number);
    checkPaddingMasks(this.label, [['input', mask, x]]);
    const caches = this.cachesOf(args);
    const headMasks = this.headMasksOf(args, x.shape[0]);
    return tf.tidy(() => {
      // Padded positions are neither attended nor attend (the causal mask is the attention's own).
      const masks = this.paddingMasksOf(mask, null)!.self;
      const self = { ...caches?.self, masks, headMask: headMasks.self };
      return this.outputsOf(this.runBlock(x, self, null, args.training ?? false), caches != null);
    });
  }

  /** A causal block runs one position at a time with its self-attention's cache. */
  incrementalRole(): IncrementalRole {
    return { kind: 'cached', slots: this.blockCacheSlots(0, 0) };
  }

  /** The constructor's arguments, as tfjs serializes layers. */
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.blockConfig(), keyDim: this.keyDim, causal: this.causal };
  }
}
tf.serialization.registerClass(TransformerEncoderBlock);
