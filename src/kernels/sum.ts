/**
 * A Sum for tfjs-backend-wasm over the leading axes of a float32 tensor: the column sums of its
 * (N, E) rows, E the size of the axes it keeps. A dense layer's bias gradient is such a sum (its
 * output's gradient summed over every axis but the last), in every `tf.layers.dense` that trains.
 *
 * Why: tfjs-backend-wasm 4.22 sums over axes other than the last by first transposing them to the
 * end (with its own Transpose, not the kernel registry's, so transpose.ts does not reach it), then
 * summing rows. On the machine of the note with this change: (2048, 65) summed over its first axis
 * took 0.95 ms against 0.05 ms over its last, (2048, 512) 8.5 ms against 0.5. Here it is one pass
 * of the SIMD product (simd_kernels.ts's `axpyRows`) with a left operand of ones. Each column is
 * summed row after row in float32, as tfjs sums a row. Other axes and dtypes stay with tfjs.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapFloats, simdKernels, stage, unstage, wholeVectors } from './simd_kernels';

/** How many leading axes `axis` names (0, 1, ... in any order), or 0 when it names others too. */
export function leadingAxes(axis: number | number[], shape: number[]): number {
  const axes = tf.util.parseAxisParam(axis, shape);
  const sorted = [...new Set(axes)].sort((a, b) => a - b);
  return sorted.length === axes.length && sorted.every((a, i) => a === i) ? sorted.length : 0;
}

/** tfjs's wasm Sum, `original`, with sums over some leading axes (not all) of float32 done here. */
export function sumLeadingOnWasm(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const kernels = simdKernels();
    const size = tf.util.sizeFromShape(x.shape);
    const leading = x.shape.length > 0 ? leadingAxes(axis, x.shape) : 0;
    if (x.dtype !== 'float32' || leading === 0 || leading === x.shape.length || kernels == null) {
      return original(args);
    }
    const backend = args.backend as unknown as BackendWasm;
    const outShape = keepDims ? x.shape.map((n, i) => (i < leading ? 1 : n)) : x.shape.slice(leading);
    const out = backend.makeOutput(outShape, 'float32');
    if (size === 0) {
      // Sums of no rows are 0 (tfjs 4.22's kernel leaves them as the heap held them).
      (backend.typedArrayFromHeap(out) as Float32Array).fill(0);
      return out;
    }
    const N = tf.util.sizeFromShape(x.shape.slice(0, leading));
    const E = size / N;
    const [input, output] = [heapFloats(backend, x), heapFloats(backend, out)];
    // Scratch: a 1 (the left operand, every column of it: a column stride of 0), and the sums, E
    // rounded up to whole vectors: a row of x is read as E4 floats, the last one up to 3 floats
    // past x's end, into the staged memory after it; the columns past E are not copied out.
    const E4 = wholeVectors(E);
    const [from, one, sums] = stage([input], [], [1, E4]);
    kernels.floats[one] = 1;
    kernels.axpyRows(4 * one, 0, 0, 4 * from, 4 * E, 4 * sums, 4 * E4, 1, N, 4 * E4, 1, 0);
    unstage([output], [sums]);
    return out;
  };
}
