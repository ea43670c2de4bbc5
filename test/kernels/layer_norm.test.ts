/**
 * The fused layer norm (WebAssembly SIMD) against layer normalization written with plain tfjs
 * ops: output and the gradients of x, gamma and beta, on cpu and wasm; and `layerNormalize`,
 * which picks the fused kernel for widths that are multiples of 4 and tfjs ops otherwise.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedLayerNorm, hasFusedLayerNorm, layerNormGradients } from '../../src/kernels/layer_norm';
import { layerNormalize } from '../../src/ops/layer_norm';
import { describeEachBackend } from '../helpers/backends';
import { maxAbsDiff, seededTensor } from '../helpers/tensors';

const EPSILON = 1e-3;

function plainLayerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon = EPSILON): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).div(variance.add(epsilon).sqrt()).mul(gamma).add(beta);
}

/** Output and gradients of sum(f(x, gamma, beta) * weights) with respect to x, gamma, beta. */
function valueAndGradients(
  f: typeof plainLayerNorm,
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  weights: tf.Tensor,
): Float32Array[] {
  return tf.tidy(() => {
    const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => f(a, g, b).mul(weights).sum())([
      x,
      gamma,
      beta,
    ]);
    return [f(x, gamma, beta), ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

describeEachBackend('layer norm', () => {
  for (const { width, path } of [
    { width: 8, path: 'fused' },
    { width: 6, path: 'plain' },
  ]) {
    it(
      `layerNormalize over width ${width} [${path}] equals the plain version, ` +
        'forward and backward, without leaking',
      async () => {
        const before = tf.memory().numTensors;
        const x = tf.tidy(() => seededTensor([2, 5, width], 1, 3).add(0.5));
        const gamma = tf.tidy(() => seededTensor([width], 2).add(1));
        const beta = seededTensor([width], 3);
        const weights = seededTensor([2, 5, width], 4);
        let ours: Float32Array[] = [];
        const { kernelNames } = await tf.profile(() => {
          ours = valueAndGradients((a, g, b) => layerNormalize(a, g, b, EPSILON), x, gamma, beta, weights);
        });
        // The intended path ran, forward and backward.
        const fusedKernels = kernelNames.filter((name) => name.startsWith('TfjsAttentionLayerNorm'));
        expect(fusedKernels).toEqual(path === 'fused' ? ['TfjsAttentionLayerNorm', 'TfjsAttentionLayerNormGrad'] : []);
        const plain = valueAndGradients(plainLayerNorm, x, gamma, beta, weights);
        ours.forEach((values, i) => expect(maxAbsDiff(values, plain[i])).toBeLessThan(2e-5));
        // Not vacuous: the output is normalized (unit-ish scale) and every gradient is nonzero.
        expect(Math.max(...ours[0].map(Math.abs))).toBeGreaterThan(0.5);
        for (const grad of ours.slice(1)) expect(Math.max(...grad.map(Math.abs))).toBeGreaterThan(1e-3);
        const inference = tf.tidy(() => layerNormalize(x, gamma, beta, EPSILON).dataSync());
        expect(maxAbsDiff(inference, plain[0])).toBeLessThan(2e-5);
        tf.dispose([x, gamma, beta, weights]);
        expect(tf.memory().numTensors).toBe(before);
      },
    );
  }

  it("sums dGamma and dBeta part by part, each part's sums added in order (so no thread count changes them)", () => {
    // 1000 x 128 is 3 parts of the backward (a part per 2^15 elements), which inParallelRuns cuts
    // into shrinking runs (past one row each, 3/6, 2/6 and 1/6 of 997): rows [0, 499), [499, 832), [832, 1000).
    const [rows, D, bounds] = [1000, 128, [0, 499, 832, 1000]];
    const x = seededTensor([rows, D], 11, 2);
    const [gamma, beta] = [seededTensor([D], 12), seededTensor([D], 13)];
    const weights = seededTensor([rows, D], 14);
    const sums = (first: number, end: number) =>
      valueAndGradients(
        (a, g, b) => layerNormalize(a, g, b, EPSILON),
        x.slice(first, end - first),
        gamma,
        beta,
        weights.slice(first, end - first),
      ).slice(2);
    const whole = sums(0, rows);
    // Each part alone is one part: its sums are what the whole's part computed, then added in order.
    const parts = bounds.slice(1).map((end, p) => sums(bounds[p], end));
    for (const which of [0, 1]) {
      const expected = Float32Array.from({ length: D }, (_x, e) =>
        parts.reduce((sum, part) => sum + part[which][e], 0),
      );
      expect(whole[which].findIndex((value, e) => !Object.is(value, expected[e]))).toBe(-1);
    }
    // Every part's dx (each part reads its own rows' 1/std) against the plain version's.
    const dx = (f: typeof plainLayerNorm) => valueAndGradients(f, x, gamma, beta, weights)[1];
    expect(
      maxAbsDiff(
        dx((a, g, b) => layerNormalize(a, g, b, EPSILON)),
        dx(plainLayerNorm),
      ),
    ).toBeLessThan(2e-5);
    tf.dispose([x, gamma, beta, weights]);
  });

  it('one row of 2^18 (8 parts of the backward for 1 row): every gradient as the plain version', () => {
    const D = 1 << 18;
    const x = seededTensor([1, D], 21, 2);
    const [gamma, beta] = [seededTensor([D], 22), seededTensor([D], 23)];
    const weights = seededTensor([1, D], 24);
    const ours = valueAndGradients((a, g, b) => layerNormalize(a, g, b, EPSILON), x, gamma, beta, weights);
    const plain = valueAndGradients(plainLayerNorm, x, gamma, beta, weights);
    // Not vacuous: the row's gradients are nonzero.
    for (const grad of ours.slice(1)) expect(Math.max(...grad.slice(0, 1000).map(Math.abs))).toBeGreaterThan(1e-3);
    ours.forEach((values, i) => expect(maxAbsDiff(values, plain[i])).toBeLessThan(2e-4));
    tf.dispose([x, gamma, beta, weights]);
  });

  it('is fused for widths that are multiples of 4, and only those', () => {
    expect(hasFusedLayerNorm(64)).toBe(true);
    expect(hasFusedLayerNorm(6)).toBe(false);
  });

  it('fusedLayerNorm returns xHat and 1/std per row, and its gradients reduce gamma and beta over rows', () => {
    const x = tf.tensor2d([
      [1, 2, 3, 6],
      [0, 0, 4, 4],
    ]);
    const gamma = tf.tensor1d([1, 2, 1, 1]);
    const beta = tf.tensor1d([0, 0, 0, 1]);
    const { value, normalized, inverseStd } = fusedLayerNorm(x, gamma, beta, 0);
    // Row 0: mean 3, variance (4 + 1 + 0 + 9) / 4 = 3.5; row 1: mean 2, variance 4.
    const inv0 = 1 / Math.sqrt(3.5);
    expect(Array.from(inverseStd.dataSync())).toEqual([expect.closeTo(inv0, 6), expect.closeTo(0.5, 6)]);
    expect(Array.from(normalized.dataSync())).toEqual(
      [-2 * inv0, -inv0, 0, 3 * inv0, -1, -1, 1, 1].map((v) => expect.closeTo(v, 6)),
    );
    expect(Array.from(value.dataSync())).toEqual(
      [-2 * inv0, -2 * inv0, 0, 3 * inv0 + 1, -1, -2, 1, 2].map((v) => expect.closeTo(v, 6)),
    );
    const dy = tf.ones([2, 4]);
    const [dx, dGamma, dBeta] = layerNormGradients(dy, normalized, inverseStd, gamma);
    expect(Array.from(dBeta.dataSync())).toEqual([2, 2, 2, 2]);
    expect(Array.from(dGamma.dataSync())).toEqual(
      [-2 * inv0 - 1, -inv0 - 1, 1, 3 * inv0 + 1].map((v) => expect.closeTo(v, 6)),
    );
    expect(dx.shape).toEqual([2, 4]);
    // dx against tfjs's autodiff of the plain version (epsilon 0 too): not zero, as gamma is not uniform.
    const expectedDx = tf.tidy(() =>
      tf
        .grad((a: tf.Tensor) => plainLayerNorm(a, gamma, beta, 0).sum())(x)
        .dataSync(),
    );
    expect(Math.max(...expectedDx.map(Math.abs))).toBeGreaterThan(0.05);
    expect(maxAbsDiff(dx.dataSync(), expectedDx)).toBeLessThan(1e-6);
    tf.dispose([x, gamma, beta, value, normalized, inverseStd, dy, dx, dGamma, dBeta]);
  });
});
