/**
 * A Transpose for tfjs-backend-wasm that swaps the last two axes of float32 tensors in
 * WebAssembly SIMD's module (simd_kernels.ts's cache-blocked `transposeRows`).
 *
 * Why: tfjs-backend-wasm 4.22's Transpose takes about 18 ns an element (18 ms for 2048 x 512 on
 * the machine of models/BENCHMARKS.jsonl), and training transposes a lot: tfjs's gradients of
 * batched matmuls (attention's composite path) and of tfjs's own layers transpose their inputs,
 * and tfjs 4.22's XNNPACK path takes a transposed product only after a transpose (7.3 million
 * elements a gpt-char training step before matmul.ts read them in place). Other permutations and
 * dtypes stay with tfjs's kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapFloats, simdKernels, stage, unstage } from './simd_kernels';

/** Whether `perm` keeps every axis but swaps the last two. */
function swapsLastTwo(perm: number[]): boolean {
  const n = perm.length;
  return n >= 2 && perm.every((axis, i) => axis === (i < n - 2 ? i : 2 * n - 3 - i));
}

/** tfjs's wasm Transpose, `original`, with the last-two-axes swap of float32 done here. */
export function transposeLastTwoOnWasm(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { perm } = args.attrs as unknown as { perm: number[] };
    const kernels = simdKernels();
    const size = tf.util.sizeFromShape(x.shape);
    if (x.dtype !== 'float32' || !swapsLastTwo(perm) || kernels == null || size === 0) return original(args);
    const backend = args.backend as unknown as BackendWasm;
    const [rows, columns] = x.shape.slice(-2);
    const out = backend.makeOutput([...x.shape.slice(0, -2), columns, rows], 'float32');
    const [input, output] = [heapFloats(backend, x), heapFloats(backend, out)];
    const [from, to] = stage([input], [], [size]);
    for (let matrix = 0; matrix < size; matrix += rows * columns) {
      kernels.transposeRows(4 * (from + matrix), 4 * columns, 4 * (to + matrix), 4 * rows, rows, columns);
    }
    unstage([output], [to]);
    return out;
  };
}
