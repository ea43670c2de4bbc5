/**
 * Example 2 of the README: a functional model with two token inputs, each
 * embedded by tfjs's embedding with maskZero, joined by our
 * MultiHeadAttention as cross-attention ([query, value]), then tfjs's add,
 * layerNormalization, pooling and dense. Toy task: does the context contain
 * any token of the question?
 */
import * as tf from '@tensorflow/tfjs';
import { MultiHeadAttention } from '../../src';
import { describeEachBackend } from '../helpers/backends';
import {
  attentionParams,
  expectReloadPredictsSame,
  expectTrainingLowersLoss,
  maxAbsDiff,
  paddedSequences,
  parseSummary,
  summaryLines,
  TRAINING_BUDGET,
} from './example_helpers';

const QUESTION_LENGTH = 3;
const CONTEXT_LENGTH = 6;

// README:begin cross-attention
const VOCABULARY = 16; // token ids 0..15; 0 is padding

function buildCrossAttentionModel(): tf.LayersModel {
  const question = tf.input({ shape: [null], dtype: 'int32', name: 'question' });
  const context = tf.input({ shape: [null], dtype: 'int32', name: 'context' });
  const q = tf.layers
    .embedding({ inputDim: VOCABULARY, outputDim: 16, maskZero: true, name: 'question_embedding' })
    .apply(question);
  const c = tf.layers
    .embedding({ inputDim: VOCABULARY, outputDim: 12, maskZero: true, name: 'context_embedding' })
    .apply(context);
  // Cross-attention: every input in the first argument, [query, value] (or [query, value, key]).
  const attended = new MultiHeadAttention({ numHeads: 2, keyDim: 8, name: 'cross_attention' }).apply([
    q,
    c,
  ] as tf.SymbolicTensor[]);
  const residual = tf.layers.add({ name: 'residual' }).apply([q, attended] as tf.SymbolicTensor[]);
  const normalized = tf.layers.layerNormalization({ name: 'norm' }).apply(residual);
  const pooled = tf.layers.globalAveragePooling1d({ name: 'pool' }).apply(normalized);
  const probability = tf.layers.dense({ units: 1, activation: 'sigmoid', name: 'classifier' }).apply(pooled);
  const model = tf.model({ inputs: [question, context], outputs: probability as tf.SymbolicTensor });
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  return model;
}
// README:end

function overlapTask(batch: number, seed: number): { xs: tf.Tensor2D[]; ys: tf.Tensor2D } {
  const questions = paddedSequences(batch, QUESTION_LENGTH, 1, VOCABULARY, seed);
  const contexts = paddedSequences(batch, CONTEXT_LENGTH, 2, VOCABULARY, seed + 100);
  const labels = questions.map((q, b) => (q.some((id) => id !== 0 && contexts[b].includes(id)) ? 1 : 0));
  return {
    xs: [tf.tensor2d(questions, undefined, 'int32'), tf.tensor2d(contexts, undefined, 'int32')],
    ys: tf.tensor2d(labels, [batch, 1]),
  };
}

describeEachBackend('example: cross-attention between two inputs', (backend) => {
  const budget = TRAINING_BUDGET[backend];

  it('trains, evaluates, reports its parameters, and reloads from file:// with identical predictions', async () => {
    const model = buildCrossAttentionModel();
    const train = overlapTask(budget.examples, 5);
    const lossAfter = await expectTrainingLowersLoss(model, train.xs, train.ys, {
      epochs: budget.epochs,
      batchSize: 32,
    });
    const predicted = model.predict(train.xs) as tf.Tensor;
    const byHand = tf.tidy(() => tf.metrics.binaryCrossentropy(train.ys, predicted).mean().dataSync()[0]);
    expect(Math.abs(lossAfter - byHand)).toBeLessThan(1e-4);

    // Hand count: query [16, 2, 8] + [2, 8]; key and value [12, 2, 8] + [2, 8]; output [2, 8, 16] + [16].
    const attention = attentionParams({ queryWidth: 16, valueWidth: 12, heads: 2, keyDim: 8 });
    expect(attention).toBe(272 + 208 + 208 + 272);
    const summary = parseSummary(summaryLines(model));
    expect(summary.layers.cross_attention).toEqual({ className: 'MultiHeadAttention', params: attention });
    expect(summary.layers.norm.params).toBe(2 * 16);
    const handCount = VOCABULARY * 16 + VOCABULARY * 12 + attention + 2 * 16 + 16 + 1;
    expect(summary).toMatchObject({ total: handCount, trainable: handCount, nonTrainable: 0 });

    const test = overlapTask(16, 77);
    await expectReloadPredictsSame(model, 'cross-attention', test.xs);
    tf.dispose([...test.xs, test.ys]);
    tf.dispose([...train.xs, train.ys, predicted]);
    model.dispose();
  });

  it("ignores the context's padding: the value's mask reaches the attention inside predict()", () => {
    // tfjs's executor hands a multi-input layer only the first input's mask;
    // the context's mask must still keep padded keys out.
    const model = buildCrossAttentionModel();
    const question = tf.tensor2d([[3, 9, 4]], undefined, 'int32');
    const context = tf.tensor2d([[9, 2, 5]], undefined, 'int32');
    const padded = tf.tensor2d([[9, 2, 5, 0, 0, 0]], undefined, 'int32');
    const longer = tf.tensor2d([[9, 2, 5, 7, 0, 0]], undefined, 'int32');
    const [p, pPadded, pLonger] = [context, padded, longer].map((c) => model.predict([question, c]) as tf.Tensor);
    expect(maxAbsDiff(p, pPadded)).toBeLessThan(1e-6);
    expect(maxAbsDiff(p, pLonger)).toBeGreaterThan(1e-6);
    tf.dispose([question, context, padded, longer, p, pPadded, pLonger]);
    model.dispose();
  });
});
