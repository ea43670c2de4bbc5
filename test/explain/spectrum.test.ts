/**
 * The OV spectrum (src/explain/spectrum.ts): Jacobi singular values of a product against products
 * built from known singular values, rank-deficient ones, and, for a MultiHeadAttention, the
 * Frobenius norm and the spectral norm (power iteration) of W_V^h W_O^h formed with tfjs; the
 * effective rank's fixed points.
 */
import * as tf from '@tensorflow/tfjs';
import { effectiveRank, ovSpectra, productSingularValues } from '../../src/explain/spectrum';
import { MultiHeadAttention } from '../../src/layers/multi_head_attention';
import { seededValues } from '../layers/attention_reference';
import { seededTensor } from '../helpers/tensors';

/** An (m, k) matrix with orthonormal columns (Gram-Schmidt of seeded values), row-major. */
function orthonormalColumns(m: number, k: number, seed: number): number[] {
  const values = seededValues(m * k, seed);
  const columns: number[][] = [];
  for (let j = 0; j < k; j++) {
    const c = Array.from({ length: m }, (_x, i) => values[i * k + j]);
    for (const q of columns) {
      const d = c.reduce((s, v, i) => s + v * q[i], 0);
      c.forEach((_v, i) => (c[i] -= d * q[i]));
    }
    const n = Math.hypot(...c);
    columns.push(c.map((v) => v / n));
  }
  return Array.from({ length: m * k }, (_x, at) => columns[at % k][Math.floor(at / k)]);
}

/** a = U diag(s) (m, k), b = W^T (k, n): a b has singular values s. */
function productWithSingularValues(s: number[], m: number, n: number, seed: number) {
  const k = s.length;
  const u = orthonormalColumns(m, k, seed);
  const w = orthonormalColumns(n, k, seed + 1);
  const a = u.map((v, at) => v * s[at % k]);
  const b = Array.from({ length: k * n }, (_x, at) => w[(at % n) * k + Math.floor(at / n)]);
  return { a, b, k };
}

describe('productSingularValues', () => {
  it('gives back the singular values a product was built from, largest first, to 1e-12', () => {
    const s = [3, 1e-3, 0.5, 2, 0.5, 1e-7];
    const { a, b, k } = productWithSingularValues(s, 20, 9, 4);
    const got = productSingularValues(a, b, 20, k, 9);
    const want = [...s].sort((x, y) => y - x);
    got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-12));
  });

  it('rank-deficient factors: zero singular values, and no more values than the smallest size', () => {
    // a has a zero column and b repeated rows: their product has rank 2, not 4; an all-zero one none.
    const a = [1, 0, 2, 0, 0, 1, 0, 0, 3, 0, 1, 0];
    const b = [1, 2, 1, 2, 0, 1, 0, 1];
    const got = productSingularValues(a, b, 3, 4, 2);
    expect(got).toHaveLength(2);
    // a b by hand: [[1, 4], [1, 2], [3, 7]]; its singular values from the 2x2 Gram matrix [[p, q], [q, r]].
    const [p, q, r] = [1 + 1 + 9, 4 + 2 + 21, 16 + 4 + 49];
    const mean = (p + r) / 2;
    const spread = Math.sqrt(((p - r) / 2) ** 2 + q * q);
    expect(got[0]).toBeCloseTo(Math.sqrt(mean + spread), 10);
    expect(got[1]).toBeCloseTo(Math.sqrt(mean - spread), 10);
    expect(productSingularValues([0, 0, 0, 0], [1, 1], 2, 2, 1)).toEqual([0]);
    expect(() => productSingularValues([1, 2, 3], [1], 2, 2, 1)).toThrow(
      'a must hold 2x2 and b 2x1 numbers, got 3 and 1',
    );
  });
});

describe('effectiveRank', () => {
  it('is k for k equal values, 1 for one nonzero value, 0 for none, and in between otherwise', () => {
    expect(effectiveRank([2, 2, 2, 2])).toBeCloseTo(4, 12);
    expect(effectiveRank([5, 0, 0])).toBeCloseTo(1, 12);
    expect(effectiveRank([0, 0])).toBe(0);
    const r = effectiveRank([4, 2, 1, 1]);
    // p = [1/2, 1/4, 1/8, 1/8]: entropy 1.75 bits.
    expect(r).toBeCloseTo(Math.exp(1.75 * Math.LN2), 12);
  });
});

describe('ovSpectra', () => {
  it("each head's singular values are those of W_V^h W_O^h formed with tfjs (Frobenius and spectral norms)", () => {
    const layer = new MultiHeadAttention({ numHeads: 3, keyDim: 4, valueDim: 5, outputDim: 7, name: 'mha' });
    const x = seededTensor([1, 3, 6], 2);
    tf.dispose(layer.apply(x) as tf.Tensor);
    layer.setWeights(layer.getWeights().map((w, i) => seededTensor(w.shape, 30 + i)));
    const spectra = ovSpectra(layer);
    expect(spectra).toHaveLength(3);
    for (let h = 0; h < 3; h++) {
      const ov = tf.tidy(() => {
        const wv = layer.valueDense!.kernel!.read().slice([0, h, 0], [6, 1, 5]).reshape([6, 5]);
        const wo = layer.outputDense!.kernel!.read().slice([h, 0, 0], [1, 5, 7]).reshape([5, 7]);
        return tf.matMul(wv, wo).arraySync() as number[][];
      });
      const { singularValues, effectiveRank: rank } = spectra[h];
      expect(singularValues).toHaveLength(5);
      const frobenius = ov.flat().reduce((s, v) => s + v * v, 0);
      expect(singularValues.reduce((s, v) => s + v * v, 0) / frobenius).toBeCloseTo(1, 5);
      // The spectral norm by power iteration on ov^T ov.
      let v = Array.from({ length: 7 }, (_x, i) => 1 + i / 7);
      let norm = 0;
      for (let it = 0; it < 500; it++) {
        const u = ov.map((row) => row.reduce((s, a, j) => s + a * v[j], 0));
        const next = Array.from({ length: 7 }, (_x, j) => ov.reduce((s, row, i) => s + row[j] * u[i], 0));
        norm = Math.sqrt(Math.hypot(...next));
        v = next.map((e) => e / Math.hypot(...next));
      }
      expect(singularValues[0] / norm).toBeCloseTo(1, 5);
      expect(rank).toBeGreaterThan(1);
      expect(rank).toBeLessThanOrEqual(5);
    }
    layer.dispose();
    x.dispose();
  });

  it('refuses a layer that is not built', () => {
    expect(() => ovSpectra(new MultiHeadAttention({ numHeads: 2, keyDim: 4, name: 'fresh' }))).toThrow(
      "ovSpectra: MultiHeadAttention 'fresh' is not built; apply it once first",
    );
  });
});
