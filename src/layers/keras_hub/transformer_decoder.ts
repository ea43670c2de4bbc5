/**
 * keras-hub's `TransformerDecoder` (keras_hub/src/layers/modeling/transformer_decoder.py): the
 * same arguments, defaults, math, weight shapes and order, so that Keras models built from it load.
 * The block itself is the shared TransformerBlock; this class holds keras-hub's names, defaults,
 * mask rules and weight paths.
 */
import * as tf from '@tensorflow/tfjs';
import { checkBoolean, layerArgNames } from '../args';
import type { IncrementalRole } from '../incremental';
import { byCallArgument, checkCallArguments } from '../keras_args';
import { checkPaddingMasks, passMask, resolveInputMasks } from '../masks';
import { checkRank, checkSequence, type Kwargs, type Shape, shapeList } from '../shapes';
import { type BlockCacheArgs, type BlockHeadMaskArgs, type BlockKind, TransformerBlock } from '../transformer_block';
import { KERAS_HUB_GROUPS, layerArgsWithName, registerKerasHubClass } from './parts';
import { checkEncoderAttentionMask, type KerasHubTransformerArgs } from './transformer_encoder';

/** The arguments of `KerasHubTransformerDecoder`: keras-hub's `TransformerDecoder`'s, in camelCase. */
export interface KerasHubTransformerDecoderArgs extends KerasHubTransformerArgs {
  /** keras-hub's build shapes, written in its configs; kept, and checked against the inputs. Default null. */
  decoderSequenceShape?: Shape | null;
  /** With an encoder sequence (cross-attention): its build shape. Default null. */
  encoderSequenceShape?: Shape | null;
  /**
   * keras-hub's call argument `use_causal_mask` (a position t never attends to t' > t), fixed per
   * layer here; the Keras loader sets it from a node's keyword arguments. Default true.
   */
  useCausalMask?: boolean;
  /**
   * Which Keras call argument each input is (`KerasHubTransformerDecoder.kerasCallArguments`), e.g.
   * `['decoder_sequence', 'encoder_sequence', 'decoder_padding_mask']`; set by the Keras loader.
   * Default null: the inputs are `decoderSequence` or `[decoderSequence, encoderSequence]`.
   */
  callArguments?: string[] | null;
}

/**
 * Keyword arguments of `apply` (tensors the Keras loader passes as inputs instead, with
 * callArguments), and keras-hub's caches of cached decoding (see TransformerBlock).
 */
export interface KerasHubTransformerDecoderCallArgs extends BlockCacheArgs, BlockHeadMaskArgs {
  /** (B, T), 1 = real token. Default: the decoder sequence's own padding mask. */
  decoderPaddingMask?: tf.Tensor;
  /** (B, T, T), 1 = may attend. */
  decoderAttentionMask?: tf.Tensor;
  /** (B, S), 1 = real token. Default: the encoder sequence's own padding mask. */
  encoderPaddingMask?: tf.Tensor;
  /** (B, T, S), 1 = may attend. */
  encoderAttentionMask?: tf.Tensor;
  training?: boolean;
  mask?: tf.Tensor | Array<tf.Tensor | null>;
}

/** The inputs of one call by keras-hub's names. */
interface DecoderInputs<T> {
  decoder_sequence: T;
  encoder_sequence?: T;
  decoder_padding_mask?: T;
  decoder_attention_mask?: T;
  encoder_padding_mask?: T;
  encoder_attention_mask?: T;
  decoderIndex: number;
  encoderIndex: number;
}

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<KerasHubTransformerDecoderArgs>({
  intermediateDim: true,
  numHeads: true,
  dropout: true,
  activation: true,
  layerNormEpsilon: true,
  kernelInitializer: true,
  biasInitializer: true,
  normalizeFirst: true,
  fullyMaskedQueries: true,
  callArguments: true,
  decoderSequenceShape: true,
  encoderSequenceShape: true,
  useCausalMask: true,
});

const KIND: BlockKind = {
  argNames: ARG_NAMES,
  owner: () => KerasHubTransformerDecoder,
  label: 'keras_hub TransformerDecoder',
  // In the order keras-hub's build creates them.
  weightOrder: [
    'self_attention',
    'self_attention_layer_norm',
    'cross_attention',
    'cross_attention_layer_norm',
    'feedforward_intermediate_dense',
    'feedforward_output_dense',
    'feedforward_layer_norm',
  ],
  attentionScopes: { self: 'self_attention', cross: 'cross_attention' },
  regularizers: false,
  inputNames: { sequence: 'decoder_sequence', memory: 'encoder_sequence' },
  exactKeyDim: false,
  kerasGroups: KERAS_HUB_GROUPS,
};

/**
 * A Transformer decoder layer (Vaswani et al. 2017, section 3.1) as keras-hub defines it: causal
 * self-attention, cross-attention over the encoder sequence (only when the layer is built with
 * one: a decoder-only, GPT-style layer without), then a feed-forward network
 * `Dense(I, activation) -> Dense(D)`, each in a residual connection with dropout and a layer norm
 * (after it, or before it with `normalizeFirst`). Inputs: the decoder sequence (B, T, D), or
 * `[decoderSequence, encoderSequence (B, S, De)]`. Output (B, T, D).
 *
 * Masks (keras-hub's `_compute_self_attention_mask` and `merge_padding_and_attention_mask`):
 * self-attention combines the decoder padding mask (`decoder_padding_mask`, else the decoder
 * sequence's own mask) on the keys, `decoder_attention_mask` (B, T, T) and the causal mask (with
 * `useCausalMask`); cross-attention the encoder padding mask (`encoder_padding_mask`, else the
 * encoder sequence's own mask) and `encoder_attention_mask` (B, T, S). As in Keras, the
 * self-attention also applies the decoder sequence's own mask to its queries and values, and the
 * cross-attention the encoder sequence's own mask to its values.
 *
 * Weights, in Keras's order: the self-attention's 8, self_attention_layer_norm gamma/beta [D],
 * with cross-attention its 8 and cross_attention_layer_norm gamma/beta [D], then
 * feedforward_intermediate_dense kernel [D, I] / bias [I], feedforward_output_dense kernel [I, D] /
 * bias [D], feedforward_layer_norm gamma/beta [D]. `kerasWeightPaths` says where each sits in a
 * Keras 3 weights file.
 *
 * ```ts
 * const decoder = new KerasHubTransformerDecoder({intermediateDim: 64, numHeads: 4});
 * const y = decoder.apply([tf.zeros([2, 7, 32]), tf.zeros([2, 9, 32])]) as tf.Tensor; // [2, 7, 32]
 * ```
 */
export class KerasHubTransformerDecoder extends TransformerBlock {
  /** @nocollapse */
  static className = 'keras_hub>TransformerDecoder';
  /** keras-hub's tensor call arguments (the caches of cached decoding aside), the names `callArguments` uses. */
  static readonly kerasCallArguments: readonly string[] = [
    'decoder_sequence',
    'encoder_sequence',
    'decoder_padding_mask',
    'decoder_attention_mask',
    'encoder_padding_mask',
    'encoder_attention_mask',
  ];

  readonly decoderSequenceShape: Shape | null;
  readonly encoderSequenceShape: Shape | null;
  readonly useCausalMask: boolean;

  readonly callArguments: string[] | null;

  constructor(args: KerasHubTransformerDecoderArgs) {
    super(layerArgsWithName(args, 'transformer_decoder'), KIND);
    const name = this.label;
    this.callArguments = checkCallArguments(name, args.callArguments, KerasHubTransformerDecoder.kerasCallArguments, [
      'decoder_sequence',
    ]);
    this.decoderSequenceShape = checkBuildShape(name, 'decoderSequenceShape', args.decoderSequenceShape);
    this.encoderSequenceShape = checkBuildShape(name, 'encoderSequenceShape', args.encoderSequenceShape);
    this.useCausalMask = checkBoolean(name, 'useCausalMask', args.useCausalMask ?? true);
  }

  /** The inputs (or shapes) by keras-hub's call argument names. */
  private named<T>(list: T[]): DecoderInputs<T> {
    if (this.callArguments == null) {
      if (list.length < 1 || list.length > 2) {
        throw new Error(
          `${this.label}: expected decoderSequence or [decoderSequence, encoderSequence], got ${list.length} inputs`,
        );
      }
      return { decoder_sequence: list[0], encoder_sequence: list[1], decoderIndex: 0, encoderIndex: 1 };
    }
    const named = byCallArgument(this.label, this.callArguments, list);
    return {
      ...named,
      decoder_sequence: named.decoder_sequence,
      decoderIndex: this.callArguments.indexOf('decoder_sequence'),
      encoderIndex: this.callArguments.indexOf('encoder_sequence'),
    };
  }

  override build(inputShape: Shape | Shape[]): void {
    const named = this.named(shapeList(inputShape));
    const decoderShape = named.decoder_sequence;
    const encoderShape = named.encoder_sequence ?? null;
    checkRank(this.label, 'decoder_sequence', decoderShape, 3);
    if (encoderShape) checkRank(this.label, 'encoder_sequence', encoderShape, 3);
    if (this.encoderSequenceShape != null && encoderShape == null) {
      throw new Error(`${this.label}: the config has an encoderSequenceShape, but the layer got no encoder sequence`);
    }
    this.buildSublayers(decoderShape, encoderShape, null, this.useCausalMask);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return this.named(shapeList(inputShape)).decoder_sequence;
  }

  /** The output keeps the decoder sequence's padding mask. */
  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const { decoderIndex } = this.named(list);
    return this.withCacheMasks(passMask(list[decoderIndex], resolveInputMasks(inputs, mask)[decoderIndex]));
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const args = kwargs as KerasHubTransformerDecoderCallArgs;
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const named = this.named(list);
    const x = named.decoder_sequence;
    const encoder = named.encoder_sequence ?? null;
    if ((encoder == null) !== (this.crossAttention == null)) {
      throw new Error(
        `${this.label}: built ${this.crossAttention ? 'with' : 'without'} an encoder sequence ` +
          `(cross-attention), called ${encoder ? 'with' : 'without'} one; the number of inputs must not change`,
      );
    }
    const own = resolveInputMasks(inputs, args.mask);
    const decoderOwn = own[named.decoderIndex];
    const encoderOwn = encoder ? own[named.encoderIndex] : null;
    const decoderPadding = named.decoder_padding_mask ?? args.decoderPaddingMask ?? null;
    const decoderAttention = named.decoder_attention_mask ?? args.decoderAttentionMask ?? null;
    const encoderPadding = named.encoder_padding_mask ?? args.encoderPaddingMask ?? null;
    const encoderAttention = named.encoder_attention_mask ?? args.encoderAttentionMask ?? null;
    checkSequence(this.label, 'decoder_sequence', x, this.selfAttention?.queryDense?.kernel?.shape[0] as number);
    if (encoder) {
      const width = this.crossAttention?.keyDense?.kernel?.shape[0] as number;
      checkSequence(this.label, 'encoder_sequence', encoder, width, x.shape[0]);
    }
    checkPaddingMasks(this.label, [
      ['decoder_sequence', decoderOwn, x],
      ['decoder_padding_mask', decoderPadding, x],
      ['encoder_sequence', encoderOwn, encoder ?? x],
      ['encoder_padding_mask', encoder ? encoderPadding : null, encoder ?? x],
    ]);
    const caches = this.cachesOf(args);
    const [batch, length] = x.shape as number[];
    const headMasks = this.headMasksOf(args, batch);
    if (caches == null) {
      checkEncoderAttentionMask(this.label, decoderAttention, batch, length, length);
      if (encoder) checkEncoderAttentionMask(this.label, encoderAttention, batch, length, encoder.shape[1] as number);
    }
    // keras-hub's masks (`_compute_self_attention_mask`, merge_padding_and_attention_mask). Self-
    // attention: decoder padding (B, 1, T) * decoder attention mask * the causal mask (the
    // attention's own, with useCausalMask), and the decoder sequence's own mask on queries and
    // values, as Keras's attention applies it. Cross-attention: encoder padding (B, 1, S) *
    // encoder attention mask; the query (a residual sum) carries no mask in Keras, the encoder
    // sequence its own on the values.
    const self = {
      ...caches?.self,
      masks: {
        queryMask: decoderOwn,
        valueMask: decoderPadding ?? decoderOwn,
        keyMask: decoderPadding != null ? decoderOwn : null,
        attentionMask: decoderAttention,
      },
      headMask: headMasks.self,
    };
    const cross =
      encoder == null
        ? null
        : {
            ...caches?.cross,
            memory: encoder,
            masks: {
              valueMask: encoderPadding ?? encoderOwn,
              keyMask: encoderPadding != null ? encoderOwn : null,
              attentionMask: encoderAttention,
            },
            headMask: headMasks.cross,
          };
    return tf.tidy(() => this.outputsOf(this.runBlock(x, self, cross, args.training ?? false), caches != null));
  }

  /** Runs one position at a time with its self-attention's cache (and cross-attention's, static). */
  incrementalRole(inputCount: number): IncrementalRole {
    const { decoderIndex, encoderIndex } = this.named(new Array<number>(inputCount).fill(0));
    return { kind: 'cached', slots: this.blockCacheSlots(decoderIndex, encoderIndex) };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      ...this.blockConfig(),
      decoderSequenceShape: this.decoderSequenceShape,
      encoderSequenceShape: this.encoderSequenceShape,
      useCausalMask: this.useCausalMask,
      callArguments: this.callArguments,
    };
  }
}
registerKerasHubClass(KerasHubTransformerDecoder);

/** A build shape from a keras-hub config: null or a list of dimensions (null for unknown ones). */
function checkBuildShape(layer: string, name: string, value: unknown): Shape | null {
  if (value == null) return null;
  if (!Array.isArray(value) || value.some((d) => d !== null && !(Number.isInteger(d) && d > 0))) {
    throw new Error(`${layer}: ${name} must be a shape such as [null, 10, 64], got ${JSON.stringify(value)}`);
  }
  return [...(value as Shape)];
}
