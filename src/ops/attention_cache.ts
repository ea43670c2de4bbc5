/**
 * The key/value cache of incremental decoding: one (B, S, W) tensor per attention layer, each row
 * a position's keys then values as the projections write them (W = H*K + H*V), preallocated for
 * the longest sequence and filled row by row. `updateCache` is the one place that writes it: in
 * place on cpu and wasm (src/kernels/cache_update.ts: the given cache is donated), as a new
 * tensor from tfjs ops elsewhere.
 */
import * as tf from '@tensorflow/tfjs';
import { type CacheUpdateAttrs, cacheUpdateInPlace, hasCacheUpdateKernel } from '../kernels/cache_update';

export type { CacheUpdateAttrs };

/**
 * cache (B, S, Wc) with update (B, T, Wu) columns [sourceColumn, sourceColumn + width) written at
 * rows [index, index + T), columns [targetColumn, targetColumn + width). `cache` is donated: read
 * only the returned tensor afterwards. Call inside a tidy.
 */
export function updateCache(cache: tf.Tensor3D, update: tf.Tensor3D, attrs: CacheUpdateAttrs): tf.Tensor3D {
  const [batch, length, cacheWidth] = cache.shape;
  const rows = update.shape[1];
  const { index, sourceColumn, targetColumn, width } = attrs;
  if (index < 0 || index + rows > length) {
    throw new Error(
      `updateCache: rows [${index}, ${index + rows}) do not fit in a cache of ${length} positions ` +
        `(cache shape [${cache.shape}])`,
    );
  }
  if (update.shape[0] !== batch || sourceColumn + width > update.shape[2] || targetColumn + width > cacheWidth) {
    throw new Error(
      `updateCache: columns [${sourceColumn}, ${sourceColumn + width}) of an update [${update.shape}] do not ` +
        `fit columns [${targetColumn}, ${targetColumn + width}) of a cache [${cache.shape}]`,
    );
  }
  if (hasCacheUpdateKernel() && cache.dtype === 'float32' && update.dtype === 'float32') {
    return cacheUpdateInPlace(cache, update, attrs);
  }
  return updateCacheWithOps(cache, update, attrs);
}

/**
 * `updateCache` in tfjs ops, as a new tensor (the given cache is left as it is): what runs where
 * the in-place kernel cannot, and what its tests hold the kernel to. Call inside a tidy.
 */
export function updateCacheWithOps(cache: tf.Tensor3D, update: tf.Tensor3D, attrs: CacheUpdateAttrs): tf.Tensor3D {
  const [batch, length, cacheWidth] = cache.shape;
  const rows = update.shape[1];
  const { index, sourceColumn, targetColumn, width } = attrs;
  // The new rows (B, T, Wc): old columns around the new ones, then between the old rows.
  const columns = (from: number, to: number) => cache.slice([0, index, from], [batch, rows, to - from]);
  const newRows = tf.concat(
    [
      ...(targetColumn > 0 ? [columns(0, targetColumn)] : []),
      update.slice([0, 0, sourceColumn], [batch, rows, width]),
      ...(targetColumn + width < cacheWidth ? [columns(targetColumn + width, cacheWidth)] : []),
    ],
    2,
  );
  const before = index > 0 ? [cache.slice([0, 0, 0], [batch, index, cacheWidth])] : [];
  const after =
    index + rows < length ? [cache.slice([0, index + rows, 0], [batch, length - index - rows, cacheWidth])] : [];
  return tf.concat([...before, newRows, ...after], 1) as tf.Tensor3D;
}
