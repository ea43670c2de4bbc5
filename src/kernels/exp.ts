/**
 * An Exp for tfjs-backend-wasm over float32 tensors in WebAssembly SIMD (simd_kernels.ts's
 * `expForward`, within 1 ulp of e^x correctly rounded), on the kernel threads.
 *
 * Why: tfjs-backend-wasm 4.22's Exp calls the C library's expf one element at a time, about 6 ns
 * an element on the machine of the note with this change (0.8 ms for gpt-char's (2048, 65)
 * logits). Every softmax cross-entropy runs it over the logits, forward and backward
 * (`tf.losses.softmaxCrossEntropy`, `tf.logSoftmax`), so a language model's loss runs it over
 * batch x length x vocabulary elements. Other dtypes stay with tfjs's kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapFloats, simdKernels } from './simd_kernels';
import { elementwise } from './threads';

/** tfjs's wasm Exp, `original`, with float32 done here. */
export function expOnWasm(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const size = tf.util.sizeFromShape(x.shape);
    if (x.dtype !== 'float32' || simdKernels() == null || size === 0) return original(args);
    const backend = args.backend as unknown as BackendWasm;
    const out = backend.makeOutput(x.shape, 'float32');
    elementwise([heapFloats(backend, x)], heapFloats(backend, out), (calls, [xAt, yAt], bytes) =>
      calls.expForward(xAt, yAt, bytes),
    );
    return out;
  };
}
