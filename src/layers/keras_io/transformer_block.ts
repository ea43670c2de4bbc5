/**
 * `TransformerBlock` of the keras.io example "Text classification with Transformer"
 * (examples/nlp/text_classification_with_transformer.py, Keras 3 version), which real Keras files
 * contain as a user class: load them with
 * `loadKerasModel(file, {customObjects: {TransformerBlock: KerasIoTransformerBlock}})`.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { DenseWeights, NormWeights } from '../keras_hub/parts';
import { residualBlock } from '../keras_hub/parts';
import type { MultiHeadAttention } from '../multi_head_attention';
import { checkRank, type Kwargs, type Shape, shapeList } from '../shapes';
import { checkRate } from '../args';
import { checkExampleArgs, feedForward, type FeedForward, feedForwardParts, KerasIoLayer, positiveInt } from './parts';

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
export class KerasIoTransformerBlock extends KerasIoLayer {
  /** @nocollapse */
  static className = 'KerasIoTransformerBlock';
  readonly embedDim: number;
  readonly numHeads: number;
  readonly ffDim: number;
  readonly rate: number;

  private att: MultiHeadAttention | null = null;
  private ffn!: FeedForward;
  private layernorm1!: NormWeights;
  private layernorm2!: NormWeights;

  constructor(args: KerasIoTransformerBlockArgs) {
    super(args);
    const label = `KerasIoTransformerBlock '${this.name}'`;
    checkExampleArgs(EXAMPLE, label, args, ['embedDim', 'numHeads', 'ffDim'], ['rate']);
    this.embedDim = positiveInt(label, 'embedDim', args.embedDim);
    this.numHeads = positiveInt(label, 'numHeads', args.numHeads);
    this.ffDim = positiveInt(label, 'ffDim', args.ffDim);
    this.rate = checkRate(label, 'rate', args.rate ?? 0.1);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = shapeList(inputShape)[0];
    checkRank(`KerasIoTransformerBlock '${this.name}'`, 'inputs', shape, 3);
    const D = this.embedDim;
    this.att = this.addAttention('att', this.numHeads, D, shape, shape);
    const dense = (scope: string, i: number, o: number): DenseWeights => this.addDense(scope, i, o);
    this.ffn = { hidden: dense('ffn/dense', D, this.ffDim), output: dense('ffn/dense_1', this.ffDim, D) };
    this.layernorm1 = this.addNorm('layernorm1', D, 1e-6);
    this.layernorm2 = this.addNorm('layernorm2', D, 1e-6);
    this.parts = [
      { group: 'att', attention: this.att },
      ...feedForwardParts('ffn', this.ffn),
      { group: 'layernorm1', variables: [this.layernorm1.gamma, this.layernorm1.beta] },
      { group: 'layernorm2', variables: [this.layernorm2.gamma, this.layernorm2.beta] },
    ];
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
    return tf.tidy(() => {
      // 1. Self-attention block: LN1(x + dropout1(att(x, x))).
      const att = this.att!;
      const out1 = residualBlock(
        x,
        this.layernorm1,
        false,
        this.rate,
        training,
        (h) => att.attend(h, h, h, null, training).output,
      );
      // 2. Feed-forward block: LN2(out1 + dropout2(ffn(out1))), (B, T, D) -> (B, T, ffDim) -> (B, T, D).
      return residualBlock(out1, this.layernorm2, false, this.rate, training, (h) => feedForward(h, this.ffn));
    });
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
