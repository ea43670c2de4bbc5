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
import { simdKernels, stage, unstage } from './simd_kernels';

/** Added to the scores of masked keys before the softmax (Keras's value for float32). */
export const MASKED_SCORE = -1e9;

const FORWARD = 'TfjsAttentionScaledDotProduct';
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
}

/** The kernels' attributes: the slices flattened, as tfjs attributes are plain values. */
interface AttentionAttrs {
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
}

/** Sizes and strides the loops need, from the input shapes and attributes. */
interface Layout extends AttentionAttrs {
  batch: number;
  queryLength: number;
  keyLength: number;
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
  const keyLength = k[1];
  let maskStrides: Layout['maskStrides'] = null;
  const mask = shapes.mask;
  if (mask != null) {
    // Right-aligned (B, T, S) with size-1 dimensions broadcast, like tfjs's own add.
    const [mb, mt, ms] = mask.length === 2 ? [1, mask[0], mask[1]] : mask;
    maskStrides = [mb === 1 ? 0 : mt * ms, mt === 1 ? 0 : ms, ms === 1 ? 0 : 1];
  }
  return { ...attrs, batch, queryLength, keyLength, queryWidth: q[2], keyWidth: k[2], valueWidth: v[2], maskStrides };
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
 * blocks, Dao et al. 2022, without its key blocks: a block spans every key, so its softmax is
 * exact in one pass).
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
 * The first half of a masked softmax, in place over `rows` rows of S scores from `f[start]`,
 * query rows t0.. of batch row b: masked keys get MASKED_SCORE added (mask value at b*maskBatch +
 * t*maskRow + s*maskColumn, 1 = may attend), then each row is shifted by its maximum, written to
 * `maxima[i]`, so that every score is <= 0 for the exponential (simd_kernels.ts's expInPlace).
 */
function maskAndShiftRows(
  f: Float32Array,
  start: number,
  rows: number,
  S: number,
  b: number,
  t0: number,
  mask: Float32Array | undefined,
  [maskBatch, maskRow, maskColumn]: [number, number, number],
  maxima: Float64Array,
): void {
  for (let i = 0, row = start; i < rows; i++, row += S) {
    const maskAt = b * maskBatch + (t0 + i) * maskRow;
    let max = -Infinity;
    for (let s = 0; s < S; s++) {
      // Rounded to float32 before the maximum is taken, so that the maximum is a stored score.
      const score = Math.fround(
        mask === undefined ? f[row + s] : f[row + s] + (1 - mask[maskAt + s * maskColumn]) * MASKED_SCORE,
      );
      f[row + s] = score;
      if (score > max) max = score;
    }
    for (let s = 0; s < S; s++) f[row + s] -= max;
    maxima[i] = max;
  }
}

/**
 * The backward's recomputation of a block's probabilities, first half: the scores at `f[start]`
 * get the mask added as in the forward, then each row's maximum and log-sum (`stats` from
 * `statsStart`, pairs) subtracted, so that the exponential gives the forward's probabilities.
 */
function maskAndSubtractRows(
  f: Float32Array,
  start: number,
  rows: number,
  S: number,
  b: number,
  t0: number,
  mask: Float32Array | undefined,
  [maskBatch, maskRow, maskColumn]: [number, number, number],
  stats: Float32Array,
  statsStart: number,
): void {
  for (let i = 0, row = start; i < rows; i++, row += S) {
    const maskAt = b * maskBatch + (t0 + i) * maskRow;
    const max = stats[statsStart + 2 * i];
    const logSum = stats[statsStart + 2 * i + 1];
    for (let s = 0; s < S; s++) {
      // The score rounded to float32 as the forward stored it, so that score - max is the forward's.
      const score = Math.fround(
        mask === undefined ? f[row + s] : f[row + s] + (1 - mask[maskAt + s * maskColumn]) * MASKED_SCORE,
      );
      f[row + s] = Math.min(score - max - logSum, 0);
    }
  }
}

/** Row sums of `rows` rows of S values at `f[start]`, as float64. */
function rowSums(f: Float32Array, start: number, rows: number, S: number, sums: Float64Array): void {
  for (let i = 0, row = start; i < rows; i++, row += S) {
    let sum = 0;
    for (let s = 0; s < S; s++) sum += f[row + s];
    sums[i] = sum;
  }
}

/**
 * Through the softmax, in place: with P the `rows` x `S` probabilities at `f[p]` and dP the
 * gradient at `f[d]`, dP becomes dScore = P * (dP - rowsum(P * dP)).
 */
function softmaxBackwardRows(f: Float32Array, p: number, d: number, rows: number, S: number): void {
  for (let i = 0; i < rows * S; i += S) {
    let weighted = 0;
    for (let s = 0; s < S; s++) weighted += f[p + i + s] * f[d + i + s];
    for (let s = 0; s < S; s++) f[d + i + s] = f[p + i + s] * (f[d + i + s] - weighted);
  }
}

/**
 * Forward: the context (B, T, H, V), and the probabilities (B, H, T, S) or each row's
 * maximum and log-sum (B, H, T, 2) (`withProbabilities`). Per batch row, head and block of ROWS queries,
 * the scores Q K^T * scale and the weighted sum P V run in WebAssembly SIMD (simd_kernels.ts), and
 * so do the softmax's exponential and normalization; the mask and the shift by the row maximum
 * run here, over the staged scores in place.
 */
function attentionForward(
  inputs: FloatInputs,
  [context, second]: Float32Array[],
  attrs: AttentionAttrs,
  shapes: Record<string, number[]>,
): void {
  const L = layoutOf(shapes, attrs);
  const { batch: B, queryLength: T, keyLength: S, numHeads: H, keyDim: K, valueDim: V, scale } = L;
  const mm = simdKernels()!;
  const sources = sourcesOf(inputs);
  // Scores are written in place of the probabilities when those are wanted, else in one block's
  // scratch; either gets 3 floats of slack: expInPlace works 4 at a time.
  const scoresSize = attrs.withProbabilities ? second.length : ROWS * S;
  const starts = stage(sources, [], [scoresSize + 3, context.length]);
  const [pStart, cStart] = starts.slice(sources.length);
  const q = headsAt(starts[L.querySource], T, L.queryWidth, L.queryOffset, K);
  const k = headsAt(starts[L.keySource], S, L.keyWidth, L.keyOffset, K);
  const v = headsAt(starts[L.valueSource], S, L.valueWidth, L.valueOffset, V);
  const mask = inputs.mask;
  const maskStrides = L.maskStrides ?? [0, 0, 0];
  const maxima = new Float64Array(ROWS);
  const sums = new Float64Array(ROWS);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t0 = 0; t0 < T; t0 += ROWS) {
        const rows = Math.min(ROWS, T - t0);
        const scores = attrs.withProbabilities ? pStart + ((b * H + h) * T + t0) * S : pStart;
        // (rows, K) x (S, K)^T -> (rows, S), then the softmax over S.
        mm.dotRows(
          q.addressOf(b, h) + t0 * q.rowBytes,
          q.rowBytes,
          k.addressOf(b, h),
          k.rowBytes,
          4 * scores,
          4 * S,
          rows,
          S,
          4 * K,
          scale,
        );
        maskAndShiftRows(mm.floats, scores, rows, S, b, t0, mask, maskStrides, maxima);
        mm.expInPlace(4 * scores, 16 * Math.ceil((rows * S) / 4));
        if (!attrs.withProbabilities) {
          rowSums(mm.floats, scores, rows, S, sums);
          const stats = 2 * ((b * H + h) * T + t0);
          for (let i = 0; i < rows; i++) {
            second[stats + 2 * i] = maxima[i];
            second[stats + 2 * i + 1] = Math.log(sums[i]);
          }
        }
        mm.divideRowsBySum(4 * scores, rows, S);
        // (rows, S) x (S, V) -> context rows t0.. of head h.
        const c = 4 * (cStart + ((b * T + t0) * H + h) * V);
        mm.axpyRows(4 * scores, 4 * S, 4, v.addressOf(b, h), v.rowBytes, c, 4 * H * V, rows, S, 4 * V, 1, 0);
      }
    }
  }
  unstage(attrs.withProbabilities ? [context, second] : [context], [cStart, pStart]);
}

/**
 * Backward: the gradient of every source (zero where no role reads it) from dContext (B, T, H, V)
 * and the forward's probabilities or row statistics (maximum, log-sum). Per batch row, head and
 * block of ROWS queries, the block's probabilities P are read, or recomputed from Q, K, the mask
 * and those statistics, then
 * dP = dC V^T, dScore = P * (dP - rowsum(P * dP)) (the softmax's Jacobian),
 * dQ += scale dScore K, dK += scale dScore^T Q, dV += P^T dC.
 */
function attentionBackward(
  inputs: FloatInputs,
  grads: Float32Array[],
  attrs: AttentionAttrs,
  shapes: Record<string, number[]>,
): void {
  const L = layoutOf(shapes, attrs);
  const { batch: B, queryLength: T, keyLength: S, numHeads: H, keyDim: K, valueDim: V, scale } = L;
  const mm = simdKernels()!;
  const sources = sourcesOf(inputs);
  // The forward's probabilities when it saved them, else they are recomputed into a block's scratch.
  const saved = inputs.probabilities;
  const staged = saved ? [...sources, inputs.dContext, saved] : [...sources, inputs.dContext];
  // The gradients accumulate (zeroed); a block's P and dP / dScore scratch are written whole.
  const starts = stage(
    staged,
    grads.map((g) => g.length),
    [ROWS * S + 3, ROWS * S],
  );
  const dcStart = starts[sources.length];
  const savedStart = starts[sources.length + 1];
  const gradStarts = starts.slice(staged.length, staged.length + grads.length);
  const [scratchStart, dStart] = starts.slice(starts.length - 2);
  const role = (source: number, length: number, width: number, offset: number, headSize: number) => ({
    x: headsAt(starts[source], length, width, offset, headSize),
    dx: headsAt(gradStarts[source], length, width, offset, headSize),
  });
  const q = role(L.querySource, T, L.queryWidth, L.queryOffset, K);
  const k = role(L.keySource, S, L.keyWidth, L.keyOffset, K);
  const v = role(L.valueSource, S, L.valueWidth, L.valueOffset, V);
  const dc = headsAt(dcStart, T, H * V, 0, V);
  const mask = inputs.mask;
  const maskStrides = L.maskStrides ?? [0, 0, 0];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t0 = 0; t0 < T; t0 += ROWS) {
        const rows = Math.min(ROWS, T - t0);
        const qRows = q.x.addressOf(b, h) + t0 * q.x.rowBytes;
        const dqRows = q.dx.addressOf(b, h) + t0 * q.dx.rowBytes;
        const dcRows = dc.addressOf(b, h) + t0 * dc.rowBytes;
        const pStart = saved ? savedStart + ((b * H + h) * T + t0) * S : scratchStart;
        if (!saved) {
          // P, recomputed: exp(scale * Q K^T + mask - max - log-sum).
          mm.dotRows(qRows, q.x.rowBytes, k.x.addressOf(b, h), k.x.rowBytes, 4 * pStart, 4 * S, rows, S, 4 * K, scale);
          maskAndSubtractRows(
            mm.floats,
            pStart,
            rows,
            S,
            b,
            t0,
            mask,
            maskStrides,
            inputs.rowStats,
            2 * ((b * H + h) * T + t0),
          );
          mm.expInPlace(4 * pStart, 16 * Math.ceil((rows * S) / 4));
        }
        // dP = dC V^T, then dScore in its place.
        mm.dotRows(dcRows, dc.rowBytes, v.x.addressOf(b, h), v.x.rowBytes, 4 * dStart, 4 * S, rows, S, 4 * V, 1);
        softmaxBackwardRows(mm.floats, pStart, dStart, rows, S);
        // A(i, j) read as dScore[t, s] for dQ, transposed (dScore[t, s] at (s, t)) for dK, dV.
        mm.axpyRows(
          4 * dStart,
          4 * S,
          4,
          k.x.addressOf(b, h),
          k.x.rowBytes,
          dqRows,
          q.dx.rowBytes,
          rows,
          S,
          4 * K,
          scale,
          1,
        );
        mm.axpyRows(
          4 * dStart,
          4,
          4 * S,
          qRows,
          q.x.rowBytes,
          k.dx.addressOf(b, h),
          k.dx.rowBytes,
          S,
          rows,
          4 * K,
          scale,
          1,
        );
        mm.axpyRows(
          4 * pStart,
          4,
          4 * S,
          dcRows,
          dc.rowBytes,
          v.dx.addressOf(b, h),
          v.dx.rowBytes,
          S,
          rows,
          4 * V,
          1,
          1,
        );
      }
    }
  }
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
  const keyLength = sources[args.key.source].shape[1];
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
  const attrs: AttentionAttrs = {
    withProbabilities: !taping && args.needProbabilities === true,
    numHeads: args.numHeads,
    keyDim: args.keyDim,
    valueDim: args.valueDim,
    scale: args.scale,
    querySource: args.query.source,
    queryOffset: args.query.offset,
    keySource: args.key.source,
    keyOffset: args.key.offset,
    valueSource: args.value.source,
    valueOffset: args.value.offset,
  };
  const mask = args.mask == null ? null : args.mask.dtype === 'float32' ? args.mask : args.mask.cast('float32');

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
