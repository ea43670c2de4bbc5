/**
 * keras-hub's `TransformerEncoder` (keras_hub/src/layers/modeling/transformer_encoder.py): the
 * same arguments, defaults, math, weight shapes and order, so that Keras models built from it load.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';
import type { Regularizer } from '@tensorflow/tfjs-layers/dist/regularizers';
import {
  checkBoolean,
  checkPositiveInt,
  checkPositiveNumber,
  checkRate,
  type InitializerIdentifier,
  resolveInitializer,
  serializeInitializer,
} from '../args';
import {
  byCallArgument,
  checkCallArguments,
  type RegularizerIdentifier,
  rejectActivityRegularizer,
  resolveRegularizer,
  serializeRegularizerOrConstraint,
} from '../keras_args';
import { checkPaddingMasks, combineMasks, passMask, resolveInputMasks } from '../masks';
import { MultiHeadAttention } from '../multi_head_attention';
import { checkRank, checkSequence, formatShape, type Kwargs, type Shape, shapeList } from '../shapes';
import {
  applyDense,
  type DenseWeights,
  type NormWeights,
  resolveActivation,
  residualBlock,
  layerArgsWithName,
  LayerWithParts,
  registerKerasHubClass,
} from './parts';

export interface KerasHubTransformerEncoderArgs extends LayerArgs {
  /** Width I of the feed-forward hidden layer. Required. */
  intermediateDim: number;
  /** Number of attention heads H; each head has key dim floor(D / H). Required. */
  numHeads: number;
  /** Dropout rate inside attention, after attention and after the feed-forward network. Default 0. */
  dropout?: number;
  /** Keras activation of the feed-forward hidden layer ('relu', 'gelu', ...). Default 'relu'. */
  activation?: string | tf.serialization.ConfigDict;
  /** Epsilon of the layer norms. Default 1e-5. */
  layerNormEpsilon?: number;
  /** Initializer of every kernel. Default 'glorotUniform'. */
  kernelInitializer?: InitializerIdentifier;
  /** Initializer of every bias. Default 'zeros'. */
  biasInitializer?: InitializerIdentifier;
  /** Regularizer of every kernel (attention and feed-forward). Default null. */
  kernelRegularizer?: RegularizerIdentifier | null;
  /** Regularizer of every bias. Default null. */
  biasRegularizer?: RegularizerIdentifier | null;
  /** Refused unless null: tfjs 4.22 cannot run a layer with an activity regularizer. */
  activityRegularizer?: null;
  /** Pre-LN (norm before each sub-block, GPT-2) instead of post-LN (BERT). Default false. */
  normalizeFirst?: boolean;
  /**
   * Which Keras call argument each input is (`KerasHubTransformerEncoder.kerasCallArguments`), e.g.
   * `['inputs', 'padding_mask']`; set by the Keras loader. Default null: the one input is `inputs`.
   */
  callArguments?: string[] | null;
}

/** Keyword arguments of `apply` (tensors the Keras loader passes as inputs instead, with callArguments). */
export interface KerasHubTransformerEncoderCallArgs {
  /** (B, T), 1 = real token: masks the keys. Default: the input's own padding mask. */
  paddingMask?: tf.Tensor;
  /** (B, T, T), 1 = query t may attend to position s. */
  attentionMask?: tf.Tensor;
  training?: boolean;
  mask?: tf.Tensor | Array<tf.Tensor | null>;
}

/**
 * A Transformer encoder layer (Vaswani et al. 2017, section 3.1) as keras-hub defines it:
 * self-attention, then a feed-forward network `Dense(I, activation) -> Dense(D)`, each in a
 * residual connection with dropout and a layer norm (after it, or before it with
 * `normalizeFirst`). Input and output (B, T, D).
 *
 * Masks (keras-hub's `merge_padding_and_attention_mask`): the padding mask (`padding_mask`, else
 * the input's own mask, e.g. from an embedding with `maskZero`) keeps every query from attending
 * to padded positions, and is combined with `attention_mask` (B, T, T). As in Keras, the
 * attention layer also applies the input's own mask to its queries and values.
 *
 * Weights, in Keras's order: the self-attention's 8 (query, key, value, output kernels and
 * biases, key dim floor(D / H)), self_attention_layer_norm gamma/beta [D],
 * feedforward_layer_norm gamma/beta [D], feedforward_intermediate_dense kernel [D, I] / bias [I],
 * feedforward_output_dense kernel [I, D] / bias [D]. `kerasWeightPaths` says where each sits in a
 * Keras 3 weights file.
 *
 * ```ts
 * const encoder = new KerasHubTransformerEncoder({intermediateDim: 64, numHeads: 4});
 * const y = encoder.apply(tf.zeros([2, 10, 32])) as tf.Tensor; // [2, 10, 32]
 * ```
 */
export class KerasHubTransformerEncoder extends LayerWithParts {
  /** @nocollapse */
  static className = 'keras_hub>TransformerEncoder';
  /** keras-hub's tensor call arguments, the names `callArguments` uses. */
  static readonly kerasCallArguments: readonly string[] = ['inputs', 'padding_mask', 'attention_mask'];

  readonly intermediateDim: number;
  readonly numHeads: number;
  readonly dropout: number;
  readonly activation: string;
  readonly layerNormEpsilon: number;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  readonly kernelRegularizer: Regularizer | null;
  readonly biasRegularizer: Regularizer | null;
  readonly normalizeFirst: boolean;
  readonly callArguments: string[] | null;

  selfAttention: MultiHeadAttention | null = null;
  private selfAttentionNorm!: NormWeights;
  private feedForwardNorm!: NormWeights;
  private intermediateDense!: DenseWeights;
  private outputDense!: DenseWeights;
  /** The Keras sub-layers in Keras's weight order (empty until built). */
  private fastInit = false;

  constructor(args: KerasHubTransformerEncoderArgs) {
    super(layerArgsWithName(args, 'transformer_encoder'));
    const name = this.label;
    if (args == null || typeof args !== 'object') {
      throw new Error(`${name}: expected an arguments object {intermediateDim, numHeads, ...}, got ${args}`);
    }
    this.intermediateDim = checkPositiveInt(name, 'intermediateDim', args.intermediateDim);
    this.numHeads = checkPositiveInt(name, 'numHeads', args.numHeads);
    this.dropout = checkRate(name, 'dropout', args.dropout ?? 0);
    this.activation = resolveActivation(name, args.activation ?? 'relu');
    this.layerNormEpsilon = checkPositiveNumber(name, 'layerNormEpsilon', args.layerNormEpsilon ?? 1e-5);
    this.kernelInitializer = resolveInitializer(name, 'kernelInitializer', args.kernelInitializer, 'glorotUniform');
    this.biasInitializer = resolveInitializer(name, 'biasInitializer', args.biasInitializer, 'zeros');
    this.kernelRegularizer = resolveRegularizer(name, 'kernelRegularizer', args.kernelRegularizer);
    this.biasRegularizer = resolveRegularizer(name, 'biasRegularizer', args.biasRegularizer);
    rejectActivityRegularizer(name, args.activityRegularizer);
    this.normalizeFirst = checkBoolean(name, 'normalizeFirst', args.normalizeFirst ?? false);
    this.callArguments = checkCallArguments(name, args.callArguments, KerasHubTransformerEncoder.kerasCallArguments, [
      'inputs',
    ]);
    this.supportsMasking = true;
  }

  private get label(): string {
    return `keras_hub TransformerEncoder '${this.name}'`;
  }

  override calculateLosses(): tf.Scalar[] {
    return [...super.calculateLosses(), ...(this.selfAttention?.calculateLosses() ?? [])];
  }

  override setFastWeightInitDuringBuild(value: boolean): void {
    super.setFastWeightInitDuringBuild(value);
    this.fastInit = value;
    this.selfAttention?.setFastWeightInitDuringBuild(value);
  }

  /** The inputs (or shapes) by Keras call argument: `inputs`, and the masks when they are inputs. */
  private named<T>(list: T[]): { inputs: T; padding_mask?: T; attention_mask?: T; index: number } {
    if (this.callArguments == null) {
      if (list.length !== 1) throw new Error(`${this.label}: expected one input (B, T, D), got ${list.length} inputs`);
      return { inputs: list[0], index: 0 };
    }
    const named = byCallArgument(this.label, this.callArguments, list);
    return { ...named, inputs: named.inputs, index: this.callArguments.indexOf('inputs') };
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = this.named(shapeList(inputShape)).inputs;
    checkRank(this.label, 'inputs', shape, 3);
    const width = shape[2] as number;
    // keras-hub: key_dim = hidden_dim // num_heads, which must not be 0.
    const keyDim = Math.floor(width / this.numHeads);
    if (keyDim === 0) {
      throw new Error(
        `${this.label}: the attention key dim floor(D / numHeads) is 0: the input width ${width} must be at least ` +
          `numHeads ${this.numHeads}`,
      );
    }
    const attention = new MultiHeadAttention({
      name: `${this.name}_self_attention_layer`,
      numHeads: this.numHeads,
      keyDim,
      dropout: this.dropout,
      kernelInitializer: this.kernelInitializer,
      biasInitializer: this.biasInitializer,
      kernelRegularizer: this.kernelRegularizer,
      biasRegularizer: this.biasRegularizer,
    });
    attention.weightScope = 'self_attention_layer';
    attention.setFastWeightInitDuringBuild(this.fastInit);
    attention.build([shape, shape]);
    this.selfAttention = attention;
    // In the order keras-hub's build creates them.
    this.selfAttentionNorm = this.addNorm('self_attention_layer_norm', width);
    this.feedForwardNorm = this.addNorm('feedforward_layer_norm', width);
    this.intermediateDense = this.addDense('feedforward_intermediate_dense', width, this.intermediateDim);
    this.outputDense = this.addDense('feedforward_output_dense', this.intermediateDim, width);
    this.parts = [
      { group: '_self_attention_layer', attention },
      { group: '_self_attention_layer_norm', variables: [this.selfAttentionNorm.gamma, this.selfAttentionNorm.beta] },
      { group: '_feedforward_layer_norm', variables: [this.feedForwardNorm.gamma, this.feedForwardNorm.beta] },
      {
        group: '_feedforward_intermediate_dense',
        variables: [this.intermediateDense.kernel, this.intermediateDense.bias],
      },
      { group: '_feedforward_output_dense', variables: [this.outputDense.kernel, this.outputDense.bias] },
    ];
    this.built = true;
  }

  private addNorm(scope: string, width: number): NormWeights {
    return {
      gamma: this.addWeight(`${scope}/gamma`, [width], 'float32', tf.initializers.ones()),
      beta: this.addWeight(`${scope}/beta`, [width], 'float32', tf.initializers.zeros()),
      epsilon: this.layerNormEpsilon,
    };
  }

  private addDense(scope: string, input: number, output: number): DenseWeights {
    return {
      kernel: this.addWeight(
        `${scope}/kernel`,
        [input, output],
        'float32',
        this.kernelInitializer,
        this.kernelRegularizer ?? undefined,
      ),
      bias: this.addWeight(
        `${scope}/bias`,
        [output],
        'float32',
        this.biasInitializer,
        this.biasRegularizer ?? undefined,
      ),
    };
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return this.named(shapeList(inputShape)).inputs;
  }

  /** The output keeps the input's padding mask. */
  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const { index } = this.named(list);
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return passMask(list[index], resolveInputMasks(inputs, mask)[index]) as tf.Tensor;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const args = kwargs as KerasHubTransformerEncoderCallArgs;
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const named = this.named(list);
    const x = named.inputs;
    const paddingMask = named.padding_mask ?? args.paddingMask ?? null;
    const attentionMask = named.attention_mask ?? args.attentionMask ?? null;
    const ownMask = resolveInputMasks(inputs, args.mask)[named.index];
    checkSequence(this.label, 'inputs', x, this.selfAttention?.queryDense?.kernel?.shape[0] as number);
    checkPaddingMasks(this.label, [
      ['inputs', ownMask, x],
      ['padding_mask', paddingMask, x],
    ]);
    const [batch, length] = x.shape as number[];
    checkEncoderAttentionMask(this.label, attentionMask, batch, length, length);
    return tf.tidy(() => this.forward(x, ownMask, paddingMask, attentionMask, args.training ?? false));
  }

  /**
   * The layer on explicit tensors: x (B, T, D); ownMask, the input's padding mask (B, T), and
   * paddingMask (B, T), 1 = real token, or null; attentionMask (B, T, T) or null. Call inside a tidy.
   */
  forward(
    x: tf.Tensor,
    ownMask: tf.Tensor | null,
    paddingMask: tf.Tensor | null,
    attentionMask: tf.Tensor | null,
    training: boolean,
  ): tf.Tensor {
    // 1. The self-attention mask: keras-hub's padding (B, 1, T) * attention mask (B, T, T), and the
    //    input's own mask on queries (B, T, 1) and values (B, 1, T), as Keras's attention applies it.
    const keys = paddingMask ?? ownMask;
    const mask = combineMasks(x, x, ownMask, keys, paddingMask != null ? ownMask : null, false, attentionMask);
    // 2. Self-attention block.
    const attention = this.selfAttention!;
    const { normalizeFirst, dropout } = this;
    const attended = residualBlock(
      x,
      this.selfAttentionNorm,
      normalizeFirst,
      dropout,
      training,
      (h) => attention.attend(h, h, h, mask, training).output,
    );
    // 3. Feed-forward block: (B, T, D) -> (B, T, I) -> (B, T, D).
    return residualBlock(attended, this.feedForwardNorm, normalizeFirst, dropout, training, (h) =>
      applyDense(applyDense(h, this.intermediateDense, this.activation), this.outputDense, 'linear'),
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
      kernelRegularizer: serializeRegularizerOrConstraint(this.kernelRegularizer),
      biasRegularizer: serializeRegularizerOrConstraint(this.biasRegularizer),
      activityRegularizer: null,
      normalizeFirst: this.normalizeFirst,
      callArguments: this.callArguments,
    };
  }
}
registerKerasHubClass(KerasHubTransformerEncoder);

/** keras-hub's rule (transformer_layer_utils.py `_check_masks_shapes`): an attention mask is (B, T, S). */
export function checkEncoderAttentionMask(
  layer: string,
  mask: tf.Tensor | null,
  batch: number,
  queryLength: number,
  keyLength: number,
): void {
  if (mask == null) return;
  const want = [batch, queryLength, keyLength];
  if (mask.rank !== 3 || mask.shape.some((d, i) => d !== want[i])) {
    throw new Error(
      `${layer}: attention_mask must have shape (B, T, S) = ${formatShape(want)}, got ${formatShape(mask.shape)}`,
    );
  }
}
