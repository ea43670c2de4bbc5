/**
 * Writes new rows into a key/value cache in place, on the cpu and wasm backends: the cached
 * attention of incremental decoding (MultiHeadAttention's `cache`) keeps its keys and values in
 * one preallocated (B, S, W) tensor and each step adds T rows at `index`, so a step costs the
 * rows it writes, not a copy of the whole cache (what a concat or a scatter would cost).
 *
 * tfjs tensors are immutable, so the kernel treats its `cache` input as donated, as XLA's buffer
 * donation does: it writes into the cache's own storage and returns a tensor on that storage (as
 * tfjs's Identity and Reshape kernels share an input's storage). When anything else shares the
 * storage (a reshape or a clone of the cache: the backend's reference count is above 1) it copies
 * first, so no other tensor ever sees the write. The caller must not read the cache tensor it
 * passed in after the call; the returned one replaces it. Other backends get the same values from
 * tfjs ops (src/ops/attention_cache.ts), as a new tensor.
 */
import * as tf from '@tensorflow/tfjs';
import { FUSED_KERNEL_BACKENDS } from './fused_kernel';
import { writtenInPlace } from './simd_kernels';

const KERNEL = 'TfjsAttentionCacheUpdate';

/** Where the rows go, in elements (columns of the last axis) and positions. */
export interface CacheUpdateAttrs {
  /** The cache position of the update's first row. */
  index: number;
  /** The first column read from each update row. */
  sourceColumn: number;
  /** The first column written in each cache row. */
  targetColumn: number;
  /** How many columns are copied per row. */
  width: number;
}

/** What this file uses of the cpu and wasm backends. */
interface StorageBackend {
  refCount(dataId: tf.DataId): number;
  incRef(dataId: tf.DataId): void;
}
interface CpuStorage extends StorageBackend {
  data: { get(dataId: tf.DataId): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): tf.TensorInfo;
}
interface WasmStorage extends StorageBackend {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/**
 * Copies update (B, T, Wu) columns [sourceColumn, sourceColumn + width) into cache (B, S, Wc)
 * rows [index, index + T), columns [targetColumn, targetColumn + width).
 */
function writeRows(
  cache: Float32Array,
  cacheShape: number[],
  update: Float32Array,
  updateShape: number[],
  a: CacheUpdateAttrs,
) {
  const [batch, length, cacheWidth] = cacheShape;
  const [, rows, updateWidth] = updateShape;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < rows; t++) {
      const from = (b * rows + t) * updateWidth + a.sourceColumn;
      const to = (b * length + a.index + t) * cacheWidth + a.targetColumn;
      cache.set(update.subarray(from, from + a.width), to);
    }
  }
}

function kernelFunc(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { cache, update } = inputs as { cache: tf.TensorInfo; update: tf.TensorInfo };
    const a = attrs as unknown as CacheUpdateAttrs;
    const shared = (backend as unknown as StorageBackend).refCount(cache.dataId) > 1;
    if (backendName === 'wasm') {
      const wasm = backend as unknown as WasmStorage;
      // A copy when the storage is shared; allocated before any view is taken (it may grow the heap).
      const out = shared ? wasm.makeOutput(cache.shape, 'float32') : cache;
      if (shared) wasm.typedArrayFromHeap(out).set(wasm.typedArrayFromHeap(cache));
      else {
        wasm.incRef(cache.dataId);
        writtenInPlace(cache.dataId);
      }
      writeRows(wasm.typedArrayFromHeap(out), cache.shape, wasm.typedArrayFromHeap(update), update.shape, a);
      return { dataId: out.dataId, shape: cache.shape, dtype: 'float32' };
    }
    const cpu = backend as unknown as CpuStorage;
    const values = cpu.data.get(cache.dataId).values as Float32Array;
    const updateValues = cpu.data.get(update.dataId).values as Float32Array;
    if (shared) {
      const copy = values.slice();
      writeRows(copy, cache.shape, updateValues, update.shape, a);
      return cpu.makeTensorInfo(cache.shape, 'float32', copy);
    }
    cpu.incRef(cache.dataId);
    writtenInPlace(cache.dataId);
    writeRows(values, cache.shape, updateValues, update.shape, a);
    return { dataId: cache.dataId, shape: cache.shape, dtype: 'float32' };
  };
}

/**
 * Whether the current backend writes caches in place (cpu and wasm); registers the kernel there
 * on the first call, so importing the library registers nothing.
 */
export function hasCacheUpdateKernel(): boolean {
  const backendName = tf.getBackend();
  if (!(FUSED_KERNEL_BACKENDS as readonly string[]).includes(backendName)) return false;
  if (tf.getKernel(KERNEL, backendName) === undefined) {
    tf.registerKernel({ kernelName: KERNEL, backendName, kernelFunc: kernelFunc(backendName) });
  }
  return true;
}

/** The in-place update (check `hasCacheUpdateKernel` first); `cache` is donated. */
export function cacheUpdateInPlace(cache: tf.Tensor3D, update: tf.Tensor3D, attrs: CacheUpdateAttrs): tf.Tensor3D {
  return tf
    .engine()
    .runKernel(
      KERNEL,
      { cache, update } as unknown as tf.NamedTensorMap,
      attrs as unknown as tf.NamedAttrMap,
    ) as tf.Tensor3D;
}
