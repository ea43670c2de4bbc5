/**
 * keras-hub's `TransformerEncoder` (keras_hub/src/layers/modeling/transformer_encoder.py): the
 * same arguments, defaults, math, weight shapes and order, so that Keras models built from it load.
 * The block itself is the shared TransformerBlock; this class holds keras-hub's names, defaults,
 * mask rules and weight paths.
 */
import * as tf from '@tensorflow/tfjs';
import { layerArgNames } from '../args';
import { byCallArgument, checkCallArguments, serializeRegularizerOrConstraint } from '../keras_args';
import { checkPaddingMasks, passMask, resolveInputMasks } from '../masks';
import { checkRank, checkSequence, formatShape, type Kwargs, type Shape, shapeList } from '../shapes';
import {
  type BlockHeadMaskArgs,
  type BlockKind,
  type BlockRegularizerArgs,
  TransformerBlock,
  type TransformerBlockArgs,
} from '../transformer_block';
import { KERAS_HUB_GROUPS, layerArgsWithName, registerKerasHubClass } from './parts';

/** The arguments both keras-hub transformer layers take: ours without `keyDim` (keras-hub's is floor(D / H)). */
export interface KerasHubTransformerArgs extends TransformerBlockArgs {
  /** Which Keras call argument each input is; set by the Keras loader. Default null. */
  callArguments?: string[] | null;
}

/** The arguments of `KerasHubTransformerEncoder`: keras-hub's `TransformerEncoder`'s, camel-cased. */
export interface KerasHubTransformerEncoderArgs extends KerasHubTransformerArgs, BlockRegularizerArgs {
  /**
   * Which Keras call argument each input is (`KerasHubTransformerEncoder.kerasCallArguments`), e.g.
   * `['inputs', 'padding_mask']`; set by the Keras loader. Default null: the one input is `inputs`.
   */
  callArguments?: string[] | null;
}

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<KerasHubTransformerEncoderArgs>({
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
  kernelRegularizer: true,
  biasRegularizer: true,
  activityRegularizer: true,
});

/** Keyword arguments of `apply` (tensors the Keras loader passes as inputs instead, with callArguments). */
export interface KerasHubTransformerEncoderCallArgs extends Pick<BlockHeadMaskArgs, 'selfAttentionHeadMask'> {
  /** (B, T), 1 = real token: masks the keys. Default: the input's own padding mask. */
  paddingMask?: tf.Tensor;
  /** (B, T, T), 1 = query t may attend to position s. */
  attentionMask?: tf.Tensor;
  training?: boolean;
  mask?: tf.Tensor | Array<tf.Tensor | null>;
}

const KIND: BlockKind = {
  argNames: ARG_NAMES,
  owner: () => KerasHubTransformerEncoder,
  label: 'keras_hub TransformerEncoder',
  // In the order keras-hub's build creates them.
  weightOrder: [
    'self_attention',
    'self_attention_layer_norm',
    'feedforward_layer_norm',
    'feedforward_intermediate_dense',
    'feedforward_output_dense',
  ],
  attentionScopes: { self: 'self_attention_layer', cross: 'cross_attention_layer' },
  regularizers: true,
  inputNames: { sequence: 'inputs', memory: 'memory' },
  exactKeyDim: false,
  kerasGroups: KERAS_HUB_GROUPS,
};

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
export class KerasHubTransformerEncoder extends TransformerBlock {
  /** @nocollapse */
  static className = 'keras_hub>TransformerEncoder';
  /** keras-hub's tensor call arguments, the names `callArguments` uses. */
  static readonly kerasCallArguments: readonly string[] = ['inputs', 'padding_mask', 'attention_mask'];

  readonly callArguments: string[] | null;

  constructor(args: KerasHubTransformerEncoderArgs) {
    super(layerArgsWithName(args, 'transformer_encoder'), KIND);
    this.callArguments = checkCallArguments(
      this.label,
      args.callArguments,
      KerasHubTransformerEncoder.kerasCallArguments,
      ['inputs'],
    );
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
    this.buildSublayers(shape, null, null, false);
    this.built = true;
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
    // keras-hub's mask (merge_padding_and_attention_mask): padding (B, 1, T) * attention mask
    // (B, T, T), and the input's own mask on queries (B, T, 1) and values (B, 1, T), as Keras's
    // attention applies it.
    const masks = {
      queryMask: ownMask,
      valueMask: paddingMask ?? ownMask,
      keyMask: paddingMask != null ? ownMask : null,
      attentionMask,
    };
    const headMasks = this.headMasksOf(args, batch);
    return tf.tidy(() => this.runBlock(x, { masks, headMask: headMasks.self }, null, args.training ?? false).output);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      ...this.blockConfig(),
      kernelRegularizer: serializeRegularizerOrConstraint(this.kernelRegularizer),
      biasRegularizer: serializeRegularizerOrConstraint(this.biasRegularizer),
      activityRegularizer: null,
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
