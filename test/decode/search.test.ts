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
import { beamSearch, runAsync, runSync, samplingSearch, type SearchOptions } from '../../src/decode/search';

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

function probabilitiesAfter(history: number[], script = SCRIPT): number[] {
  const known = script[String(history)] ?? { [A]: 0.5, [B]: 0.5 };
  return Array.from({ length: VOCABULARY }, (_x, v) => known[v] ?? 1e-12);
}

/** The scripted model as a StepRunner: probabilities out, rows reordered as a cache would be. */
class ScriptedRunner implements StepRunner {
  readonly probabilities = true;
  histories: number[][];
  constructor(
    readonly rows: number,
    readonly script = SCRIPT,
  ) {
    this.histories = Array.from({ length: rows }, () => []);
  }
  advance(tokens: Int32Array, n: number, index: number): tf.Tensor2D {
    this.histories = this.histories.map((h, r) => [...h.slice(0, index), ...tokens.subarray(r * n, (r + 1) * n)]);
    return tf.tensor2d(this.histories.map((h) => probabilitiesAfter(h, this.script)));
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

describe('search loops: streaming, limits, the answer beam search picks', () => {
  const greedy = (row: Float32Array) => argmax(row, OPTIONS.suppressed);

  /** The scripted runner, counting its advances. */
  class CountingRunner extends ScriptedRunner {
    advances = 0;
    advance(tokens: Int32Array, n: number, index: number): tf.Tensor2D {
      this.advances++;
      return super.advance(tokens, n, index);
    }
  }

  it('runAsync gives what runSync gives and awaits onToken, called each step (null: in a prompt, ended)', async () => {
    const seen: Array<[Array<number | null>, number]> = [];
    let waited = 0;
    const onToken = async (tokens: Array<number | null>, step: number) => {
      seen.push([tokens, step]);
      await new Promise((resolve) => setTimeout(resolve, 1));
      waited++;
    };
    const prompts = [[BOS], [BOS, B, B]];
    const result = await runAsync(samplingSearch(new ScriptedRunner(2), prompts, greedy, { ...OPTIONS, onToken }));
    expect(result).toEqual(runSync(samplingSearch(new ScriptedRunner(2), prompts, greedy, OPTIONS)));
    expect(seen).toEqual([
      [[A, null], 0],
      [[EOS, null], 1],
      [[null, B], 2],
      [[null, EOS], 3],
    ]);
    expect(waited).toBe(4);
  });

  it('a row stops at maxNewTokens without a stop token; runAllSteps keeps stepping to the limit', () => {
    const short = runSync(samplingSearch(new ScriptedRunner(1), [[BOS, B]], greedy, { ...OPTIONS, maxNewTokens: 2 }));
    expect(short.tokens).toEqual([[B, B]]);
    expect(short.logProbs[0]).toBeCloseTo(2 * Math.log(0.95), 5);
    const runner = new CountingRunner(1);
    runSync(samplingSearch(runner, [[BOS]], greedy, OPTIONS));
    expect(runner.advances).toBe(2); // the prompt, then A; EOS ends it
    const all = new CountingRunner(1);
    const result = runSync(samplingSearch(all, [[BOS]], greedy, { ...OPTIONS, runAllSteps: true }));
    expect(result.tokens).toEqual([[A]]);
    expect(all.advances).toBe(OPTIONS.maxNewTokens); // the prompt, then 5 more: the 6th token needs no step after it
  });

  it('beam search answers with a hypothesis that stopped over a likelier one cut at the limit', () => {
    // After [BOS, B]: B 0.95 (cut at maxNewTokens 1) or EOS 0.05 (stopped).
    const result = runSync(beamSearch(new ScriptedRunner(2), [[BOS, B]], 2, { ...OPTIONS, maxNewTokens: 1 }, null));
    expect(result.tokens).toEqual([[]]);
    expect(result.logProbs[0]).toBeCloseTo(Math.log(0.05), 5);
    // None stopped: the likeliest.
    const cut = runSync(beamSearch(new ScriptedRunner(2), [[BOS]], 2, { ...OPTIONS, maxNewTokens: 1 }, null));
    expect(cut.tokens).toEqual([[A]]);
    expect(cut.logProbs[0]).toBeCloseTo(Math.log(0.6), 5);
  });

  it('beam search answers with the greedy baseline only where it scores higher', () => {
    const beam = (baseline: { tokens: number[][]; logProbs: number[] }) =>
      runSync(beamSearch(new ScriptedRunner(2), [[BOS]], 2, OPTIONS, baseline));
    expect(beam({ tokens: [[B]], logProbs: [-0.1] })).toEqual({ tokens: [[B]], logProbs: [-0.1] });
    // A tie keeps beam search's own answer.
    const own = runSync(beamSearch(new ScriptedRunner(2), [[BOS]], 2, OPTIONS, null));
    expect(beam({ tokens: [[B]], logProbs: own.logProbs }).tokens).toEqual([[A]]);
    expect(beam({ tokens: [[B]], logProbs: [-5] }).tokens).toEqual([[A]]);
  });

  it("beam search streams its answer's tokens at the end, a position at a time", () => {
    const seen: Array<[Array<number | null>, number]> = [];
    const onToken = (tokens: Array<number | null>, step: number) => void seen.push([tokens, step]);
    const result = runSync(beamSearch(new ScriptedRunner(4), [[BOS], [BOS, B, B]], 2, { ...OPTIONS, onToken }, null));
    expect(result.tokens).toEqual([[A], [B]]);
    expect(seen).toEqual([[[A, B], 0]]);
  });

  it('equal-length prompts start from their own prefixes; prompts of other lengths get maxNewTokens each', () => {
    const runner = new ScriptedRunner(2);
    const same = runSync(
      samplingSearch(
        runner,
        [
          [BOS, A],
          [BOS, B],
        ],
        greedy,
        OPTIONS,
      ),
    );
    expect(same.tokens).toEqual([[], [B, B]]);
    expect(runner.histories.map((h) => h.slice(0, 2))).toEqual([
      [BOS, A],
      [BOS, B],
    ]);
    const mixed = runSync(
      samplingSearch(new ScriptedRunner(2), [[BOS], [BOS, B, B]], greedy, { ...OPTIONS, maxNewTokens: 2 }),
    );
    expect(mixed.tokens).toEqual([[A], [B]]);
    expect(mixed.logProbs[1]).toBeCloseTo(2 * Math.log(0.95), 5);
  });

  it('beam search: one live beam at the start, suppressed tokens never taken, more beams than candidates', () => {
    // From BOS the likeliest token is BOS itself (suppressed); after A nothing ever stops, after B a stop comes.
    const script: Record<string, Record<number, number>> = {
      [String([BOS])]: { [BOS]: 0.65, [A]: 0.2, [B]: 0.15 },
      [String([BOS, B])]: { [EOS]: 0.9, [A]: 0.1 },
    };
    const beam = (width: number) =>
      runSync(beamSearch(new ScriptedRunner(width, script), [[BOS]], width, { ...OPTIONS, maxNewTokens: 3 }, null));
    // Width 2: [A] and [B] after one step; [B, EOS] stops (0.135), every [A, ...] (0.1, 0.05) is cut at the limit.
    expect(beam(2).tokens).toEqual([[B]]);
    expect(beam(2).logProbs[0]).toBeCloseTo(Math.log(0.15) + Math.log(0.9), 5);
    // Width 4: more beams than the 3 candidates of the first step (EOS, A, B).
    expect(beam(4)).toEqual(beam(2));
  });

  it('beam search breaks ties to the earlier beam and the lower id, and stops stepping when every beam is done', () => {
    // After [BOS, A, A] (a prompt) A and B are equally likely: cut at maxNewTokens 1, the answer is A.
    const tie = runSync(beamSearch(new ScriptedRunner(2), [[BOS, A, A]], 2, { ...OPTIONS, maxNewTokens: 1 }, null));
    expect(tie.tokens).toEqual([[A]]);
    const runner = new CountingRunner(2);
    runSync(beamSearch(runner, [[BOS]], 2, OPTIONS, null));
    // The prompt, [A] / [B], [A, EOS] / [B, B], [A, EOS] / [B, B, B]: then [B, B, B, EOS] ends the last beam.
    expect(runner.advances).toBe(4);
    const limited = new CountingRunner(2);
    runSync(beamSearch(limited, [[BOS]], 2, { ...OPTIONS, maxNewTokens: 1 }, null));
    expect(limited.advances).toBe(1);
  });

  it("each row takes at most maxNewTokens, counted from its own prompt's end (rows that never stop)", () => {
    // After A, A the scripted model never stops (A or B, 1/2 each).
    const prompts = [
      [BOS, A, A],
      [BOS, A, A, A, A],
    ];
    const sampled = runSync(samplingSearch(new ScriptedRunner(2), prompts, greedy, { ...OPTIONS, maxNewTokens: 2 }));
    expect(sampled.tokens).toEqual([
      [A, A],
      [A, A],
    ]);
    const beam = runSync(beamSearch(new ScriptedRunner(4), prompts, 2, { ...OPTIONS, maxNewTokens: 2 }, null));
    expect(beam.tokens).toEqual([
      [A, A],
      [A, A],
    ]);
    expect(beam.logProbs[1]).toBeCloseTo(2 * Math.log(0.5), 5);
  });

  it("beam search feeds a prompt's own tokens, and an empty beam never wins when nothing stopped", () => {
    // The second prompt is longer than the common prefix: its tokens are fed one step at a time.
    const runner = new ScriptedRunner(2);
    const fed = runSync(beamSearch(runner, [[BOS], [BOS, B, B, B]], 1, OPTIONS, null));
    expect(runner.histories[1].slice(0, 4)).toEqual([BOS, B, B, B]);
    expect(fed).toEqual({
      tokens: [[A], []],
      logProbs: [expect.closeTo(total([A]), 5), expect.closeTo(Math.log(0.95), 5)],
    });
    // Width 4, one token allowed: 3 candidates (EOS, A, B) and an empty beam; nothing stops but EOS (0.1e-11).
    const cut = runSync(beamSearch(new ScriptedRunner(4), [[BOS, A, A]], 4, { ...OPTIONS, maxNewTokens: 1 }, null));
    expect(cut.tokens[0]).toEqual([]); // [EOS] stopped: a stopped answer first, however unlikely
    const none = runSync(
      beamSearch(
        new ScriptedRunner(4),
        [[BOS, A, A]],
        4,
        { ...OPTIONS, maxNewTokens: 1, stopTokenIds: new Set([0]) },
        null,
      ),
    );
    expect(none.tokens).toEqual([[A]]); // nothing stopped: the likeliest, not the empty beam
    expect(none.logProbs[0]).toBeCloseTo(Math.log(0.5), 5);
  });

  it('beam search: an empty beam stays empty while a longer prompt is fed and after it (fewer candidates)', () => {
    // The longer prompt's tokens are fed one step at a time with one live beam, so its 3 other beams are
    // empty; after the prompt its one beam has 3 candidates (EOS, A, B) for 4 beams. The shorter prompt's
    // beams finish after one token: 3 candidates again. Nothing stops (stop id 0 is suppressed), so an
    // empty beam that took a token would be a hypothesis without tokens.
    const result = runSync(
      beamSearch(
        new ScriptedRunner(8),
        [[BOS], [BOS, A, A]],
        4,
        { ...OPTIONS, maxNewTokens: 1, stopTokenIds: new Set([0]) },
        null,
      ),
    );
    expect(result).toEqual({
      tokens: [[A], [A]],
      logProbs: [expect.closeTo(Math.log(0.6), 5), expect.closeTo(Math.log(0.5), 5)],
    });
  });

  it("a runner's error comes out of runSync and runAsync as it was thrown", async () => {
    class FailingRunner extends ScriptedRunner {
      advance(tokens: Int32Array, n: number, index: number): tf.Tensor2D {
        if (index > 0) throw new Error('the model failed');
        return super.advance(tokens, n, index);
      }
    }
    expect(() => runSync(samplingSearch(new FailingRunner(1), [[BOS]], greedy, OPTIONS))).toThrow('the model failed');
    await expect(runAsync(beamSearch(new FailingRunner(2), [[BOS]], 2, OPTIONS, null))).rejects.toThrow(
      'the model failed',
    );
  });

  it("beam search reads each row's own log-probabilities (a likely PAD in the next row is not a token)", () => {
    // PAD (suppressed) is the likeliest after BOS; nothing can stop in one token.
    const script: Record<string, Record<number, number>> = { [String([BOS])]: { 0: 0.7, [A]: 0.2, [B]: 0.1 } };
    const result = runSync(
      beamSearch(new ScriptedRunner(2, script), [[BOS]], 2, { ...OPTIONS, maxNewTokens: 1 }, null),
    );
    expect(result.tokens).toEqual([[A]]);
    expect(result.logProbs[0]).toBeCloseTo(Math.log(0.2), 5);
  });

  it("beam search answers each prompt from its own beams, whichever prompt's answer scores higher", () => {
    // [BOS, B, B, B] then EOS (0.95) outscores [BOS] then A, EOS (0.54): each keeps its own.
    const result = runSync(beamSearch(new ScriptedRunner(4), [[BOS, B, B, B], [BOS]], 2, OPTIONS, null));
    expect(result.tokens).toEqual([[], [A]]);
    expect(result.logProbs[1]).toBeCloseTo(total([A]), 5);
  });
});
