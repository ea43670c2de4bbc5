import {
  createTrainingStream,
  FRESH_TEST_SEED,
  FRESH_TEST_SIZE,
  freshTestSet,
  generateSamples,
  HELD_OUT_SEED,
  HELD_OUT_SIZE,
  heldOutSet,
  Sample,
  TrainingStream,
} from '../../src/tasks/samples';
import { encodeBatch } from '../../src/tasks/encode';
import { Random } from '../../src/tasks/random';
import { createTask, TASK_NAMES } from '../../src/tasks/tasks';

const keys = (samples: Sample[]): string[] => samples.map((s) => s.source.join());

describe('generateSamples', () => {
  it('is deterministic for a seed, differs across seeds, and a smaller count is a prefix', () => {
    for (const name of TASK_NAMES) {
      const task = createTask(name);
      const samples = generateSamples(task, 100, 3);
      expect(generateSamples(task, 100, 3)).toEqual(samples);
      expect(generateSamples(task, 40, 3)).toEqual(samples.slice(0, 40));
      expect(keys(generateSamples(task, 100, 4))).not.toEqual(keys(samples));
      expect(samples.map((sample) => sample.target)).toEqual(samples.map((sample) => task.solve(sample.source)));
    }
    expect(generateSamples(createTask('copy'), 0, 3)).toEqual([]);
  });

  it('rejects a bad count', () => {
    expect(() => generateSamples(createTask('copy'), -1, 3)).toThrow(
      'generateSamples: count must be an integer >= 0, got -1',
    );
    expect(() => generateSamples(createTask('copy'), 1.5, 3)).toThrow(
      'generateSamples: count must be an integer >= 0, got 1.5',
    );
  });
});

describe('held-out and fresh test sets', () => {
  it('are 512 samples drawn with their own seeds', () => {
    const task = createTask('reverse');
    expect(HELD_OUT_SIZE).toBe(512);
    expect(FRESH_TEST_SIZE).toBe(512);
    expect(HELD_OUT_SEED).not.toBe(FRESH_TEST_SEED);
    expect(heldOutSet(task)).toEqual(generateSamples(task, 512, HELD_OUT_SEED));
    expect(freshTestSet(task)).toEqual(generateSamples(task, 512, FRESH_TEST_SEED));
    expect(keys(freshTestSet(task))).not.toEqual(keys(heldOutSet(task)));
  });

  it('pins the first held-out samples (changing them invalidates every reported figure)', () => {
    expect(keys(heldOutSet(createTask('reverse')).slice(0, 2))).toEqual(['9,3', '9,12,11']);
    const addition = createTask('addition');
    expect(
      heldOutSet(addition)
        .slice(0, 3)
        .map((s) => addition.tokensToString(s.source)),
    ).toEqual(['760+469', '801+313', '718+586']);
  });
});

describe('TrainingStream', () => {
  it('never yields a held-out or fresh test sample, although plain draws would', () => {
    const task = createTask('copy');
    const excluded = new Set([...keys(heldOutSet(task)), ...keys(freshTestSet(task))]);
    // Without the filter, collisions are common: this is what the stream must remove.
    const plain = keys(generateSamples(task, 20000, 1));
    expect(plain.filter((k) => excluded.has(k)).length).toBeGreaterThan(1000);
    const streamed = keys(createTrainingStream(task, 1).nextBatch(20000));
    expect(streamed.filter((k) => excluded.has(k))).toEqual([]);
    // Length-2 sources that are not excluded still appear, and the lengths span [2, 12].
    const lengths = streamed.map((k) => k.split(',').length);
    expect(Math.min(...lengths)).toBe(2);
    expect(Math.max(...lengths)).toBe(12);
    expect(new Set(streamed.filter((k) => k.split(',').length === 2)).size).toBeGreaterThan(20);
  });

  it('filters addition too and solves every sample', () => {
    const task = createTask('addition');
    const excluded = new Set([...keys(heldOutSet(task)), ...keys(freshTestSet(task))]);
    const samples = createTrainingStream(task, 2).nextBatch(2000);
    expect(samples.filter((s) => excluded.has(s.source.join()))).toEqual([]);
    expect(samples.map((s) => s.target)).toEqual(samples.map((s) => task.solve(s.source)));
  });

  it('reports the excluded share of the distribution, matching plain draws', () => {
    const task = createTask('reverse');
    const stream = createTrainingStream(task, 1);
    const excluded = new Set([...keys(heldOutSet(task)), ...keys(freshTestSet(task))]);
    const rng = new Random(8);
    const plain = Array.from({ length: 50000 }, () => task.sampleSource(rng).join());
    const hitRate = plain.filter((k) => excluded.has(k)).length / plain.length;
    expect(stream.excludedProbability).toBeCloseTo(0.0702, 3);
    expect(Math.abs(hitRate - stream.excludedProbability)).toBeLessThan(0.005);
    expect(createTrainingStream(createTask('addition'), 1).excludedProbability).toBeCloseTo(0.001021, 6);
  });

  it('is deterministic for a seed, differs across seeds, and resumes from its state', () => {
    const task = createTask('sort');
    expect(createTrainingStream(task, 5).nextBatch(50)).toEqual(createTrainingStream(task, 5).nextBatch(50));
    expect(keys(createTrainingStream(task, 6).nextBatch(50))).not.toEqual(
      keys(createTrainingStream(task, 5).nextBatch(50)),
    );
    const stream = createTrainingStream(task, 5);
    stream.nextBatch(10);
    const state = stream.getState();
    const expected = stream.nextBatch(20);
    const resumed = createTrainingStream(task, 77);
    resumed.setState(state);
    expect(resumed.nextBatch(20)).toEqual(expected);
  });

  it('draws the first share of a batch length-balanced, from the same seeded generator, still filtered', () => {
    const task = createTask('addition');
    const excluded = new Set([...keys(heldOutSet(task)), ...keys(freshTestSet(task))]);
    // A share of 0 is the plain stream, draw for draw.
    expect(createTrainingStream(task, 4).nextBatch(64, 0)).toEqual(createTrainingStream(task, 4).nextBatch(64));
    const batches = Array.from({ length: 100 }, () => null);
    const stream = createTrainingStream(task, 4);
    const mixed = batches.map(() => stream.nextBatch(64, 0.5));
    const again = createTrainingStream(task, 4);
    expect(batches.map(() => again.nextBatch(64, 0.5))).toEqual(mixed); // reproducible from the seed
    // Exactly the first round(share x size) draws balanced: 3 of 8 at 0.375, draw for draw.
    const byHand = createTrainingStream(task, 9);
    const drawn = Array.from({ length: 8 }, (_x, i) => byHand.next(i < 3));
    expect(createTrainingStream(task, 9).nextBatch(8, 0.375)).toEqual(drawn);
    const shortShare = (samples: Array<{ source: number[] }>) =>
      samples.filter((s) => task.tokensToString(s.source).length < 7).length / samples.length;
    // Not both operands of 3 digits: 19% of the task's distribution, 1 - 1/9 = 89% of balanced draws.
    expect(shortShare(mixed.flatMap((b) => b.slice(0, 32)))).toBeCloseTo(0.89, 1);
    expect(shortShare(mixed.flatMap((b) => b.slice(32)))).toBeCloseTo(0.19, 1);
    expect(mixed.flat().filter((s) => excluded.has(s.source.join()))).toEqual([]);
    expect(mixed.flat().map((s) => s.target)).toEqual(mixed.flat().map((s) => task.solve(s.source)));
    expect(() => stream.nextBatch(8, 1.5)).toThrow(
      'TrainingStream.nextBatch: balancedShare must be a number in [0, 1], got 1.5',
    );
  });

  it('runs the doc comment example', () => {
    const stream = createTrainingStream(createTask('reverse'), 1);
    const batch = encodeBatch(stream.task, stream.nextBatch(64));
    expect(stream).toBeInstanceOf(TrainingStream);
    expect([batch.batchSize, batch.sourceLength, batch.targetLength]).toEqual([64, 12, 13]);
  });

  it('refuses reserved seeds, tasks too small to hold out, and bad batch sizes', () => {
    const task = createTask('copy');
    expect(() => createTrainingStream(task, HELD_OUT_SEED)).toThrow(
      `createTrainingStream: seed ${HELD_OUT_SEED} is HELD_OUT_SEED, reserved for the held-out set; ` +
        'expected any other integer in [0, 4294967295]',
    );
    expect(() => createTrainingStream(task, FRESH_TEST_SEED)).toThrow(
      `createTrainingStream: seed ${FRESH_TEST_SEED} is FRESH_TEST_SEED, reserved for the fresh test set; ` +
        'expected any other integer in [0, 4294967295]',
    );
    expect(() => createTrainingStream(task, -1)).toThrow('Random: seed must be an integer in [0, 4294967295], got -1');
    // 10 symbols, length 2 only: 100 sources, and 1024 held-out/fresh draws cover almost all of them.
    expect(() => createTrainingStream(createTask('copy', { minLen: 2, maxLen: 2 }), 1)).toThrow(
      new Error(
        "createTrainingStream: the held-out and fresh test sets cover 100.0% of copy's sources " +
          '(options {"numSymbols":10,"minLen":2,"maxLen":2}); expected less than 50%: ' +
          'use more symbols, longer sequences or more digits',
      ),
    );
    expect(() => createTrainingStream(createTask('addition', { digits: 1 }), 1)).toThrow(
      "createTrainingStream: the held-out and fresh test sets cover 100.0% of addition's sources",
    );
    const stream = createTrainingStream(task, 1);
    expect(() => stream.nextBatch(0)).toThrow('TrainingStream.nextBatch: batchSize must be an integer >= 1, got 0');
    expect(() => stream.nextBatch(2.5)).toThrow('TrainingStream.nextBatch: batchSize must be an integer >= 1, got 2.5');
  });

  it('at its edges: a batch of 1, shares 0 and 1, next() unbalanced, a share near the limit reported as is', () => {
    const task = createTask('addition');
    expect(createTrainingStream(task, 9).nextBatch(1)).toEqual([createTrainingStream(task, 9).next(false)]);
    const plain = createTrainingStream(task, 9);
    const unbalanced = Array.from({ length: 20 }, () => plain.next(false));
    const byDefault = createTrainingStream(task, 9);
    expect(Array.from({ length: 20 }, () => byDefault.next())).toEqual(unbalanced);
    const balanced = createTrainingStream(task, 9);
    const all = Array.from({ length: 8 }, () => balanced.next(true));
    expect(createTrainingStream(task, 9).nextBatch(8, 1)).toEqual(all);
    expect(all).not.toEqual(unbalanced.slice(0, 8));
    expect(() => createTrainingStream(task, 9).nextBatch(8, -0.5)).toThrow(
      'TrainingStream.nextBatch: balancedShare must be a number in [0, 1], got -0.5',
    );
  });

  it('counts each excluded source once, by its ids (not their digits run together), in the share it reports', () => {
    // 62 symbols (ids 3 to 64), lengths 1 and 2: [3, 33] and [33, 3] are two sources. The held-out and
    // fresh sets cover every length-1 source (half the distribution) and some of the length-2 ones.
    const task = createTask('copy', { numSymbols: 62, minLen: 1, maxLen: 2 });
    const distinct = new Set([...keys(heldOutSet(task)), ...keys(freshTestSet(task))]);
    const share = [...distinct].reduce((sum, k) => sum + 0.5 / 62 ** k.split(',').length, 0);
    expect(share).toBeGreaterThan(0.5);
    expect(share).toBeLessThan(0.6);
    expect(() => createTrainingStream(task, 1)).toThrow(
      `createTrainingStream: the held-out and fresh test sets cover ${(100 * share).toFixed(1)}% of copy's sources`,
    );
    // Below the limit: the same count, reported.
    const longer = createTask('copy', { numSymbols: 62, minLen: 2, maxLen: 3 });
    const covered = new Set([...keys(heldOutSet(longer)), ...keys(freshTestSet(longer))]);
    const expected = [...covered].reduce((sum, k) => sum + 0.5 / 62 ** k.split(',').length, 0);
    expect(createTrainingStream(longer, 1).excludedProbability).toBeCloseTo(expected, 14);
  });
});
