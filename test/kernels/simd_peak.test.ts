/**
 * The 4-lane multiply-add peak's loop (scripts/bench/simd_peak.ts, printed by
 * scripts/simd_peak.ts): every chain is run, every iteration counts, on every thread asked for,
 * and it uses the arithmetic our kernels use on this engine (run by both jest projects: with and without relaxed SIMD).
 */
import { PEAK_CHAINS, peakFunction, peakModule, peakOnThreads } from '../../scripts/bench/simd_peak';
import { ARITHMETICS, relaxedSimdKernels } from '../../src/kernels/simd_kernels';

describe('the 4-lane multiply-add peak', () => {
  test('each of the chains adds its step once an iteration, in every lane', () => {
    const peak = peakFunction()!;
    expect(Array.from(peak.run(1000, 1))).toEqual(Array(4 * PEAK_CHAINS).fill(1001));
    expect(Array.from(peak.run(3, 0.5))).toEqual(Array(4 * PEAK_CHAINS).fill(2.5));
    expect(Array.from(peak.run(0, 0.5))).toEqual(Array(4 * PEAK_CHAINS).fill(1));
  });

  test('runs on every thread asked for at once, each thread the whole loop', async () => {
    const runs = (await peakOnThreads(3, 1000, 0.25))!;
    expect(runs).toHaveLength(3);
    for (const { ms, lanes } of runs) {
      expect(Array.from(lanes)).toEqual(Array(4 * PEAK_CHAINS).fill(251));
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(10_000);
    }
    const alone = (await peakOnThreads(1, 2, 0.5))!;
    expect(alone.map(({ lanes }) => Array.from(lanes))).toEqual([Array(4 * PEAK_CHAINS).fill(2)]);
  });

  test("runs relaxed SIMD's fused multiply-add exactly where our kernels do", () => {
    expect(peakFunction()!.relaxed).toBe(relaxedSimdKernels());
    const [relaxed, separate] = [true, false].map((fused) => ARITHMETICS.find((math) => math.relaxed === fused)!);
    expect(WebAssembly.validate(peakModule(separate))).toBe(true);
    expect(WebAssembly.validate(peakModule(relaxed))).toBe(relaxedSimdKernels());
  });
});
