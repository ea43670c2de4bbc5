/**
 * evaluateSeq2Seq (src/train/evaluate.ts) on models whose outputs the test controls: a tiny
 * createTransformer model whose logits layer has a zero kernel, so that its logits are the bias
 * at every position whatever the input. Greedy decoding, exact match, teacher-forced token
 * accuracy and loss, and the failures list then follow by hand.
 */
import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../../src/backend';
import { encodeBatch } from '../../src/tasks';
import { EOS } from '../../src/tasks/vocabulary';
import { evaluateSeq2Seq, EvalSample } from '../../src/train/evaluate';
import { tinySetup } from './helpers';

beforeAll(() => initBackend('wasm', { quiet: true }));

/** The tiny copy model with logits = `bias` at every position (a zero kernel). */
function constantModel(bias: number[]) {
  const { task, model } = tinySetup('copy');
  const logits = model.getLayer('logits');
  const [kernel] = logits.getWeights();
  const values = [tf.zerosLike(kernel), tf.tensor1d(bias)];
  logits.setWeights(values);
  tf.dispose(values);
  return { task, model };
}

/** Teacher-forced loss of one target token when the logits are `bias`: logsumexp(bias) - bias[token]. */
function tokenLoss(bias: number[], token: number): number {
  const max = Math.max(...bias);
  return max + Math.log(bias.reduce((sum, b) => sum + Math.exp(b - max), 0)) - bias[token];
}

describe('evaluateSeq2Seq', () => {
  it('a model that always says EOS: exact match, token accuracy, loss, failures by hand, any batch size', async () => {
    // Vocabulary of copy: 13 ids (PAD, BOS, EOS, symbols 3..12). EOS wins; symbol 5 comes second.
    const bias = Array.from({ length: 13 }, (_v, id) => (id === EOS ? 2 : id === 5 ? 1 : 0));
    const { task, model } = constantModel(bias);
    expect(task.vocabularySize).toBe(13);
    const samples: EvalSample[] = [
      { source: [3, 4], target: [] }, // right: decodes to [] (EOS first)
      { source: [3, 4, 5], target: [3, 4, 5] },
      { source: [6, 7], target: [] }, // right
      { source: [8, 9], target: [8] },
      { source: [10, 11, 12], target: [5, 5] },
    ];
    // Teacher forcing predicts EOS at every position: one right token per sample (its EOS) of
    // 1 + 4 + 1 + 2 + 3 = 11 target tokens (EOS included).
    const targets = samples.map((s) => [...s.target, EOS]);
    const tokens = targets.flat();
    expect(tokens).toHaveLength(11);
    const loss = tokens.reduce((sum, token) => sum + tokenLoss(bias, token), 0) / tokens.length;

    const before = tf.memory().numTensors;
    for (const batchSize of [256, 2]) {
      const result = await evaluateSeq2Seq(model, samples, (s) => encodeBatch(task, s), {
        maxLength: task.maxTargetLength,
        batchSize,
        maxFailures: 2,
      });
      expect({ batchSize, ...result, loss: undefined }).toEqual({
        batchSize,
        exactMatch: 2 / 5,
        tokenAccuracy: 5 / 11,
        loss: undefined,
        size: 5,
        // The first two wrong samples, in sample order; greedy decoding stopped at once.
        failures: [
          { source: [3, 4, 5], expected: [3, 4, 5], got: [] },
          { source: [8, 9], expected: [8], got: [] },
        ],
      });
      expect(Math.abs(result.loss - loss)).toBeLessThan(1e-5);
    }
    // maxFailures defaults to 3.
    const all = await evaluateSeq2Seq(model, samples, (s) => encodeBatch(task, s), { maxLength: task.maxTargetLength });
    expect(all.failures.map((f) => f.expected)).toEqual([[3, 4, 5], [8], [5, 5]]);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('a decoding that never emits EOS is wrong, even when it begins with the whole target', async () => {
    // Symbol 5 always wins: greedy decoding never emits EOS and runs to maxLength.
    const bias = Array.from({ length: 13 }, (_v, id) => (id === 5 ? 3 : 0));
    const { task, model } = constantModel(bias);
    const longest = Array<number>(task.maxTargetLength - 1).fill(5); // 12 fives: the longest target
    const samples: EvalSample[] = [
      { source: longest, target: longest },
      { source: [5, 5], target: [5] },
    ];
    const encode = (s: EvalSample[]) => encodeBatch(task, s);

    const result = await evaluateSeq2Seq(model, samples, encode, { maxLength: task.maxTargetLength });
    expect(result.exactMatch).toBe(0);
    // Teacher forcing: every symbol 5 is right, every EOS wrong: (12 + 1) of (13 + 2) tokens.
    expect(result.tokenAccuracy).toBe(13 / 15);
    const fives = Array<number>(task.maxTargetLength).fill(5);
    expect(result.failures).toEqual([
      { source: longest, expected: longest, got: fives },
      { source: [5, 5], expected: [5], got: fives },
    ]);
    // Only the length limit tells the first one apart: stopped one token earlier (no room for EOS), it
    // equals the target. This is why maxLength must be the padded target width.
    const short = await evaluateSeq2Seq(model, samples, encode, { maxLength: task.maxTargetLength - 1 });
    expect(short.exactMatch).toBe(1 / 2);
    expect(short.failures).toEqual([{ source: [5, 5], expected: [5], got: longest }]);
    model.dispose();
  });

  it('refuses an empty sample list', async () => {
    const { task, model } = tinySetup('copy');
    await expect(evaluateSeq2Seq(model, [], (s) => encodeBatch(task, s), { maxLength: 13 })).rejects.toThrow(
      'evaluateSeq2Seq: samples is empty; expected at least one sample',
    );
    model.dispose();
  });
});
