/**
 * src/ops/layer_norm.ts: layerNormalize against Ba et al.'s formula in float64 plain loops, and its
 * gradients (x, gamma, beta) against central differences of that formula; widths that take the
 * fused kernel on cpu and wasm (multiples of 4) and widths that take tfjs ops, on every path; two
 * epsilons in one process (each has its own differentiable function).
 */
import * as tf from '@tensorflow/tfjs';
import { layerNormalize } from '../../src/ops/layer_norm';
import { layerNorm } from '../helpers/block_reference';
import { describeEachPath, OPS_ONLY_BACKEND } from '../helpers/backends';
import { FUSED_LAYER_NORM, FUSED_LAYER_NORM_GRAD, runThenProfile } from '../helpers/kernel_paths';
import { maxAbsDiff } from '../helpers/tensors';
import { seededValues } from '../layers/attention_reference';

/** sum(layerNorm(x) * weights) in float64, x as (N, D) rows. */
function loss(x: number[][], gamma: number[], beta: number[], weights: number[][], epsilon: number): number {
  const y = layerNorm(x, { gamma, beta }, epsilon);
  return y.reduce((s, row, n) => s + row.reduce((t, v, d) => t + v * weights[n][d], 0), 0);
}

/** The gradient of `f` at `values` (each entry nudged by +-h), float64. */
function centralDifferences(values: number[], f: (values: number[]) => number, h = 1e-5): number[] {
  return values.map((_v, i) => {
    const at = (delta: number) => f(values.map((v, j) => (j === i ? v + delta : v)));
    return (at(h) - at(-h)) / (2 * h);
  });
}

const rowsOf = (values: number[], width: number) =>
  Array.from({ length: values.length / width }, (_r, r) => values.slice(r * width, (r + 1) * width));

describeEachPath('layerNormalize', (path) => {
  // (B, T, D) = (2, 3, D); epsilon large enough to matter (the variances are about 1).
  for (const { width, epsilon } of [
    { width: 8, epsilon: 0.25 },
    { width: 5, epsilon: 0.25 },
    { width: 4, epsilon: 1e-5 },
  ]) {
    const fused = path !== OPS_ONLY_BACKEND && width % 4 === 0;
    const here = fused ? 'the fused kernels' : 'tfjs ops';
    it(`width ${width}, epsilon ${epsilon} (${here}): values and gradients`, async () => {
      const shape = [2, 3, width];
      const count = 6 * width;
      const x = seededValues(count, width).map((v, i) => Math.fround(2 * v + (i % 3)));
      const gamma = seededValues(width, 2 * width).map((v) => Math.fround(v + 1));
      const beta = seededValues(width, 3 * width).map(Math.fround);
      const weights = seededValues(count, 4 * width).map(Math.fround);
      const [xt, gt, bt, wt] = [tf.tensor(x, shape), tf.tensor1d(gamma), tf.tensor1d(beta), tf.tensor(weights, shape)];
      const before = tf.memory().numTensors;
      const W = rowsOf(weights, width);
      const expected = layerNorm(rowsOf(x, width), { gamma, beta }, epsilon).flat();

      const forward = await runThenProfile(() => tf.tidy(() => layerNormalize(xt, gt, bt, epsilon)));
      expect(forward.result.shape).toEqual(shape);
      expect(maxAbsDiff(forward.result.dataSync(), expected)).toBeLessThan(2e-6);
      expect(forward.kernels.includes(FUSED_LAYER_NORM)).toBe(fused);

      const taped = await runThenProfile(() =>
        tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => layerNormalize(a, g, b, epsilon).mul(wt).sum())([
          xt,
          gt,
          bt,
        ]),
      );
      expect(taped.kernels.includes(FUSED_LAYER_NORM_GRAD)).toBe(fused);
      const [dx, dGamma, dBeta] = taped.result.map((t) => t.dataSync());
      const f = (xs: number[], g: number[], b: number[]) => loss(rowsOf(xs, width), g, b, W, epsilon);
      expect(
        maxAbsDiff(
          dx,
          centralDifferences(x, (xs) => f(xs, gamma, beta)),
        ),
      ).toBeLessThan(1e-5);
      expect(
        maxAbsDiff(
          dGamma,
          centralDifferences(gamma, (g) => f(x, g, beta)),
        ),
      ).toBeLessThan(1e-5);
      expect(
        maxAbsDiff(
          dBeta,
          centralDifferences(beta, (b) => f(x, gamma, b)),
        ),
      ).toBeLessThan(1e-5);
      tf.dispose([forward.result, ...taped.result]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([xt, gt, bt, wt]);
    });
  }

  if (path !== OPS_ONLY_BACKEND) {
    it('without a tape the fused path keeps only its value (its other outputs freed at once, not at the tidy)', () => {
      const [x, gamma, beta] = [tf.tidy(() => tf.ones([3, 4]).mul(tf.range(0, 4))), tf.ones([4]), tf.zeros([4])];
      const before = tf.memory().numTensors;
      const y = layerNormalize(x, gamma, beta, 1e-5);
      expect(tf.memory().numTensors).toBe(before + 1);
      const centred = [-1.5, -0.5, 0.5, 1.5];
      expect(
        maxAbsDiff(
          y.dataSync(),
          [0, 1, 2].flatMap(() => centred.map((v) => v / Math.sqrt(1.25 + 1e-5))),
        ),
      ).toBeLessThan(1e-6);
      tf.dispose([x, gamma, beta, y]);
    });
  }
});
