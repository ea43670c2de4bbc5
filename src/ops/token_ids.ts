/**
 * Checking token ids before an embedding lookup. Out-of-range ids would silently embed as zeros
 * (the one-hot product, and tfjs's gather on GPU backends), so they are an error.
 */
import * as tf from '@tensorflow/tfjs';

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
