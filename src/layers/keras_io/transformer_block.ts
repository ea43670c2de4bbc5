/**
 * `TransformerBlock` of the keras.io example "Text classification with Transformer"
 * (examples/nlp/text_classification_with_transformer.py, Keras 3 version), which real Keras files
 * contain as a user class: load them with
 * `loadKerasModel(file, {customObjects: {TransformerBlock: KerasIoTransformerBlock}})`.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import { checkRate } from '../args';
import { type Kwargs, type Shape, shapeList } from '../shapes';
import { type BlockKind, TransformerBlock } from '../transformer_block';
import { checkExampleArgs, positiveInt } from './parts';

/** The arguments of `KerasIoTransformerBlock`, as the keras.io example's constructor takes them. */
export interface KerasIoTransformerBlockArgs extends LayerArgs {
  /** Width D of the input and output; also each attention head's key dim. Required. */
  embedDim: number;
  /** Number of attention heads H. Required. */
  numHeads: number;
  /** Width of the feed-forward hidden layer. Required. */
  ffDim: number;
  /** Dropout rate after the attention and the feed-forward network (training only). Default 0.1. */
  rate?: number;
}

const EXAMPLE = 'keras.io "Text classification with Transformer"';

const KIND: BlockKind = {
  label: 'KerasIoTransformerBlock',
  // Checked against the example's own arguments (checkExampleArgs), not these.
  argNames: [],
  owner: () => null,
  // In the order the example's __init__ assigns them: att, ffn, layernorm1, layernorm2.
  weightOrder: [
    'self_attention',
    'feedforward_intermediate_dense',
    'feedforward_output_dense',
    'self_attention_layer_norm',
    'feedforward_layer_norm',
  ],
  attentionScopes: { self: 'att', cross: 'cross_attention' },
  regularizers: false,
  inputNames: { sequence: 'inputs', memory: 'memory' },
  exactKeyDim: false,
  // layers.MultiHeadAttention(num_heads=..., key_dim=...): no dropout inside; `rate` drops the residual branches.
  attentionDropout: false,
  kerasGroups: {
    self_attention: 'att',
    feedforward_intermediate_dense: 'ffn/layers/dense',
    feedforward_output_dense: 'ffn/layers/dense_1',
    self_attention_layer_norm: 'layernorm1',
    feedforward_layer_norm: 'layernorm2',
    cross_attention: 'cross_attention',
    cross_attention_layer_norm: 'cross_attention_layer_norm',
  },
};

/**
 * The example's post-LN encoder block: `out1 = LN1(x + MHA(x, x))`,
 * `LN2(out1 + Dense(D)(relu(Dense(ffDim)(out1))))`, layer norms with epsilon 1e-6, each head's
 * key dim equal to D (the example's `key_dim=embed_dim`). Input and output (B, T, D). Like the
 * example's class, it neither uses nor passes on a padding mask.
 *
 * Weights, in Keras's order (and their Keras 3 paths): att's query, key, value, output kernels and
 * biases (`att/query_dense/vars/0`, ...), ffn's two Dense (`ffn/layers/dense/vars/0`,
 * `ffn/layers/dense_1/vars/0`, ...), layernorm1 and layernorm2 gamma/beta.
 *
 * ```ts
 * const block = new KerasIoTransformerBlock({embedDim: 32, numHeads: 2, ffDim: 32});
 * const y = block.apply(tf.zeros([1, 10, 32])) as tf.Tensor; // [1, 10, 32]
 * ```
 */
export class KerasIoTransformerBlock extends TransformerBlock {
  /** @nocollapse */
  static className = 'KerasIoTransformerBlock';
  readonly embedDim: number;
  readonly ffDim: number;
  readonly rate: number;

  constructor(args: KerasIoTransformerBlockArgs) {
    const label = `KerasIoTransformerBlock '${args?.name ?? ''}'`;
    checkExampleArgs(EXAMPLE, label, args, ['embedDim', 'numHeads', 'ffDim'], ['rate']);
    const rate = checkRate(label, 'rate', args.rate ?? 0.1);
    const { embedDim: _embedDim, ffDim, rate: _rate, ...base } = args;
    // The example's block: post-LN, relu, layer norms with epsilon 1e-6.
    super(
      { ...base, intermediateDim: positiveInt(label, 'ffDim', ffDim), dropout: rate, layerNormEpsilon: 1e-6 },
      KIND,
    );
    this.embedDim = positiveInt(label, 'embedDim', args.embedDim);
    this.ffDim = ffDim;
    this.rate = rate;
  }

  override build(inputShape: Shape | Shape[]): void {
    // Each head's key dim is the model width (the example's key_dim=embed_dim).
    this.buildSublayers(shapeList(inputShape)[0], null, this.embedDim, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return shapeList(inputShape)[0];
  }

  override computeMask(): tf.Tensor {
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return null as unknown as tf.Tensor;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const training = (kwargs as { training?: boolean }).training ?? false;
    // LN1(x + dropout1(att(x, x))), then LN2(out1 + dropout2(ffn(out1))); the example uses no mask.
    return tf.tidy(() => this.runBlock(x, { masks: {} }, null, training).output);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      embedDim: this.embedDim,
      numHeads: this.numHeads,
      ffDim: this.ffDim,
      rate: this.rate,
    };
  }
}
tf.serialization.registerClass(KerasIoTransformerBlock);
