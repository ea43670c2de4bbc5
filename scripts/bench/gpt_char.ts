/**
 * `train-gpt-char`: a training step of a character-level, decoder-only model, beyond the toy tasks.
 *
 * Model (the same in scripts/peers/torch_gpt_char.py): token + learned position embedding (65
 * characters, 128 positions, width 128, no padding mask: every id is a character), 4 pre-LN causal
 * blocks (4 heads of 32, feed-forward 512, exact gelu, dropout 0), a final layer norm, a dense layer
 * to the 65 characters; softmax cross-entropy of the next character at every position; Adam 1e-3;
 * batch 16 windows of 128.
 * The final norm is ours (`MaskedLayerNormalization`) or tfjs's `tf.layers.layerNormalization`,
 * the one the README's GPT example uses: both are timed.
 *
 * The text is generated here, so nothing is shipped or fetched: words drawn from a fixed seeded
 * syllable list, with capitals, digits and punctuation, 262,144 characters over exactly 65 symbols.
 * The batches are drawn once and (scripts/bench.ts) written to a file that the peer reads, so both
 * train on the same windows in the same order. No Node API here: the browser bench runs it in a page.
 */
import * as tf from '@tensorflow/tfjs';

import { oneHotFloat } from '../../src/backend';
import { MaskedLayerNormalization } from '../../src/layers/masked_layer_normalization';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import { TransformerEncoderBlock } from '../../src/layers/transformer_encoder_block';
import { Random } from '../../src/tasks/random';
import { measureInTurn, measureWithin, round, type Timing } from '../../src/train/benchmark';
import { Adam } from '../../src/train/adam';

export const GPT_CHAR = { vocabulary: 65, length: 128, width: 128, heads: 4, layers: 4, ff: 512, batch: 16 };

/** Steps a repeat of train-gpt-char (a step is about a second here). */
export const GPT_CHAR_STEPS = 5;

/** The 65 symbols: a-z, A-Z, 0-9, space, '.' and newline. */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .\n';

/** 262,144 characters of seeded pseudo-prose over ALPHABET, as ids 0..64. */
export function gptCharText(seed = 1, size = 1 << 18): Uint8Array {
  const rng = new Random(seed);
  const below = (n: number) => rng.nextInt(0, n - 1);
  const pick = (options: string) => options[below(options.length)];
  const syllables = Array.from({ length: 300 }, () => pick('bcdfghklmnprstvwz') + pick('aeiou') + pick('nrstl '));
  const words = Array.from({ length: 2000 }, () =>
    Array.from({ length: 1 + below(3) }, () => syllables[below(syllables.length)])
      .join('')
      .trim(),
  );
  let text = '';
  let sentence = 0;
  while (text.length < size) {
    let word = words[below(words.length)];
    if (sentence === 0) word = word[0].toUpperCase() + word.slice(1);
    if (below(40) === 0) word = String(below(10000));
    text += word;
    sentence += 1;
    if (sentence > 4 && below(8) === 0) {
      text += below(5) === 0 ? '.\n' : '. ';
      sentence = 0;
    } else text += ' ';
  }
  const ids = new Uint8Array(size);
  for (let i = 0; i < size; i++) ids[i] = ALPHABET.indexOf(text[i]);
  return ids;
}

/** `steps` batches of `batch` windows of length + 1 characters (inputs and next characters), row-major int32. */
export function gptCharBatches(text: Uint8Array, steps: number, seed = 2): Int32Array {
  const { batch, length } = GPT_CHAR;
  const rng = new Random(seed);
  const out = new Int32Array(steps * batch * (length + 1));
  for (let row = 0; row < steps * batch; row++) {
    const start = rng.nextInt(0, text.length - length - 2);
    for (let t = 0; t <= length; t++) out[row * (length + 1) + t] = text[start + t];
  }
  return out;
}

function buildModel(finalNorm: 'ours' | 'tfjs'): tf.LayersModel {
  const { vocabulary, length, width, heads, layers, ff } = GPT_CHAR;
  const tokens = tf.input({ shape: [length], dtype: 'int32' });
  let x = new TokenAndPositionEmbedding({
    vocabularySize: vocabulary,
    sequenceLength: length,
    embeddingDim: width,
    // Id 0 is a character here ('a'), not padding: no padding mask, as the peer.
    maskZero: false,
  }).apply(tokens) as tf.SymbolicTensor;
  for (let i = 0; i < layers; i++) {
    x = new TransformerEncoderBlock({
      numHeads: heads,
      intermediateDim: ff,
      activation: 'gelu',
      causal: true,
      normalizeFirst: true,
    }).apply(x) as tf.SymbolicTensor;
  }
  const norm = finalNorm === 'ours' ? new MaskedLayerNormalization() : tf.layers.layerNormalization();
  x = norm.apply(x) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: vocabulary }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: tokens, outputs: logits });
}

/** One final norm's model, optimizer and training step on the batches in order. */
function trainer(finalNorm: 'ours' | 'tfjs', batches: Int32Array) {
  const { batch, length, vocabulary } = GPT_CHAR;
  const steps = batches.length / (batch * (length + 1));
  const model = buildModel(finalNorm);
  const optimizer = new Adam({ learningRate: 1e-3, beta2: 0.999, epsilon: 1e-8 });
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  let next = 0;
  const step = () => {
    const rows = batches.subarray(next * batch * (length + 1), (next + 1) * batch * (length + 1));
    next = (next + 1) % steps;
    const loss = tf.tidy((): tf.Scalar => {
      const windows = tf.tensor2d(rows, [batch, length + 1], 'int32');
      const inputs = windows.slice([0, 0], [batch, length]);
      const targets = windows.slice([0, 1], [batch, length]);
      return optimizer.minimize(
        () => {
          const logits = model.apply(inputs, { training: true }) as tf.Tensor;
          const logProbs = tf.logSoftmax(logits.reshape([batch * length, vocabulary]));
          const nll = tf.neg(tf.sum(tf.mul(logProbs, oneHotFloat(targets.reshape([-1]), vocabulary)), -1));
          return tf.mean(nll) as tf.Scalar;
        },
        true,
        variables,
      ) as tf.Scalar;
    });
    loss.dataSync();
    loss.dispose();
  };
  const dispose = () => {
    model.dispose();
    optimizer.dispose();
  };
  return { step, steps, dispose };
}

/**
 * Times repeats of one training step per batch of `batches` (gptCharBatches; reused in order by
 * every repeat), for each final norm. Without a time budget (Node) the two models' repeats take
 * turns (`measureInTurn`), so that a slow spell of the machine weighs on both alike; with one (the
 * browser), one model after the other, and a norm whose steps would take over `maxSeconds` is
 * skipped with the reason.
 */
export async function trainGptChar(options: { repeats: number; batches: Int32Array; maxSeconds?: number }) {
  const { batch, length } = GPT_CHAR;
  const maxSeconds = options.maxSeconds ?? Infinity;
  const norms = ['ours', 'tfjs'] as const;
  const rowOf = (finalNorm: 'ours' | 'tfjs') => ({
    name: 'train-gpt-char' as const,
    backend: tf.getBackend(),
    finalNorm: finalNorm === 'ours' ? 'MaskedLayerNormalization' : 'tf.layers.layerNormalization',
  });
  const resultOf = (finalNorm: 'ours' | 'tfjs', timing: Timing | { skipped: string }) =>
    'skipped' in timing
      ? { ...rowOf(finalNorm), batch, T: length, skipped: timing.skipped }
      : {
          ...rowOf(finalNorm),
          msPerStep: round(timing.medianMs),
          tokensPerSecond: round((batch * length * 1000) / timing.medianMs),
          repeatsMs: timing.repeatsMs,
          spread: timing.spread,
          batch,
          T: length,
        };
  if (maxSeconds === Infinity) {
    const trainers = { ours: trainer('ours', options.batches), tfjs: trainer('tfjs', options.batches) };
    const { timings } = await measureInTurn(
      { ours: trainers.ours.step, tfjs: trainers.tfjs.step },
      { warmup: 2, repeats: options.repeats, units: trainers.ours.steps },
    );
    norms.forEach((norm) => trainers[norm].dispose());
    return norms.map((norm) => resultOf(norm, timings[norm]));
  }
  const results = [];
  for (const finalNorm of norms) {
    const { step, steps, dispose } = trainer(finalNorm, options.batches);
    const timing = await measureWithin(step, { warmup: 2, repeats: options.repeats, units: steps, maxSeconds });
    dispose();
    results.push(resultOf(finalNorm, timing));
  }
  return results;
}
