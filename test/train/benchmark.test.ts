import { calibratedUnits, cpuFamily, measureInTurn, measureWithin } from '../../src/train/benchmark';

/** Work that counts its calls and lasts `ms(call)` milliseconds (a timer, so never 0 ms). */
function countedWork(ms: (call: number) => number = () => 2) {
  const counter = { calls: 0 };
  const work = async () => {
    counter.calls++;
    await new Promise<void>((resolve) => setTimeout(resolve, ms(counter.calls)));
  };
  return { counter, work };
}

/**
 * A clock that only the works move, for the tests of the describe block that calls this:
 * `performance.now` reads `clock.now`, which the works advance (a timer's 1 ms can be 60 on a
 * loaded machine).
 */
function scriptedClock(): { now: number } {
  const clock = { now: 0 };
  beforeEach(() => jest.spyOn(performance, 'now').mockImplementation(() => clock.now));
  afterEach(() => jest.restoreAllMocks());
  return clock;
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

  test('a finite budget needs two warm-up calls to estimate from', async () => {
    const { work } = countedWork();
    await expect(measureWithin(work, { warmup: 1, maxSeconds: 10 })).rejects.toThrow(
      'measureWithin: warmup must be >= 2 to estimate, got 1',
    );
  });

  describe('on a clock that only the calls move', () => {
    const clock = scriptedClock();

    test('calls that turn out slower than the probe stop once the budget has run out', async () => {
      // The probe (call 2) takes 1 ms, so 4 more look like ~4 ms of a 200 ms budget; each takes 150,
      // so the deadline (the probe's start + 200 ms) has passed after the second timed call.
      let calls = 0;
      const work = () => {
        calls++;
        clock.now += calls <= 2 ? 1 : 150;
      };
      const timing = await measureWithin(work, { warmup: 2, repeats: 2, units: 2, maxSeconds: 0.2 });
      expect(calls).toBe(2 + 2);
      expect(timing).toEqual({ skipped: 'one call took 1 ms, but after 2 of 4 timed calls 0.2 s had passed' });
    });
  });
});

describe('measureInTurn', () => {
  /** Each call of a work lasts exactly its scripted milliseconds on the clock. */
  const clock = scriptedClock();

  /** Work `name` that lasts `ms[call]` on the clock, call by call, and logs its name. */
  function scripted(name: string, ms: number[], log: string[] = []) {
    let call = 0;
    return () => {
      log.push(name);
      clock.now += ms[Math.min(call++, ms.length - 1)];
    };
  }

  test('times every work in each round, starting from the next work each round', async () => {
    const order: string[] = [];
    const { timings, ratios } = await measureInTurn(
      { a: scripted('a', [5], order), b: scripted('b', [40], order), c: scripted('c', [10], order) },
      { warmup: 1, repeats: 3, units: 2 },
    );
    // Warm-up a, b, c; then the rounds a b c, b c a, c a b, each work twice (units).
    expect(order.join('')).toBe('abc' + 'aabbcc' + 'bbccaa' + 'ccaabb');
    expect(timings.a).toEqual({ medianMs: 5, repeatsMs: [5, 5, 5], spread: 0 });
    expect(timings.b.medianMs).toBe(40);
    expect(ratios).toEqual({ a: 1, b: 8, c: 2 });
  });

  test('each ratio is the median of the rounds ratios, not the ratio of the medians', async () => {
    // After the warm-up call, round by round a takes 10, 30, 10 ms and b takes 20, 60, 60: medians 10
    // and 60 (ratio 6), while the rounds' ratios are 2, 2 and 6 (median 2).
    const { timings, ratios } = await measureInTurn(
      { a: scripted('a', [1, 10, 30, 10]), b: scripted('b', [1, 20, 60, 60]) },
      { warmup: 1, repeats: 3 },
    );
    expect([timings.a.medianMs, timings.b.medianMs]).toEqual([10, 60]);
    expect(ratios.b).toBe(2);
  });

  test('needs a work', async () => {
    await expect(measureInTurn({})).rejects.toThrow('measureInTurn: no works to time');
  });
});

describe('calibratedUnits', () => {
  /** Each call lasts `ms` milliseconds on the clock. */
  const clock = scriptedClock();
  const lasting = (ms: number) => {
    const counter = { calls: 0 };
    return { counter, work: () => void ((clock.now += ms), counter.calls++) };
  };

  test("the peer's rule: 3 warm-up calls, 10 timed, then calls for 300 ms a repeat, at least 10", async () => {
    for (const [ms, units] of [
      [4, 75],
      [7, 42],
      [50, 10],
      [400, 10],
    ]) {
      const { counter, work } = lasting(ms);
      expect(await calibratedUnits(work)).toBe(units);
      expect(counter.calls).toBe(13);
    }
    expect(await calibratedUnits(lasting(4).work, { targetMs: 1000, minUnits: 300 })).toBe(300);
  });

  test('no calibration where 13 calls of the first one would be over the budget: one call made, 1', async () => {
    const { counter, work } = lasting(100);
    expect(await calibratedUnits(work, { maxSeconds: 1.2 })).toBe(1);
    expect(counter.calls).toBe(1);
    expect(await calibratedUnits(work, { maxSeconds: 1.3 })).toBe(10);
  });
});

describe('cpuFamily', () => {
  // The head of a core's block in /proc/cpuinfo on the two "AMD EPYC" hosts with AVX-512 seen here.
  const block = (family: number, model: number) =>
    `processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: ${family}\nmodel\t\t: ${model}\n` +
    `model name\t: AMD EPYC\nstepping\t: 1\nflags\t\t: fpu avx avx2 fma avx512f\n`;

  test('reads the x86 family and model numbers, not the model name or the stepping', () => {
    expect(cpuFamily(block(26, 2))).toEqual({ family: 26, model: 2 });
    expect(cpuFamily(block(25, 17) + '\n' + block(25, 17))).toEqual({ family: 25, model: 17 });
  });

  test('null where the text does not give both (not x86, not Linux)', () => {
    expect(cpuFamily('processor\t: 0\nmodel name\t: AMD EPYC\nmodel\t\t: 2\n')).toBeNull();
    expect(cpuFamily('processor\t: 0\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n')).toBeNull();
  });
});
