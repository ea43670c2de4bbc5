/**
 * `generate-gpt`: text generation from a GPT built the README's way, with and without the
 * key/value cache.
 *
 * Model (the same in scripts/peers/torch_generate_gpt.py): our TokenAndPositionEmbedding (65
 * characters, 128 positions, width 128), 4 pre-LN causal TransformerEncoderBlocks (4 heads of 32,
 * feed-forward 512, exact gelu), tfjs's layerNormalization and a dense softmax head, as the
 * README's `buildGpt` at gpt-char's sizes. Batch 1: an 8-character prompt, 120 new characters,
 * greedy, no stop token (the same work every run). Figures are milliseconds per new token: cached
 * (`generate`, one position a step) and uncached (the whole model on the prefix every step,
 * `useCache: false`). The weights are tfjs's initial ones: the work does not depend on them.
 * No Node API here: the browser bench can run it in a page.
 */
import * as tf from '@tensorflow/tfjs';

import { generate } from '../../src/decode/generate';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import { TransformerEncoderBlock } from '../../src/layers/transformer_encoder_block';
import { measureWithin, round } from '../../src/train/benchmark';
import type { BenchSettings, Result } from './cases';
import { GPT_CHAR } from './gpt_char';

/** The prompt and the tokens generated after it. */
export const GENERATE_GPT = { prompt: 8, newTokens: 120 };

/** The README's GPT at gpt-char's sizes, with a variable-length token input. */
export function buildGenerateGpt(): tf.LayersModel {
  const { vocabulary, length, width, heads, layers, ff } = GPT_CHAR;
  const tokens = tf.input({ shape: [null], dtype: 'int32' });
  let x = new TokenAndPositionEmbedding({
    vocabularySize: vocabulary,
    sequenceLength: length,
    embeddingDim: width,
  }).apply(tokens);
  for (let i = 0; i < layers; i++) {
    x = new TransformerEncoderBlock({
      numHeads: heads,
      intermediateDim: ff,
      activation: 'gelu',
      causal: true,
      normalizeFirst: true,
    }).apply(x);
  }
  x = tf.layers.layerNormalization().apply(x);
  const next = tf.layers.dense({ units: vocabulary, activation: 'softmax' }).apply(x);
  return tf.model({ inputs: tokens, outputs: next as tf.SymbolicTensor });
}

/** ms per new token, cached and uncached, and their ratio. */
export async function generateGpt({ repeats, maxSeconds = Infinity }: BenchSettings): Promise<Result[]> {
  const model = buildGenerateGpt();
  // Token ids 1..8 (id 0 is padding, which the embedding masks).
  const prompt = [Array.from({ length: GENERATE_GPT.prompt }, (_x, i) => i + 1)];
  const row: Result = { name: 'generate-gpt', backend: tf.getBackend(), batch: 1, ...GENERATE_GPT };
  try {
    for (const [label, useCache] of [
      ['Cached', true],
      ['Uncached', false],
    ] as const) {
      const timing = await measureWithin(
        () => generate(model, prompt, { maxNewTokens: GENERATE_GPT.newTokens, useCache }).then(() => undefined),
        { warmup: 2, repeats, units: 1, maxSeconds },
      );
      if ('skipped' in timing) {
        row.skipped = `msPerToken${label}: ${timing.skipped}`;
        break;
      }
      row[`msPerToken${label}`] = round(timing.medianMs / GENERATE_GPT.newTokens);
    }
    if (row.skipped == null)
      row.cacheSpeedup = round((row.msPerTokenUncached as number) / (row.msPerTokenCached as number));
  } finally {
    model.dispose();
  }
  return [row];
}
