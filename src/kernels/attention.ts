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
}

/** The kernels' attributes: the slices flattened, as tfjs attributes are plain values. */
interface AttentionAttrs {
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
 * The first half of a masked softmax, in place over B*H blocks of T rows of S scores from
 * `f[start]`: masked keys get MASKED_SCORE added (mask value at b*maskBatch + t*maskRow +
 * s*maskColumn, 1 = may attend), then each row is shifted by its maximum, so that every score
 * is <= 0 for the exponential (simd_kernels.ts's expInPlace) and divideRowsBySum that follow.
 */
function maskAndShiftRows(
  f: Float32Array,
  start: number,
  B: number,
  H: number,
  T: number,
  S: number,
  mask: Float32Array | undefined,
  maskBatch: number,
  maskRow: number,
  maskColumn: number,
): void {
  let row = start;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++, row += S) {
        const maskAt = b * maskBatch + t * maskRow;
        let max = -Infinity;
        for (let s = 0; s < S; s++) {
          const score =
            mask === undefined ? f[row + s] : f[row + s] + (1 - mask[maskAt + s * maskColumn]) * MASKED_SCORE;
          f[row + s] = score;
          if (score > max) max = score;
        }
        for (let s = 0; s < S; s++) f[row + s] -= max;
      }
    }
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
 * Forward: context (B, T, H, V) and probabilities (B, H, T, S). Per batch row and head, the
 * scores Q K^T * scale and the weighted sum P V run in WebAssembly SIMD (simd_kernels.ts), and
 * so do the softmax's exponential and normalization; the mask and the shift by the row maximum
 * run here, over the staged scores in place.
 */
function attentionForward(
  inputs: FloatInputs,
  [context, probabilities]: Float32Array[],
  attrs: AttentionAttrs,
  shapes: Record<string, number[]>,
): void {
  const L = layoutOf(shapes, attrs);
  const { batch: B, queryLength: T, keyLength: S, numHeads: H, keyDim: K, valueDim: V, scale } = L;
  const mm = simdKernels()!;
  const sources = sourcesOf(inputs);
  // Both results are written whole. The probabilities' region gets up to 3 floats of slack:
  // expInPlace works 4 at a time.
  const starts = stage(sources, [], [probabilities.length + 3, context.length]);
  const [pStart, cStart] = starts.slice(sources.length);
  const q = headsAt(starts[L.querySource], T, L.queryWidth, L.queryOffset, K);
  const k = headsAt(starts[L.keySource], S, L.keyWidth, L.keyOffset, K);
  const v = headsAt(starts[L.valueSource], S, L.valueWidth, L.valueOffset, V);
  const mask = inputs.mask;
  const [mB, mT, mS] = L.maskStrides ?? [0, 0, 0];
  const f = mm.floats;
  const scores = (b: number, h: number) => pStart + (b * H + h) * T * S;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      mm.dotRows(
        q.addressOf(b, h),
        q.rowBytes,
        k.addressOf(b, h),
        k.rowBytes,
        4 * scores(b, h),
        4 * S,
        T,
        S,
        4 * K,
        scale,
      );
    }
  }
  maskAndShiftRows(f, pStart, B, H, T, S, mask, mB, mT, mS);
  mm.expInPlace(4 * pStart, 16 * Math.ceil(probabilities.length / 4));
  mm.divideRowsBySum(4 * pStart, B * H * T, S);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const c = 4 * (cStart + (b * T * H + h) * V);
      mm.axpyRows(4 * scores(b, h), 4 * S, 4, v.addressOf(b, h), v.rowBytes, c, 4 * H * V, T, S, 4 * V, 1, 0);
    }
  }
  unstage([context, probabilities], [cStart, pStart]);
}

/**
 * Backward: the gradient of every source (zero where no role reads it) from dContext (B, T, H, V)
 * and the forward's probabilities. Per batch row and head, with P the probabilities:
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
  // The gradients accumulate (zeroed); the dP / dScore scratch is written whole per head.
  const starts = stage(
    [...sources, inputs.dContext, inputs.probabilities],
    grads.map((g) => g.length),
    [T * S],
  );
  const [dcStart, pStart] = starts.slice(sources.length, sources.length + 2);
  const gradStarts = starts.slice(sources.length + 2, sources.length + 2 + grads.length);
  const scratch = starts[starts.length - 1];
  const role = (source: number, length: number, width: number, offset: number, headSize: number) => ({
    x: headsAt(starts[source], length, width, offset, headSize),
    dx: headsAt(gradStarts[source], length, width, offset, headSize),
  });
  const q = role(L.querySource, T, L.queryWidth, L.queryOffset, K);
  const k = role(L.keySource, S, L.keyWidth, L.keyOffset, K);
  const v = role(L.valueSource, S, L.valueWidth, L.valueOffset, V);
  const dc = headsAt(dcStart, T, H * V, 0, V);
  const f = mm.floats;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const p = pStart + (b * H + h) * T * S;
      mm.dotRows(
        dc.addressOf(b, h),
        dc.rowBytes,
        v.x.addressOf(b, h),
        v.x.rowBytes,
        4 * scratch,
        4 * S,
        T,
        S,
        4 * V,
        1,
      );
      softmaxBackwardRows(f, p, scratch, T, S);
      // A(i, j) read as dScore[t, s] for dQ, transposed (dScore[t, s] at (s, t)) for dK, dV.
      mm.axpyRows(
        4 * scratch,
        4 * S,
        4,
        k.x.addressOf(b, h),
        k.x.rowBytes,
        q.dx.addressOf(b, h),
        q.dx.rowBytes,
        T,
        S,
        4 * K,
        scale,
        1,
      );
      mm.axpyRows(
        4 * scratch,
        4,
        4 * S,
        q.x.addressOf(b, h),
        q.x.rowBytes,
        k.dx.addressOf(b, h),
        k.dx.rowBytes,
        S,
        T,
        4 * K,
        scale,
        1,
      );
      mm.axpyRows(
        4 * p,
        4,
        4 * S,
        dc.addressOf(b, h),
        dc.rowBytes,
        v.dx.addressOf(b, h),
        v.dx.rowBytes,
        S,
        T,
        4 * V,
        1,
        1,
      );
    }
  }
  unstage(grads, gradStarts);
}

defineFusedKernel<AttentionAttrs>({
  kernelName: FORWARD,
  outputShapes: (shapes, attrs) => {
    const L = layoutOf(shapes, attrs);
    return [
      [L.batch, L.queryLength, L.numHeads, L.valueDim],
      [L.batch, L.numHeads, L.queryLength, L.keyLength],
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
 * `hasFusedAttention`). Returns the context (B, T, H, V) and the probabilities (B, H, T, S).
 * While a gradient tape records, the context is differentiable (gradients reach every source)
 * and the probabilities are null: they would not be. Call inside a tidy.
 */
export function fusedAttention(args: FusedAttentionArgs): { context: tf.Tensor4D; probabilities: tf.Tensor4D | null } {
  checkArgs(args);
  const attrs: AttentionAttrs = {
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

  if (!tf.engine().isTapeOn()) {
    const [context, probabilities] = runFusedKernel(FORWARD, inputsOf(args.sources, mask), attrs);
    return { context: context as tf.Tensor4D, probabilities: probabilities as tf.Tensor4D };
  }

  const withGradient = tf.customGrad(((...xs: unknown[]) => {
    const save = xs.pop() as tf.GradSaveFunc;
    const sources = xs as tf.Tensor[];
    const [context, probabilities] = runFusedKernel(FORWARD, inputsOf(sources, mask), attrs);
    save([...sources, probabilities]);
    return {
      value: context,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const inputs = inputsOf(saved.slice(0, -1), null);
        return runFusedKernel(BACKWARD, { ...inputs, dContext: dy, probabilities: saved[saved.length - 1] }, attrs);
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...xs: tf.Tensor[]) => tf.Tensor;
  return { context: withGradient(...args.sources) as tf.Tensor4D, probabilities: null };
}
