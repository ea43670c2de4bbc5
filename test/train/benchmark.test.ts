import { measureInTurn, measureWithin } from '../../src/train/benchmark';

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

describe('measureInTurn', () => {
  test('times every work in each round, starting from the next work each round', async () => {
    const order: string[] = [];
    const work = (name: string, ms: number) => async () => {
      order.push(name);
      await new Promise<void>((resolve) => setTimeout(resolve, ms));
    };
    const { timings, ratios } = await measureInTurn(
      { a: work('a', 5), b: work('b', 100), c: work('c', 5) },
      { warmup: 1, repeats: 3 },
    );
    // Warm-up a, b, c; then the rounds a b c, b c a, c a b.
    expect(order.join('')).toBe('abc' + 'abc' + 'bca' + 'cab');
    for (const name of ['a', 'b', 'c'] as const) expect(timings[name].repeatsMs).toHaveLength(3);
    expect(ratios.a).toBe(1);
    // b sleeps 20x as long as a: timers can run late, but never early.
    expect(timings.b.medianMs).toBeGreaterThanOrEqual(99);
    expect(ratios.b).toBeGreaterThan(2);
  });

  test('each ratio is the median of the rounds ratios, not the ratio of the medians', async () => {
    // Round by round a takes 50, 150, 50 ms and b 100, 300, 300: medians 50 and 300 (ratio 6), while
    // the rounds' ratios are 2, 2 and 6 (median 2). Timers that run late bring both toward 1.
    const ms = { a: [50, 50, 150, 50], b: [100, 100, 300, 300] };
    const calls = { a: 0, b: 0 };
    const work = (name: 'a' | 'b') => async () => {
      const wait = ms[name][calls[name]++];
      await new Promise<void>((resolve) => setTimeout(resolve, wait));
    };
    const { timings, ratios } = await measureInTurn({ a: work('a'), b: work('b') }, { warmup: 1, repeats: 3 });
    expect(ratios.b).toBeGreaterThan(1);
    expect(ratios.b).toBeLessThan(0.75 * (timings.b.medianMs / timings.a.medianMs));
  });

  test('needs a work', async () => {
    await expect(measureInTurn({})).rejects.toThrow('measureInTurn: no works to time');
  });
});
