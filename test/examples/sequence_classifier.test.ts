/**
 * Example 1 of the README: a sequence classifier, tfjs's own embedding (with
 * maskZero), our MultiHeadAttention (self-attention), pooling and a dense
 * head, as a functional model and as a tf.sequential, and compiled with the
 * library's Adam. Toy task: does the sequence contain token 7?
 */
import * as tf from '@tensorflow/tfjs';
import { Adam, MultiHeadAttention } from '../../src';
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

// README:begin sequence-classifier
const VOCABULARY = 10; // token ids 0..9; 0 is padding
const LENGTH = 8;

function buildClassifier(): tf.LayersModel {
  const tokens = tf.input({ shape: [null], dtype: 'int32', name: 'tokens' });
  // Id 0 is padding: the embedding's mask keeps attention off padded positions.
  const embedded = tf.layers
    .embedding({ inputDim: VOCABULARY, outputDim: 16, maskZero: true, name: 'embedding' })
    .apply(tokens);
  const attended = new MultiHeadAttention({ numHeads: 2, keyDim: 8, name: 'attention' }).apply(embedded);
  const dropped = tf.layers.dropout({ rate: 0.1 }).apply(attended);
  const pooled = tf.layers.globalAveragePooling1d({ name: 'pool' }).apply(dropped);
  const probability = tf.layers.dense({ units: 1, activation: 'sigmoid', name: 'classifier' }).apply(pooled);
  const model = tf.model({ inputs: tokens, outputs: probability as tf.SymbolicTensor });
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  return model;
}

function buildSequentialClassifier(): tf.Sequential {
  const model = tf.sequential({
    layers: [
      tf.layers.embedding({
        inputDim: VOCABULARY,
        outputDim: 16,
        maskZero: true,
        inputShape: [LENGTH],
        name: 'embedding',
      }),
      new MultiHeadAttention({ numHeads: 2, keyDim: 8, name: 'attention' }),
      tf.layers.globalAveragePooling1d({ name: 'pool' }),
      tf.layers.dense({ units: 2, activation: 'softmax', name: 'classifier' }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}
// README:end

// README:begin adam
function compileWithFusedAdam(model: tf.LayersModel): void {
  // The library's Adam: every variable in one fused kernel, on the kernel threads.
  const optimizer = new Adam({ learningRate: 0.01, beta2: 0.999, epsilon: 1e-7 });
  model.compile({ optimizer, loss: 'binaryCrossentropy', metrics: ['accuracy'] });
}
// README:end

/** Padded sequences and labels: 1 when token 7 occurs. */
function containsSeven(batch: number, seed: number): { xs: tf.Tensor2D; ys: tf.Tensor2D; labels: number[] } {
  const sequences = paddedSequences(batch, LENGTH, 2, VOCABULARY, seed);
  const labels = sequences.map((s) => (s.includes(7) ? 1 : 0));
  return { xs: tf.tensor2d(sequences, undefined, 'int32'), ys: tf.tensor2d(labels, [batch, 1]), labels };
}

const EXPECTED_PARAMS = {
  embedding: VOCABULARY * 16,
  attention: attentionParams({ queryWidth: 16, heads: 2, keyDim: 8 }), // 4 * (16*16 + 16) = 1088
  classifier: 16 + 1,
};

describeEachBackend('example: sequence classifier', (backend) => {
  const budget = TRAINING_BUDGET[backend];

  it('trains, evaluates, reports its parameters, and reloads from file:// with identical predictions', async () => {
    const model = buildClassifier();
    const train = containsSeven(budget.examples, 11);
    const evalLoss = await expectTrainingLowersLoss(model, train.xs, train.ys, {
      epochs: budget.epochs,
      batchSize: 32,
    });

    // evaluate() agrees with the binary cross-entropy of predict().
    const predicted = model.predict(train.xs) as tf.Tensor;
    const byHand = tf.tidy(() => tf.metrics.binaryCrossentropy(train.ys, predicted).mean().dataSync()[0]);
    expect(Math.abs(evalLoss - byHand)).toBeLessThan(1e-4);

    const summary = parseSummary(summaryLines(model));
    expect(summary.layers.attention).toEqual({ className: 'MultiHeadAttention', params: 1088 });
    expect(summary.layers.attention.params).toBe(EXPECTED_PARAMS.attention);
    expect(summary.layers.embedding.params).toBe(EXPECTED_PARAMS.embedding);
    expect(summary.layers.classifier.params).toBe(EXPECTED_PARAMS.classifier);
    const handCount = EXPECTED_PARAMS.embedding + EXPECTED_PARAMS.attention + EXPECTED_PARAMS.classifier;
    expect(summary).toMatchObject({ total: handCount, trainable: handCount, nonTrainable: 0 });
    expect(model.countParams()).toBe(handCount);

    const test = containsSeven(16, 99);
    await expectReloadPredictsSame(model, 'classifier', test.xs, (loaded) =>
      expect(loaded.layers.map((l) => l.getClassName())).toEqual([
        'InputLayer',
        'Embedding',
        'MultiHeadAttention',
        'Dropout',
        'GlobalAveragePooling1D',
        'Dense',
      ]),
    );
    tf.dispose([test.xs, test.ys]);
    tf.dispose([train.xs, train.ys, predicted]);
    model.dispose();
  });

  it("trains through model.compile and fit with the library's Adam", async () => {
    const model = buildClassifier();
    compileWithFusedAdam(model);
    const train = containsSeven(budget.examples, 12);
    await expectTrainingLowersLoss(model, train.xs, train.ys, { epochs: budget.epochs, batchSize: 32 });
    expect(model.optimizer).toBeInstanceOf(Adam);
    model.optimizer.dispose();
    tf.dispose([train.xs, train.ys]);
    model.dispose();
  });

  it('padding changes no prediction: the attention never looks at padded positions', () => {
    const model = buildClassifier();
    // The same two sequences with and without trailing padding. globalAveragePooling1d
    // averages every position (tfjs's pooling ignores masks), so compare the
    // attention's output at the real positions through a sub-model.
    const attention = tf.model({
      inputs: model.inputs,
      outputs: model.getLayer('attention').output as tf.SymbolicTensor,
    });
    const short = tf.tensor2d(
      [
        [3, 7, 2],
        [5, 5, 1],
      ],
      undefined,
      'int32',
    );
    const padded = tf.tensor2d(
      [
        [3, 7, 2, 0, 0],
        [5, 5, 1, 0, 0],
      ],
      undefined,
      'int32',
    );
    const a = attention.predict(short) as tf.Tensor;
    const b = tf.tidy(() => (attention.predict(padded) as tf.Tensor).slice([0, 0, 0], [2, 3, 16]));
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-5);
    tf.dispose([short, padded, a, b]);
    model.dispose();
  });

  it('works in tf.sequential, trains, and reloads with identical predictions', async () => {
    const model = buildSequentialClassifier();
    const train = containsSeven(budget.examples, 21);
    const labels = tf.tensor1d(train.labels, 'float32');
    await expectTrainingLowersLoss(model, train.xs, labels, { epochs: budget.epochs, batchSize: 32 });

    const summary = parseSummary(summaryLines(model));
    expect(summary.layers.attention).toEqual({ className: 'MultiHeadAttention', params: EXPECTED_PARAMS.attention });
    expect(summary.total).toBe(EXPECTED_PARAMS.embedding + EXPECTED_PARAMS.attention + 2 * 16 + 2);

    await expectReloadPredictsSame(model, 'sequential', train.xs, (loaded) =>
      expect(loaded).toBeInstanceOf(tf.Sequential),
    );
    tf.dispose([train.xs, train.ys, labels]);
    model.dispose();
  });
});
