/**
 * Samplers: how the next token of a row is chosen from the model's log-probabilities over the
 * vocabulary, as keras-hub's samplers (keras_hub/src/samplers/): greedy (the most likely token),
 * random (sampled from the distribution), top-k (sampled among the k most likely, Fan et al.
 * 2018), top-p (nucleus: sampled among the fewest most likely tokens whose probability reaches p,
 * Holtzman et al. 2020); the sampling ones after dividing the logits by a temperature. Beam
 * search, which keeps several hypotheses, is src/decode/search.ts's.
 *
 * They run in plain JavaScript on one row of log-probabilities (a few thousand numbers at most):
 * a step's other work is the model's.
 */
import { Random } from '../tasks/random';

/** The samplers `generate` takes. */
export const SAMPLERS = ['greedy', 'beam', 'topK', 'topP', 'random'] as const;
/** One of `SAMPLERS`. */
export type SamplerName = (typeof SAMPLERS)[number];

/** A sampler's settings (checked by `generate`). */
export interface SamplerSettings {
  sampler: Exclude<SamplerName, 'beam'>;
  /** Divides the logits before sampling (not for greedy). */
  temperature: number;
  topK: number;
  topP: number;
  /** Never chosen (their log-probability counts as -Infinity). */
  suppressed: ReadonlySet<number>;
}

/** The most likely token of `row` not in `suppressed`; ties go to the lower id. */
export function argmax(row: Float32Array, suppressed: ReadonlySet<number>): number {
  let best = -1;
  for (let v = 0; v < row.length; v++) {
    if (suppressed.has(v)) continue;
    if (best < 0 || row[v] > row[best]) best = v;
  }
  return best;
}

/** Picks a token from the weights (unnormalized, non-negative) of `candidates`. */
function pick(candidates: number[], weights: number[], random: Random): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let u = random.nextFloat() * total;
  for (let i = 0; i < candidates.length; i++) {
    u -= weights[i];
    if (u < 0) return candidates[i];
  }
  return candidates[candidates.length - 1];
}

/**
 * The next token of one row of log-probabilities (V) by `settings`; `random` draws the sampling
 * ones' numbers (seeded: the same seed gives the same tokens).
 */
export function sampleToken(row: Float32Array, settings: SamplerSettings, random: Random): number {
  if (settings.sampler === 'greedy') return argmax(row, settings.suppressed);
  // The candidates, most likely first (ties to the lower id), without suppressed or impossible ones.
  let candidates: number[] = [];
  for (let v = 0; v < row.length; v++) if (!settings.suppressed.has(v) && row[v] > -Infinity) candidates.push(v);
  if (candidates.length === 0) return argmax(row, settings.suppressed);
  candidates.sort((a, b) => row[b] - row[a] || a - b);
  if (settings.sampler === 'topK') candidates = candidates.slice(0, settings.topK);
  // softmax(logProb / temperature), shifted by the maximum for range.
  const top = row[candidates[0]] / settings.temperature;
  let weights = candidates.map((v) => Math.exp(row[v] / settings.temperature - top));
  if (settings.sampler === 'topP') {
    const total = weights.reduce((a, b) => a + b, 0);
    let mass = 0;
    let keep = 0;
    while (keep < candidates.length && mass < settings.topP * total) mass += weights[keep++];
    candidates = candidates.slice(0, Math.max(1, keep));
    weights = weights.slice(0, candidates.length);
  }
  return pick(candidates, weights, random);
}
