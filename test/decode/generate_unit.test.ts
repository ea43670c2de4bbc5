/**
 * `generate` (src/decode/generate.ts) and its runners (src/decode/runner.ts) on the smallest
 * models that exercise them: a decoder-only stack of width 8 (our embedding, one causal block, a
 * dense head of 7 tokens, logits or a softmax) and an encoder-decoder of the same size, seeded
 * kernels, cpu (and the plain-ops backend where the runner's choice depends on the backend).
 * Checked: results against `model.predict` on each prompt alone, the cached runners against the
 * rerun one, each option's effect, which runner runs, every refusal's message, the tensor count.
 * Seconds, so that StrykerJS can run it for every mutant of generate.ts and runner.ts
 * (test/MUTATION.md); generate.test.ts has the trained and larger models.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { ArrayRunner } from '../../src/decode/array_runner';
import { generate, generateSync, type GenerateOptions, TYPED_ARRAY_MAX_ROWS } from '../../src/decode/generate';
import { planGraph } from '../../src/decode/graph';
import { CachedRunner, logProbabilities, RerunRunner, type RunnerSetup } from '../../src/decode/runner';
import { beamSearch, runSync } from '../../src/decode/search';
import { ElementwiseOperation } from '../../src/keras/op_layers';
import { MultiHeadAttention } from '../../src/layers/multi_head_attention';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import { TransformerEncoderBlock } from '../../src/layers/transformer_encoder_block';
import { useOpsOnlyBackend } from '../helpers/backends';
import { seededValues } from '../layers/attention_reference';
import { seedKernels as seed, TINY_VOCABULARY as VOCABULARY, tinyEncoderDecoder } from './tiny_models';

/** Positions of the decoder-only model's table. */
const POSITIONS = 8;
const PROMPTS = [[3, 4, 5], [6], [4, 4]];

/** Our embedding, one pre-LN causal block, a dense head: logits, or probabilities with `softmax`. */
function gpt({ softmax = false, maskZero = true, from = 300, scale = 1 } = {}): tf.LayersModel {
  const tokens = tf.input({ shape: [null], dtype: 'int32', name: 'tokens' });
  let x = new TokenAndPositionEmbedding({
    vocabularySize: VOCABULARY,
    sequenceLength: POSITIONS,
    embeddingDim: 8,
    maskZero,
  }).apply(tokens) as tf.SymbolicTensor;
  x = new TransformerEncoderBlock({
    numHeads: 2,
    intermediateDim: 16,
    causal: true,
    normalizeFirst: true,
    name: 'block',
  }).apply(x) as tf.SymbolicTensor;
  const head = tf.layers.dense({ units: VOCABULARY, activation: softmax ? 'softmax' : 'linear', name: 'head' });
  return seed(tf.model({ inputs: tokens, outputs: head.apply(x) as tf.SymbolicTensor, name: 'gpt' }), from, scale);
}

/** The model's output (T, V) after each position of `ids`, by `predict` on this row alone. */
function predictRows(model: tf.LayersModel, ids: number[], source?: number[]): number[][] {
  return tf.tidy(() => {
    const tokens = tf.tensor2d([ids], undefined, 'int32');
    const out = model.predict(source ? [tf.tensor2d([source], undefined, 'int32'), tokens] : tokens) as tf.Tensor;
    return (out.arraySync() as number[][][])[0];
  });
}

/** Log-probabilities (T, V) after each position of `ids`: the log of a softmax's output, else a log-softmax. */
function predictLogProbs(model: tf.LayersModel, ids: number[], source?: number[]): number[][] {
  const probabilities = model.layers[model.layers.length - 1].getConfig().activation === 'softmax';
  return predictRows(model, ids, source).map((row) => logSoftmaxUnless(probabilities, row));
}

function logSoftmaxUnless(probabilities: boolean, row: number[]): number[] {
  if (probabilities) return row.map(Math.log);
  const max = Math.max(...row);
  const total = Math.log(row.reduce((sum, v) => sum + Math.exp(v - max), 0)) + max;
  return row.map((v) => v - total);
}

/** Each prompt's generated tokens' total log-probability, by `predict`. */
function scoreByHand(model: tf.LayersModel, prompts: number[][], results: number[][]): number[] {
  return prompts.map((prompt, p) => {
    const rows = predictLogProbs(model, [...prompt, ...results[p].slice(0, -1)]);
    return results[p].reduce((sum, token, i) => sum + rows[prompt.length - 1 + i][token], 0);
  });
}

function expectClose(actual: number[], expected: number[], tolerance = 1e-4): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, i) => expect(Math.abs(value - expected[i])).toBeLessThan(tolerance));
}

/** Counts the `advance` calls of each runner class during `fn`. */
function runnersOf(fn: () => void): { arrays: number; cached: number; rerun: number } {
  const spies = [ArrayRunner, CachedRunner, RerunRunner].map((c) => jest.spyOn(c.prototype, 'advance'));
  try {
    fn();
    const [arrays, cached, rerun] = spies.map((s) => s.mock.calls.length);
    return { arrays, cached, rerun };
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
}

describe('generate on tiny seeded models [cpu]', () => {
  let model: tf.LayersModel;
  let softmax: tf.LayersModel;
  let encoderDecoder: tf.LayersModel;
  beforeAll(async () => {
    await initBackend('cpu', { quiet: true });
    model = gpt();
    softmax = gpt({ softmax: true });
    encoderDecoder = tinyEncoderDecoder();
  });
  afterAll(() => tf.dispose([model, softmax, encoderDecoder].flatMap((m) => m.getWeights())));

  it('greedy: every runner gives the tokens and scores of predict on each prompt alone', () => {
    for (const m of [model, softmax]) {
      const cached = generateSync(m, PROMPTS, { maxNewTokens: 5 });
      for (const other of [
        generateSync(m, PROMPTS, { maxNewTokens: 5, step: 'tfjs' }),
        generateSync(m, PROMPTS, { maxNewTokens: 5, useCache: false }),
      ]) {
        expect(other.tokens).toEqual(cached.tokens);
        expectClose(other.logProbs, cached.logProbs);
      }
      expect(cached.tokens.map((t) => t.length)).toEqual([5, 5, 5]);
      expect(new Set(cached.tokens.map(String)).size).toBeGreaterThan(1);
      expectClose(cached.logProbs, scoreByHand(m, PROMPTS, cached.tokens));
      PROMPTS.forEach((prompt, p) => {
        const rows = predictLogProbs(m, [...prompt, ...cached.tokens[p]]);
        cached.tokens[p].forEach((token, i) => {
          const row = rows[prompt.length - 1 + i];
          // The likeliest token but 0 (padding: the embedding masks it).
          expect(token).toBe(row.reduce((best, v, id) => (id > 0 && v > row[best] ? id : best), 1));
        });
      });
    }
  });

  it("output 'auto' reads a softmax as probabilities; 'logits' and 'probabilities' override it", () => {
    const auto = generateSync(softmax, PROMPTS, { maxNewTokens: 3 });
    const asProbabilities = generateSync(softmax, PROMPTS, { maxNewTokens: 3, output: 'probabilities' });
    const asLogits = generateSync(softmax, PROMPTS, { maxNewTokens: 3, output: 'logits' });
    expectClose(asProbabilities.logProbs, auto.logProbs);
    // Probabilities taken for logits: the same choices, scored by a log-softmax of the probabilities.
    expect(asLogits.tokens).toEqual(auto.tokens);
    PROMPTS.forEach((prompt, p) => {
      const rows = predictRows(softmax, [...prompt, ...auto.tokens[p].slice(0, -1)]).slice(prompt.length - 1);
      const score = auto.tokens[p].reduce((sum, token, i) => sum + logSoftmaxUnless(false, rows[i])[token], 0);
      expect(Math.abs(asLogits.logProbs[p] - score)).toBeLessThan(1e-4);
      expect(Math.abs(asLogits.logProbs[p] - auto.logProbs[p])).toBeGreaterThan(0.5);
    });
    const logits = generateSync(model, PROMPTS, { maxNewTokens: 3 });
    expectClose(generateSync(model, PROMPTS, { maxNewTokens: 3, output: 'logits' }).logProbs, logits.logProbs);
  });

  it('suppresses 0 when the embedding masks it, and what suppressTokenIds names; stops at stopTokenIds', () => {
    const unmasked = gpt({ maskZero: false });
    const layerMasked = (() => {
      const tokens = tf.input({ shape: [null], dtype: 'int32' });
      const x = tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 8, maskZero: true }).apply(tokens);
      return seed(
        tf.model({ inputs: tokens, outputs: tf.layers.dense({ units: VOCABULARY }).apply(x) as tf.SymbolicTensor }),
        400,
      );
    })();
    try {
      // Make 0 the likeliest token everywhere.
      for (const m of [model, unmasked, layerMasked]) {
        const head = m.layers[m.layers.length - 1];
        const [kernel, bias] = head.getWeights();
        head.setWeights([kernel, tf.tidy(() => bias.add(tf.oneHot(0, VOCABULARY).mul(30)))]);
      }
      expect(generateSync(unmasked, PROMPTS, { maxNewTokens: 3 }).tokens).toEqual([
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
      ]);
      for (const m of [model, layerMasked]) {
        expect(generateSync(m, PROMPTS, { maxNewTokens: 3 }).tokens.flat()).not.toContain(0);
        expect(generateSync(m, PROMPTS, { maxNewTokens: 3, suppressTokenIds: [] }).tokens[0]).toEqual([0, 0, 0]);
      }
      const suppressed = generateSync(unmasked, PROMPTS, { maxNewTokens: 3, suppressTokenIds: [0, 5] }).tokens.flat();
      expect(suppressed).not.toContain(0);
      expect(suppressed).not.toContain(5);
    } finally {
      const head = model.layers[model.layers.length - 1];
      const [kernel, bias] = head.getWeights();
      head.setWeights([kernel, tf.zerosLike(bias)]);
      tf.dispose([unmasked, layerMasked].flatMap((m) => m.getWeights()));
    }
    const free = generateSync(model, PROMPTS, { maxNewTokens: 6 });
    const stop = free.tokens[0][2];
    const stopped = generateSync(model, PROMPTS, { maxNewTokens: 6, stopTokenIds: [stop] });
    stopped.tokens.forEach((tokens, p) => {
      const at = free.tokens[p].indexOf(stop);
      expect(tokens).toEqual(at < 0 ? free.tokens[p] : free.tokens[p].slice(0, at));
    });
    expect(stopped.tokens[0]).toHaveLength(2);
  });

  it('samplers: seeded; topK 1, topP near 0, temperature near 0 are greedy; beam (default 4) at least greedy', () => {
    const greedy = generateSync(model, PROMPTS, { maxNewTokens: 6 });
    expect(generateSync(model, PROMPTS, { maxNewTokens: 6, sampler: 'topK', topK: 1, seed: 5 }).tokens).toEqual(
      greedy.tokens,
    );
    expect(generateSync(model, PROMPTS, { maxNewTokens: 6, sampler: 'topP', topP: 1e-6, seed: 5 }).tokens).toEqual(
      greedy.tokens,
    );
    expect(
      generateSync(model, PROMPTS, { maxNewTokens: 6, sampler: 'random', temperature: 1e-3, seed: 5 }).tokens,
    ).toEqual(greedy.tokens);
    for (const sampler of ['random', 'topK', 'topP'] as const) {
      const options: GenerateOptions = { maxNewTokens: 6, sampler, temperature: 3, topK: 6, topP: 1 };
      const a = generateSync(model, PROMPTS, { ...options, seed: 11 });
      expect(generateSync(model, PROMPTS, { ...options, seed: 11 }).tokens).toEqual(a.tokens);
      expect(generateSync(model, PROMPTS, { ...options, seed: 12 }).tokens).not.toEqual(a.tokens);
      // A seed is taken as an unsigned 32-bit integer.
      expect(generateSync(model, PROMPTS, { ...options, seed: -1 }).tokens).toEqual(
        generateSync(model, PROMPTS, { ...options, seed: 2 ** 32 - 1 }).tokens,
      );
      expectClose(a.logProbs, scoreByHand(model, PROMPTS, a.tokens));
    }
    // Without a seed, a random one: two runs differ (18 tokens among 6 at temperature 3).
    const unseeded = { maxNewTokens: 6, sampler: 'random', temperature: 3 } as const;
    expect(generateSync(model, PROMPTS, unseeded).tokens).not.toEqual(generateSync(model, PROMPTS, unseeded).tokens);
    const beam = generateSync(model, PROMPTS, { maxNewTokens: 6, sampler: 'beam' });
    expect(generateSync(model, PROMPTS, { maxNewTokens: 6, sampler: 'beam', beamWidth: 4 })).toEqual(beam);
    expectClose(beam.logProbs, scoreByHand(model, PROMPTS, beam.tokens));
    beam.logProbs.forEach((score, p) => expect(score).toBeGreaterThanOrEqual(greedy.logProbs[p] - 1e-5));
    expect(beam.logProbs.some((score, p) => score > greedy.logProbs[p] + 0.1)).toBe(true);
    const one = generateSync(model, PROMPTS, { maxNewTokens: 6, sampler: 'beam', beamWidth: 1 });
    expect(one.tokens).toEqual(greedy.tokens);
  });

  it('streams tokens through onToken (a beam search once, at its end) and awaits it', async () => {
    // Prompts of one length: every row takes a token at every step.
    const prompts = [
      [3, 4],
      [5, 6],
      [4, 4],
    ];
    const greedy = generateSync(model, prompts, { maxNewTokens: 4 }).tokens;
    const beam = generateSync(model, prompts, { maxNewTokens: 4, sampler: 'beam', beamWidth: 3 }).tokens;
    for (const [sampler, expected] of [
      ['greedy', greedy],
      ['beam', beam],
    ] as const) {
      const streamed: Array<Array<number | null>> = [];
      const tokens = await generate(model, prompts, {
        maxNewTokens: 4,
        sampler,
        beamWidth: 3,
        onToken: async (step) => {
          await new Promise((resolve) => setTimeout(resolve, 0));
          streamed.push(step);
        },
      });
      expect(tokens).toEqual(expected);
      expect(streamed).toEqual([0, 1, 2, 3].map((i) => expected.map((t) => t[i])));
    }
  });

  it('an encoder-decoder: its source as token ids or a tensor; the token input found or named', () => {
    const sources = [[3, 4, 5], [6, 5], [4]];
    const options: GenerateOptions = { maxNewTokens: 5, inputs: { source: sources }, suppressTokenIds: [0, 1] };
    const named = generateSync(
      encoderDecoder,
      PROMPTS.map(() => [1]),
      { ...options, tokenInput: 'decoder_input' },
    );
    const found = generateSync(
      encoderDecoder,
      PROMPTS.map(() => [1]),
      options,
    );
    expect(found).toEqual(named);
    const padded = tf.tensor2d(
      [
        [3, 4, 5],
        [6, 5, 0],
        [4, 0, 0],
      ],
      undefined,
      'int32',
    );
    const fromTensor = generateSync(
      encoderDecoder,
      PROMPTS.map(() => [1]),
      { ...options, inputs: { source: padded } },
    );
    expect(padded.isDisposed).toBe(false);
    padded.dispose();
    expect(fromTensor).toEqual(named);
    // Each source alone, by predict (the padded source's zeros are masked).
    sources.forEach((source, p) => {
      const rows = predictLogProbs(encoderDecoder, [1, ...named.tokens[p]].slice(0, 5), source);
      const score = named.tokens[p].reduce((sum, token, i) => sum + rows[i][token], 0);
      expect(Math.abs(score - named.logProbs[p])).toBeLessThan(1e-4);
    });
    expect(new Set(named.tokens.map(String)).size).toBeGreaterThan(1);
    // Beam search gives every beam its prompt's source, cached (both steps) as rerun.
    const beam = generateSync(
      encoderDecoder,
      PROMPTS.map(() => [1]),
      { ...options, sampler: 'beam', beamWidth: 2 },
    );
    for (const other of [
      generateSync(
        encoderDecoder,
        PROMPTS.map(() => [1]),
        { ...options, sampler: 'beam', beamWidth: 2, step: 'tfjs' },
      ),
      generateSync(
        encoderDecoder,
        PROMPTS.map(() => [1]),
        {
          ...options,
          sampler: 'beam',
          beamWidth: 2,
          useCache: false,
        },
      ),
    ]) {
      expect(other.tokens).toEqual(beam.tokens);
      expectClose(other.logProbs, beam.logProbs);
    }
    beam.logProbs.forEach((score, p) => expect(score).toBeGreaterThanOrEqual(named.logProbs[p] - 1e-5));
  });

  it('runs typed arrays on cpu, tfjs steps when asked, the whole model without the cache', () => {
    // Any number of rows on cpu (and wasm, below).
    const five = [[3], [4], [5], [6], [3]];
    expect(runnersOf(() => generateSync(model, five, { maxNewTokens: 2 }))).toEqual({ arrays: 2, cached: 0, rerun: 0 });
    // Prompts of 3, 1 and 2 tokens: the common first position, then 4 steps (the last token is not fed).
    expect(runnersOf(() => generateSync(model, PROMPTS, { maxNewTokens: 3 }))).toEqual({
      arrays: 5,
      cached: 0,
      rerun: 0,
    });
    expect(runnersOf(() => generateSync(model, PROMPTS, { maxNewTokens: 3, step: 'tfjs' }))).toEqual({
      arrays: 0,
      cached: 5,
      rerun: 0,
    });
    expect(runnersOf(() => generateSync(model, PROMPTS, { maxNewTokens: 3, useCache: false }))).toEqual({
      arrays: 0,
      cached: 0,
      rerun: 5,
    });
  });

  it('runs tfjs steps by default where the typed arrays have no step: an attention with keys apart from values', () => {
    const tokens = tf.input({ shape: [null], dtype: 'int32', name: 'tokens' });
    const x = new TokenAndPositionEmbedding({
      vocabularySize: VOCABULARY,
      sequenceLength: POSITIONS,
      embeddingDim: 8,
    }).apply(tokens) as tf.SymbolicTensor;
    const keys = tf.layers.dense({ units: 8 }).apply(x) as tf.SymbolicTensor;
    const attended = new MultiHeadAttention({ numHeads: 2, keyDim: 4, causal: true }).apply([x, x, keys]);
    const head = tf.layers.dense({ units: VOCABULARY }).apply(attended as tf.SymbolicTensor) as tf.SymbolicTensor;
    const apart = seed(tf.model({ inputs: tokens, outputs: head }), 500);
    // The typed-array steps project keys and values from one input: they refuse it, and 'auto' takes tfjs steps.
    const results: Array<ReturnType<typeof generateSync>> = [];
    expect(runnersOf(() => results.push(generateSync(apart, PROMPTS, { maxNewTokens: 3 })))).toEqual({
      arrays: 0,
      cached: 5,
      rerun: 0,
    });
    const [auto] = results;
    const rerun = generateSync(apart, PROMPTS, { maxNewTokens: 3, useCache: false });
    expect(auto.tokens).toEqual(rerun.tokens);
    expectClose(auto.logProbs, rerun.logProbs);
    expectClose(auto.logProbs, scoreByHand(apart, PROMPTS, auto.tokens));
    tf.dispose(apart.getWeights());
  });

  it(`elsewhere (plain tfjs ops) runs typed arrays up to ${TYPED_ARRAY_MAX_ROWS} rows, else tfjs steps`, async () => {
    await useOpsOnlyBackend();
    try {
      const prompts = [[3], [4], [5], [6], [3, 4]];
      const four = runnersOf(() => generateSync(model, prompts.slice(0, 4), { maxNewTokens: 2 }));
      expect(four).toEqual({ arrays: 2, cached: 0, rerun: 0 });
      const five = runnersOf(() => generateSync(model, prompts, { maxNewTokens: 2 }));
      expect(five).toEqual({ arrays: 0, cached: 3, rerun: 0 });
      // Beam search: the greedy pass on 2 rows, the beams on 2 x 3.
      const beam = runnersOf(() =>
        generateSync(model, prompts.slice(0, 2), { maxNewTokens: 2, sampler: 'beam', beamWidth: 3 }),
      );
      expect(beam).toEqual({ arrays: 2, cached: 2, rerun: 0 });
      expect(runnersOf(() => generateSync(model, prompts, { maxNewTokens: 2, step: 'typed-arrays' }))).toEqual({
        arrays: 3,
        cached: 0,
        rerun: 0,
      });
    } finally {
      await initBackend('cpu', { quiet: true });
    }
  });

  it('runs typed arrays for any number of rows on wasm too', async () => {
    await initBackend('wasm', { quiet: true });
    try {
      const five = [[3], [4], [5], [6], [3]];
      const counts = runnersOf(() => generateSync(model, five, { maxNewTokens: 2 }));
      expect(counts).toEqual({ arrays: 2, cached: 0, rerun: 0 });
    } finally {
      await initBackend('cpu', { quiet: true });
    }
  });

  it("refuses step 'typed-arrays' for a cached layer it has no step for, and frees what it made", () => {
    const tokens = tf.input({ shape: [null], dtype: 'int32', name: 'tokens' });
    const source = tf.input({ shape: [null], dtype: 'int32', name: 'source' });
    const x = tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 12 }).apply(tokens) as tf.SymbolicTensor;
    const memory = tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 12 }).apply(source) as tf.SymbolicTensor;
    // Heads of 6: the SIMD kernels take whole vectors of 4.
    const attention = new MultiHeadAttention({ numHeads: 2, keyDim: 6, name: 'odd' }).apply([x, memory]);
    const odd = seed(
      tf.model({
        inputs: [tokens, source],
        outputs: tf.layers.dense({ units: VOCABULARY }).apply(attention as tf.SymbolicTensor) as tf.SymbolicTensor,
      }),
      500,
    );
    const options: GenerateOptions = {
      maxNewTokens: 3,
      inputs: {
        source: [
          [3, 4],
          [5, 6],
          [2, 2],
        ],
      },
    };
    const before = tf.memory().numTensors;
    expect(() => generateSync(odd, PROMPTS, { ...options, step: 'typed-arrays' })).toThrow(
      "generate: step 'typed-arrays' cannot run layer 'odd' (MultiHeadAttention): it has no typed-array step; " +
        "use step 'tfjs' or 'auto'",
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(runnersOf(() => generateSync(odd, PROMPTS, options))).toEqual({ arrays: 0, cached: 5, rerun: 0 });
    tf.dispose(odd.getWeights());
  });

  it('refuses bad options, prompts and inputs with messages that name them, leaking nothing', () => {
    const sources = { source: [[3, 4], [5]] };
    const cases: Array<[tf.LayersModel, unknown, unknown, string]> = [
      [model, PROMPTS, null, 'generate: options must be an object, got null'],
      [model, PROMPTS, 5, 'generate: options must be an object, got 5'],
      [model, PROMPTS, { topk: 3 }, "generate: unknown option 'topk' (did you mean 'topK'?)"],
      [
        {} as tf.LayersModel,
        PROMPTS,
        {},
        'generate: model must be a tf.LayersModel (tf.model, tf.sequential or loaded), got {}',
      ],
      [
        model,
        PROMPTS,
        { sampler: 'nucleus' },
        "generate: sampler must be one of 'greedy', 'beam', 'topK', 'topP', 'random', got 'nucleus'",
      ],
      [model, PROMPTS, { maxNewTokens: 0 }, 'generate: maxNewTokens must be a positive integer, got 0'],
      [model, PROMPTS, { maxNewTokens: 2.5 }, 'generate: maxNewTokens must be a positive integer, got 2.5'],
      [model, PROMPTS, { maxNewTokens: '3' }, "generate: maxNewTokens must be a positive integer, got '3'"],
      [model, PROMPTS, { beamWidth: 0 }, 'generate: beamWidth must be a positive integer, got 0'],
      [model, PROMPTS, { topK: -1 }, 'generate: topK must be a positive integer, got -1'],
      [model, PROMPTS, { temperature: 0 }, 'generate: temperature must be a positive number, got 0'],
      [model, PROMPTS, { temperature: NaN }, 'generate: temperature must be a positive number, got NaN'],
      [model, PROMPTS, { temperature: Infinity }, 'generate: temperature must be a positive number, got Infinity'],
      [model, PROMPTS, { temperature: '1' }, "generate: temperature must be a positive number, got '1'"],
      [model, PROMPTS, { topP: 0 }, 'generate: topP must be a number in (0, 1], got 0'],
      [model, PROMPTS, { topP: 1.5 }, 'generate: topP must be a number in (0, 1], got 1.5'],
      [model, PROMPTS, { topP: '0.5' }, "generate: topP must be a number in (0, 1], got '0.5'"],
      [model, PROMPTS, { useCache: 'yes' }, "generate: useCache must be true or false, got 'yes'"],
      [model, PROMPTS, { step: 'arrays' }, "generate: step must be 'auto', 'tfjs' or 'typed-arrays', got 'arrays'"],
      [
        model,
        PROMPTS,
        { step: 'typed-arrays', useCache: false },
        "generate: step 'typed-arrays' runs the cached steps; it cannot go with useCache: false",
      ],
      [
        model,
        PROMPTS,
        { output: 'probs' },
        "generate: output must be 'auto', 'logits' or 'probabilities', got 'probs'",
      ],
      [model, PROMPTS, { onToken: 5 }, 'generate: onToken must be a function, got 5'],
      [model, PROMPTS, { tokenInput: 'ids' }, "generate: tokenInput 'ids' is not an input of the model (tokens)"],
      [model, 'abc', {}, "generate: prompts must be an array of token id arrays, got 'abc'"],
      [model, [[3], 4], {}, 'generate: prompts[1] must be a non-empty array of token ids, got 4'],
      [model, [[3], []], {}, 'generate: prompts[1] must be a non-empty array of token ids, got []'],
      ...[-1, 7, 2.5, '3'].map((id): [tf.LayersModel, unknown, unknown, string] => [
        model,
        [
          [3, 4],
          [5, id],
        ],
        {},
        `generate: prompts[1][1] is ${typeof id === 'string' ? `'${id}'` : id}; ` +
          'expected a token id, an integer in [0, 6]',
      ]),
      ...[[7], [-1], [1.5], 'x', 5].map((ids): [tf.LayersModel, unknown, unknown, string] => [
        model,
        PROMPTS,
        { suppressTokenIds: ids },
        'generate: suppressTokenIds must be token ids, integers in [0, 6], ' +
          `got ${JSON.stringify(ids).replace(/"/g, "'")}`,
      ]),
      [model, PROMPTS, { stopTokenIds: [7] }, 'generate: stopTokenIds must be token ids, integers in [0, 6], got [7]'],
      [
        model,
        [[3, 4, 5]],
        { maxNewTokens: 7 },
        "generate: the longest prompt and maxNewTokens need 9 positions, but the model's TokenAndPositionEmbedding " +
          "of input 'tokens' has a table of 8 positions (sequenceLength); shorten the prompt or lower maxNewTokens",
      ],
      [
        model,
        PROMPTS,
        { inputs: { source: [[1]] }, maxNewTokens: 2 },
        "generate: inputs has 'source', which is not an input of the model; its other inputs are none",
      ],
      [
        encoderDecoder,
        [[1], [1]],
        {
          maxNewTokens: 2,
          inputs: { ...sources, decoder_input: [[1], [1]] },
          headMasks: { 'decoder_block_0/self_attention': [1, 0] },
        },
        "generate: inputs has 'decoder_input', which is the token input; its other inputs are 'source'",
      ],
      [
        encoderDecoder,
        [[1], [1]],
        { maxNewTokens: 2, headMasks: { 'decoder_block_0/self_attention': [1, 0] } },
        "generate: the model's input 'source' needs a value: pass it in options.inputs",
      ],
      [
        encoderDecoder,
        [[1], [1]],
        { maxNewTokens: 2, inputs: { source: 'abc' } },
        "generate: inputs['source'] must be a tensor or token id rows, got 'abc'",
      ],
      [
        encoderDecoder,
        [[1], [1]],
        { maxNewTokens: 2, inputs: { source: [[3], 4] } },
        "generate: inputs['source'] must be a tensor or token id rows, got [[3],4]",
      ],
      [
        encoderDecoder,
        [[1], [1], [1]],
        { maxNewTokens: 2, inputs: sources, headMasks: { 'decoder_block_0/self_attention': [1, 0] } },
        "generate: input 'source' has 2 rows (shape [2,2]); expected one per prompt (3)",
      ],
    ];
    const before = tf.memory().numTensors;
    for (const [m, prompts, options, message] of cases) {
      expect(() => generateSync(m, prompts as number[][], options as GenerateOptions)).toThrow(message);
    }
    expect(tf.memory().numTensors).toBe(before);
    const abc = ['a', 'b', 'c'].map((name) => tf.input({ shape: [null], dtype: 'int32', name }));
    const sum = tf.layers
      .add()
      .apply(abc.map((x) => tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 4 }).apply(x) as tf.SymbolicTensor));
    const three = tf.model({
      inputs: abc,
      outputs: tf.layers.dense({ units: VOCABULARY }).apply(sum) as tf.SymbolicTensor,
    });
    expect(() => generateSync(three, [[3]], { tokenInput: 'a', inputs: { d: [[1]] } })).toThrow(
      "generate: inputs has 'd', which is not an input of the model; its other inputs are 'b', 'c'",
    );
    tf.dispose(three.getWeights());
    // 0 is a token id like any other in a prompt.
    expect(generateSync(model, [[0, 3]], { maxNewTokens: 1 }).tokens[0]).toHaveLength(1);
    // At the limit: 3 + 6 - 1 = 8 positions.
    expect(generateSync(model, [[3, 4, 5]], { maxNewTokens: 6 }).tokens[0]).toHaveLength(6);
    expect(generateSync(model, PROMPTS, { topP: 1, sampler: 'topP', seed: 1, maxNewTokens: 1 }).tokens).toHaveLength(3);
  });

  it('asks for the token input when generation could grow more than one', () => {
    const a = tf.input({ shape: [null], dtype: 'int32', name: 'a' });
    const b = tf.input({ shape: [null], dtype: 'int32', name: 'b' });
    const embed = () => tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 4 });
    const x = tf.layers
      .add()
      .apply([embed().apply(a) as tf.SymbolicTensor, embed().apply(b) as tf.SymbolicTensor]) as tf.SymbolicTensor;
    const two = seed(
      tf.model({
        inputs: [a, b],
        outputs: tf.layers.dense({ units: VOCABULARY }).apply(x) as tf.SymbolicTensor,
        name: 'two',
      }),
      600,
    );
    expect(() => generateSync(two, [[3]], { inputs: { b: [[4]] } })).toThrow(
      "generate: model 'two' has inputs 'a', 'b' and generation could grow 'a' or 'b'; " +
        'pass tokenInput with the name of the one that takes the tokens',
    );
    // Named, it runs (one token: the two inputs' lengths must agree).
    expect(
      generateSync(two, [[3]], { inputs: { b: [[4]] }, tokenInput: 'a', maxNewTokens: 1, step: 'tfjs' }).tokens[0],
    ).toHaveLength(1);
    tf.dispose(two.getWeights());
  });

  it('beam search returns greedy where its beams lose the greedy path (a stop token ends them)', () => {
    const other = gpt({ from: 307, scale: 2 });
    const prompts = [[3], [4], [5], [6], [3, 4], [5, 2], [6, 6], [2]];
    const options = { maxNewTokens: 5, stopTokenIds: [2] };
    const greedy = generateSync(other, prompts, options);
    const beam = generateSync(other, prompts, { ...options, sampler: 'beam', beamWidth: 2 });
    const setup = { model: other, tokenInput: 0, fixedInputs: [null], probabilities: false, extra: () => undefined };
    const searchOptions = { maxNewTokens: 5, stopTokenIds: new Set([2]), suppressed: new Set([0]) };
    const own = runSync(beamSearch(new RerunRunner({ ...setup, rows: 16 }), prompts, 2, searchOptions, null));
    const lost = prompts.map((_p, i) => i).filter((i) => own.logProbs[i] < greedy.logProbs[i] - 1e-4);
    expect(lost.length).toBeGreaterThan(0);
    prompts.forEach((_p, i) => {
      expect(beam.logProbs[i]).toBeGreaterThanOrEqual(greedy.logProbs[i] - 1e-5);
      if (lost.includes(i)) expect(beam.tokens[i]).toEqual(greedy.tokens[i]);
      else expect(beam.tokens[i]).toEqual(own.tokens[i]);
    });
    tf.dispose(other.getWeights());
  });

  it('finds the token input: the only one, the one generation can grow, the only int32 one without the cache', () => {
    // One input that cannot grow (a Conv1D mixes positions): refused by name, runs without the cache.
    const ids = tf.input({ shape: [null], dtype: 'int32', name: 'ids' });
    const embedded = tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 4 }).apply(ids) as tf.SymbolicTensor;
    const conv = tf.layers.conv1d({ filters: 4, kernelSize: 2, padding: 'same', name: 'smoother' });
    const mixing = seed(
      tf.model({
        inputs: ids,
        outputs: tf.layers.dense({ units: VOCABULARY }).apply(conv.apply(embedded)) as tf.SymbolicTensor,
        name: 'mixing',
      }),
      700,
    );
    expect(() => generateSync(mixing, PROMPTS, { maxNewTokens: 2 })).toThrow(
      "generate: layer 'smoother' (Conv1D) mixes positions and keeps no key/value cache",
    );
    expect(generateSync(mixing, PROMPTS, { maxNewTokens: 2, useCache: false }).tokens).toHaveLength(3);
    // Two inputs, neither can grow: the int32 one without the cache, else ask.
    const features = tf.input({ shape: [null, 4], dtype: 'float32', name: 'features' });
    const joined = tf.layers
      .concatenate({ axis: 1 })
      .apply([
        tf.layers.conv1d({ filters: 4, kernelSize: 2, padding: 'same' }).apply(features) as tf.SymbolicTensor,
        tf.layers.conv1d({ filters: 4, kernelSize: 2, padding: 'same' }).apply(embedded) as tf.SymbolicTensor,
      ]) as tf.SymbolicTensor;
    const both = seed(
      tf.model({
        inputs: [features, ids],
        outputs: tf.layers.dense({ units: VOCABULARY }).apply(joined) as tf.SymbolicTensor,
        name: 'both',
      }),
      710,
    );
    const inputs = { features: tf.tensor3d(seededValues(3 * 2 * 4, 9), [3, 2, 4]) };
    const found = generateSync(both, PROMPTS, { maxNewTokens: 3, useCache: false, inputs });
    const named = generateSync(both, PROMPTS, { maxNewTokens: 3, useCache: false, inputs, tokenInput: 'ids' });
    expect(named).toEqual(found);
    expect(() => generateSync(both, PROMPTS, { maxNewTokens: 3, inputs })).toThrow(
      "generate: model 'both' has inputs 'features', 'ids'; " +
        'pass tokenInput with the name of the one that takes the tokens',
    );
    expect(() => generateSync(both, PROMPTS, { maxNewTokens: 3, inputs, tokenInput: 'tokens' })).toThrow(
      "generate: tokenInput 'tokens' is not an input of the model (features, ids)",
    );
    tf.dispose([...mixing.getWeights(), ...both.getWeights(), inputs.features]);
  });

  it('suppresses 0 for the layers reading the token input only: a shared embedding, an ids != 0, a config', () => {
    // Inputs a and b added; 0 made the likeliest token.
    const build = (readA: tf.layers.Layer, readB: tf.layers.Layer, alsoA?: tf.layers.Layer) => {
      const a = tf.input({ shape: [null], dtype: 'int32', name: 'a' });
      const b = tf.input({ shape: [null], dtype: 'int32', name: 'b' });
      const sum = tf.layers
        .add()
        .apply([readA.apply(a) as tf.SymbolicTensor, readB.apply(b) as tf.SymbolicTensor]) as tf.SymbolicTensor;
      const head = tf.layers.dense({ units: VOCABULARY });
      const outputs = [head.apply(sum) as tf.SymbolicTensor];
      // A second output from another reader of a (the first output is the one generated from).
      if (alsoA) outputs.push(alsoA.apply(a) as tf.SymbolicTensor);
      const m = seed(tf.model({ inputs: [a, b], outputs }), 800);
      const [kernel, bias] = head.getWeights();
      head.setWeights([kernel, tf.tidy(() => bias.add(tf.oneHot(0, VOCABULARY).mul(30)))]);
      return m;
    };
    const embedding = (maskZero: boolean) => tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 4, maskZero });
    const shared = embedding(true);
    // A layer not of ours that says so in its config only.
    const configured = embedding(false);
    const config = configured.getConfig();
    configured.getConfig = () => ({ ...config, maskZero: true });
    const cases: Array<[string, tf.LayersModel, boolean]> = [
      ['only b masks', build(embedding(false), embedding(true)), false],
      ['one embedding masks, shared by a and b', build(shared, shared), true],
      [
        "a Keras file's ids != 0 reads a",
        build(embedding(false), embedding(false), new ElementwiseOperation({ operation: 'not_equal', constant: 0 })),
        true,
      ],
      ['a config says maskZero', build(configured, embedding(false)), true],
    ];
    for (const [what, m, suppressed] of cases) {
      const tokens = generateSync(m, [[3]], { maxNewTokens: 2, tokenInput: 'a', inputs: { b: [[4]] }, step: 'tfjs' })
        .tokens[0];
      expect([what, tokens.includes(0)]).toEqual([what, !suppressed]);
      tf.dispose(m.getWeights());
    }
  });

  it('refuses a model whose output is not (B, T, V)', () => {
    const tokens = tf.input({ shape: [null], dtype: 'int32' });
    const pooled = tf.layers
      .globalAveragePooling1d()
      .apply(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 2 }).apply(tokens));
    const twoD = tf.model({ inputs: tokens, outputs: pooled as tf.SymbolicTensor, name: 'pooled' });
    expect(() => generateSync(twoD, PROMPTS, {})).toThrow(
      "generate: model 'pooled' must output (B, T, V) logits or probabilities per position, got an output of shape " +
        '[null, 2]',
    );
    tf.dispose(twoD.getWeights());
    // (B, D, T): three axes, but the last one's size unknown.
    const ids = tf.input({ shape: [null], dtype: 'int32' });
    const permuted = tf.layers
      .permute({ dims: [2, 1] })
      .apply(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 2 }).apply(ids));
    const transposed = tf.model({ inputs: ids, outputs: permuted as tf.SymbolicTensor, name: 'transposed' });
    expect(() => generateSync(transposed, PROMPTS, {})).toThrow(
      "generate: model 'transposed' must output (B, T, V) logits or probabilities per position, got an output of " +
        'shape [null, 2, null]',
    );
    tf.dispose(transposed.getWeights());
  });

  it('generates nothing for no prompts, and leaves tf.memory().numTensors unchanged', async () => {
    expect(generateSync(model, [], { maxNewTokens: 2 })).toEqual({ tokens: [], logProbs: [] });
    generateSync(model, PROMPTS, { maxNewTokens: 2, sampler: 'beam' }); // warm-up
    const before = tf.memory().numTensors;
    for (const [useCache, step] of [
      [true, 'auto'],
      [true, 'tfjs'],
      [false, 'auto'],
    ] as const) {
      for (const sampler of ['greedy', 'beam', 'topK'] as const) {
        generateSync(model, PROMPTS, { maxNewTokens: 3, sampler, seed: 1, useCache, step, beamWidth: 2 });
        generateSync(encoderDecoder, [[1], [1]], {
          maxNewTokens: 3,
          sampler,
          seed: 1,
          useCache,
          step,
          beamWidth: 2,
          inputs: { source: [[3, 4], [5]] },
          headMasks: { 'decoder_block_0/cross_attention': [1, 0] },
        });
      }
      // A source id outside the embedding: the encoder (the runner's fixed part) throws.
      expect(() =>
        generateSync(encoderDecoder, [[1], [1]], {
          maxNewTokens: 2,
          useCache,
          step,
          inputs: { source: [[3, 4], [50]] },
        }),
      ).toThrow();
      await expect(
        generate(model, PROMPTS, {
          maxNewTokens: 4,
          useCache,
          onToken: (_t, step) => {
            if (step === 1) throw new Error('stop here');
          },
        }),
      ).rejects.toThrow('stop here');
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('the runners [cpu]', () => {
  beforeAll(() => initBackend('cpu', { quiet: true }));

  it('logProbabilities: a log-softmax of logits (large ones too), the log of probabilities, row by row', () => {
    const logits = Float32Array.from([1, 2, 3, 1000, 1001, 999]);
    const expected = [
      [1 - 3 - Math.log(Math.exp(-2) + Math.exp(-1) + 1), 2 - 3 - Math.log(Math.exp(-2) + Math.exp(-1) + 1)],
      [-1 - Math.log(Math.exp(-1) + 1 + Math.exp(-2)), -Math.log(Math.exp(-1) + 1 + Math.exp(-2))],
    ];
    const out = logProbabilities(logits, 2, false);
    expect(out).toBe(logits);
    expectClose([out[0], out[1], out[3], out[4]], expected.flat(), 1e-5);
    expect(out[5]).toBeCloseTo(-2 - Math.log(Math.exp(-1) + 1 + Math.exp(-2)), 5);
    const probabilities = logProbabilities(Float32Array.from([0.25, 0.75, 0.5, 0.5]), 2, true);
    expectClose([...probabilities], [Math.log(0.25), Math.log(0.75), Math.log(0.5), Math.log(0.5)], 1e-6);
  });

  it('refuses a model output that is not (B, T, V), and positions past the caches', () => {
    const model = gpt();
    const setup: RunnerSetup = {
      model,
      tokenInput: 0,
      fixedInputs: [null],
      rows: 1,
      probabilities: false,
      extra: () => undefined,
    };
    const runner = new CachedRunner(setup, planGraph(model, new Set([model.inputs[0].id])), 4);
    const first = runner.advance(Int32Array.from([3, 4]), 2, 0);
    const second = runner.advance(Int32Array.from([5, 6]), 2, 2);
    expect(() => runner.advance(Int32Array.from([5]), 1, 4)).toThrow(
      "generate: positions up to 5 are past the caches' 4 positions",
    );
    // The cached runner's output is the model's last position.
    const whole = tf.tidy(
      () => (model.predict(tf.tensor2d([[3, 4, 5, 6]], undefined, 'int32')) as tf.Tensor).arraySync() as number[][][],
    );
    expectClose([...first.dataSync()], whole[0][1], 1e-4);
    expectClose([...second.dataSync()], whole[0][3], 1e-4);
    tf.dispose([first, second]);
    runner.dispose();

    const tokens = tf.input({ shape: [null], dtype: 'int32' });
    const flat = tf.layers
      .globalAveragePooling1d()
      .apply(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 2 }).apply(tokens));
    const twoD = tf.model({ inputs: tokens, outputs: flat as tf.SymbolicTensor });
    const rerun = new RerunRunner({ ...setup, model: twoD });
    expect(() => rerun.advance(Int32Array.from([3, 4]), 2, 0)).toThrow(
      "generate: the model's output must be (B, T, V) logits or probabilities per position, got shape [1,2]",
    );
    rerun.dispose();
    tf.dispose([...model.getWeights(), ...twoD.getWeights()]);
  });

  it('the cached runner keeps of its fixed part only what the growing part reads: the memory and its mask', () => {
    const model = tinyEncoderDecoder();
    const tokenInput = model.inputNames.indexOf('decoder_input');
    const source = tf.tensor2d(
      [
        [3, 4, 0],
        [5, 6, 2],
      ],
      undefined,
      'int32',
    );
    const before = tf.memory().numTensors;
    const setup: RunnerSetup = {
      model,
      tokenInput,
      fixedInputs: model.inputNames.map((_name, i) => (i === tokenInput ? null : source)),
      rows: 2,
      probabilities: false,
      extra: () => undefined,
    };
    const runner = new CachedRunner(setup, planGraph(model, new Set([model.inputs[tokenInput].id])), 4);
    // The encoder's output and its padding mask; the embedding's, the block's and the norm's inside go.
    expect(tf.memory().numTensors - before).toBe(2);
    const first = runner.advance(Int32Array.from([1, 1]), 1, 0);
    const expected = [predictRows(model, [1], [3, 4])[0], predictRows(model, [1], [5, 6, 2])[0]];
    expectClose([...first.dataSync()], expected.flat());
    first.dispose();
    runner.dispose();
    // The runner owns its fixed inputs: the source goes with it.
    expect(tf.memory().numTensors).toBe(before - 1);
    tf.dispose(model.getWeights());
  });

  it('runs a model used as a layer, and head masks, the same cached (tfjs steps) as rerun and as predict', () => {
    const inner = gpt();
    const tokens = tf.input({ shape: [null], dtype: 'int32', name: 'outer_tokens' });
    const outer = tf.model({ inputs: tokens, outputs: inner.apply(tokens) as tf.SymbolicTensor, name: 'outer' });
    const masks: Array<Record<string, number[]>> = [{}, { 'gpt/block/self_attention': [0, 1] }];
    for (const headMasks of masks) {
      const options: GenerateOptions = { maxNewTokens: 4, headMasks };
      const cached = generateSync(outer, PROMPTS, { ...options, step: 'tfjs' });
      const rerun = generateSync(outer, PROMPTS, { ...options, useCache: false });
      expect(cached.tokens).toEqual(rerun.tokens);
      expectClose(cached.logProbs, rerun.logProbs);
      // The inner model's embedding masks 0: not generated here either.
      expect(cached.tokens.flat()).not.toContain(0);
      if (Object.keys(headMasks).length === 0) {
        expectClose(cached.logProbs, scoreByHand(inner, PROMPTS, cached.tokens));
      } else {
        expect(cached.logProbs).not.toEqual(generateSync(outer, PROMPTS, { maxNewTokens: 4, step: 'tfjs' }).logProbs);
      }
    }
    tf.dispose(inner.getWeights());
  });

  it('runs an encoder-decoder used as a layer: its encoder (static inside the nested plan) every step', () => {
    const source = tf.input({ shape: [null], dtype: 'int32', name: 'outer_source' });
    const tokens = tf.input({ shape: [null], dtype: 'int32', name: 'outer_tokens' });
    const inner = tinyEncoderDecoder();
    const outer = tf.model({ inputs: [source, tokens], outputs: inner.apply([source, tokens]) as tf.SymbolicTensor });
    // Prompts of a common length 2: the rerun runner's first call feeds two positions a row.
    const prompts = [
      [1, 3],
      [1, 4],
    ];
    const options: GenerateOptions = {
      maxNewTokens: 4,
      inputs: { outer_source: [[3, 4, 5], [6]] },
      tokenInput: 'outer_tokens',
      suppressTokenIds: [0, 1],
    };
    const cached = generateSync(outer, prompts, { ...options, step: 'tfjs' });
    const rerun = generateSync(outer, prompts, { ...options, useCache: false });
    expect(rerun.tokens).toEqual(cached.tokens);
    expectClose(rerun.logProbs, cached.logProbs);
    const direct = generateSync(inner, prompts, {
      ...options,
      inputs: { source: [[3, 4, 5], [6]] },
      tokenInput: 'decoder_input',
    });
    expect(direct.tokens).toEqual(cached.tokens);
    expectClose(direct.logProbs, cached.logProbs);
    expect(cached.tokens[0]).not.toEqual(cached.tokens[1]);
    tf.dispose(inner.getWeights());
  });
});
