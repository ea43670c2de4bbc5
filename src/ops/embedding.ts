/**
 * Embedding lookup: rows of a table by id, written so that its gradient trains on every backend,
 * and the check of the ids before it. Out-of-range ids would silently embed as zeros (the one-hot
 * product, and tfjs's gather on GPU backends), so they are an error.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * Vocabularies up to this size are embedded by a one-hot matmul: its gradient is a plain matmul
 * (fast on wasm; tfjs 4.22's wasm `gather` has no gradient kernel, UnsortedSegmentSum), where the
 * gradient of `gather` is a scatter. Larger ones use `gather`.
 */
export const ONE_HOT_MAX_VOCABULARY = 512;

/**
 * Rows `table[id]` for ids (N) of a [V, D] table: (N, D). Under a gradient tape small
 * vocabularies go through the one-hot product; otherwise (inference, generation's steps) a gather,
 * one kernel. Call inside a tidy.
 */
export function embeddingLookup(table: tf.Tensor, flatIds: tf.Tensor): tf.Tensor2D {
  const vocabulary = table.shape[0] as number;
  const ids = flatIds.dtype === 'int32' ? flatIds : flatIds.cast('int32');
  const oneHot = vocabulary <= ONE_HOT_MAX_VOCABULARY && tf.engine().isTapeOn();
  return (
    oneHot
      ? tf.matMul(tf.oneHot(ids as tf.Tensor1D, vocabulary).cast('float32'), table as tf.Tensor2D)
      : tf.gather(table, ids)
  ) as tf.Tensor2D;
}

/** Backends whose tensors live in host memory, where `dataSync` is a view rather than a GPU readback. */
const HOST_MEMORY_BACKENDS: readonly string[] = ['cpu', 'wasm', 'tensorflow'];

/**
 * Throws unless every id in `ids` is an integer in [0, vocabularySize). `where` starts the message
 * (e.g. the layer's name). On GPU backends (webgl, webgpu) reading the ids would stall the pipeline
 * on every call, so there the check is skipped: the one place that decides it by backend.
 */
export function checkTokenIds(ids: tf.Tensor, vocabularySize: number, where: string): void {
  if (!HOST_MEMORY_BACKENDS.includes(tf.getBackend())) return;
  const values = ids.dataSync();
  for (let i = 0; i < values.length; i++) {
    const id = values[i];
    if (!(id >= 0 && id < vocabularySize && Number.isInteger(id))) {
      throw new Error(
        `${where}: token id ${id} at position ${i} is outside [0, ${vocabularySize - 1}] ` +
          `(vocabularySize ${vocabularySize})`,
      );
    }
  }
}
