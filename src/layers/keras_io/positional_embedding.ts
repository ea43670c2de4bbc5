/**
 * `PositionalEmbedding` of the keras.io example "English-to-Spanish translation with a
 * sequence-to-sequence Transformer" (examples/nlp/neural_machine_translation_with_transformer.py,
 * Keras 3 version). Load files that hold it with
 * `loadKerasModel(file, {customObjects: {PositionalEmbedding: KerasIoPositionalEmbedding}})`.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import { checkTokenIds } from '../../ops/embedding';
import type { Kwargs, Shape } from '../shapes';
import { checkExampleArgs, KerasIoLayer, positiveInt } from './parts';
import { embedTokensAndPositions } from './token_and_position_embedding';

/** The arguments of `KerasIoPositionalEmbedding`, as the keras.io example's constructor takes them. */
export interface KerasIoPositionalEmbeddingArgs extends LayerArgs {
  /** Number of positions L (the longest sequence). Required. */
  sequenceLength: number;
  /** Number of token ids V. Required. */
  vocabSize: number;
  /** Width D of the embeddings. Required. */
  embedDim: number;
}

const EXAMPLE = 'keras.io "English-to-Spanish translation with a sequence-to-sequence Transformer"';

/**
 * Token ids (B, T) to `token_embeddings[id] + position_embeddings[t]`, (B, T, D), with the padding
 * mask `ids != 0` (B, T), as the example's `compute_mask`.
 *
 * Weights, in Keras's order: token_embeddings [V, D] (`token_embeddings/vars/0`),
 * position_embeddings [L, D] (`position_embeddings/vars/0`).
 *
 * ```ts
 * const embed = new KerasIoPositionalEmbedding({sequenceLength: 20, vocabSize: 15000, embedDim: 256});
 * const x = embed.apply(tf.zeros([1, 20], 'int32')) as tf.Tensor; // [1, 20, 256]
 * ```
 */
export class KerasIoPositionalEmbedding extends KerasIoLayer {
  /** @nocollapse */
  static className = 'KerasIoPositionalEmbedding';
  readonly sequenceLength: number;
  readonly vocabSize: number;
  readonly embedDim: number;
  private tokenEmbeddings: tf.LayerVariable | null = null;
  private positionEmbeddings: tf.LayerVariable | null = null;

  constructor(args: KerasIoPositionalEmbeddingArgs) {
    super(args);
    const label = `KerasIoPositionalEmbedding '${this.name}'`;
    checkExampleArgs(EXAMPLE, label, args, ['sequenceLength', 'vocabSize', 'embedDim']);
    this.sequenceLength = positiveInt(label, 'sequenceLength', args.sequenceLength);
    this.vocabSize = positiveInt(label, 'vocabSize', args.vocabSize);
    this.embedDim = positiveInt(label, 'embedDim', args.embedDim);
    this.supportsMasking = true;
  }

  override build(_inputShape: Shape | Shape[]): void {
    this.tokenEmbeddings = this.addEmbedding('token_embeddings', this.vocabSize, this.embedDim);
    this.positionEmbeddings = this.addEmbedding('position_embeddings', this.sequenceLength, this.embedDim);
    this.parts = [
      { group: 'token_embeddings', variables: [this.tokenEmbeddings] },
      { group: 'position_embeddings', variables: [this.positionEmbeddings] },
    ];
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [...shape, this.embedDim];
  }

  /** (B, T), true where the id is not 0. */
  override computeMask(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const ids = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => tf.notEqual(ids, 0));
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    const label = `KerasIoPositionalEmbedding '${this.name}'`;
    const ids = Array.isArray(inputs) ? inputs[0] : inputs;
    if (ids.rank !== 2) throw new Error(`${label}: token ids must have shape (B, T), got [${ids.shape.join(', ')}]`);
    const [batch, length] = ids.shape;
    if (length > this.sequenceLength) {
      throw new Error(`${label}: ${length} tokens, more than sequenceLength ${this.sequenceLength}`);
    }
    checkTokenIds(ids, this.vocabSize, label);
    return embedTokensAndPositions(ids, this.tokenEmbeddings!, this.positionEmbeddings!, batch, length, this.embedDim);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      sequenceLength: this.sequenceLength,
      vocabSize: this.vocabSize,
      embedDim: this.embedDim,
    };
  }
}
tf.serialization.registerClass(KerasIoPositionalEmbedding);
