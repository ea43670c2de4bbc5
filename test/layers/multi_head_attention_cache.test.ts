/**
 * MultiHeadAttention's key/value cache (keras-hub's CachedMultiHeadAttention modes): attending one
 * position at a time with an updated cache gives the rows of the full causal pass; a static
 * cache gives cross-attention over the cached memory; the cache's rows are the projected keys
 * and values; the in-place write never shows through a tensor that shares the cache's storage;
 * errors name what is wrong.
 */
import * as tf from '@tensorflow/tfjs';
import { MultiHeadAttention } from '../../src/layers/multi_head_attention';
import { updateCache, updateCacheWithOps } from '../../src/ops/attention_cache';
import { describeEachBackend } from '../helpers/backends';
import { seededValues } from './attention_reference';

function tensor(shape: number[], seed: number, scale = 1): tf.Tensor3D {
  return tf.tidy(() => tf.tensor(seededValues(tf.util.sizeFromShape(shape), seed), shape).mul(scale)) as tf.Tensor3D;
}

function built(args: ConstructorParameters<typeof MultiHeadAttention>[0], shapes: number[][], seed: number) {
  const layer = new MultiHeadAttention(args);
  layer.build(shapes);
  layer.setWeights(layer.getWeights().map((w, i) => tensor(w.shape, seed + i, 0.5)));
  return layer;
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);
}

/**
 * Runs `layer` over x (B, T, D) as a prefill of `prefill` rows then one row per step, with an
 * updated cache; returns the outputs concatenated (B, T, Dout), the final cache disposed.
 */
function stepByStep(layer: MultiHeadAttention, x: tf.Tensor3D, prefill: number): tf.Tensor {
  const [batch, length, width] = x.shape;
  let cache = layer.createCache(batch, length);
  const outputs: tf.Tensor[] = [];
  for (let start = 0; start < length; start = start === 0 ? prefill : start + 1) {
    const rows = start === 0 ? prefill : 1;
    const chunk = x.slice([0, start, 0], [batch, rows, width]);
    const [output, next] = layer.apply(chunk, { cache, cacheUpdateIndex: start }) as tf.Tensor[];
    cache.dispose();
    chunk.dispose();
    cache = next as tf.Tensor3D;
    outputs.push(output);
  }
  const joined = tf.concat(outputs, 1);
  tf.dispose([...outputs, cache]);
  return joined;
}

describeEachBackend('MultiHeadAttention cache', () => {
  const cases: Array<[string, ConstructorParameters<typeof MultiHeadAttention>[0]]> = [
    ['causal', { numHeads: 2, keyDim: 8, causal: true }],
    ['causal, value dim 12 and output width 10', { numHeads: 3, keyDim: 4, valueDim: 12, outputDim: 10, causal: true }],
    ['causal sliding window 3', { numHeads: 2, keyDim: 8, causal: true, slidingWindow: 3 }],
    ['causal, gated, no biases', { numHeads: 2, keyDim: 8, causal: true, useGate: true, useBias: false }],
    ['causal, key dim 6 (the plain path)', { numHeads: 2, keyDim: 6, causal: true }],
  ];
  it.each(cases)(
    '%s: an updated cache, prefill 1, 2 or 3 then one row a step, equals the full pass',
    (_title, args) => {
      const layer = built(
        { name: 'mha', ...args },
        [
          [2, 9, 16],
          [2, 9, 16],
        ],
        11,
      );
      const x = tensor([2, 9, 16], 3);
      const before = tf.memory().numTensors;
      const full = layer.apply(x) as tf.Tensor;
      // A prefill of 2 is the shortest whose causal mask matters: its first query must not see key 1.
      for (const prefill of [1, 2, 3]) {
        const cached = stepByStep(layer, x, prefill);
        expect({ prefill, diff: maxAbsDiff(full, cached) < 2e-5 }).toEqual({ prefill, diff: true });
        cached.dispose();
      }
      // The rows differ: the comparison is not between constants.
      const [first, last] = [full.slice([0, 0, 0], [2, 1, -1]), full.slice([0, 8, 0], [2, 1, -1])];
      expect(maxAbsDiff(first, last)).toBeGreaterThan(1e-2);
      tf.dispose([first, last, full]);
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    },
  );

  it("the cache's rows are each position's projected keys then values, zeros after the written ones", () => {
    const layer = built(
      { numHeads: 2, keyDim: 4, valueDim: 3, causal: true },
      [
        [1, 5, 6],
        [1, 5, 6],
      ],
      2,
    );
    const x = tensor([1, 3, 6], 9);
    const cache = layer.createCache(1, 5);
    expect(cache.shape).toEqual([1, 5, 2 * 4 + 2 * 3]);
    const [output, written] = layer.apply(x, { cache, cacheUpdateIndex: 0 }) as tf.Tensor[];
    const expected = tf.tidy(() => {
      const project = (dense: typeof layer.keyDense) =>
        x
          .reshape([3, 6])
          .matMul(dense!.kernel!.read().reshape([6, -1]))
          .add(dense!.bias!.read().reshape([-1]));
      return tf.concat([project(layer.keyDense), project(layer.valueDense)], 1);
    });
    const rows = written.slice([0, 0, 0], [1, 3, 14]).reshape([3, 14]);
    expect(maxAbsDiff(rows, expected)).toBeLessThan(1e-5);
    expect(Array.from(written.slice([0, 3, 0], [1, 2, 14]).dataSync()).every((v) => v === 0)).toBe(true);
    tf.dispose([cache, output, written, expected, rows, x]);
  });

  it('a static cache equals cross-attention over the memory it was written from, padding mask included', () => {
    const layer = built(
      { numHeads: 2, keyDim: 8 },
      [
        [2, 4, 16],
        [2, 6, 12],
      ],
      5,
    );
    const query = tensor([2, 4, 16], 1);
    const memory = tensor([2, 6, 12], 2);
    const mask = tf.tensor2d([
      [1, 1, 1, 1, 0, 0],
      [1, 1, 1, 1, 1, 1],
    ]);
    const full = layer.apply([query, memory], { mask: [null, mask] as unknown as tf.Tensor[] }) as tf.Tensor;
    const empty = layer.createCache(2, 6);
    // The first call writes the memory's keys and values; later calls read them as they are.
    const [first, cache] = layer.apply([query, memory], {
      cache: empty,
      cacheUpdateIndex: 0,
      mask: [null, mask] as unknown as tf.Tensor[],
    }) as tf.Tensor[];
    empty.dispose();
    const [again, same] = layer.apply([query, memory], {
      cache,
      cacheUpdateIndex: null,
      mask: [null, mask] as unknown as tf.Tensor[],
    }) as tf.Tensor[];
    expect(maxAbsDiff(first, full)).toBeLessThan(1e-5);
    expect(maxAbsDiff(again, full)).toBeLessThan(1e-5);
    expect(maxAbsDiff(same, cache)).toBe(0);
    // The mask matters here: without it the first row's output differs.
    const unmasked = layer.apply([query, memory]) as tf.Tensor;
    expect(maxAbsDiff(unmasked, full)).toBeGreaterThan(1e-3);
    tf.dispose([query, memory, mask, full, first, cache, again, same, unmasked]);
  });

  it("with a cache the query's padding mask is not applied, as keras-hub's CachedMultiHeadAttention has none", () => {
    const layer = built(
      { numHeads: 2, keyDim: 8 },
      [
        [2, 4, 16],
        [2, 6, 12],
      ],
      7,
    );
    const [query, memory] = [tensor([2, 4, 16], 3), tensor([2, 6, 12], 4)];
    const queryMask = tf.tensor2d([
      [1, 1, 1, 0],
      [1, 1, 1, 1],
    ]);
    const empty = layer.createCache(2, 6);
    const [plain, cache] = layer.apply([query, memory], { cache: empty, cacheUpdateIndex: 0 }) as tf.Tensor[];
    const [masked, same] = layer.apply([query, memory], {
      cache,
      cacheUpdateIndex: null,
      mask: [queryMask, null] as unknown as tf.Tensor[],
    }) as tf.Tensor[];
    expect(maxAbsDiff(masked, plain)).toBe(0);
    // Without a cache the padded query row is fully masked (uniform attention): it differs there.
    const uncached = layer.apply([query, memory], { mask: [queryMask, null] as unknown as tf.Tensor[] }) as tf.Tensor;
    const row = (t: tf.Tensor) => t.slice([0, 3, 0], [1, 1, -1]);
    expect(tf.tidy(() => maxAbsDiff(row(uncached), row(plain)))).toBeGreaterThan(1e-3);
    tf.dispose([query, memory, queryMask, empty, plain, cache, masked, same, uncached]);
  });

  it('[query, value, key] with separate key and value fills both halves of a cache row', () => {
    const layer = built(
      { numHeads: 2, keyDim: 4, causal: true },
      [
        [1, 6, 8],
        [1, 6, 5],
        [1, 6, 7],
      ],
      8,
    );
    const [q, v, k] = [tensor([1, 6, 8], 1), tensor([1, 6, 5], 2), tensor([1, 6, 7], 3)];
    const full = layer.apply([q, v, k]) as tf.Tensor;
    let cache = layer.createCache(1, 6);
    const outputs: tf.Tensor[] = [];
    for (let t = 0; t < 6; t++) {
      const row = (x: tf.Tensor) => x.slice([0, t, 0], [1, 1, -1]);
      const [output, next] = layer.apply([row(q), row(v), row(k)], { cache, cacheUpdateIndex: t }) as tf.Tensor[];
      cache.dispose();
      cache = next as tf.Tensor3D;
      outputs.push(output);
    }
    const cached = tf.concat(outputs, 1);
    expect(maxAbsDiff(full, cached)).toBeLessThan(1e-5);
    tf.dispose([q, v, k, full, cache, cached, ...outputs]);
  });

  it('an in-place write never shows through a tensor sharing the cache (copy on write)', () => {
    const cache = tf.zeros([1, 4, 3]) as tf.Tensor3D;
    const shared = cache.clone(); // the same storage, as a reshape or clone shares it
    const update = tf.ones([1, 1, 3]) as tf.Tensor3D;
    const written = tf.tidy(() => updateCache(cache, update, { index: 2, sourceColumn: 0, targetColumn: 0, width: 3 }));
    expect(Array.from(shared.dataSync())).toEqual(new Array(12).fill(0));
    expect(Array.from(written.dataSync())).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0]);
    tf.dispose([cache, shared, update, written]);
  });

  it('the in-place kernel writes what the tfjs-ops definition computes (columns and rows in range)', () => {
    const update = tensor([2, 2, 7], 4);
    const attrs = { index: 3, sourceColumn: 2, targetColumn: 1, width: 4 };
    const base = tensor([2, 6, 5], 5);
    const reference = tf.tidy(() => updateCacheWithOps(base, update, attrs));
    const donated = base.clone();
    const written = tf.tidy(() => updateCache(donated.clone(), update, attrs));
    expect(maxAbsDiff(written, reference)).toBe(0);
    expect(maxAbsDiff(base, donated)).toBe(0);
    tf.dispose([update, base, reference, donated, written]);
  });

  it('errors name the cache, index and mask that do not fit', () => {
    const layer = built(
      { name: 'mha', numHeads: 2, keyDim: 4, causal: true },
      [
        [1, 3, 8],
        [1, 3, 8],
      ],
      1,
    );
    const x = tf.zeros([1, 2, 8]);
    const cache = layer.createCache(1, 3);
    expect(() => layer.apply(x, { cache: tf.zeros([1, 3, 5]), cacheUpdateIndex: 0 })).toThrow(
      "MultiHeadAttention 'mha': cache must be a (B, S, H*K + H*V) = (1, S, 16) tensor (createCache), " +
        'got shape [1, 3, 5]',
    );
    expect(() => layer.apply(x, { cache, cacheUpdateIndex: 2 })).toThrow(
      "MultiHeadAttention 'mha': cacheUpdateIndex must be an integer in [0, 1] " +
        '(the cache holds 3 positions and this call writes 2), got 2',
    );
    expect(() => layer.apply(x, { cacheUpdateIndex: 0 })).toThrow(
      "MultiHeadAttention 'mha': cacheUpdateIndex 0 needs a cache",
    );
    expect(() => layer.apply(x, { cache, cacheUpdateIndex: null })).toThrow(
      "MultiHeadAttention 'mha': a static cache (cacheUpdateIndex null) has no query positions " +
        'for the causal or sliding-window mask',
    );
    expect(() => layer.apply(x, { cache, cacheUpdateIndex: 1, attentionMask: tf.ones([1, 2, 2]) })).toThrow(
      /attentionMask must have shape \(T, S\) = \[2, 3\]/,
    );
    expect(() => layer.createCache(0, 3)).toThrow("MultiHeadAttention 'mha': batch must be a positive integer, got 0");
    tf.dispose([x, cache]);
  });
});
