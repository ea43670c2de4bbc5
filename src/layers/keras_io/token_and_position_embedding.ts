/**
 * `TokenAndPositionEmbedding` of the keras.io example "Text classification with Transformer"
 * (examples/nlp/text_classification_with_transformer.py, Keras 3 version). Not keras-hub's layer of
 * the same name (src/layers/keras_hub/token_and_position_embedding.ts): other arguments, weight
 * paths and initializers. Load files that hold it with
 * `loadKerasModel(file, {customObjects: {TokenAndPositionEmbedding: KerasIoTokenAndPositionEmbedding}})`.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import { checkTokenIds, embeddingLookup } from '../../ops/embedding';
import type { Kwargs, Shape } from '../shapes';
import { checkExampleArgs, KerasIoLayer, positiveInt } from './parts';

/** The arguments of `KerasIoTokenAndPositionEmbedding`, as the keras.io example's constructor takes them. */
export interface KerasIoTokenAndPositionEmbeddingArgs extends LayerArgs {
  /** Number of positions L (the longest sequence). Required. */
  maxlen: number;
  /** Number of token ids V. Required. */
  vocabSize: number;
  /** Width D of the embeddings. Required. */
  embedDim: number;
}

const EXAMPLE = 'keras.io "Text classification with Transformer"';

/**
 * Token ids (B, T), T <= maxlen, given as numbers of any dtype (the example's input is float), to
 * `token_emb[id] + pos_emb[t]`, (B, T, D). No padding mask, as in the example.
 *
 * Weights, in Keras's order: token_emb embeddings [V, D] (`token_emb/vars/0`), pos_emb embeddings
 * [maxlen, D] (`pos_emb/vars/0`).
 *
 * ```ts
 * const embed = new KerasIoTokenAndPositionEmbedding({maxlen: 200, vocabSize: 20000, embedDim: 32});
 * const x = embed.apply(tf.zeros([1, 200])) as tf.Tensor; // [1, 200, 32]
 * ```
 */
export class KerasIoTokenAndPositionEmbedding extends KerasIoLayer {
  /** @nocollapse */
  static className = 'KerasIoTokenAndPositionEmbedding';
  readonly maxlen: number;
  readonly vocabSize: number;
  readonly embedDim: number;
  private tokenEmb: tf.LayerVariable | null = null;
  private posEmb: tf.LayerVariable | null = null;

  constructor(args: KerasIoTokenAndPositionEmbeddingArgs) {
    super(args);
    const label = `KerasIoTokenAndPositionEmbedding '${this.name}'`;
    checkExampleArgs(EXAMPLE, label, args, ['maxlen', 'vocabSize', 'embedDim']);
    this.maxlen = positiveInt(label, 'maxlen', args.maxlen);
    this.vocabSize = positiveInt(label, 'vocabSize', args.vocabSize);
    this.embedDim = positiveInt(label, 'embedDim', args.embedDim);
  }

  override build(_inputShape: Shape | Shape[]): void {
    this.tokenEmb = this.addEmbedding('token_emb', this.vocabSize, this.embedDim);
    this.posEmb = this.addEmbedding('pos_emb', this.maxlen, this.embedDim);
    this.parts = [
      { group: 'token_emb', variables: [this.tokenEmb] },
      { group: 'pos_emb', variables: [this.posEmb] },
    ];
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [...shape, this.embedDim];
  }

  override computeMask(): tf.Tensor {
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return null as unknown as tf.Tensor;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    const label = `KerasIoTokenAndPositionEmbedding '${this.name}'`;
    const ids = Array.isArray(inputs) ? inputs[0] : inputs;
    if (ids.rank !== 2) throw new Error(`${label}: token ids must have shape (B, T), got [${ids.shape.join(', ')}]`);
    const [batch, length] = ids.shape;
    if (length > this.maxlen) throw new Error(`${label}: ${length} tokens, more than maxlen ${this.maxlen}`);
    checkTokenIds(ids, this.vocabSize, label);
    return embedTokensAndPositions(ids, this.tokenEmb!, this.posEmb!, batch, length, this.embedDim);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), maxlen: this.maxlen, vocabSize: this.vocabSize, embedDim: this.embedDim };
  }
}
tf.serialization.registerClass(KerasIoTokenAndPositionEmbedding);

/** `tokens[ids] + positions[0..T-1]`: (B, T) ids -> (B, T, D). */
export function embedTokensAndPositions(
  ids: tf.Tensor,
  tokens: tf.LayerVariable,
  positions: tf.LayerVariable,
  batch: number,
  length: number,
  width: number,
): tf.Tensor {
  return tf.tidy(() => {
    // (B*T) ids -> (B*T, D) -> (B, T, D), plus rows 0..T-1 of the position table broadcast over B.
    const embedded = embeddingLookup(tokens.read(), ids.reshape([batch * length]).cast('int32'));
    return embedded.reshape([batch, length, width]).add(positions.read().slice([0, 0], [length, width]));
  });
}
