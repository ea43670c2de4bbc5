/**
 * The fused attention kernel (src/kernels/attention.ts) against float64 loops, in seconds: the
 * context, the probabilities and the gradient of every source, for sources shared or apart with
 * heads at column offsets, every mask shape (a fully masked row among them), a key prefix of a
 * cache, several blocks of 32 queries with keys skipped outside a window, and the backward that
 * recomputes the probabilities; every (batch row, head) part run by a worker thread, after a
 * resident block (so no staged region starts at float 0), and the parts interleaved call by call;
 * the keys each block reads; nothing written past the memory staged for a call. attention.test.ts
 * checks the same kernel against the plain definition in tfjs ops, on both backends.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import {
  attentionAttrs,
  fusedAttention,
  hasFusedAttention,
  MASKED_SCORE,
  type FusedAttentionArgs,
  type HeadsSlice,
} from '../../src/kernels/attention';
import { allocateResident, freeResident, simdKernels, type ResidentBlock } from '../../src/kernels/simd_kernels';
import { partsRunByWorkers, setCallerClaimsParts } from '../../src/kernels/threads';
import { seededValues } from '../layers/attention_reference';
import { FUSED_ATTENTION, FUSED_ATTENTION_GRAD, runThenProfile } from '../helpers/kernel_paths';
import { maxAbsDiff } from '../helpers/tensors';
import { useThreads, withPartsInterleaved } from '../helpers/threads';
import { watchPastReserved } from '../helpers/past_reserved';

interface Problem {
  /** Each source's shape (B, L, W) and a seed for its values. */
  sources: Array<[number, number, number]>;
  query: HeadsSlice;
  key: HeadsSlice;
  value: HeadsSlice;
  H: number;
  K: number;
  V: number;
  scale: number;
  /** The mask's shape and values (1 = may attend), or null. */
  mask: { shape: number[]; values: (b: number, t: number, s: number) => number } | null;
  keyLength?: number;
}

/** The values of source i. */
const sourceValues = (shape: number[], i: number) => seededValues(shape[0] * shape[1] * shape[2], 31 + i);

/** The mask's values, row-major over its own shape. */
function maskValues(mask: NonNullable<Problem['mask']>): number[] {
  const [mb, mt, ms] = mask.shape.length === 2 ? [1, ...mask.shape] : mask.shape;
  const out: number[] = [];
  for (let b = 0; b < mb; b++) for (let t = 0; t < mt; t++) for (let s = 0; s < ms; s++) out.push(mask.values(b, t, s));
  return out;
}

/**
 * The context (B, T, H, V), probabilities (B, H, T, S) and the gradient of sum(context * weights)
 * for every source, in float64: a query whose keys are all masked attends to every key alike.
 */
function reference(p: Problem, weights: number[]) {
  const values = p.sources.map(sourceValues);
  const [B, T] = p.sources[p.query.source];
  const S = p.keyLength ?? p.sources[p.key.source][1];
  const { H, K, V, scale } = p;
  const grads = p.sources.map((shape) => new Float64Array(shape[0] * shape[1] * shape[2]));
  /** Where head h of batch row b starts in a role's source, and the step between positions. */
  const heads = (slice: HeadsSlice, E: number) => {
    const [, L, W] = p.sources[slice.source];
    return {
      x: values[slice.source],
      dx: grads[slice.source],
      row: W,
      at: (b: number, h: number) => b * L * W + slice.offset + h * E,
    };
  };
  const [qs, ks, vs] = [heads(p.query, K), heads(p.key, K), heads(p.value, V)];
  const [mb, mt, ms] = p.mask ? (p.mask.shape.length === 2 ? [1, ...p.mask.shape] : p.mask.shape) : [1, 1, 1];
  const mask = p.mask ? maskValues(p.mask) : null;
  const context = new Float64Array(B * T * H * V);
  const probabilities = new Float64Array(B * H * T * S);
  const [scores, P, dP] = [new Float64Array(S), new Float64Array(S), new Float64Array(S)];
  const open = new Uint8Array(S);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const [q0, k0, v0] = [qs.at(b, h), ks.at(b, h), vs.at(b, h)];
      for (let t = 0; t < T; t++) {
        const q = q0 + t * qs.row;
        let any = false;
        for (let s = 0; s < S; s++) {
          open[s] =
            mask === null || mask[(mb === 1 ? 0 : b) * mt * ms + (mt === 1 ? 0 : t) * ms + (ms === 1 ? 0 : s)] !== 0
              ? 1
              : 0;
          any ||= open[s] === 1;
        }
        // A fully masked row: every score is -1e9 in float32 (the scores' ulp there is 64).
        if (!any) open.fill(1);
        let top = -Infinity;
        for (let s = 0; s < S; s++) {
          let sum = 0;
          for (let e = 0; e < K; e++) sum += ks.x[k0 + s * ks.row + e] * qs.x[q + e];
          scores[s] = any ? scale * sum : 0;
          if (open[s] === 1) top = Math.max(top, scores[s]);
        }
        let total = 0;
        for (let s = 0; s < S; s++) total += P[s] = open[s] === 1 ? Math.exp(scores[s] - top) : 0;
        const c = ((b * T + t) * H + h) * V;
        let mean = 0;
        for (let s = 0; s < S; s++) {
          P[s] /= total;
          probabilities[((b * H + h) * T + t) * S + s] = P[s];
          const v = v0 + s * vs.row;
          let sum = 0;
          for (let e = 0; e < V; e++) {
            context[c + e] += P[s] * vs.x[v + e];
            sum += weights[c + e] * vs.x[v + e];
          }
          dP[s] = sum;
          mean += P[s] * sum;
        }
        // The gradient: dP = w . v, dScore = P (dP - sum P dP), then Q's, K's and V's.
        for (let s = 0; s < S; s++) {
          if (P[s] === 0) continue;
          const dScore = scale * P[s] * (dP[s] - mean);
          const [k, v] = [k0 + s * ks.row, v0 + s * vs.row];
          for (let e = 0; e < K; e++) {
            qs.dx[q + e] += dScore * ks.x[k + e];
            ks.dx[k + e] += dScore * qs.x[q + e];
          }
          for (let e = 0; e < V; e++) vs.dx[v + e] += P[s] * weights[c + e];
        }
      }
    }
  }
  return { context, probabilities, grads };
}

/** The largest difference relative to the largest value (at least 1). */
const relativeError = (actual: ArrayLike<number>, expected: ArrayLike<number>) =>
  maxAbsDiff(actual, expected) / Array.from(expected).reduce((max, v) => Math.max(max, Math.abs(v)), 1);

interface KernelOptions {
  maskDtype?: 'float32' | 'int32';
  withProbabilities?: boolean;
}

/**
 * The kernel's answers for `p`: the context and probabilities (`withProbabilities`), and without a
 * key prefix the context under a gradient tape and the gradients. No call writes past the memory
 * staged for it (`watchPastReserved`): the mask and its 4 zeros, the scratch of every part.
 */
function kernel(
  p: Problem,
  weights: number[],
  { maskDtype = 'float32', withProbabilities = true }: KernelOptions = {},
) {
  const [B, T] = p.sources[p.query.source];
  const S = p.keyLength ?? p.sources[p.key.source][1];
  const out = {
    tapedBytes: 0,
    contexts: [] as Float32Array[],
    probabilities: null as Float32Array | null,
    grads: [] as Float32Array[],
  };
  const watch = watchPastReserved();
  tf.tidy(() => {
    const sources = p.sources.map((shape, i) => tf.tensor3d(sourceValues(shape, i), shape));
    const mask = p.mask && tf.tensor(maskValues(p.mask), p.mask.shape, maskDtype);
    const args: FusedAttentionArgs = {
      sources,
      query: p.query,
      key: p.key,
      value: p.value,
      numHeads: p.H,
      keyDim: p.K,
      valueDim: p.V,
      scale: p.scale,
      mask,
      keyLength: p.keyLength,
    };
    const read = (context: tf.Tensor) => {
      expect(context.shape).toEqual([B, T, p.H, p.V]);
      out.contexts.push(context.dataSync() as Float32Array);
    };
    if (withProbabilities) {
      const { context, probabilities } = fusedAttention({ ...args, needProbabilities: true });
      read(context);
      expect(probabilities!.shape).toEqual([B, p.H, T, S]);
      out.probabilities = probabilities!.dataSync() as Float32Array;
      // Not asked for: none returned, the same context.
      const alone = fusedAttention(args);
      expect(alone.probabilities).toBeNull();
      read(alone.context);
    }
    if (p.keyLength === undefined) {
      const w = tf.tensor(weights, [B, T, p.H, p.V]);
      const loss = (...xs: tf.Tensor[]) => {
        const bytes = tf.memory().numBytes;
        const result = fusedAttention({ ...args, sources: xs, needProbabilities: true });
        // What the forward keeps for the backward: the probabilities or each row's statistics.
        out.tapedBytes = tf.memory().numBytes - bytes;
        // Under a tape the probabilities are not returned (nothing of (T, S) kept).
        expect(result.probabilities).toBeNull();
        read(result.context);
        return result.context.mul(w).sum();
      };
      out.grads = tf
        .grads(loss)(sources)
        .map((g, i) => {
          expect(g.shape).toEqual(p.sources[i]);
          return g.dataSync() as Float32Array;
        });
    }
  });
  expect(watch.stop()).toEqual([]);
  return out;
}

/** Checks the kernel against the loops; returns how many parts the workers ran, and the taped bytes. */
function check(p: Problem, options: KernelOptions = {}): number {
  return checked(p, options).parts;
}

function checked(p: Problem, options: KernelOptions = {}): { parts: number; tapedBytes: number } {
  const [B, T] = p.sources[p.query.source];
  const weights = seededValues(B * T * p.H * p.V, 77);
  const before = [tf.memory().numTensors, partsRunByWorkers()];
  const ours = kernel(p, weights, options);
  const parts = partsRunByWorkers() - before[1];
  expect(tf.memory().numTensors).toBe(before[0]);
  const theirs = reference(p, weights);
  ours.contexts.forEach((context, i) =>
    expect({ context: i, close: relativeError(context, theirs.context) < 1e-5 }).toEqual({ context: i, close: true }),
  );
  if (ours.probabilities) expect(maxAbsDiff(ours.probabilities, theirs.probabilities)).toBeLessThan(1e-6);
  ours.grads.forEach((grad, i) => {
    expect({ source: i, close: relativeError(grad, theirs.grads[i]) < 1e-5 }).toEqual({ source: i, close: true });
    // Not vacuous: every source has a gradient far from zero.
    expect({ source: i, largest: Math.max(...Array.from(grad, Math.abs)) > 0.01 }).toEqual({
      source: i,
      largest: true,
    });
  });
  return { parts, tapedBytes: ours.tapedBytes };
}

/** Self-attention over one (B, T, 2HK + HV) source. */
function selfAttention(B: number, T: number, H: number, K: number, V: number, mask: Problem['mask']): Problem {
  return {
    sources: [[B, T, 2 * H * K + H * V]],
    query: { source: 0, offset: 0 },
    key: { source: 0, offset: H * K },
    value: { source: 0, offset: 2 * H * K },
    H,
    K,
    V,
    scale: 1 / Math.sqrt(K),
    mask,
  };
}

/** Queries (B, T, HK + 4) at column 4, keys (B, S, HK + 8) at 0, values (B, S, HV + 4) at 4. */
function threeSources(B: number, T: number, S: number, mask: Problem['mask']): Problem {
  const [H, K, V] = [2, 8, 4];
  return {
    sources: [
      [B, T, H * K + 4],
      [B, S, H * K + 8],
      [B, S, H * V + 4],
    ],
    query: { source: 0, offset: 4 },
    key: { source: 1, offset: 0 },
    value: { source: 2, offset: 4 },
    H,
    K,
    V,
    scale: 0.7,
    mask,
  };
}

describe('fusedAttention against float64 loops', () => {
  let resident: ResidentBlock | null = null;
  beforeEach(async () => {
    await initBackend('cpu', { quiet: true });
    await useThreads(2);
    resident = allocateResident(1000);
    // Every part on the worker: a test that the workers compute the same does not hope for it.
    setCallerClaimsParts(false);
  });
  afterEach(() => {
    setCallerClaimsParts(true);
    if (resident) freeResident(resident);
  });

  it('self-attention over three blocks of queries, a window, padding and fully masked rows, in parts', () => {
    // B2 H4: 8 (batch row, head) pairs of 70 x 70 x 32 multiply-adds, two parts (MIN_PART_MACS 2^19).
    // Batch row 0: a window of 9 keys (a block's first key not a whole vector), row 40 fully
    // masked; batch row 1: the keys past 33 padding, row 3 fully masked.
    const mask = {
      shape: [2, 70, 70],
      values: (b: number, t: number, s: number) =>
        b === 0 ? Number(t !== 40 && s <= t && s >= t - 8) : Number(t !== 3 && s < 33),
    };
    expect(check(selfAttention(2, 70, 4, 12, 20, mask))).toBeGreaterThan(0);
  });

  it('over 2^20 probabilities (B1 H4 T520), the backward recomputes them from the row statistics', () => {
    const mask = { shape: [520, 520], values: (_b: number, t: number, s: number) => Number(s <= t && s < 500) };
    // The context under the tape (row statistics kept, not the probabilities) and the gradients.
    const { parts, tapedBytes } = checked(selfAttention(1, 520, 4, 4, 4, mask), { withProbabilities: false });
    expect(parts).toBeGreaterThan(0);
    // The row statistics (B, H, T, 2) kept for the backward, not 4 MB of probabilities (B, H, T, S).
    expect(tapedBytes).toBeLessThan(4 * 4 * 520 * 520);
  });

  it('each block of 32 queries reads only the keys its rows may attend to, from a whole vector', () => {
    // B1 H1 T96 (three whole blocks): a band of the last 10 keys (s from t - 9 to t), row 66 fully
    // masked.
    const band = {
      shape: [96, 96],
      values: (_b: number, t: number, s: number) => Number(t !== 66 && s <= t && s >= t - 9),
    };
    // One (batch row, head) pair: one part, run on this thread by the module's own functions.
    const softmax = jest.spyOn(simdKernels()!, 'softmaxRows');
    try {
      check(selfAttention(1, 96, 1, 4, 4, band));
      // (rows, keys) of each block's softmax, in each of the three forward calls: rows 0-31 read
      // keys 0-31; rows 32-63 keys 20-63 (23 rounded down to a whole vector); rows 64-95 all 96
      // (a fully masked row attends to every key alike); no block past the last row.
      const blocks = [
        [32, 32],
        [32, 44],
        [32, 96],
      ];
      expect(softmax.mock.calls.map(([, rows, count]) => [rows, count])).toEqual([...blocks, ...blocks, ...blocks]);
    } finally {
      softmax.mockRestore();
    }
  });

  it("a block of one query row at t = 32 reads that row's mask (T33, S8)", () => {
    // Rows 0-7 causal, then all 8 keys: row 32 alone in its block (a row read at t / S would
    // find row 0's last keys and row 1's first, keys 4 and 5 only).
    check(threeSources(1, 33, 8, { shape: [33, 8], values: (_b, t, s) => Number(s <= t) }));
  });

  it('a (B, 1, S) mask of more batch rows than keys: each batch row reads its own (B5, S4)', () => {
    // Batch row 4 attends to all 4 keys (a row read at b / S would find batch row 0's last keys
    // and row 1's first: key 0 only).
    const values = (b: number, _t: number, s: number) => (b === 0 ? Number(s < 2) : b === 1 ? Number(s >= 1) : 1);
    check(threeSources(5, 2, 4, { shape: [5, 1, 4], values }));
  });

  it('runs TfjsAttentionScaledDotProduct, and TfjsAttentionScaledDotProductGrad for the gradient', async () => {
    const x = tf.tensor3d(seededValues(2 * 3 * 12, 5), [2, 3, 12]);
    const args = selfAttentionArgsOf(x);
    const forward = await runThenProfile(() => fusedAttention(args).context);
    expect(forward.kernels).toEqual([FUSED_ATTENTION]);
    const gradient = await runThenProfile(() =>
      tf.grad((t: tf.Tensor) => fusedAttention({ ...args, sources: [t] }).context.sum())(x),
    );
    expect(gradient.kernels.filter((name) => name.startsWith('TfjsAttention'))).toEqual([
      FUSED_ATTENTION,
      FUSED_ATTENTION_GRAD,
    ]);
    tf.dispose([x, forward.result, gradient.result]);
  });

  it("a call's parts are independent: interleaved one kernel call at a time, each way round, the same values", () => {
    // B2 H4 T64 K16 V16: two parts of 4 (batch row, head) pairs a call (2^17 multiply-adds a pair),
    // two blocks of queries, the second over all 64 keys (the causal mask): a part that wrote into
    // another's scratch (its scores, P or dP, the saved probabilities' padding) would change them
    // between that part's calls.
    const causal = { shape: [64, 64], values: (_b: number, t: number, s: number) => Number(s <= t) };
    for (const reversed of [false, true]) {
      // The forward with and without the probabilities, under the tape, and the backward.
      expect(withPartsInterleaved(reversed, () => check(selfAttention(2, 64, 4, 16, 16, causal)))).toBe(4);
    }
  });

  const masks: Array<[string, number[], (b: number, t: number, s: number) => number]> = [
    ['no mask', [], () => 1],
    ['a (T, S) mask', [5, 7], (_b, t, s) => Number((s + t) % 3 !== 0)],
    ['a (B, 1, S) padding mask', [3, 1, 7], (b, _t, s) => Number(s < 3 + 2 * b)],
    ['a (1, T, S) mask with a fully masked row', [1, 5, 7], (_b, t, s) => Number(t !== 2 && s !== t)],
    ['a (B, T, 1) mask: query rows masked whole', [3, 5, 1], (b, t) => Number(t !== b)],
    ['a (B, T, S) mask', [3, 5, 7], (b, t, s) => Number((s + t + b) % 3 !== 0)],
  ];
  for (const [name, shape, values] of masks) {
    it(`three sources at column offsets, ${name}`, () => {
      check(threeSources(3, 5, 7, shape.length === 0 ? null : { shape, values }));
    });
  }

  it('an int32 mask reads as its float values', () => {
    check(threeSources(3, 5, 7, { shape: [3, 1, 7], values: (b, _t, s) => Number(s !== b) }), { maskDtype: 'int32' });
  });

  it('queries and values in one source, keys in another: the gradients of the shared one add', () => {
    const [B, T, H, K, V] = [2, 6, 2, 4, 8];
    check({
      sources: [
        [B, T, H * K + H * V],
        [B, T, H * K],
      ],
      query: { source: 0, offset: 0 },
      key: { source: 1, offset: 0 },
      value: { source: 0, offset: H * K },
      H,
      K,
      V,
      scale: 0.5,
      mask: { shape: [T, T], values: (_b, t, s) => Number(s <= t) },
    });
  });

  // A key/value cache: only its first keyLength positions are read, whatever the rest holds.
  const prefixes: Array<[string, Problem]> = [
    [
      'one batch row, the cache a source of its own (only the prefix is staged)',
      { ...threeSources(1, 3, 10, null), keyLength: 6 },
    ],
    ['two batch rows', { ...threeSources(2, 3, 10, null), keyLength: 6 }],
    [
      'one batch row, queries in the cache source',
      {
        ...selfAttention(1, 10, 2, 4, 4, { shape: [10, 7], values: (_b, t, s) => Number(s <= t) }),
        keyLength: 7,
      },
    ],
    // A source that holds the queries too is staged whole: its T rows are read, not only S.
    [
      'one batch row, queries and keys in one source, values apart',
      {
        ...selfAttention(1, 10, 2, 4, 4, null),
        sources: [
          [1, 10, 16],
          [1, 10, 8],
        ],
        key: { source: 0, offset: 8 },
        value: { source: 1, offset: 0 },
        keyLength: 7,
      },
    ],
    [
      'one batch row, queries and values in one source, keys apart',
      {
        ...selfAttention(1, 10, 2, 4, 4, null),
        sources: [
          [1, 10, 16],
          [1, 10, 8],
        ],
        key: { source: 1, offset: 0 },
        value: { source: 0, offset: 8 },
        keyLength: 7,
      },
    ],
    [
      'one batch row, a (1, T, keyLength) mask',
      {
        ...threeSources(1, 3, 10, { shape: [1, 3, 5], values: (_b, t, s) => Number(s !== t) }),
        keyLength: 5,
      },
    ],
  ];
  for (const [name, problem] of prefixes) {
    it(`a key prefix (keyLength), ${name}`, () => {
      check(problem);
      // The positions past the prefix are never read: the same call on sources cut to the prefix
      // gives the same floats (one batch row: the cut sources' seeded rows are the prefix's).
      const { query, key, value, keyLength } = problem;
      if (problem.sources[0][0] === 1 && key.source !== query.source && value.source !== query.source) {
        const cut = problem.sources.map((shape, i): [number, number, number] =>
          i === key.source || i === value.source ? [1, keyLength!, shape[2]] : shape,
        );
        const ours = kernel(problem, []).contexts[0];
        expect(maxAbsDiff(kernel({ ...problem, sources: cut }, []).contexts[0], ours)).toBe(0);
      }
    });
  }

  it('a key prefix under a gradient tape is refused', () => {
    const x = tf.zeros([1, 4, 12]);
    const args = { ...selfAttentionArgsOf(x), keyLength: 2 };
    expect(() => tf.grad((t: tf.Tensor) => fusedAttention({ ...args, sources: [t] }).context.sum())(x)).toThrow(
      'fusedAttention: keyLength (a cache prefix) is for inference; no gradient tape may record',
    );
    x.dispose();
  });

  it('names the argument and the value in its errors', () => {
    const x = tf.zeros([2, 3, 12]);
    const y = tf.zeros([2, 5, 12]);
    const args = selfAttentionArgsOf(x);
    const fails = (changes: Partial<FusedAttentionArgs>) => () => fusedAttention({ ...args, ...changes });
    expect(fails({ sources: [] })).toThrow('fusedAttention: sources must hold 1 to 3 tensors, got 0');
    expect(fails({ sources: [x, x, x, x] })).toThrow('fusedAttention: sources must hold 1 to 3 tensors, got 4');
    expect(fails({ sources: [x, x, x] })).not.toThrow();
    expect(fails({ sources: [x, tf.zeros([2, 3])] })).toThrow(
      'fusedAttention: sources[1] must be (B, L, W), got shape [2,3]',
    );
    expect(fails({ query: { source: 0, offset: -1 } })).toThrow(
      "fusedAttention: query columns [-1, 3) of sources[0] must lie inside a source's width (shapes [2,3,12])",
    );
    expect(fails({ key: { source: 1, offset: 0 } })).toThrow(
      "fusedAttention: key columns [0, 4) of sources[1] must lie inside a source's width (shapes [2,3,12])",
    );
    expect(fails({ value: { source: 0, offset: 9 } })).toThrow(
      "fusedAttention: value columns [9, 13) of sources[0] must lie inside a source's width (shapes [2,3,12])",
    );
    expect(fails({ value: { source: 0, offset: 8 } })).not.toThrow();
    expect(fails({ sources: [x, y], value: { source: 1, offset: 9 } })).toThrow(
      'fusedAttention: value columns [9, 13) of sources[1] must lie inside a source' +
        "'s width (shapes [2,3,12], [2,5,12])",
    );
    for (const keyLength of [0, 1.5, 4]) {
      expect(fails({ keyLength })).toThrow(`fusedAttention: keyLength must be an integer in [1, 3], got ${keyLength}`);
    }
    expect(fails({ keyLength: 1 })).not.toThrow();
    expect(fails({ keyLength: 3 })).not.toThrow();
    expect(fails({ sources: [x, y], value: { source: 1, offset: 8 } })).toThrow(
      'fusedAttention: keys and values must have the same length, got 3 and 5',
    );
    tf.dispose([x, y]);
  });

  it('is available for key and value dims of whole vectors only', () => {
    expect([hasFusedAttention(4, 8), hasFusedAttention(4, 6), hasFusedAttention(6, 4)]).toEqual([true, false, false]);
  });

  it('attentionAttrs: each slice flattened, the key length and whether probabilities are returned', () => {
    const layout = {
      query: { source: 0, offset: 1 },
      key: { source: 1, offset: 2 },
      value: { source: 2, offset: 3 },
      numHeads: 4,
      keyDim: 5,
      valueDim: 6,
      scale: 0.5,
    };
    expect(attentionAttrs(layout, 7, true)).toEqual({
      withProbabilities: true,
      numHeads: 4,
      keyDim: 5,
      valueDim: 6,
      scale: 0.5,
      querySource: 0,
      queryOffset: 1,
      keySource: 1,
      keyOffset: 2,
      valueSource: 2,
      valueOffset: 3,
      keyLength: 7,
    });
    expect(MASKED_SCORE).toBe(-1e9);
  });
});

/** One head of 4 over (B, L, 12): queries, keys and values side by side. */
function selfAttentionArgsOf(x: tf.Tensor): FusedAttentionArgs {
  return {
    sources: [x],
    query: { source: 0, offset: 0 },
    key: { source: 0, offset: 4 },
    value: { source: 0, offset: 8 },
    numHeads: 1,
    keyDim: 4,
    valueDim: 4,
    scale: 1,
    mask: null,
  };
}
