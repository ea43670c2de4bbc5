/**
 * Learning-rate schedules: a linear warmup to the peak rate, then a decay.
 * Plain functions of the step, so a resumed run gets exactly the rates of an
 * uninterrupted one.
 */
import { checkOptionNames, optionNames } from '../options';

/** The values of `ScheduleArgs.decay`: after the warmup, cosine to `minRate`, 1/sqrt(step), or none. */
export const DECAYS = ['cosine', 'inverse-sqrt', 'constant'] as const;
/** One of `DECAYS`. */
export type Decay = (typeof DECAYS)[number];

/** The arguments of `warmupSchedule`. */
export interface ScheduleArgs {
  /** Rate reached at the end of the warmup. Required. */
  peak: number;
  /** Steps of linear warmup from peak / warmupSteps to peak; 0 starts at the peak. Default 0. */
  warmupSteps?: number;
  /**
   * After the warmup: 'cosine' falls to `minRate` at `totalSteps` (Loshchilov & Hutter 2017,
   * one cycle) and stays there; 'inverse-sqrt' is `peak * sqrt(warmupSteps / step)` (Vaswani
   * et al. 2017, 5.3, scaled to its peak); 'constant' keeps the peak. Default 'cosine'.
   */
  decay?: Decay;
  /** Last step of the cosine decay. Required for 'cosine'. */
  totalSteps?: number;
  /** The cosine's floor. Default 0.1 * peak. */
  minRate?: number;
}

const SCHEDULE_ARG_NAMES = optionNames<ScheduleArgs>({
  peak: true,
  warmupSteps: true,
  decay: true,
  totalSteps: true,
  minRate: true,
});

/** The learning rate of step `step` (1-based: the first update is step 1). */
export type LearningRateSchedule = (step: number) => number;

/**
 * ```ts
 * const lr = warmupSchedule({peak: 1e-3, warmupSteps: 100, decay: 'cosine', totalSteps: 1000});
 * lr(1);    // 1e-5
 * lr(100);  // 1e-3
 * lr(1000); // 1e-4
 * ```
 */
export function warmupSchedule(args: ScheduleArgs): LearningRateSchedule {
  checkOptionNames('warmupSchedule', args, SCHEDULE_ARG_NAMES);
  const { peak } = args;
  const warmupSteps = args.warmupSteps ?? 0;
  const decay = args.decay ?? 'cosine';
  const minRate = args.minRate ?? 0.1 * peak;
  if (!(Number.isFinite(peak) && peak > 0))
    throw new Error(`warmupSchedule: peak must be a positive number, got ${peak}`);
  if (!(Number.isInteger(warmupSteps) && warmupSteps >= 0)) {
    throw new Error(`warmupSchedule: warmupSteps must be an integer >= 0, got ${warmupSteps}`);
  }
  if (!DECAYS.includes(decay))
    throw new Error(`warmupSchedule: decay must be one of ${DECAYS.join(', ')}, got ${JSON.stringify(decay)}`);
  if (!(Number.isFinite(minRate) && minRate >= 0 && minRate <= peak)) {
    throw new Error(`warmupSchedule: minRate must be a number in [0, peak], got ${minRate}`);
  }
  const totalSteps = args.totalSteps;
  if (decay === 'cosine' && !(Number.isInteger(totalSteps) && (totalSteps as number) > warmupSteps)) {
    throw new Error(
      `warmupSchedule: cosine decay needs totalSteps, an integer > warmupSteps (${warmupSteps}), got ${totalSteps}`,
    );
  }

  return (step: number) => {
    if (step <= warmupSteps) return (peak * Math.max(step, 1)) / warmupSteps;
    switch (decay) {
      case 'constant':
        return peak;
      case 'inverse-sqrt':
        return peak * Math.sqrt(Math.max(warmupSteps, 1) / step);
      case 'cosine': {
        const progress = Math.min(1, (step - warmupSteps) / ((totalSteps as number) - warmupSteps));
        return minRate + 0.5 * (peak - minRate) * (1 + Math.cos(Math.PI * progress));
      }
    }
  };
}
