/**
 * A dense layer, activation(x W + b), as one kernel forward and one backward on the cpu and wasm
 * backends, in WebAssembly SIMD on the kernel threads (matmul.ts's products).
 *
 * The backward gets the three gradients from one staging of its inputs: the gradient through the
 * activation g = dy act'(.), dx = g W^T, dW = x^T g and db = the column sums of g. Composed of
 * tfjs ops it is two matrix products and a bias sum (a third product) that each copy g into the
 * SIMD module's memory again, and for GELU a kernel each way that copies the feed-forward's widest
 * activation in and out once more.
 *
 * Shapes: x (N, D), W (D, E), b (E), with D and E whole SIMD vectors (multiples of 4).
 */
import * as tf from '@tensorflow/tfjs';
import { defineFusedKernel, hasFusedKernel, runFusedKernel } from './fused_kernel';
import { type EpilogueActivation, inRowBlocks, matMulInto, productRows, transposedRows } from './matmul';
import { simdKernels, stage, unstage } from './simd_kernels';

const FORWARD = 'TfjsAttentionDense';
const BACKWARD = 'TfjsAttentionDenseGrad';

/** The activations of the fused dense layer, the product's epilogue's; 'gelu' is exact GELU (gelu.ts). */
export type DenseActivation = EpilogueActivation;

interface DenseAttrs {
  activation: DenseActivation;
  /** Forward: also return x W + b, GELU's input (its gradient needs it). */
  withPreActivation: boolean;
}

defineFusedKernel<DenseAttrs>({
  kernelName: FORWARD,
  outputShapes: ({ x, kernel }, { activation, withPreActivation }) => {
    const y = [x[0], kernel[1]];
    return activation === 'gelu' && withPreActivation ? [y, y] : [y];
  },
  compute: ({ x, kernel, bias }, [y, preActivation], { activation }, shapes) => {
    const [[N, D], E] = [shapes.x, shapes.kernel[1]];
    const args = { M: N, K: D, N: E, transposeA: false, transposeB: false, activation };
    matMulInto({ ...args, a: x, b: kernel, bias: bias ?? null }, y, preActivation);
  },
});

/**
 * The backward: dy (N, E), x (N, D), W (D, E) and, through GELU, the forward's x W + b
 * (`through`), through relu its output; gives dx (N, D), dW (D, E), db (E).
 */
function denseBackward(
  { dy, x, kernel, through }: Record<string, Float32Array>,
  [dx, dKernel, dBias]: Float32Array[],
  activation: DenseActivation,
  [N, D, E]: [number, number, number],
): void {
  const mm = simdKernels()!;
  const linear = activation === 'linear';
  // Scratch: g (unless linear: dy itself), W^T (E, D), x^T (D, N), a row of N ones for the bias sum.
  const starts = stage(
    linear ? [dy, x, kernel] : [dy, x, kernel, through],
    [],
    [linear ? 0 : N * E, E * D, D * N, N, N * D, D * E, E],
  );
  const [dyAt, xAt, kernelAt, throughAt] = starts;
  const [gAt, kernelTAt, xTAt, onesAt, dxAt, dKernelAt, dBiasAt] = starts.slice(starts.length - 7);
  const g = linear ? dyAt : gAt;
  mm.transposeRows(4 * kernelAt, 4 * E, 4 * kernelTAt, 4 * D, D, E);
  mm.floats.fill(1, onesAt, onesAt + N);
  // Rows of g, then the same rows of dx = g W^T.
  inRowBlocks(N, E * D, (calls, r0, rows) => {
    const [from, bytes] = [4 * r0 * E, 4 * rows * E];
    if (activation === 'gelu') calls.geluBackward(4 * throughAt + from, 4 * dyAt + from, 4 * gAt + from, bytes);
    if (activation === 'relu') calls.reluBackward(4 * throughAt + from, 4 * dyAt + from, 4 * gAt + from, bytes);
    productRows(calls, { left: g, right: kernelTAt, out: dxAt, K: E, N4: D }, r0, rows);
  });
  // Rows of dW = x^T g, and with the first rows db = ones(1, N) g.
  inRowBlocks(D, N * E, (calls, r0, rows) => {
    transposedRows(calls, xAt, [N, D], xTAt, r0, rows);
    productRows(calls, { left: xTAt, right: g, out: dKernelAt, K: N, N4: E }, r0, rows);
    if (r0 === 0) productRows(calls, { left: onesAt, right: g, out: dBiasAt, K: N, N4: E }, 0, 1);
  });
  unstage([dx, dKernel, dBias], [dxAt, dKernelAt, dBiasAt]);
}

defineFusedKernel<DenseAttrs>({
  kernelName: BACKWARD,
  outputShapes: ({ x, kernel }) => [x, kernel, [kernel[1]]],
  compute: (inputs, outputs, { activation }, shapes) =>
    denseBackward(inputs, outputs, activation, [shapes.x[0], shapes.x[1], shapes.kernel[1]]),
});

/**
 * Whether `fusedDense` runs for x (N, D), a kernel (D, E) and a bias of E values (or none): on the
 * cpu and wasm backends, where WebAssembly SIMD is available, for float32 and D and E multiples of 4.
 */
export function hasFusedDense(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | null): boolean {
  const [D, E] = kernel.shape;
  return (
    x.rank === 2 &&
    kernel.rank === 2 &&
    x.shape[1] === D &&
    [x, kernel, ...(bias ? [bias] : [])].every((t) => t.dtype === 'float32') &&
    (bias == null || bias.size === E) &&
    D % 4 === 0 &&
    E % 4 === 0 &&
    hasFusedKernel(FORWARD) &&
    simdKernels() != null
  );
}

/**
 * activation(x W + b) for x (N, D), kernel W (D, E) and bias b (E values, any shape) or null, in
 * one kernel (check `hasFusedDense`); differentiable in all three, in one kernel. Call inside a tidy.
 */
export function fusedDense(
  x: tf.Tensor,
  kernel: tf.Tensor,
  bias: tf.Tensor | null,
  activation: DenseActivation,
): tf.Tensor2D {
  const inputs = (values: tf.Tensor[]) => ({ x: values[0], kernel: values[1], ...(bias ? { bias: values[2] } : {}) });
  if (!tf.engine().isTapeOn()) {
    const attrs: DenseAttrs = { activation, withPreActivation: false };
    return runFusedKernel(FORWARD, inputs([x, kernel, ...(bias ? [bias] : [])]), attrs)[0] as tf.Tensor2D;
  }
  const withGradient = tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const values = args as tf.Tensor[];
    const attrs: DenseAttrs = { activation, withPreActivation: true };
    const [y, preActivation] = runFusedKernel(FORWARD, inputs(values), attrs);
    // What the gradient goes through: GELU's input, relu's output.
    const through = activation === 'gelu' ? [preActivation] : activation === 'relu' ? [y] : [];
    save([values[0], values[1], ...through]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, [savedX, savedKernel, savedThrough]: tf.Tensor[]) => {
        const grads = runFusedKernel(
          BACKWARD,
          { dy, x: savedX, kernel: savedKernel, ...(savedThrough ? { through: savedThrough } : {}) },
          { activation, withPreActivation: false },
        );
        if (!bias) return grads.slice(0, 2);
        // The bias may be stored with another shape (a reshape keeps the storage): its gradient takes it.
        return [grads[0], grads[1], grads[2].reshape(bias.shape)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...xs: tf.Tensor[]) => tf.Tensor2D;
  return withGradient(x, kernel, ...(bias ? [bias] : []));
}
