/**
 * The wasm kernels of src/kernels that replace tfjs-backend-wasm's own, called directly as tfjs
 * calls a kernel, with a stand-in for tfjs's kernel: the tests see what each does itself and what
 * it hands over.
 */
import * as tf from '@tensorflow/tfjs';

/** A stand-in for tfjs's own kernel: records that it was asked, answers the marker 'tfjs'. */
export const tfjsStandIn = () => jest.fn((() => 'tfjs') as unknown as tf.KernelFunc);

/** `kernel` run as tfjs runs one, on the backend in use (`initBackend('wasm')` first). */
export function callKernel(kernel: tf.KernelFunc, inputs: object, attrs: object = {}): tf.TensorInfo | tf.TensorInfo[] {
  return kernel({
    inputs: inputs as tf.NamedTensorInfoMap,
    attrs: attrs as tf.NamedAttrMap,
    backend: tf.backend(),
  });
}
