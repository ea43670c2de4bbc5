/**
 * keras-hub's `TokenAndPositionEmbedding` (keras_hub/src/layers/modeling/token_and_position_embedding.py).
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';
import { checkTokenIds, embeddingLookup } from '../../ops/embedding';
import {
  checkBoolean,
  checkLayerArgNames,
  checkPositiveInt,
  type InitializerIdentifier,
  layerArgNames,
  resolveInitializer,
  serializeInitializer,
} from '../args';
import { type Kwargs, type Shape } from '../shapes';
import { DEFAULT_HIERARCHICAL_ALPHA, positionRows } from './position_embedding';
import { type IncrementalRole, POSITIONED, startIndexOf } from '../incremental';
import { layerArgsWithName, LayerWithParts, registerKerasHubClass } from './parts';

/** The arguments of `KerasHubTokenAndPositionEmbedding`: keras-hub's, in camelCase. */
export interface KerasHubTokenAndPositionEmbeddingArgs extends LayerArgs {
  /** Number of token ids V (ids 0..V-1). Required. */
  vocabularySize: number;
  /** Longest sequence L the position table covers. Required. */
  sequenceLength: number;
  /** Width D of the embeddings. Required. */
  embeddingDim: number;
  /**
   * Whether the token embedding's reverse projection (used by keras-hub's language-model heads,
   * not by this layer) shares the token table; false adds a reverse_embeddings weight [D, V].
   * Default true.
   */
  tieWeights?: boolean;
  /**
   * Initializer of both tables. Default Keras's 'uniform', RandomUniform(-0.05, 0.05).
   */
  embeddingsInitializer?: InitializerIdentifier;
  /** Whether id 0 is padding: the output then carries the padding mask (B, T), 1 = real token. Default false. */
  maskZero?: boolean;
}

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<KerasHubTokenAndPositionEmbeddingArgs>({
  vocabularySize: true,
  sequenceLength: true,
  embeddingDim: true,
  tieWeights: true,
  embeddingsInitializer: true,
  maskZero: true,
});

/**
 * Token ids (B, T) to `token_embedding[id] + position_embedding[t]`, (B, T, D), as keras-hub
 * (no sqrt(D) scaling, unlike our `TokenAndPositionEmbedding`). Positions past L follow
 * keras-hub's PositionEmbedding (see `KerasHubPositionEmbedding`). With `maskZero` the output
 * carries the padding mask ids != 0.
 *
 * Weights, in Keras's order: token_embedding embeddings [V, D] (and reverse_embeddings [D, V]
 * without `tieWeights`), position_embedding embeddings [L, D]. `kerasWeightPaths` says where each
 * sits in a Keras 3 weights file (`token_embedding/vars/0`, ...).
 *
 * ```ts
 * const embed = new KerasHubTokenAndPositionEmbedding({vocabularySize: 100, sequenceLength: 16, embeddingDim: 8});
 * const x = embed.apply(tf.tensor2d([[3, 4, 0]], undefined, 'int32')) as tf.Tensor; // [1, 3, 8]
 * ```
 */
export class KerasHubTokenAndPositionEmbedding extends LayerWithParts {
  /** @nocollapse */
  static className = 'keras_hub>TokenAndPositionEmbedding';

  readonly vocabularySize: number;
  readonly sequenceLength: number;
  readonly embeddingDim: number;
  readonly tieWeights: boolean;
  readonly embeddingsInitializer: Initializer;
  readonly maskZero: boolean;

  tokenEmbeddings: tf.LayerVariable | null = null;
  reverseEmbeddings: tf.LayerVariable | null = null;
  positionEmbeddings: tf.LayerVariable | null = null;

  constructor(args: KerasHubTokenAndPositionEmbeddingArgs) {
    super(layerArgsWithName(args, 'token_and_position_embedding'));
    checkLayerArgNames(this, KerasHubTokenAndPositionEmbedding, args, ARG_NAMES);
    const name = this.label;
    if (args == null || typeof args !== 'object') {
      throw new Error(
        `${name}: expected an arguments object {vocabularySize, sequenceLength, embeddingDim}, got ${args}`,
      );
    }
    this.vocabularySize = checkPositiveInt(name, 'vocabularySize', args.vocabularySize);
    this.sequenceLength = checkPositiveInt(name, 'sequenceLength', args.sequenceLength);
    this.embeddingDim = checkPositiveInt(name, 'embeddingDim', args.embeddingDim);
    this.tieWeights = checkBoolean(name, 'tieWeights', args.tieWeights ?? true);
    const init = args.embeddingsInitializer ?? { className: 'RandomUniform', config: { minval: -0.05, maxval: 0.05 } };
    this.embeddingsInitializer = resolveInitializer(
      name,
      'embeddingsInitializer',
      init === 'uniform' ? 'randomUniform' : init,
      'randomUniform',
    );
    this.maskZero = checkBoolean(name, 'maskZero', args.maskZero ?? false);
    this.supportsMasking = this.maskZero;
  }

  private get label(): string {
    return `keras_hub TokenAndPositionEmbedding '${this.name}'`;
  }

  override build(_inputShape: Shape | Shape[]): void {
    const { vocabularySize: V, embeddingDim: D, sequenceLength: L } = this;
    this.tokenEmbeddings = this.addWeight('token_embedding/embeddings', [V, D], 'float32', this.embeddingsInitializer);
    if (!this.tieWeights) {
      this.reverseEmbeddings = this.addWeight(
        'token_embedding/reverse_embeddings',
        [D, V],
        'float32',
        this.embeddingsInitializer,
      );
    }
    this.positionEmbeddings = this.addWeight(
      'position_embedding/embeddings',
      [L, D],
      'float32',
      this.embeddingsInitializer,
    );
    // Keras: the token embedding's own variables (embeddings, then reverse_embeddings), then the position embedding's.
    this.parts = [
      {
        group: 'token_embedding',
        variables: this.reverseEmbeddings ? [this.tokenEmbeddings, this.reverseEmbeddings] : [this.tokenEmbeddings],
      },
      { group: 'position_embedding', variables: [this.positionEmbeddings] },
    ];
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [...shape, this.embeddingDim];
  }

  /** With maskZero, (B, T) with 1 = id != 0; else no mask. */
  override computeMask(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const ids = Array.isArray(inputs) ? inputs[0] : inputs;
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return (this.maskZero ? tf.tidy(() => tf.notEqual(ids, 0)) : null) as tf.Tensor;
  }

  /** `startIndex` (keras-hub's `start_index`): the position of the first id. Default 0. */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const ids = Array.isArray(inputs) ? inputs[0] : inputs;
    const start = startIndexOf(this.label, kwargs);
    if (ids.rank !== 2) {
      throw new Error(`${this.label}: token ids must have shape (B, T), got shape [${ids.shape.join(', ')}]`);
    }
    const [batch, length] = ids.shape;
    checkTokenIds(ids, this.vocabularySize, this.label);
    return tf.tidy(() => {
      // 1. Tokens: (B*T) ids -> (B*T, D) -> (B, T, D).
      const tokens = embeddingLookup(this.tokenEmbeddings!.read(), ids.reshape([batch * length]));
      // 2. Positions (T, D), broadcast over the batch.
      const positions = positionRows(this.positionEmbeddings!.read(), start, length, DEFAULT_HIERARCHICAL_ALPHA);
      return tokens.reshape([batch, length, this.embeddingDim]).add(positions);
    });
  }

  /** How `generate` runs this layer one new position at a time (see `IncrementalRole`). */
  incrementalRole(): IncrementalRole {
    return POSITIONED;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      vocabularySize: this.vocabularySize,
      sequenceLength: this.sequenceLength,
      embeddingDim: this.embeddingDim,
      tieWeights: this.tieWeights,
      embeddingsInitializer: serializeInitializer(this.embeddingsInitializer),
      maskZero: this.maskZero,
    };
  }
}
registerKerasHubClass(KerasHubTokenAndPositionEmbedding);
