/**
 * Small strided matrix products in WebAssembly SIMD, for the per-head products of attention
 * (13 x 16 by 16 x 13 in the reference configuration): too small and too many for a matmul
 * library call each, and several times slower as scalar JavaScript. The module is assembled at
 * load time (wasm_assembler.ts) and works on its own memory: callers copy operands into
 * `floats` and read results from it.
 *
 * Addresses and strides are in bytes; the contiguous inner dimension `width` (bytes) must be a
 * multiple of 16: four floats per SIMD vector.
 */
import { assembleModule, type Code, defineFunction, f32, f32x4, forLoop, get, i32, ifElse, type Local, set } from './wasm_assembler';

const at = (base: Local, index: Local, stride: Local): Code => i32.add(get(base), i32.mul(get(index), get(stride)));

/**
 * C(i, j) = alpha * sum_e A[i, e] B[j, e] for i < m, j < n: rows of A against rows of B (Q K^T).
 * A row i starts at a + i*aRow, B row j at b + j*bRow; C(i, j) is at c + i*cRow + 4*j.
 */
const dotRows = defineFunction(
  'dotRows',
  ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32'],
  ['i32', 'i32', 'i32', 'i32', 'i32', 'v128'],
  ([a, aRow, b, bRow, c, cRow, m, n, width, alpha], [i, j, x, rowA, rowB, acc]) => {
    const lane = (k: number) => f32x4.extractLane(get(acc), k);
    return forLoop(i, i32.const(0), get(m), 1, [
      ...set(rowA, at(a, i, aRow)),
      ...forLoop(j, i32.const(0), get(n), 1, [
        ...set(rowB, at(b, j, bRow)),
        ...set(acc, f32x4.splat(f32.const(0))),
        ...forLoop(x, i32.const(0), get(width), 16, [
          ...set(acc, f32x4.add(get(acc), f32x4.mul(f32x4.load(i32.add(get(rowA), get(x))), f32x4.load(i32.add(get(rowB), get(x)))))),
        ]),
        ...f32.store(
          i32.add(at(c, i, cRow), i32.mul(get(j), i32.const(4))),
          f32.mul(get(alpha), f32.add(f32.add(lane(0), lane(1)), f32.add(lane(2), lane(3)))),
        ),
      ]),
    ]);
  },
);

/**
 * C[i, :] = alpha * sum_j A(i, j) B[j, :], plus the old C[i, :] when `accumulate` is 1, for i < m,
 * j < n: weighted sums of B's rows (P V). A(i, j) is the float at a + i*aRow + j*aCol, so A may be
 * read transposed; B row j starts at b + j*bRow, C row i at c + i*cRow.
 */
const axpyRows = defineFunction(
  'axpyRows',
  ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'i32'],
  ['i32', 'i32', 'i32', 'i32', 'i32', 'v128'],
  ([a, aRow, aCol, b, bRow, c, cRow, m, n, width, alpha, accumulate], [i, j, x, rowA, rowC, acc]) =>
    forLoop(i, i32.const(0), get(m), 1, [
      ...set(rowA, at(a, i, aRow)),
      ...set(rowC, at(c, i, cRow)),
      ...forLoop(x, i32.const(0), get(width), 16, [
        ...set(acc, f32x4.splat(f32.const(0))),
        ...forLoop(j, i32.const(0), get(n), 1, [
          ...set(
            acc,
            f32x4.add(get(acc), f32x4.mul(f32x4.splat(f32.load(at(rowA, j, aCol))), f32x4.load(i32.add(at(b, j, bRow), get(x))))),
          ),
        ]),
        ...set(acc, f32x4.mul(get(acc), f32x4.splat(get(alpha)))),
        ...ifElse(get(accumulate), set(acc, f32x4.add(get(acc), f32x4.load(i32.add(get(rowC), get(x))))), []),
        ...f32x4.store(i32.add(get(rowC), get(x)), get(acc)),
      ]),
    ]),
);

export interface SmallMatmul {
  /** See `dotRows` above; addresses and strides in bytes. */
  dotRows(a: number, aRow: number, b: number, bRow: number, c: number, cRow: number, m: number, n: number, width: number, alpha: number): void;
  /** See `axpyRows` above; addresses and strides in bytes, `accumulate` 0 or 1. */
  axpyRows(
    a: number, aRow: number, aCol: number, b: number, bRow: number, c: number, cRow: number,
    m: number, n: number, width: number, alpha: number, accumulate: number,
  ): void;
  /** The module's memory as floats; valid until the next `reserve`. */
  floats: Float32Array;
  /** Makes the memory hold at least `count` floats (growing it detaches the old `floats`). */
  reserve(count: number): void;
}

const PAGE_BYTES = 65536;

/**
 * The compiled module, or null where WebAssembly or its SIMD extension is unavailable (then
 * callers use their composite path). One instance per process: the kernels run one at a time.
 */
export const smallMatmul: SmallMatmul | null = (() => {
  if (typeof WebAssembly !== 'object') return null;
  const bytes = assembleModule([dotRows, axpyRows]);
  if (!WebAssembly.validate(bytes)) return null;
  const memory = new WebAssembly.Memory({ initial: 16 });
  const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
  const state: SmallMatmul = {
    dotRows: exports.dotRows as SmallMatmul['dotRows'],
    axpyRows: exports.axpyRows as SmallMatmul['axpyRows'],
    floats: new Float32Array(memory.buffer),
    reserve(count: number) {
      const missing = count * 4 - memory.buffer.byteLength;
      if (missing <= 0) return;
      memory.grow(Math.ceil(missing / PAGE_BYTES));
      state.floats = new Float32Array(memory.buffer);
    },
  };
  return state;
})();
