/**
 * src/ops/attention_cache.ts: the cache writes against plain loops (rows and columns at either end
 * and in the middle, an update wider than what it copies), in place on cpu and wasm and as a new
 * tensor elsewhere, and every refusal's message.
 */
import * as tf from '@tensorflow/tfjs';
import { type CacheUpdateAttrs, updateCache, updateCacheWithOps } from '../../src/ops/attention_cache';
import { describeEachPath, OPS_ONLY_BACKEND } from '../helpers/backends';
import { runThenProfile } from '../helpers/kernel_paths';
import { seededValues } from '../layers/attention_reference';

type Rows = number[][][];

/** (B, L, W) of seeded values. */
function seeded(batch: number, length: number, width: number, seed: number): Rows {
  const values = seededValues(batch * length * width, seed).map(Math.fround);
  return Array.from({ length: batch }, (_b, b) =>
    Array.from({ length }, (_l, l) => values.slice((b * length + l) * width, (b * length + l + 1) * width)),
  );
}

/** The cache with the update's columns [source, source + width) written at rows from index, columns from target. */
function written(cache: Rows, update: Rows, a: CacheUpdateAttrs): Rows {
  const out = cache.map((rows) => rows.map((row) => [...row]));
  update.forEach((rows, b) =>
    rows.forEach((row, t) => {
      for (let c = 0; c < a.width; c++) out[b][a.index + t][a.targetColumn + c] = row[a.sourceColumn + c];
    }),
  );
  return out;
}

/** Cache (2, 5, 6); update (2, T, 4) or as wide as the cache: [title, T, update width, attrs]. */
const CASES: Array<[string, number, number, CacheUpdateAttrs]> = [
  ['first rows, first columns', 2, 4, { index: 0, sourceColumn: 1, targetColumn: 0, width: 2 }],
  ['a middle row, middle columns', 1, 4, { index: 2, sourceColumn: 0, targetColumn: 2, width: 3 }],
  ['last rows, last columns', 2, 4, { index: 3, sourceColumn: 2, targetColumn: 4, width: 2 }],
  ['every row and column', 5, 6, { index: 0, sourceColumn: 0, targetColumn: 0, width: 6 }],
];

describeEachPath('updateCache', (path) => {
  const inPlace = path !== OPS_ONLY_BACKEND;

  for (const [title, rows, updateWidth, attrs] of CASES) {
    it(`${title}: ${inPlace ? 'in place' : 'a new tensor'}, and updateCacheWithOps alike`, () => {
      const cacheRows = seeded(2, 5, 6, 1);
      const updateRows = seeded(2, rows, updateWidth, 2);
      const expected = written(cacheRows, updateRows, attrs);
      const update = tf.tensor3d(updateRows);
      const before = tf.memory().numTensors;
      const kept = tf.tensor3d(cacheRows);
      const withOps = tf.tidy(() => updateCacheWithOps(kept, update, attrs));
      expect(withOps.arraySync()).toEqual(expected);
      expect(kept.arraySync()).toEqual(cacheRows);
      const donated = tf.tensor3d(cacheRows);
      const result = tf.tidy(() => updateCache(donated, update, attrs));
      expect(result.dtype).toBe('float32');
      expect(result.arraySync()).toEqual(expected);
      // In place: the result is the donated cache's storage.
      expect(result.dataId === donated.dataId).toBe(inPlace);
      tf.dispose([kept, withOps, donated, result]);
      expect(tf.memory().numTensors).toBe(before);
      update.dispose();
    });
  }

  it('copies a cache whose storage another tensor shares (a clone): the clone keeps its values', () => {
    const cacheRows = seeded(2, 5, 6, 4);
    const updateRows = seeded(2, 2, 4, 5);
    const attrs = { index: 1, sourceColumn: 1, targetColumn: 2, width: 3 };
    const cache = tf.tensor3d(cacheRows);
    const clone = cache.clone();
    const update = tf.tensor3d(updateRows);
    const result = tf.tidy(() => updateCache(cache, update, attrs));
    expect(result.dtype).toBe('float32');
    expect(result.arraySync()).toEqual(written(cacheRows, updateRows, attrs));
    expect(result.dataId === clone.dataId).toBe(false);
    expect(clone.arraySync()).toEqual(cacheRows);
    tf.dispose([cache, clone, update, result]);
  });

  it(`runs ${inPlace ? 'one kernel of its own, registered once, without a warning' : 'tfjs ops'}`, async () => {
    const warn = jest.spyOn(console, 'warn');
    try {
      const update = tf.ones([1, 1, 4]) as tf.Tensor3D;
      const attrs = { index: 1, sourceColumn: 0, targetColumn: 0, width: 4 };
      const write = () => tf.tidy(() => updateCache(tf.zeros([1, 3, 4]) as tf.Tensor3D, update, attrs));
      const { kernels, result } = await runThenProfile(write);
      const ours = kernels.filter((name) => name.startsWith('TfjsAttention'));
      expect(ours).toEqual(inPlace ? ['TfjsAttentionCacheUpdate'] : []);
      expect(Array.from(result.dataSync())).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0]);
      expect(warn).not.toHaveBeenCalled();
      tf.dispose([update, result]);
    } finally {
      warn.mockRestore();
    }
  });

  it("writes an int32 cache with tfjs ops (the in-place kernel takes float32), keeping the cache's dtype", () => {
    const cacheRows = seeded(1, 3, 2, 3).map((rows) => rows.map((row) => row.map((v) => Math.round(10 * v))));
    const attrs = { index: 1, sourceColumn: 0, targetColumn: 0, width: 2 };
    // A float32 update goes in as tfjs casts it, toward zero.
    for (const [updateDtype, updateRows, writtenRows] of [
      ['int32', [[[7, -8]]], [[[7, -8]]]],
      ['float32', [[[7.5, -8.25]]], [[[7, -8]]]],
    ] as const) {
      const cache = tf.tensor3d(cacheRows, undefined, 'int32');
      const update = tf.tensor3d(updateRows as unknown as number[][][], undefined, updateDtype);
      const result = tf.tidy(() => updateCache(cache, update, attrs));
      expect(result.dtype).toBe('int32');
      expect(result.arraySync()).toEqual(written(cacheRows, writtenRows as unknown as Rows, attrs));
      expect(result.dataId === cache.dataId).toBe(false);
      tf.dispose([cache, update, result]);
    }
  });

  it('refuses rows or columns outside the cache or the update, naming the ranges and shapes', () => {
    const cache = tf.zeros([2, 5, 6]) as tf.Tensor3D;
    const update = tf.zeros([2, 2, 4]) as tf.Tensor3D;
    const attempt =
      (attrs: Partial<CacheUpdateAttrs>, u: tf.Tensor3D = update) =>
      () =>
        tf.tidy(() => updateCache(cache, u, { index: 0, sourceColumn: 0, targetColumn: 0, width: 4, ...attrs }));
    const rows = (from: number, to: number) =>
      `updateCache: rows [${from}, ${to}) do not fit in a cache of 5 positions (cache shape [2,5,6])`;
    expect(attempt({ index: -1 })).toThrow(rows(-1, 1));
    expect(attempt({ index: 4 })).toThrow(rows(4, 6));
    const columns = (s: number, t: number, w: number, u = '2,2,4') =>
      `updateCache: columns [${s}, ${s + w}) of an update [${u}] ` +
      `do not fit columns [${t}, ${t + w}) of a cache [2,5,6]`;
    expect(attempt({ sourceColumn: 1 })).toThrow(columns(1, 0, 4));
    expect(attempt({ targetColumn: 3 })).toThrow(columns(0, 3, 4));
    const otherBatch = tf.zeros([1, 2, 4]) as tf.Tensor3D;
    expect(attempt({}, otherBatch)).toThrow(columns(0, 0, 4, '1,2,4'));
    // On the boundaries: the last rows, the last columns of both.
    const fits = tf.tidy(() =>
      updateCache(cache.clone(), update, { index: 3, sourceColumn: 2, targetColumn: 4, width: 2 }),
    );
    expect(fits.shape).toEqual([2, 5, 6]);
    tf.dispose([cache, update, otherBatch, fits]);
  });
});
