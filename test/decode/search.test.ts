/**
 * The searches of src/decode/search.ts on a scripted "model" (a StepRunner whose next-token
 * probabilities depend on each row's tokens so far), where the right answer is known by hand:
 * beam search returns the highest total log-probability (not the best average per token), its
 * scores are totals, greedy's score counts the stop token, and prompts of different lengths are
 * fed their own tokens.
 */
import * as tf from '@tensorflow/tfjs';
import type { StepRunner } from '../../src/decode/runner';
import { argmax } from '../../src/decode/samplers';
import { beamSearch, runSync, samplingSearch, type SearchOptions } from '../../src/decode/search';

const [BOS, EOS, A, B] = [1, 2, 3, 4];
const VOCABULARY = 5;

/**
 * Next-token probabilities after each history (BOS first), everything else uniform over A and B.
 * From BOS: A 0.6, B 0.4. A short answer [A, EOS]: total log(0.6) + log(0.9) = -0.616, mean -0.308.
 * A long one [B, B, B, EOS]: total log(0.4) + 3 log(0.95) = -1.070, mean -0.268. The total prefers
 * the short one; the mean per token the long one.
 */
const SCRIPT: Record<string, Record<number, number>> = {
  [String([BOS])]: { [A]: 0.6, [B]: 0.4 },
  [String([BOS, A])]: { [EOS]: 0.9, [A]: 0.05, [B]: 0.05 },
  [String([BOS, B])]: { [B]: 0.95, [EOS]: 0.05 },
  [String([BOS, B, B])]: { [B]: 0.95, [EOS]: 0.05 },
  [String([BOS, B, B, B])]: { [EOS]: 0.95, [A]: 0.05 },
};

function probabilitiesAfter(history: number[]): number[] {
  const known = SCRIPT[String(history)] ?? { [A]: 0.5, [B]: 0.5 };
  return Array.from({ length: VOCABULARY }, (_x, v) => known[v] ?? 1e-12);
}

/** The scripted model as a StepRunner: probabilities out, rows reordered as a cache would be. */
class ScriptedRunner implements StepRunner {
  readonly probabilities = true;
  histories: number[][];
  constructor(readonly rows: number) {
    this.histories = Array.from({ length: rows }, () => []);
  }
  advance(tokens: Int32Array, n: number, index: number): tf.Tensor2D {
    this.histories = this.histories.map((h, r) => [...h.slice(0, index), ...tokens.subarray(r * n, (r + 1) * n)]);
    return tf.tensor2d(this.histories.map(probabilitiesAfter));
  }
  reorder(rows: Int32Array): void {
    this.histories = Array.from(rows, (r) => [...this.histories[r]]);
  }
  dispose(): void {}
}

const OPTIONS: SearchOptions = { maxNewTokens: 6, stopTokenIds: new Set([EOS]), suppressed: new Set([0, BOS]) };
const total = (tokens: number[], ending = [EOS]) => {
  const path = [BOS, ...tokens, ...ending];
  return path.slice(1).reduce((sum, token, i) => sum + Math.log(probabilitiesAfter(path.slice(0, i + 1))[token]), 0);
};

describe('searches on a scripted model', () => {
  it('greedy takes the likeliest token each step and its score counts the stop token', () => {
    const greedy = (row: Float32Array) => argmax(row, OPTIONS.suppressed);
    const result = runSync(samplingSearch(new ScriptedRunner(1), [[BOS]], greedy, OPTIONS));
    expect(result.tokens).toEqual([[A]]);
    expect(result.logProbs[0]).toBeCloseTo(total([A]), 5); // log 0.6 + log 0.9, EOS's step included
  });

  it('beam search returns the highest total log-probability, not the best mean per token, and reports totals', () => {
    const result = runSync(beamSearch(new ScriptedRunner(2), [[BOS]], 2, OPTIONS, null));
    expect(result.tokens).toEqual([[A]]);
    expect(result.logProbs[0]).toBeCloseTo(total([A]), 5);
    // The long answer was in the beam with a better mean: a length-normalized choice would pick it.
    expect(total([B, B, B]) / 4).toBeGreaterThan(total([A]) / 2);
  });

  it('beam search keeps total scores while it ranks: a stop token found late still beats an early unlikely one', () => {
    // Width 1 is greedy; width 3 must return a sequence whose total is at least greedy's.
    const greedy = runSync(beamSearch(new ScriptedRunner(1), [[BOS]], 1, OPTIONS, null));
    const wide = runSync(beamSearch(new ScriptedRunner(3), [[BOS]], 3, OPTIONS, null));
    expect(greedy.tokens).toEqual([[A]]);
    expect(wide.logProbs[0]).toBeGreaterThanOrEqual(greedy.logProbs[0] - 1e-6);
    expect(wide.logProbs[0]).toBeCloseTo(total(wide.tokens[0]), 5);
  });

  it('prompts of different lengths are fed their own tokens, then continue from their ends', () => {
    const runner = new ScriptedRunner(2);
    const greedy = (row: Float32Array) => argmax(row, OPTIONS.suppressed);
    const result = runSync(samplingSearch(runner, [[BOS], [BOS, B, B]], greedy, OPTIONS));
    // Row 1's prompt ends in B, B: B (0.95) again, then EOS (0.95).
    expect(result.tokens).toEqual([[A], [B]]);
    expect(result.logProbs[1]).toBeCloseTo(Math.log(0.95) + Math.log(0.95), 5);
    expect(runner.histories[1].slice(0, 4)).toEqual([BOS, B, B, B]);
  });
});
