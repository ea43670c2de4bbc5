import { describeValue } from '../describe';
import { Random, RandomState } from './random';
import { Task } from './tasks';

/** One example of a task: symbol ids, unpadded, target without EOS. */
export interface Sample {
  source: number[];
  target: number[];
}

/** Seed of the held-out evaluation set (README, "Toy tasks"); training streams refuse it. */
export const HELD_OUT_SEED = 0x7e57_0001;
/** Size of the held-out evaluation set (README, "Toy tasks"). */
export const HELD_OUT_SIZE = 512;
/**
 * Seed of a second evaluation set, for acceptance tests of trained models, so that tuning against
 * the held-out set cannot leak into them. Training streams refuse it and filter out its samples too.
 */
export const FRESH_TEST_SEED = 0x7e57_0002;
/** Size of the fresh test set; `generateSamples(task, n, FRESH_TEST_SEED)` for n <= it is a prefix. */
export const FRESH_TEST_SIZE = 512;

/**
 * Training streams refuse a task whose held-out and fresh test sets cover at least this share of
 * the source distribution: training on what is left would no longer be the task as defined.
 */
export const MAX_EXCLUDED_PROBABILITY = 0.5;

/**
 * `count` samples drawn with a generator seeded by `seed`: the same seed always gives the same
 * samples, and a smaller count gives a prefix of a larger one. Duplicates are kept, as in any
 * i.i.d. draw.
 */
export function generateSamples(task: Task, count: number, seed: number): Sample[] {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new Error(`generateSamples: count must be an integer >= 0, got ${describeValue(count)}`);
  }
  const rng = new Random(seed);
  const samples: Sample[] = [];
  for (let i = 0; i < count; i++) {
    const source = task.sampleSource(rng);
    samples.push({ source, target: task.solve(source) });
  }
  return samples;
}

/** The held-out evaluation set (README, "Toy tasks"): `HELD_OUT_SIZE` samples drawn with `HELD_OUT_SEED`. */
export function heldOutSet(task: Task): Sample[] {
  return generateSamples(task, HELD_OUT_SIZE, HELD_OUT_SEED);
}

/** The fresh test set: `FRESH_TEST_SIZE` samples drawn with `FRESH_TEST_SEED`. */
export function freshTestSet(task: Task): Sample[] {
  return generateSamples(task, FRESH_TEST_SIZE, FRESH_TEST_SEED);
}

/** The key under which a source is compared; the target is a function of the source. */
function sourceKey(source: readonly number[]): string {
  return source.join(',');
}

/**
 * An endless stream of training samples that never yields a sample equal to one of the held-out
 * or fresh test sets (README, "Toy tasks": training never sees a sample equal to one of them). Filtering is
 * needed, not just different seeds: copy, reverse and sort have only 100 sources of length 2, so
 * most of the held-out ones would otherwise turn up in training within a few thousand samples.
 *
 * Samples are drawn from the task's distribution conditioned on not being excluded, i.e. rejected
 * and redrawn; `excludedProbability` says how much of the distribution that removes (7.0% for copy, reverse and
 * sort with defaults, almost all of it length-2 sources; 0.1% for addition with D=3).
 *
 * Example:
 * ```ts
 * const stream = createTrainingStream(createTask('reverse'), 1);
 * const batch = encodeBatch(stream.task, stream.nextBatch(64)); // Int32Arrays for tf.tensor2d
 * ```
 */
export class TrainingStream {
  /** Probability that a draw from the task's distribution equals an excluded sample. */
  readonly excludedProbability: number;
  private readonly excluded: ReadonlySet<string>;
  private readonly rng: Random;

  /** Prefer `createTrainingStream`. */
  constructor(
    readonly task: Task,
    readonly seed: number,
  ) {
    for (const [reserved, use] of [
      [HELD_OUT_SEED, 'HELD_OUT_SEED, reserved for the held-out set'],
      [FRESH_TEST_SEED, 'FRESH_TEST_SEED, reserved for the fresh test set'],
    ] as const) {
      if (seed === reserved) {
        throw new Error(`createTrainingStream: seed ${seed} is ${use}; expected any other integer in [0, 4294967295]`);
      }
    }
    this.rng = new Random(seed);
    const excluded = new Set<string>();
    let excludedProbability = 0;
    for (const sample of [...heldOutSet(task), ...freshTestSet(task)]) {
      const key = sourceKey(sample.source);
      if (excluded.has(key)) continue;
      excluded.add(key);
      excludedProbability += task.sourceProbability(sample.source);
    }
    if (excludedProbability >= MAX_EXCLUDED_PROBABILITY) {
      throw new Error(
        `createTrainingStream: the held-out and fresh test sets cover ${(100 * excludedProbability).toFixed(1)}% ` +
          `of ${task.name}'s sources (options ${JSON.stringify(task.options)}); expected less than ` +
          `${100 * MAX_EXCLUDED_PROBABILITY}%: use more symbols, longer sequences or more digits`,
      );
    }
    this.excluded = excluded;
    this.excludedProbability = excludedProbability;
  }

  /**
   * The next sample not in the held-out or fresh test set: from the task's distribution, or with
   * `lengthBalanced` from `task.sampleLengthBalancedSource` (excluded samples are redrawn either way).
   */
  next(lengthBalanced = false): Sample {
    for (;;) {
      const source = lengthBalanced ? this.task.sampleLengthBalancedSource(this.rng) : this.task.sampleSource(this.rng);
      if (!this.excluded.has(sourceKey(source))) return { source, target: this.task.solve(source) };
    }
  }

  /**
   * The next `batchSize` samples; the first `round(balancedShare * batchSize)` of them length-balanced
   * (see `next`). A share of 0 draws exactly the stream it always did.
   */
  nextBatch(batchSize: number, balancedShare = 0): Sample[] {
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new Error(`TrainingStream.nextBatch: batchSize must be an integer >= 1, got ${describeValue(batchSize)}`);
    }
    if (!(balancedShare >= 0 && balancedShare <= 1)) {
      throw new Error(
        `TrainingStream.nextBatch: balancedShare must be a number in [0, 1], got ${describeValue(balancedShare)}`,
      );
    }
    const balanced = Math.round(balancedShare * batchSize);
    return Array.from({ length: batchSize }, (_v, i) => this.next(i < balanced));
  }

  /** The generator state, to continue the exact same stream after a restart (`setState`). */
  getState(): RandomState {
    return this.rng.getState();
  }

  /** Continues from a state `getState` returned (a checkpoint's). */
  setState(state: RandomState): void {
    this.rng.setState(state);
  }
}

/**
 * A training stream for `task` seeded by `seed` (an integer in [0, 2^32 - 1] other than
 * `HELD_OUT_SEED` and `FRESH_TEST_SEED`); see `TrainingStream`.
 */
export function createTrainingStream(task: Task, seed: number): TrainingStream {
  return new TrainingStream(task, seed);
}
