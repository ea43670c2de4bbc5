/**
 * Example 3 of the README: a decoder-only (GPT-style) stack built from our
 * blocks: TokenAndPositionEmbedding, TransformerEncoderBlock({causal: true})
 * (pre-LN, as GPT-2), tfjs's dropout, layerNormalization and dense, trained
 * briefly on next-token prediction. Toy task: counting, each token is the
 * previous one plus one (wrapping from 11 to 1).
 */
import * as tf from '@tensorflow/tfjs';
import { TokenAndPositionEmbedding, TransformerDecoderBlock, TransformerEncoderBlock } from '../../src';
import { describeEachBackend } from '../helpers/backends';
import {
  attentionParams,
  expectReloadPredictsSame,
  expectTrainingLowersLoss,
  maxAbsDiff,
  parseSummary,
  seededInts,
  summaryLines,
} from './example_helpers';

// README:begin gpt
const VOCABULARY = 12; // 0 is padding, 1..11 are tokens
const LENGTH = 8;
const WIDTH = 32;

function buildGpt(): tf.LayersModel {
  const tokens = tf.input({ shape: [null], dtype: 'int32', name: 'tokens' });
  let x = new TokenAndPositionEmbedding({
    vocabularySize: VOCABULARY,
    sequenceLength: LENGTH,
    embeddingDim: WIDTH,
    name: 'embedding',
  }).apply(tokens);
  x = tf.layers.dropout({ rate: 0.1 }).apply(x);
  for (let i = 0; i < 2; i++) {
    // causal: position t attends only to positions <= t; normalizeFirst: pre-LN, as GPT-2.
    x = new TransformerEncoderBlock({
      numHeads: 2,
      intermediateDim: 64,
      causal: true,
      normalizeFirst: true,
      name: `block_${i}`,
    }).apply(x);
  }
  x = tf.layers.layerNormalization({ name: 'final_norm' }).apply(x);
  const nextToken = tf.layers.dense({ units: VOCABULARY, activation: 'softmax', name: 'next_token' }).apply(x);
  const model = tf.model({ inputs: tokens, outputs: nextToken as tf.SymbolicTensor });
  // Targets (B, T, 1): the token after each position.
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}
// README:end

/** Counting sequences: inputs x[0..L-1], targets x[1..L], x[t+1] = x[t] % 11 + 1. */
function counting(batch: number, seed: number): { xs: tf.Tensor2D; ys: tf.Tensor3D } {
  const starts = seededInts(batch, 1, VOCABULARY, seed);
  const rows = starts.map((s) => Array.from({ length: LENGTH + 1 }, (_x, t) => ((s - 1 + t) % (VOCABULARY - 1)) + 1));
  return {
    xs: tf.tensor2d(
      rows.map((r) => r.slice(0, LENGTH)),
      undefined,
      'int32',
    ),
    ys: tf.tensor3d(
      rows.map((r) => r.slice(1).map((id) => [id])),
      [batch, LENGTH, 1],
    ),
  };
}

/** Greedy generation, one predict() per new token, as a user would write it. */
function generate(model: tf.LayersModel, prompt: number[], steps: number): number[] {
  const ids = [...prompt];
  for (let i = 0; i < steps; i++) {
    const next = tf.tidy(() => {
      const probabilities = model.predict(tf.tensor2d([ids], undefined, 'int32')) as tf.Tensor3D;
      return probabilities
        .slice([0, ids.length - 1, 0], [1, 1, VOCABULARY])
        .argMax(-1)
        .dataSync()[0];
    });
    ids.push(next);
  }
  return ids.slice(prompt.length);
}

/** Predictions at positions < `changed` do not move when the token at `changed` does. */
function expectCausal(model: tf.LayersModel, ids: number[], changed: number): void {
  const altered = ids.map((id, t) => (t === changed ? (id % (VOCABULARY - 1)) + 1 : id));
  const [a, b] = [ids, altered].map((row) => model.predict(tf.tensor2d([row], undefined, 'int32')) as tf.Tensor);
  const before = (t: tf.Tensor) => t.slice([0, 0, 0], [1, changed, VOCABULARY]);
  const after = (t: tf.Tensor) => t.slice([0, changed, 0], [1, ids.length - changed, VOCABULARY]);
  const [earlyA, earlyB, lateA, lateB] = [before(a), before(b), after(a), after(b)];
  expect(maxAbsDiff(earlyA, earlyB)).toBeLessThan(1e-6);
  expect(maxAbsDiff(lateA, lateB)).toBeGreaterThan(1e-6);
  tf.dispose([a, b, earlyA, earlyB, lateA, lateB]);
}

/** As TRAINING_BUDGET (example_helpers.ts), with a smaller cpu batch for this longer sequence task. */
const BUDGET = { cpu: { examples: 16, epochs: 4, batchSize: 16 }, wasm: { examples: 128, epochs: 6, batchSize: 32 } };

describeEachBackend('example: decoder-only (GPT-style) stack', (backend) => {
  const budget = BUDGET[backend];

  it(
    'trains on next-token prediction, stays causal, reports ' +
      'its parameters, and reloads with identical predictions',
    async () => {
      const model = buildGpt();
      const train = counting(budget.examples, 3);
      await expectTrainingLowersLoss(model, train.xs, train.ys, { epochs: budget.epochs, batchSize: budget.batchSize });
      if (backend === 'wasm') {
        // Long enough to have learnt to count.
        expect(generate(model, [3, 4, 5], 4)).toEqual([6, 7, 8, 9]);
      }
      expectCausal(model, [2, 3, 4, 5, 6, 7], 3);

      // Hand count: D = 32, H = 2, K = D / H = 16, I = 64.
      const block =
        attentionParams({ queryWidth: WIDTH, heads: 2, keyDim: 16 }) + // self-attention
        2 * (2 * WIDTH) + // two layer norms, gamma and beta each
        (WIDTH * 64 + 64) +
        (64 * WIDTH + WIDTH); // feed-forward
      expect(block).toBe(4224 + 128 + 4192);
      const embedding = VOCABULARY * WIDTH + LENGTH * WIDTH;
      const summary = parseSummary(summaryLines(model));
      expect(summary.layers.embedding).toEqual({ className: 'TokenAndPositionEmbedding', params: embedding });
      expect(summary.layers.block_0).toEqual({ className: 'TransformerEncoderBlock', params: block });
      expect(summary.layers.block_1).toEqual({ className: 'TransformerEncoderBlock', params: block });
      const handCount = embedding + 2 * block + 2 * WIDTH + (WIDTH * VOCABULARY + VOCABULARY);
      expect(summary).toMatchObject({ total: handCount, trainable: handCount, nonTrainable: 0 });

      await expectReloadPredictsSame(model, 'gpt', train.xs, (loaded) => expectCausal(loaded, [2, 3, 4, 5, 6, 7], 3));
      tf.dispose([train.xs, train.ys]);
      model.dispose();
    },
  );

  it('TransformerDecoderBlock with a single input is a causal block too, and reloads', async () => {
    const tokens = tf.input({ shape: [null], dtype: 'int32' });
    const x = new TokenAndPositionEmbedding({
      vocabularySize: VOCABULARY,
      sequenceLength: LENGTH,
      embeddingDim: WIDTH,
    }).apply(tokens);
    const y = new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 64, name: 'decoder_block' }).apply(x);
    const next = tf.layers.dense({ units: VOCABULARY, activation: 'softmax' }).apply(y);
    const model = tf.model({ inputs: tokens, outputs: next as tf.SymbolicTensor });
    expectCausal(model, [5, 6, 7, 8, 9], 2);
    // No encoder input, so no cross-attention weights: self-attention, two layer norms, feed-forward.
    expect(parseSummary(summaryLines(model)).layers.decoder_block.params).toBe(4224 + 128 + 4192);
    const ids = tf.tensor2d(
      [
        [1, 2, 3, 4],
        [9, 10, 11, 0],
      ],
      undefined,
      'int32',
    );
    await expectReloadPredictsSame(model, 'gpt-decoder-block', ids);
    ids.dispose();
    model.dispose();
  });
});
