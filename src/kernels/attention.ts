/**
 * Scaled dot-product attention as one fused kernel, forward and backward, on the cpu and wasm
 * backends: `softmax(scale * Q K^T + mask) V` for every batch row and head in one pass.
 *
 * The composite version (multi_head_attention.ts) runs per attention call a split, three
 * transposes to heads-first, a query scaling, two batched matmuls, the mask arithmetic, a softmax
 * and a transpose back, and about twice as many kernels for the gradient. On wasm the batched
 * matmuls also leave XNNPACK for a generic loop (~0.5 GMAC/s). This kernel reads the queries,
 * keys and values straight from the projections' (B, L, H*E) rows, so self-attention's fused
 * query/key/value projection needs no split, and writes the context as (B, T, H, V), the layout
 * the output projection reads. The per-head products run in WebAssembly SIMD
 * (simd_kernels.ts) on both backends; where WebAssembly SIMD is missing the layer keeps its
 * composite path (`hasFusedAttention`).
 *
 * Shape letters: B batch, T query length, S key length, H heads, K key dim, V value dim.
 */
import * as tf from '@tensorflow/tfjs';
import { hasFusedKernel, defineFusedKernel, runFusedKernel, type FloatInputs } from './fused_kernel';
import { lineAligned, simdKernels, stage, unstage, wholeVectors } from './simd_kernels';
import { inParallelRuns, partsFor, type KernelCalls } from './threads';

/** Added to the scores of masked keys before the softmax (Keras's value for float32). */
export const MASKED_SCORE = -1e9;

/** The forward kernel's name (computeOnArrays runs it on plain arrays too: src/ops/rows.ts). */
export const ATTENTION_FORWARD = 'TfjsAttentionScaledDotProduct';
const FORWARD = ATTENTION_FORWARD;
const BACKWARD = 'TfjsAttentionScaledDotProductGrad';

/** Where queries, keys or values are read: source tensor `source`, heads from column `offset`. */
export interface HeadsSlice {
  source: number;
  offset: number;
}

export interface FusedAttentionArgs {
  /**
   * The distinct tensors that hold the projected heads, each (B, L, W): L = T for the one with
   * the queries, L = S for the keys' and values'. A row holds H heads of E values at `offset`.
   */
  sources: tf.Tensor[];
  query: HeadsSlice;
  key: HeadsSlice;
  value: HeadsSlice;
  numHeads: number;
  keyDim: number;
  valueDim: number;
  /** Multiplies the queries before the dot products (1/sqrt(K) in the Transformer). */
  scale: number;
  /** (T, S) or (B or 1, T or 1, S or 1), 1 = may attend; null attends everywhere. */
  mask: tf.Tensor | null;
  /**
   * Return the probabilities (B, H, T, S) too (not while a gradient tape records). Default false:
   * nothing of shape (T, S) is kept beyond one block of queries.
   */
  needProbabilities?: boolean;
  /**
   * Read only the first S = keyLength positions of the keys and values (a key/value cache filled
   * up to there); the mask is then (.., T, keyLength). Not while a gradient tape records. Default:
   * the whole source.
   */
  keyLength?: number;
}

/** The kernels' attributes: the slices flattened, as tfjs attributes are plain values. */
export interface AttentionAttrs {
  /**
   * The forward's second output: the probabilities (B, H, T, S) when true, else only each row's
   * maximum score and log of the exponentials' sum (B, H, T, 2), all the backward needs to
   * recompute them block by block. Kept apart, not as one log-sum-exp: a fully masked row's
   * scores are near -1e9, where float32 cannot hold the sum's logarithm added to them.
   */
  withProbabilities: boolean;
  numHeads: number;
  keyDim: number;
  valueDim: number;
  scale: number;
  querySource: number;
  queryOffset: number;
  keySource: number;
  keyOffset: number;
  valueSource: number;
  valueOffset: number;
  /** The keys and values read, from the first position: S (-1 = the whole source). */
  keyLength: number;
}

/** What the attention's attributes are made of: where each role's heads are, and their sizes. */
export type AttentionLayout = Pick<
  FusedAttentionArgs,
  'query' | 'key' | 'value' | 'numHeads' | 'keyDim' | 'valueDim' | 'scale'
>;

/** The forward kernel's attributes for `layout`, reading `keyLength` keys (-1: all). */
export function attentionAttrs(layout: AttentionLayout, keyLength: number, withProbabilities: boolean): AttentionAttrs {
  const { query, key, value, numHeads, keyDim, valueDim, scale } = layout;
  return {
    withProbabilities,
    numHeads,
    keyDim,
    valueDim,
    scale,
    querySource: query.source,
    queryOffset: query.offset,
    keySource: key.source,
    keyOffset: key.offset,
    valueSource: value.source,
    valueOffset: value.offset,
    keyLength,
  };
}

/** Sizes and strides the loops need, from the input shapes and attributes. */
interface Layout extends AttentionAttrs {
  batch: number;
  queryLength: number;
  keyLength: number;
  /** Positions in the keys' and values' sources (S or more: a cache holds room for later ones). */
  keyRows: number;
  queryWidth: number;
  keyWidth: number;
  valueWidth: number;
  /** Strides of the mask over (B, T, S); 0 where it broadcasts. */
  maskStrides: [number, number, number] | null;
}

const sourceName = (index: number) => `x${index}`;

function layoutOf(shapes: Record<string, number[]>, attrs: AttentionAttrs): Layout {
  const q = shapes[sourceName(attrs.querySource)];
  const k = shapes[sourceName(attrs.keySource)];
  const v = shapes[sourceName(attrs.valueSource)];
  const [batch, queryLength] = q;
  const keyRows = k[1];
  const keyLength = attrs.keyLength >= 0 ? attrs.keyLength : keyRows;
  let maskStrides: Layout['maskStrides'] = null;
  const mask = shapes.mask;
  if (mask != null) {
    // Right-aligned (B, T, S) with size-1 dimensions broadcast, like tfjs's own add.
    const [mb, mt, ms] = mask.length === 2 ? [1, mask[0], mask[1]] : mask;
    maskStrides = [mb === 1 ? 0 : mt * ms, mt === 1 ? 0 : ms, ms === 1 ? 0 : 1];
  }
  // Field by field: an object spread here cost more than the rest of a small call.
  return {
    withProbabilities: attrs.withProbabilities,
    numHeads: attrs.numHeads,
    keyDim: attrs.keyDim,
    valueDim: attrs.valueDim,
    scale: attrs.scale,
    querySource: attrs.querySource,
    queryOffset: attrs.queryOffset,
    keySource: attrs.keySource,
    keyOffset: attrs.keyOffset,
    valueSource: attrs.valueSource,
    valueOffset: attrs.valueOffset,
    keyLength,
    batch,
    queryLength,
    keyRows,
    queryWidth: q[2],
    keyWidth: k[2],
    valueWidth: v[2],
    maskStrides,
  };
}

/** The sources present (x0, x1, ...) in index order. */
function sourcesOf(inputs: FloatInputs): Float32Array[] {
  const sources: Float32Array[] = [];
  for (let i = 0; inputs[sourceName(i)] != null; i++) sources.push(inputs[sourceName(i)]);
  return sources;
}

/**
 * Where one role's heads lie once staged: `addressOf(b, h)` is the byte address of head h's
 * first row for batch row b, `rowBytes` the step between rows (positions).
 */
function headsAt(start: number, length: number, width: number, offset: number, headSize: number) {
  return {
    rowBytes: 4 * width,
    addressOf: (b: number, h: number) => 4 * (start + b * length * width + offset + h * headSize),
  };
}

/**
 * Queries are processed in blocks of this many rows: a block's scores (ROWS x S) are the only
 * (T, S)-shaped memory the kernels use, so memory grows linearly in T (FlashAttention's row
 * blocks, Dao et al. 2022, without its key blocks: a block spans the keys it can attend to, so
 * its softmax is exact in one pass).
 */
const ROWS = 32;

/**
 * Under a gradient tape, attention whose probabilities (B, H, T, S) hold at most this many floats
 * (4 MB) saves them for the backward, which then reads them; larger ones save only each row's
 * statistics and the backward recomputes them a block at a time. Recomputing costs a second
 * Q K^T and exponential: slower for the short sequences of the toy tasks (B64 T13: 1.4x slower
 * forward + backward), faster where the (T, S) matrix no longer fits in cache (B1 T1024 D256 H8:
 * 0.6-0.9x the time), and the memory stays linear in T.
 */
const SAVED_PROBABILITIES_MAX = 1 << 20;

/**
 * Copies head h's keys (or values) of batch row b, E floats per position, into their (E, S4)
 * block of the (B, H, E, S4) array at float `out`: transposed, so that Q K^T and dC V^T are
 * weighted sums of contiguous rows for `axpyRows`, with S4 = S rounded up to whole vectors.
 * `out` must be zeroed: the padding stays 0.
 */
function transposeHead(
  calls: KernelCalls,
  heads: ReturnType<typeof headsAt>,
  [H, S, E]: [number, number, number],
  [b, h]: [number, number],
  out: number,
): void {
  const S4 = wholeVectors(S);
  calls.transposeRows(heads.addressOf(b, h), heads.rowBytes, 4 * (out + (b * H + h) * E * S4), 4 * S4, S, E);
}

/**
 * Copies the mask to float `out` of `f` in its own layout, then 4 zeros: a block reads whole
 * vectors of it (`addRowBias`, which turns it into the scores' bias (1 - mask) * MASKED_SCORE), up
 * to 3 floats past a row's end, into padding the softmax overwrites.
 */
function writeMask(f: Float32Array, mask: Float32Array, out: number): void {
  f.set(mask, out);
  f.fill(0, out + mask.length, out + mask.length + 4);
}

/**
 * The keys that query rows t0 .. t0 + rows - 1 of batch row b attend to: [first, end), `first`
 * rounded down to a whole vector (the transposed keys' rows are read from it). Outside that
 * range every row's mask is 0, so the keys' probabilities are exactly 0 (their exponential
 * underflows) and skipping them changes nothing: with a causal mask a block of queries reads only
 * the keys up to its last query, about half the work. A row that may attend to no key keeps
 * every key: the bias makes its softmax uniform, as in the plain definition.
 */
function keyRange(
  mask: Float32Array | undefined,
  [maskBatch, maskRow, maskColumn]: [number, number, number],
  b: number,
  t0: number,
  rows: number,
  S: number,
): [number, number] {
  if (mask === undefined) return [0, S];
  let first = S;
  let end = 0;
  for (let t = t0; t < t0 + rows; t++) {
    const at = b * maskBatch + t * maskRow;
    let s = 0;
    while (s < S && mask[at + s * maskColumn] === 0) s++;
    if (s === S) return [0, S];
    first = Math.min(first, s);
    s = S - 1;
    while (mask[at + s * maskColumn] === 0) s--;
    end = Math.max(end, s + 1);
  }
  return [4 * Math.floor(first / 4), end];
}

/** One block of query rows and the keys it attends to (`keyRange`), as the kernels' loops visit them. */
interface Block {
  b: number;
  t0: number;
  rows: number;
  /** The first key (a whole vector) and how many from it. */
  first: number;
  count: number;
  /** A row of the block's scores in bytes: `count` rounded up to whole vectors. */
  width: number;
}

/** Each batch row's blocks of ROWS queries, in order, with the keys they attend to. */
function blocksOf(L: Layout, mask: Float32Array | undefined, maskStrides: [number, number, number]): Block[][] {
  const { batch: B, queryLength: T, keyLength: S } = L;
  const blocks: Block[][] = [];
  for (let b = 0; b < B; b++) {
    if (b > 0 && maskStrides[0] === 0) {
      // A mask the same for every batch row (a causal one): its key ranges are row 0's.
      blocks.push(blocks[0].map((block) => ({ ...block, b })));
      continue;
    }
    blocks.push([]);
    for (let t0 = 0; t0 < T; t0 += ROWS) {
      const rows = Math.min(ROWS, T - t0);
      const [first, end] = keyRange(mask, maskStrides, b, t0, rows, S);
      const count = end - first;
      blocks[b].push({ b, t0, rows, first, count, width: 4 * wholeVectors(count) });
    }
  }
  return blocks;
}

/**
 * Runs `visit(calls, b, h, part)` for every batch row b and head h, the (b, h) pairs cut into
 * parts over the kernel threads (threads.ts). A pair's work touches only its own rows of the
 * context and gradients (keys and values accumulate over their head's blocks), so pairs are
 * independent; `part` picks the part's own scratch.
 */
function forEachHead(
  L: Layout,
  parts: number,
  visit: (calls: KernelCalls, b: number, h: number, part: number) => void,
): void {
  const pairs = L.batch * L.numHeads;
  inParallelRuns(pairs, parts, (calls, first, end, part) => {
    for (let pair = first; pair < end; pair++) visit(calls, Math.floor(pair / L.numHeads), pair % L.numHeads, part);
  });
}

/**
 * A block's scores for head h into `out` (floats, rows `width` bytes apart): scale * Q K^T
 * against the transposed keys at `keysStart` (keysStart's (B, H, K, S4) layout), plus the mask's
 * bias from the mask staged at `biasStart` when there is a mask.
 */
function blockScores(
  mm: KernelCalls,
  L: Layout,
  block: Block,
  h: number,
  queryRows: number,
  queryRowBytes: number,
  keysStart: number,
  mask: { biasStart: number; strides: [number, number, number] } | null,
  out: number,
): void {
  const { b, t0, rows, first, width } = block;
  const S4 = wholeVectors(L.keyLength);
  const keys = 4 * (keysStart + (b * L.numHeads + h) * L.keyDim * S4 + first);
  mm.axpyRows(queryRows, queryRowBytes, 4, keys, 4 * S4, 4 * out, width, rows, L.keyDim, width, L.scale, 0);
  if (mask) {
    const [maskBatch, maskRow, maskColumn] = mask.strides;
    const bias = mask.biasStart + b * maskBatch + t0 * maskRow + first * maskColumn;
    mm.addRowBias(4 * out, rows, width, 4 * bias, 4 * maskRow, maskColumn, -MASKED_SCORE, MASKED_SCORE);
  }
}

/**
 * The least work worth a part of its own on another thread, in multiply-adds of Q K^T and P V.
 * Below it, recording a part's calls for the worker (threads.ts) costs about as much as running
 * them: the toy tasks' attention (B64 T13, 5,400 multiply-adds a head) runs on one thread.
 */
const MIN_PART_MACS = 1 << 19;

/** How many parts to cut a call's (b, h) pairs into for the kernel threads. */
function headParts(L: Layout): number {
  const macsPerPair = L.queryLength * L.keyLength * (L.keyDim + L.valueDim);
  return partsFor(L.batch * L.numHeads, Math.ceil(MIN_PART_MACS / macsPerPair));
}

/**
 * Forward: the context (B, T, H, V), and the probabilities (B, H, T, S) or each row's
 * maximum and log-sum (B, H, T, 2) (`withProbabilities`). Per batch row and head (a part of
 * them per thread), the head's keys transposed, then per block of ROWS queries, over the keys
 * the block attends to (`keyRange`): the scores scale * Q K^T, the mask's bias, the softmax and
 * the weighted sum P V, all in WebAssembly SIMD (simd_kernels.ts).
 */
function attentionForward(
  inputs: FloatInputs,
  [context, second]: Float32Array[],
  attrs: AttentionAttrs,
  shapes: Record<string, number[]>,
): void {
  const L = layoutOf(shapes, attrs);
  const { batch: B, queryLength: T, keyLength: S, numHeads: H, keyDim: K, valueDim: V } = L;
  const S4 = wholeVectors(S);
  const mm = simdKernels()!;
  const sources = sourcesOf(inputs);
  if (B === 1 && L.keyRows > S && L.querySource !== L.keySource && L.querySource !== L.valueSource) {
    // One batch row of a cache: stage only the positions read, a prefix of the source.
    for (const i of new Set([L.keySource, L.valueSource])) {
      sources[i] = sources[i].subarray(0, S * shapes[sourceName(i)][2]);
    }
    L.keyRows = S;
  }
  const mask = inputs.mask;
  const maskStrides = L.maskStrides ?? [0, 0, 0];
  const parts = headParts(L);
  // Zeroed: the transposed keys (their padding stays 0) and the probabilities (zero outside the
  // keys a block attends to). Scratch, written whole: the context, each row's statistics
  // (maximum, sum), a block's scores per part, the mask.
  // The probabilities and the context are the outputs as they are (in place: `stage`; the
  // context, whose rows the heads write side by side, only from a whole cache line).
  const starts = stage(
    sources,
    [B * H * K * S4, attrs.withProbabilities ? second : 0],
    [lineAligned(context), B * H * T * 2, parts * ROWS * S4, mask ? mask.length + 4 : 0],
  );
  const [keysStart, pStart, cStart, statsStart, scoresStart, biasStart] = starts.slice(sources.length);
  const q = headsAt(starts[L.querySource], T, L.queryWidth, L.queryOffset, K);
  const k = headsAt(starts[L.keySource], L.keyRows, L.keyWidth, L.keyOffset, K);
  const v = headsAt(starts[L.valueSource], L.keyRows, L.valueWidth, L.valueOffset, V);
  if (mask) writeMask(mm.floats, mask, biasStart);
  const maskBias = mask ? { biasStart, strides: maskStrides } : null;
  const blocks = blocksOf(L, mask, maskStrides);
  forEachHead(L, parts, (calls, b, h, part) => {
    transposeHead(calls, k, [H, S, K], [b, h], keysStart);
    const scores = scoresStart + part * ROWS * S4;
    for (const block of blocks[b]) {
      const { t0, rows, first, count, width } = block;
      const rowStart = (b * H + h) * T + t0;
      // (rows, K) x (K, keys) -> (rows, keys) with the mask's bias, then the softmax over the keys.
      blockScores(calls, L, block, h, q.addressOf(b, h) + t0 * q.rowBytes, q.rowBytes, keysStart, maskBias, scores);
      calls.softmaxRows(4 * scores, rows, count, width, 4 * (statsStart + 2 * rowStart));
      if (attrs.withProbabilities) {
        calls.copyRows(4 * scores, width, 4 * (pStart + rowStart * S + first), 4 * S, rows, count, count);
      }
      // (rows, keys) x (keys, V) -> context rows t0.. of head h.
      const contextRows = 4 * (cStart + ((b * T + t0) * H + h) * V);
      const values = v.addressOf(b, h) + first * v.rowBytes;
      calls.axpyRows(4 * scores, width, 4, values, v.rowBytes, contextRows, 4 * H * V, rows, count, 4 * V, 1, 0);
    }
  });
  unstage(attrs.withProbabilities ? [context, second] : [context], [cStart, pStart]);
  if (!attrs.withProbabilities) {
    // Each row's maximum, and the log of its sum (see AttentionAttrs.withProbabilities).
    const stats = mm.floats.subarray(statsStart, statsStart + second.length);
    for (let i = 0; i < second.length; i += 2) {
      second[i] = stats[i];
      second[i + 1] = Math.log(stats[i + 1]);
    }
  }
}

/**
 * Backward: the gradient of every source (zero where no role reads it) from dContext (B, T, H, V)
 * and the forward's probabilities or row statistics (maximum, log-sum). Per batch row and head (a
 * part of them per thread), the head's keys and values transposed, then per block of ROWS
 * queries, over the keys the block attends to: the block's probabilities P are copied from the
 * saved ones, or recomputed from Q, K, the mask and those statistics, then dP = dC V^T,
 * dScore = P * (dP - rowsum(P * dP)) (the softmax's Jacobian), dQ += scale dScore K,
 * dK += scale dScore^T Q, dV += P^T dC.
 */
function attentionBackward(
  inputs: FloatInputs,
  grads: Float32Array[],
  attrs: AttentionAttrs,
  shapes: Record<string, number[]>,
): void {
  const L = layoutOf(shapes, attrs);
  const { batch: B, queryLength: T, keyLength: S, numHeads: H, keyDim: K, valueDim: V, scale } = L;
  const S4 = wholeVectors(S);
  const mm = simdKernels()!;
  const sources = sourcesOf(inputs);
  const mask = inputs.mask;
  const maskStrides = L.maskStrides ?? [0, 0, 0];
  const parts = headParts(L);
  // The forward's probabilities when it saved them, else they are recomputed from the statistics.
  const saved = inputs.probabilities;
  const staged = [...sources, inputs.dContext, saved ?? inputs.rowStats];
  // Zeroed: the gradients (they accumulate) and the transposed keys' and values' padding.
  // Scratch, written whole: a block's P and its dP / dScore per part, the mask.
  // The gradients in place from a whole cache line (the heads write their rows side by side).
  const starts = stage(
    staged,
    [...grads.map(lineAligned), B * H * K * S4, B * H * V * S4],
    [parts * ROWS * S4, parts * ROWS * S4, mask ? mask.length + 4 : 0],
  );
  const [dcStart, savedStart] = starts.slice(sources.length, sources.length + 2);
  const gradStarts = starts.slice(staged.length, staged.length + grads.length);
  const [keysStart, valuesStart, pScratch, dScratch, biasStart] = starts.slice(staged.length + grads.length);
  const role = (source: number, length: number, width: number, offset: number, headSize: number) => ({
    x: headsAt(starts[source], length, width, offset, headSize),
    dx: headsAt(gradStarts[source], length, width, offset, headSize),
  });
  const q = role(L.querySource, T, L.queryWidth, L.queryOffset, K);
  const k = role(L.keySource, S, L.keyWidth, L.keyOffset, K);
  const v = role(L.valueSource, S, L.valueWidth, L.valueOffset, V);
  const dc = headsAt(dcStart, T, H * V, 0, V);
  if (mask) writeMask(mm.floats, mask, biasStart);
  const maskBias = mask ? { biasStart, strides: maskStrides } : null;
  const blocks = blocksOf(L, mask, maskStrides);
  forEachHead(L, parts, (calls, b, h, part) => {
    transposeHead(calls, k.x, [H, S, K], [b, h], keysStart);
    transposeHead(calls, v.x, [H, S, V], [b, h], valuesStart);
    const [pStart, dStart] = [pScratch + part * ROWS * S4, dScratch + part * ROWS * S4];
    for (const block of blocks[b]) {
      const { t0, rows, first, count, width } = block;
      const qRows = q.x.addressOf(b, h) + t0 * q.x.rowBytes;
      const dqRows = q.dx.addressOf(b, h) + t0 * q.dx.rowBytes;
      const dcRows = dc.addressOf(b, h) + t0 * dc.rowBytes;
      const rowStart = (b * H + h) * T + t0;
      if (saved) {
        calls.copyRows(4 * (savedStart + rowStart * S + first), 4 * S, 4 * pStart, width, rows, count, width / 4);
      } else {
        // P, recomputed: exp(scale * Q K^T + mask - max - log-sum).
        blockScores(calls, L, block, h, qRows, q.x.rowBytes, keysStart, maskBias, pStart);
        calls.expShiftedRows(4 * pStart, rows, count, width, 4 * (savedStart + 2 * rowStart));
      }
      // dP = dC V^T, then dScore in its place.
      const values = 4 * (valuesStart + (b * H + h) * V * S4 + first);
      calls.axpyRows(dcRows, dc.rowBytes, 4, values, 4 * S4, 4 * dStart, width, rows, V, width, 1, 0);
      calls.softmaxBackwardRows(4 * pStart, 4 * dStart, rows, width);
      // A(i, j) read as dScore[t, s] for dQ, transposed (dScore[t, s] at (s, t)) for dK, dV.
      const keyRows = (heads: ReturnType<typeof headsAt>) => heads.addressOf(b, h) + first * heads.rowBytes;
      const [kRows, dk, dv] = [keyRows(k.x), keyRows(k.dx), keyRows(v.dx)];
      calls.axpyRows(4 * dStart, width, 4, kRows, k.x.rowBytes, dqRows, q.dx.rowBytes, rows, count, 4 * K, scale, 1);
      calls.axpyRows(4 * dStart, 4, width, qRows, q.x.rowBytes, dk, k.dx.rowBytes, count, rows, 4 * K, scale, 1);
      calls.axpyRows(4 * pStart, 4, width, dcRows, dc.rowBytes, dv, v.dx.rowBytes, count, rows, 4 * V, 1, 1);
    }
  });
  unstage(grads, gradStarts);
}

defineFusedKernel<AttentionAttrs>({
  kernelName: FORWARD,
  outputShapes: (shapes, attrs) => {
    const L = layoutOf(shapes, attrs);
    const rows = [L.batch, L.numHeads, L.queryLength];
    return [
      [L.batch, L.queryLength, L.numHeads, L.valueDim],
      [...rows, attrs.withProbabilities ? L.keyLength : 2],
    ];
  },
  compute: attentionForward,
});

defineFusedKernel<AttentionAttrs>({
  kernelName: BACKWARD,
  outputShapes: (shapes) =>
    Object.keys(shapes)
      .filter((name) => /^x\d$/.test(name))
      .sort()
      .map((name) => shapes[name]),
  compute: attentionBackward,
});

/**
 * Whether `fusedAttention` can run: on the cpu and wasm backends, where WebAssembly SIMD is
 * available, for key and value dims that are multiples of 4 (whole SIMD vectors).
 */
export function hasFusedAttention(keyDim: number, valueDim: number): boolean {
  return keyDim % 4 === 0 && valueDim % 4 === 0 && hasFusedKernel(FORWARD) && simdKernels() != null;
}

function checkArgs(args: FusedAttentionArgs): void {
  const { sources, numHeads: H, keyDim: K, valueDim: V } = args;
  if (sources.length < 1 || sources.length > 3) {
    throw new Error(`fusedAttention: sources must hold 1 to 3 tensors, got ${sources.length}`);
  }
  sources.forEach((x, i) => {
    if (x.rank !== 3) throw new Error(`fusedAttention: sources[${i}] must be (B, L, W), got shape [${x.shape}]`);
  });
  const check = (role: string, slice: HeadsSlice, width: number) => {
    const x = sources[slice.source];
    if (x == null || slice.offset < 0 || slice.offset + width > (x.shape[2] as number)) {
      throw new Error(
        `fusedAttention: ${role} columns [${slice.offset}, ${slice.offset + width}) of sources[${slice.source}] ` +
          `must lie inside a source's width (shapes ${sources.map((s) => `[${s.shape}]`).join(', ')})`,
      );
    }
  };
  check('query', args.query, H * K);
  check('key', args.key, H * K);
  check('value', args.value, H * V);
  const keyLength = sources[args.key.source].shape[1] as number;
  const read = args.keyLength;
  if (read != null && !(Number.isInteger(read) && read >= 1 && read <= keyLength)) {
    throw new Error(`fusedAttention: keyLength must be an integer in [1, ${keyLength}], got ${args.keyLength}`);
  }
  if (sources[args.value.source].shape[1] !== keyLength) {
    throw new Error(
      `fusedAttention: keys and values must have the same length, ` +
        `got ${keyLength} and ${sources[args.value.source].shape[1]}`,
    );
  }
}

/** The kernels' inputs: the sources as x0, x1, x2 and the mask when there is one. */
function inputsOf(sources: tf.Tensor[], mask: tf.Tensor | null): Record<string, tf.Tensor> {
  const inputs: Record<string, tf.Tensor> = {};
  sources.forEach((x, i) => (inputs[sourceName(i)] = x));
  if (mask != null) inputs.mask = mask;
  return inputs;
}

/**
 * Scaled dot-product attention of `numHeads` heads in one kernel (cpu and wasm backends; check
 * `hasFusedAttention`). Returns the context (B, T, H, V) and, with `needProbabilities` and no
 * gradient tape, the probabilities (B, H, T, S), else null. While a gradient tape records, the
 * context is differentiable (gradients reach every source); the forward keeps the probabilities
 * for the backward when they are small, else only each row's maximum and log-sum (B, H, T, 2),
 * from which the backward recomputes them a block at a time (SAVED_PROBABILITIES_MAX).
 * Call inside a tidy.
 */
export function fusedAttention(args: FusedAttentionArgs): { context: tf.Tensor4D; probabilities: tf.Tensor4D | null } {
  checkArgs(args);
  const taping = tf.engine().isTapeOn();
  const attrs = attentionAttrs(args, args.keyLength ?? -1, !taping && args.needProbabilities === true);
  const mask = args.mask == null ? null : args.mask.dtype === 'float32' ? args.mask : args.mask.cast('float32');

  if (args.keyLength != null && taping) {
    throw new Error('fusedAttention: keyLength (a cache prefix) is for inference; no gradient tape may record');
  }
  if (!taping) {
    const [context, second] = runFusedKernel(FORWARD, inputsOf(args.sources, mask), attrs);
    if (attrs.withProbabilities) return { context: context as tf.Tensor4D, probabilities: second as tf.Tensor4D };
    second.dispose();
    return { context: context as tf.Tensor4D, probabilities: null };
  }

  const [B, T] = args.sources[args.query.source].shape;
  const S = args.sources[args.key.source].shape[1] as number;
  const saveProbabilities = B * args.numHeads * T * S <= SAVED_PROBABILITIES_MAX;
  const tapedAttrs = { ...attrs, withProbabilities: saveProbabilities };
  const withGradient = tf.customGrad(((...xs: unknown[]) => {
    const save = xs.pop() as tf.GradSaveFunc;
    const sources = xs as tf.Tensor[];
    const [context, second] = runFusedKernel(FORWARD, inputsOf(sources, mask), tapedAttrs);
    // The probabilities, or each row's statistics to recompute them from (SAVED_PROBABILITIES_MAX).
    save([...sources, second, ...(mask ? [mask] : [])]);
    return {
      value: context,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const inputs = inputsOf(saved.slice(0, sources.length), mask ? saved[saved.length - 1] : null);
        const forwardOutput = { [saveProbabilities ? 'probabilities' : 'rowStats']: saved[sources.length] };
        return runFusedKernel(BACKWARD, { ...inputs, dContext: dy, ...forwardOutput }, tapedAttrs);
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...xs: tf.Tensor[]) => tf.Tensor;
  return { context: withGradient(...args.sources) as tf.Tensor4D, probabilities: null };
}
