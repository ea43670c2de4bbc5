/**
 * keras-hub's `PositionEmbedding` (keras_hub/src/layers/modeling/position_embedding.py).
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';
import { describeValue as describe } from '../../describe';
import {
  checkPositiveInt,
  type InitializerIdentifier,
  resolveInitializer,
  serializeInitializer,
  checkLayerArgNames,
  layerArgNames,
} from '../args';
import { type IncrementalRole, POSITIONED, startIndexOf } from '../incremental';
import { layerArgsWithName, registerKerasHubClass } from './parts';
import { checkRank, type Kwargs, type Shape } from '../shapes';

/** keras-hub's default `hierarchical_alpha`, also what its TokenAndPositionEmbedding uses. */
export const DEFAULT_HIERARCHICAL_ALPHA = 0.4;

/** The arguments of `KerasHubPositionEmbedding`: keras-hub's `PositionEmbedding`'s, in camelCase. */
export interface KerasHubPositionEmbeddingArgs extends LayerArgs {
  /** Longest sequence L the table covers. Required. */
  sequenceLength: number;
  /** Initializer of the [L, D] table. Default 'glorotUniform'. */
  initializer?: InitializerIdentifier;
  /** keras-hub's mixing weight for sequences longer than L (see the class comment). Default 0.4. */
  hierarchicalAlpha?: number;
}

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<KerasHubPositionEmbeddingArgs>({
  sequenceLength: true,
  initializer: true,
  hierarchicalAlpha: true,
});

/**
 * A learned position embedding (Devlin et al. 2019): returns the embeddings of positions 0..T-1,
 * (T, D) broadcast to its input's shape (B, T, D); only the input's shape is used, and the
 * output carries no mask. The sum with the token embeddings is the caller's (as in keras-hub).
 *
 * For T <= L the rows are the table's first T. For T > L, keras-hub's hierarchical extension:
 * with E = (P - alpha P[0]) / (1 - alpha), position t is `alpha E[t div L] + (1 - alpha) E[t mod L]`
 * (at T = L this is the table itself).
 *
 * Weights: embeddings [L, D] (Keras path `vars/0`).
 *
 * ```ts
 * const positions = new KerasHubPositionEmbedding({sequenceLength: 16});
 * const p = positions.apply(tf.zeros([2, 10, 8])) as tf.Tensor; // [2, 10, 8]
 * ```
 */
export class KerasHubPositionEmbedding extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'keras_hub>PositionEmbedding';

  readonly sequenceLength: number;
  readonly initializer: Initializer;
  readonly hierarchicalAlpha: number;
  embeddings: tf.LayerVariable | null = null;

  constructor(args: KerasHubPositionEmbeddingArgs) {
    super(layerArgsWithName(args, 'position_embedding'));
    checkLayerArgNames(this, KerasHubPositionEmbedding, args, ARG_NAMES);
    const name = this.label;
    if (args == null || typeof args !== 'object') {
      throw new Error(`${name}: expected an arguments object {sequenceLength, ...}, got ${args}`);
    }
    this.sequenceLength = checkPositiveInt(name, 'sequenceLength', args.sequenceLength);
    this.initializer = resolveInitializer(name, 'initializer', args.initializer, 'glorotUniform');
    const alpha = args.hierarchicalAlpha ?? DEFAULT_HIERARCHICAL_ALPHA;
    if (typeof alpha !== 'number' || !(alpha >= 0 && alpha < 1)) {
      throw new Error(`${name}: hierarchicalAlpha must be a number in [0, 1), got ${describe(alpha)}`);
    }
    this.hierarchicalAlpha = alpha;
  }

  private get label(): string {
    return `keras_hub PositionEmbedding '${this.name}'`;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    checkRank(this.label, 'inputs', shape, 3);
    this.embeddings = this.addWeight(
      'embeddings',
      [this.sequenceLength, shape[2] as number],
      'float32',
      this.initializer,
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
  }

  /** keras-hub's PositionEmbedding does not support masking: its output has no mask. */
  override computeMask(): tf.Tensor {
    return null as unknown as tf.Tensor;
  }

  /** `startIndex` (keras-hub's `start_index`): the position of the input's first row. Default 0. */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    checkRank(this.label, 'inputs', x.shape, 3);
    const start = startIndexOf(this.label, kwargs);
    return tf.tidy(() =>
      positionRows(this.embeddings!.read(), start, x.shape[1] as number, this.hierarchicalAlpha).broadcastTo(x.shape),
    );
  }

  /** How `generate` runs this layer one new position at a time (see `IncrementalRole`). */
  incrementalRole(): IncrementalRole {
    return POSITIONED;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      sequenceLength: this.sequenceLength,
      initializer: serializeInitializer(this.initializer),
      hierarchicalAlpha: this.hierarchicalAlpha,
    };
  }
}
registerKerasHubClass(KerasHubPositionEmbedding);

/**
 * The (T, D) position rows of a [L, D] table for positions start .. start + T - 1 (see the class
 * comment). Call inside a tidy.
 */
export function positionRows(table: tf.Tensor, start: number, length: number, alpha: number): tf.Tensor2D {
  const [rows, width] = table.shape as number[];
  if (start + length < rows) return table.slice([start, 0], [length, width]) as tf.Tensor2D;
  // E = (P - alpha P[0]) / (1 - alpha); row t = alpha E[t div L] + (1 - alpha) E[t mod L].
  const e = table.sub(table.slice([0, 0], [1, width]).mul(alpha)).div(1 - alpha);
  const positions = Array.from({ length }, (_v, t) => start + t);
  const high = tf.gather(
    e,
    tf.tensor1d(
      positions.map((t) => Math.floor(t / rows)),
      'int32',
    ),
  );
  const low = tf.gather(
    e,
    tf.tensor1d(
      positions.map((t) => t % rows),
      'int32',
    ),
  );
  return high.mul(alpha).add(low.mul(1 - alpha)) as tf.Tensor2D;
}
