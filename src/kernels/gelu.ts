/**
 * Exact GELU, x Phi(x), and its gradient as one kernel each on the cpu and wasm backends, in
 * WebAssembly SIMD (simd_kernels.ts's `geluForward` and `geluBackward`, with tfjs's own erf
 * approximation).
 *
 * The composite, x * (erf(x / sqrt 2) + 1) * 0.5, runs four kernels forward and about ten for its
 * gradient, and tfjs-backend-wasm 4.22's Erf alone takes about 24 ns an element (24 ms for the
 * (2048, 512) feed-forward activation of the gpt-char benchmark, per layer and step).
 */
import * as tf from '@tensorflow/tfjs';
import { defineFusedKernel, hasFusedKernel, runFusedKernel } from './fused_kernel';
import { simdKernels } from './simd_kernels';
import { elementwise } from './threads';

const FORWARD = 'TfjsAttentionGelu';
const BACKWARD = 'TfjsAttentionGeluGrad';

defineFusedKernel<Record<string, never>>({
  kernelName: FORWARD,
  outputShapes: ({ x }) => [x],
  compute: ({ x }, [y]) => elementwise([x], y, (calls, [xAt, yAt], bytes) => calls.geluForward(xAt, yAt, bytes)),
});

defineFusedKernel<Record<string, never>>({
  kernelName: BACKWARD,
  outputShapes: ({ x }) => [x],
  compute: ({ x, dy }, [dx]) =>
    elementwise([x, dy], dx, (calls, [xAt, dyAt, dxAt], bytes) => calls.geluBackward(xAt, dyAt, dxAt, bytes)),
});

/** Whether the fused GELU runs: on the cpu and wasm backends, where WebAssembly SIMD is available. */
export function hasFusedGelu(): boolean {
  return hasFusedKernel(FORWARD) && simdKernels() != null;
}

/** Exact GELU of x in one kernel (check `hasFusedGelu`), differentiable. Call inside a tidy. */
export function fusedGelu(x: tf.Tensor): tf.Tensor {
  if (!tf.engine().isTapeOn()) return runFusedKernel(FORWARD, { x }, {})[0];
  const withGradient = tf.customGrad(((input: tf.Tensor, save: tf.GradSaveFunc) => {
    save([input]);
    return {
      value: runFusedKernel(FORWARD, { x: input }, {})[0],
      gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => runFusedKernel(BACKWARD, { x: saved, dy }, {})[0],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;
  return withGradient(x);
}
