/**
 * `generate` on models loaded from Keras files: the loader writes a file's padding masks as
 * operations of the graph (`ids != 0`, `mask[:, :, None]`: src/keras/keras_masks.ts), and these run
 * one new position at a time (src/keras/positions.ts), so a Keras GPT whose Embedding has
 * `mask_zero` generates with its caches, step for step the logits of rerunning the whole model.
 * The loader's operation layers that mix positions, or hold a value per position, are refused by
 * name, as Conv1D is.
 */
import * as tf from '@tensorflow/tfjs';
import {
  ActivationOperation,
  ElementwiseOperation,
  KerasNormalization,
  KerasSoftmax,
  loadKerasModel,
  MultiHeadAttention,
  ReduceOperation,
  saveKerasModel,
  SliceOperation,
} from '../../src';
import { generate, generationSearch, type GenerateOptions } from '../../src/decode/generate';
import { ZipArchive } from '../../src/keras/zip';
import { writeZip } from '../../src/keras/zip_writer';
import { seededValues } from '../layers/attention_reference';

const VOCABULARY = 12;
const WIDTH = 8;
const PROMPTS = [[3, 1, 4], [5, 9, 2, 6, 5], [7]];

/** A causal GPT in Keras's stock layers: Embedding, causal MultiHeadAttention, residual, LayerNormalization, logits. */
function stockGpt(maskZero: boolean): tf.LayersModel {
  const tokens = tf.input({ shape: [null], dtype: 'int32', name: 'tokens' });
  const x = tf.layers.embedding({ inputDim: VOCABULARY, outputDim: WIDTH, maskZero, name: 'embedding' }).apply(tokens);
  const attended = new MultiHeadAttention({ numHeads: 2, keyDim: 4, causal: true, name: 'attention' }).apply(x);
  const sum = tf.layers.add({ name: 'residual' }).apply([x, attended] as tf.SymbolicTensor[]);
  const normed = tf.layers.layerNormalization({ name: 'norm' }).apply(sum);
  const logits = tf.layers.dense({ units: VOCABULARY, name: 'logits' }).apply(normed);
  return tf.model({ inputs: tokens, outputs: logits as tf.SymbolicTensor, name: 'gpt' });
}

/** Seeded kernels and embeddings (biases and norms as built), large enough that the logits vary with the tokens. */
function seedWeights(model: tf.LayersModel, seed: number): void {
  const weights = model
    .getWeights()
    .map((w, i) => (w.rank < 2 ? w.clone() : tf.tensor(seededValues(w.size, seed + i), w.shape)));
  model.setWeights(weights);
  tf.dispose(weights);
}

/**
 * The GPT as a Keras 3 `.keras` file whose Embedding has `mask_zero=True`, as Keras writes it (its
 * masks implicit), loaded back: saved without the mask, `mask_zero` set in its config.
 */
async function kerasFileWithMaskZero(): Promise<tf.LayersModel> {
  const model = stockGpt(false);
  seedWeights(model, 6);
  const saved = new ZipArchive(await saveKerasModel(model), 'gpt.keras');
  model.dispose();
  const config = JSON.parse(saved.readText('config.json'));
  const embedding = config.config.layers.find((l: { name: string }) => l.name === 'embedding');
  embedding.config.mask_zero = true;
  const entries = [...saved.entries.keys()].map((name) => ({
    name,
    data: name === 'config.json' ? new TextEncoder().encode(JSON.stringify(config)) : saved.read(name),
  }));
  return loadKerasModel(writeZip(entries));
}

/**
 * The GPT with tfjs's maskZero, saved by saveKerasModel (its masks written out: ids != 0, and its
 * rows for the queries), loaded back.
 */
async function savedWithMaskZero(): Promise<tf.LayersModel> {
  const model = stockGpt(true);
  seedWeights(model, 6);
  const saved = await saveKerasModel(model);
  model.dispose();
  return loadKerasModel(saved);
}

/** What generate reads at every step, (rows, V) logits each (copied: the search turns them into log-probabilities). */
function stepLogits(model: tf.LayersModel, options: GenerateOptions): { tokens: number[][]; steps: Float32Array[] } {
  const steps: Float32Array[] = [];
  const search = generationSearch(model, PROMPTS, options);
  let step = search.next();
  while (!step.done) {
    const request = step.value;
    if ('read' in request) {
      const values = request.read.dataSync() as Float32Array;
      request.read.dispose();
      steps.push(Float32Array.from(values));
      step = search.next(values);
    } else {
      step = search.next(undefined);
    }
  }
  return { tokens: step.value.tokens, steps };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe.each([
  ['a Keras file of a GPT whose Embedding has mask_zero', kerasFileWithMaskZero],
  ["saveKerasModel's file of a GPT whose Embedding has maskZero", savedWithMaskZero],
])('%s', (_what, load) => {
  let model: tf.LayersModel;
  beforeAll(async () => {
    model = await load();
  });
  afterAll(() => model.dispose());

  it('loads with its padding mask as an operation of the graph (ids != 0)', () => {
    const masks = model.layers.filter((l) => l instanceof ElementwiseOperation && l.operation === 'not_equal');
    expect(masks.map((l) => l.name)).toEqual(['tokens_padding_mask']);
    // The mask is applied: without position embeddings, [3, 0, 4, 1] with its padded key left out
    // is [3, 4, 1], position for position after the padding.
    const [padded, plain] = [
      [3, 0, 4, 1],
      [3, 4, 1],
    ].map((ids) => tf.tidy(() => (model.predict(tf.tensor2d([ids], undefined, 'int32')) as tf.Tensor).arraySync()));
    const [withPad, without] = [padded, plain].map((o) => (o as number[][][])[0]);
    for (const [at, same] of [
      [2, 1],
      [3, 2],
    ]) {
      expect(maxAbsDiff(Float32Array.from(withPad[at]), Float32Array.from(without[same]))).toBeLessThan(1e-5);
    }
  });

  it('generates with its caches: at every step the logits of rerunning the model, and the same tokens', () => {
    const before = tf.memory().numTensors;
    const options: GenerateOptions = { maxNewTokens: 12 };
    const cached = stepLogits(model, options);
    const rerun = stepLogits(model, { ...options, useCache: false });
    expect(cached.tokens).toEqual(rerun.tokens);
    // Prompts of different lengths: the shorter ones' tokens are read while the longer are still fed.
    expect(cached.steps.length).toBeGreaterThanOrEqual(12);
    expect(cached.steps).toHaveLength(rerun.steps.length);
    cached.steps.forEach((logits, i) => expect(maxAbsDiff(logits, rerun.steps[i])).toBeLessThan(1e-5));
    // Id 0 is padding (the mask reads it so), never generated, as with an Embedding whose maskZero tfjs applies.
    expect(cached.tokens.flat()).not.toContain(0);
    // Not a constant: the prompts continue differently.
    expect(new Set(cached.tokens.map((t) => t.join(','))).size).toBe(3);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('samples the same tokens cached and uncached (top-k, seeded)', async () => {
    const options: GenerateOptions = { maxNewTokens: 12, sampler: 'topK', topK: 4, seed: 3 };
    expect(await generate(model, PROMPTS, options)).toEqual(
      await generate(model, PROMPTS, { ...options, useCache: false }),
    );
  });
});

describe("the loader's operation layers, one new position at a time", () => {
  /** tokens -> Embedding (B, T, D) -> `op` -> logits (B, T, V). */
  function withOperation(op: tf.layers.Layer): tf.LayersModel {
    const tokens = tf.input({ shape: [null], dtype: 'int32' });
    const x = tf.layers.embedding({ inputDim: VOCABULARY, outputDim: WIDTH }).apply(tokens);
    const y = new MultiHeadAttention({ numHeads: 2, keyDim: 4, causal: true }).apply(op.apply(x));
    const model = tf.model({
      inputs: tokens,
      outputs: tf.layers.dense({ units: VOCABULARY }).apply(y) as tf.SymbolicTensor,
    });
    seedWeights(model, 11);
    return model;
  }

  const positionWise: Array<[string, () => tf.layers.Layer]> = [
    ['x * c', () => new ElementwiseOperation({ operation: 'multiply', constant: 2 })],
    ['x + row (1, D)', () => new ElementwiseOperation({ operation: 'add', constant: [seededValues(WIDTH, 1)] })],
    ['gelu', () => new ActivationOperation({ activation: 'gelu' })],
    ['softmax over the features', () => new KerasSoftmax({ axis: -1 })],
    ['x[..., :] (all of it)', () => new SliceOperation({ key: ['ellipsis'] })],
    ['Normalization per feature', () => new KerasNormalization({ mean: seededValues(WIDTH, 2), variance: 2 })],
  ];
  it.each(positionWise)('%s: cached equals uncached', async (_what, make) => {
    const model = withOperation(make());
    const options: GenerateOptions = { maxNewTokens: 8 };
    expect(await generate(model, PROMPTS, options)).toEqual(
      await generate(model, PROMPTS, { ...options, useCache: false }),
    );
    model.dispose();
  });

  const mixing: Array<[string, () => tf.layers.Layer]> = [
    [
      'x + table (T, D)',
      () => new ElementwiseOperation({ operation: 'add', constant: [[1], [2], [3], [4], [5], [6]], name: 'op' }),
    ],
    ['softmax over the positions', () => new KerasSoftmax({ axis: 1, name: 'op' })],
    [
      'x[:, ::2]',
      () =>
        new SliceOperation({
          key: [
            { start: null, stop: null, step: null },
            { start: null, stop: null, step: 2 },
          ],
          name: 'op',
        }),
    ],
    ['Normalization per position', () => new KerasNormalization({ axis: 1, mean: 0, variance: 1, name: 'op' })],
  ];
  it.each(mixing)('%s: refused by name', async (_what, make) => {
    const tokens = tf.input({ shape: [6], dtype: 'int32' });
    const x = tf.layers.embedding({ inputDim: VOCABULARY, outputDim: WIDTH }).apply(tokens);
    const model = tf.model({
      inputs: tokens,
      outputs: tf.layers.dense({ units: VOCABULARY }).apply(make().apply(x)) as tf.SymbolicTensor,
    });
    await expect(generate(model, PROMPTS, { maxNewTokens: 2 })).rejects.toThrow(
      /^generate: layer 'op' \(\w+\) mixes positions/,
    );
    model.dispose();
  });

  it('a mean over the features is position-wise, over the positions refused', () => {
    const tokens = tf.input({ shape: [null], dtype: 'int32' });
    const x = tf.layers.embedding({ inputDim: VOCABULARY, outputDim: WIDTH }).apply(tokens);
    const features = new ReduceOperation({ operation: 'mean', axis: -1, keepdims: true });
    const positions = new ReduceOperation({ operation: 'mean', axis: 1, keepdims: true });
    features.apply(x);
    positions.apply(x);
    expect(features.incrementalRole()).toEqual({ kind: 'position-wise' });
    expect(positions.incrementalRole()).toBeNull();
  });
});
