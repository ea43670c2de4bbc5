/**
 * The wasm backend's matrix products as `initBackend` installs them (src/kernels/matmul.ts)
 * against the cpu backend's: every transpose combination, widths that are not whole SIMD vectors,
 * more columns than one panel, more rows of the right operand than one block, rows not a multiple
 * of the 4-row tile, _FusedMatMul's bias and relu, and the products left to tfjs (batched, other
 * activations); no tensor left behind.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { matMulInto } from '../../src/kernels/matmul';
import { maxAbsDiff } from '../helpers/tensors';

const values = (size: number, seed: number) => Array.from({ length: size }, (_v, i) => Math.sin(seed + i * 0.37));

/** Runs `fn` on a backend and returns its output's values, checking that nothing leaked. */
async function on(backend: 'cpu' | 'wasm', fn: () => tf.Tensor): Promise<Float32Array> {
  await initBackend(backend, { quiet: true });
  const before = tf.memory().numTensors;
  const out = tf.tidy(fn);
  const data = out.dataSync() as Float32Array;
  out.dispose();
  expect(tf.memory().numTensors).toBe(before);
  return data;
}

describe('matrix products on wasm (SIMD) against cpu', () => {
  const cases: Array<{ M: number; K: number; N: number; tA: boolean; tB: boolean }> = [
    { M: 13, K: 16, N: 13, tA: false, tB: false }, // N not whole vectors, M not whole tiles
    { M: 9, K: 7, N: 300, tA: true, tB: false }, // more columns than a panel of 256
    { M: 5, K: 11, N: 6, tA: false, tB: true },
    { M: 6, K: 5, N: 8, tA: true, tB: true },
    { M: 64, K: 64, N: 192, tA: false, tB: false },
    { M: 37, K: 600, N: 21, tA: true, tB: false }, // K over two blocks of 256 rows, and a part
    { M: 10, K: 300, N: 5, tA: false, tB: true },
  ];
  for (const { M, K, N, tA, tB } of cases) {
    it(`${M}x${K} by ${K}x${N}${tA ? ', A transposed' : ''}${tB ? ', B transposed' : ''}`, async () => {
      const a = () => tf.tensor2d(values(M * K, 1), tA ? [K, M] : [M, K]);
      const b = () => tf.tensor2d(values(K * N, 2), tB ? [N, K] : [K, N]);
      const bias = () => tf.tensor1d(values(N, 3));
      const plain = () => tf.matMul(a(), b(), tA, tB);
      const fused = () =>
        tf.fused.matMul({ a: a(), b: b(), transposeA: tA, transposeB: tB, bias: bias(), activation: 'relu' });
      for (const product of [plain, fused]) {
        const expected = await on('cpu', product);
        const actual = await on('wasm', product);
        expect(actual.length).toBe(M * N);
        // float32's rounding, relative to the largest value (sums of up to 600 products).
        const largest = expected.reduce((max, v) => Math.max(max, Math.abs(v)), 1);
        expect(maxAbsDiff(actual, expected)).toBeLessThan(1e-5 * largest);
      }
      // relu left zeros and positives: both present, so the check above compared real values.
      const relu = await on('wasm', fused);
      expect(relu.some((v) => v === 0) && relu.some((v) => v > 0.1)).toBe(true);
    });
  }

  it('leaves batched products and other activations to tfjs, with the same values', async () => {
    const batched = () =>
      tf.matMul(tf.tensor3d(values(2 * 3 * 4, 4), [2, 3, 4]), tf.tensor3d(values(2 * 4 * 5, 5), [2, 4, 5]));
    const elu = () =>
      tf.fused.matMul({
        a: tf.tensor2d(values(12, 6), [3, 4]),
        b: tf.tensor2d(values(20, 7), [4, 5]),
        activation: 'elu',
      });
    for (const product of [batched, elu]) {
      expect(maxAbsDiff(await on('wasm', product), await on('cpu', product))).toBeLessThan(1e-5);
    }
  });

  it('matMulInto: a hand-computed product with bias', () => {
    const out = new Float32Array(4);
    // [[1, 2], [3, 4]] x [[5, 6], [7, 8]] + [1, -100] = [[20, -78], [44, -50]], then relu.
    const args = { M: 2, K: 2, N: 2, transposeA: false, transposeB: false };
    const a = Float32Array.from([1, 2, 3, 4]);
    const b = Float32Array.from([5, 6, 7, 8]);
    matMulInto({ ...args, a, b, bias: Float32Array.from([1, -100]), activation: 'linear' }, out);
    expect(Array.from(out)).toEqual([20, -78, 44, -50]);
    matMulInto({ ...args, a, b, bias: Float32Array.from([1, -100]), activation: 'relu' }, out);
    expect(Array.from(out)).toEqual([20, 0, 44, 0]);
  });
});
