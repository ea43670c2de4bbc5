/**
 * The model's attention maps with value contributions (`attentionMaps`, behind
 * `Seq2Seq.attention`): for every layer and head of the three kinds of attention, the
 * contributions are the weights times the value norms, they equal the layer's own
 * `attentionContributions` on the same inputs, and the per-head importance is the mean length
 * of the head's share of the output, recomputed here from the layer's value vectors. Post-LN and
 * pre-LN (where attention sees the normalized input).
 */
import * as tf from '@tensorflow/tfjs';

import { attentionMaps } from '../../src/explain/attention_maps';
import type { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import type { TransformerEncoderBlock } from '../../src/layers/transformer_encoder_block';
import { presetConfig } from '../../src/model/config';
import { createTransformer } from '../../src/model/transformer';
import { createTask } from '../../src/tasks';
import { describeEachBackend } from '../helpers/backends';
import { seededValues } from '../layers/attention_reference';

const task = createTask('reverse');
const source = [3, 7, 4, 9, 5];
const target = [5, 9, 4, 7, 3];

function seededModel(normalizeFirst: boolean): tf.LayersModel {
  const config = presetConfig('tiny', task, { normalizeFirst, numDecoderLayers: 2 });
  const model = createTransformer(config);
  const weights = model.getWeights().map((w, i) => tf.tensor(seededValues(w.size, 500 + i), w.shape).mul(0.8));
  model.setWeights(weights);
  tf.dispose(weights);
  return model;
}

const flat = (x: unknown): number[] => (Array.isArray(x) ? x.flatMap(flat) : [x as number]);

function expectClose(actual: unknown, expected: unknown, tolerance: number): void {
  const [a, e] = [flat(actual), flat(expected)];
  expect(a.length).toBe(e.length);
  expect(Math.max(...a.map((v, i) => Math.abs(v - e[i])))).toBeLessThan(tolerance);
}

describeEachBackend('attentionMaps with value contributions', () => {
  for (const normalizeFirst of [false, true]) {
    it(`${normalizeFirst ? 'pre' : 'post'}-LN: contributions = weights * value norms, per layer and head`, () => {
      const model = seededModel(normalizeFirst);
      const before = tf.memory().numTensors;
      const maps = attentionMaps(model, source, target);
      expect(tf.memory().numTensors).toBe(before);
      const kinds = ['encoderSelf', 'decoderSelf', 'cross'] as const;
      for (const kind of kinds) {
        const weights = maps[kind];
        expect(weights.length).toBeGreaterThan(0);
        weights.forEach((layer, l) =>
          layer.forEach((head, h) =>
            head.forEach((row, t) =>
              row.forEach((w, s) => {
                const product = w * maps.valueNorms[kind][l][h][s];
                // float32: a relative tolerance
                expect(Math.abs(maps.contributions[kind][l][h][t][s] - product)).toBeLessThan(
                  1e-6 * Math.max(1, product),
                );
              }),
            ),
          ),
        );
        expect(maps.headImportance[kind].map((l) => l.length)).toEqual(weights.map((l) => l.length));
      }

      // Encoder layer 0 by hand: its attention sees the embedded source (normalized when pre-LN).
      const block = model.getLayer('encoder_block_0') as TransformerEncoderBlock;
      const attention = block.selfAttention!;
      const ids = tf.tensor2d([source], [1, source.length], 'int32');
      const input = tf.tidy(() => {
        const embedded = (model.getLayer('source_embedding') as TokenAndPositionEmbedding).embed(ids, 0);
        if (!normalizeFirst) return embedded;
        const [gamma, beta] = block
          .getWeights()
          .slice(attention.getWeights().length, attention.getWeights().length + 2);
        const mean = embedded.mean(-1, true);
        const variance = embedded.sub(mean).square().mean(-1, true);
        return embedded.sub(mean).div(variance.add(block.layerNormEpsilon).sqrt()).mul(gamma).add(beta);
      });
      const own = attention.attentionContributions(input);
      expectClose(maps.encoderSelf[0], own.weights.arraySync(), 1e-5);
      expectClose(maps.valueNorms.encoderSelf[0], own.valueNorms.arraySync(), 1e-4);
      expectClose(maps.contributions.encoderSelf[0], own.contributions.arraySync(), 1e-4);

      // Head importance: mean over queries of || sum_s w[t, s] f_h(v_s) ||, from the value vectors.
      const vectors = tf.tidy(() => attention.valueVectors(input).squeeze([0]).arraySync()) as number[][][];
      const importance = maps.encoderSelf[0].map((head, h) => {
        const lengths = head.map((row) => {
          const share = vectors[h][0].map((_o, o) => row.reduce((sum, w, s) => sum + w * vectors[h][s][o], 0));
          return Math.sqrt(share.reduce((sum, v) => sum + v * v, 0));
        });
        return lengths.reduce((a, b) => a + b, 0) / lengths.length;
      });
      expectClose(maps.headImportance.encoderSelf[0], importance, 1e-4);
      expect(Math.max(...importance)).toBeGreaterThan(0);

      tf.dispose([ids, input, own.weights, own.valueNorms, own.contributions]);
      model.dispose();
    });
  }
});
