/**
 * `TransformerEncoder` of the keras.io example "English-to-Spanish translation with a
 * sequence-to-sequence Transformer" (examples/nlp/neural_machine_translation_with_transformer.py,
 * Keras 3 version). Not keras-hub's TransformerEncoder. Load files that hold it with
 * `loadKerasModel(file, {customObjects: {TransformerEncoder: KerasIoTransformerEncoder}})`.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import { passMask, resolveInputMasks } from '../masks';
import { type Kwargs, type Shape, shapeList } from '../shapes';
import { type BlockKind, TransformerBlock } from '../transformer_block';
import { checkExampleArgs, positiveInt } from './parts';

/** The arguments of `KerasIoTransformerEncoder`, as the keras.io example's constructor takes them. */
export interface KerasIoTransformerEncoderArgs extends LayerArgs {
  /** Width D of the input and output; also each attention head's key dim. Required. */
  embedDim: number;
  /** Width of the feed-forward hidden layer. Required. */
  denseDim: number;
  /** Number of attention heads H. Required. */
  numHeads: number;
}

const EXAMPLE = 'keras.io "English-to-Spanish translation with a sequence-to-sequence Transformer"';

const KIND: BlockKind = {
  label: 'KerasIoTransformerEncoder',
  // Checked against the example's own arguments (checkExampleArgs), not these.
  argNames: [],
  owner: () => null,
  // In the order the example's __init__ assigns them: attention, dense_proj, layernorm_1, layernorm_2.
  weightOrder: [
    'self_attention',
    'feedforward_intermediate_dense',
    'feedforward_output_dense',
    'self_attention_layer_norm',
    'feedforward_layer_norm',
  ],
  attentionScopes: { self: 'attention', cross: 'cross_attention' },
  regularizers: false,
  inputNames: { sequence: 'inputs', memory: 'memory' },
  exactKeyDim: false,
  attentionDropout: false,
  kerasGroups: {
    self_attention: 'attention',
    feedforward_intermediate_dense: 'dense_proj/layers/dense',
    feedforward_output_dense: 'dense_proj/layers/dense_1',
    self_attention_layer_norm: 'layernorm_1',
    feedforward_layer_norm: 'layernorm_2',
    cross_attention: 'cross_attention',
    cross_attention_layer_norm: 'cross_attention_layer_norm',
  },
};

/**
 * The example's post-LN encoder block: `proj_input = LN1(x + MHA(x, x, x, attention_mask))`,
 * `LN2(proj_input + Dense(D)(relu(Dense(denseDim)(proj_input))))`, layer norms with Keras's default
 * epsilon 1e-3, each head's key dim equal to D. The input's padding mask (B, T), 1 = real token,
 * from e.g. KerasIoPositionalEmbedding, masks the keys (the example's `attention_mask=mask[:, None, :]`)
 * and, as Keras's MultiHeadAttention applies a query's own mask, the queries; the output keeps it.
 * Input and output (B, T, D).
 *
 * Weights, in Keras's order: attention's 8 (`attention/query_dense/vars/0`, ...), dense_proj's two
 * Dense (`dense_proj/layers/dense/vars/0`, ...), layernorm_1 and layernorm_2 gamma/beta.
 *
 * ```ts
 * const encoder = new KerasIoTransformerEncoder({embedDim: 32, denseDim: 64, numHeads: 2});
 * const y = encoder.apply(tf.zeros([1, 10, 32])) as tf.Tensor; // [1, 10, 32]
 * ```
 */
export class KerasIoTransformerEncoder extends TransformerBlock {
  /** @nocollapse */
  static className = 'KerasIoTransformerEncoder';
  readonly embedDim: number;
  readonly denseDim: number;

  constructor(args: KerasIoTransformerEncoderArgs) {
    const label = `KerasIoTransformerEncoder '${args?.name ?? ''}'`;
    checkExampleArgs(EXAMPLE, label, args, ['embedDim', 'denseDim', 'numHeads']);
    const { embedDim: _embedDim, denseDim, ...base } = args;
    // The example's block: post-LN, relu, no dropout, Keras's default layer-norm epsilon 1e-3.
    super({ ...base, intermediateDim: positiveInt(label, 'denseDim', denseDim), layerNormEpsilon: 1e-3 }, KIND);
    this.embedDim = positiveInt(label, 'embedDim', args.embedDim);
    this.denseDim = denseDim;
  }

  override build(inputShape: Shape | Shape[]): void {
    // Each head's key dim is the model width (the example's key_dim=embed_dim).
    this.buildSublayers(shapeList(inputShape)[0], null, this.embedDim, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return shapeList(inputShape)[0];
  }

  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return passMask(x, resolveInputMasks(inputs, mask)[0]) as tf.Tensor;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const args = kwargs as { training?: boolean; mask?: tf.Tensor | tf.Tensor[] };
    const padding = resolveInputMasks(inputs, args.mask)[0];
    // Padded keys masked (the example's attention_mask) and, as Keras applies a query's own mask, padded queries.
    const masks = { queryMask: padding, valueMask: padding };
    return tf.tidy(() => this.runBlock(x, { masks }, null, args.training ?? false).output);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), embedDim: this.embedDim, denseDim: this.denseDim, numHeads: this.numHeads };
  }
}
tf.serialization.registerClass(KerasIoTransformerEncoder);
