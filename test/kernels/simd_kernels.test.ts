/**
 * The WebAssembly SIMD kernels against plain loops: the small products with strides wider than
 * the rows, a transposed A, alpha, accumulation and every tile shape; the softmax's rows with
 * their padding and statistics, its recomputation and gradient; the mask's bias. Run once with
 * each arithmetic (jest.config.js's projects), which the first tests check.
 */
import { existsSync, readFileSync } from 'fs';
import {
  ADAM_PARAMETERS,
  allocateResident,
  freeResident,
  identify,
  KERNEL_FUNCTIONS,
  kept,
  keptCopyCount,
  productRowBlock,
  relaxedSimdKernels,
  setKeptRingFloats,
  simdKernels,
  simdModule,
  stage,
  unstage,
  writtenInPlace,
} from '../../src/kernels/simd_kernels';
import { assembleModule, defineFunction, f32x4, get, i32 } from '../../src/kernels/wasm_assembler';
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
 * old value when accumulating), the rest are untouched, and so is the row after the m rows.
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
  // C's m rows, and the row after them untouched.
  for (let i = 0; i <= k.m; i++) {
    for (let e = 0; e < k.cRow; e++) {
      const old = before[k.c + i * k.cRow + e];
      let expected = old;
      if (e < k.width && i < k.m) {
        let sum = 0;
        for (let j = 0; j < k.n; j++) sum += before[k.a + i * k.aRow + j * k.aCol] * before[k.b + j * k.bRow + e];
        expected = (k.accumulate ? old : 0) + k.alpha * sum;
      }
      expect(mm.floats[k.c + i * k.cRow + e]).toBeCloseTo(expected, 5);
    }
  }
}

/** Whether this engine validates relaxed SIMD's f32x4.relaxed_madd: a module of one function using it. */
function engineHasRelaxedSimd(): boolean {
  const probe = defineFunction('probe', ['v128'], [], ([v]) =>
    f32x4.store(i32.const(0), f32x4.relaxedMadd(get(v), get(v), get(v))),
  );
  return WebAssembly.validate(assembleModule([probe]));
}

/** Whether the CPU has fused multiply-add, where Linux says so (null elsewhere). */
function cpuHasFma(): boolean | null {
  if (!existsSync('/proc/cpuinfo')) return null;
  return /^flags\s*:.*\bfma\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
}

describe('simdKernels (WebAssembly SIMD)', () => {
  it('compiles here: Node 20 has WebAssembly SIMD', () => {
    expect(simdKernels()).not.toBeNull();
  });

  it("is assembled with relaxed SIMD's multiply-add exactly where the engine validates it, as the project asks", () => {
    expect(relaxedSimdKernels()).toBe(engineHasRelaxedSimd());
    // The setup file of the jest project says which arithmetic this run tests.
    expect(relaxedSimdKernels()).toBe(process.env.TFJS_ATTENTION_TEST_SIMD === 'relaxed');
  });

  it('rounds a multiply-add once with relaxed SIMD on a CPU with FMA, twice without relaxed SIMD', () => {
    // -(1 + 2^-11) + (1 + 2^-12)^2 = 2^-24 exactly; the product alone rounds to 1 + 2^-11.
    const [x, y] = [1 + 2 ** -12, -(1 + 2 ** -11)];
    mm.reserve(16);
    mm.floats.set([1, x, 0, 0, y, y, y, y, x, x, x, x]);
    // C (float 12) = A(0, 0) B[0, :] + A(0, 1) B[1, :]: A at float 0, B's rows at floats 4 and 8.
    mm.axpyRows(0, 4, 4, 16, 16, 48, 16, 1, 2, 16, 1, 0);
    const fused = relaxedSimdKernels() && cpuHasFma() !== false;
    expect(Array.from(mm.floats.subarray(12, 16))).toEqual(Array(4).fill(fused ? 2 ** -24 : 0));
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

  it('axpyRows over 7 rows and 44 columns: whole tiles of every width, then a single row', () => {
    // A: 7 x 6 row-major at float 0, stride 9; B: 6 rows of 44 at float 100, stride 48; C: 7 rows at
    // float 500, stride 48, overwritten with alpha 0.25. Relaxed SIMD: two 3-row tiles of 12, 12, 12
    // and 8 floats, then row 6 by 16, 16, 4, 4 and 4. Without: a 4-row tile of 8 floats five times
    // and 4 once, then rows 4 to 6 one at a time.
    const before = seedMemory(1000, 5);
    const shape = { a: 0, aRow: 9, aCol: 1, b: 100, bRow: 48, c: 500, cRow: 48, m: 7, n: 6, width: 44 };
    expectAxpyRows(before, { ...shape, alpha: 0.25, accumulate: 0 });
  });

  it('axpyRows over 8 rows and 52 columns: the two rows left after 3-row tiles, and 4-row tiles', () => {
    // A: 8 x 5 row-major at float 0; B: 5 rows of 52 at float 100, stride 56; C: 8 rows at float 500,
    // stride 56, accumulated. Relaxed SIMD: two 3-row tiles of 12 (four times) and 4 floats, then rows
    // 6 and 7 by 16 (three times) and 4. Without: two 4-row tiles of 8 (six times) and 4 floats.
    const before = seedMemory(1100, 7);
    const shape = { a: 0, aRow: 5, aCol: 1, b: 100, bRow: 56, c: 500, cRow: 56, m: 8, n: 5, width: 52 };
    expectAxpyRows(before, { ...shape, alpha: -1.5, accumulate: 1 });
  });

  it('productRowBlock: whole tiles of axpyRows, two of 3 rows with relaxed SIMD and one of 4 without', () => {
    expect(productRowBlock()).toBe(relaxedSimdKernels() ? 6 : 4);
  });

  it('layerNormRows: per row xHat = (x - mean) / sqrt(var + epsilon), y = xHat gamma + beta, the inverse std', () => {
    // x: 3 rows of 8 at float 100 (two vectors a row); gamma at 40, beta at 60; y, xHat and
    // inverseStd at 300, 400 and 500, which start as garbage (written whole).
    const [rows, D, epsilon] = [3, 8, 0.1];
    const before = seedMemory(600, 6);
    mm.layerNormRows(4 * 100, 4 * 40, 4 * 60, 4 * 300, 4 * 400, 4 * 500, rows, 4 * D, D, epsilon);
    for (let r = 0; r < rows; r++) {
      const x = Array.from(before.subarray(100 + r * D, 100 + (r + 1) * D));
      const mean = x.reduce((sum, v) => sum + v, 0) / D;
      const variance = x.reduce((sum, v) => sum + (v - mean) ** 2, 0) / D;
      const inverseStd = 1 / Math.sqrt(variance + epsilon);
      expect(mm.floats[500 + r]).toBeCloseTo(inverseStd, 5);
      for (let e = 0; e < D; e++) {
        const xHat = (x[e] - mean) * inverseStd;
        expect(mm.floats[400 + r * D + e]).toBeCloseTo(xHat, 5);
        expect(mm.floats[300 + r * D + e]).toBeCloseTo(xHat * before[40 + e] + before[60 + e], 5);
      }
    }
    // Nothing past the outputs: the fourth row, the fourth inverse std.
    expect(Array.from(mm.floats.subarray(300 + rows * D, 300 + (rows + 1) * D))).toEqual(
      Array.from(before.subarray(300 + rows * D, 300 + (rows + 1) * D)),
    );
    expect(Array.from(mm.floats.subarray(400 + rows * D, 400 + (rows + 1) * D))).toEqual(
      Array.from(before.subarray(400 + rows * D, 400 + (rows + 1) * D)),
    );
    expect(mm.floats[500 + rows]).toBe(before[500 + rows]);
  });

  it('layerNormRowsBackward: dx per row from dy, xHat and the inverse std; dGamma and dBeta added to', () => {
    // dy: 3 rows of 8 at float 100, xHat at 200, inverseStd at 300, gamma at 40; dx at 400 (garbage
    // before: written whole); dGamma at 500 and dBeta at 520 hold values that the sums add to.
    const [rows, D] = [3, 8];
    const before = seedMemory(600, 7);
    mm.layerNormRowsBackward(4 * 100, 4 * 200, 4 * 300, 4 * 40, 4 * 400, 4 * 500, 4 * 520, rows, 4 * D, D);
    const dGamma = Array.from(before.subarray(500, 500 + D));
    const dBeta = Array.from(before.subarray(520, 520 + D));
    for (let r = 0; r < rows; r++) {
      const dy = Array.from(before.subarray(100 + r * D, 100 + (r + 1) * D));
      const xHat = Array.from(before.subarray(200 + r * D, 200 + (r + 1) * D));
      const dxHat = dy.map((g, e) => g * before[40 + e]);
      const meanDxHat = dxHat.reduce((sum, v) => sum + v, 0) / D;
      const meanDxHatXHat = dxHat.reduce((sum, v, e) => sum + v * xHat[e], 0) / D;
      for (let e = 0; e < D; e++) {
        const dx = before[300 + r] * (dxHat[e] - meanDxHat - xHat[e] * meanDxHatXHat);
        expect(mm.floats[400 + r * D + e]).toBeCloseTo(dx, 5);
        dGamma[e] += dy[e] * xHat[e];
        dBeta[e] += dy[e];
      }
    }
    for (let e = 0; e < D; e++) {
      expect(mm.floats[500 + e]).toBeCloseTo(dGamma[e], 5);
      expect(mm.floats[520 + e]).toBeCloseTo(dBeta[e], 5);
    }
    expect(Array.from(mm.floats.subarray(400 + rows * D, 400 + (rows + 1) * D))).toEqual(
      Array.from(before.subarray(400 + rows * D, 400 + (rows + 1) * D)),
    );
  });

  /** Rows of `width` floats (a multiple of 4) holding `count` real values each, at float 0. */
  function stageRows(values: number[][], width: number): void {
    mm.reserve(values.length * width + 64);
    mm.floats.fill(7, 0, values.length * width + 64); // padding starts as garbage
    values.forEach((row, r) => mm.floats.set(row, r * width));
  }

  it('softmaxRows: each row softmax-ed over its real values, padding 0, maximum and sum to stats', () => {
    const rows = [
      [1, 2, 3, 4, 5],
      [-1e9, 0.5, -1e9, -2, 0.25],
    ];
    stageRows(rows, 8);
    const stats = 40;
    mm.softmaxRows(0, 2, 5, 4 * 8, 4 * stats);
    rows.forEach((row, r) => {
      const max = Math.max(...row);
      const sum = row.reduce((acc, x) => acc + Math.exp(x - max), 0);
      for (let s = 0; s < 5; s++) expect(mm.floats[r * 8 + s]).toBeCloseTo(Math.exp(row[s] - max) / sum, 6);
      expect(Array.from(mm.floats.slice(r * 8 + 5, r * 8 + 8))).toEqual([0, 0, 0]);
      expect(mm.floats[stats + 2 * r]).toBe(max);
      expect(mm.floats[stats + 2 * r + 1]).toBeCloseTo(sum, 5);
    });
    expect(mm.floats[8]).toBe(0); // exp(-1e9 - max) is exactly 0, as masked keys must get
  });

  it('over 1604 scores from 0 to -80 and below: within 1e-5 relative of float64, exactly 0 below -87', () => {
    const xs = Array.from({ length: 1600 }, (_x, i) => -i / 20);
    stageRows([[...xs, -1e9, -1e9 + 3, -88, -1e30]], 1604);
    mm.softmaxRows(0, 1, 1604, 4 * 1604, 4 * 1700);
    const sum = xs.reduce((acc, x) => acc + Math.exp(x), 0);
    let worst = 0;
    xs.forEach((x, i) => (worst = Math.max(worst, Math.abs(mm.floats[i] / (Math.exp(x) / sum) - 1))));
    expect(worst).toBeLessThan(1e-5);
    expect(worst).toBeGreaterThan(0); // a float32 approximation, not a copy of Math.exp
    expect(Array.from(mm.floats.slice(1600, 1604))).toEqual([0, 0, 0, 0]);
    expect(mm.floats[1701]).toBeCloseTo(sum, 4);
  });

  it('softmaxRows: a row with a NaN score is NaN throughout, as tf.softmax; -Infinity scores get 0', () => {
    // The NaN in every lane position, and in a later vector than the row's maximum.
    const rows = [
      [NaN, 1, 2, 3, 4, 5],
      [1, NaN, 2, 3, 4, 5],
      [1, 2, 3, 4, 5, NaN],
      [0.5, -Infinity, 2, -Infinity, 1, 0],
    ];
    stageRows(rows, 8);
    mm.softmaxRows(0, 4, 6, 4 * 8, 4 * 40);
    for (let r = 0; r < 3; r++) {
      expect(Array.from(mm.floats.slice(r * 8, r * 8 + 6)).every(Number.isNaN)).toBe(true);
    }
    const finite = [0.5, 2, 1, 0];
    const sum = finite.reduce((acc, x) => acc + Math.exp(x - 2), 0);
    const expected = [0.5, -Infinity, 2, -Infinity, 1, 0].map((x) => Math.exp(x - 2) / sum);
    for (let s = 0; s < 6; s++) expect(mm.floats[24 + s]).toBeCloseTo(expected[s], 6);
    expect(mm.floats[25]).toBe(0);
  });

  it("expShiftedRows recomputes softmaxRows's probabilities from its maximum and log of the sum", () => {
    const row = [0.5, -3, 2, 1.25, -1e9, 0];
    stageRows([row], 8);
    mm.softmaxRows(0, 1, 6, 32, 4 * 40);
    const probabilities = mm.floats.slice(0, 8);
    const [max, sum] = [mm.floats[40], mm.floats[41]];
    stageRows([row], 8);
    mm.floats.set([max, Math.log(sum)], 40);
    mm.expShiftedRows(0, 1, 6, 32, 4 * 40);
    for (let s = 0; s < 8; s++) expect(mm.floats[s]).toBeCloseTo(probabilities[s], 6);
    expect(Array.from(mm.floats.slice(6, 8))).toEqual([0, 0]);
  });

  it('softmaxBackwardRows: dScore = P * (dP - rowsum(P * dP)) per row', () => {
    const p = [0.1, 0.2, 0.3, 0.4, 0.5, 0.25, 0.25, 0];
    const d = [1, -2, 0.5, 3, -1, 2, 4, 9];
    mm.reserve(16);
    mm.floats.set([...p, ...d]);
    mm.softmaxBackwardRows(0, 4 * 8, 2, 16);
    for (let r = 0; r < 2; r++) {
      const row = [0, 1, 2, 3].map((s) => 4 * r + s);
      const weighted = row.reduce((acc, i) => acc + p[i] * d[i], 0);
      for (const i of row) expect(mm.floats[8 + i]).toBeCloseTo(p[i] * (d[i] - weighted), 6);
    }
  });

  it('addRowBias adds a row of biases per row, or one bias broadcast over the row, scaled and shifted', () => {
    mm.reserve(64);
    mm.floats.fill(1, 0, 16);
    mm.floats.set([10, 20, 30, 40, 50, 60, 70, 80], 32);
    mm.addRowBias(0, 2, 16, 4 * 32, 4 * 4, 1, 1, 0);
    expect(Array.from(mm.floats.slice(0, 8))).toEqual([11, 21, 31, 41, 51, 61, 71, 81]);
    mm.addRowBias(0, 2, 16, 4 * 32, 4 * 1, 0, 1, 0);
    expect(Array.from(mm.floats.slice(0, 8))).toEqual([21, 31, 41, 51, 71, 81, 91, 101]);
    // A mask (1 = may attend) as the scores' bias (1 - m) * -1e9: scale 1e9, shift -1e9.
    mm.floats.set([1, 0, 1, 0.5], 32);
    mm.floats.fill(0, 0, 4);
    mm.addRowBias(0, 1, 16, 4 * 32, 0, 1, 1e9, -1e9);
    expect(Array.from(mm.floats.slice(0, 4))).toEqual([0, -1e9, 0, -5e8]);
  });

  it('transposeRows: groups of 16 rows, blocks of 4, the columns and rows left over, strides wider than rows', () => {
    for (const [rows, columns] of [
      [7, 10],
      [8, 4],
      [3, 9],
      [13, 1],
      [37, 11], // two groups of 16 rows, a block of 4, a row left over
    ]) {
      // src: rows of `columns` floats, 12 apart, at float 0; dst: rows of `rows` floats, 40 apart, at 500.
      const before = seedMemory(1000, rows * columns);
      mm.transposeRows(0, 4 * 12, 4 * 500, 4 * 40, rows, columns);
      // dst's rows, and the row after them untouched.
      for (let e = 0; e <= columns; e++) {
        for (let r = 0; r < 40; r++) {
          const expected = r < rows && e < columns ? before[r * 12 + e] : before[500 + e * 40 + r];
          expect(mm.floats[500 + e * 40 + r]).toBe(expected);
        }
      }
    }
  });

  it("stage finds in place what the previous call staged or gave out, and only the previous call's", () => {
    const values = identify(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), {});
    const [first, firstScratch] = stage([values], [], [16]);
    const [again, scratch] = stage([values], [], [16]);
    expect(again).toBe(first);
    // The new call's regions stay clear of the previous call's.
    expect(scratch >= first + 8 + 16 || scratch + 16 <= first).toBe(true);
    // What this call gives out is found by the next one.
    mm.floats.set([9, 9, 9, 9], scratch);
    const out = identify(new Float32Array(4), {});
    unstage([out], [scratch]);
    expect(stage([out], [], [])[0]).toBe(scratch);
    // Two calls later it is copied again, with its values; so is an array of no whole vectors.
    const [copied] = stage([values], [], []);
    expect(copied).not.toBe(first);
    expect(Array.from(mm.floats.subarray(copied, copied + 8))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const odd = identify(Float32Array.from([1, 2, 3]), {});
    const [odd1] = stage([odd], [], [8]);
    expect(stage([odd], [], [8])[0]).not.toBe(odd1);
    expect(firstScratch).toBeGreaterThanOrEqual(first + 8);
  });

  /** erf in float64 by its Taylor series (|x| <= 3 here: terms below 1e-17 relative). */
  const erf = (x: number) => {
    let [term, sum] = [x, x];
    for (let n = 1; n < 80; n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  };
  const phi = (x: number) => 0.5 * (1 + erf(x / Math.SQRT2));
  const density = (x: number) => Math.exp((-x * x) / 2) / Math.sqrt(2 * Math.PI);

  it('geluForward and geluBackward: y = x Phi(x), dx = dy (Phi(x) + x phi(x)), over the bytes asked for', () => {
    // x: 12 floats at 100 (-3 to 3), dy at 200; y at 300 and dx at 400 hold garbage past the 12.
    const before = seedMemory(600, 8);
    const xs = Array.from({ length: 12 }, (_v, i) => -3 + (6 * i) / 11);
    mm.floats.set(xs, 100);
    mm.geluForward(4 * 100, 4 * 300, 4 * 12);
    mm.geluBackward(4 * 100, 4 * 200, 4 * 400, 4 * 12);
    xs.forEach((value, i) => {
      const x = Math.fround(value);
      expect(mm.floats[300 + i]).toBeCloseTo(x * phi(x), 6);
      expect(mm.floats[400 + i]).toBeCloseTo(before[200 + i] * (phi(x) + x * density(x)), 6);
    });
    expect(Array.from(mm.floats.subarray(312, 320))).toEqual(Array.from(before.subarray(312, 320)));
    expect(Array.from(mm.floats.subarray(412, 420))).toEqual(Array.from(before.subarray(412, 420)));
  });

  it('reluInPlace and reluBackward over the bytes asked for, from their addresses', () => {
    // y at 100 (8 floats of both signs, relu-ed in place), dy at 200, dx at 300.
    const before = seedMemory(400, 9);
    mm.reluInPlace(4 * 100, 4 * 8);
    for (let i = 0; i < 12; i++)
      expect(mm.floats[100 + i]).toBe(i < 8 ? Math.max(before[100 + i], 0) : before[100 + i]);
    expect(mm.floats[99]).toBe(before[99]);
    mm.reluBackward(4 * 100, 4 * 200, 4 * 300, 4 * 8);
    for (let i = 0; i < 12; i++) {
      expect(mm.floats[300 + i]).toBe(i >= 8 ? before[300 + i] : before[100 + i] > 0 ? before[200 + i] : 0);
    }
    expect(before.subarray(100, 108).some((v) => v < 0) && before.subarray(100, 108).some((v) => v > 0)).toBe(true);
  });

  it.each([
    [1, 3],
    [4, 4],
    [5, 7],
    [11, 13],
  ])('copyRows copies rows of %i floats between strides and zeros each row up to %i floats', (count, padTo) => {
    // 3 rows of `count` floats at 100, count + 2 apart, to 300, padTo + 2 apart, padded with zeros
    // (whole vectors, then the floats past the last one).
    const [from, to] = [count + 2, padTo + 2];
    const before = seedMemory(400, 10);
    mm.copyRows(4 * 100, 4 * from, 4 * 300, 4 * to, 3, count, padTo);
    for (let r = 0; r < 4; r++) {
      for (let e = 0; e < to; e++) {
        const expected = r === 3 || e >= padTo ? before[300 + to * r + e] : e < count ? before[100 + from * r + e] : 0;
        expect(mm.floats[300 + to * r + e]).toBe(expected);
      }
    }
  });

  it("adamUpdate: the moments and the weights of Adam's step, from the parameters' block by name", () => {
    // w, g, m, v: 8 floats each at 100, 200, 300, 400 (v's non-negative), the block at 500 written
    // as train/adam.ts writes it (ADAM_PARAMETERS' order, by name); the floats past the 8 untouched.
    const before = seedMemory(600, 11);
    for (let i = 400; i < 416; i++) mm.floats[i] = before[i] = Math.abs(before[i]);
    const parameters: Record<(typeof ADAM_PARAMETERS)[number], number> = {
      gradientScale: 0.5,
      beta1: 0.8,
      oneMinusBeta1: 0.3,
      beta2: 0.95,
      oneMinusBeta2: 0.07,
      stepSize: 0.01,
      rootCorrection: 1.3,
      epsilon: 0.2,
    };
    mm.floats.set(
      ADAM_PARAMETERS.map((name) => parameters[name]),
      500,
    );
    const keep = 0.99;
    mm.adamUpdate(4 * 100, 4 * 200, 4 * 300, 4 * 400, 4 * 8, 4 * 500, keep);
    const p = parameters;
    for (let i = 0; i < 12; i++) {
      if (i >= 8) {
        for (const region of [100, 300, 400]) expect(mm.floats[region + i]).toBe(before[region + i]);
        continue;
      }
      const g = before[200 + i] * p.gradientScale;
      const m = p.beta1 * before[300 + i] + p.oneMinusBeta1 * g;
      const v = p.beta2 * before[400 + i] + p.oneMinusBeta2 * g * g;
      expect(mm.floats[300 + i]).toBeCloseTo(m, 6);
      expect(mm.floats[400 + i]).toBeCloseTo(v, 6);
      const w = keep * before[100 + i] - (p.stepSize * m) / (Math.sqrt(v) * p.rootCorrection + p.epsilon);
      expect(mm.floats[100 + i]).toBeCloseTo(w, 6);
    }
  });

  it('resident blocks: one after another, zeroed; freeing one moves the later ones down with their floats', () => {
    const [a, b, c] = [allocateResident(10), allocateResident(20), allocateResident(5)];
    try {
      expect([b.start - a.start, c.start - b.start]).toEqual([10, 20]);
      expect(Array.from(mm.floats.subarray(a.start, c.start + 5)).every((v) => v === 0)).toBe(true);
      mm.floats.fill(1, a.start, a.start + 10);
      mm.floats.fill(2, b.start, b.start + 20);
      mm.floats.fill(3, c.start, c.start + 5);
      // The staging area starts on the page after the last block.
      expect(stage([new Float32Array(4)], [], [])[0]).toBe(1024 * Math.ceil((c.start + 5) / 1024));
      freeResident(b);
      expect(c.start).toBe(a.start + 10);
      expect(Array.from(mm.floats.subarray(a.start, c.start + 5))).toEqual([...Array(10).fill(1), ...Array(5).fill(3)]);
      freeResident(b); // no longer held: nothing moves
      expect(c.start).toBe(a.start + 10);
      const first = a.start;
      freeResident(a);
      expect(c.start).toBe(first);
      expect(Array.from(mm.floats.subarray(c.start, c.start + 5))).toEqual(Array(5).fill(3));
    } finally {
      freeResident(c);
    }
    // None held: a call's regions start at float 0 again.
    expect(stage([new Float32Array(4)], [], [])[0]).toBe(0);
  });

  it("stage: a call's regions in order, rounded to lines, clear of the previous call's; zeroed ones zeroed", () => {
    // A resident block allocated and freed forgets the previous calls: this one starts at float 0.
    freeResident(allocateResident(1));
    const [x, z, scratch] = stage([Float32Array.from([1, 2, 3, 4, 5])], [20], [3]);
    expect([x, z, scratch]).toEqual([0, 16, 48]);
    expect(Array.from(mm.floats.subarray(x, x + 5))).toEqual([1, 2, 3, 4, 5]);
    mm.floats.fill(9, z, 1200); // garbage where this call's and the next call's zeroed regions lie
    // The next call: not before the previous one (at 0), so after its end (64 and its slack of 4),
    // on the next page; its zeroed region zeroed again.
    const [x2, z2] = stage([Float32Array.from([6])], [20], []);
    expect([x2, z2]).toEqual([1024, 1040]);
    expect(Array.from(mm.floats.subarray(z2, z2 + 20))).toEqual(Array(20).fill(0));
    // The one after fits before the previous call's (16 floats and the slack before 1024): at 0.
    expect(stage([Float32Array.from([7])], [], [])[0]).toBe(0);
    // One that does not fit before it goes after the previous call's end (16 and the slack: 1024),
    // and then a small one fits before that again.
    expect(stage([new Float32Array(1021)], [], [])[0]).toBe(1024);
    expect(stage([Float32Array.from([8])], [], [])[0]).toBe(0);
  });

  it('writtenInPlace: a tensor changed in place is copied in again by the next call', () => {
    const id = {};
    const values = identify(Float32Array.from([1, 2, 3, 4]), id);
    const [first] = stage([values], [], []);
    expect(stage([values], [], [])[0]).toBe(first);
    values.set([5, 6, 7, 8]);
    writtenInPlace(id);
    const [copied] = stage([values], [], []);
    expect(Array.from(mm.floats.subarray(copied, copied + 4))).toEqual([5, 6, 7, 8]);
  });

  it('zeroFill zeros the bytes asked for and nothing around them', () => {
    mm.reserve(64);
    mm.floats.fill(7, 0, 64);
    mm.zeroFill(4 * 3, 4 * 50);
    expect(Array.from(mm.floats.subarray(0, 64)).map((v, i) => (i >= 3 && i < 53 ? v === 0 : v === 7))).not.toContain(
      false,
    );
  });

  it('reserve grows the memory and keeps its contents', () => {
    seedMemory(10, 3);
    const first = mm.floats.slice(0, 10);
    mm.reserve(mm.floats.length + 1);
    expect(mm.floats.length).toBeGreaterThan(first.length);
    expect(Array.from(mm.floats.slice(0, 10))).toEqual(Array.from(first));
  });
});

describe("the module's compilation and memory", () => {
  type Module = typeof import('../../src/kernels/simd_kernels');

  /**
   * A fresh copy of simd_kernels.ts (its own kernels, compiled now, and memory) while `globals`
   * replace those of globalThis (a value of undefined: a global that is missing), restored after.
   */
  function freshModule(globals: Record<string, unknown>): Module {
    const saved = Object.keys(globals).map(
      (name) => [name, Object.getOwnPropertyDescriptor(globalThis, name)] as const,
    );
    Object.entries(globals).forEach(([name, value]) =>
      Object.defineProperty(globalThis, name, { value, configurable: true, writable: true }),
    );
    try {
      let fresh: Module | undefined;
      jest.isolateModules(() => {
        fresh = require('../../src/kernels/simd_kernels') as Module;
      });
      fresh!.simdKernels();
      return fresh!;
    } finally {
      for (const [name, descriptor] of saved) {
        if (descriptor === undefined) delete (globalThis as Record<string, unknown>)[name];
        else Object.defineProperty(globalThis, name, descriptor);
      }
    }
  }

  /**
   * WebAssembly with its Memory replaced by one that records what it is asked for (in `asked`) and
   * refuses (a RangeError, as when the address space cannot be reserved) what `refuse` says.
   */
  function memoryRecorder(refuse: (d: WebAssembly.MemoryDescriptor) => boolean) {
    const asked: WebAssembly.MemoryDescriptor[] = [];
    const Memory = WebAssembly.Memory;
    function Recording(descriptor: WebAssembly.MemoryDescriptor) {
      asked.push(descriptor);
      if (refuse(descriptor)) throw new RangeError('WebAssembly.Memory(): could not allocate memory');
      return new Memory(descriptor);
    }
    return { asked, WebAssembly: Object.create(WebAssembly, { Memory: { value: Recording } }) as typeof WebAssembly };
  }

  /** Whether `kernels` run on their memory: zeroFill of 3 floats of 5 set, and `reserve` growing it. */
  function expectKernelsRun(kernels: NonNullable<ReturnType<Module['simdKernels']>>): void {
    const size = kernels.floats.length;
    kernels.reserve(size + 1);
    expect(kernels.floats.length).toBe(size + 16384);
    kernels.floats.set([1, 2, 3, 4, 5], size - 2);
    kernels.zeroFill(4 * (size - 1), 4 * 3);
    expect(Array.from(kernels.floats.subarray(size - 2, size + 3))).toEqual([1, 0, 0, 0, 5]);
  }

  const shared = { initial: 16, shared: true };

  it('is compiled once, on a shared memory of 4 GB at most, with every kernel of the list', () => {
    expect(simdKernels()).toBe(mm);
    const compiled = simdModule()!;
    expect(compiled.shared).toBe(true);
    expect(compiled.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(compiled.relaxed).toBe(relaxedSimdKernels());
    // The kernels' floats are the module's memory.
    mm.reserve(8);
    mm.floats[5] = 1.5;
    expect(new Float32Array(compiled.memory.buffer)[5]).toBe(1.5);
    expect(WebAssembly.Module.exports(compiled.module).map((e) => e.name)).toEqual(
      KERNEL_FUNCTIONS.map((kernel) => kernel.name),
    );
    // Asked for 4 GB first (which Node reserves), not 1 GB: the same memory and module as a fresh
    // copy made while WebAssembly.Memory records what it is asked for.
    const memories = memoryRecorder(() => false);
    const fresh = freshModule({ WebAssembly: memories.WebAssembly });
    expect(memories.asked).toEqual([{ ...shared, maximum: 65536 }]);
    expect(fresh.simdModule()!.shared).toBe(true);
    expectKernelsRun(fresh.simdKernels()!);
  });

  it('takes a shared memory of 1 GB where 4 GB cannot be reserved, and one of its own where neither can', () => {
    const without4GB = memoryRecorder((d) => d.maximum === 65536);
    const smaller = freshModule({ WebAssembly: without4GB.WebAssembly });
    expect(without4GB.asked).toEqual([
      { ...shared, maximum: 65536 },
      { ...shared, maximum: 16384 },
    ]);
    expect(smaller.simdModule()!.shared).toBe(true);
    expectKernelsRun(smaller.simdKernels()!);
    const unshared = memoryRecorder((d) => d.shared === true);
    const own = freshModule({ WebAssembly: unshared.WebAssembly });
    expect(unshared.asked).toEqual([{ ...shared, maximum: 65536 }, { ...shared, maximum: 16384 }, { initial: 16 }]);
    expect(own.simdModule()!.shared).toBe(false);
    expect(own.simdModule()!.memory.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    expectKernelsRun(own.simdKernels()!);
  });

  it('shares its memory only where SharedArrayBuffer exists and a page is cross-origin isolated', () => {
    for (const [globals, sharing] of [
      [{ crossOriginIsolated: false }, false],
      [{ crossOriginIsolated: true }, true],
      [{ SharedArrayBuffer: undefined }, false],
    ] as const) {
      const fresh = freshModule(globals);
      expect({ globals, shared: fresh.simdModule()!.shared }).toEqual({ globals, shared: sharing });
      expect({ globals, relaxed: fresh.relaxedSimdKernels() }).toEqual({ globals, relaxed: relaxedSimdKernels() });
      expectKernelsRun(fresh.simdKernels()!);
    }
  });

  it('is null without WebAssembly or its SIMD (no memory reserved for nothing), and keeps no copy then', () => {
    const none = freshModule({ WebAssembly: undefined });
    expect([none.simdKernels(), none.simdModule(), none.relaxedSimdKernels()]).toEqual([null, null, false]);
    const w = none.identify(new Float32Array(8), {});
    expect([none.kept(w), none.kept(w), none.kept(w)]).toEqual([null, null, null]);
    for (const globals of [{}, { crossOriginIsolated: false }]) {
      const memories = memoryRecorder(() => false);
      const noSimd = Object.create(memories.WebAssembly, { validate: { value: () => false } });
      const fresh = freshModule({ ...globals, WebAssembly: noSimd });
      expect([fresh.simdKernels(), fresh.simdModule(), fresh.relaxedSimdKernels()]).toEqual([null, null, false]);
      expect(memories.asked).toEqual([]);
    }
  });

  it("reserve of exactly the memory's size keeps it; one float more grows it by one page, contents kept", () => {
    const size = mm.floats.length;
    const floats = mm.floats;
    floats[size - 1] = 2.5;
    mm.reserve(size);
    expect(mm.floats).toBe(floats);
    mm.reserve(size + 1);
    expect(mm.floats.length).toBe(size + 16384);
    expect(mm.floats[size - 1]).toBe(2.5);
    expect(simdModule()!.memory.buffer.byteLength).toBe(4 * (size + 16384));
  });
});

describe('staging: what a call finds in place, and where its regions go', () => {
  /** Forgets every call staged before (a resident block allocated and freed): the next starts at 0. */
  const forgetCalls = () => freeResident(allocateResident(1));
  /** A tensor's floats (a data id of their own): 1, 2, ... from `first`. */
  const tensor = (length: number, first = 1) =>
    identify(
      Float32Array.from({ length }, (_x, i) => first + i),
      {},
    );
  const at = (start: number, length: number) => Array.from(mm.floats.subarray(start, start + length));

  it('an output given out is copied out whole and found in place by the next call, not the one after', () => {
    forgetCalls();
    const [scratch] = stage([], [], [8]);
    mm.floats.set([1, 2, 3, 4, 5, 6, 7, 8], scratch);
    const out = identify(new Float32Array(8), {});
    unstage([out], [scratch]);
    expect(Array.from(out)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const [found, other] = stage([out], [], [16]);
    expect([found, other]).toEqual([scratch, 1024]);
    // The next call does not find it (this call reused it and gave it no region of its own): it
    // copies it in, clear of the region before, whose floats it may overwrite.
    const [copied, more] = stage([out, tensor(4, 20)], [], []);
    expect(at(copied, 8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(at(more, 4)).toEqual([20, 21, 22, 23]);
  });

  it('a reused array is recorded only by the call that copied it in', () => {
    forgetCalls();
    const a = tensor(4);
    const [first] = stage([a], [], []);
    expect(first).toBe(0);
    // Too large to fit before the first call: after it, with `a` found at 0.
    const [found, large] = stage([a, new Float32Array(2000)], [], []);
    expect([found, large]).toEqual([0, 1024]);
    // Small again: at 0, before the large call; `a` is copied in (the call before took it from
    // the one before that), and its floats are not overwritten by another array's.
    const [copied, b] = stage([a, tensor(4, 50)], [], []);
    expect(at(copied, 4)).toEqual([1, 2, 3, 4]);
    expect(at(b, 4)).toEqual([50, 51, 52, 53]);
  });

  it('a tensor staged with another length is copied in again', () => {
    forgetCalls();
    const id = {};
    const [first] = stage([identify(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), id)], [], []);
    const [second] = stage([identify(Float32Array.from([1, 2, 3, 4]), id)], [], []);
    expect(second).not.toBe(first);
    expect(at(second, 4)).toEqual([1, 2, 3, 4]);
  });

  it("a call's region ends 4 floats past its last: a call of a whole page is followed a page later", () => {
    forgetCalls();
    expect(stage([new Float32Array(1024)], [], [])[0]).toBe(0);
    // Not before it (it starts at 0): after its end, 1028, on the next page.
    expect(stage([new Float32Array(1500)], [], [])[0]).toBe(2048);
    // A call at 1024 after one at 0; then one of a whole page does not fit before it (its last 4
    // floats would be the first 4 of the call before): after the call at 1024, which ends at 2052.
    expect(stage([tensor(4)], [], [])[0]).toBe(0);
    expect(stage([new Float32Array(1021)], [], [])[0]).toBe(1024);
    expect(stage([new Float32Array(1024)], [], [])[0]).toBe(3072);
  });

  it('grows the memory to hold a call and 4 floats past its end', () => {
    forgetCalls();
    const size = mm.floats.length;
    const [start] = stage([new Float32Array(size).fill(3)], [], []);
    expect(start).toBe(0);
    expect(mm.floats.length).toBe(size + 16384);
    expect(mm.floats[size - 1]).toBe(3);
  });

  it('forgets what the calls before held when a resident block is allocated over them or one is freed', () => {
    forgetCalls();
    const a = tensor(8);
    const [first] = stage([a], [], []);
    expect(first).toBe(0);
    const block = allocateResident(100); // zeroes floats 0 to 99, where `a` was
    try {
      const [copied] = stage([a], [], []);
      expect(copied).toBe(1024);
      expect(at(copied, 8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    } finally {
      freeResident(block);
    }
    // Nothing held and nothing staged: even a call too large to fit before the last one starts at 0.
    expect(stage([new Float32Array(2000)], [], [])[0]).toBe(0);
  });

  it('resident blocks: the memory grown to hold one, zeroed over old floats; each later one moved down', () => {
    // One past the memory's end: grown to hold it.
    const large = allocateResident(mm.floats.length + 1);
    try {
      expect(mm.floats.length).toBeGreaterThanOrEqual(large.start + large.length);
    } finally {
      freeResident(large);
    }
    const a = allocateResident(8);
    mm.floats.fill(5, a.start + 8, a.start + 15); // old floats where the next two blocks go
    const [b, c] = [allocateResident(4), allocateResident(3)];
    try {
      expect(at(a.start, 15)).toEqual(Array(15).fill(0));
      mm.floats.fill(2, b.start, b.start + 4);
      mm.floats.fill(3, c.start, c.start + 3);
      const first = a.start;
      freeResident(a);
      expect([b.start, c.start]).toEqual([first, first + 4]);
      expect(at(first, 7)).toEqual([2, 2, 2, 2, 3, 3, 3]);
    } finally {
      freeResident(b);
      freeResident(c);
    }
  });

  it('zeroes every zeroed region of a call, after its arrays', () => {
    forgetCalls();
    mm.reserve(2048);
    mm.floats.fill(9, 0, 2048);
    // Without scratch regions (a call of two arguments): the array's and the zeroed ones' starts.
    expect(stage([tensor(4)], [8])).toEqual([0, 16]);
    forgetCalls();
    mm.floats.fill(9, 0, 2048);
    const [x, z1, z2, scratch] = stage([tensor(4)], [20, 8], [4]);
    expect([x, z1, z2, scratch]).toEqual([0, 16, 48, 64]);
    // The array, its line's rest untouched, 20 zeros and their line's rest, 8 zeros, the rest and
    // the scratch untouched.
    const nines = (n: number) => Array(n).fill(9);
    const zeros = (n: number) => Array(n).fill(0);
    const expected = [1, 2, 3, 4, ...nines(12), ...zeros(20), ...nines(12), ...zeros(8), ...nines(12)];
    expect(at(0, 68)).toEqual(expected);
  });

  it('unstage and writtenInPlace after the calls were forgotten: copied out, nothing recorded', () => {
    forgetCalls();
    // A tensor written in place before any call staged (a key/value cache before the first kernel).
    expect(() => writtenInPlace({})).not.toThrow();
    mm.floats.set([4, 3, 2, 1], 0);
    const out = identify(new Float32Array(4), {});
    unstage([out], [0]);
    expect(Array.from(out)).toEqual([4, 3, 2, 1]);
    mm.floats.set([0, 0, 0, 0], 0);
    const [copied] = stage([out], [], [8]);
    expect(at(copied, 4)).toEqual([4, 3, 2, 1]);
  });
});

/**
 * The kept copies of weights in the module's memory (`kept`): made the third time a tensor is
 * asked for in a form (a training step's weights, read twice, are staged), found again by data id
 * and form without a copy, copied in again when the tensor is written in place, placed in a ring
 * whose oldest copies give way, never a copy the same kernel call has taken; refused when too
 * large. kept.test.ts runs the dense layer on them.
 */
describe('kept copies', () => {
  afterEach(() => setKeptRingFloats());

  /** An array of `length` floats from `seed`, identified as the tensor `id`. */
  function weights(length: number, seed: number, id: object = {}): Float32Array {
    return identify(
      Float32Array.from({ length }, (_x, i) => Math.sin(seed * 7.1 + i * 0.37)),
      id,
    );
  }

  /** The module's floats at [start, start + length). */
  const at = (start: number, length: number) => Array.from(mm.floats.subarray(start, start + length));

  /** Ends a kernel call: the copies it took may be replaced by the next call's. */
  const endCall = () => stage([], [], []);

  /** `kept(...args)` asked for the third time, when a copy is made. */
  function keptNow(...args: Parameters<typeof kept>): number | null {
    kept(...args);
    kept(...args);
    return kept(...args);
  }

  it('are made the third time a tensor is asked for in a form', () => {
    setKeptRingFloats(1024);
    const w = weights(8, 1);
    expect([kept(w), kept(w), keptCopyCount()]).toEqual([null, null, 0]);
    // Another form of it is counted apart.
    expect(kept(w, 'other', 8, () => {})).toBeNull();
    const start = kept(w);
    expect([start === null, keptCopyCount()]).toEqual([false, 1]);
    expect(at(start!, 8)).toEqual(Array.from(w));
    endCall();
  });

  it('are found again by data id and form, without a new copy', () => {
    setKeptRingFloats(1024);
    const w = weights(10, 1);
    const first = keptNow(w)!;
    endCall();
    expect(at(first, 12)).toEqual([...Array.from(w), 0, 0]);
    expect([kept(w), keptCopyCount()]).toEqual([first, 1]);
    // The same floats under another data id are another tensor: a copy of their own.
    const again = keptNow(weights(10, 1))!;
    expect([again === first, keptCopyCount()]).toEqual([false, 2]);
    // Another form of the first tensor: a copy of its own, written by `fill`.
    const doubled = keptNow(w, 'doubled', 10, (start) =>
      mm.floats.set(
        w.map((v) => 2 * v),
        start,
      ),
    )!;
    expect(at(doubled, 10)).toEqual(Array.from(w.map((v) => 2 * v)));
    expect(kept(w)).toBe(first);
    // The same form of another length: a copy of its own.
    expect(kept(w, 'doubled', 4, () => {})).toBeNull();
    endCall();
  });

  it('are copied in again after `writtenInPlace`, theirs alone, joined ones too', () => {
    setKeptRingFloats(1024);
    const [id, other] = [{}, {}];
    const w = weights(8, 2, id);
    const v = weights(8, 3, other);
    const joined = (parts: Float32Array[]) =>
      keptNow(parts, 'joined', 16, (start) => parts.forEach((p, i) => mm.floats.set(p, start + 8 * i)));
    keptNow(w);
    const vStart = keptNow(v);
    joined([v, w]);
    endCall();
    expect(keptCopyCount()).toBe(3);
    w.fill(3);
    writtenInPlace(id);
    // The copies of w, alone and joined, are forgotten; v's stays where it was.
    expect(keptCopyCount()).toBe(1);
    expect(kept(v)).toBe(vStart);
    const start = kept(w)!;
    expect(at(start, 8)).toEqual(Array(8).fill(3));
    expect(keptCopyCount()).toBe(2);
    endCall();
  });

  it('key a joined copy by every tensor in it, in order', () => {
    setKeptRingFloats(1024);
    const [a, b] = [weights(4, 3), weights(4, 4)];
    const join = (parts: Float32Array[]) =>
      keptNow(parts, 'joined', 8, (start) => parts.forEach((p, i) => mm.floats.set(p, start + 4 * i)));
    // A "joined" copy of a alone first: not the copy of a and b.
    const alone = join([a])!;
    const first = join([a, b])!;
    expect(first).not.toBe(alone);
    expect(at(first, 8)).toEqual([...Array.from(a), ...Array.from(b)]);
    expect(join([a, b])).toBe(first);
    const other = join([a, weights(4, 5)]);
    expect(other === first).toBe(false);
    expect(keptCopyCount()).toBe(3);
    // A list with an array of no data id: none.
    expect(keptNow([a, new Float32Array(4)], 'joined', 8, () => {})).toBeNull();
    endCall();
  });

  it("start at the ring's start plus their place, the ring after the resident blocks, and move with it", () => {
    const block = allocateResident(100);
    let freed = false;
    try {
      setKeptRingFloats(1024);
      // 13 floats take 32 (whole lines, with room to read past the end): the next copy 32 further.
      const [w, v] = [weights(13, 1), weights(8, 2)];
      const wStart = keptNow(w)!;
      const vStart = keptNow(v)!;
      endCall();
      expect([wStart, vStart]).toEqual([100, 132]);
      expect(at(wStart, 20)).toEqual([...Array.from(w), ...Array(7).fill(0)]);
      expect([kept(w), kept(v)]).toEqual([100, 132]);
      expect(at(vStart, 8)).toEqual(Array.from(v));
      endCall();
      // The block freed, the ring moves down to float 0 with its copies.
      freeResident(block);
      freed = true;
      expect([kept(w), kept(v)]).toEqual([0, 32]);
      expect(at(32, 8)).toEqual(Array.from(v));
      endCall();
    } finally {
      if (!freed) freeResident(block);
    }
  });

  it('give way oldest first in a full ring, but never to a copy taken by the same call', () => {
    // Each copy of 40 floats takes 48 (whole cache lines, with room to read past its end): 5 fit in 256.
    setKeptRingFloats(256);
    const list = [0, 1, 2, 3, 4].map((i) => weights(40, 10 + i));
    const starts = list.map((w) => {
      const start = keptNow(w)!;
      endCall();
      return start;
    });
    expect(starts).toEqual([0, 48, 96, 144, 192]);
    expect(keptCopyCount()).toBe(5);
    list.forEach((w, i) => expect(at(starts[i], 48)).toEqual([...Array.from(w), ...Array(8).fill(0)]));
    // A sixth of 18 floats (taking 32: not in the 16 left at the end) goes to the start of the
    // ring, in the place of the oldest, and zeros what it leaves of the oldest's floats up to a
    // whole vector and 4 floats more.
    const sixth = weights(18, 20);
    expect(keptNow(sixth)).toBe(0);
    endCall();
    expect(at(0, 24)).toEqual([...Array.from(sixth), ...Array(6).fill(0)]);
    expect(at(24, 16)).toEqual(Array.from(list[0].subarray(24, 40)));
    expect(keptCopyCount()).toBe(5);
    // The oldest, asked for again, is copied again after the sixth (at 32), in the place of the
    // next oldest.
    expect(kept(list[0])).toBe(32);
    endCall();
    expect(keptCopyCount()).toBe(5);
    // One call takes the copy at the ring's head (at 96), then needs a new one: the new one goes
    // past it, and the taken copy keeps its floats.
    expect(kept(list[2])).toBe(96);
    const fresh = weights(40, 30);
    expect(keptNow(fresh)).toBe(144);
    expect(at(96, 40)).toEqual(Array.from(list[2]));
    expect(at(144, 40)).toEqual(Array.from(fresh));
    endCall();
  });

  it("take the ring's last place when it fits exactly, and replace only the copies they overlap", () => {
    // 44 floats take 48: 4 fit in 192 exactly.
    setKeptRingFloats(192);
    const list = [0, 1, 2, 3, 4].map((i) => weights(44, i));
    const starts = list.map((w) => {
      const start = keptNow(w);
      endCall();
      return start;
    });
    expect(starts).toEqual([0, 48, 96, 144, 0]);
    expect(keptCopyCount()).toBe(4);
    expect(kept(list[1])).toBe(48);
    endCall();
  });

  it('are refused when the copies the call has taken leave no place, which keep their floats', () => {
    // 32 floats take 48: 2 fit in 128.
    setKeptRingFloats(128);
    const [a, b, c] = [weights(32, 1), weights(32, 2), weights(32, 3)];
    const [aStart, bStart] = [keptNow(a)!, keptNow(b)!];
    expect([aStart, bStart]).toEqual([0, 48]);
    expect(keptNow(c)).toBeNull();
    expect(at(aStart, 32)).toEqual(Array.from(a));
    expect(at(bStart, 32)).toEqual(Array.from(b));
    expect(keptCopyCount()).toBe(2);
    endCall();
    // The next call may replace them.
    const cStart = kept(c)!;
    expect(at(cStart, 32)).toEqual(Array.from(c));
    endCall();
  });

  it('are refused for arrays without a data id or larger than a quarter of the ring', () => {
    setKeptRingFloats(256);
    expect(keptNow(new Float32Array(8))).toBeNull();
    expect(keptNow(weights(65, 1))).toBeNull();
    expect(keptNow(weights(64, 1))).not.toBeNull();
    endCall();
    // The ring of 4M floats (16 MB) by default.
    setKeptRingFloats();
    expect(keptNow(identify(new Float32Array((1 << 20) + 1), {}))).toBeNull();
    expect(keptCopyCount()).toBe(0);
  });

  it('start again from nothing after setKeptRingFloats, the ring freed', () => {
    setKeptRingFloats(1024);
    const [w, v] = [weights(8, 1), weights(8, 2)];
    keptNow(w);
    expect(keptNow(v)).toBe(16);
    endCall();
    setKeptRingFloats(1024);
    // Asked for from the first time again, copied to the new ring's start.
    expect([kept(v), kept(v), keptCopyCount()]).toEqual([null, null, 0]);
    expect(kept(v)).toBe(0);
    endCall();
    setKeptRingFloats();
    // No ring held: a call's regions start at float 0.
    freeResident(allocateResident(1));
    expect(stage([new Float32Array(2000)], [], [])[0]).toBe(0);
  });
});
