/**
 * keras-hub's `TransformerDecoder` (keras_hub/src/layers/modeling/transformer_decoder.py): the
 * same arguments, defaults, math, weight shapes and order, so that Keras models built from it load.
 */
import * as tf from '@tensorflow/tfjs';
import { checkBoolean, checkLayerArgNames, layerArgNames, serializeInitializer } from '../args';
import { byCallArgument } from '../keras_args';
import { checkPaddingMasks, combineMasks, passMask, resolveInputMasks } from '../masks';
import { MultiHeadAttention } from '../multi_head_attention';
import { checkRank, checkSequence, type Kwargs, type Shape, shapeList } from '../shapes';
import { applyDense, type DenseWeights, type NormWeights, residualBlock, registerKerasHubClass } from './parts';
import { KerasHubTransformerBase, type KerasHubTransformerArgs, weightsPart } from './transformer_base';
import { checkEncoderAttentionMask } from './transformer_encoder';

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
  callArguments: true,
  decoderSequenceShape: true,
  encoderSequenceShape: true,
  useCausalMask: true,
});

/** Keyword arguments of `apply` (tensors the Keras loader passes as inputs instead, with callArguments). */
export interface KerasHubTransformerDecoderCallArgs {
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
export class KerasHubTransformerDecoder extends KerasHubTransformerBase {
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

  selfAttention: MultiHeadAttention | null = null;
  crossAttention: MultiHeadAttention | null = null;
  private selfAttentionNorm!: NormWeights;
  private crossAttentionNorm: NormWeights | null = null;
  private feedForwardNorm!: NormWeights;
  private intermediateDense!: DenseWeights;
  private outputDense!: DenseWeights;
  constructor(args: KerasHubTransformerDecoderArgs) {
    super(args, {
      namePrefix: 'transformer_decoder',
      kerasCallArguments: KerasHubTransformerDecoder.kerasCallArguments,
      required: 'decoder_sequence',
      regularizers: false,
    });
    checkLayerArgNames(this, KerasHubTransformerDecoder, args, ARG_NAMES);
    const name = this.label;
    this.decoderSequenceShape = checkBuildShape(name, 'decoderSequenceShape', args.decoderSequenceShape);
    this.encoderSequenceShape = checkBuildShape(name, 'encoderSequenceShape', args.encoderSequenceShape);
    this.useCausalMask = checkBoolean(name, 'useCausalMask', args.useCausalMask ?? true);
  }

  protected attentionLayers(): Array<MultiHeadAttention | null> {
    return [this.selfAttention, this.crossAttention];
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
    const width = decoderShape[2] as number;
    const keyDim = this.keyDimFor(width, 'decoder');
    // In the order keras-hub's build creates them.
    this.selfAttention = this.addAttention('self_attention', keyDim, decoderShape, decoderShape);
    this.selfAttentionNorm = this.addNorm('self_attention_layer_norm', width);
    this.parts = [
      { group: '_self_attention_layer', attention: this.selfAttention },
      weightsPart('_self_attention_layer_norm', this.selfAttentionNorm),
    ];
    if (encoderShape) {
      this.crossAttention = this.addAttention('cross_attention', keyDim, decoderShape, encoderShape);
      this.crossAttentionNorm = this.addNorm('cross_attention_layer_norm', width);
      this.parts.push(
        { group: '_cross_attention_layer', attention: this.crossAttention },
        weightsPart('_cross_attention_layer_norm', this.crossAttentionNorm),
      );
    }
    this.intermediateDense = this.addDense('feedforward_intermediate_dense', width, this.intermediateDim);
    this.outputDense = this.addDense('feedforward_output_dense', this.intermediateDim, width);
    this.feedForwardNorm = this.addNorm('feedforward_layer_norm', width);
    this.parts.push(
      weightsPart('_feedforward_intermediate_dense', this.intermediateDense),
      weightsPart('_feedforward_output_dense', this.outputDense),
      weightsPart('_feedforward_layer_norm', this.feedForwardNorm),
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return this.named(shapeList(inputShape)).decoder_sequence;
  }

  /** The output keeps the decoder sequence's padding mask. */
  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const { decoderIndex } = this.named(list);
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return passMask(list[decoderIndex], resolveInputMasks(inputs, mask)[decoderIndex]) as tf.Tensor;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
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
    const masks = {
      decoderOwn: own[named.decoderIndex],
      encoderOwn: encoder ? own[named.encoderIndex] : null,
      decoderPadding: named.decoder_padding_mask ?? args.decoderPaddingMask ?? null,
      decoderAttention: named.decoder_attention_mask ?? args.decoderAttentionMask ?? null,
      encoderPadding: named.encoder_padding_mask ?? args.encoderPaddingMask ?? null,
      encoderAttention: named.encoder_attention_mask ?? args.encoderAttentionMask ?? null,
    };
    checkSequence(this.label, 'decoder_sequence', x, this.selfAttention?.queryDense?.kernel?.shape[0] as number);
    if (encoder) {
      const width = this.crossAttention?.keyDense?.kernel?.shape[0] as number;
      checkSequence(this.label, 'encoder_sequence', encoder, width, x.shape[0]);
    }
    checkPaddingMasks(this.label, [
      ['decoder_sequence', masks.decoderOwn, x],
      ['decoder_padding_mask', masks.decoderPadding, x],
      ['encoder_sequence', masks.encoderOwn, encoder ?? x],
      ['encoder_padding_mask', encoder ? masks.encoderPadding : null, encoder ?? x],
    ]);
    const [batch, length] = x.shape as number[];
    checkEncoderAttentionMask(this.label, masks.decoderAttention, batch, length, length);
    if (encoder)
      checkEncoderAttentionMask(this.label, masks.encoderAttention, batch, length, encoder.shape[1] as number);
    return tf.tidy(() => this.forward(x, encoder, masks, args.training ?? false));
  }

  /**
   * The layer on explicit tensors: x (B, T, D), encoder (B, S, De) or null, and the masks
   * (padding (B, L) with 1 = real token, attention (B, T, S) with 1 = may attend, or null).
   * Call inside a tidy.
   */
  forward(
    x: tf.Tensor,
    encoder: tf.Tensor | null,
    masks: {
      decoderOwn: tf.Tensor | null;
      encoderOwn: tf.Tensor | null;
      decoderPadding: tf.Tensor | null;
      decoderAttention: tf.Tensor | null;
      encoderPadding: tf.Tensor | null;
      encoderAttention: tf.Tensor | null;
    },
    training: boolean,
  ): tf.Tensor {
    const { normalizeFirst, dropout } = this;
    // 1. Self-attention mask: decoder padding (B, 1, T) * decoder attention mask * causal (1, T, T),
    //    and the decoder sequence's own mask on queries and values, as Keras's attention applies it.
    const { decoderOwn, decoderPadding } = masks;
    const selfMask = combineMasks(
      x,
      x,
      decoderOwn,
      decoderPadding ?? decoderOwn,
      decoderPadding != null ? decoderOwn : null,
      this.useCausalMask,
      masks.decoderAttention,
    );
    let h = residualBlock(
      x,
      this.selfAttentionNorm,
      normalizeFirst,
      dropout,
      training,
      (q) => this.selfAttention!.attend(q, q, q, selfMask, training).output,
    );
    // 2. Cross-attention: encoder padding (B, 1, S) * encoder attention mask (B, T, S); the query
    //    (a residual sum) carries no mask in Keras, the encoder sequence its own on the values.
    if (encoder) {
      const { encoderOwn, encoderPadding } = masks;
      const crossMask = combineMasks(
        x,
        encoder,
        null,
        encoderPadding ?? encoderOwn,
        encoderPadding != null ? encoderOwn : null,
        false,
        masks.encoderAttention,
      );
      h = residualBlock(
        h,
        this.crossAttentionNorm!,
        normalizeFirst,
        dropout,
        training,
        (q) => this.crossAttention!.attend(q, encoder, encoder, crossMask, training).output,
      );
    }
    // 3. Feed-forward block: (B, T, D) -> (B, T, I) -> (B, T, D).
    return residualBlock(h, this.feedForwardNorm, normalizeFirst, dropout, training, (q) =>
      applyDense(applyDense(q, this.intermediateDense, this.activation), this.outputDense, 'linear'),
    );
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      intermediateDim: this.intermediateDim,
      numHeads: this.numHeads,
      dropout: this.dropout,
      activation: this.activation,
      layerNormEpsilon: this.layerNormEpsilon,
      kernelInitializer: serializeInitializer(this.kernelInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
      normalizeFirst: this.normalizeFirst,
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
