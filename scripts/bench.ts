/**
 * Benchmarks of the reference configuration (README, "Toy tasks"), optionally
 * side by side with the PyTorch peer measured in the same invocation.
 *
 *   npm run bench                                  # every benchmark, a table
 *   npm run bench -- --json --only train-reference # one JSON line
 *   npm run bench -- --peer torch                  # and PyTorch's figures, with ratios
 *   npm run bench -- --json --only time-to-accuracy --task addition --seed 2 --keep
 *
 * Flags: --json, --only NAME (repeatable), --peer torch, --backend NAME,
 * --repeats N, --steps N (training steps per repeat), --threads N (peer),
 * --task NAME and --seed N (time-to-accuracy: the task's default recipe, default reverse and 1),
 * --keep (append the lines, with date, start and end times and the command, to models/BENCHMARKS.jsonl).
 *
 * With --peer torch the peer does our work, not its own: it trains train-reference on our batches and
 * decodes decode-greedy's sources (temporary files, scripts/bench/batch_file.ts), and trains
 * time-to-accuracy with the recipe our run reports, on our run's batches, scored on our held-out set.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/backend';
import { installGradientFixes } from '../src/kernels/tile_gradient';
import { MultiHeadAttention } from '../src/layers/multi_head_attention';
import { presetConfig } from '../src/model/config';
import { decode } from '../src/decode/decode';
import { createTransformer } from '../src/model/transformer';
import { TYPED_ARRAY_MAX_ROWS } from '../src/decode/typed_array_step';
import {
  createTask,
  createTrainingStream,
  encodeBatch,
  generateSamples,
  heldOutSet,
  TASK_NAMES,
  TaskName,
} from '../src/tasks';
import { machineInfo, measure, median, round } from '../src/train/benchmark';
import { balancedShare } from '../src/train/recipe';
import { Trainer } from '../src/train/trainer';

import { benchTempFile, writeInt32File } from './bench/batch_file';
import { trainGptChar } from './bench/gpt_char';

const BENCHMARKS = [
  'train-reference',
  'decode-greedy',
  'attention-forward-backward',
  'time-to-accuracy',
  'tfjs-layer-norm-step',
  'train-gpt-char',
] as const;
type BenchName = (typeof BENCHMARKS)[number];
type Result = { name: BenchName } & Record<string, unknown>;

const USAGE =
  'Usage: npm run bench -- [--json] [--only NAME]... [--peer torch] [--backend NAME] ' +
  '[--repeats N] [--steps N] [--threads N] [--task NAME] [--seed N] [--keep]\n' +
  `Benchmarks: ${BENCHMARKS.join(', ')}`;

function fail(message: string): never {
  console.error(`bench: ${message}\n${USAGE}`);
  process.exit(2);
}

// ---- arguments -------------------------------------------------------------
const BENCH_OPTIONS = {
  json: { type: 'boolean', default: false },
  only: { type: 'string', multiple: true },
  peer: { type: 'string' },
  backend: { type: 'string' },
  repeats: { type: 'string', default: '5' },
  steps: { type: 'string', default: '20' },
  threads: { type: 'string', default: '1' },
  task: { type: 'string', default: 'reverse' },
  seed: { type: 'string', default: '1' },
  keep: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;
let parsed: ReturnType<typeof parseArgs<{ options: typeof BENCH_OPTIONS }>>['values'];
try {
  parsed = parseArgs({
    options: BENCH_OPTIONS,
  }).values;
} catch (error) {
  fail((error as Error).message);
}
if (parsed.help) {
  console.log(USAGE);
  process.exit(0);
}
const positiveInt = (flag: string, text: string) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) fail(`--${flag} must be a positive integer, got '${text}'`);
  return n;
};
const repeats = positiveInt('repeats', parsed.repeats!);
const stepsPerRepeat = positiveInt('steps', parsed.steps!);
const peerThreads = positiveInt('threads', parsed.threads!);
const only = (parsed.only ?? [...BENCHMARKS]) as BenchName[];
for (const name of only) if (!BENCHMARKS.includes(name)) fail(`unknown benchmark '${name}'`);
if (parsed.peer != null && parsed.peer !== 'torch') fail(`unknown peer '${parsed.peer}'; the peer is 'torch'`);
const ttaTask = parsed.task as TaskName;
if (!TASK_NAMES.includes(ttaTask)) fail(`--task must be one of ${TASK_NAMES.join(', ')}, got '${parsed.task}'`);
const ttaSeed = Number(parsed.seed);
if (!Number.isInteger(ttaSeed) || ttaSeed < 0) fail(`--seed must be an integer >= 0, got '${parsed.seed}'`);
if (parsed.peer === 'torch' && ttaTask !== 'reverse' && only.includes('time-to-accuracy'))
  fail(`--peer torch trains reverse only; time-to-accuracy with --task ${ttaTask} has no peer`);

// ---- the reference configuration ---------------------------------------------
const task = createTask('reverse');

/** Where train-reference's batches and decode-greedy's sources go for the peer, which trains and decodes on them. */
const REFERENCE_BATCHES = benchTempFile('reference-batches');
const DECODE_SOURCES = benchTempFile('decode-sources');

async function trainReference(): Promise<Result> {
  const model = createTransformer(presetConfig('reference', task));
  // The reference throughput setting (README, "Toy tasks"): Adam at 1e-3, no schedule, no clipping (the peer has none).
  const trainer = new Trainer({ model, learningRate: 1e-3, clipNorm: Infinity });
  const stream = createTrainingStream(task, 1);
  const batches = Array.from({ length: stepsPerRepeat }, () => encodeBatch(task, stream.nextBatch(64)));
  writeInt32File(
    REFERENCE_BATCHES,
    batches.flatMap((b) => [b.source, b.decoderInput, b.decoderTarget]),
  );
  const tokensPerBatch = batches.map((b) => b.decoderTarget.reduce((n, id) => n + (id !== 0 ? 1 : 0), 0));
  let next = 0;
  const timing = await measure(
    async () => {
      await trainer.step(batches[next]);
      next = (next + 1) % batches.length;
    },
    { warmup: 5, repeats, units: stepsPerRepeat },
  );
  const meanTokens = tokensPerBatch.reduce((a, b) => a + b, 0) / tokensPerBatch.length;
  model.dispose();
  trainer.optimizer.dispose();
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

async function decodeGreedy(): Promise<Result[]> {
  const model = createTransformer(presetConfig('reference', task));
  const results: Result[] = [];
  // cached: the default (typed-array steps up to TYPED_ARRAY_MAX_ROWS rows, tfjs kernels above);
  // cachedTfjsSteps: the cache with tfjs kernels at every batch; uncached: the whole model per step.
  const variants = {
    Cached: { useCache: true },
    CachedTfjsSteps: { useCache: true, decoderStep: 'tfjs' },
    Uncached: { useCache: false },
  } as const;
  const sourcesOf = (batch: number) => generateSamples(task, batch, 7);
  writeInt32File(DECODE_SOURCES, [encodeBatch(task, sourcesOf(1)).source, encodeBatch(task, sourcesOf(64)).source]);
  for (const batch of [1, 64]) {
    const sources = sourcesOf(batch).map((s) => s.source);
    const row: Result = {
      name: 'decode-greedy',
      backend: tf.getBackend(),
      batch,
      targetLength: task.maxTargetLength,
      cachedSteps: batch <= TYPED_ARRAY_MAX_ROWS ? 'typed-arrays' : 'tfjs',
    };
    for (const [label, options] of Object.entries(variants)) {
      const timing = await measure(
        () => void decode(model, sources, { maxLength: task.maxTargetLength, ignoreEos: true, ...options }),
        {
          warmup: 2,
          repeats,
          units: batch === 1 ? 5 : 1,
        },
      );
      row[`msPerSequence${label}`] = round(timing.medianMs / batch);
    }
    row.msPerSequence = row.msPerSequenceCached;
    row.cacheSpeedup = round((row.msPerSequenceUncached as number) / (row.msPerSequenceCached as number));
    results.push(row);
  }
  model.dispose();
  return results;
}

/**
 * One MultiHeadAttention self-attention call, no mask: forward + backward (grads of the input and
 * every weight) and forward alone, with the peak bytes tfjs held during one call (tf.profile).
 * The sizes are the peer's ATTENTION_SIZES.
 */
async function attentionForwardBackward(): Promise<Result[]> {
  const results: Result[] = [];
  for (const [B, T, D, H] of [
    [64, 13, 64, 4],
    [16, 64, 128, 8],
    [1, 128, 256, 8],
    [4, 256, 128, 4],
    [1, 512, 256, 8],
    [1, 1024, 256, 8],
  ]) {
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
      const baseBytes = tf.memory().numBytes;
      const peakBytes = (await tf.profile(call)).peakBytes - baseBytes;
      const timing = await measure(call, { warmup: 2, repeats, units: T >= 512 ? 1 : 5 });
      results.push({
        name: 'attention-forward-backward',
        backend: tf.getBackend(),
        B,
        T,
        D,
        H,
        mode,
        msPerCall: round(timing.medianMs),
        peakBytes,
        spread: timing.spread,
      });
    }
    layer.dispose();
    x.dispose();
  }
  return results;
}

/**
 * A training step of a model users write with tfjs's own layers: dense -> tf.layers.layerNormalization
 * (rank 3) -> dense to 65 classes, B 16, T 128, D 128, Adam, softmax cross-entropy. Timed with tfjs
 * 4.22's Tile gradient (a Slice and an Add per repetition) and with `installGradientFixes`'s, repeats
 * alternating in this one run; `ratio` is tfjs's median over ours.
 */
async function tfjsLayerNormStep(): Promise<Result> {
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
  const withGradient = async (tfjsOwn: boolean) => {
    installGradientFixes({ replaceTfjsGradients: !tfjsOwn });
    const kernels = (await tf.profile(step)).kernels.length;
    const timing = await measure(step, { warmup: 1, repeats: 1, units: 3 });
    return { kernels, ms: timing.medianMs };
  };
  const runs: Record<'tfjs' | 'ours', { kernels: number; ms: number }[]> = { tfjs: [], ours: [] };
  for (let i = 0; i < repeats; i++) {
    runs.tfjs.push(await withGradient(true));
    runs.ours.push(await withGradient(false));
  }
  installGradientFixes();
  const medianMs = (list: { ms: number }[]) => median(list.map((r) => r.ms));
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
  return {
    name: 'tfjs-layer-norm-step',
    backend: tf.getBackend(),
    B,
    T,
    D,
    msPerStepTfjsTileGradient: round(medianMs(runs.tfjs)),
    msPerStep: round(medianMs(runs.ours)),
    kernelsPerStepTfjsTileGradient: runs.tfjs[0].kernels,
    kernelsPerStep: runs.ours[0].kernels,
    ratio: round(medianMs(runs.tfjs) / medianMs(runs.ours)),
  };
}

/** Steps a repeat of train-gpt-char (a step is about a second here) and the file its batches go to. */
const GPT_CHAR_STEPS = 5;
const GPT_CHAR_BATCHES = benchTempFile('gpt-char');

/** time-to-accuracy's training stream (every batch the recipe allows) and held-out sources, for the peer. */
const TTA_BATCHES = benchTempFile('time-to-accuracy-batches');
const TTA_HELD_OUT = benchTempFile('time-to-accuracy-held-out');

async function timeToAccuracy(): Promise<Result> {
  // The training command's own loop with the task's default recipe, from scratch, until held-out
  // exact match >= 0.99. The load average says how much the other work on the machine slowed it.
  const { runTimeToAccuracy } = await import('../src/train/run');
  const loadBefore = loadavg()[0];
  const result = await runTimeToAccuracy({ task: ttaTask, target: 0.99, args: ['--seed', String(ttaSeed)] });
  // The batches the run drew, step by step as TrainingRun.train draws them (same task, seed and
  // share), and its held-out set: the peer learns from the same data and is scored on the same samples.
  const ttaTaskDefinition = createTask(ttaTask);
  const stream = createTrainingStream(ttaTaskDefinition, ttaSeed);
  const { steps, batch } = result.recipe;
  const batches = Array.from({ length: steps }, (_v, i) =>
    encodeBatch(ttaTaskDefinition, stream.nextBatch(batch, balancedShare(result.recipe, i + 1))),
  );
  writeInt32File(
    TTA_BATCHES,
    batches.flatMap((b) => [b.source, b.decoderInput, b.decoderTarget]),
  );
  writeInt32File(TTA_HELD_OUT, [encodeBatch(ttaTaskDefinition, heldOutSet(ttaTaskDefinition)).source]);
  return {
    name: 'time-to-accuracy',
    backend: tf.getBackend(),
    task: ttaTask,
    seed: ttaSeed,
    ...result,
    msPerStep: round((1000 * result.seconds) / result.steps),
    loadAvg1m: [round(loadBefore), round(loadavg()[0])],
  };
}

// ---- the peer ----------------------------------------------------------------
/**
 * The peer's command for each benchmark that has one (tfjs-layer-norm-step compares tfjs with itself),
 * from our results of it where the peer must do what we did.
 */
const PEER_ARGS: Partial<Record<BenchName, (ours: Result[]) => string[]>> = {
  'train-reference': () => [
    '--bench',
    'train',
    '--batches',
    REFERENCE_BATCHES,
    '--steps',
    String(stepsPerRepeat),
    '--warmup',
    '5',
    '--repeats',
    String(repeats),
  ],
  'decode-greedy': () => ['--bench', 'decode', '--sources', DECODE_SOURCES, '--repeats', String(repeats)],
  'attention-forward-backward': () => ['--bench', 'attention', '--repeats', String(repeats)],
  // The recipe our run reports, so the two cannot drift apart; the same seed for data and initialization.
  'time-to-accuracy': ([ours]) => [
    '--bench',
    'time-to-accuracy',
    '--recipe-json',
    JSON.stringify(ours.recipe),
    '--batches',
    TTA_BATCHES,
    '--held-out',
    TTA_HELD_OUT,
    '--seed',
    String(ttaSeed),
    '--max-seconds',
    '600',
  ],
  'train-gpt-char': () => [
    '--batches',
    GPT_CHAR_BATCHES,
    '--steps',
    String(GPT_CHAR_STEPS),
    '--repeats',
    String(repeats),
  ],
};

/** The peer script of each benchmark: torch_reverse.py unless named here. */
const PEER_SCRIPTS: Partial<Record<BenchName, string>> = { 'train-gpt-char': 'torch_gpt_char.py' };

function runPeer(name: BenchName, ours: Result[]): Array<Record<string, unknown>> {
  const python = '/usr/bin/python3';
  const script = join(__dirname, 'peers', PEER_SCRIPTS[name] ?? 'torch_reverse.py');
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (!existsSync(python) || probe.status !== 0) {
    throw new Error(`the torch peer needs Debian's python3-torch: apt-get install python3-torch libopenblas0-pthread`);
  }
  const run = spawnSync(python, [script, ...(PEER_ARGS[name]?.(ours) ?? []), '--threads', String(peerThreads)], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (run.status !== 0) throw new Error(`torch peer failed for ${name}: ${run.stderr.trim().split('\n').pop()}`);
  return run.stdout
    .split('\n')
    .filter((line) => line.trim().startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Project/peer ratios of the shared figures (higher is better for the project). */
function compare(ours: Result, peer: Record<string, unknown> | undefined): Record<string, number> {
  if (!peer) return {};
  const ratio = (a: unknown, b: unknown) =>
    typeof a === 'number' && typeof b === 'number' && b !== 0 ? round(a / b) : NaN;
  switch (ours.name) {
    case 'train-reference':
      // The same batches on both sides, so the two ratios agree; ms/step is the figure the issue asked for.
      return {
        msPerStepRatio: ratio(peer.msPerStep, ours.msPerStep),
        tokensPerSecondRatio: ratio(ours.tokensPerSecond, peer.tokensPerSecond),
      };
    case 'decode-greedy':
      // The peer has no key/value cache: like against like is uncached against uncached. speedRatio
      // (our cached decoding against it) stays under its old name, which the README's table reads.
      return {
        speedRatioUncached: ratio(peer.msPerSequence, ours.msPerSequenceUncached),
        speedRatioCachedVsPeerUncached: ratio(peer.msPerSequence, ours.msPerSequenceCached),
        speedRatio: ratio(peer.msPerSequence, ours.msPerSequence),
      };
    case 'attention-forward-backward':
      return { speedRatio: ratio(peer.msPerCall, ours.msPerCall) };
    case 'time-to-accuracy':
      return { speedRatio: ratio(peer.seconds, ours.seconds), stepsRatio: ratio(peer.steps, ours.steps) };
    case 'train-gpt-char':
      return { tokensPerSecondRatio: ratio(ours.tokensPerSecond, peer.tokensPerSecond) };
    case 'tfjs-layer-norm-step':
      return {};
  }
}

function matchPeer(ours: Result, peers: Array<Record<string, unknown>>): Record<string, unknown> | undefined {
  if (ours.name === 'decode-greedy') return peers.find((p) => p.batch === ours.batch);
  if (ours.name === 'attention-forward-backward')
    return peers.find(
      (p) => p.B === ours.B && p.T === ours.T && p.D === ours.D && (p.mode ?? 'forward-backward') === ours.mode,
    );
  return peers[0];
}

// ---- run -----------------------------------------------------------------------
async function main(): Promise<void> {
  const startedAt = new Date();
  const kept: Array<Record<string, unknown>> = [];
  const backend = await initBackend(parsed.backend, { quiet: parsed.json });
  const machine = machineInfo();
  if (!parsed.json) console.log(`machine: ${JSON.stringify(machine)}`);
  const cases: Record<BenchName, () => Promise<Result | Result[]>> = {
    'train-reference': trainReference,
    'decode-greedy': decodeGreedy,
    'attention-forward-backward': attentionForwardBackward,
    'time-to-accuracy': timeToAccuracy,
    'tfjs-layer-norm-step': tfjsLayerNormStep,
    'train-gpt-char': () => trainGptChar({ repeats, steps: GPT_CHAR_STEPS, batchFile: GPT_CHAR_BATCHES }),
  };
  for (const name of only) {
    const ours = [await cases[name]()].flat();
    let peers: Array<Record<string, unknown>> = [];
    if (parsed.peer === 'torch' && PEER_ARGS[name] != null) {
      try {
        peers = runPeer(name, ours);
      } catch (error) {
        console.error(`bench: ${(error as Error).message}`);
      }
    }
    for (const result of ours) {
      const peer = matchPeer(result, peers);
      const line = {
        ...result,
        ...(peer ? { peer: { name: 'torch', ...peer }, ...compare(result, peer) } : {}),
        machine: { ...machine, backend },
      };
      if (parsed.json) console.log(JSON.stringify(line));
      else console.log(formatLine(line));
      kept.push(line);
    }
  }
  if (parsed.keep) {
    const stamp = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');
    const args = process.argv.slice(2).filter((a) => a !== '--keep');
    const header = {
      date: stamp(startedAt).slice(0, 10),
      startedAt: stamp(startedAt),
      finishedAt: stamp(new Date()),
      benchCommand: `npm run bench -- ${args.join(' ')}`,
    };
    const file = join(__dirname, '..', 'models', 'BENCHMARKS.jsonl');
    appendFileSync(file, kept.map((line) => `${JSON.stringify({ ...header, ...line })}\n`).join(''));
    if (!parsed.json) console.log(`kept ${kept.length} line(s) in ${file}`);
  }
}

function formatLine(line: Record<string, unknown>): string {
  const { machine: _machine, peer, ...rest } = line;
  const own = Object.entries(rest)
    .filter(([k]) => k !== 'repeatsMs')
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join(' ');
  if (!peer) return own;
  const p = peer as Record<string, unknown>;
  const shared = ['tokensPerSecond', 'msPerStep', 'msPerSequence', 'msPerCall', 'steps', 'seconds'].filter(
    (k) => k in p,
  );
  return `${own}\n    torch: ${shared.map((k) => `${k}=${p[k]}`).join(' ')} (threads ${p.threads})`;
}

main().catch((error) => {
  console.error(`bench: ${(error as Error).stack ?? error}`);
  process.exit(1);
});
