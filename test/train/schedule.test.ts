import { warmupSchedule } from '../../src/train/schedule';

describe('warmupSchedule', () => {
  it('warms up linearly to the peak, then follows a cosine down to minRate and stays there', () => {
    const lr = warmupSchedule({ peak: 1e-3, warmupSteps: 100, decay: 'cosine', totalSteps: 1100, minRate: 1e-4 });
    expect(lr(1)).toBeCloseTo(1e-5, 12);
    // Steps count from 1; a step 0 (asked before the first) gets the first step's rate, never 0.
    expect(lr(0)).toBeCloseTo(1e-5, 12);
    expect(lr(50)).toBeCloseTo(5e-4, 12);
    expect(lr(100)).toBeCloseTo(1e-3, 12);
    // Halfway through the decay the cosine term is 0: the midpoint of peak and floor.
    expect(lr(600)).toBeCloseTo(5.5e-4, 12);
    expect(lr(350)).toBeCloseTo(1e-4 + 0.5 * 9e-4 * (1 + Math.cos(Math.PI / 4)), 12);
    expect(lr(1100)).toBeCloseTo(1e-4, 12);
    expect(lr(5000)).toBeCloseTo(1e-4, 12);
  });

  it('inverse-sqrt decays as peak * sqrt(warmup / step) (Vaswani et al. 5.3)', () => {
    const lr = warmupSchedule({ peak: 2e-3, warmupSteps: 100, decay: 'inverse-sqrt' });
    expect(lr(100)).toBeCloseTo(2e-3, 12);
    expect(lr(400)).toBeCloseTo(1e-3, 12);
    expect(lr(10000)).toBeCloseTo(2e-4, 12);
  });

  it('constant keeps the peak; no warmup starts at the peak', () => {
    const lr = warmupSchedule({ peak: 3e-3, decay: 'constant' });
    expect([lr(1), lr(10), lr(100000)]).toEqual([3e-3, 3e-3, 3e-3]);
  });

  it('rejects bad arguments naming them', () => {
    expect(() => warmupSchedule({ peak: 0 })).toThrow('peak must be a positive number, got 0');
    expect(() => warmupSchedule({ peak: 1e-3, warmupSteps: 1.5, decay: 'constant' })).toThrow(
      'warmupSteps must be an integer >= 0, got 1.5',
    );
    expect(() => warmupSchedule({ peak: 1e-3, warmupSteps: 10, decay: 'cosine' })).toThrow(
      'cosine decay needs totalSteps',
    );
    expect(() => warmupSchedule({ peak: 1e-3, decay: 'linear' as never })).toThrow(
      'decay must be one of cosine, inverse-sqrt, constant',
    );
  });

  it('defaults: a cosine to a tenth of the peak; its bounds: minRate in [0, peak], totalSteps past the warmup', () => {
    const lr = warmupSchedule({ peak: 1e-3, totalSteps: 10 });
    // No warmup: step 1 is a tenth of the way down already.
    expect(lr(1)).toBeCloseTo(1e-4 + 0.5 * 9e-4 * (1 + Math.cos(Math.PI / 10)), 12);
    expect([lr(10), lr(20)].map((r) => Number(r.toPrecision(12)))).toEqual([1e-4, 1e-4]);
    expect(warmupSchedule({ peak: 1e-3, totalSteps: 10, minRate: 0 })(10)).toBe(0);
    expect(warmupSchedule({ peak: 1e-3, totalSteps: 10, minRate: 1e-3 })(10)).toBe(1e-3);
    expect(warmupSchedule({ peak: 1e-3, warmupSteps: 9, totalSteps: 10 })(10)).toBeCloseTo(1e-4, 12);
    for (const minRate of [-1e-5, 1.5e-3, NaN, Infinity]) {
      expect(() => warmupSchedule({ peak: 1e-3, totalSteps: 10, minRate })).toThrow(
        `warmupSchedule: minRate must be a number in [0, peak], got ${minRate}`,
      );
    }
    expect(() => warmupSchedule({ peak: 1e-3, warmupSteps: -1, decay: 'constant' })).toThrow(
      'warmupSchedule: warmupSteps must be an integer >= 0, got -1',
    );
    for (const totalSteps of [10, 9, 10.5]) {
      expect(() => warmupSchedule({ peak: 1e-3, warmupSteps: 10, totalSteps })).toThrow(
        `warmupSchedule: cosine decay needs totalSteps, an integer > warmupSteps (10), got ${totalSteps}`,
      );
    }
    expect(() => warmupSchedule({ peak: 1e-3, totalSteps: 10, minrate: 0 } as never)).toThrow(
      "warmupSchedule: unknown option 'minrate' (did you mean 'minRate'?)",
    );
  });
});
