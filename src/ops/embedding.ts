/**
 * Embedding lookup: rows of a table by id, written so that its gradient trains on every backend.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * Vocabularies up to this size are embedded by a one-hot matmul: its gradient is a plain matmul
 * (fast on wasm; tfjs 4.22's wasm `gather` has no gradient kernel, UnsortedSegmentSum), where the
 * gradient of `gather` is a scatter. Larger ones use `gather`.
 */
export const ONE_HOT_MAX_VOCABULARY = 512;

/** Rows `table[id]` for ids (N) of a [V, D] table: (N, D). Call inside a tidy. */
export function embeddingLookup(table: tf.Tensor, flatIds: tf.Tensor): tf.Tensor2D {
  const vocabulary = table.shape[0] as number;
  return (
    vocabulary <= ONE_HOT_MAX_VOCABULARY
      ? tf.matMul(tf.oneHot(flatIds.cast('int32') as tf.Tensor1D, vocabulary).cast('float32'), table as tf.Tensor2D)
      : tf.gather(table, flatIds.cast('int32'))
  ) as tf.Tensor2D;
}
