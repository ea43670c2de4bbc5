/**
 * `generate` on models built from our layers, the way a user builds them: the README's GPT
 * (functional), the same stack as a `tf.sequential`, keras-hub's decoder layers, and an
 * encoder-decoder. Cached generation equals rerunning the model token for token; the samplers
 * are seeded; a layer that mixes positions without a cache gets a clear error and runs with
 * `useCache: false`; no call leaks a tensor, also when it throws.
 */
import * as tf from '@tensorflow/tfjs';
import { generate, type GenerateOptions } from '../../src/decode/generate';
import { KerasHubTokenAndPositionEmbedding } from '../../src/layers/keras_hub/token_and_position_embedding';
import { KerasHubTransformerDecoder } from '../../src/layers/keras_hub/transformer_decoder';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import { TransformerEncoderBlock } from '../../src/layers/transformer_encoder_block';
import { BOS, CharTokenizer, EOS, generateSamples, PAD } from '../../src/tasks';
import { loadSeq2Seq } from '../../src/model/seq2seq';
import { describeEachBackend } from '../helpers/backends';
import { seededValues } from '../layers/attention_reference';

const CORPUS = [
  'the tide comes in, the tide goes out;',
  'the gull keeps count of every wave.',
  'a lamp is lit above the bay,',
  'and the keeper reads the weather in the glass.',
].join('\n');
const tokenizer = CharTokenizer.fromText(CORPUS);
const VOCABULARY = tokenizer.vocabularySize;
const LENGTH = 80;
const WIDTH = 32;

/** The README's GPT: our embedding, two pre-LN causal blocks, tfjs's norm and dense head. */
function buildGpt(): tf.LayersModel {
  const tokens = tf.input({ shape: [null], dtype: 'int32', name: 'tokens' });
  let x = new TokenAndPositionEmbedding({
    vocabularySize: VOCABULARY,
    sequenceLength: LENGTH,
    embeddingDim: WIDTH,
  }).apply(tokens);
  x = tf.layers.dropout({ rate: 0.1 }).apply(x);
  for (let i = 0; i < 2; i++) {
    x = new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 64, causal: true, normalizeFirst: true }).apply(x);
  }
  x = tf.layers.layerNormalization().apply(x);
  const next = tf.layers.dense({ units: VOCABULARY, activation: 'softmax' }).apply(x);
  return tf.model({ inputs: tokens, outputs: next as tf.SymbolicTensor });
}

/** The same stack as a tf.sequential, with gelu blocks and logits (no softmax). */
function buildSequentialGpt(): tf.Sequential {
  return tf.sequential({
    layers: [
      new TokenAndPositionEmbedding({
        vocabularySize: VOCABULARY,
        sequenceLength: LENGTH,
        embeddingDim: WIDTH,
        inputShape: [null],
      } as ConstructorParameters<typeof TokenAndPositionEmbedding>[0]),
      new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 64, causal: true, activation: 'gelu' }),
      new TransformerEncoderBlock({ numHeads: 4, intermediateDim: 48, causal: true, activation: 'gelu' }),
      tf.layers.dense({ units: VOCABULARY }),
    ],
  });
}

/** keras-hub's decoder-only stack: token and position embedding, two TransformerDecoders, a dense head. */
function buildKerasHubGpt(): tf.LayersModel {
  const tokens = tf.input({ shape: [null], dtype: 'int32' });
  let x = new KerasHubTokenAndPositionEmbedding({
    vocabularySize: VOCABULARY,
    sequenceLength: LENGTH,
    embeddingDim: WIDTH,
  }).apply(tokens);
  for (let i = 0; i < 2; i++) {
    x = new KerasHubTransformerDecoder({ intermediateDim: 64, numHeads: 2, normalizeFirst: i === 1 }).apply(x);
  }
  const logits = tf.layers.dense({ units: VOCABULARY }).apply(x);
  return tf.model({ inputs: tokens, outputs: logits as tf.SymbolicTensor });
}

/** Fairly large seeded weights, so that the outputs vary with the input (an untrained model's barely do). */
function seedWeights(model: tf.LayersModel, seed: number, scale = 0.8): void {
  const weights = model
    .getWeights()
    .map((w, i) => tf.tidy(() => tf.tensor(seededValues(w.size, seed + i), w.shape).mul(scale)));
  model.setWeights(weights);
  tf.dispose(weights);
}

/** A few epochs of next-character prediction on the corpus's windows; returns the last epoch's loss. */
async function train(model: tf.LayersModel): Promise<number> {
  const ids = tokenizer.encode(CORPUS);
  const windows: number[][] = [];
  for (let start = 0; start + 33 <= ids.length; start += 3) windows.push(ids.slice(start, start + 33));
  const xs = tf.tensor2d(
    windows.map((w) => w.slice(0, 32)),
    undefined,
    'int32',
  );
  const ys = tf.tensor3d(windows.map((w) => w.slice(1).map((id) => [id])));
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'sparseCategoricalCrossentropy' });
  const history = await model.fit(xs, ys, { epochs: 40, batchSize: 16, verbose: 0, shuffle: false });
  tf.dispose([xs, ys]);
  return history.history.loss[history.history.loss.length - 1] as number;
}

const PROMPTS = ['the tide', 'a lamp is', 'and the keeper reads'].map((p) => tokenizer.encode(p));

describeEachBackend('generate', (backend) => {
  describe("the README's GPT", () => {
    let model: tf.LayersModel;
    let loss = Infinity;
    beforeAll(async () => {
      model = buildGpt();
      // Trained on wasm (2 s); on cpu, seeded weights serve (the same code paths, 15x slower kernels).
      if (backend === 'wasm') loss = await train(model);
      else seedWeights(model, 2, 0.5);
    });
    afterAll(() => model.dispose());

    it('cached greedy generation equals rerunning the model, token for token (3 prompts, 50 tokens)', async () => {
      const options: GenerateOptions = { maxNewTokens: 50 };
      const cached = await generate(model, PROMPTS, options);
      const uncached = await generate(model, PROMPTS, { ...options, useCache: false });
      expect(cached).toEqual(uncached);
      expect(cached.map((t) => t.length)).toEqual([50, 50, 50]);
      // Not a constant: the continuations differ.
      expect(new Set(cached.map((t) => t.join(','))).size).toBeGreaterThan(1);
      if (backend === 'wasm') {
        // Trained (from about 3.2 nats a character): 'the tide' goes on with a space, as everywhere in the corpus.
        expect(loss).toBeLessThan(0.5);
        expect(tokenizer.decode(cached[0])[0]).toBe(' ');
      }
    });

    it('top-k with k = 1 is greedy; a seed gives the same tokens, another seed others', async () => {
      const greedy = await generate(model, PROMPTS, { maxNewTokens: 20 });
      expect(await generate(model, PROMPTS, { maxNewTokens: 20, sampler: 'topK', topK: 1, seed: 7 })).toEqual(greedy);
      for (const sampler of ['random', 'topK', 'topP'] as const) {
        const options: GenerateOptions = { maxNewTokens: 20, sampler, temperature: 1.5, topK: 8, topP: 0.95 };
        const a = await generate(model, PROMPTS, { ...options, seed: 3 });
        const b = await generate(model, PROMPTS, { ...options, seed: 3 });
        const c = await generate(model, PROMPTS, { ...options, seed: 4 });
        expect(b).toEqual(a);
        expect(c).not.toEqual(a);
      }
    });

    it('beam search scores at least greedy, and width 1 is greedy', async () => {
      const greedy = await generate(model, PROMPTS, { maxNewTokens: 12 });
      expect(await generate(model, PROMPTS, { maxNewTokens: 12, sampler: 'beam', beamWidth: 1 })).toEqual(greedy);
      const beam = await generate(model, PROMPTS, { maxNewTokens: 12, sampler: 'beam', beamWidth: 3 });
      const uncachedBeam = await generate(model, PROMPTS, {
        maxNewTokens: 12,
        sampler: 'beam',
        beamWidth: 3,
        useCache: false,
      });
      expect(beam).toEqual(uncachedBeam);
      const score = (prompt: number[], tokens: number[]) =>
        tf.tidy(() => {
          const ids = [...prompt, ...tokens];
          const probabilities = model.predict(tf.tensor2d([ids], undefined, 'int32')) as tf.Tensor;
          const data = probabilities.dataSync();
          return tokens.reduce(
            (sum, token, i) => sum + Math.log(data[(prompt.length - 1 + i) * VOCABULARY + token]),
            0,
          );
        });
      PROMPTS.forEach((prompt, p) =>
        expect(score(prompt, beam[p])).toBeGreaterThanOrEqual(score(prompt, greedy[p]) - 1e-4),
      );
    });

    it('streams each step through onToken, stops at a stop token, never generates padding', async () => {
      const streamed: Array<Array<number | null>> = [];
      const stop = tokenizer.encode(' ')[0];
      const tokens = await generate(model, PROMPTS, {
        maxNewTokens: 30,
        stopTokenIds: [stop],
        onToken: async (step) => {
          streamed.push(step);
          await new Promise((resolve) => setTimeout(resolve, 0));
        },
      });
      PROMPTS.forEach((_p, r) => {
        const mine = streamed.map((s) => s[r]).filter((t): t is number => t != null);
        // What was streamed is the result, then the stop token when one came.
        expect(mine.slice(0, tokens[r].length)).toEqual(tokens[r]);
        expect(mine.length === tokens[r].length || mine[tokens[r].length] === stop).toBe(true);
        expect(tokens[r]).not.toContain(stop);
        expect(tokens[r]).not.toContain(0);
      });
    });

    it('leaves tf.memory().numTensors unchanged: each sampler, cached or not, a callback throwing', async () => {
      await generate(model, PROMPTS, { maxNewTokens: 3 }); // warm-up
      const before = tf.memory().numTensors;
      for (const useCache of [true, false]) {
        for (const sampler of ['greedy', 'beam', 'topK', 'topP', 'random'] as const) {
          await generate(model, PROMPTS, { maxNewTokens: 4, sampler, seed: 1, useCache });
        }
        const failing = generate(model, PROMPTS, {
          maxNewTokens: 10,
          useCache,
          onToken: (_t, step) => {
            if (step === 3) throw new Error('stop here');
          },
        });
        await expect(failing).rejects.toThrow('stop here');
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  it('a tf.sequential stack (gelu blocks, logits) generates the same tokens cached and uncached', async () => {
    const model = buildSequentialGpt();
    seedWeights(model, 40);
    const cached = await generate(model, PROMPTS, { maxNewTokens: 50 });
    expect(await generate(model, PROMPTS, { maxNewTokens: 50, useCache: false })).toEqual(cached);
    expect(new Set(cached.map((t) => t.join(','))).size).toBe(3);
    model.dispose();
  });

  it("keras-hub's TransformerDecoder layers (decoder-only) generate the same tokens cached and uncached", async () => {
    const model = buildKerasHubGpt();
    seedWeights(model, 70);
    const cached = await generate(model, PROMPTS, { maxNewTokens: 50 });
    expect(await generate(model, PROMPTS, { maxNewTokens: 50, useCache: false })).toEqual(cached);
    expect(new Set(cached.map((t) => t.join(','))).size).toBe(3);
    model.dispose();
  });

  it('a Conv1D between embedding and blocks is refused by name; useCache: false generates with it', async () => {
    const tokens = tf.input({ shape: [null], dtype: 'int32' });
    let x = tf.layers.embedding({ inputDim: VOCABULARY, outputDim: WIDTH }).apply(tokens);
    x = tf.layers.conv1d({ filters: WIDTH, kernelSize: 3, padding: 'same', name: 'smoother' }).apply(x);
    x = new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 32, causal: true }).apply(x);
    const model = tf.model({
      inputs: tokens,
      outputs: tf.layers.dense({ units: VOCABULARY }).apply(x) as tf.SymbolicTensor,
    });
    seedWeights(model, 90);
    await expect(generate(model, PROMPTS, { maxNewTokens: 5 })).rejects.toThrow(
      "generate: layer 'smoother' (Conv1D) mixes positions and keeps no key/value cache, so the model cannot run one " +
        'new position at a time; pass useCache: false to rerun the whole model for every token',
    );
    const uncached = await generate(model, PROMPTS, { maxNewTokens: 5, useCache: false });
    // The reference: one predict per token, by hand.
    const byHand = PROMPTS.map((prompt) => {
      const ids = [...prompt];
      for (let i = 0; i < 5; i++) {
        const next = tf.tidy(() => {
          const logits = model.predict(tf.tensor2d([ids], undefined, 'int32')) as tf.Tensor;
          return logits
            .slice([0, ids.length - 1, 0], [1, 1, VOCABULARY])
            .argMax(-1)
            .dataSync()[0];
        });
        ids.push(next);
      }
      return ids.slice(prompt.length);
    });
    expect(uncached).toEqual(byHand);
    model.dispose();
  });

  it('an encoder-decoder (the shipped reverse model) generates with its source as a fixed input', async () => {
    const reverse = await loadSeq2Seq('models/reverse');
    const sources = generateSamples(reverse.task!, 6, 5).map((s) => s.source);
    const options: GenerateOptions = {
      maxNewTokens: reverse.maxTargetLength,
      inputs: { source: sources },
      stopTokenIds: [EOS],
      suppressTokenIds: [PAD, BOS],
    };
    const cached = await generate(
      reverse.model,
      sources.map(() => [BOS]),
      options,
    );
    expect(
      await generate(
        reverse.model,
        sources.map(() => [BOS]),
        { ...options, useCache: false },
      ),
    ).toEqual(cached);
    // It reverses them, as Seq2Seq.generate does through the same runner.
    expect(cached).toEqual(sources.map((s) => [...s].reverse()));
    expect(await reverse.generate(sources)).toEqual(cached);
    reverse.dispose();
  });

  it('refuses bad options and prompts with messages that name them', async () => {
    const model = buildGpt();
    const cases: Array<[unknown, unknown, string | RegExp]> = [
      [PROMPTS, { topk: 3 }, "generate: unknown option 'topk' (did you mean 'topK'?)"],
      [
        PROMPTS,
        { sampler: 'nucleus' },
        "generate: sampler must be one of 'greedy', 'beam', 'topK', 'topP', 'random', got 'nucleus'",
      ],
      [PROMPTS, { maxNewTokens: 0 }, 'generate: maxNewTokens must be a positive integer, got 0'],
      [PROMPTS, { topP: 1.5 }, 'generate: topP must be a number in (0, 1], got 1.5'],
      [PROMPTS, { temperature: 0 }, 'generate: temperature must be a positive number, got 0'],
      [[[1, 2], []], {}, 'generate: prompts[1] must be a non-empty array of token ids, got []'],
      [
        [[1, VOCABULARY]],
        {},
        `generate: prompts[0][1] is ${VOCABULARY}; expected a token id, an integer in [0, ${VOCABULARY - 1}]`,
      ],
      [
        PROMPTS,
        { maxNewTokens: 70 },
        /the longest prompt and maxNewTokens need 89 positions, .* a table of 80 positions/,
      ],
      [PROMPTS, { inputs: { source: [[1]] } }, /inputs has 'source', which is not an input of the model/],
    ];
    const before = tf.memory().numTensors;
    for (const [prompts, options, message] of cases) {
      await expect(generate(model, prompts as number[][], options as GenerateOptions)).rejects.toThrow(message);
    }
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
