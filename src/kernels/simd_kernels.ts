/**
 * Kernels in WebAssembly SIMD, several times faster than scalar JavaScript:
 * - small strided matrix products, for the per-head products of attention (13 x 16 by 16 x 13 in
 *   the reference configuration), too small and too many for a matmul library call each;
 * - the exponential and row normalization of a softmax;
 * - layer normalization over rows, forward and backward.
 * The module is assembled and compiled on first use (wasm_assembler.ts), never at import, and works
 * on its own memory: callers copy operands into `floats` and read results from it.
 *
 * Addresses and strides are in bytes; the contiguous inner dimension `width` (bytes) must be a
 * multiple of 16: four floats per SIMD vector.
 */
import {
  assembleModule,
  type Code,
  defineFunction,
  f32,
  f32x4,
  forLoop,
  get,
  i32,
  i32x4,
  ifElse,
  type Local,
  set,
  v128,
} from './wasm_assembler';

const at = (base: Local, index: Local, stride: Local): Code => i32.add(get(base), i32.mul(get(index), get(stride)));
/** The sum of a vector's four lanes. */
const laneSum = (vector: Local): Code =>
  f32.add(
    f32.add(f32x4.extractLane(get(vector), 0), f32x4.extractLane(get(vector), 1)),
    f32.add(f32x4.extractLane(get(vector), 2), f32x4.extractLane(get(vector), 3)),
  );
const plus = (address: Local, offset: Local): Code => i32.add(get(address), get(offset));
/** `address += step` for an i32 local. */
const advance = (address: Local, step: Code): Code => set(address, i32.add(get(address), step));

/**
 * C(i, j) = alpha * sum_e A[i, e] B[j, e] for i < m, j < n: rows of A against rows of B (Q K^T).
 * A row i starts at a + i*aRow, B row j at b + j*bRow; C(i, j) is at c + i*cRow + 4*j.
 */
const dotRows = defineFunction(
  'dotRows',
  ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32'],
  ['i32', 'i32', 'i32', 'i32', 'i32', 'v128'],
  ([a, aRow, b, bRow, c, cRow, m, n, width, alpha], [i, j, x, rowA, rowB, acc]) =>
    forLoop(i, i32.const(0), get(m), 1, [
      ...set(rowA, at(a, i, aRow)),
      ...forLoop(j, i32.const(0), get(n), 1, [
        ...set(rowB, at(b, j, bRow)),
        ...set(acc, f32x4.splat(f32.const(0))),
        ...forLoop(x, i32.const(0), get(width), 16, [
          ...set(acc, f32x4.add(get(acc), f32x4.mul(f32x4.load(plus(rowA, x)), f32x4.load(plus(rowB, x))))),
        ]),
        ...f32.store(i32.add(at(c, i, cRow), i32.mul(get(j), i32.const(4))), f32.mul(get(alpha), laneSum(acc))),
      ]),
    ]),
);

/**
 * C[i, :] = alpha * sum_j A(i, j) B[j, :], plus the old C[i, :] when `accumulate` is 1, for i < m,
 * j < n: weighted sums of B's rows (P V). A(i, j) is the float at a + i*aRow + j*aCol, so A may be
 * read transposed; B row j starts at b + j*bRow, C row i at c + i*cRow.
 */
const axpyRows = defineFunction(
  'axpyRows',
  ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'i32'],
  ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'v128', 'v128', 'v128', 'v128', 'v128'],
  (
    [a, aRow, aCol, b, bRow, c, cRow, m, n, width, alpha, accumulate],
    [i, j, x, rowA, rowC, pa, pb, weight, ...acc],
  ) => {
    // Writes alpha * acc[k] (+ the old C) to C[i, x + 16k].
    const finish = (k: number) => [
      ...set(acc[k], f32x4.mul(get(acc[k]), f32x4.splat(get(alpha)))),
      ...ifElse(get(accumulate), set(acc[k], f32x4.add(get(acc[k]), f32x4.load(plus(rowC, x), 16 * k))), []),
      ...f32x4.store(plus(rowC, x), get(acc[k]), 16 * k),
    ];
    // Columns [x, x + 16 * vectors) of row i: sum over j with `vectors` accumulators, walking A's
    // row and B's column block by pointer.
    const block = (vectors: number) => [
      ...acc.slice(0, vectors).flatMap((v) => set(v, f32x4.splat(f32.const(0)))),
      ...set(pa, get(rowA)),
      ...set(pb, plus(b, x)),
      ...forLoop(j, i32.const(0), get(n), 1, [
        ...set(weight, f32x4.splat(f32.load(get(pa)))),
        ...acc
          .slice(0, vectors)
          .flatMap((v, k) => set(v, f32x4.add(get(v), f32x4.mul(get(weight), f32x4.load(get(pb), 16 * k))))),
        ...set(pa, i32.add(get(pa), get(aCol))),
        ...set(pb, i32.add(get(pb), get(bRow))),
      ]),
      ...Array.from({ length: vectors }, (_v, k) => finish(k)).flat(),
    ];
    return forLoop(i, i32.const(0), get(m), 1, [
      ...set(rowA, at(a, i, aRow)),
      ...set(rowC, at(c, i, cRow)),
      // Four vectors (16 floats) at a time while they fit, then one at a time.
      ...forLoop(x, i32.const(0), i32.add(get(width), i32.const(-63)), 64, block(4)),
      ...forLoop(x, get(x), get(width), 16, block(1)),
    ]);
  },
);

/**
 * Layer normalization of `rows` rows of `width` bytes (count floats, as an f32) at x: per row
 * mean and biased variance, xHat = (x - mean) / sqrt(var + epsilon), y = xHat * gamma + beta,
 * and inverseStd[r] = 1 / sqrt(var + epsilon). y, xHat and inverseStd are contiguous.
 */
const layerNormRows = defineFunction(
  'layerNormRows',
  ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'f32'],
  ['i32', 'i32', 'v128', 'f32', 'f32', 'v128'],
  ([x, gamma, beta, y, xHat, inverseStd, rows, width, count, epsilon], [r, e, acc, mean, inv, centered]) =>
    forLoop(r, i32.const(0), get(rows), 1, [
      ...set(acc, f32x4.splat(f32.const(0))),
      ...forLoop(e, i32.const(0), get(width), 16, set(acc, f32x4.add(get(acc), f32x4.load(plus(x, e))))),
      ...set(mean, f32.div(laneSum(acc), get(count))),
      ...set(acc, f32x4.splat(f32.const(0))),
      ...forLoop(e, i32.const(0), get(width), 16, [
        ...set(centered, f32x4.sub(f32x4.load(plus(x, e)), f32x4.splat(get(mean)))),
        ...set(acc, f32x4.add(get(acc), f32x4.mul(get(centered), get(centered)))),
      ]),
      ...set(inv, f32.div(f32.const(1), f32.sqrt(f32.add(f32.div(laneSum(acc), get(count)), get(epsilon))))),
      ...f32.store(get(inverseStd), get(inv)),
      ...forLoop(e, i32.const(0), get(width), 16, [
        ...set(centered, f32x4.mul(f32x4.sub(f32x4.load(plus(x, e)), f32x4.splat(get(mean))), f32x4.splat(get(inv)))),
        ...f32x4.store(plus(xHat, e), get(centered)),
        ...f32x4.store(
          plus(y, e),
          f32x4.add(f32x4.mul(get(centered), f32x4.load(plus(gamma, e))), f32x4.load(plus(beta, e))),
        ),
      ]),
      ...advance(x, get(width)),
      ...advance(y, get(width)),
      ...advance(xHat, get(width)),
      ...advance(inverseStd, i32.const(4)),
    ]),
);

/**
 * The layer norm's gradient from dy, xHat and inverseStd (rows as in `layerNormRows`): with
 * dxHat = dy * gamma, dx = inverseStd * (dxHat - mean(dxHat) - xHat * mean(dxHat * xHat)) per row;
 * dGamma += sum over rows of dy * xHat and dBeta += sum of dy (zero them first).
 */
const layerNormRowsBackward = defineFunction(
  'layerNormRowsBackward',
  ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32'],
  ['i32', 'i32', 'v128', 'v128', 'v128', 'v128', 'f32', 'f32'],
  (
    [dy, xHat, inverseStd, gamma, dx, dGamma, dBeta, rows, width, count],
    [r, e, g, dxHat, sum, sumXHat, meanDxHat, meanDxHatXHat],
  ) =>
    forLoop(r, i32.const(0), get(rows), 1, [
      ...set(sum, f32x4.splat(f32.const(0))),
      ...set(sumXHat, f32x4.splat(f32.const(0))),
      ...forLoop(e, i32.const(0), get(width), 16, [
        ...set(g, f32x4.load(plus(dy, e))),
        ...set(dxHat, f32x4.mul(get(g), f32x4.load(plus(gamma, e)))),
        ...set(sum, f32x4.add(get(sum), get(dxHat))),
        ...set(sumXHat, f32x4.add(get(sumXHat), f32x4.mul(get(dxHat), f32x4.load(plus(xHat, e))))),
        ...f32x4.store(
          plus(dGamma, e),
          f32x4.add(f32x4.load(plus(dGamma, e)), f32x4.mul(get(g), f32x4.load(plus(xHat, e)))),
        ),
        ...f32x4.store(plus(dBeta, e), f32x4.add(f32x4.load(plus(dBeta, e)), get(g))),
      ]),
      ...set(meanDxHat, f32.div(laneSum(sum), get(count))),
      ...set(meanDxHatXHat, f32.div(laneSum(sumXHat), get(count))),
      ...forLoop(e, i32.const(0), get(width), 16, [
        ...set(dxHat, f32x4.mul(f32x4.load(plus(dy, e)), f32x4.load(plus(gamma, e)))),
        ...set(
          dxHat,
          f32x4.sub(
            f32x4.sub(get(dxHat), f32x4.splat(get(meanDxHat))),
            f32x4.mul(f32x4.load(plus(xHat, e)), f32x4.splat(get(meanDxHatXHat))),
          ),
        ),
        ...f32x4.store(plus(dx, e), f32x4.mul(get(dxHat), f32x4.splat(f32.load(get(inverseStd))))),
      ]),
      ...advance(dy, get(width)),
      ...advance(xHat, get(width)),
      ...advance(dx, get(width)),
      ...advance(inverseStd, i32.const(4)),
    ]),
);

/** Below this, exp(x) is flushed to 0 (exp(-87) is near float32's smallest normal number). */
const EXP_FLOOR = -87;

/**
 * e^x lane-wise for x <= 0 (scores shifted by their row maximum), as Cephes's expf: x = n ln2 + r
 * with |r| <= ln2 / 2, e^r by its Taylor polynomial to r^6 (relative error ~1e-7, float32's
 * rounding), times 2^n built in the exponent bits. Lanes below EXP_FLOOR give exactly 0, as
 * masked scores must.
 */
function expLanes(x: Local, n: Local, r: Local): Code {
  const splat = (value: number) => f32x4.splat(f32.const(value));
  const clamped = f32x4.max(get(x), splat(EXP_FLOOR));
  const horner = [1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1].reduce<Code>(
    (acc, coefficient) => f32x4.add(f32x4.mul(acc, get(r)), splat(coefficient)),
    splat(0),
  );
  const twoToTheN = i32x4.shl(i32x4.add(i32x4.truncSatF32x4(get(n)), i32x4.splat(i32.const(127))), i32.const(23));
  return [
    ...set(n, f32x4.nearest(f32x4.mul(clamped, splat(Math.LOG2E)))),
    // r = x - n ln2, with ln2 split in two so that n * 0.693359375 is exact.
    ...set(
      r,
      f32x4.sub(f32x4.sub(clamped, f32x4.mul(get(n), splat(0.693359375))), f32x4.mul(get(n), splat(-2.1219444e-4))),
    ),
    ...v128.and(f32x4.mul(horner, twoToTheN), f32x4.gt(get(x), splat(EXP_FLOOR))),
  ];
}

/** f[i] = e^f[i] for the floats in [p, p + bytes), bytes a multiple of 16. */
const expInPlace = defineFunction(
  'expInPlace',
  ['i32', 'i32'],
  ['i32', 'v128', 'v128', 'v128'],
  ([p, bytes], [address, x, n, r]) =>
    forLoop(address, get(p), i32.add(get(p), get(bytes)), 16, [
      ...set(x, f32x4.load(get(address))),
      ...f32x4.store(get(address), expLanes(x, n, r)),
    ]),
);

/** Divides each of `rows` contiguous rows of `count` floats at p by its sum (scalar: rows are short). */
const divideRowsBySum = defineFunction(
  'divideRowsBySum',
  ['i32', 'i32', 'i32'],
  ['i32', 'i32', 'f32', 'i32'],
  ([p, rows, count], [row, address, sum, end]) =>
    forLoop(row, i32.const(0), get(rows), 1, [
      ...set(end, i32.add(get(p), i32.mul(get(count), i32.const(4)))),
      ...set(sum, f32.const(0)),
      ...forLoop(address, get(p), get(end), 4, set(sum, f32.add(get(sum), f32.load(get(address))))),
      ...forLoop(address, get(p), get(end), 4, f32.store(get(address), f32.div(f32.load(get(address)), get(sum)))),
      ...set(p, get(end)),
    ]),
);

export interface SimdKernels {
  /** See `dotRows` above; addresses and strides in bytes. */
  dotRows(
    a: number,
    aRow: number,
    b: number,
    bRow: number,
    c: number,
    cRow: number,
    m: number,
    n: number,
    width: number,
    alpha: number,
  ): void;
  /** See `axpyRows` above; addresses and strides in bytes, `accumulate` 0 or 1. */
  axpyRows(
    a: number,
    aRow: number,
    aCol: number,
    b: number,
    bRow: number,
    c: number,
    cRow: number,
    m: number,
    n: number,
    width: number,
    alpha: number,
    accumulate: number,
  ): void;
  /** See `layerNormRows` above; addresses and `width` in bytes, `count` = width / 4. */
  layerNormRows(
    x: number,
    gamma: number,
    beta: number,
    y: number,
    xHat: number,
    inverseStd: number,
    rows: number,
    width: number,
    count: number,
    epsilon: number,
  ): void;
  /** See `layerNormRowsBackward` above. */
  layerNormRowsBackward(
    dy: number,
    xHat: number,
    inverseStd: number,
    gamma: number,
    dx: number,
    dGamma: number,
    dBeta: number,
    rows: number,
    width: number,
    count: number,
  ): void;
  /** e^x in place for the floats in [p, p + bytes), bytes a multiple of 16, x <= 0. */
  expInPlace(p: number, bytes: number): void;
  /** Divides each of `rows` contiguous rows of `count` floats at p by its sum. */
  divideRowsBySum(p: number, rows: number, count: number): void;
  /** The module's memory as floats; valid until the next `reserve`. */
  floats: Float32Array;
  /** Makes the memory hold at least `count` floats (growing it detaches the old `floats`). */
  reserve(count: number): void;
}

const PAGE_BYTES = 65536;

/** The compiled module once `simdKernels` has run: null where it cannot, undefined before. */
let compiled: SimdKernels | null | undefined;

/**
 * The compiled module, or null where WebAssembly or its SIMD extension is unavailable (then
 * callers use their composite path). Compiled on the first call; one instance per process: the
 * kernels run one at a time.
 */
export function simdKernels(): SimdKernels | null {
  if (compiled === undefined) compiled = compileSimdKernels();
  return compiled;
}

function compileSimdKernels(): SimdKernels | null {
  if (typeof WebAssembly !== 'object') return null;
  const bytes = assembleModule([dotRows, axpyRows, expInPlace, divideRowsBySum, layerNormRows, layerNormRowsBackward]);
  if (!WebAssembly.validate(bytes)) return null;
  const memory = new WebAssembly.Memory({ initial: 16 });
  const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
  const state: SimdKernels = {
    dotRows: exports.dotRows as SimdKernels['dotRows'],
    axpyRows: exports.axpyRows as SimdKernels['axpyRows'],
    expInPlace: exports.expInPlace as SimdKernels['expInPlace'],
    divideRowsBySum: exports.divideRowsBySum as SimdKernels['divideRowsBySum'],
    layerNormRows: exports.layerNormRows as SimdKernels['layerNormRows'],
    layerNormRowsBackward: exports.layerNormRowsBackward as SimdKernels['layerNormRowsBackward'],
    floats: new Float32Array(memory.buffer),
    reserve(count: number) {
      const missing = count * 4 - memory.buffer.byteLength;
      if (missing <= 0) return;
      memory.grow(Math.ceil(missing / PAGE_BYTES));
      state.floats = new Float32Array(memory.buffer);
    },
  };
  return state;
}

/**
 * Copies `arrays` into the module's memory one after another, followed by `zeroed` zero-filled
 * regions (for results that accumulate) and `scratch` regions left as they are (for results
 * written whole); returns every region's start (in floats) in that order.
 */
export function stage(arrays: Float32Array[], zeroed: number[], scratch: number[] = []): number[] {
  const kernels = simdKernels()!;
  const sizes = [...arrays.map((array) => array.length), ...zeroed, ...scratch];
  const starts: number[] = [];
  let end = 0;
  for (const size of sizes) {
    starts.push(end);
    end += size;
  }
  kernels.reserve(end);
  arrays.forEach((array, i) => kernels.floats.set(array, starts[i]));
  zeroed.forEach((size, i) => kernels.floats.fill(0, starts[arrays.length + i], starts[arrays.length + i] + size));
  return starts;
}

/** Copies the module's floats from each of `starts` out to the matching output. */
export function unstage(outputs: Float32Array[], starts: number[]): void {
  const floats = simdKernels()!.floats;
  outputs.forEach((output, i) => output.set(floats.subarray(starts[i], starts[i] + output.length)));
}
