/**
 * `decode` and `scoreTargets` (src/decode/decode.ts) on the smallest encoder-decoder that decodes
 * interestingly: width 8, one block each side, 7 tokens, 6 target positions, seeded kernels (pre-LN,
 * norms and biases left at their ones and zeros, so the outputs vary with the source). On it greedy
 * decoding ends some sources with EOS and runs others to the length limit, and beam search (3)
 * finds better sequences than greedy for every source. Checked against `model.predict` on each
 * source alone (no padding, no cache); cpu only: the backends' own agreement is decode.test.ts's.
 * Seconds, so that StrykerJS can run it for every mutant of decode.ts (test/MUTATION.md).
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { decode, greedyDecode, maxTargetLength, padBatch, scoreTargets } from '../../src/decode/decode';
import { BOS, EOS, PAD } from '../../src/tasks/vocabulary';
import { TINY_TARGET_LENGTH, tinyEncoderDecoder } from './tiny_models';

const LIMIT = TINY_TARGET_LENGTH;
const SOURCES = [[3, 4, 5], [6, 5], [4, 4, 3, 6], [5], [3, 3], [6, 2, 4]];

/** Log-probabilities (T, V) of the token after each of `fed` (BOS first), by `predict` on this source alone. */
function stepLogProbs(model: tf.LayersModel, source: number[], fed: number[]): number[][] {
  return tf.tidy(() => {
    const logits = model.predict([tf.tensor2d([source], undefined, 'int32'), tf.tensor2d([fed], undefined, 'int32')]);
    return (tf.logSoftmax(logits as tf.Tensor).arraySync() as number[][][])[0];
  });
}

/** The teacher-forced log-probability of `target`, and of EOS after it unless it fills every position. */
function scoreByHand(model: tf.LayersModel, source: number[], target: number[]): number {
  const fed = [BOS, ...target].slice(0, LIMIT);
  const rows = stepLogProbs(model, source, fed);
  const tokens = target.reduce((sum, token, t) => sum + rows[t][token], 0);
  return target.length < LIMIT ? tokens + rows[target.length][EOS] : tokens;
}

function expectClose(actual: number[], expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, i) => expect(Math.abs(value - expected[i])).toBeLessThan(1e-4));
}

describe('decode on a tiny seeded encoder-decoder [cpu]', () => {
  let model: tf.LayersModel;
  beforeAll(async () => {
    await initBackend('cpu', { quiet: true });
    model = tinyEncoderDecoder();
  });
  afterAll(() => model.dispose());

  it('padBatch right-pads with PAD to the longest row (at least 1), or to the width asked for', () => {
    const cases: Array<[number[][], number | undefined, number[][]]> = [
      [
        [[3, 4], [5], [6, 2, 1]],
        undefined,
        [
          [3, 4, 0],
          [5, 0, 0],
          [6, 2, 1],
        ],
      ],
      [[[], []], undefined, [[0], [0]]],
      [[[3]], 3, [[3, 0, 0]]],
    ];
    for (const [rows, width, expected] of cases) {
      const batch = padBatch(rows, width);
      expect(batch.dtype).toBe('int32');
      expect(batch.arraySync()).toEqual(expected);
      batch.dispose();
    }
  });

  it('maxTargetLength is the decoder position table', () => {
    expect(maxTargetLength(model)).toBe(LIMIT);
  });

  it('greedy: cached (both steps) equals uncached; scores are the teacher-forced ones, EOS included', () => {
    const cached = decode(model, SOURCES);
    const tfjs = decode(model, SOURCES, { step: 'tfjs' });
    const uncached = decode(model, SOURCES, { useCache: false });
    expect(tfjs.tokens).toEqual(cached.tokens);
    expect(uncached.tokens).toEqual(cached.tokens);
    expectClose(tfjs.logProbs, cached.logProbs);
    expectClose(uncached.logProbs, cached.logProbs);
    // Some sources end with EOS, others run into the limit; no result holds EOS, PAD or BOS.
    const lengths = cached.tokens.map((t) => t.length);
    expect(lengths.some((n) => n < LIMIT)).toBe(true);
    expect(lengths.some((n) => n === LIMIT)).toBe(true);
    expect(Math.max(...lengths)).toBe(LIMIT);
    for (const tokens of cached.tokens) for (const id of [PAD, BOS, EOS]) expect(tokens).not.toContain(id);
    const byHand = SOURCES.map((s, i) => scoreByHand(model, s, cached.tokens[i]));
    expectClose(cached.logProbs, byHand);
    expectClose(scoreTargets(model, SOURCES, cached.tokens), byHand);
    // Each token is the likeliest of those allowed (not PAD or BOS) after the ones before it, and
    // a result shorter than the limit ends where EOS is the likeliest.
    SOURCES.forEach((source, i) => {
      const tokens = cached.tokens[i];
      const rows = stepLogProbs(model, source, [BOS, ...tokens].slice(0, LIMIT));
      const best = (row: number[]) => [2, 3, 4, 5, 6].reduce((a, b) => (row[b] > row[a] ? b : a));
      expect(rows.slice(0, tokens.length).map(best)).toEqual(tokens);
      if (tokens.length < LIMIT) expect(best(rows[tokens.length])).toBe(EOS);
    });
  });

  it('beam search (3) scores at least greedy, better here, and its scores are the teacher-forced ones', () => {
    const greedy = decode(model, SOURCES);
    const beam = decode(model, SOURCES, { beamWidth: 3 });
    const uncached = decode(model, SOURCES, { beamWidth: 3, useCache: false });
    expect(uncached.tokens).toEqual(beam.tokens);
    expectClose(uncached.logProbs, beam.logProbs);
    const beamByHand = SOURCES.map((s, i) => scoreByHand(model, s, beam.tokens[i]));
    expectClose(beam.logProbs, beamByHand);
    beam.logProbs.forEach((score, i) => expect(score).toBeGreaterThanOrEqual(greedy.logProbs[i] - 1e-5));
    expect(beam.logProbs.some((score, i) => score > greedy.logProbs[i] + 0.1)).toBe(true);
    // Width 1 is greedy.
    const one = decode(model, SOURCES, { beamWidth: 1 });
    expect(one.tokens).toEqual(greedy.tokens);
    expectClose(one.logProbs, greedy.logProbs);
  });

  it('maxLength cuts every result (EOS counted), and greedyDecode is decode with it', async () => {
    const full = decode(model, SOURCES).tokens;
    const cut = decode(model, SOURCES, { maxLength: 2 });
    expect(cut.tokens).toEqual(full.map((t) => t.slice(0, 2)));
    expect(await greedyDecode(model, SOURCES, 2)).toEqual(cut.tokens);
  });

  it('ignoreEos runs every step even after each source ended, with the same results', () => {
    const source = [SOURCES[5]];
    const ended = decode(model, source).tokens[0];
    expect(ended.length).toBeLessThan(LIMIT - 2);
    const logits = model.getLayer('logits');
    const calls = jest.spyOn(logits, 'call');
    try {
      const early = decode(model, source, { useCache: false });
      const stepsEarly = calls.mock.calls.length;
      calls.mockClear();
      const all = decode(model, source, { useCache: false, ignoreEos: true });
      expect(calls.mock.calls.length).toBe(LIMIT);
      expect(stepsEarly).toBe(ended.length + 1);
      expect(all).toEqual(early);
    } finally {
      calls.mockRestore();
    }
  });

  it('never produces PAD or BOS, however likely the model makes them', () => {
    const plain = decode(model, SOURCES);
    const bias = model.getLayer('logits').getWeights()[1];
    const original = bias.clone();
    try {
      const favoured = tf.tidy(() => bias.add(tf.tensor1d([12, 12, 0, 0, 0, 0, 0])));
      model.getLayer('logits').setWeights([model.getLayer('logits').getWeights()[0], favoured]);
      favoured.dispose();
      // The other tokens keep their order, so the same choices.
      expect(decode(model, SOURCES).tokens).toEqual(plain.tokens);
      expect(decode(model, SOURCES, { beamWidth: 2 }).tokens.flat()).not.toContain(PAD);
    } finally {
      model.getLayer('logits').setWeights([model.getLayer('logits').getWeights()[0], original]);
      original.dispose();
    }
  });

  it('passes useCache (default on), step and headMasks through to generate', () => {
    const plain = decode(model, SOURCES);
    // typed-array steps run cached: so the default is the cache.
    expect(decode(model, SOURCES, { step: 'typed-arrays' }).tokens).toEqual(plain.tokens);
    expect(() => decode(model, SOURCES, { step: 'typed-arrays', useCache: false })).toThrow(
      "generate: step 'typed-arrays' runs the cached steps; it cannot go with useCache: false",
    );
    const masked = decode(model, SOURCES, { headMasks: { 'decoder_block_0/cross_attention': [0, 0] } });
    const maskedUncached = decode(model, SOURCES, {
      headMasks: { 'decoder_block_0/cross_attention': [0, 0] },
      useCache: false,
    });
    expect(maskedUncached.tokens).toEqual(masked.tokens);
    // Without cross-attention the source no longer matters: one answer for all.
    expect(new Set(masked.tokens.map(String)).size).toBe(1);
    expect(new Set(plain.tokens.map(String)).size).toBeGreaterThan(1);
  });

  it('returns nothing for no sources; refuses an unknown option and a model without two inputs, by name', () => {
    expect(decode(model, [])).toEqual({ tokens: [], logProbs: [] });
    expect(() => decode(model, SOURCES, { beamwidth: 2 } as never)).toThrow(
      "decode: unknown option 'beamwidth' (did you mean 'beamWidth'?)",
    );
    const tokens = tf.input({ shape: [null], dtype: 'int32', name: 'ids' });
    const embedded = tf.layers.embedding({ inputDim: 7, outputDim: 4 }).apply(tokens) as tf.SymbolicTensor;
    const single = tf.model({
      inputs: tokens,
      outputs: tf.layers.dense({ units: 7 }).apply(embedded) as tf.SymbolicTensor,
      name: 'lm',
    });
    const expected = (what: string) =>
      `${what}: model 'lm' has 1 input(s) (ids); a sequence-to-sequence model takes [source, decoderInput] ` +
      '(as createTransformer builds it); for other models use generate';
    expect(() => decode(single, SOURCES)).toThrow(expected('decode'));
    expect(() => scoreTargets(single, SOURCES, [[3]])).toThrow(expected('scoreTargets'));
    single.dispose();
    const inputs = ['a', 'b', 'c'].map((name) => tf.input({ shape: [null], dtype: 'int32', name }));
    const sum = tf.layers
      .add()
      .apply(inputs.map((x) => tf.layers.embedding({ inputDim: 7, outputDim: 4 }).apply(x) as tf.SymbolicTensor));
    const three = tf.model({
      inputs,
      outputs: tf.layers.dense({ units: 7 }).apply(sum) as tf.SymbolicTensor,
      name: 'abc',
    });
    expect(() => decode(three, SOURCES)).toThrow("decode: model 'abc' has 3 input(s) (a, b, c); ");
    three.dispose();
    // decode's own default leaves a value that is not a boolean to generate, which refuses it.
    expect(() => decode(model, SOURCES, { useCache: 'yes' as never })).toThrow(
      "generate: useCache must be true or false, got 'yes'",
    );
  });

  it('scoreTargets scores a batch of targets of every length, EOS left out at the limit', () => {
    const targets = [[], [3], [4, 5, 6], [3, 3, 3, 3, 3], [6, 5, 4, 3, 6, 5], [5, 5]];
    const scores = scoreTargets(model, SOURCES, targets);
    expectClose(
      scores,
      SOURCES.map((s, i) => scoreByHand(model, s, targets[i])),
    );
  });

  it('leaves tf.memory().numTensors unchanged, also when it throws', () => {
    decode(model, SOURCES.slice(0, 2), { beamWidth: 2 }); // warm-up
    const before = tf.memory().numTensors;
    decode(model, SOURCES.slice(0, 2));
    decode(model, SOURCES.slice(0, 2), { beamWidth: 2, useCache: false });
    decode(model, SOURCES.slice(0, 2), { step: 'tfjs', ignoreEos: true });
    scoreTargets(model, SOURCES.slice(0, 2), [[3], [4, 5]]);
    expect(() => decode(model, SOURCES, { headMasks: { nowhere: [0] } })).toThrow(/headMasks has 'nowhere'/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
