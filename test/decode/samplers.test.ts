/**
 * The samplers of src/decode/samplers.ts on rows of log-probabilities whose answer is known by
 * hand, with the random numbers scripted: which candidates each sampler keeps, in which order,
 * and which one a given draw picks.
 */
import { argmax, type SamplerSettings, sampleToken } from '../../src/decode/samplers';
import type { Random } from '../../src/tasks/random';

/** A Random that returns `u` from nextFloat. */
const draw = (u: number) => ({ nextFloat: () => u }) as unknown as Random;
const row = (probabilities: number[]) => Float32Array.from(probabilities, Math.log);
const settings = (more: Partial<SamplerSettings>): SamplerSettings => ({
  sampler: 'random',
  temperature: 1,
  topK: 0,
  topP: 1,
  suppressed: new Set(),
  ...more,
});

/** Tokens 0..3 with probabilities 1/8, 1/2, 1/8, 1/4: most likely first, 1, 3, then 0 and 2 tied. */
const ROW = row([0.125, 0.5, 0.125, 0.25]);

describe('argmax', () => {
  it('takes the largest value not suppressed, ties to the lower id', () => {
    expect(argmax(Float32Array.from([-3, -1, -2, -1]), new Set())).toBe(1);
    expect(argmax(Float32Array.from([-3, -1, -2, -1]), new Set([1]))).toBe(3);
    expect(argmax(Float32Array.from([-5, -7, -6]), new Set())).toBe(0); // every value below 0
    expect(argmax(Float32Array.from([-1, -2]), new Set([0, 1]))).toBe(-1);
  });
});

describe('sampleToken', () => {
  it('greedy is argmax, whatever the draw', () => {
    expect(sampleToken(ROW, settings({ sampler: 'greedy' }), draw(0.99))).toBe(1);
    expect(sampleToken(ROW, settings({ sampler: 'greedy', suppressed: new Set([1]) }), draw(0))).toBe(3);
  });

  it('random walks the candidates most likely first (ties to the lower id) through the cumulative mass', () => {
    // Order 1 (1/2), 3 (1/4), 0 (1/8), 2 (1/8): cumulative 0.5, 0.75, 0.875, 1.
    const picks = [0, 0.49, 0.51, 0.74, 0.76, 0.87, 0.88, 0.99].map((u) => sampleToken(ROW, settings({}), draw(u)));
    expect(picks).toEqual([1, 1, 3, 3, 0, 0, 2, 2]);
  });

  it('a draw past the total mass (rounding) gives the last candidate', () => {
    expect(sampleToken(ROW, settings({}), draw(1))).toBe(2);
  });

  it('leaves out suppressed and impossible tokens; with none left it falls back to argmax', () => {
    const withImpossible = Float32Array.from([-Infinity, Math.log(0.5), Math.log(0.5), -Infinity]);
    expect(sampleToken(withImpossible, settings({ suppressed: new Set([1]) }), draw(0))).toBe(2);
    expect(sampleToken(withImpossible, settings({ suppressed: new Set([1]) }), draw(0.99))).toBe(2);
    const impossible = Float32Array.from([-Infinity, -Infinity, -Infinity]);
    expect(sampleToken(impossible, settings({ suppressed: new Set([0]) }), draw(0.5))).toBe(1);
  });

  it('topK samples among the k most likely only', () => {
    // k = 2: 1 (1/2) and 3 (1/4), renormalized to 2/3 and 1/3.
    const picks = [0, 0.66, 0.67, 0.99].map((u) => sampleToken(ROW, settings({ sampler: 'topK', topK: 2 }), draw(u)));
    expect(picks).toEqual([1, 1, 3, 3]);
  });

  it('topP keeps the fewest most likely tokens whose mass reaches p, at least one', () => {
    const topP = (p: number, u: number) => sampleToken(ROW, settings({ sampler: 'topP', topP: p }), draw(u));
    // p = 0.5: token 1 alone reaches it exactly.
    expect([topP(0.5, 0.99), topP(0.4, 0.99), topP(0, 0.99)]).toEqual([1, 1, 1]);
    // p = 0.6: 1 and 3 (2/3 and 1/3 of their mass).
    expect([topP(0.6, 0.66), topP(0.6, 0.67), topP(0.6, 0.99)]).toEqual([1, 3, 3]);
    // p = 0.8: 1, 3 and 0 (4/7, 2/7, 1/7); never 2.
    expect([topP(0.8, 0.85), topP(0.8, 0.99)]).toEqual([3, 0]);
  });

  it('temperature divides the log-probabilities before the softmax', () => {
    // Temperature 2 takes square roots: 1, 3, 0, 2 weigh 0.707, 0.5, 0.354, 0.354 (of 1.914):
    // cumulative 0.369, 0.631, 0.815, 1. At temperature 1, 0.4 and 0.7 would pick 1 and 3.
    const warm = (u: number) => sampleToken(ROW, settings({ temperature: 2 }), draw(u));
    expect([warm(0.36), warm(0.4), warm(0.62), warm(0.7), warm(0.82)]).toEqual([1, 3, 3, 0, 2]);
    // Temperature 1/2 squares them: 1/4, 1/16, 1/64, 1/64 of 0.344: cumulative 0.727, 0.909, 0.955, 1.
    const cold = (u: number) => sampleToken(ROW, settings({ temperature: 0.5 }), draw(u));
    expect([cold(0.72), cold(0.73), cold(0.9), cold(0.92)]).toEqual([1, 3, 3, 0]);
  });

  it('a draw on a boundary of the cumulative mass picks the next candidate (equal weights: exact sums)', () => {
    const even = Float32Array.from([-1, -1, -1, -1]);
    // Weights 1, 1, 1, 1 of 4: [0, 1/4) picks token 0, [1/4, 1/2) token 1, ...
    expect([0, 0.25, 0.5, 0.75].map((u) => sampleToken(even, settings({}), draw(u)))).toEqual([0, 1, 2, 3]);
    // topP 0.5 keeps exactly two of them (mass 2 of 4 reaches it), not three.
    expect(sampleToken(even, settings({ sampler: 'topP', topP: 0.5 }), draw(0.99))).toBe(1);
  });

  it('samples a row of very unlikely tokens by their ratios (the softmax is shifted by the row maximum)', () => {
    // e^-1000 underflows: without the shift every weight would be 0.
    const unlikely = Float32Array.from([-1000, -1000 - Math.log(3)]); // 3 : 1
    expect([0.7, 0.8].map((u) => sampleToken(unlikely, settings({}), draw(u)))).toEqual([0, 1]);
    // Temperature 1/2: 9 : 1.
    const cold = settings({ temperature: 0.5 });
    expect([0.85, 0.95].map((u) => sampleToken(unlikely, cold, draw(u)))).toEqual([0, 1]);
  });

  it('topP and topK apply only to their own samplers', () => {
    expect(sampleToken(ROW, settings({ topP: 0.1, topK: 1 }), draw(0.99))).toBe(2);
    expect(sampleToken(ROW, settings({ sampler: 'topK', topK: 4, topP: 0.1 }), draw(0.99))).toBe(2);
  });
});
