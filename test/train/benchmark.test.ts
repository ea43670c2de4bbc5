import { measureWithin } from '../../src/train/benchmark';

/** Work that counts its calls and lasts `ms(call)` milliseconds (a timer, so never 0 ms). */
function countedWork(ms: (call: number) => number = () => 2) {
  const counter = { calls: 0 };
  const work = async () => {
    counter.calls++;
    await new Promise<void>((resolve) => setTimeout(resolve, ms(counter.calls)));
  };
  return { counter, work };
}

describe('measureWithin', () => {
  test('within the budget it makes the calls measure makes (the two probes are warm-up calls)', async () => {
    for (const maxSeconds of [Infinity, 3600]) {
      const { counter, work } = countedWork();
      const timing = await measureWithin(work, { warmup: 3, repeats: 2, units: 2, maxSeconds });
      expect(counter.calls).toBe(3 + 2 * 2);
      expect('skipped' in timing).toBe(false);
      if (!('skipped' in timing)) {
        expect(timing.repeatsMs).toHaveLength(2);
        expect(timing.medianMs).toBeGreaterThan(0);
      }
    }
  });

  test('over the budget it stops after the two probe calls and says why', async () => {
    const { counter, work } = countedWork();
    const timing = await measureWithin(work, { warmup: 2, repeats: 3, units: 5, maxSeconds: 0 });
    expect(counter.calls).toBe(2);
    expect(timing).toEqual({
      skipped: expect.stringMatching(/^one call took [\d.]+ ms, so 15 more would take ~[\d.e-]+ s \(over 0 s\)$/),
    });
  });

  test('calls that turn out slower than the probe stop once the budget has run out', async () => {
    // The probe (call 2) takes 1 ms, so 4 more look like ~4 ms of a 200 ms budget; each takes 150.
    const { counter, work } = countedWork((call) => (call <= 2 ? 1 : 150));
    const timing = await measureWithin(work, { warmup: 2, repeats: 2, units: 2, maxSeconds: 0.2 });
    expect(counter.calls).toBe(2 + 2);
    expect(timing).toEqual({
      skipped: expect.stringMatching(/^one call took [\d.]+ ms, but after 2 of 4 timed calls 0.2 s had passed$/),
    });
  });

  test('a finite budget needs two warm-up calls to estimate from', async () => {
    const { work } = countedWork();
    await expect(measureWithin(work, { warmup: 1, maxSeconds: 10 })).rejects.toThrow(
      'measureWithin: warmup must be >= 2 to estimate, got 1',
    );
  });
});
