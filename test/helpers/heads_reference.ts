/**
 * Scaled dot-product attention of H heads in float64 plain loops (Vaswani et al. 2017, equation
 * 1), reading the heads from sources at column offsets as src/ops/attention.ts and the typed-array
 * attention (src/ops/rows.ts) do: the reference of both tests. No tfjs here.
 */
import type { FullyMaskedQueries } from '../../src/ops/attention';
import { seededValues } from '../layers/attention_reference';

export type Rows = number[][][]; // (B, L, W)
export type Slice = { source: number; offset: number };

export interface Reference {
  sources: Rows[];
  query: Slice;
  key: Slice;
  value: Slice;
  H: number;
  K: number;
  V: number;
  scale: number;
  /** 1 = may attend, by (b, h, t, s); null attends everywhere. */
  mask: ((b: number, h: number, t: number, s: number) => number) | null;
  keyLength?: number;
  fullyMasked?: FullyMaskedQueries;
}

/** context (B, T, H, V) and probabilities (B, H, T, S) in float64. */
export function reference(r: Reference): { context: number[][][][]; probabilities: number[][][][] } {
  const [q, k, v] = [r.sources[r.query.source], r.sources[r.key.source], r.sources[r.value.source]];
  const [B, T, S] = [q.length, q[0].length, r.keyLength ?? k[0].length];
  const probabilities = Array.from({ length: B }, (_b, b) =>
    Array.from({ length: r.H }, (_h, h) =>
      Array.from({ length: T }, (_t, t) => {
        const allowed = Array.from({ length: S }, (_s, s) => (r.mask ? r.mask(b, h, t, s) : 1));
        // Every key masked: equal scores (uniform), or Keras's masked softmax (zero).
        if (allowed.every((a) => a === 0)) return new Array<number>(S).fill(r.fullyMasked === 'zero' ? 0 : 1 / S);
        const scores = allowed.map((_a, s) => {
          let dot = 0;
          for (let e = 0; e < r.K; e++)
            dot += q[b][t][r.query.offset + h * r.K + e] * k[b][s][r.key.offset + h * r.K + e];
          return r.scale * dot;
        });
        const max = Math.max(...scores.filter((_x, s) => allowed[s] === 1));
        const exps = scores.map((x, s) => (allowed[s] === 1 ? Math.exp(x - max) : 0));
        const sum = exps.reduce((a, b) => a + b, 0);
        return exps.map((x) => x / sum);
      }),
    ),
  );
  const context = Array.from({ length: B }, (_b, b) =>
    Array.from({ length: T }, (_t, t) =>
      Array.from({ length: r.H }, (_h, h) =>
        Array.from({ length: r.V }, (_e, e) =>
          probabilities[b][h][t].reduce((sum, p, s) => sum + p * v[b][s][r.value.offset + h * r.V + e], 0),
        ),
      ),
    ),
  );
  return { context, probabilities };
}

export const seededRows = (batch: number, length: number, width: number, seed: number): Rows => {
  const values = seededValues(batch * length * width, seed).map((x) => Math.fround(1.5 * x));
  return Array.from({ length: batch }, (_b, b) =>
    Array.from({ length }, (_l, l) => values.slice((b * length + l) * width, (b * length + l + 1) * width)),
  );
};
