/**
 * Token embedding plus position embedding, the input layer of a Transformer.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';
import {
  checkBoolean,
  checkChoice,
  checkLayerArgNames,
  checkPositiveInt,
  type InitializerIdentifier,
  layerArgNames,
  resolveInitializer,
  serializeInitializer,
} from './args';
import { type IncrementalRole, POSITIONED, startIndexOf } from './incremental';
import { formatShape, type Kwargs, type Shape } from './shapes';
import { sinusoidalEncoding } from './sinusoidal_position_encoding';
import { checkTokenIds, embeddingLookup } from '../ops/embedding';

/** The values of `positionEncoding`: learned position embeddings, or the fixed sin/cos encoding. */
export const POSITION_ENCODINGS = ['learned', 'sinusoidal'] as const;
/** One of `POSITION_ENCODINGS`. */
export type PositionEncoding = (typeof POSITION_ENCODINGS)[number];

/** The arguments of `TokenAndPositionEmbedding`, and tfjs's `LayerArgs`. */
export interface TokenAndPositionEmbeddingArgs extends LayerArgs {
  /** Number of token ids, V (ids 0..V-1). Required. */
  vocabularySize: number;
  /** Longest sequence the position embedding covers. Required. */
  sequenceLength: number;
  /** Width D of the embeddings. Required. */
  embeddingDim: number;
  /** Whether id 0 is padding: it produces a mask that later layers honour. Default true. */
  maskZero?: boolean;
  /** Whether token embeddings are multiplied by sqrt(D) (Vaswani et al. 3.4). Default true. */
  scaleEmbeddings?: boolean;
  /** 'learned' (a [sequenceLength, D] weight) or 'sinusoidal' (fixed). Default 'learned'. */
  positionEncoding?: PositionEncoding;
  /** Initializer of both embedding tables. Default 'randomNormal' with stddev 0.02 (GPT-2, BERT). */
  embeddingsInitializer?: InitializerIdentifier;
}

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<TokenAndPositionEmbeddingArgs>({
  vocabularySize: true,
  sequenceLength: true,
  embeddingDim: true,
  maskZero: true,
  scaleEmbeddings: true,
  positionEncoding: true,
  embeddingsInitializer: true,
});

/**
 * Maps token ids (B, T) (int32) to vectors (B, T, D):
 * `token_embedding[id] * sqrt(D) + position_embedding[t]`. With `maskZero`,
 * the output carries the padding mask (B, T), 1 = real token, so attention
 * layers downstream never attend to padding. The call argument `startIndex`
 * (keras-hub's `start_index`) says which position the first id is at
 * (incremental decoding embeds the new positions only); default 0.
 *
 * Weights: token_embedding [V, D], then position_embedding [sequenceLength, D]
 * (learned positions only).
 *
 * ```ts
 * const embed = new TokenAndPositionEmbedding({vocabularySize: 13, sequenceLength: 16, embeddingDim: 64});
 * const x = embed.apply(tf.tensor2d([[3, 4, 0]], undefined, 'int32')) as tf.Tensor; // [1, 3, 64]
 * ```
 */
export class TokenAndPositionEmbedding extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'TokenAndPositionEmbedding';

  readonly vocabularySize: number;
  readonly sequenceLength: number;
  readonly embeddingDim: number;
  readonly maskZero: boolean;
  readonly scaleEmbeddings: boolean;
  readonly positionEncoding: PositionEncoding;
  readonly embeddingsInitializer: Initializer;

  tokenEmbedding: tf.LayerVariable | null = null;
  positionEmbedding: tf.LayerVariable | null = null;

  constructor(args: TokenAndPositionEmbeddingArgs) {
    super({ dtype: 'int32', ...args });
    checkLayerArgNames(this, TokenAndPositionEmbedding, args, ARG_NAMES);
    const name = `TokenAndPositionEmbedding '${this.name}'`;
    if (args == null || typeof args !== 'object') {
      throw new Error(
        `${name}: expected an arguments object {vocabularySize, sequenceLength, embeddingDim}, got ${args}`,
      );
    }
    this.vocabularySize = checkPositiveInt(name, 'vocabularySize', args.vocabularySize);
    this.sequenceLength = checkPositiveInt(name, 'sequenceLength', args.sequenceLength);
    this.embeddingDim = checkPositiveInt(name, 'embeddingDim', args.embeddingDim);
    this.maskZero = checkBoolean(name, 'maskZero', args.maskZero ?? true);
    this.scaleEmbeddings = checkBoolean(name, 'scaleEmbeddings', args.scaleEmbeddings ?? true);
    this.positionEncoding = checkChoice(
      name,
      'positionEncoding',
      args.positionEncoding ?? 'learned',
      POSITION_ENCODINGS,
    );
    this.embeddingsInitializer = resolveInitializer(
      name,
      'embeddingsInitializer',
      args.embeddingsInitializer ?? { className: 'RandomNormal', config: { mean: 0, stddev: 0.02 } },
      'randomNormal',
    );
    this.supportsMasking = true;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    if (shape.length !== 2) {
      throw new Error(
        `TokenAndPositionEmbedding '${this.name}': input must be token ids of rank 2 (B, T), ` +
          `got shape ${formatShape(shape)}`,
      );
    }
    this.tokenEmbedding = this.addWeight(
      'token_embedding/embeddings',
      [this.vocabularySize, this.embeddingDim],
      'float32',
      this.embeddingsInitializer,
    );
    if (this.positionEncoding === 'learned') {
      this.positionEmbedding = this.addWeight(
        'position_embedding/embeddings',
        [this.sequenceLength, this.embeddingDim],
        'float32',
        this.embeddingsInitializer,
      );
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [shape[0], shape[1], this.embeddingDim];
  }

  /** (B, T) with 1 = real token (id != 0), or null without maskZero. */
  override computeMask(inputs: tf.Tensor | tf.Tensor[], _mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const ids = Array.isArray(inputs) ? inputs[0] : inputs;
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return (this.maskZero ? tf.notEqual(ids, 0) : null) as tf.Tensor;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const ids = Array.isArray(inputs) ? inputs[0] : inputs;
    const [batch, length] = ids.shape;
    const start = startIndexOf(`TokenAndPositionEmbedding '${this.name}'`, kwargs);
    if (ids.rank !== 2) {
      throw new Error(
        `TokenAndPositionEmbedding '${this.name}': input must be token ids of rank 2 (B, T), ` +
          `got shape ${formatShape(ids.shape)}`,
      );
    }
    if (start + length > this.sequenceLength) {
      const positions = start === 0 ? `sequence length ${length}` : `positions ${start}..${start + length - 1}`;
      throw new Error(
        `TokenAndPositionEmbedding '${this.name}': ${positions} ` + `exceeds sequenceLength ${this.sequenceLength}`,
      );
    }
    checkTokenIds(ids, this.vocabularySize, `TokenAndPositionEmbedding '${this.name}'`);
    return tf.tidy(() => this.embed(ids.cast('int32'), start).reshape([batch, length, this.embeddingDim]));
  }

  /** How `generate` runs this layer one new position at a time (see `IncrementalRole`). */
  incrementalRole(): IncrementalRole {
    return POSITIONED;
  }

  /**
   * Embeds ids (B, T) whose first position is `offset` (incremental decoding
   * embeds one position at a time). Returns (B, T, D). Call inside a tidy.
   */
  embed(ids: tf.Tensor, offset: number): tf.Tensor3D {
    const [batch, length] = ids.shape;
    const flatIds = ids.reshape([batch * length]);
    // (B*T) ids -> (B*T, D)
    let tokens: tf.Tensor = embeddingLookup(this.tokenEmbedding!.read(), flatIds);
    if (this.scaleEmbeddings) tokens = tokens.mul(Math.sqrt(this.embeddingDim));
    // (T, D) positions, broadcast over the batch.
    const positions =
      this.positionEncoding === 'learned'
        ? this.positionEmbedding!.read().slice([offset, 0], [length, this.embeddingDim])
        : sinusoidalEncoding(length, this.embeddingDim, undefined, offset);
    return tokens.reshape([batch, length, this.embeddingDim]).add(positions) as tf.Tensor3D;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      vocabularySize: this.vocabularySize,
      sequenceLength: this.sequenceLength,
      embeddingDim: this.embeddingDim,
      maskZero: this.maskZero,
      scaleEmbeddings: this.scaleEmbeddings,
      positionEncoding: this.positionEncoding,
      embeddingsInitializer: serializeInitializer(this.embeddingsInitializer),
    };
  }
}
tf.serialization.registerClass(TokenAndPositionEmbedding);
