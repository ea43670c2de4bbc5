/**
 * The benchmarks' bodies that need no Node API, shared by `npm run bench` in Node (scripts/bench.ts)
 * and in headless Chromium (`--browser`: scripts/bench/page.ts runs them in the page), so both
 * measure the same code on the same sizes. Each returns its result lines without the machine,
 * which the caller adds.
 */
import * as tf from '@tensorflow/tfjs';

import { installGradientFixes } from '../../src/kernels/tile_gradient';
import { installLayerFixes } from '../../src/layers/tfjs_layers';
import { MultiHeadAttention } from '../../src/layers/multi_head_attention';
import { presetConfig } from '../../src/model/config';
import { decode } from '../../src/decode/decode';
import { createTransformer } from '../../src/model/transformer';
import { createTask, createTrainingStream, encodeBatch, generateSamples } from '../../src/tasks';
import { calibratedUnits, measure, measureWithin, median, round } from '../../src/train/benchmark';
import { Trainer } from '../../src/train/trainer';

import { generateGpt } from './generate_gpt';
import { GPT_CHAR_STEPS, gptCharBatches, gptCharText, trainGptChar } from './gpt_char';

export const BENCHMARKS = [
  'train-reference',
  'decode-greedy',
  'attention-forward-backward',
  'time-to-accuracy',
  'tfjs-layer-norm-step',
  'train-gpt-char',
  'generate-gpt',
] as const;
export type BenchName = (typeof BENCHMARKS)[number];
/** One result line; `skipped` (a reason) instead of figures when a case was not measured. */
export type Result = { name: BenchName; skipped?: string } & Record<string, unknown>;

export interface BenchSettings {
  /** Timed repeats of each figure. */
  repeats: number;
  /** Training steps per repeat of train-reference. */
  steps: number;
  /** attention-forward-backward's (B, T, D, H) sizes. Default ATTENTION_SIZES. */
  attentionSizes?: number[][];
  /**
   * A figure (an attention size, a training benchmark) whose calls would take longer than this,
   * estimated from one call, is skipped with the reason. Default Infinity.
   */
  maxSeconds?: number;
}

/** attention-forward-backward's (B, T, D, H): the peer's ATTENTION_SIZES. */
export const ATTENTION_SIZES = [
  [64, 13, 64, 4],
  [16, 64, 128, 8],
  [1, 128, 256, 8],
  [4, 256, 128, 4],
  [1, 512, 256, 8],
  [1, 1024, 256, 8],
];

// ---- the reference configuration ---------------------------------------------
export const task = createTask('reverse');

/** train-reference's batches, `steps` of 64: the bench writes the same ones for the peer. */
export function referenceBatches(steps: number) {
  const stream = createTrainingStream(task, 1);
  return Array.from({ length: steps }, () => encodeBatch(task, stream.nextBatch(64)));
}

/** decode-greedy's samples at a batch size: the bench writes their sources for the peer. */
export const decodeSamples = (batch: number) => generateSamples(task, batch, 7);

/**
 * train-reference's untimed steps before its repeats, on both sides (the peer's `--warmup`): three
 * repeats' worth. Our first 20-step repeats after 5 warm-up steps ran 49-74 ms a step where the
 * later ones of the same process settled at 37-40 (V8 still optimizing tfjs's JavaScript and tiering
 * up the kernels' WebAssembly), while the peer's were flat from the first: a median of five such
 * repeats timed part of our warm-up.
 */
export const trainReferenceWarmupSteps = (steps: number) => 3 * steps;

export async function trainReference({ repeats, steps, maxSeconds = Infinity }: BenchSettings): Promise<Result> {
  const model = createTransformer(presetConfig('reference', task));
  // The reference throughput setting (README, "Toy tasks"): Adam at 1e-3, no schedule, no clipping (the peer has none).
  const trainer = new Trainer({ model, learningRate: 1e-3, clipNorm: Infinity });
  const batches = referenceBatches(steps);
  const tokensPerBatch = batches.map((b) => b.decoderTarget.reduce((n, id) => n + (id !== 0 ? 1 : 0), 0));
  let next = 0;
  const timing = await measureWithin(
    async () => {
      await trainer.step(batches[next]);
      next = (next + 1) % batches.length;
    },
    { warmup: trainReferenceWarmupSteps(steps), repeats, units: steps, maxSeconds },
  );
  const meanTokens = tokensPerBatch.reduce((a, b) => a + b, 0) / tokensPerBatch.length;
  model.dispose();
  trainer.optimizer.dispose();
  if ('skipped' in timing) return { name: 'train-reference', backend: tf.getBackend(), batch: 64, ...timing };
  return {
    name: 'train-reference',
    backend: tf.getBackend(),
    stepsPerSecond: round(1000 / timing.medianMs),
    tokensPerSecond: round((meanTokens * 1000) / timing.medianMs),
    msPerStep: round(timing.medianMs),
    repeatsMs: timing.repeatsMs,
    spread: timing.spread,
    batch: 64,
    targetTokensPerRepeat: tokensPerBatch.reduce((a, b) => a + b, 0),
  };
}

export async function decodeGreedy({ repeats, maxSeconds = Infinity }: BenchSettings): Promise<Result[]> {
  const model = createTransformer(presetConfig('reference', task));
  const results: Result[] = [];
  // cached: the key/value cache (the decoder one position a step); uncached: the whole model per step.
  const variants = {
    Cached: { useCache: true },
    Uncached: { useCache: false },
  } as const;
  for (const batch of [1, 64]) {
    const sources = decodeSamples(batch).map((s) => s.source);
    const row: Result = {
      name: 'decode-greedy',
      backend: tf.getBackend(),
      batch,
      targetLength: task.maxTargetLength,
    };
    for (const [label, options] of Object.entries(variants)) {
      const timing = await measureWithin(
        () => void decode(model, sources, { maxLength: task.maxTargetLength, ignoreEos: true, ...options }),
        { warmup: 2, repeats, units: batch === 1 ? 5 : 1, maxSeconds },
      );
      if ('skipped' in timing) {
        row.skipped = `msPerSequence${label}: ${timing.skipped}`;
        break;
      }
      row[`msPerSequence${label}`] = round(timing.medianMs / batch);
    }
    if (row.skipped == null) {
      row.msPerSequence = row.msPerSequenceCached;
      row.cacheSpeedup = round((row.msPerSequenceUncached as number) / (row.msPerSequenceCached as number));
    }
    results.push(row);
  }
  model.dispose();
  return results;
}

/**
 * One MultiHeadAttention self-attention call, no mask: forward + backward (grads of the input and
 * every weight) and forward alone, with the peak bytes tfjs held during one call (tf.profile).
 */
export async function attentionForwardBackward({
  repeats,
  attentionSizes = ATTENTION_SIZES,
  maxSeconds = Infinity,
}: BenchSettings): Promise<Result[]> {
  const results: Result[] = [];
  for (const [B, T, D, H] of attentionSizes) {
    const layer = new MultiHeadAttention({ numHeads: H, keyDim: D / H });
    const x = tf.variable(tf.randomNormal([B, T, D]));
    tf.dispose(layer.apply(x) as tf.Tensor);
    const variables = [x, ...layer.trainableWeights.map((w) => w.read() as tf.Variable)];
    const calls = {
      'forward-backward': () => {
        const { value, grads } = tf.variableGrads(() => (layer.apply(x) as tf.Tensor).sum() as tf.Scalar, variables);
        value.dataSync();
        tf.dispose([value, ...Object.values(grads)]);
      },
      forward: () => {
        const y = layer.apply(x) as tf.Tensor;
        y.dataSync();
        y.dispose();
      },
    };
    for (const [mode, call] of Object.entries(calls)) {
      const size = { name: 'attention-forward-backward' as const, backend: tf.getBackend(), B, T, D, H, mode };
      const baseBytes = tf.memory().numBytes;
      const peakBytes = (await tf.profile(call)).peakBytes - baseBytes;
      const units = await calibratedUnits(call, { maxSeconds });
      const timing = await measureWithin(call, { warmup: 2, repeats, units, maxSeconds });
      if ('skipped' in timing) results.push({ ...size, skipped: timing.skipped });
      else results.push({ ...size, msPerCall: round(timing.medianMs), peakBytes, spread: timing.spread });
    }
    layer.dispose();
    x.dispose();
  }
  return results;
}

/**
 * A training step of a model users write with tfjs's own layers: dense -> tf.layers.layerNormalization
 * (rank 3) -> dense to 65 classes, B 16, T 128, D 128, Adam, softmax cross-entropy. Timed three ways,
 * repeats alternating in this one run: all tfjs 4.22's own (the layer's call, which tiles its
 * moments, gamma and beta to the input's shape, and the Tile gradient, a Slice and an Add per
 * repetition); tfjs's call with `installGradientFixes`'s Tile gradient; and as `initBackend` leaves
 * it, the layers' calls through the fused kernels (`installLayerFixes`: the layer norm and the first,
 * linear, dense layer; 65 units are not whole vectors). `ratio` is all tfjs's
 * median over ours, `ratioTfjsCall` the second's over ours.
 */
export async function tfjsLayerNormStep({ repeats }: BenchSettings): Promise<Result> {
  const [B, T, D, classes] = [16, 128, 128, 65];
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [T, D], units: D }),
      tf.layers.layerNormalization(),
      tf.layers.dense({ units: classes }),
    ],
  });
  const x = tf.randomNormal([B, T, D]);
  const y = tf.tidy(() => tf.oneHot(tf.randomUniform([B, T], 0, classes, 'int32'), classes).cast('float32'));
  const optimizer = tf.train.adam(1e-3);
  const step = () => {
    const loss = optimizer.minimize(
      () => tf.losses.softmaxCrossEntropy(y, model.apply(x) as tf.Tensor) as tf.Scalar,
      true,
    );
    loss!.dataSync();
    loss!.dispose();
  };
  type Way = 'tfjs' | 'tfjsCall' | 'ours';
  const install = (way: Way) => {
    installGradientFixes({ replaceTfjsGradients: way !== 'tfjs' });
    installLayerFixes({ replaceTfjsCalls: way === 'ours' });
  };
  const ways = ['tfjs', 'tfjsCall', 'ours'] as const;
  // Each way's kernels a step, counted once: a profiled step is not a timed one.
  const kernels = {} as Record<Way, number>;
  for (const way of ways) {
    install(way);
    kernels[way] = (await tf.profile(step)).kernels.length;
  }
  const runs: Record<Way, number[]> = { tfjs: [], tfjsCall: [], ours: [] };
  for (let i = 0; i < repeats; i++) {
    for (const way of ways) {
      install(way);
      runs[way].push((await measure(step, { warmup: 1, repeats: 1, units: 3 })).medianMs);
    }
  }
  install('ours');
  const medianMs = (way: Way) => median(runs[way]);
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
  return {
    name: 'tfjs-layer-norm-step',
    backend: tf.getBackend(),
    B,
    T,
    D,
    msPerStepTfjsTileGradient: round(medianMs('tfjs')),
    msPerStepTfjsCall: round(medianMs('tfjsCall')),
    msPerStep: round(medianMs('ours')),
    kernelsPerStepTfjsTileGradient: kernels.tfjs,
    kernelsPerStepTfjsCall: kernels.tfjsCall,
    kernelsPerStep: kernels.ours,
    ratio: round(medianMs('tfjs') / medianMs('ours')),
    ratioTfjsCall: round(medianMs('tfjsCall') / medianMs('ours')),
  };
}

/** Why a benchmark of BENCHMARKS is not in PORTABLE_CASES. */
export const NODE_ONLY: Partial<Record<BenchName, string>> = {
  'time-to-accuracy':
    "it needs Node: it runs the training command's loop (src/train/run.ts), which reads and writes files",
};

/** The benchmarks that need no Node API, by name (every one but NODE_ONLY's). */
export const PORTABLE_CASES: Partial<Record<BenchName, (settings: BenchSettings) => Promise<Result | Result[]>>> = {
  'train-reference': trainReference,
  'decode-greedy': decodeGreedy,
  'attention-forward-backward': attentionForwardBackward,
  'tfjs-layer-norm-step': tfjsLayerNormStep,
  'train-gpt-char': ({ repeats, maxSeconds }) =>
    trainGptChar({ repeats, maxSeconds, batches: gptCharBatches(gptCharText(), GPT_CHAR_STEPS) }),
  'generate-gpt': generateGpt,
};
