/**
 * Kernels in WebAssembly SIMD, several times faster than scalar JavaScript:
 * - small strided matrix products, for the per-head products of attention (13 x 16 by 16 x 13 in
 *   the reference configuration, 32 x 32 by 32 x 1024 at T = 1024), too small and too many for a
 *   matmul library call each;
 * - a softmax over rows (mask bias, maximum, exponential, sum, normalization), its recomputation
 *   from saved row statistics and its gradient;
 * - layer normalization over rows, forward and backward.
 * The module is assembled and compiled on first use (wasm_assembler.ts), never at import, and works
 * on its own memory: callers copy operands into `floats` and read results from it. Its multiply-adds
 * are relaxed SIMD's fused ones where the engine has relaxed SIMD, else a multiply and an add
 * (`Arithmetic`).
 *
 * Addresses and strides are in bytes; the contiguous inner dimension `width` (bytes) must be a
 * multiple of 16: four floats per SIMD vector.
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import {
  assembleModule,
  type Code,
  defineFunction,
  type FunctionSpec,
  f32,
  f32x4,
  forLoop,
  get,
  i32,
  i32x4,
  ifElse,
  type Local,
  type Locals,
  bulkMemory,
  set,
  v128,
  VectorConstants,
  type ValueType,
} from './wasm_assembler';

/**
 * How a kernel multiplies and adds, chosen when the module is assembled: relaxed SIMD's
 * f32x4.relaxed_madd where the engine validates it (fused multiply-add on CPUs that have it: one
 * instruction and one rounding instead of two), else a multiply and an add. Both give the same
 * floats on every thread of one process: the threads run one compiled module.
 */
export interface Arithmetic {
  /** Whether `madd` is relaxed SIMD's. */
  relaxed: boolean;
  /** a * b + c, lane-wise. */
  madd(a: Code, b: Code, c: Code): Code;
}

const SEPARATE: Arithmetic = { relaxed: false, madd: (a, b, c) => f32x4.add(c, f32x4.mul(a, b)) };
const RELAXED: Arithmetic = { relaxed: true, madd: (a, b, c) => f32x4.relaxedMadd(a, b, c) };
/** The arithmetics in the order a module tries them: the first whose module validates is used. */
export const ARITHMETICS: readonly Arithmetic[] = [RELAXED, SEPARATE];

/** A kernel of the module: its name and parameters, and its code for either arithmetic. */
interface KernelDefinition {
  name: string;
  params: ValueType[];
  assemble(math: Arithmetic, constants: VectorConstants): FunctionSpec;
}

/**
 * `defineFunction`, with the body given the arithmetic it is assembled with and the module's vector
 * constants (globals: see `VectorConstants` for why a kernel's loop reads its constants there).
 */
function defineKernel<P extends ValueType[], L extends ValueType[]>(
  name: string,
  params: [...P],
  locals: [...L],
  body: (params: Locals<P>, locals: Locals<L>, math: Arithmetic, constants: VectorConstants) => Code,
): KernelDefinition {
  return {
    name,
    params,
    assemble: (math, constants) => defineFunction(name, params, locals, (p, l) => body(p, l, math, constants)),
  };
}

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
 * C[i, :] = alpha * sum_j A(i, j) B[j, :], plus the old C[i, :] when `accumulate` is 1, for i < m,
 * j < n: a matrix product written as weighted sums of B's rows. A(i, j) is the float at
 * a + i*aRow + j*aCol, so A may be read transposed; B row j starts at b + j*bRow, C row i at
 * c + i*cRow.
 *
 * Register-blocked like XNNPACK's "loadsplat" micro-kernels: a tile of rows of C by a few vectors
 * keeps its accumulators in registers, and each step j loads the tile's vectors of B once and
 * broadcasts one float of A per row, where one row at a time needs a load of B per multiply-add.
 * The tile is the largest that V8's 15 vector registers on x64 hold without spilling to the stack
 * (accumulators, B's vectors and the rows' broadcasts, which V8 loads all before the first
 * multiply-add):
 *
 * - relaxed SIMD's fused multiply-add: 3 rows by 12 floats, 9 accumulators + 3 + 3 registers, 6
 *   loads for 9 multiply-adds. Then 3 rows by 8 or 4 floats, 2 rows left (m mod 3) by 16 or 4, and
 *   1 row by 16 or 4. On a Zen 5 core (README, Speed), 0.87 to 1.0 of 4 x 8's time on the
 *   library's product shapes.
 * - separate multiplies and adds, whose product takes one more register: 4 rows by 8 floats (8
 *   accumulators), then 4 by 4, then the rows left over (m mod 4) one at a time by 16 or 4. The
 *   3 x 12 tile spills there (12 GMAC/s against 27).
 *
 * Each float of C is the same sum, in the same order, whatever the tile: the result does not
 * depend on which tile, or which thread's part, computes it.
 */
const axpyRows = defineKernel(
  'axpyRows',
  ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'i32'],
  [...Array<'i32'>(7).fill('i32'), ...Array<'v128'>(14).fill('v128')],
  (
    [a, aRow, aCol, b, bRow, c, cRow, m, n, width, alpha, accumulate],
    [i, j, x, rowA, rowC, pa, pb, weight, b0, b1, ...more],
    math,
  ) => {
    // Nine accumulators, then B's third and fourth vectors: the 4 x 8 tile takes the first eight
    // locals after b1, and its code does not depend on the locals only the other tiles use.
    const [acc, [b2, b3]] = [more.slice(0, 9), more.slice(9)];
    // Writes alpha * acc (+ the old C) to C at rowC + r*cRow + x + 16v.
    const finish = (accumulator: Local, r: number, v: number) => {
      const address = r === 0 ? plus(rowC, x) : i32.add(plus(rowC, x), i32.mul(get(cRow), i32.const(r)));
      return [
        ...set(accumulator, f32x4.mul(get(accumulator), f32x4.splat(get(alpha)))),
        ...ifElse(get(accumulate), set(accumulator, f32x4.add(get(accumulator), f32x4.load(address, 16 * v))), []),
        ...f32x4.store(address, get(accumulator), 16 * v),
      ];
    };
    // A tile of `rows` rows of C by `vectors` vectors from column x: sum over j, walking A's
    // column and B's rows by pointer. With several rows, B's vectors are loaded once per j into b0..
    // and each row's weight once into `weight`; with one row, each vector of B is used once.
    const tile = (rows: number, vectors: number) => {
      const accOf = (r: number, v: number) => acc[r * vectors + v];
      const aAt = (r: number) => (r === 0 ? get(pa) : i32.add(get(pa), i32.mul(get(aRow), i32.const(r))));
      const bVectors = [b0, b1, b2, b3];
      const products =
        rows === 1
          ? [
              ...set(weight, f32x4.loadSplat(get(pa))),
              ...Array.from({ length: vectors }, (_x, v) =>
                set(accOf(0, v), math.madd(get(weight), f32x4.load(get(pb), 16 * v), get(accOf(0, v)))),
              ).flat(),
            ]
          : [
              ...Array.from({ length: vectors }, (_x, v) => set(bVectors[v], f32x4.load(get(pb), 16 * v))).flat(),
              ...Array.from({ length: rows }, (_x, r) => [
                ...set(weight, f32x4.loadSplat(aAt(r))),
                ...Array.from({ length: vectors }, (_y, v) =>
                  set(accOf(r, v), math.madd(get(weight), get(bVectors[v]), get(accOf(r, v)))),
                ).flat(),
              ]).flat(),
            ];
      return [
        ...acc.slice(0, rows * vectors).flatMap((v) => set(v, f32x4.splat(f32.const(0)))),
        ...set(pa, get(rowA)),
        ...set(pb, plus(b, x)),
        ...forLoop(j, i32.const(0), get(n), 1, [
          ...products,
          ...set(pa, i32.add(get(pa), get(aCol))),
          ...set(pb, i32.add(get(pb), get(bRow))),
        ]),
        ...Array.from({ length: rows }, (_x, r) =>
          Array.from({ length: vectors }, (_y, v) => finish(accOf(r, v), r, v)).flat(),
        ).flat(),
      ];
    };
    const rowsFrom = (first: Code, step: number, last: Code, body: Code) =>
      forLoop(i, first, last, step, [...set(rowA, at(a, i, aRow)), ...set(rowC, at(c, i, cRow)), ...body]);
    // Tiles of `rows` rows from row `first` while that many rows are left: `widths[0]` vectors wide
    // while they fit, then the narrower widths in turn over the columns left (one vector wide while
    // any column is left).
    const rowTiles = (first: Code, rows: number, widths: number[]) =>
      rowsFrom(
        first,
        rows,
        rows === 1 ? get(m) : i32.add(get(m), i32.const(1 - rows)),
        widths.flatMap((vectors, k) => {
          const last = vectors === 1 ? get(width) : i32.add(get(width), i32.const(1 - 16 * vectors));
          return forLoop(x, k === 0 ? i32.const(0) : get(x), last, 16 * vectors, tile(rows, vectors));
        }),
      );
    return math.relaxed
      ? [...rowTiles(i32.const(0), 3, [3, 2, 1]), ...rowTiles(get(i), 2, [4, 1]), ...rowTiles(get(i), 1, [4, 1])]
      : [...rowTiles(i32.const(0), 4, [2, 1]), ...rowTiles(get(i), 1, [4, 1])];
  },
);

/**
 * How many rows of C `axpyRows` computes in whole tiles with none left over: `inRowBlocks`
 * (matmul.ts) cuts a product's rows for the threads at multiples of it, where rows left over would
 * go one at a time. Two 3-row tiles with relaxed SIMD, one 4-row tile without (see `axpyRows`).
 */
export function productRowBlock(): number {
  return relaxedSimdKernels() ? 6 : 4;
}

/**
 * Layer normalization of `rows` rows of `width` bytes (count floats, as an f32) at x: per row
 * mean and biased variance, xHat = (x - mean) / sqrt(var + epsilon), y = xHat * gamma + beta,
 * and inverseStd[r] = 1 / sqrt(var + epsilon). y, xHat and inverseStd are contiguous.
 */
const layerNormRows = defineKernel(
  'layerNormRows',
  ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'f32'],
  ['i32', 'i32', 'v128', 'f32', 'f32', 'v128'],
  ([x, gamma, beta, y, xHat, inverseStd, rows, width, count, epsilon], [r, e, acc, mean, inv, centered], math) =>
    forLoop(r, i32.const(0), get(rows), 1, [
      ...set(acc, f32x4.splat(f32.const(0))),
      ...forLoop(e, i32.const(0), get(width), 16, set(acc, f32x4.add(get(acc), f32x4.load(plus(x, e))))),
      ...set(mean, f32.div(laneSum(acc), get(count))),
      ...set(acc, f32x4.splat(f32.const(0))),
      ...forLoop(e, i32.const(0), get(width), 16, [
        ...set(centered, f32x4.sub(f32x4.load(plus(x, e)), f32x4.splat(get(mean)))),
        ...set(acc, math.madd(get(centered), get(centered), get(acc))),
      ]),
      ...set(inv, f32.div(f32.const(1), f32.sqrt(f32.add(f32.div(laneSum(acc), get(count)), get(epsilon))))),
      ...f32.store(get(inverseStd), get(inv)),
      ...forLoop(e, i32.const(0), get(width), 16, [
        ...set(centered, f32x4.mul(f32x4.sub(f32x4.load(plus(x, e)), f32x4.splat(get(mean))), f32x4.splat(get(inv)))),
        ...f32x4.store(plus(xHat, e), get(centered)),
        ...f32x4.store(plus(y, e), math.madd(get(centered), f32x4.load(plus(gamma, e)), f32x4.load(plus(beta, e)))),
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
const layerNormRowsBackward = defineKernel(
  'layerNormRowsBackward',
  ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32'],
  ['i32', 'i32', 'v128', 'v128', 'v128', 'v128', 'f32', 'f32'],
  (
    [dy, xHat, inverseStd, gamma, dx, dGamma, dBeta, rows, width, count],
    [r, e, g, dxHat, sum, sumXHat, meanDxHat, meanDxHatXHat],
    math,
  ) =>
    forLoop(r, i32.const(0), get(rows), 1, [
      ...set(sum, f32x4.splat(f32.const(0))),
      ...set(sumXHat, f32x4.splat(f32.const(0))),
      ...forLoop(e, i32.const(0), get(width), 16, [
        ...set(g, f32x4.load(plus(dy, e))),
        ...set(dxHat, f32x4.mul(get(g), f32x4.load(plus(gamma, e)))),
        ...set(sum, f32x4.add(get(sum), get(dxHat))),
        ...set(sumXHat, math.madd(get(dxHat), f32x4.load(plus(xHat, e)), get(sumXHat))),
        ...f32x4.store(plus(dGamma, e), math.madd(get(g), f32x4.load(plus(xHat, e)), f32x4.load(plus(dGamma, e)))),
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
 * 1.5 * 2^23: added to a float of magnitude below 2^22, it leaves that float rounded to the
 * nearest integer n in the sum's low mantissa bits, so that the sum's bits are this constant's
 * plus n (XNNPACK's expf kernels: the "magic bias").
 */
const ROUNDING_BIAS = 12582912;

/**
 * The range reduction of both exponentials below, x = n ln2 + r with |r| <= ln2 / 2 (Cephes's
 * expf): n is rounded by adding ROUNDING_BIAS, whose sum, left in `n`, also holds n in its low
 * bits; `r` gets n as a float, then x - n ln2, with ln2 split in two so that n * 0.693359375 is
 * exact. That is 3 instructions where `nearest` and a saturating float-to-integer conversion take
 * 8 on x64. `x` is read twice.
 */
function reduceExp(x: Code, n: Local, r: Local, math: Arithmetic, c: VectorConstants): Code {
  return [
    ...set(n, math.madd(x, c.f32(Math.LOG2E), c.f32(ROUNDING_BIAS))),
    ...set(r, f32x4.sub(get(n), c.f32(ROUNDING_BIAS))),
    ...set(r, math.madd(get(r), c.f32(2.1219444e-4), math.madd(get(r), c.f32(-0.693359375), x))),
  ];
}

/**
 * 2^e lane-wise for integer lanes e from -126 to 127, built in the exponent bits: (e + 127) << 23.
 * Only the low 9 bits of e + 127 reach the result, so ROUNDING_BIAS's sum can stand for its n.
 */
const twoToThe = (e: Code, c: VectorConstants): Code => i32x4.shl(i32x4.add(e, c.i32(127)), i32.const(23));

/**
 * e^x lane-wise for x <= 0 (scores shifted by their row maximum): `reduceExp`, e^r by its Taylor
 * polynomial to r^6 (relative error ~1e-7, float32's rounding), times 2^n. Lanes below EXP_FLOOR
 * give exactly 0, as masked scores must; a NaN lane stays NaN (so a softmax row with a NaN is NaN
 * throughout, as tf.softmax's).
 */
function expLanes(x: Local, n: Local, r: Local, math: Arithmetic, c: VectorConstants): Code {
  // pmax: x's own value where it is NaN too, as max.
  const clamped = f32x4.pmax(get(x), c.f32(EXP_FLOOR));
  // From the highest coefficient: 0 * r + 1/720 is 1/720 for every finite r.
  const horner = [1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1].reduce<Code>(
    (acc, coefficient) => math.madd(acc, get(r), c.f32(coefficient)),
    c.f32(1 / 720),
  );
  const twoToTheN = twoToThe(get(n), c);
  return [
    ...reduceExp(clamped, n, r, math, c),
    ...v128.andnot(f32x4.mul(horner, twoToTheN), f32x4.lt(get(x), c.f32(EXP_FLOOR))),
  ];
}

/** Cephes's expf: e^r - 1 - r = r^2 P(r) for |r| <= ln2 / 2, P's coefficients from the highest. */
const EXP_MINIMAX = [
  1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1,
];

/** exp(x) is +Infinity above this (e^89 > float32's largest), 0 below EXP_ANY_FLOOR (e^-104 < its smallest). */
const EXP_ANY_CEILING = 89;
const EXP_ANY_FLOOR = -104;

/**
 * e^x lane-wise for any x, as tfjs's Exp needs: x clamped to [EXP_ANY_FLOOR, EXP_ANY_CEILING] (NaN
 * stays NaN), `reduceExp`, e^r by Cephes's minimax polynomial (EXP_MINIMAX), and 2^n as 2^(n >> 1)
 * times 2^(n - (n >> 1)), two factors that stay normal floats for n from -150 to 128: results
 * below float32's smallest normal number come out subnormal, rounded once, and above its largest
 * as +Infinity. Within 1 ulp of e^x correctly rounded, with and without fused multiply-adds
 * (test/kernels/exp.test.ts checks 146,000 points from -110 to 90). `x` is overwritten.
 */
function expAnyLanes(x: Local, n: Local, r: Local, math: Arithmetic, c: VectorConstants): Code {
  // e^r = 1 + (r + r^2 P(r)), the small part summed first.
  const [highest, ...rest] = EXP_MINIMAX;
  const p = rest.reduce<Code>((acc, coefficient) => math.madd(acc, get(r), c.f32(coefficient)), c.f32(highest));
  const expR = f32x4.add(math.madd(p, f32x4.mul(get(r), get(r)), get(r)), c.f32(1));
  return [
    ...set(x, f32x4.pmin(f32x4.pmax(get(x), c.f32(EXP_ANY_FLOOR)), c.f32(EXP_ANY_CEILING))),
    ...reduceExp(get(x), n, r, math, c),
    // n as an integer in n (the sum's bits less the bias's bits), and n >> 1 in x.
    ...set(n, i32x4.sub(get(n), c.f32(ROUNDING_BIAS))),
    ...set(x, i32x4.shrS(get(n), i32.const(1))),
    ...f32x4.mul(f32x4.mul(expR, twoToThe(get(x), c)), twoToThe(i32x4.sub(get(n), get(x)), c)),
  ];
}

/** e^x over the floats in [x, x + bytes) to y (bytes a multiple of 16), for any x (`expAnyLanes`). */
const expForward = defineKernel(
  'expForward',
  ['i32', 'i32', 'i32'],
  ['i32', 'v128', 'v128', 'v128'],
  ([x, y, bytes], [at, value, n, r], math, c) =>
    forLoop(at, i32.const(0), get(bytes), 16, [
      ...set(value, f32x4.load(plus(x, at))),
      ...f32x4.store(plus(y, at), expAnyLanes(value, n, r, math, c)),
    ]),
);

/** Put in the padding columns of a block of scores: below EXP_FLOOR, so its exponential is 0. */
const PAD_SCORE = -1e30;

/** The largest of a vector's four lanes. */
const laneMax = (vector: Local): Code =>
  f32.max(
    f32.max(f32x4.extractLane(get(vector), 0), f32x4.extractLane(get(vector), 1)),
    f32.max(f32x4.extractLane(get(vector), 2), f32x4.extractLane(get(vector), 3)),
  );

/**
 * Rows of a block of scores are `width` bytes apart (a multiple of 16) and hold `count` real
 * scores; the floats from `count` to the row's end are padding, written here so they drop out.
 */
const padRow = (row: Local, count: Local, width: Local, address: Local, value: number): Code =>
  forLoop(address, i32.add(get(row), i32.mul(get(count), i32.const(4))), plus(row, width), 4, [
    ...f32.store(get(address), f32.const(value)),
  ]);

/**
 * The softmax of each of `rows` rows of scores at p, in place (rows as in `padRow`): the row's
 * maximum, e^(score - maximum), their sum, and each divided by the sum; the padding ends as 0.
 * Each row's maximum and sum go to `stats` as a pair of floats (the backward's recomputation
 * needs them).
 */
const softmaxRows = defineKernel(
  'softmaxRows',
  ['i32', 'i32', 'i32', 'i32', 'i32'],
  ['i32', 'i32', 'v128', 'v128', 'v128', 'v128', 'f32', 'f32'],
  ([p, rows, count, width, stats], [r, address, x, n, e, sums, max, sum], math, c) =>
    forLoop(r, i32.const(0), get(rows), 1, [
      ...padRow(p, count, width, address, PAD_SCORE),
      ...set(sums, f32x4.splat(f32.const(-Infinity))),
      // pmax, one instruction where max takes eight: a NaN it drops still makes its row NaN
      // through its exponential (expLanes).
      ...forLoop(address, get(p), plus(p, width), 16, set(sums, f32x4.pmax(get(sums), f32x4.load(get(address))))),
      ...set(max, laneMax(sums)),
      ...set(sums, f32x4.splat(f32.const(0))),
      ...forLoop(address, get(p), plus(p, width), 16, [
        ...set(x, f32x4.sub(f32x4.load(get(address)), f32x4.splat(get(max)))),
        ...set(e, expLanes(x, n, e, math, c)),
        ...f32x4.store(get(address), get(e)),
        ...set(sums, f32x4.add(get(sums), get(e))),
      ]),
      ...set(sum, laneSum(sums)),
      // Times 1 / sum: a multiply where a vector division takes several cycles.
      ...set(sums, f32x4.splat(f32.div(f32.const(1), get(sum)))),
      ...forLoop(address, get(p), plus(p, width), 16, [
        ...f32x4.store(get(address), f32x4.mul(f32x4.load(get(address)), get(sums))),
      ]),
      ...f32.store(get(stats), get(max)),
      ...f32.store(i32.add(get(stats), i32.const(4)), get(sum)),
      ...advance(stats, i32.const(8)),
      ...advance(p, get(width)),
    ]),
);

/**
 * The backward's recomputation of the forward's probabilities from each row's scores at p (rows
 * as in `padRow`) and the forward's maximum and log of the sum (`stats`, pairs of floats):
 * e^min(score - maximum - logSum, 0), in place; the padding ends as 0.
 */
const expShiftedRows = defineKernel(
  'expShiftedRows',
  ['i32', 'i32', 'i32', 'i32', 'i32'],
  ['i32', 'i32', 'v128', 'v128', 'v128', 'v128'],
  ([p, rows, count, width, stats], [r, address, x, n, e, shift], math, c) =>
    forLoop(r, i32.const(0), get(rows), 1, [
      ...set(shift, f32x4.splat(f32.add(f32.load(get(stats)), f32.load(i32.add(get(stats), i32.const(4)))))),
      ...forLoop(address, get(p), plus(p, width), 16, [
        // pmin: as min, -0 and NaN included (b < a ? b : a with b = +0).
        ...set(x, f32x4.pmin(f32x4.sub(f32x4.load(get(address)), get(shift)), c.f32(0))),
        ...f32x4.store(get(address), expLanes(x, n, e, math, c)),
      ]),
      ...padRow(p, count, width, address, 0),
      ...advance(stats, i32.const(8)),
      ...advance(p, get(width)),
    ]),
);

/**
 * Through the softmax, in place: with P the probabilities at p and dP the gradient at d, `rows`
 * rows of `width` bytes each, dP becomes dScore = P * (dP - rowsum(P * dP)).
 */
const softmaxBackwardRows = defineKernel(
  'softmaxBackwardRows',
  ['i32', 'i32', 'i32', 'i32'],
  ['i32', 'i32', 'v128', 'v128'],
  ([p, d, rows, width], [r, x, sums, weighted], math) =>
    forLoop(r, i32.const(0), get(rows), 1, [
      ...set(sums, f32x4.splat(f32.const(0))),
      ...forLoop(x, i32.const(0), get(width), 16, [
        ...set(sums, math.madd(f32x4.load(plus(p, x)), f32x4.load(plus(d, x)), get(sums))),
      ]),
      ...set(weighted, f32x4.splat(laneSum(sums))),
      ...forLoop(x, i32.const(0), get(width), 16, [
        ...f32x4.store(plus(d, x), f32x4.mul(f32x4.load(plus(p, x)), f32x4.sub(f32x4.load(plus(d, x)), get(weighted)))),
      ]),
      ...advance(p, get(width)),
      ...advance(d, get(width)),
    ]),
);

/**
 * Adds a bias to `rows` rows of `width` bytes at c, in place: row i gets the floats from
 * bias + i*biasRow when `perColumn` is 1, or the one float at bias + i*biasRow in every column
 * when it is 0 (a mask that broadcasts over keys), each taken as bias * scale + shift (a mask m
 * of 1 = may attend becomes the scores' bias (1 - m) * MASKED_SCORE with scale -MASKED_SCORE and
 * shift MASKED_SCORE).
 */
const addRowBias = defineKernel(
  'addRowBias',
  ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'f32'],
  ['i32', 'i32', 'v128', 'v128'],
  ([c, rows, width, bias, biasRow, perColumn, scale, shift], [r, x, scales, shifts], math) => [
    ...set(scales, f32x4.splat(get(scale))),
    ...set(shifts, f32x4.splat(get(shift))),
    ...forLoop(r, i32.const(0), get(rows), 1, [
      ...ifElse(
        get(perColumn),
        forLoop(x, i32.const(0), get(width), 16, [
          ...f32x4.store(
            plus(c, x),
            f32x4.add(f32x4.load(plus(c, x)), math.madd(f32x4.load(plus(bias, x)), get(scales), get(shifts))),
          ),
        ]),
        forLoop(x, i32.const(0), get(width), 16, [
          ...f32x4.store(
            plus(c, x),
            f32x4.add(f32x4.load(plus(c, x)), math.madd(f32x4.loadSplat(get(bias)), get(scales), get(shifts))),
          ),
        ]),
      ),
      ...advance(c, get(width)),
      ...advance(bias, get(biasRow)),
    ]),
  ],
);

/** Abramowitz & Stegun 7.1.26, the erf of tfjs's own kernels (absolute error <= 1.5e-7). */
const ERF_P = 0.3275911;
const ERF_A = [0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429];

/**
 * Lane-wise Phi(x) = (1 + erf(x / sqrt 2)) / 2 and the density phi(x) = e^(-x^2/2) / sqrt(2 pi),
 * left in `cdf` and `pdf`; `z`, `t`, `n` and `r` are scratch. erf(|z|) = 1 - poly(t) e^(-z^2)
 * with t = 1 / (1 + p |z|), and e^(-z^2) = e^(-x^2/2) is the density's exponential too.
 */
function normalLanes(
  x: Local,
  cdf: Local,
  pdf: Local,
  [z, t, n, r]: Local[],
  math: Arithmetic,
  c: VectorConstants,
): Code {
  // |v|, -v and |magnitude| with sign's sign (no f32x4 copysign in SIMD) by their bits, masks from the constants.
  const abs = (v: Code) => v128.and(v, c.i32(0x7fffffff));
  const negative = (v: Code) => v128.xor(v, c.i32(0x80000000 | 0));
  const copySign = (magnitude: Code, sign: Code) => v128.or(abs(magnitude), v128.and(sign, c.i32(0x80000000 | 0)));
  // From the highest coefficient: 0 * t + a5 is a5 for every finite t.
  const [highest, ...rest] = [...ERF_A].reverse();
  const poly = rest.reduce<Code>((acc, a) => math.madd(acc, get(t), c.f32(a)), c.f32(highest));
  return [
    ...set(z, abs(f32x4.mul(get(x), c.f32(Math.SQRT1_2)))),
    ...set(t, f32x4.div(c.f32(1), f32x4.add(c.f32(1), f32x4.mul(get(z), c.f32(ERF_P))))),
    ...set(pdf, negative(f32x4.mul(get(z), get(z)))),
    ...set(pdf, expLanes(pdf, n, r, math, c)),
    // erf(|z|), then its sign: 0.5 * (1 + sign(x) erf(|z|)).
    ...set(cdf, f32x4.sub(c.f32(1), f32x4.mul(f32x4.mul(poly, get(t)), get(pdf)))),
    ...set(cdf, f32x4.mul(c.f32(0.5), f32x4.add(c.f32(1), copySign(get(cdf), get(x))))),
    ...set(pdf, f32x4.mul(get(pdf), c.f32(1 / Math.sqrt(2 * Math.PI)))),
  ];
}

/** Exact GELU over the floats in [x, x + bytes) (a multiple of 16): y = x Phi(x). */
const geluForward = defineKernel(
  'geluForward',
  ['i32', 'i32', 'i32'],
  ['i32', 'v128', 'v128', 'v128', 'v128', 'v128', 'v128', 'v128'],
  ([x, y, bytes], [at, value, cdf, pdf, ...scratch], math, c) =>
    forLoop(at, i32.const(0), get(bytes), 16, [
      ...set(value, f32x4.load(plus(x, at))),
      ...normalLanes(value, cdf, pdf, scratch, math, c),
      ...f32x4.store(plus(y, at), f32x4.mul(get(value), get(cdf))),
    ]),
);

/** GELU's gradient over `bytes` of x and dy: dx = dy (Phi(x) + x phi(x)). */
const geluBackward = defineKernel(
  'geluBackward',
  ['i32', 'i32', 'i32', 'i32'],
  ['i32', 'v128', 'v128', 'v128', 'v128', 'v128', 'v128', 'v128'],
  ([x, dy, dx, bytes], [at, value, cdf, pdf, ...scratch], math, c) =>
    forLoop(at, i32.const(0), get(bytes), 16, [
      ...set(value, f32x4.load(plus(x, at))),
      ...normalLanes(value, cdf, pdf, scratch, math, c),
      ...f32x4.store(plus(dx, at), f32x4.mul(f32x4.load(plus(dy, at)), math.madd(get(value), get(pdf), get(cdf)))),
    ]),
);

/** max(x, 0) in place over the floats in [p, p + bytes), bytes a multiple of 16. */
const reluInPlace = defineKernel('reluInPlace', ['i32', 'i32'], ['i32'], ([p, bytes], [at]) =>
  forLoop(at, get(p), i32.add(get(p), get(bytes)), 16, [
    ...f32x4.store(get(at), f32x4.max(f32x4.load(get(at)), f32x4.splat(f32.const(0)))),
  ]),
);

/**
 * Zeros `bytes` bytes from `address`: memory.fill, several times faster than a typed array's `fill`
 * on a shared memory.
 */
const zeroFill = defineKernel('zeroFill', ['i32', 'i32'], [], ([address, bytes]) =>
  bulkMemory.fill(get(address), i32.const(0), get(bytes)),
);

/** `bytes` bytes from `source` to `destination` (memory.copy: as memmove). */
const copyBytes = defineKernel('copyBytes', ['i32', 'i32', 'i32'], [], ([destination, source, bytes]) =>
  bulkMemory.copy(get(destination), get(source), get(bytes)),
);

/** The gradient through relu over `bytes` of its output y and dy: dx = dy where y > 0, else 0. */
const reluBackward = defineKernel('reluBackward', ['i32', 'i32', 'i32', 'i32'], ['i32'], ([y, dy, dx, bytes], [at]) =>
  forLoop(at, i32.const(0), get(bytes), 16, [
    ...f32x4.store(
      plus(dx, at),
      v128.and(f32x4.load(plus(dy, at)), f32x4.gt(f32x4.load(plus(y, at)), f32x4.splat(f32.const(0)))),
    ),
  ]),
);

/**
 * Copies `rows` rows of `count` floats from src to dst (row starts `srcRow` and `dstRow` bytes
 * apart), then writes zeros in each dst row from `count` up to `padTo` floats (a block's padding).
 */
const copyRows = defineKernel(
  'copyRows',
  ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'],
  ['i32', 'i32'],
  ([src, srcRow, dst, dstRow, rows, count, padTo], [r, x]) =>
    forLoop(r, i32.const(0), get(rows), 1, [
      // Whole vectors while 16 bytes remain (x < 4 count - 12), then the last floats one at a time.
      ...forLoop(x, i32.const(0), i32.add(i32.mul(get(count), i32.const(4)), i32.const(-12)), 16, [
        ...f32x4.store(plus(dst, x), f32x4.load(plus(src, x))),
      ]),
      ...forLoop(x, get(x), i32.mul(get(count), i32.const(4)), 4, [...f32.store(plus(dst, x), f32.load(plus(src, x)))]),
      ...forLoop(x, get(x), i32.mul(get(padTo), i32.const(4)), 4, [...f32.store(plus(dst, x), f32.const(0))]),
      ...advance(src, get(srcRow)),
      ...advance(dst, get(dstRow)),
    ]),
);

/**
 * Writes the transpose of a `rows` x `columns` matrix of floats at src (rows `srcRow` bytes
 * apart) to dst (its rows, one per column of src, `dstRow` bytes apart). Sixteen rows of src at a
 * time, four columns at a time: four 4 x 4 blocks, each transposed in registers, fill a whole cache
 * line of each of four rows of dst, and the sixteen source rows stay in cache while their columns
 * are read (rows of dst a multiple of 4 kB apart share cache sets: a line written a quarter at a
 * time is fetched again and again). The last rows go four at a time, and the columns and rows that
 * do not fill a vector one float at a time.
 */
const transposeRows = defineKernel(
  'transposeRows',
  ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'],
  ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', ...Array<'v128'>(8).fill('v128')],
  ([src, srcRow, dst, dstRow, rows, columns], [r0, rEnd, e, r, from, to, ...v]) => {
    const [a, b, c, d, ab0, ab1, cd0, cd1] = v;
    // Rows r0 + 4q + i of src from column e, to columns r0 + 4q.. of rows e + i of dst.
    const source = (q: number, i: number) => i32.add(get(from), i32.mul(get(srcRow), i32.const(4 * q + i)));
    const target = (i: number) => i32.add(get(to), i32.mul(get(dstRow), i32.const(i)));
    const block = (q: number) => [
      ...[a, b, c, d].flatMap((row, i) => set(row, f32x4.load(source(q, i)))),
      // Lanes interleaved in pairs, then pairs of pairs: dst row i gets lane i of a, b, c, d.
      ...set(ab0, f32x4.shuffle(get(a), get(b), [0, 4, 1, 5])),
      ...set(ab1, f32x4.shuffle(get(a), get(b), [2, 6, 3, 7])),
      ...set(cd0, f32x4.shuffle(get(c), get(d), [0, 4, 1, 5])),
      ...set(cd1, f32x4.shuffle(get(c), get(d), [2, 6, 3, 7])),
      ...f32x4.store(target(0), f32x4.shuffle(get(ab0), get(cd0), [0, 1, 4, 5]), 16 * q),
      ...f32x4.store(target(1), f32x4.shuffle(get(ab0), get(cd0), [2, 3, 6, 7]), 16 * q),
      ...f32x4.store(target(2), f32x4.shuffle(get(ab1), get(cd1), [0, 1, 4, 5]), 16 * q),
      ...f32x4.store(target(3), f32x4.shuffle(get(ab1), get(cd1), [2, 3, 6, 7]), 16 * q),
    ];
    const at = (column: Code) => [
      ...set(from, i32.add(i32.add(get(src), i32.mul(get(r0), get(srcRow))), i32.mul(column, i32.const(4)))),
      ...set(to, i32.add(i32.add(get(dst), i32.mul(column, get(dstRow))), i32.mul(get(r0), i32.const(4)))),
    ];
    // A group of `blocks` x 4 rows from r0: whole blocks of 4 columns, then the other columns one by one.
    const group = (blocks: number) => [
      ...forLoop(e, i32.const(0), i32.add(get(columns), i32.const(-3)), 4, [
        ...at(get(e)),
        ...Array.from({ length: blocks }, (_x, q) => block(q)).flat(),
      ]),
      ...forLoop(e, get(e), get(columns), 1, [
        ...at(get(e)),
        ...forLoop(r, get(r0), i32.add(get(r0), i32.const(4 * blocks)), 1, [
          ...f32.store(get(to), f32.load(get(from))),
          ...advance(from, get(srcRow)),
          ...advance(to, i32.const(4)),
        ]),
      ]),
    ];
    return [
      ...forLoop(r0, i32.const(0), i32.add(get(rows), i32.const(-15)), 16, group(4)),
      ...forLoop(r0, get(r0), i32.add(get(rows), i32.const(-3)), 4, group(1)),
      // The last rows mod 4, one float at a time.
      ...set(rEnd, get(rows)),
      ...forLoop(e, i32.const(0), get(columns), 1, [
        ...at(get(e)),
        ...forLoop(r, get(r0), get(rEnd), 1, [
          ...f32.store(get(to), f32.load(get(from))),
          ...advance(from, get(srcRow)),
          ...advance(to, i32.const(4)),
        ]),
      ]),
    ];
  },
);

/** Adam's hyperparameters of one step, as the floats of the block `adamUpdate` reads, in this order. */
export const ADAM_PARAMETERS = [
  'gradientScale',
  'beta1',
  'oneMinusBeta1',
  'beta2',
  'oneMinusBeta2',
  'stepSize',
  'rootCorrection',
  'epsilon',
] as const;

/**
 * Adam's update (train/adam.ts) of the weights at w and their first and second moments at m and v,
 * `bytes` of each, in place, from the gradient at g, with the hyperparameters of the block at
 * `parameters` (ADAM_PARAMETERS) and the weights' decay factor `keep`:
 *
 *     g' = g gradientScale,  m = beta1 m + (1 - beta1) g',  v = beta2 v + (1 - beta2) g'^2,
 *     w = keep w - stepSize m / (sqrt(v) rootCorrection + epsilon)
 */
const adamUpdate = defineKernel(
  'adamUpdate',
  ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32'],
  ['i32', 'v128', 'v128', 'v128', 'v128', ...ADAM_PARAMETERS.map((): 'v128' => 'v128')],
  ([w, g, m, v, bytes, parameters, keep], [at, grad, first, second, decay, ...constants], math) => {
    const [scale, beta1, oneMinusBeta1, beta2, oneMinusBeta2, stepSize, rootCorrection, epsilon] = constants;
    return [
      ...constants.flatMap((constant, i) => set(constant, f32x4.loadSplat(get(parameters), 4 * i))),
      ...set(decay, f32x4.splat(get(keep))),
      ...forLoop(at, i32.const(0), get(bytes), 16, [
        ...set(grad, f32x4.mul(f32x4.load(plus(g, at)), get(scale))),
        ...set(first, math.madd(get(beta1), f32x4.load(plus(m, at)), f32x4.mul(get(oneMinusBeta1), get(grad)))),
        ...set(
          second,
          math.madd(
            get(beta2),
            f32x4.load(plus(v, at)),
            f32x4.mul(get(oneMinusBeta2), f32x4.mul(get(grad), get(grad))),
          ),
        ),
        ...f32x4.store(plus(m, at), get(first)),
        ...f32x4.store(plus(v, at), get(second)),
        ...f32x4.store(
          plus(w, at),
          f32x4.sub(
            f32x4.mul(f32x4.load(plus(w, at)), get(decay)),
            f32x4.div(
              f32x4.mul(get(stepSize), get(first)),
              math.madd(f32x4.sqrt(get(second)), get(rootCorrection), get(epsilon)),
            ),
          ),
        ),
      ]),
    ];
  },
);

export interface SimdKernels {
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
  /** See `softmaxRows` above; p, width and stats in bytes, count in floats. */
  softmaxRows(p: number, rows: number, count: number, width: number, stats: number): void;
  /** See `expShiftedRows` above; p, width and stats in bytes, count in floats. */
  expShiftedRows(p: number, rows: number, count: number, width: number, stats: number): void;
  /** See `softmaxBackwardRows` above; addresses and width in bytes. */
  softmaxBackwardRows(p: number, d: number, rows: number, width: number): void;
  /** See `addRowBias` above; addresses, width and biasRow in bytes, perColumn 0 or 1. */
  addRowBias(
    c: number,
    rows: number,
    width: number,
    bias: number,
    biasRow: number,
    perColumn: number,
    scale: number,
    shift: number,
  ): void;
  /** See `copyRows` above; addresses and row strides in bytes, count and padTo in floats. */
  copyRows(src: number, srcRow: number, dst: number, dstRow: number, rows: number, count: number, padTo: number): void;
  /** See `transposeRows` above; addresses and row strides in bytes. */
  transposeRows(src: number, srcRow: number, dst: number, dstRow: number, rows: number, columns: number): void;
  /** See `geluForward` above; addresses and bytes in bytes. */
  geluForward(x: number, y: number, bytes: number): void;
  /** See `expForward` above; addresses and bytes in bytes. */
  expForward(x: number, y: number, bytes: number): void;
  /** See `geluBackward` above; addresses and bytes in bytes. */
  geluBackward(x: number, dy: number, dx: number, bytes: number): void;
  /** max(x, 0) in place over the floats in [p, p + bytes); bytes a multiple of 16. */
  reluInPlace(p: number, bytes: number): void;
  /** See `zeroFill` above; address and bytes in bytes. */
  zeroFill(address: number, bytes: number): void;
  /** See `reluBackward` above; addresses and bytes in bytes. */
  reluBackward(y: number, dy: number, dx: number, bytes: number): void;
  /** See `adamUpdate` above; addresses and bytes in bytes. */
  adamUpdate(w: number, g: number, m: number, v: number, bytes: number, parameters: number, keep: number): void;
  /** See `copyBytes` above; addresses and bytes in bytes. */
  copyBytes(destination: number, source: number, bytes: number): void;
  /** The module's memory as floats; valid until the next `reserve`. */
  floats: Float32Array;
  /** Makes the memory hold at least `count` floats (growing it detaches the old `floats`). */
  reserve(count: number): void;
}

/** Every function of the module, in the order of its exports. */
export const KERNEL_FUNCTIONS = [
  axpyRows,
  softmaxRows,
  expShiftedRows,
  softmaxBackwardRows,
  addRowBias,
  copyRows,
  transposeRows,
  geluForward,
  geluBackward,
  reluInPlace,
  reluBackward,
  zeroFill,
  layerNormRows,
  layerNormRowsBackward,
  adamUpdate,
  expForward,
  copyBytes,
];

const PAGE_BYTES = 65536;

/** The compiled module once `simdKernels` has run: null where it cannot, undefined before. */
let compiled: SimdKernels | null | undefined;
/** The compiled module, its memory (`shared` when threads can use it) and its arithmetic. */
interface CompiledModule {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  shared: boolean;
  /** Assembled with relaxed SIMD's fused multiply-add (`Arithmetic`). */
  relaxed: boolean;
}

/** The module and its memory, for the worker threads of threads.ts. */
let compiledModule: CompiledModule | null = null;

/**
 * The compiled module, or null where WebAssembly or its SIMD extension is unavailable (then
 * callers use their composite path). Compiled on the first call; one instance per thread, all on
 * one memory (threads.ts).
 */
export function simdKernels(): SimdKernels | null {
  if (compiled === undefined) compiled = compileSimdKernels();
  return compiled;
}

/** The module and its memory (`shared` when threads can use it), or null like `simdKernels`. */
export function simdModule(): CompiledModule | null {
  return simdKernels() && compiledModule;
}

/**
 * Whether the SIMD kernels run relaxed SIMD's fused multiply-add (`f32x4.relaxed_madd`): where
 * the engine has relaxed SIMD (Chrome 114 and later, Node 22 and later; Node 20 with V8's
 * `--experimental-wasm-relaxed-simd`, which this library never sets). False where WebAssembly
 * SIMD is missing altogether. Compiles the kernels if they are not yet.
 */
export function relaxedSimdKernels(): boolean {
  return simdModule()?.relaxed ?? false;
}

/**
 * The largest shared memories to try, in pages: 4 GB (all that 32-bit addresses reach), then
 * 1 GB where the runtime cannot reserve that much address space. A shared memory must declare
 * its maximum, and it never moves, so the runtime reserves the maximum up front.
 */
const SHARED_MAXIMUM_PAGES = [65536, 16384];

/**
 * The module's bytes for a memory of `sharedMaxPages` (see `assembleModule`): with relaxed SIMD's
 * arithmetic where the engine validates it, else with separate multiplies and adds; null where
 * neither validates (no WebAssembly SIMD).
 */
function moduleBytes(sharedMaxPages?: number): { bytes: Uint8Array<ArrayBuffer>; relaxed: boolean } | null {
  for (const math of ARITHMETICS) {
    const constants = new VectorConstants();
    const bytes = assembleModule(
      KERNEL_FUNCTIONS.map((kernel) => kernel.assemble(math, constants)),
      sharedMaxPages,
      constants,
    );
    if (WebAssembly.validate(bytes)) return { bytes, relaxed: math.relaxed };
  }
  return null;
}

/**
 * A shared memory and the module assembled for it where SharedArrayBuffer is usable (Node; a
 * cross-origin isolated page), else a memory of this thread's own.
 */
function instantiate(): CompiledModule | null {
  if (heap !== null) {
    const assembled = moduleBytes(heap.maximumPages);
    if (assembled === null) return null;
    return {
      module: new WebAssembly.Module(assembled.bytes),
      memory: heap.memory,
      shared: true,
      relaxed: assembled.relaxed,
    };
  }
  const sharable =
    typeof SharedArrayBuffer === 'function' && (typeof crossOriginIsolated === 'undefined' || crossOriginIsolated);
  if (sharable) {
    for (const maximum of SHARED_MAXIMUM_PAGES) {
      const assembled = moduleBytes(maximum);
      if (assembled === null) return null;
      try {
        const memory = new WebAssembly.Memory({ initial: 16, maximum, shared: true });
        return { module: new WebAssembly.Module(assembled.bytes), memory, shared: true, relaxed: assembled.relaxed };
      } catch {
        // Too much address space to reserve here: try the smaller maximum, then no sharing.
      }
    }
  }
  const assembled = moduleBytes();
  if (assembled === null) return null;
  const memory = new WebAssembly.Memory({ initial: 16 });
  return { module: new WebAssembly.Module(assembled.bytes), memory, shared: false, relaxed: assembled.relaxed };
}

function compileSimdKernels(): SimdKernels | null {
  if (typeof WebAssembly !== 'object') return null;
  compiledModule = instantiate();
  if (compiledModule === null) return null;
  const { module, memory } = compiledModule;
  // Not named `exports`: compiled to CommonJS, KERNEL_FUNCTIONS below is read from the module's `exports`.
  const functions = new WebAssembly.Instance(module, { env: { memory } }).exports;
  // Every function of KERNEL_FUNCTIONS by its name, as SimdKernels declares it.
  const calls = Object.fromEntries(KERNEL_FUNCTIONS.map(({ name }) => [name, functions[name]]));
  if (heap !== null) heap.arena = allocateArena(heap);
  const state: SimdKernels = {
    ...(calls as unknown as Omit<SimdKernels, 'floats' | 'reserve'>),
    floats: new Float32Array(memory.buffer),
    reserve(count: number) {
      if (heap?.arena != null) {
        const { start, end } = heap.arena;
        if (count > end)
          throw new Error(
            `the SIMD kernels need ${Math.ceil((4 * (count - start)) / 2 ** 20)} MB of the shared WebAssembly heap, ` +
              `more than the ${(4 * (end - start)) / 2 ** 20} MB they took at the start (initBackend's sharedHeap)`,
          );
        // tfjs's allocations grow the memory too: a view taken before covers the old length only.
        if (state.floats.length < count) state.floats = new Float32Array(memory.buffer);
        return;
      }
      const missing = count * 4 - memory.buffer.byteLength;
      if (missing <= 0) return;
      memory.grow(Math.ceil(missing / PAGE_BYTES));
      state.floats = new Float32Array(memory.buffer);
    },
  };
  return state;
}

/**
 * tfjs's heap when the kernels share it (shared_heap.ts): its memory, the most pages it may grow
 * to, its allocator, and the kernels' arena there once taken (in floats from the memory's start).
 */
interface Heap {
  memory: WebAssembly.Memory;
  maximumPages: number;
  malloc(bytes: number): number;
  arena?: { start: number; end: number };
}
let heap: Heap | null = null;

/**
 * The kernels' arena in tfjs's heap, the sizes of ARENA_MEGABYTES tried in turn: one block of
 * tfjs's allocator, taken once, where every region of the kernels goes (resident blocks, the kept
 * ring, each call's staging). Only tfjs's allocator may grow the memory (a memory grown by anything
 * else leaves tfjs's views of it short), and a block cannot grow in place, so the arena is as large
 * as a call could need: untouched pages of it cost address space, not memory. A gpt-char training
 * step uses 43 MB.
 */
const ARENA_MEGABYTES = [1024, 512, 256];

function allocateArena(from: Heap): { start: number; end: number } {
  for (const megabytes of ARENA_MEGABYTES) {
    const address = from.malloc(megabytes * 2 ** 20);
    if (address !== 0) {
      // Whole cache lines from a line's start.
      const start = roundUp(address / 4, LINE);
      return { start, end: address / 4 + (megabytes * 2 ** 20) / 4 };
    }
  }
  throw new Error(`no ${ARENA_MEGABYTES[ARENA_MEGABYTES.length - 1]} MB block in the shared WebAssembly heap`);
}

/**
 * Puts the kernels' memory in tfjs's heap (shared_heap.ts): the module is assembled for `memory`
 * and instantiated on it, and the kernels take their regions from one block of `malloc`. Only
 * before the kernels have compiled; returns why it did nothing, or undefined.
 */
export function placeInHeap(shared: Omit<Heap, 'arena'>): string | undefined {
  const refused = heapRefused();
  if (refused === undefined) heap = { ...shared };
  return refused;
}

/**
 * Why `placeInHeap` would do nothing now, or undefined: the kernels have compiled (or found they
 * cannot), in a memory of their own.
 */
export function heapRefused(): string | undefined {
  return compiled === undefined ? undefined : 'the SIMD kernels have started already, in a memory of their own';
}

/** Whether the kernels' memory is tfjs's heap (`placeInHeap`), so that tensors' views are in it. */
export function inSharedHeap(): boolean {
  return heap !== null && compiled != null;
}

/**
 * Whether the SIMD kernels work in tfjs-backend-wasm's own memory (`initBackend`'s `sharedHeap`),
 * reading and writing tfjs's tensors where tfjs keeps them, rather than in a memory of their own.
 * Compiles the kernels if they are not yet.
 */
export function sharedHeapKernels(): boolean {
  return simdKernels() !== null && inSharedHeap();
}

/**
 * A block of the module's memory whose floats stay from one kernel call to the next (`stage` never
 * writes there): state a kernel keeps, such as Adam's moments (adam.ts). `start` (in floats) moves
 * when a block allocated before it is freed.
 */
export interface ResidentBlock {
  start: number;
  readonly length: number;
}

/** The resident blocks, in memory order from float 0; staging starts after the last. */
const residentBlocks: ResidentBlock[] = [];

/** Where the kernels' regions start: the arena in tfjs's heap, else the memory's start. */
const regionsStart = () => heap?.arena?.start ?? 0;

const residentEnd = () => {
  const last = residentBlocks[residentBlocks.length - 1];
  return last === undefined ? regionsStart() : last.start + last.length;
};

/** A resident block of `length` floats, zero-filled, after the others. */
export function allocateResident(length: number): ResidentBlock {
  const kernels = simdKernels()!;
  const block = { start: residentEnd(), length };
  kernels.reserve(block.start + length);
  kernels.floats.fill(0, block.start, block.start + length);
  residentBlocks.push(block);
  forgetStaged();
  return block;
}

/** Frees `block`: the blocks after it move down to close the gap (their `start` changes). */
export function freeResident(block: ResidentBlock): void {
  const index = residentBlocks.indexOf(block);
  if (index < 0) return;
  residentBlocks.splice(index, 1);
  const floats = simdKernels()!.floats;
  let end = index === 0 ? regionsStart() : residentBlocks[index - 1].start + residentBlocks[index - 1].length;
  for (const later of residentBlocks.slice(index)) {
    floats.copyWithin(end, later.start, later.start + later.length);
    later.start = end;
    end += later.length;
  }
  forgetStaged();
}

/**
 * Which tensor an array handed to `stage` or `unstage` holds: its data id, set by the caller that
 * took the array from the tensor (`identify`). A tensor's data never changes under its data id,
 * except a key/value cache written in place (cache_update.ts), which says so (`writtenInPlace`).
 */
const tensorOf = new WeakMap<Float32Array, object>();

/** Records that `array` holds the floats of the tensor whose data id is `dataId`. */
export function identify(array: Float32Array, dataId: object): Float32Array {
  tensorOf.set(array, dataId);
  return array;
}

/**
 * The floats of tensor `info` on tfjs-backend-wasm's heap, a view identified by its data id
 * (`identify`). Take a call's views after its outputs are allocated: an allocation may grow the
 * heap, which detaches the views taken before it.
 */
export function heapFloats(backend: { typedArrayFromHeap(info: TensorInfo): unknown }, info: TensorInfo): Float32Array {
  const floats = identify(backend.typedArrayFromHeap(info) as Float32Array, info.dataId);
  // The wasm backend's heap is the kernels' memory (`placeInHeap`): its views are regions already.
  if (heap !== null && floats.buffer instanceof SharedArrayBuffer) inHeap.add(floats);
  return floats;
}

/**
 * Views of tfjs's tensors in the kernels' own memory (`heapFloats` with `placeInHeap`): `stage`
 * and `unstage` use them in place.
 */
const inHeap = new WeakSet<Float32Array>();

/**
 * `output` as a region of `stage` when it starts on a whole cache line, else its length: for an
 * output whose rows the threads write in pieces side by side (each head's columns of attention's
 * context), where an output in place would have the threads write the same cache lines at every
 * piece's ends. Staged regions start on whole lines; tfjs's allocator aligns to far less.
 */
export function lineAligned(output: Float32Array): Region {
  const at = startInHeap(output);
  return at === undefined || at % LINE === 0 ? output : output.length;
}

/** Where `array` starts in the kernels' memory (floats) when it is a view of it, else undefined. */
const startInHeap = (array: Float32Array) => (inHeap.has(array) ? array.byteOffset / 4 : undefined);

/**
 * Tells staging that the tensor with data id `dataId` was changed in place: a region that held its
 * floats no longer does, and the next call that takes it copies it in again.
 */
export function writtenInPlace(dataId: object): void {
  // Only `current`: `previous` is read by `stage` alone, after it has replaced it by `current`.
  current?.tensors.delete(dataId);
  keptCopies = keptCopies.filter((copy) => !copy.ids.includes(dataId));
}

/** Where one kernel call staged its regions, and the tensors (by data id) whose floats they still hold. */
interface StagedCall {
  start: number;
  end: number;
  tensors: Map<object, { start: number; length: number }>;
}

/**
 * The call before the one staging now, whose region the current call leaves alone: a tensor it
 * took in or gave out (most often the output the next kernel takes in) need not be copied in again.
 */
let previous: StagedCall | null = null;
let current: StagedCall | null = null;

/** Forgets what the regions hold (they are about to move or be overwritten). */
function forgetStaged(): void {
  previous = null;
  current = null;
}

/** Floats past a staged region that a kernel may read (a last partial vector) and that must exist. */
const SLACK = 4;

/**
 * Staged regions start on whole cache lines (16 floats), and a call's first region on a whole 4 kB
 * page: from some other offsets V8's copies between this memory and tfjs's heap ran at half the
 * speed here (a forward and backward of one attention layer, B1 T128 D256 H8, 2.2 ms of copies a
 * call against 1.0).
 */
const LINE = 16;
const PAGE = 1024;
const roundUp = (n: number, to: number) => to * Math.ceil(n / to);

/** `n` rounded up to whole SIMD vectors of 4 floats. */
export const wholeVectors = (n: number) => roundUp(n, 4);

/** How many arrays `stage` has copied in and `unstage` out, in this process (for tests). */
const copies = { in: 0, out: 0 };

/** The counts of `copies` now (for tests). */
export function stagingCopies(): { in: number; out: number } {
  return { ...copies };
}

/**
 * A region `stage` lays out: so many floats, or an output whose floats the kernel writes as they
 * are (every float of it, none past it), so that it can be the output itself (see `stage`).
 */
export type Region = number | Float32Array;

/** A region's floats. */
const lengthOf = (region: Region) => (typeof region === 'number' ? region : region.length);

/**
 * Copies `arrays` into the module's memory one after another (after the resident blocks),
 * followed by `zeroed` zero-filled regions (for results that accumulate) and `scratch` regions left
 * as they are (for results written whole); returns every region's start (in floats) in that order.
 * Each call is one kernel call: the kernel reads the staged arrays and never writes them.
 *
 * An array that holds a tensor the previous call staged or gave out (`identify`), in whole vectors,
 * is not copied: its start is where that call left it. This call's regions go where they do not
 * overlap the previous call's: at the start of the staging area if they fit before it, else after it.
 *
 * When tfjs's tensors are in the module's memory (`placeInHeap`), an array that is a tensor's view
 * there (`heapFloats`) is read where it is, and a region given as an output there is that output:
 * the kernel writes the tensor in place, and `unstage` has nothing to copy.
 */
export function stage(arrays: Float32Array[], zeroed: Region[], scratch: Region[] = []): number[] {
  const kernels = simdKernels()!;
  previous = current;
  // An output given as its region is written in place where it is in the memory already.
  const regions = [...zeroed, ...scratch];
  const inPlace = regions.map((region) => (typeof region === 'number' ? undefined : startInHeap(region)));
  const regionSizes = regions.map((region, i) => (inPlace[i] !== undefined ? 0 : lengthOf(region)));
  const kept = (array: Float32Array) => {
    const id = tensorOf.get(array);
    const held = id === undefined ? undefined : previous?.tensors.get(id);
    return held !== undefined && held.length === array.length && array.length % 4 === 0 ? held.start : undefined;
  };
  const reused = arrays.map((array) => startInHeap(array) ?? kept(array));
  const sizes = [...arrays.map((array, i) => (reused[i] === undefined ? array.length : 0)), ...regionSizes];
  const size = sizes.reduce((sum, n) => sum + roundUp(n, LINE), 0);
  const base = roundUp(residentEnd(), PAGE);
  const start = previous === null || base + size + SLACK <= previous.start ? base : roundUp(previous.end, PAGE);
  const starts: number[] = [];
  let end = start;
  for (const n of sizes) {
    starts.push(end);
    end += roundUp(n, LINE);
  }
  kernels.reserve(end + SLACK);
  current = { start, end: end + SLACK, tensors: new Map() };
  arrays.forEach((array, i) => {
    // A reused array stays in the previous call's region, which the next call may overwrite.
    if (reused[i] !== undefined) starts[i] = reused[i];
    else {
      kernels.floats.set(array, starts[i]);
      copies.in++;
    }
    const id = tensorOf.get(array);
    if (id !== undefined && reused[i] === undefined)
      current!.tensors.set(id, { start: starts[i], length: array.length });
  });
  inPlace.forEach((at, i) => {
    if (at !== undefined) starts[arrays.length + i] = at;
  });
  zeroed.forEach((region, i) => kernels.zeroFill(4 * starts[arrays.length + i], 4 * lengthOf(region)));
  // The kept copies this call took (`kept`, before this) may be replaced again by the next call's.
  keptThisCall.clear();
  return starts;
}

/**
 * Copies the module's floats from each of `starts` out to the matching output, and records which
 * tensor each region now holds (for the next call's `stage`): a region must not change after.
 */
export function unstage(outputs: Float32Array[], starts: number[]): void {
  const kernels = simdKernels()!;
  outputs.forEach((output, i) => {
    const at = startInHeap(output);
    if (at !== undefined) {
      // Within the one memory: the module's memory.copy (V8 copies a shared memory's floats one word
      // at a time), unless the kernel wrote the output in place (`stage`).
      if (at !== starts[i]) {
        kernels.copyBytes(4 * at, 4 * starts[i], 4 * output.length);
        copies.out++;
      }
      return;
    }
    output.set(kernels.floats.subarray(starts[i], starts[i] + output.length));
    copies.out++;
    const id = tensorOf.get(output);
    if (id !== undefined) current?.tensors.set(id, { start: starts[i], length: output.length });
  });
}

/**
 * Kept copies: weights that call after call reads unchanged (a layer's kernel and bias, and the
 * kernel's transpose its gradient reads) stay in the module's memory from one call to the next,
 * in a ring of KEPT_FLOATS floats (16 MB, a resident block taken on first use), so that a call copies
 * in only its activations. Copying in costs more than the size suggests: the worker threads have
 * read the staged regions, and writing a cache line another core holds waits for it (B1 T128 D256,
 * a 128x256x768 product on two threads: 0.19 ms of copies a call against 0.02 ms on one thread).
 *
 * A copy is found again by the tensor's data id (`identify`), whose data never changes
 * (`writtenInPlace` forgets the copies of the one tensor that does), and a form: the floats as they
 * are, or something derived from them (the transpose). A new copy goes after the last one placed,
 * replacing the oldest copies it overlaps, never one taken by the same kernel call.
 */
const KEPT_FLOATS = 1 << 22;
/** The ring's size in floats: KEPT_FLOATS but in tests (`setKeptRingFloats`). */
let ringFloats = KEPT_FLOATS;

/** Tensors' floats in some form, at `at` floats from the ring's start, `length` floats. */
interface KeptCopy {
  /** The tensors' data ids (one, or several joined). */
  ids: object[];
  form: string;
  at: number;
  length: number;
}

let ring: ResidentBlock | null = null;
/** Where the next copy goes in the ring (floats from its start). */
let ringHead = 0;
/** The ring's copies in the order they were placed (a few hundred at most: a search is cheap). */
let keptCopies: KeptCopy[] = [];
/** The copies the current kernel call has taken: a new copy must not overwrite them. */
const keptThisCall = new Set<KeptCopy>();

/** The floats a copy of `length` floats takes in the ring: room to read past its end, whole lines. */
const spanOf = (length: number) => roundUp(length + SLACK, LINE);

/**
 * A place for a copy of `length` floats in the ring, after the last copy placed (from the start
 * again at the end), forgetting the copies there; null when the copies this call took leave no
 * such place.
 */
function placeInRing(length: number): number | null {
  const span = spanOf(length);
  for (let tries = 0; tries <= keptThisCall.size; tries++) {
    if (ringHead + span > ringFloats) ringHead = 0;
    const overlaps = (copy: KeptCopy) => copy.at < ringHead + span && ringHead < copy.at + spanOf(copy.length);
    const taken = keptCopies.filter((copy) => overlaps(copy) && keptThisCall.has(copy));
    if (taken.length === 0) {
      keptCopies = keptCopies.filter((copy) => !overlaps(copy));
      const at = ringHead;
      ringHead += span;
      return at;
    }
    ringHead = Math.max(...taken.map((copy) => copy.at + spanOf(copy.length)));
  }
  return null;
}

/**
 * How many times a tensor is asked for in one form (by its first data id) before it is copied into
 * the ring: it is kept the third time. A training step reads each weight twice, forward and
 * backward, and then replaces it: those weights are staged as before, where the kernel calls around
 * them have kept the staging regions in cache, rather than written into the ring's colder memory
 * for no later use.
 */
const ASKED_BEFORE_KEPT = 2;
let askedFor = new WeakMap<object, Map<string, number>>();

/**
 * Where a kept copy of `array` (a tensor's floats, `identify`d) starts in the module's memory (in
 * floats), made now if there is none and it was asked for before (ASKED_BEFORE_KEPT): for a kernel
 * call's weights, taken before the call's `stage` (which then leaves them out) and read only, like
 * staged arrays. `form` and `length` name another form of the tensor, or of several (`array` a
 * list: their floats joined), `fill(start)` writing its `length` floats (default: the one array's
 * floats as they are). The copy is followed by zeros up to a whole vector and SLACK floats. Null
 * when an array has no data id, the copy is too large to keep (a quarter of the ring) or not kept
 * yet: copy it in with the call's other arrays instead.
 */
export function kept(
  array: Float32Array | Float32Array[],
  form = 'floats',
  length = (array as Float32Array).length,
  fill?: (start: number) => void,
): number | null {
  const arrays = Array.isArray(array) ? array : [array];
  const ids = arrays.map((a) => tensorOf.get(a));
  const kernels = simdKernels();
  if (!ids.every((id) => id !== undefined) || kernels === null || length > ringFloats / 4) return null;
  const sameIds = (copy: KeptCopy) => copy.ids.length === ids.length && copy.ids.every((id, i) => id === ids[i]);
  const found = keptCopies.find((copy) => copy.form === form && copy.length === length && sameIds(copy));
  if (found !== undefined) {
    keptThisCall.add(found);
    return ring!.start + found.at;
  }
  const asked = askedFor.get(ids[0]) ?? new Map<string, number>();
  const key = `${form} ${length}`;
  const times = (asked.get(key) ?? 0) + 1;
  askedFor.set(ids[0], asked.set(key, times));
  if (times <= ASKED_BEFORE_KEPT) return null;
  ring ??= allocateResident(ringFloats);
  const at = placeInRing(length);
  if (at === null) return null;
  const copy: KeptCopy = { ids, form, at, length };
  keptCopies.push(copy);
  keptThisCall.add(copy);
  const start = ring.start + at;
  if (fill) fill(start);
  else kernels.floats.set(arrays[0], start);
  kernels.floats.fill(0, start + length, start + wholeVectors(length) + SLACK);
  return start;
}

/**
 * For tests of the kept copies: forgets them all, frees the ring, and makes the next one `floats`
 * long (KEPT_FLOATS when undefined), so that a test can fill it with small weights. Not exported
 * from the package.
 */
export function setKeptRingFloats(floats?: number): void {
  if (ring !== null) freeResident(ring);
  ring = null;
  ringHead = 0;
  keptCopies = [];
  keptThisCall.clear();
  askedFor = new WeakMap();
  ringFloats = floats ?? KEPT_FLOATS;
}

/** How many kept copies the ring holds (for tests). */
export function keptCopyCount(): number {
  return keptCopies.length;
}
