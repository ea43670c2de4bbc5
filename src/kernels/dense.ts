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
 * The weights are kept in the module's memory from one call to the next while they are unchanged
 * (simd_kernels.ts's `kept`), W as it is for the forward and W^T for the backward: a call copies in
 * only its activations. Several layers' kernels side by side (attention's query, key and value
 * projections of one input) run as one product on their joined kernel, kept joined, and the
 * backward writes each kernel's and bias's gradient from its own columns: no concat of the weights
 * and no split of the gradient per call (on B1 T128 D256 these were 0.4 ms of a 5.8 ms forward and
 * backward).
 *
 * Shapes: x (N, D), W (D, E), b (E), with D and E whole SIMD vectors (multiples of 4); side by side,
 * W_p (D, E_p) and b_p (E_p) with every E_p whole vectors and E their sum. The tensors may have
 * other shapes with the same floats, and their gradients keep them: x (..., D) gives y (..., E), a
 * kernel (D, H, K) is read as (D, H*K), a bias as its E_p floats. A layer then reshapes neither its
 * input, nor its weights, nor its output (under a gradient tape a reshape is three tfjs kernels:
 * the reshape, the clone that autodiff saves, and the reshape back).
 */
import * as tf from '@tensorflow/tfjs';
import { defineFusedKernel, hasFusedKernel, runFusedKernel } from './fused_kernel';
import {
  type EpilogueActivation,
  inRowBlocks,
  joinColumns,
  keptColumns,
  matMulInto,
  productRows,
  transposedRows,
} from './matmul';
import { kept, simdKernels, stage, unstage } from './simd_kernels';

const FORWARD = 'TfjsAttentionDense';
const BACKWARD = 'TfjsAttentionDenseGrad';

/** The activations of the fused dense layer, the product's epilogue's; 'gelu' is exact GELU (gelu.ts). */
export type DenseActivation = EpilogueActivation;

interface DenseAttrs {
  activation: DenseActivation;
  /** Forward: also return x W + b, GELU's input (its gradient needs it). */
  withPreActivation: boolean;
  /** How many kernels (and biases) side by side: inputs kernel0, bias0, kernel1, bias1, ... */
  parts: number;
  /** How many of x's last dimensions, and of each kernel's first, are D (`fusedDense`'s `inner`). */
  inner: number;
  /** Backward: each bias's shape, the shape its gradient is given (none without biases). */
  biasShapes?: number[][];
}

/** The inputs `name`0, `name`1, ... of a kernel of `parts` parts (none where absent). */
const partsOf = (inputs: Record<string, Float32Array>, name: string, parts: number) =>
  Array.from({ length: parts }, (_x, p) => inputs[`${name}${p}`]).filter((part) => part !== undefined);

/** A kernel's width E_p: its dimensions after the `inner` first, (D, H, K) being (D, H*K). */
const widthOf = (kernelShape: number[], inner: number) => tf.util.sizeFromShape(kernelShape.slice(inner));

/** Every part's width E_p, from the input shapes. */
const widthsOf = (shapes: Record<string, number[]>, { parts, inner }: DenseAttrs) =>
  Array.from({ length: parts }, (_x, p) => widthOf(shapes[`kernel${p}`], inner));

/** x (..., D), its last `inner` dimensions making D, as (N, D) rows. */
function rowsOf(xShape: number[], inner: number): [number, number] {
  const D = tf.util.sizeFromShape(xShape.slice(xShape.length - inner));
  return [tf.util.sizeFromShape(xShape) / D, D];
}

const sum = (values: number[]) => values.reduce((total, v) => total + v, 0);

defineFusedKernel<DenseAttrs>({
  kernelName: FORWARD,
  outputShapes: (shapes, attrs) => {
    const y = [...shapes.x.slice(0, shapes.x.length - attrs.inner), sum(widthsOf(shapes, attrs))];
    return attrs.activation === 'gelu' && attrs.withPreActivation ? [y, y] : [y];
  },
  compute: (inputs, [y, preActivation], attrs, shapes) => {
    const { activation, parts } = attrs;
    const [[N, D], E] = [rowsOf(shapes.x, attrs.inner), sum(widthsOf(shapes, attrs))];
    const [kernels, biases] = [partsOf(inputs, 'kernel', parts), partsOf(inputs, 'bias', parts)];
    const args = { M: N, K: D, N: E, transposeA: false, transposeB: false, activation, keepWeights: true };
    matMulInto({ ...args, a: inputs.x, b: kernels, bias: biases }, y, preActivation);
  },
});

/**
 * The backward: dy (N, E), x (N, D), the kernels W_p (D, E_p) side by side as W (D, E) and, through
 * GELU, the forward's x W + b (`through`), through relu its output; gives dx (N, D), each dW_p
 * (D, E_p) and each db_p (E_p), copied out of their columns of dW and db.
 */
function denseBackward(
  inputs: Record<string, Float32Array>,
  outputs: Float32Array[],
  attrs: DenseAttrs,
  shapes: Record<string, number[]>,
): void {
  const { activation, parts } = attrs;
  const mm = simdKernels()!;
  const { dy, x, through } = inputs;
  const kernels = partsOf(inputs, 'kernel', parts);
  const [dx, dKernels, dBiases] = [outputs[0], outputs.slice(1, 1 + parts), outputs.slice(1 + parts)];
  const [[N, D], widths] = [rowsOf(shapes.x, attrs.inner), widthsOf(shapes, attrs)];
  const E = sum(widths);
  const offsets = widths.map((_w, p) => sum(widths.slice(0, p)));
  const linear = activation === 'linear';
  const withBias = dBiases.length > 0;
  // The kernel and its transpose W^T (E, D) kept from one call to the next where they can be
  // (the forward kept the kernel), else joined in scratch and transposed here.
  const keptKernel = keptColumns(kernels, D);
  const transpose = (from: number, to: number) => mm.transposeRows(4 * from, 4 * E, 4 * to, 4 * D, D, E);
  const keptKernelT =
    keptKernel === null ? null : kept(kernels, `transposed (${D}, ${E})`, E * D, (at) => transpose(keptKernel, at));
  // Scratch: g (unless linear: dy itself), W^T unless kept, x^T (D, N), a row of N ones for the bias
  // sum (with biases), dx, dW, db (with biases), W unless kept, and the dW_p one after another
  // (several kernels).
  const staged = [dy, x, ...(linear ? [] : [through])];
  const starts = stage(
    staged,
    [],
    [
      linear ? 0 : N * E,
      keptKernelT === null ? E * D : 0,
      D * N,
      withBias ? N : 0,
      // dx, dW and db, each its output as it is when there is one kernel (in place: `stage`).
      dx,
      parts === 1 ? dKernels[0] : D * E,
      withBias ? (parts === 1 ? dBiases[0] : E) : 0,
      keptKernel === null ? D * E : 0,
      parts > 1 ? D * E : 0,
    ],
  );
  const [dyAt, xAt] = starts;
  const throughAt = linear ? 0 : starts[2];
  const [gAt, scratchTAt, xTAt, onesAt, dxAt, dKernelAt, dBiasAt, joinedAt, splitAt] = starts.slice(starts.length - 9);
  if (keptKernel === null) joinColumns(kernels, D, joinedAt);
  const kernelAt = keptKernel ?? joinedAt;
  const g = linear ? dyAt : gAt;
  const kernelTAt = keptKernelT ?? scratchTAt;
  if (keptKernelT === null) transpose(kernelAt, kernelTAt);
  if (withBias) mm.floats.fill(1, onesAt, onesAt + N);
  // Rows of g, then the same rows of dx = g W^T.
  inRowBlocks(N, E * D, (calls, r0, rows) => {
    const [from, bytes] = [4 * r0 * E, 4 * rows * E];
    if (activation === 'gelu') calls.geluBackward(4 * throughAt + from, 4 * dyAt + from, 4 * gAt + from, bytes);
    if (activation === 'relu') calls.reluBackward(4 * throughAt + from, 4 * dyAt + from, 4 * gAt + from, bytes);
    productRows(calls, { left: g, right: kernelTAt, out: dxAt, K: E, N4: D }, r0, rows);
  });
  // Rows of dW = x^T g, and with the first rows db = ones(1, N) g: one product for every kernel
  // (a product per kernel would make several times the kernel calls).
  inRowBlocks(D, N * E, (calls, r0, rows) => {
    transposedRows(calls, xAt, [N, D], xTAt, r0, rows);
    productRows(calls, { left: xTAt, right: g, out: dKernelAt, K: N, N4: E }, r0, rows);
    if (r0 === 0 && withBias) productRows(calls, { left: onesAt, right: g, out: dBiasAt, K: N, N4: E }, 0, 1);
  });
  // Each kernel's gradient, its columns of dW, as (D, E_p) rows; each bias's, its part of db.
  const dKernelStarts = offsets.map((offset, p) => {
    if (parts === 1) return dKernelAt;
    mm.copyRows(4 * (dKernelAt + offset), 4 * E, 4 * (splitAt + D * offset), 4 * widths[p], D, widths[p], widths[p]);
    return splitAt + D * offset;
  });
  unstage([dx, ...dKernels, ...dBiases], [dxAt, ...dKernelStarts, ...offsets.map((offset) => dBiasAt + offset)]);
}

defineFusedKernel<DenseAttrs>({
  kernelName: BACKWARD,
  outputShapes: (shapes, { parts, biasShapes = [] }) => [
    shapes.x,
    ...Array.from({ length: parts }, (_x, p) => shapes[`kernel${p}`]),
    ...biasShapes,
  ],
  compute: (inputs, outputs, attrs, shapes) => denseBackward(inputs, outputs, attrs, shapes),
});

/**
 * Whether `fusedDense` runs for x (..., D), a kernel (D, ...) of E columns and a bias of E values
 * (or none), or kernels (D, ...) of E_p columns side by side with a bias each (or none); D is x's
 * last `inner` dimensions and each kernel's first `inner`. On the cpu and wasm backends, where
 * WebAssembly SIMD is available, for float32 and D and every E_p multiples of 4.
 */
export function hasFusedDense(
  x: tf.Tensor,
  kernel: tf.Tensor | tf.Tensor[],
  bias: tf.Tensor | tf.Tensor[] | null,
  inner = 1,
): boolean {
  const kernels = [kernel].flat();
  const biases = bias === null ? null : [bias].flat();
  const dShape = x.shape.slice(x.rank - inner);
  const D = tf.util.sizeFromShape(dShape);
  const widths = kernels.map((k) => widthOf(k.shape, inner));
  return (
    x.rank > inner &&
    kernels.every(
      (k, p) => k.rank > inner && tf.util.arraysEqual(k.shape.slice(0, inner), dShape) && widths[p] % 4 === 0,
    ) &&
    (biases === null || (biases.length === kernels.length && biases.every((b, p) => b.size === widths[p]))) &&
    [x, ...kernels, ...(biases ?? [])].every((t) => t.dtype === 'float32') &&
    D % 4 === 0 &&
    hasFusedKernel(FORWARD) &&
    simdKernels() != null
  );
}

/**
 * activation(x W + b) for x (N, D), kernel W (D, E) and bias b (E values, any shape) or null, in
 * one kernel (check `hasFusedDense`); differentiable in all three, in one kernel. Several kernels
 * (D, E_p), with a bias each or none, give their products side by side, (N, sum of E_p), as one
 * product with the kernels joined, without joining them in a tensor: the kernel keeps its joined
 * copy while they are unchanged, and the gradient gives each kernel's and bias's own. Call inside
 * a tidy.
 *
 * Other shapes are read as these, without a reshape: x (..., D) gives (..., E), and a kernel
 * (D, H, K) is (D, H*K). With `inner` 2, D is x's last two dimensions and each kernel's first two:
 * x (B, T, H, V) by a kernel (H, V, E) is (B*T, H*V) by (H*V, E), giving (B, T, E). Every gradient
 * has its input's shape.
 */
export function fusedDense(
  x: tf.Tensor,
  kernel: tf.Tensor | tf.Tensor[],
  bias: tf.Tensor | tf.Tensor[] | null,
  activation: DenseActivation,
  inner = 1,
): tf.Tensor {
  const kernels = [kernel].flat();
  const biases = bias === null ? [] : [bias].flat();
  const parts = kernels.length;
  const named = (name: string, values: tf.Tensor[]) => Object.fromEntries(values.map((v, p) => [`${name}${p}`, v]));
  // The inputs from [x, ...kernels, ...biases].
  const inputs = (values: tf.Tensor[]) => ({
    x: values[0],
    ...named('kernel', values.slice(1, 1 + parts)),
    ...named('bias', values.slice(1 + parts)),
  });
  if (!tf.engine().isTapeOn()) {
    const attrs: DenseAttrs = { activation, withPreActivation: false, parts, inner };
    return runFusedKernel(FORWARD, inputs([x, ...kernels, ...biases]), attrs)[0];
  }
  const withGradient = tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const values = args as tf.Tensor[];
    const forward: DenseAttrs = { activation, withPreActivation: true, parts, inner };
    const [y, preActivation] = runFusedKernel(FORWARD, inputs(values), forward);
    // What the gradient goes through: GELU's input, relu's output.
    const through = activation === 'gelu' ? [preActivation] : activation === 'relu' ? [y] : [];
    save([...values.slice(0, 1 + parts), ...through]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedX, savedKernels, savedThrough] = [saved[0], saved.slice(1, 1 + parts), saved[1 + parts]];
        const backward: DenseAttrs = { ...forward, withPreActivation: false, biasShapes: biases.map((b) => b.shape) };
        // Every gradient comes out in its input's shape, a bias's included.
        return runFusedKernel(
          BACKWARD,
          { dy, x: savedX, ...named('kernel', savedKernels), ...(savedThrough ? { through: savedThrough } : {}) },
          backward,
        );
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...xs: tf.Tensor[]) => tf.Tensor;
  return withGradient(x, ...kernels, ...biases);
}
