/**
 * `TransformerEncoder` of the keras.io example "English-to-Spanish translation with a
 * sequence-to-sequence Transformer" (examples/nlp/neural_machine_translation_with_transformer.py,
 * Keras 3 version). Not keras-hub's TransformerEncoder. Load files that hold it with
 * `loadKerasModel(file, {customObjects: {TransformerEncoder: KerasIoTransformerEncoder}})`.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import { residualBlock, type NormWeights } from '../keras_hub/parts';
import { combineMasks, passMask, resolveInputMasks } from '../masks';
import type { MultiHeadAttention } from '../multi_head_attention';
import { checkRank, type Kwargs, type Shape, shapeList } from '../shapes';
import { checkExampleArgs, feedForward, type FeedForward, feedForwardParts, KerasIoLayer, positiveInt } from './parts';

export interface KerasIoTransformerEncoderArgs extends LayerArgs {
  /** Width D of the input and output; also each attention head's key dim. Required. */
  embedDim: number;
  /** Width of the feed-forward hidden layer. Required. */
  denseDim: number;
  /** Number of attention heads H. Required. */
  numHeads: number;
}

const EXAMPLE = 'keras.io "English-to-Spanish translation with a sequence-to-sequence Transformer"';

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
export class KerasIoTransformerEncoder extends KerasIoLayer {
  /** @nocollapse */
  static className = 'KerasIoTransformerEncoder';
  readonly embedDim: number;
  readonly denseDim: number;
  readonly numHeads: number;

  private attention: MultiHeadAttention | null = null;
  private denseProj!: FeedForward;
  private layernorm1!: NormWeights;
  private layernorm2!: NormWeights;

  constructor(args: KerasIoTransformerEncoderArgs) {
    super(args);
    const label = `KerasIoTransformerEncoder '${this.name}'`;
    checkExampleArgs(EXAMPLE, label, args, ['embedDim', 'denseDim', 'numHeads']);
    this.embedDim = positiveInt(label, 'embedDim', args.embedDim);
    this.denseDim = positiveInt(label, 'denseDim', args.denseDim);
    this.numHeads = positiveInt(label, 'numHeads', args.numHeads);
    this.supportsMasking = true;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = shapeList(inputShape)[0];
    checkRank(`KerasIoTransformerEncoder '${this.name}'`, 'inputs', shape, 3);
    const D = this.embedDim;
    this.attention = this.addAttention('attention', this.numHeads, D, shape, shape);
    this.denseProj = {
      hidden: this.addDense('dense_proj/dense', D, this.denseDim),
      output: this.addDense('dense_proj/dense_1', this.denseDim, D),
    };
    this.layernorm1 = this.addNorm('layernorm_1', D, 1e-3);
    this.layernorm2 = this.addNorm('layernorm_2', D, 1e-3);
    this.parts = [
      { group: 'attention', attention: this.attention },
      ...feedForwardParts('dense_proj', this.denseProj),
      { group: 'layernorm_1', variables: [this.layernorm1.gamma, this.layernorm1.beta] },
      { group: 'layernorm_2', variables: [this.layernorm2.gamma, this.layernorm2.beta] },
    ];
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
    const training = args.training ?? false;
    return tf.tidy(() => {
      // 1. Mask (B, T, T): padded keys (the example's attention_mask) and, as Keras applies it, padded queries.
      const mask = combineMasks(x, x, padding, padding, null, false, null);
      // 2. Self-attention block: LN1(x + attention(x, x, x)).
      const attention = this.attention!;
      const projInput = residualBlock(
        x,
        this.layernorm1,
        false,
        0,
        training,
        (h) => attention.attend(h, h, h, mask, training).output,
      );
      // 3. Feed-forward block: LN2(projInput + dense_proj(projInput)).
      return residualBlock(projInput, this.layernorm2, false, 0, training, (h) => feedForward(h, this.denseProj));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), embedDim: this.embedDim, denseDim: this.denseDim, numHeads: this.numHeads };
  }
}
tf.serialization.registerClass(KerasIoTransformerEncoder);
