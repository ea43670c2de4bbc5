import * as tf from '@tensorflow/tfjs';
import { presetConfig, TransformerConfig } from '../../src/model/config';
import { decode, scoreTargets } from '../../src/decode/decode';
import { attentionMaps } from '../../src/explain/attention_maps';
import { createTransformer } from '../../src/model/transformer';
import { createTask, generateSamples } from '../../src/tasks';
import { describeEachBackend } from '../helpers/backends';
import { seededValues } from '../layers/attention_reference';

/** A tiny model with seeded, fairly large weights, so its outputs vary with the input. */
function seededModel(normalizeFirst: boolean, overrides: Partial<TransformerConfig> = {}): tf.LayersModel {
  const task = createTask('reverse');
  const model = createTransformer(
    presetConfig('tiny', task, {
      normalizeFirst,
      numDecoderLayers: 2,
      ...overrides,
    }),
  );
  model.setWeights(
    model
      .getWeights()
      .map((w, i) => tf.tensor(seededValues(w.size, 1000 + i), w.shape).mul(normalizeFirst ? 1.5 : 0.6)),
  );
  return model;
}

/**
 * A sequence's log-probability is a float32 sum over its tokens (about -45 here); the cached step
 * and the full rerun add in different orders, so they agree to a few parts in a million of it.
 */
function expectSameLogProbs(actual: number[], expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((lp, i) => expect(Math.abs(lp - expected[i])).toBeLessThan(1e-5 * Math.abs(expected[i]) + 1e-5));
}

const sources = generateSamples(createTask('reverse'), 6, 99).map((s) => s.source);

describeEachBackend('decoding', () => {
  for (const normalizeFirst of [false, true]) {
    describe(normalizeFirst ? 'pre-LN' : 'post-LN', () => {
      let model: tf.LayersModel;
      beforeAll(() => {
        model = seededModel(normalizeFirst);
      });
      afterAll(() => model.dispose());

      it.each([1, 6])(
        'cached greedy decoding of %i sources returns the same tokens as rerunning the whole model',
        (count) => {
          const cached = decode(model, sources.slice(0, count), { useCache: true });
          const uncached = decode(model, sources.slice(0, count), { useCache: false });
          expect(cached.tokens).toEqual(uncached.tokens);
          expectSameLogProbs(cached.logProbs, uncached.logProbs);
          // The scores depend on the source, so the comparison is not between constants.
          if (count > 1) expect(new Set(cached.logProbs.map((lp) => lp.toFixed(3))).size).toBeGreaterThan(1);
        },
      );

      it.each([true, false])(
        'beam width 1 equals greedy; width 4 never scores below greedy (useCache %s)',
        (useCache) => {
          const greedy = decode(model, sources, { useCache });
          const beam1 = decode(model, sources, { beamWidth: 1, useCache });
          const beam4 = decode(model, sources, { beamWidth: 4, useCache });
          expect(beam1.tokens).toEqual(greedy.tokens);
          // Scores are the teacher-forced log-probabilities of the returned sequences.
          const greedyScores = scoreTargets(model, sources, greedy.tokens);
          const beamScores = scoreTargets(model, sources, beam4.tokens);
          greedyScores.forEach((g, i) => {
            expect(g).toBeCloseTo(greedy.logProbs[i], 3);
            expect(beamScores[i]).toBeGreaterThanOrEqual(g - 1e-4);
          });
        },
      );

      it('cached beam search (3) matches uncached and follows changed weights', () => {
        const cached = decode(model, sources, { beamWidth: 3 });
        const uncached = decode(model, sources, { beamWidth: 3, useCache: false });
        expect(cached.tokens).toEqual(uncached.tokens);
        expectSameLogProbs(cached.logProbs, uncached.logProbs);
        // New weights (as an optimizer step would assign) are the ones decoding uses.
        const original = model.getWeights().map((w) => w.clone());
        try {
          model.setWeights(original.map((w, i) => tf.tidy(() => w.mul(i % 3 === 0 ? 0.7 : 1.05))));
          const after = decode(model, sources);
          const reference = decode(model, sources, { useCache: false });
          expect(after.tokens).toEqual(reference.tokens);
          expectSameLogProbs(after.logProbs, reference.logProbs);
          expect(after.logProbs.every(Number.isFinite)).toBe(true);
          expect(after.logProbs).not.toEqual(cached.logProbs);
        } finally {
          model.setWeights(original);
          tf.dispose(original);
        }
      });

      it('leaves tf.memory().numTensors unchanged over 20 calls', () => {
        decode(model, sources.slice(0, 2), { beamWidth: 3 }); // warm-up
        const before = tf.memory().numTensors;
        for (let i = 0; i < 20; i++) {
          decode(model, sources.slice(0, 2), { maxLength: 4 });
          decode(model, sources.slice(0, 2), { beamWidth: 3, maxLength: 4 });
          decode(model, sources.slice(0, 2), { maxLength: 4, ignoreEos: true });
          decode(model, sources.slice(0, 1), { useCache: false, maxLength: 3 });
          scoreTargets(model, sources.slice(0, 2), [[3], [4, 5]]);
          attentionMaps(model, sources[0], [3, 4]);
        }
        expect(tf.memory().numTensors).toBe(before);
      });

      it('returns attention maps of every layer and head that are distributions', () => {
        const source = sources[0];
        const target = [5, 6, 7];
        const maps = attentionMaps(model, source, target);
        expect(maps.encoderSelf.length).toBe(1);
        expect(maps.decoderSelf.length).toBe(2);
        expect(maps.cross.length).toBe(2);
        expect(maps.encoderSelf[0].length).toBe(2); // heads
        expect(maps.cross[1][0].length).toBe(target.length + 1); // rows: BOS + target
        expect(maps.cross[1][0][0].length).toBe(source.length);
        for (const layer of [...maps.encoderSelf, ...maps.decoderSelf, ...maps.cross]) {
          for (const head of layer) for (const row of head) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
        }
        // Decoder self-attention is causal: row t puts no weight after t.
        const row0 = maps.decoderSelf[0][0][0];
        expect(row0[0]).toBeCloseTo(1, 6);
        expect(row0.slice(1).every((p) => p === 0)).toBe(true);
      });
    });
  }

  it('cached decoding matches uncached with a layer-norm epsilon other than 1e-5', () => {
    const model = seededModel(true, { layerNormEpsilon: 0.5 });
    try {
      const cached = decode(model, sources);
      const uncached = decode(model, sources, { useCache: false });
      expect(cached.tokens).toEqual(uncached.tokens);
      expectSameLogProbs(cached.logProbs, uncached.logProbs);
    } finally {
      model.dispose();
    }
  });

  it('cached decoding matches uncached with gelu and sinusoidal positions', () => {
    const model = seededModel(true, { activation: 'gelu', positionEncoding: 'sinusoidal' });
    try {
      const cached = decode(model, sources);
      const uncached = decode(model, sources, { useCache: false });
      expect(cached.tokens).toEqual(uncached.tokens);
      expectSameLogProbs(cached.logProbs, uncached.logProbs);
      expect(new Set(cached.logProbs.map((lp) => lp.toFixed(3))).size).toBeGreaterThan(1);
    } finally {
      model.dispose();
    }
  });
});
