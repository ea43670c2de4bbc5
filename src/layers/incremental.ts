/**
 * How a layer takes part in incremental decoding, where a model runs one new position at a time
 * (src/decode/runner.ts): the protocol a layer implements to say so, and the layers of ours that
 * implement it. A layer of a user's own that implements `incrementalRole` is run the same way.
 *
 * Three roles:
 * - position-wise: the output at a position depends only on the input at that position (Dense,
 *   layer norms, activations, projections): it runs on the new positions alone;
 * - positioned: position-wise, but the output depends on where the position is (position
 *   embeddings): it runs on the new positions with the first one's index, `startIndexArgument`;
 * - cached: it mixes positions through attention whose keys and values it keeps in caches
 *   (MultiHeadAttention's `cache`): `slots` says which call arguments take the caches, which
 *   attention layer each belongs to and which inputs become its keys and values. With caches the
 *   call returns its outputs and then the updated caches, in slot order.
 */
import type * as tf from '@tensorflow/tfjs';

/** What a cache slot needs of its attention layer (MultiHeadAttention: not imported, it imports this file). */
export interface CachingAttention {
  readonly name: string;
  /** Whether query t attends only to keys s <= t: what lets a cache grow one position at a time. */
  readonly causal: boolean;
  /** An empty cache (B, maxLength, W). */
  createCache(batch: number, maxLength: number): tf.Tensor3D;
}

/** One key/value cache of a layer's call. */
export interface CacheSlot {
  /** The call argument that takes the cache, e.g. 'cache' or 'selfAttentionCache'. */
  cacheArgument: string;
  /** The call argument that takes its update index (null: a static cache). */
  indexArgument: string;
  /** The attention layer the cache belongs to. */
  attention: CachingAttention;
  /** The call's inputs whose positions become the cached keys and values. */
  keyValueInputs: number[];
}

/**
 * How `generate` runs a layer one new position at a time: position-wise (on the new position
 * alone), positioned (also told where the position is, through the call argument named), or
 * cached (attention over the positions so far, with the key/value caches of `slots`).
 */
export type IncrementalRole =
  | { kind: 'position-wise' }
  | { kind: 'positioned'; startIndexArgument: string }
  | { kind: 'cached'; slots: CacheSlot[] };

/** A layer that says how it runs incrementally. */
export interface IncrementalLayer {
  /**
   * The role of a call with `inputCount` inputs; null when the layer, as built, cannot run one new
   * position at a time (`generate` then refuses it by name).
   */
  incrementalRole(inputCount: number): IncrementalRole | null;
}

export function isIncrementalLayer(layer: unknown): layer is IncrementalLayer {
  return typeof (layer as Partial<IncrementalLayer>)?.incrementalRole === 'function';
}

/** The role of the position-wise layers of ours. */
export const POSITION_WISE: IncrementalRole = Object.freeze({ kind: 'position-wise' });

/** The role of the position layers of ours: position-wise, told the first position's index. */
export const POSITIONED: IncrementalRole = Object.freeze({ kind: 'positioned', startIndexArgument: 'startIndex' });

/**
 * The `startIndex` call argument of a position layer (keras-hub's `start_index`): the position
 * of the input's first row, default 0; checked to be a non-negative integer.
 */
export function startIndexOf(layer: string, kwargs: { startIndex?: unknown }): number {
  const start = kwargs.startIndex ?? 0;
  if (typeof start !== 'number' || !Number.isInteger(start) || start < 0) {
    throw new Error(`${layer}: startIndex must be a non-negative integer, got ${JSON.stringify(start)}`);
  }
  return start;
}
