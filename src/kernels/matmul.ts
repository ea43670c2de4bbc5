/**
 * Matrix products for tfjs-backend-wasm in WebAssembly SIMD (simd_kernels.ts's register-blocked
 * `axpyRows`): BatchMatMul and _FusedMatMul of one float32 matrix by another (batch 1), any
 * transposes, with _FusedMatMul's 1-D bias and its 'linear' or 'relu' activation. Batched
 * products and other activations stay with tfjs's kernels (XNNPACK or its generic loop).
 *
 * Why: on the shapes of this library's models, XNNPACK through tfjs 4.22 runs 1.3-1.5x slower
 * than `axpyRows` including its copies in and out (832 x 64 x 192: 1.33 ms against 0.93 ms;
 * 2048 x 128 x 512: 23.6 ms against 16.0 ms, on the machine of models/BENCHMARKS.jsonl), creates
 * an XNNPACK operator for every new right-hand operand (every gradient product), and handles a
 * transposed operand only after a transpose. Here a transposed operand is transposed in the SIMD
 * module (the left one part by part, on the kernel threads). The pieces of a product
 * (`productRows`, `transposedRows`, `inRowBlocks`) also serve dense.ts's fused layers.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapFloats, kept, productRowBlock, simdKernels, stage, unstage, wholeVectors } from './simd_kernels';
import { inParallelRuns, partsFor, type KernelCalls } from './threads';

/**
 * The right operand is read in blocks of DEPTH rows by PANEL columns (256 kB), each summed into
 * the product before the next: a block then stays in the L2 cache while every row tile of the
 * part reads it, whatever K (at K = 2048, a whole panel of K rows is 2 MB, and every tile would
 * read it again from memory).
 */
const PANEL = 256;
const DEPTH = 256;

/**
 * The least work worth a part of its own on another thread, in multiply-adds: about 10 us at
 * this kernel's 20-25 GMAC/s, several times what handing a part over costs.
 */
const MIN_PART_MACS = 1 << 18;

/**
 * A product C = A B whose operands are in the module's memory (floats from its start): A as (M, K)
 * rows at `left`, B as (K, N4) rows at `right`, C as (M, N4) rows at `out`, N4 a whole number of
 * vectors. `accumulate` adds to the C there.
 */
export interface StagedProduct {
  left: number;
  right: number;
  out: number;
  K: number;
  N4: number;
  accumulate?: boolean;
}

/** Rows [r0, r0 + rows) of a staged product, on `calls` (a part of a parallel call). */
export function productRows(calls: KernelCalls, p: StagedProduct, r0: number, rows: number): void {
  const { K, N4 } = p;
  for (let x0 = 0; x0 < N4; x0 += PANEL) {
    const width = 4 * Math.min(PANEL, N4 - x0);
    for (let k0 = 0; k0 < K; k0 += DEPTH) {
      const depth = Math.min(DEPTH, K - k0);
      const [left, block, out] = [p.left + r0 * K + k0, p.right + k0 * N4 + x0, p.out + r0 * N4 + x0];
      const accumulate = k0 > 0 || p.accumulate === true ? 1 : 0;
      calls.axpyRows(4 * left, 4 * K, 4, 4 * block, 4 * N4, 4 * out, 4 * N4, rows, depth, width, 1, accumulate);
    }
  }
}

/**
 * Rows [r0, r0 + rows) of the transpose of the (K, M) matrix at `stored` into (M, K) rows at
 * `out`, on `calls`: the left operand of a product of a transposed matrix (read in place through
 * strides, each step of the product would touch K cache lines for 4 floats of each).
 */
export function transposedRows(
  calls: KernelCalls,
  stored: number,
  [K, M]: [number, number],
  out: number,
  r0: number,
  rows: number,
): void {
  calls.transposeRows(4 * (stored + r0), 4 * M, 4 * (out + r0 * K), 4 * K, K, rows);
}

/**
 * `visit(calls, r0, rows)` for blocks of rows of an (M, ...) result whose rows cost `macsPerRow`
 * multiply-adds each, one block per part, over the kernel threads: every block but the last a
 * multiple of `productRowBlock()` rows, the rows `axpyRows` computes in whole tiles.
 */
export function inRowBlocks(
  M: number,
  macsPerRow: number,
  visit: (calls: KernelCalls, r0: number, rows: number) => void,
): void {
  const block = productRowBlock();
  const blocks = Math.ceil(M / block);
  const parts = partsFor(blocks, Math.ceil(MIN_PART_MACS / (block * macsPerRow)));
  inParallelRuns(blocks, parts, (calls, first, end) =>
    visit(calls, block * first, Math.min(M, block * end) - block * first),
  );
}

/** The activations a product applies in its epilogue, after the bias; 'gelu' is exact GELU (gelu.ts's). */
export const EPILOGUE_ACTIVATIONS = ['linear', 'relu', 'gelu'] as const;
export type EpilogueActivation = (typeof EPILOGUE_ACTIVATIONS)[number];

/**
 * `activation` (a Keras name) when a product applies it in its epilogue, else 'linear' (the
 * caller applies it to the result).
 */
export function epilogueActivation(activation: string): EpilogueActivation {
  return EPILOGUE_ACTIVATIONS.find((name) => name === activation) ?? 'linear';
}

export interface MatMulArgs {
  /** (M, K), or (K, M) when transposeA. */
  a: Float32Array;
  /**
   * (K, N), or (N, K) when transposeB; or several (K, N_p) matrices side by side (`joinColumns`),
   * each N_p whole vectors, not transposed (the weights of several layers in one product).
   */
  b: Float32Array | Float32Array[];
  /** (N) or null; or one (N_p) per matrix of b (none: no bias). */
  bias: Float32Array | Float32Array[] | null;
  M: number;
  K: number;
  N: number;
  transposeA: boolean;
  transposeB: boolean;
  /** Applied to the product plus bias. Exact GELU (gelu.ts's) also keeps what it was applied to. */
  activation: EpilogueActivation;
  /**
   * b and the bias are weights that later calls read unchanged (a layer's kernel): kept in the
   * SIMD module's memory (`keptColumns`) where b is used as it is (not transposed, N whole
   * vectors). Always so for several matrices.
   */
  keepWeights?: boolean;
}

/** Writes the (rows, N_p) matrices `parts` side by side, as (rows, sum of N_p) rows, at float `start`. */
export function joinColumns(parts: Float32Array[], rows: number, start: number): void {
  const floats = simdKernels()!.floats;
  if (parts.length === 1) return floats.set(parts[0], start);
  const widths = parts.map((part) => part.length / rows);
  let at = start;
  for (let r = 0; r < rows; r++) {
    parts.forEach((part, i) => {
      floats.set(part.subarray(r * widths[i], (r + 1) * widths[i]), at);
      at += widths[i];
    });
  }
}

/**
 * Where the (rows, N_p) matrices `parts`, side by side, are kept in the module's memory (`kept`;
 * one matrix as it is), or null where they cannot be: then the caller joins them in scratch
 * (`joinColumns`).
 */
export function keptColumns(parts: Float32Array[], rows: number): number | null {
  if (parts.length === 1) return kept(parts[0]);
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  return kept(parts, `columns of ${rows} rows`, length, (start) => joinColumns(parts, rows, start));
}

/**
 * Writes activation(op(a) op(b) + bias) into out (M, N), and for GELU op(a) op(b) + bias into
 * `preActivation` (M, N) when given (its gradient needs it).
 */
export function matMulInto(args: MatMulArgs, out: Float32Array, preActivation?: Float32Array): void {
  const { a, M, K, N, transposeA, transposeB, activation } = args;
  const mm = simdKernels()!;
  const N4 = wholeVectors(N);
  const padded = N4 !== N || transposeB;
  const gelu = activation === 'gelu';
  const bParts = [args.b].flat();
  const biasParts = [args.bias ?? []].flat();
  if (bParts.length > 1 && padded)
    throw new Error('matMulInto: joined matrices must be whole vectors wide, untransposed');
  // Weights (a layer's kernels and biases, used as they are): kept between calls where they can be
  // (taken before `stage`, which then leaves them out), else joined in scratch here. Other operands
  // are staged.
  const weights = (args.keepWeights === true || bParts.length > 1) && !padded;
  const keptB = weights ? keptColumns(bParts, K) : null;
  const keptBias = weights && biasParts.length > 0 ? keptColumns(biasParts, 1) : null;
  const joinB = weights && keptB === null;
  const joinBias = weights && biasParts.length > 0 && keptBias === null;
  const stagedBias = !weights && biasParts.length > 0;
  const staged = [a, ...(weights ? [] : bParts), ...(stagedBias ? biasParts : [])];
  // The right operand as (K, N4) rows when it must be moved (transposed or padded to whole
  // vectors), the left one as (M, K) rows when it is transposed, the product as (M, N4) rows
  // (and GELU of it), then compacted to (M, N) when padded; the weights joined when not kept.
  // The product and GELU of it are the outputs as they are when N is whole vectors: written in
  // place where the outputs are in the module's memory (`stage`).
  const asOutput = (output: Float32Array | undefined) => (N4 === N && output !== undefined ? output : M * N4);
  const starts = stage(staged, stagedBias ? [3] : [], [
    padded ? K * N4 : 0,
    transposeA ? M * K : 0,
    asOutput(gelu ? preActivation : out),
    gelu ? asOutput(out) : 0,
    N4 !== N ? M * N : 0,
    N4 !== N && preActivation ? M * N : 0,
    joinB ? K * N : 0,
    joinBias ? N : 0,
  ]);
  const aAt = starts[0];
  const [rightAt, leftAt, productAt, activatedAt, compactAt, compactPreAt, joinedBAt, joinedBiasAt] = starts.slice(
    starts.length - 8,
  );
  if (joinB) joinColumns(bParts, K, joinedBAt);
  if (joinBias) joinColumns(biasParts, 1, joinedBiasAt);
  const bAt = keptB ?? (joinB ? joinedBAt : starts[1]);
  const biasAt = keptBias ?? (joinBias ? joinedBiasAt : stagedBias ? starts[staged.length - 1] : 0);
  let right = bAt;
  if (padded) {
    right = rightAt;
    if (transposeB) mm.transposeRows(4 * bAt, 4 * K, 4 * right, 4 * N4, N, K);
    else mm.copyRows(4 * bAt, 4 * N, 4 * right, 4 * N4, K, N, N4);
    // Padding columns of the transposed right operand: zeros, so the padded product columns are finite.
    if (transposeB && N4 !== N) for (let k = 0; k < K; k++) mm.floats.fill(0, right + k * N4 + N, right + (k + 1) * N4);
  }
  const product: StagedProduct = { left: transposeA ? leftAt : aAt, right, out: productAt, K, N4 };
  inRowBlocks(M, K * N4, (calls, r0, rows) => {
    if (transposeA) transposedRows(calls, aAt, [K, M], leftAt, r0, rows);
    productRows(calls, product, r0, rows);
    const at = 4 * (productAt + r0 * N4);
    // The bias's last vector may read 3 floats past it: the zeroed region after it.
    if (biasParts.length > 0) calls.addRowBias(at, rows, 4 * N4, 4 * biasAt, 0, 1, 1, 0);
    if (activation === 'relu') calls.reluInPlace(at, 4 * rows * N4);
    if (gelu) calls.geluForward(at, 4 * (activatedAt + r0 * N4), 4 * rows * N4);
  });
  // Each output from its own region: unstage records which tensor a region holds.
  const outputs: Array<[Float32Array | undefined, number, number]> = [
    [out, gelu ? activatedAt : productAt, compactAt],
    [gelu ? preActivation : undefined, productAt, compactPreAt],
  ];
  for (const [output, at, compact] of outputs) {
    if (output === undefined) continue;
    if (N4 !== N) mm.copyRows(4 * at, 4 * N4, 4 * compact, 4 * N, M, N, N);
    unstage([output], [N4 !== N ? compact : at]);
  }
}

interface ProductInputs {
  a: tf.TensorInfo;
  b: tf.TensorInfo;
  bias?: tf.TensorInfo;
  preluActivationWeights?: tf.TensorInfo;
}

interface ProductAttrs {
  transposeA: boolean;
  transposeB: boolean;
  activation?: string;
}

/**
 * BatchMatMul or _FusedMatMul on wasm, `original`, with the products this file handles done here:
 * float32, a batch of 1 on both sides, and for _FusedMatMul no PReLU weights, a 1-D bias and a
 * 'linear' or 'relu' activation.
 */
export function matMulOnWasm(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as unknown as ProductInputs;
    const { transposeA, transposeB, activation = 'linear' } = args.attrs as unknown as ProductAttrs;
    const batchOf = (x: tf.TensorInfo) => tf.util.sizeFromShape(x.shape.slice(0, -2));
    const handled =
      simdKernels() != null &&
      a.dtype === 'float32' &&
      b.dtype === 'float32' &&
      batchOf(a) === 1 &&
      batchOf(b) === 1 &&
      preluActivationWeights == null &&
      (bias == null || (bias.shape.length === 1 && bias.dtype === 'float32')) &&
      (activation === 'linear' || activation === 'relu');
    if (!handled) return original(args);
    const [rowsA, colsA] = a.shape.slice(-2);
    const [rowsB, colsB] = b.shape.slice(-2);
    const [M, K] = transposeA ? [colsA, rowsA] : [rowsA, colsA];
    const N = transposeB ? rowsB : colsB;
    if (M * K * N === 0 || (bias != null && bias.shape[0] !== N)) return original(args);
    const backend = args.backend as unknown as BackendWasm;
    const out = backend.makeOutput([...a.shape.slice(0, -2), M, N], 'float32');
    // Views taken after the allocation, which may grow (and detach) the heap.
    const view = (x: tf.TensorInfo) => heapFloats(backend, x);
    matMulInto(
      {
        a: view(a),
        b: view(b),
        bias: bias ? view(bias) : null,
        M,
        K,
        N,
        transposeA,
        transposeB,
        activation: activation as 'linear' | 'relu',
      },
      view(out),
    );
    return out;
  };
}
