/**
 * src/ops/attention.ts: scaledDotProductAttention and plainAttention against Vaswani et al.'s
 * equation in float64 plain loops: heads read from one or two sources at column offsets, every
 * mask shape (with a query whose keys are all masked, both ways of treating it), a key prefix,
 * explicit scales, dropout, and the gradients of the sources (central differences); on cpu and wasm
 * (the fused kernel for key and value dims that are multiples of 4) and on a backend without our
 * kernels (tfjs ops, as webgl runs them).
 */
import * as tf from '@tensorflow/tfjs';
import {
  type AttentionArgs,
  type FullyMaskedQueries,
  FULLY_MASKED_QUERIES,
  maskToScores,
  MASKED_SCORE,
  plainAttention,
  scaledDotProductAttention,
} from '../../src/ops/attention';
import { describeEachPath, OPS_ONLY_BACKEND } from '../helpers/backends';
import { type Reference, reference, type Rows, seededRows } from '../helpers/heads_reference';
import { FUSED_ATTENTION, FUSED_ATTENTION_GRAD, runThenProfile } from '../helpers/kernel_paths';
import { maxAbsDiff } from '../helpers/tensors';
import { seededValues } from '../layers/attention_reference';

/** A mask tensor of `shape` from its values by (b, h, t, s) (axes of 1 take index 0). */
function maskTensor(shape: number[], at: (b: number, h: number, t: number, s: number) => number): tf.Tensor {
  const values: number[] = [];
  const [B, H, T, S] =
    shape.length === 4 ? shape : shape.length === 3 ? [shape[0], 1, shape[1], shape[2]] : [1, 1, ...shape];
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) for (let s = 0; s < S; s++) values.push(at(b, h, t, s));
  return tf.tensor(values, shape);
}

// B 2, H 2; queries T 3, keys S 4 (5 rows in the keys' source where a prefix is read).
const [B, H, T, S] = [2, 2, 3, 4];
/** Query t of batch 1 attends to nothing; the others to keys s <= t + b (causal-like, per batch). */
const causalish = (b: number, _h: number, t: number, s: number) => (b === 1 && t === 1 ? 0 : s <= t + b ? 1 : 0);
/** Keys s <= t + b: no query fully masked (whose gradient would be autodiff's of equal scores). */
const causal = (b: number, _h: number, t: number, s: number) => (s <= t + b ? 1 : 0);
/** A mask per head: head 1 sees only key 0 and 3, head 0 what causalish allows. */
const perHead = (b: number, h: number, t: number, s: number) =>
  h === 1 ? (s === 0 || s === 3 ? 1 : 0) : causalish(b, h, t, s);

describeEachPath('scaledDotProductAttention', (path) => {
  for (const dim of [4, 3]) {
    const [K, V] = [dim, dim];
    const kernelHere = path !== OPS_ONLY_BACKEND && dim % 4 === 0;
    const kind = `K = V = ${dim}`;

    /** Self-attention's one (B, T, H*K + H*K + H*V) source, or queries from one and keys and values from another. */
    const layouts = {
      self: () => {
        const sources = [seededRows(B, S, 2 * H * K + H * V, dim)];
        return {
          sources,
          query: { source: 0, offset: 0 },
          key: { source: 0, offset: H * K },
          value: { source: 0, offset: 2 * H * K },
        };
      },
      cross: (keyRows = S) => {
        // Queries after 2 unused columns; values before the keys in the second source.
        const sources = [seededRows(B, T, 2 + H * K, dim + 1), seededRows(B, keyRows, H * V + H * K + 1, dim + 2)];
        return {
          sources,
          query: { source: 0, offset: 2 },
          key: { source: 1, offset: H * V },
          value: { source: 1, offset: 0 },
        };
      },
    };

    /** Runs scaledDotProductAttention and the reference; returns the kernels that ran. */
    async function check(
      layout: ReturnType<typeof layouts.self>,
      options: {
        mask?: { shape: number[]; at: Reference['mask'] };
        scale?: number;
        keyLength?: number;
        fullyMaskedQueries?: FullyMaskedQueries;
        needProbabilities?: boolean;
      },
    ): Promise<string[]> {
      const sources = layout.sources.map((rows) => tf.tensor3d(rows));
      const mask = options.mask ? maskTensor(options.mask.shape, options.mask.at!) : null;
      const before = tf.memory().numTensors;
      const args: AttentionArgs = {
        sources,
        query: layout.query,
        key: layout.key,
        value: layout.value,
        numHeads: H,
        keyDim: K,
        valueDim: V,
        mask,
        scale: options.scale,
        keyLength: options.keyLength,
        fullyMaskedQueries: options.fullyMaskedQueries,
        needProbabilities: options.needProbabilities,
      };
      const { kernels, result } = await runThenProfile(() =>
        tf.tidy(() => {
          const r = scaledDotProductAttention(args);
          return r.probabilities ? [r.context, r.probabilities] : [r.context];
        }),
      );
      const expected = reference({
        ...layout,
        H,
        K,
        V,
        scale: options.scale ?? 1 / Math.sqrt(K),
        mask: options.mask?.at ?? null,
        keyLength: options.keyLength,
        fullyMasked: options.fullyMaskedQueries,
      });
      expect(result[0].shape).toEqual([B, layout.sources[layout.query.source][0].length, H, V]);
      expect(maxAbsDiff(result[0].arraySync() as number[][][][], expected.context)).toBeLessThan(2e-6);
      // The kernel keeps no probabilities unless asked.
      expect(result.length).toBe(options.needProbabilities || !kernels.includes(FUSED_ATTENTION) ? 2 : 1);
      if (result[1])
        expect(maxAbsDiff(result[1].arraySync() as number[][][][], expected.probabilities)).toBeLessThan(2e-6);
      tf.dispose(result);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([...sources, ...(mask ? [mask] : [])]);
      return kernels;
    }

    const here = kernelHere ? 'the fused kernel' : 'tfjs ops';
    it(`${kind}, self-attention from one source, no mask, the default scale: ${here}`, async () => {
      const kernels = await check(layouts.self(), {});
      expect(kernels.includes(FUSED_ATTENTION)).toBe(kernelHere);
      await check(layouts.self(), { needProbabilities: true });
      // 'zero' without a mask: no query is fully masked.
      await check(layouts.self(), { fullyMaskedQueries: 'zero' });
    });

    it(`${kind}, queries from one source, keys and values from another, scale 1 and 0.3`, async () => {
      await check(layouts.cross(), { scale: 1 });
      await check(layouts.cross(), { scale: 0.3, needProbabilities: true });
    });

    for (const fullyMaskedQueries of [undefined, 'uniform', 'zero'] as const) {
      const shapes = '(T, S), (B, T, S), (B, 1, S), (B, 1, T, S) and per head (B, H, T, S)';
      it(`${kind}, masks ${shapes}, a fully masked query ${fullyMaskedQueries ?? '(default)'}`, async () => {
        const at = causalish;
        for (const needProbabilities of [false, true]) {
          const o = { fullyMaskedQueries, needProbabilities };
          // (T, S): batch 0's mask for both.
          await check(layouts.cross(), { ...o, mask: { shape: [T, S], at: (_b, h, t, s) => at(0, h, t, s) } });
          await check(layouts.cross(), { ...o, mask: { shape: [B, T, S], at } });
          // (B, 1, S): batch 1 attends to nothing.
          await check(layouts.cross(), {
            ...o,
            mask: { shape: [B, 1, S], at: (b, _h, _t, s) => (b === 0 && s !== 2 ? 1 : 0) },
          });
          const squeezed = await check(layouts.cross(), { ...o, mask: { shape: [B, 1, T, S], at } });
          // A mask of heads axis 1 is the (B, T, S) mask, which the kernel takes.
          expect(squeezed.includes(FUSED_ATTENTION)).toBe(kernelHere);
          // (B, 1, 1, S): a padding mask with heads and queries axes of 1.
          const padding = (b: number, _h: number, _t: number, s: number) => (s < 3 - b ? 1 : 0);
          await check(layouts.cross(), { ...o, mask: { shape: [B, 1, 1, S], at: padding } });
          const heads = await check(layouts.cross(), { ...o, mask: { shape: [B, H, T, S], at: perHead } });
          expect(heads.includes(FUSED_ATTENTION)).toBe(false);
        }
      });
    }

    it(`${kind}, the first keyLength rows of the keys' source, masked (B, T, keyLength)`, async () => {
      await check(layouts.cross(5), {
        keyLength: 3,
        mask: { shape: [B, T, 3], at: (b, h, t, s) => (s === 2 && t === 0 ? 0 : 1) },
      });
      const kernels = await check(layouts.self(), { keyLength: 3, needProbabilities: true });
      expect(kernels.includes(FUSED_ATTENTION)).toBe(kernelHere);
    });

    it(`${kind}, the sources' gradients through the context and the probabilities (central differences)`, async () => {
      const layout = layouts.cross(5);
      const sources = layout.sources.map((rows) => tf.tensor3d(rows));
      const mask = maskTensor([B, T, 3], causal);
      const [contextWeights, probabilityWeights] = [seededValues(B * T * H * V, 30), seededValues(B * H * T * 3, 31)];
      const [wc, wp] = [tf.tensor(contextWeights, [B, T, H, V]), tf.tensor(probabilityWeights, [B, H, T, 3])];
      const loss = (rows: Rows[]) => {
        const r = reference({ ...layout, sources: rows, H, K, V, scale: 1 / Math.sqrt(K), mask: causal, keyLength: 3 });
        const c = r.context.flat(3).reduce((s, x, i) => s + x * contextWeights[i], 0);
        return c + r.probabilities.flat(3).reduce((s, x, i) => s + x * probabilityWeights[i], 0);
      };
      for (const keyLength of [undefined, 3]) {
        // Without keyLength the keys' source is cut to its first 3 rows.
        const cut = keyLength ? sources : [sources[0], sources[1].slice([0, 0, 0], [B, 3, -1])];
        const { kernels, result } = await runThenProfile(() =>
          tf.grads((...xs: tf.Tensor[]) => {
            const r = scaledDotProductAttention({
              ...layout,
              sources: xs,
              numHeads: H,
              keyDim: K,
              valueDim: V,
              mask,
              keyLength,
              needProbabilities: true,
            });
            return r.context.mul(wc).sum().add(r.probabilities!.mul(wp).sum());
          })(cut),
        );
        // Differentiable probabilities, and a key prefix, take tfjs ops.
        expect(kernels.includes(FUSED_ATTENTION_GRAD)).toBe(false);
        const rows = layout.sources.map((s, i) => (i === 1 ? s.map((r) => r.slice(0, keyLength ? 5 : 3)) : s));
        result.forEach((g, i) => {
          const h = 1e-5;
          const expected = rows[i].map((rr, b) =>
            rr.map((row, l) =>
              row.map((_x, w) => {
                const nudged = (d: number) =>
                  loss(
                    rows.map((src, j) =>
                      j === i
                        ? src.map((r2, bb) =>
                            r2.map((row2, ll) =>
                              row2.map((x2, ww) => (bb === b && ll === l && ww === w ? x2 + d : x2)),
                            ),
                          )
                        : src,
                    ),
                  );
                return (nudged(h) - nudged(-h)) / (2 * h);
              }),
            ),
          );
          expect(maxAbsDiff(g.arraySync() as Rows, expected)).toBeLessThan(5e-5);
        });
        tf.dispose(result);
        if (!keyLength) cut[1].dispose();
      }
      // Through the context alone the kernel's gradient runs, except with a key prefix (tfjs ops,
      // which give the cut sources' gradients and zero for the rows past it).
      const contextGradients = (xs: tf.Tensor[], keyLength?: number) =>
        runThenProfile(() =>
          tf.grads((...ys: tf.Tensor[]) => {
            const args = { ...layout, sources: ys, numHeads: H, keyDim: K, valueDim: V, mask: null, keyLength };
            return scaledDotProductAttention(args).context.sum();
          })(xs),
        );
      const whole = await contextGradients(sources, 3);
      expect(whole.kernels.includes(FUSED_ATTENTION_GRAD)).toBe(false);
      const cut = [sources[0], sources[1].slice([0, 0, 0], [B, 3, -1])];
      const ofCut = await contextGradients(cut);
      expect(ofCut.kernels.includes(FUSED_ATTENTION_GRAD)).toBe(kernelHere);
      expect(maxAbsDiff(whole.result[0].dataSync(), ofCut.result[0].dataSync())).toBeLessThan(1e-6);
      const padded = tf.tidy(() =>
        ofCut.result[1].pad([
          [0, 0],
          [0, 2],
          [0, 0],
        ]),
      );
      expect(maxAbsDiff(whole.result[1].dataSync(), padded.dataSync())).toBeLessThan(1e-6);
      tf.dispose([...whole.result, ...ofCut.result, cut[1], padded]);
      tf.dispose([...sources, mask, wc, wp]);
    });
  }

  it('dropout 0.5 drops probabilities, doubles the kept ones (tfjs ops); returns them before it', async () => {
    // Each key's value is the one-hot of its position, so the context is the dropped probabilities.
    const [K, V] = [4, S];
    const queries = seededRows(1, T, H * K, 40);
    const keys = seededRows(1, S, H * K, 41);
    const values = [
      Array.from({ length: S }, (_s, s) => Array.from({ length: H * V }, (_x, i) => (i % V === s ? 1 : 0))),
    ];
    const sources = [tf.tensor3d(queries), tf.tensor3d(keys), tf.tensor3d(values)];
    const { kernels, result } = await runThenProfile(() =>
      tf.tidy(() => {
        const r = scaledDotProductAttention({
          sources,
          query: { source: 0, offset: 0 },
          key: { source: 1, offset: 0 },
          value: { source: 2, offset: 0 },
          numHeads: H,
          keyDim: K,
          valueDim: V,
          mask: null,
          dropout: 0.5,
        });
        return [r.context, r.probabilities!];
      }),
    );
    expect(kernels.includes(FUSED_ATTENTION)).toBe(false);
    const expected = reference({
      sources: [queries, keys, [values[0]]],
      query: { source: 0, offset: 0 },
      key: { source: 1, offset: 0 },
      value: { source: 2, offset: 0 },
      H,
      K,
      V,
      scale: 0.5,
      mask: null,
    });
    expect(maxAbsDiff(result[1].arraySync() as number[][][][], expected.probabilities)).toBeLessThan(2e-6);
    // context (1, T, H, S): each entry 0 or twice its probability, and some of each.
    const context = result[0].arraySync() as number[][][][];
    let [dropped, kept] = [0, 0];
    context[0].forEach((heads, t) =>
      heads.forEach((row, h) =>
        row.forEach((c, s) => {
          const p = expected.probabilities[0][h][t][s];
          if (c === 0) dropped++;
          else {
            expect(c).toBeCloseTo(2 * p, 6);
            kept++;
          }
        }),
      ),
    );
    expect(dropped).toBeGreaterThan(0);
    expect(kept).toBeGreaterThan(0);
    tf.dispose([...sources, ...result]);
  });
});

describe('maskToScores and plainAttention', () => {
  it("FULLY_MASKED_QUERIES lists both ways, 'uniform' (the default) and 'zero'", () => {
    expect(FULLY_MASKED_QUERIES).toEqual(['uniform', 'zero']);
  });

  it('maskToScores: 0 where 1 = may attend, MASKED_SCORE where masked, for bool, int32 and float32 masks', () => {
    for (const dtype of ['bool', 'int32', 'float32'] as const) {
      const scores = tf.tidy(() =>
        maskToScores(
          tf.tensor2d(
            [
              [1, 0],
              [0, 1],
            ],
            undefined,
            dtype,
          ),
        ),
      );
      // (1 - 1) * MASKED_SCORE is -0: + 0 reads it as 0.
      expect(Array.from(scores.dataSync(), (v) => v + 0)).toEqual([0, MASKED_SCORE, MASKED_SCORE, 0]);
      scores.dispose();
    }
  });

  it('plainAttention: always the probabilities; the default scale 1/sqrt(K)', () => {
    const rows = seededRows(1, 2, 2 * 4 + 4, 50);
    const source = tf.tensor3d(rows);
    const layout = { query: { source: 0, offset: 0 }, key: { source: 0, offset: 4 }, value: { source: 0, offset: 8 } };
    const r = tf.tidy(() => {
      const args = { sources: [source], ...layout, numHeads: 1, keyDim: 4, valueDim: 4, mask: null };
      const { context, probabilities } = plainAttention(args);
      return [context, probabilities];
    });
    const expected = reference({ sources: [rows], ...layout, H: 1, K: 4, V: 4, scale: 0.5, mask: null });
    expect(maxAbsDiff(r[0].arraySync() as number[][][][], expected.context)).toBeLessThan(2e-6);
    expect(maxAbsDiff(r[1].arraySync() as number[][][][], expected.probabilities)).toBeLessThan(2e-6);
    tf.dispose([source, ...r]);
  });
});
