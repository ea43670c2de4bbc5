/**
 * Layer normalization over the last axis (Ba et al. 2016) as one kernel forward and one backward
 * on the cpu and wasm backends, running in WebAssembly SIMD (simd_kernels.ts).
 *
 * The composite forward runs eight tfjs kernels (mean, subtract, square, mean, add, rsqrt,
 * multiply, multiply-add) and its gradient about fifteen; on a 832 x 64 activation each costs
 * more in tfjs's per-kernel bookkeeping than in arithmetic (0.67 ms forward and backward, against
 * 0.1 ms fused).
 *
 * Shapes: x (..., D) is read as N = size / D rows of D.
 */
import * as tf from '@tensorflow/tfjs';
import { hasFusedKernel, defineFusedKernel, runFusedKernel } from './fused_kernel';
import { simdKernels, stage, unstage } from './simd_kernels';
import { inParallelRuns, partsFor } from './threads';

/** Elements below which a part of layer normalization is not worth handing to another thread. */
const MIN_PART_ELEMENTS = 1 << 15;

/** The backward's parts at most: its sums over rows are split this way on any number of threads. */
const BACKWARD_PARTS = 8;

const FORWARD = 'TfjsAttentionLayerNorm';
const BACKWARD = 'TfjsAttentionLayerNormGrad';

interface LayerNormAttrs {
  epsilon: number;
}

const lastDim = (shape: number[]) => shape[shape.length - 1];

function layerNormForward(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  epsilon: number,
  outputs: Float32Array[],
): void {
  const [y, xHat, inverseStd] = outputs;
  const D = gamma.length;
  const starts = stage([x, gamma, beta], [], [y, xHat, inverseStd]);
  const [xAt, gammaAt, betaAt, yAt, xHatAt, invAt] = starts.map((start) => 4 * start);
  const rows = inverseStd.length;
  inParallelRuns(rows, partsFor(rows, Math.ceil(MIN_PART_ELEMENTS / D)), (calls, first, end) => {
    const at = 4 * D * first;
    calls.layerNormRows(
      xAt + at,
      gammaAt,
      betaAt,
      yAt + at,
      xHatAt + at,
      invAt + 4 * first,
      end - first,
      4 * D,
      D,
      epsilon,
    );
  });
  unstage(outputs, starts.slice(3));
}

function layerNormBackward(
  dy: Float32Array,
  xHat: Float32Array,
  inverseStd: Float32Array,
  gamma: Float32Array,
  outputs: Float32Array[],
): void {
  const [dx, dGamma, dBeta] = outputs;
  const D = gamma.length;
  const rows = inverseStd.length;
  // Each part's dGamma and dBeta accumulate over its rows, then are summed over the parts in
  // order. The parts do not depend on the thread count, so neither do the floats. dx is written whole.
  const parts = Math.max(1, Math.min(BACKWARD_PARTS, Math.floor((rows * D) / MIN_PART_ELEMENTS)));
  const starts = stage([dy, xHat, inverseStd, gamma], [parts * D, parts * D], [dx]);
  const [dyAt, xHatAt, invAt, gammaAt, dGammaAt, dBetaAt, dxAt] = starts.map((start) => 4 * start);
  inParallelRuns(rows, parts, (calls, first, end, p) => {
    const at = 4 * D * first;
    const [dGammaOfPart, dBetaOfPart] = [dGammaAt + 4 * D * p, dBetaAt + 4 * D * p];
    calls.layerNormRowsBackward(
      dyAt + at,
      xHatAt + at,
      invAt + 4 * first,
      gammaAt,
      dxAt + at,
      dGammaOfPart,
      dBetaOfPart,
      end - first,
      4 * D,
      D,
    );
  });
  const floats = simdKernels()!.floats;
  const [gammaParts, betaParts] = [starts[4], starts[5]];
  for (let e = 0; e < D; e++) {
    let [sumGamma, sumBeta] = [0, 0];
    for (let p = 0; p < parts; p++) {
      sumGamma += floats[gammaParts + p * D + e];
      sumBeta += floats[betaParts + p * D + e];
    }
    [dGamma[e], dBeta[e]] = [sumGamma, sumBeta];
  }
  unstage([dx], [starts[6]]);
}

defineFusedKernel<LayerNormAttrs>({
  kernelName: FORWARD,
  // y and xHat shaped as x; inverseStd one per row.
  outputShapes: ({ x }) => [x, x, [tf.util.sizeFromShape(x) / lastDim(x)]],
  compute: ({ x, gamma, beta }, outputs, { epsilon }) => layerNormForward(x, gamma, beta, epsilon, outputs),
});

defineFusedKernel<Record<string, never>>({
  kernelName: BACKWARD,
  outputShapes: ({ dy, gamma }) => [dy, gamma, gamma],
  compute: ({ dy, xHat, inverseStd, gamma }, outputs) => layerNormBackward(dy, xHat, inverseStd, gamma, outputs),
});

/**
 * Whether the fused layer norm runs: on the cpu and wasm backends, where WebAssembly SIMD is
 * available, for widths D that are multiples of 4 (whole SIMD vectors).
 */
export function hasFusedLayerNorm(width: number): boolean {
  return width % 4 === 0 && hasFusedKernel(FORWARD) && simdKernels() != null;
}

/**
 * Layer normalization of x (..., D) with gamma and beta (D): the output, xHat (shaped as x) and
 * 1/sqrt(var + epsilon) (one per row), float32. Not differentiable by itself: see
 * `layerNormGradients`. Needs `hasFusedLayerNorm()`.
 */
export function fusedLayerNorm(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): { value: tf.Tensor; normalized: tf.Tensor; inverseStd: tf.Tensor1D } {
  const [value, normalized, inverseStd] = runFusedKernel(FORWARD, { x, gamma, beta }, { epsilon });
  return { value, normalized, inverseStd: inverseStd as tf.Tensor1D };
}

/** The gradients of x, gamma and beta from dy and the forward's xHat and inverseStd. */
export function layerNormGradients(
  dy: tf.Tensor,
  normalized: tf.Tensor,
  inverseStd: tf.Tensor,
  gamma: tf.Tensor,
): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] {
  const [dx, dGamma, dBeta] = runFusedKernel(BACKWARD, { dy, xHat: normalized, inverseStd, gamma }, {});
  return [dx, dGamma as tf.Tensor1D, dBeta as tf.Tensor1D];
}
