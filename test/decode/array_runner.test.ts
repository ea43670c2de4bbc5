/**
 * The typed-array runner (`step: 'typed-arrays'`) against the tfjs one (`step: 'tfjs'`): the same
 * layers, the same kernels, so the same tokens and, within float32 rounding, the same scores, on
 * every kind of model `generate` takes: our blocks pre- and post-LN with each feed-forward
 * activation, keras-hub's decoders with and without cross-attention (bridging keras-hub's
 * embedding through tfjs), a standalone MultiHeadAttention with a gate and a sliding window, head
 * masks, beam search (whose reorders move the caches), an encoder-decoder with a padded source;
 * and what it refuses.
 */
import * as tf from '@tensorflow/tfjs';
import { type GenerateOptions, generateSync } from '../../src/decode/generate';
import { KerasHubTokenAndPositionEmbedding } from '../../src/layers/keras_hub/token_and_position_embedding';
import { KerasHubTransformerDecoder } from '../../src/layers/keras_hub/transformer_decoder';
import { MultiHeadAttention } from '../../src/layers/multi_head_attention';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import { TransformerDecoderBlock } from '../../src/layers/transformer_decoder_block';
import { TransformerEncoderBlock } from '../../src/layers/transformer_encoder_block';
import { describeEachBackend } from '../helpers/backends';
import { seededValues } from '../layers/attention_reference';

const VOCABULARY = 23;
const WIDTH = 16;
const PROMPTS = [[1, 2, 3], [4, 5, 6, 7, 8], [9]];

/** Seeded kernels and embeddings (biases and norms keep their zeros and ones: the outputs then vary with the input). */
function seedWeights(model: tf.LayersModel, seed: number, scale = 0.8): void {
  const weights = model
    .getWeights()
    .map((w, i) =>
      tf.tidy(() => (w.rank < 2 ? w.clone() : tf.tensor(seededValues(w.size, seed + i), w.shape).mul(scale))),
    );
  model.setWeights(weights);
  tf.dispose(weights);
}

/** Tokens equal, scores within float32 rounding, with the typed-array and the tfjs steps. */
function expectSameSteps(model: tf.LayersModel, prompts: number[][], options: GenerateOptions): void {
  const arrays = generateSync(model, prompts, { ...options, step: 'typed-arrays' });
  const tensors = generateSync(model, prompts, { ...options, step: 'tfjs' });
  expect(arrays.tokens).toEqual(tensors.tokens);
  arrays.logProbs.forEach((score, i) => expect(score).toBeCloseTo(tensors.logProbs[i], 3));
  // Not a degenerate model: the prompts' continuations differ.
  expect(new Set(arrays.tokens.map((t) => t.join(','))).size).toBeGreaterThan(1);
}

function gpt(options: {
  normalizeFirst: boolean;
  activation: string;
  softmax: boolean;
  /** tfjs's final norm's epsilon; its default is 1e-3. */
  epsilon?: number;
}): tf.LayersModel {
  const tokens = tf.input({ shape: [null], dtype: 'int32' });
  let x = new TokenAndPositionEmbedding({ vocabularySize: VOCABULARY, sequenceLength: 40, embeddingDim: WIDTH }).apply(
    tokens,
  );
  x = tf.layers.dropout({ rate: 0.1 }).apply(x);
  for (let i = 0; i < 2; i++) {
    x = new TransformerEncoderBlock({
      numHeads: 2,
      intermediateDim: 24,
      causal: true,
      normalizeFirst: options.normalizeFirst,
      activation: options.activation,
    }).apply(x);
  }
  x = tf.layers.layerNormalization({ epsilon: options.epsilon }).apply(x);
  const head = tf.layers.dense({ units: VOCABULARY, activation: options.softmax ? 'softmax' : 'linear' }).apply(x);
  return tf.model({ inputs: tokens, outputs: head as tf.SymbolicTensor });
}

describeEachBackend('the typed-array runner', () => {
  it('runs our blocks as tfjs does: pre- and post-LN, relu, gelu, silu, logits, probabilities; greedy, beam', () => {
    const cases = [
      { normalizeFirst: true, activation: 'gelu', softmax: true },
      { normalizeFirst: false, activation: 'relu', softmax: false },
      { normalizeFirst: true, activation: 'silu', softmax: false },
      // tfjs's layer norm with an epsilon of its own: the typed-array step must read it from the config.
      { normalizeFirst: true, activation: 'relu', softmax: false, epsilon: 0.5 },
    ];
    cases.forEach((c, i) => {
      const model = gpt(c);
      seedWeights(model, 10 + i, 0.4);
      expectSameSteps(model, PROMPTS, { maxNewTokens: 12 });
      // Beam search reorders the rows every step: the caches move with them.
      expectSameSteps(model, PROMPTS, { maxNewTokens: 8, sampler: 'beam', beamWidth: 3 });
      model.dispose();
    });
  });

  it("runs keras-hub's decoders, decoder-only and with cross-attention over a padded source", () => {
    const tokens = tf.input({ shape: [null], dtype: 'int32', name: 'tokens' });
    const source = tf.input({ shape: [null], dtype: 'int32', name: 'source' });
    const embed = (input: tf.SymbolicTensor) =>
      new KerasHubTokenAndPositionEmbedding({
        vocabularySize: VOCABULARY,
        sequenceLength: 40,
        embeddingDim: WIDTH,
        maskZero: true,
      }).apply(input) as tf.SymbolicTensor;
    const memory = embed(source);
    let x = embed(tokens);
    x = new KerasHubTransformerDecoder({ intermediateDim: 24, numHeads: 2 }).apply([x, memory]) as tf.SymbolicTensor;
    x = new KerasHubTransformerDecoder({ intermediateDim: 24, numHeads: 2, normalizeFirst: true }).apply(
      x,
    ) as tf.SymbolicTensor;
    const model = tf.model({
      inputs: [tokens, source],
      outputs: tf.layers.dense({ units: VOCABULARY }).apply(x) as tf.SymbolicTensor,
    });
    seedWeights(model, 30);
    // Sources right-padded with 0: the cross-attention must not attend to the padding.
    const inputs = {
      source: [
        [3, 4, 5, 6],
        [7, 8, 0, 0],
        [9, 0, 0, 0],
      ],
    };
    expectSameSteps(model, PROMPTS, { maxNewTokens: 10, inputs, tokenInput: 'tokens' });
    model.dispose();
  });

  it('runs a standalone MultiHeadAttention with a gate and a sliding window, and head masks', () => {
    const tokens = tf.input({ shape: [null], dtype: 'int32' });
    const x = tf.layers.embedding({ inputDim: VOCABULARY, outputDim: WIDTH }).apply(tokens) as tf.SymbolicTensor;
    const attention = new MultiHeadAttention({
      numHeads: 2,
      keyDim: 8,
      valueDim: 4,
      causal: true,
      slidingWindow: 3,
      useGate: true,
      name: 'mha',
    }).apply([x, x]) as tf.SymbolicTensor;
    const sum = tf.layers.add().apply([x, attention]) as tf.SymbolicTensor;
    const model = tf.model({
      inputs: tokens,
      outputs: tf.layers.dense({ units: VOCABULARY, activation: 'tanh' }).apply(sum) as tf.SymbolicTensor,
    });
    seedWeights(model, 50);
    expectSameSteps(model, PROMPTS, { maxNewTokens: 10 });
    expectSameSteps(model, PROMPTS, { maxNewTokens: 10, headMasks: { mha: [1, 0] } });
    // The head mask changes the result: the runners agree on something that depends on it.
    const masked = generateSync(model, PROMPTS, { maxNewTokens: 10, headMasks: { mha: [0, 0] }, step: 'typed-arrays' });
    expect(masked.tokens).not.toEqual(generateSync(model, PROMPTS, { maxNewTokens: 10, step: 'typed-arrays' }).tokens);
    model.dispose();
  });

  it('runs an encoder-decoder built from our blocks: the encoder once, cross-attention over its padded output', () => {
    const tokens = tf.input({ shape: [null], dtype: 'int32', name: 'tokens' });
    const source = tf.input({ shape: [null], dtype: 'int32', name: 'source' });
    const embedding = () =>
      new TokenAndPositionEmbedding({ vocabularySize: VOCABULARY, sequenceLength: 40, embeddingDim: WIDTH });
    const memory = new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 24 }).apply(
      embedding().apply(source),
    ) as tf.SymbolicTensor;
    let x = embedding().apply(tokens) as tf.SymbolicTensor;
    for (let i = 0; i < 2; i++) {
      x = new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 24, normalizeFirst: i === 0 }).apply([
        x,
        memory,
      ]) as tf.SymbolicTensor;
    }
    const model = tf.model({
      inputs: [tokens, source],
      outputs: tf.layers.dense({ units: VOCABULARY }).apply(x) as tf.SymbolicTensor,
    });
    seedWeights(model, 60, 0.4);
    const inputs = {
      source: [
        [3, 4, 5, 6, 7],
        [8, 9, 0, 0, 0],
        [10, 11, 12, 0, 0],
      ],
    };
    expectSameSteps(model, PROMPTS, { maxNewTokens: 10, inputs, tokenInput: 'tokens' });
    expectSameSteps(model, PROMPTS, { maxNewTokens: 6, inputs, tokenInput: 'tokens', sampler: 'beam', beamWidth: 2 });
    model.dispose();
  });

  it("refuses step 'typed-arrays' for a cached layer it has no step for, naming it; 'auto' runs it in tfjs", () => {
    const tokens = tf.input({ shape: [null], dtype: 'int32' });
    const x = tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 12 }).apply(tokens) as tf.SymbolicTensor;
    // Heads of 6: the SIMD kernels take whole vectors of 4.
    const attention = new MultiHeadAttention({ numHeads: 2, keyDim: 6, causal: true, name: 'odd' }).apply([x, x]);
    const model = tf.model({
      inputs: tokens,
      outputs: tf.layers.dense({ units: VOCABULARY }).apply(attention as tf.SymbolicTensor) as tf.SymbolicTensor,
    });
    seedWeights(model, 70);
    expect(() => generateSync(model, PROMPTS, { maxNewTokens: 3, step: 'typed-arrays' })).toThrow(
      "generate: step 'typed-arrays' cannot run layer 'odd' (MultiHeadAttention): it has no typed-array step; " +
        "use step 'tfjs' or 'auto'",
    );
    expect(generateSync(model, PROMPTS, { maxNewTokens: 5 }).tokens).toEqual(
      generateSync(model, PROMPTS, { maxNewTokens: 5, step: 'tfjs' }).tokens,
    );
    expect(() => generateSync(model, PROMPTS, { step: 'arrays' } as unknown as GenerateOptions)).toThrow(
      "generate: step must be 'auto', 'tfjs' or 'typed-arrays', got 'arrays'",
    );
    expect(() => generateSync(model, PROMPTS, { step: 'typed-arrays', useCache: false })).toThrow(
      "generate: step 'typed-arrays' runs the cached steps; it cannot go with useCache: false",
    );
    model.dispose();
  });

  it('leaves tf.memory().numTensors unchanged, also when a step throws', () => {
    const model = gpt({ normalizeFirst: true, activation: 'gelu', softmax: true });
    seedWeights(model, 80);
    generateSync(model, PROMPTS, { maxNewTokens: 2, step: 'typed-arrays' }); // warm-up
    const before = tf.memory().numTensors;
    for (const sampler of ['greedy', 'beam', 'topP'] as const) {
      generateSync(model, PROMPTS, { maxNewTokens: 4, sampler, seed: 1, step: 'typed-arrays' });
    }
    // Past the position table (40): the embedding's step throws mid-way.
    expect(() => generateSync(model, [[1]], { maxNewTokens: 60, step: 'typed-arrays' })).toThrow(/40/);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
