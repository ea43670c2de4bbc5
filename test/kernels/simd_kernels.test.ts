/**
 * The WebAssembly SIMD small products against plain loops, with strides wider than the rows,
 * a transposed A, alpha and accumulation: every address computation is exercised.
 */
import { simdKernels } from '../../src/kernels/simd_kernels';
import { seededValues } from '../layers/attention_reference';

const mm = simdKernels()!;

/** Fills the module's first `count` floats with seeded values and returns a copy of them. */
function seedMemory(count: number, seed: number): Float32Array {
  mm.reserve(count);
  mm.floats.set(seededValues(count, seed));
  return mm.floats.slice(0, count);
}

/** One `axpyRows` call, with addresses, strides and width in floats (the kernel takes bytes). */
interface AxpyCase {
  a: number;
  aRow: number;
  aCol: number;
  b: number;
  bRow: number;
  c: number;
  cRow: number;
  m: number;
  n: number;
  width: number;
  alpha: number;
  accumulate: 0 | 1;
}

/**
 * Runs `axpyRows` on memory that held `before` and checks every float of C's m rows of cRow
 * against plain loops: the first `width` columns get alpha * sum_j A(i, j) B[j, e] (added to the
 * old value when accumulating), the rest are untouched.
 */
function expectAxpyRows(before: Float32Array, k: AxpyCase): void {
  mm.axpyRows(
    4 * k.a,
    4 * k.aRow,
    4 * k.aCol,
    4 * k.b,
    4 * k.bRow,
    4 * k.c,
    4 * k.cRow,
    k.m,
    k.n,
    4 * k.width,
    k.alpha,
    k.accumulate,
  );
  for (let i = 0; i < k.m; i++) {
    for (let e = 0; e < k.cRow; e++) {
      const old = before[k.c + i * k.cRow + e];
      let expected = old;
      if (e < k.width) {
        let sum = 0;
        for (let j = 0; j < k.n; j++) sum += before[k.a + i * k.aRow + j * k.aCol] * before[k.b + j * k.bRow + e];
        expected = (k.accumulate ? old : 0) + k.alpha * sum;
      }
      expect(mm.floats[k.c + i * k.cRow + e]).toBeCloseTo(expected, 5);
    }
  }
}

describe('simdKernels (WebAssembly SIMD)', () => {
  it('compiles here: Node 20 has WebAssembly SIMD', () => {
    expect(simdKernels()).not.toBeNull();
  });

  it('dotRows: C(i, j) = alpha * A[i, :] . B[j, :] with row strides wider than the rows', () => {
    // A: 5 rows of 8 floats at float 0, stride 12; B: 7 rows at float 100, stride 10; C at 400, stride 9.
    const before = seedMemory(1000, 1);
    mm.dotRows(0, 4 * 12, 4 * 100, 4 * 10, 4 * 400, 4 * 9, 5, 7, 4 * 8, 0.5);
    const f = mm.floats;
    for (let i = 0; i < 5; i++) {
      for (let j = 0; j < 9; j++) {
        let expected = before[400 + i * 9 + j]; // columns 7 and 8 of C's rows are not written
        if (j < 7) {
          let dot = 0;
          for (let e = 0; e < 8; e++) dot += before[i * 12 + e] * before[100 + j * 10 + e];
          expected = 0.5 * dot;
        }
        expect(f[400 + i * 9 + j]).toBeCloseTo(expected, 5);
      }
    }
  });

  it('axpyRows: C[i, :] = alpha * sum_j A(i, j) B[j, :] (+ C) with A read transposed', () => {
    // A(i, j) at float i + 10 j (a 5 x 7 matrix stored column by column), B: 7 rows of 8 at float
    // 200, stride 12; C: 5 rows at float 500, stride 12, accumulated.
    const before = seedMemory(1000, 2);
    expectAxpyRows(before, {
      a: 0,
      aRow: 1,
      aCol: 10,
      b: 200,
      bRow: 12,
      c: 500,
      cRow: 12,
      m: 5,
      n: 7,
      width: 8,
      alpha: 2,
      accumulate: 1,
    });
    // Without accumulation the old C is overwritten.
    mm.axpyRows(0, 4, 4 * 10, 4 * 200, 4 * 12, 4 * 500, 4 * 12, 1, 1, 4 * 4, 1, 0);
    for (let e = 0; e < 4; e++) expect(mm.floats[500 + e]).toBeCloseTo(before[0] * before[200 + e], 6);
  });

  it('axpyRows over 20 columns: a block of four vectors, then one more, leaving the rest of C alone', () => {
    // A: 3 x 5 row-major at float 0; B: 5 rows of 20 at float 100, stride 24; C: 3 rows at 400, stride 24.
    const before = seedMemory(1000, 4);
    expectAxpyRows(before, {
      a: 0,
      aRow: 5,
      aCol: 1,
      b: 100,
      bRow: 24,
      c: 400,
      cRow: 24,
      m: 3,
      n: 5,
      width: 20,
      alpha: 0.5,
      accumulate: 1,
    });
  });

  it('expInPlace: e^x within 1e-6 relative over [-80, 0], exactly 0 for masked scores', () => {
    const xs = Float32Array.from({ length: 1600 }, (_x, i) => -i / 20);
    const masked = Float32Array.from([-1e9, -1e9 + 3, -88, -1e30]);
    mm.reserve(xs.length + masked.length);
    mm.floats.set(xs);
    mm.floats.set(masked, xs.length);
    mm.expInPlace(0, 4 * (xs.length + masked.length));
    let worst = 0;
    xs.forEach((x, i) => (worst = Math.max(worst, Math.abs(mm.floats[i] / Math.exp(x) - 1))));
    expect(worst).toBeLessThan(1e-6);
    expect(worst).toBeGreaterThan(0); // a float32 approximation, not a copy of Math.exp
    expect(Array.from(mm.floats.slice(xs.length, xs.length + 4))).toEqual([0, 0, 0, 0]);
    expect(mm.floats[0]).toBe(1);
  });

  it('divideRowsBySum divides each row by its own sum', () => {
    mm.reserve(8);
    mm.floats.set([1, 3, 4, 2, 2, 6]);
    mm.divideRowsBySum(0, 2, 3);
    expect(Array.from(mm.floats.slice(0, 6))).toEqual([0.125, 0.375, 0.5, 0.2, 0.2, 0.6].map((v) => Math.fround(v)));
  });

  it('reserve grows the memory and keeps its contents', () => {
    seedMemory(10, 3);
    const first = mm.floats.slice(0, 10);
    mm.reserve(mm.floats.length + 1);
    expect(mm.floats.length).toBeGreaterThan(first.length);
    expect(Array.from(mm.floats.slice(0, 10))).toEqual(Array.from(first));
  });
});
