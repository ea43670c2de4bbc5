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
 *
 * With a `GenerationPeer` (in Node, bench.ts gives @genai-fi/nanogpt's, scripts/bench/nanogpt.ts)
 * our cached generation and the peer's are timed in turn, round by round, in this process on this
 * backend: the peer as the backend stands (on wasm, with the kernels `initBackend` replaced, which
 * run on the same kernel threads as ours) and, on wasm, with tfjs-backend-wasm's own kernels.
 */
import * as tf from '@tensorflow/tfjs';

import { installWasmExtras } from '../../src/backend';
import { generate } from '../../src/decode/generate';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import { TransformerEncoderBlock } from '../../src/layers/transformer_encoder_block';
import { measureInTurn, measureWithin, round } from '../../src/train/benchmark';
import type { BenchSettings, Result } from './cases';
import { GPT_CHAR } from './gpt_char';

/** The prompt and the tokens generated after it. */
export const GENERATE_GPT = { prompt: 8, newTokens: 120 };

/**
 * Another library's model of the same sizes generating the same number of tokens (GENERATE_GPT,
 * batch 1, greedy, with its own key/value cache), timed in turn with ours.
 */
export interface GenerationPeer {
  /** What the line says about the peer: name, version, model. */
  info: Record<string, unknown>;
  /** One generation of GENERATE_GPT.newTokens tokens after a GENERATE_GPT.prompt-token prompt. */
  generate(): Promise<void>;
}

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

/**
 * ms per new token, cached and uncached, and their ratio; with a peer, its ms per token too and
 * ours over its, the median of the rounds' ratios (`measureInTurn`).
 */
export async function generateGpt(
  { repeats, maxSeconds = Infinity }: BenchSettings,
  peer?: GenerationPeer,
): Promise<Result[]> {
  const model = buildGenerateGpt();
  // Token ids 1..8 (id 0 is padding, which the embedding masks).
  const prompt = [Array.from({ length: GENERATE_GPT.prompt }, (_x, i) => i + 1)];
  const row: Result = { name: 'generate-gpt', backend: tf.getBackend(), batch: 1, ...GENERATE_GPT };
  const ours = (useCache: boolean) => () =>
    generate(model, prompt, { maxNewTokens: GENERATE_GPT.newTokens, useCache }).then(() => undefined);
  const perToken = (ms: number) => round(ms / GENERATE_GPT.newTokens);
  try {
    if (peer != null) {
      // The peer as the backend stands and, on wasm, on tfjs-backend-wasm's own kernels.
      const works: Record<string, () => Promise<void>> = { ours: ours(true), nanogpt: peer.generate };
      if (tf.getBackend() === 'wasm') works.nanogptTfjsKernels = () => withTfjsWasmKernels(peer.generate);
      const { timings, ratios } = await measureInTurn(works, { warmup: 2, repeats });
      row.msPerTokenCached = perToken(timings.ours.medianMs);
      row.repeatsMsCached = timings.ours.repeatsMs.map(perToken);
      const nanogpt: Record<string, unknown> = {
        ...peer.info,
        msPerTokenCached: perToken(timings.nanogpt.medianMs),
        repeatsMsCached: timings.nanogpt.repeatsMs.map(perToken),
      };
      // The peer's ms over ours, round by round: higher is better for us.
      row.speedRatioNanogpt = ratios.nanogpt;
      if (timings.nanogptTfjsKernels != null) {
        nanogpt.msPerTokenCachedTfjsKernels = perToken(timings.nanogptTfjsKernels.medianMs);
        nanogpt.repeatsMsCachedTfjsKernels = timings.nanogptTfjsKernels.repeatsMs.map(perToken);
        row.speedRatioNanogptTfjsKernels = ratios.nanogptTfjsKernels;
      }
      // What a token costs in tfjs's bookkeeping: kernels run per new token (nested ones counted).
      const kernelsPerToken = async (work: () => Promise<void>) =>
        round((await tf.profile(work)).kernels.length / GENERATE_GPT.newTokens);
      row.kernelsPerTokenCached = await kernelsPerToken(works.ours);
      nanogpt.kernelsPerTokenCached = await kernelsPerToken(works.nanogpt);
      row.nanogpt = nanogpt;
    }
    for (const [label, useCache] of [
      ['Cached', true],
      ['Uncached', false],
    ] as const) {
      if (row[`msPerToken${label}`] != null) continue;
      const timing = await measureWithin(ours(useCache), { warmup: 2, repeats, units: 1, maxSeconds });
      if ('skipped' in timing) {
        row.skipped = `msPerToken${label}: ${timing.skipped}`;
        break;
      }
      row[`msPerToken${label}`] = perToken(timing.medianMs);
    }
    if (row.skipped == null)
      row.cacheSpeedup = round((row.msPerTokenUncached as number) / (row.msPerTokenCached as number));
  } finally {
    model.dispose();
  }
  return [row];
}

/** Runs `work` on tfjs-backend-wasm's own kernels, then puts back the ones `initBackend` installs. */
async function withTfjsWasmKernels(work: () => Promise<void>): Promise<void> {
  installWasmExtras({ replaceTfjsKernels: false });
  try {
    await work();
  } finally {
    installWasmExtras();
  }
}
