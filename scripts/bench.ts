/**
 * Benchmarks of the reference configuration (README, "Toy tasks"), optionally
 * side by side with the PyTorch peer measured in the same invocation.
 *
 *   npm run bench                                  # every benchmark, a table
 *   npm run bench -- --json --only train-reference # one JSON line
 *   npm run bench -- --peer torch                  # and PyTorch's figures, with ratios
 *   npm run bench -- --json --only time-to-accuracy --task addition --seed 2 --keep
 *   npm run bench -- --browser --repeats 3          # in headless Chromium, on wasm then webgl
 *
 * --browser runs the benchmarks in headless Chromium (scripts/bench/browser.ts) instead of Node,
 * on wasm and on webgl (here SwiftShader, software GL: `glRenderer`, `softwareGl` say so); the
 * peer still runs in Node. time-to-accuracy needs Node and says so.
 *
 * Flags: --json, --only NAME (repeatable), --peer torch, --backend NAME, --browser,
 * --repeats N, --steps N (training steps per repeat), --threads SPEC (the peer's thread configurations to
 * try: 'all', the default, for PyTorch's 1 or 2 intra-op threads by OpenBLAS's 1 or 2; N for N and N;
 * or TxB[,TxB...]; each peer figure is its fastest configuration's, scripts/peers/peer_threads.py),
 * --task NAME and --seed N (time-to-accuracy: the task's default recipe, default reverse and 1),
 * --keep (append the lines, with date, start and end times and the command, to models/BENCHMARKS.jsonl).
 *
 * In Node, generate-gpt also times @genai-fi/nanogpt's GPT generating with its own cache, in turn
 * with ours in this process (scripts/bench/nanogpt.ts): the `nanogpt` figures and `speedRatioNanogpt`.
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

import { initBackend, sharedHeapByDefault } from '../src/backend';
import { createTask, createTrainingStream, encodeBatch, heldOutSet, TASK_NAMES, TaskName } from '../src/tasks';
import { machineInfo, round } from '../src/train/benchmark';
import { checkFlagNames } from '../src/train/options';
import { balancedShare } from '../src/train/recipe';

import { benchTempFile, writeInt32File } from './bench/batch_file';
import {
  BENCHMARKS,
  BenchName,
  BenchSettings,
  decodeSamples,
  PORTABLE_CASES,
  referenceBatches,
  Result,
  task,
  trainReferenceWarmupSteps,
} from './bench/cases';
import { generateGpt } from './bench/generate_gpt';
import { GPT_CHAR_STEPS, gptCharBatches, gptCharText } from './bench/gpt_char';
import { nanogptPeer } from './bench/nanogpt';

const USAGE =
  'Usage: npm run bench -- [--json] [--only NAME]... [--peer torch] [--backend NAME] [--browser] ' +
  '[--repeats N] [--steps N] [--threads all|N|TxB,...] [--task NAME] [--seed N] [--keep]\n' +
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
  browser: { type: 'boolean', default: false },
  repeats: { type: 'string', default: '5' },
  steps: { type: 'string', default: '20' },
  threads: { type: 'string', default: 'all' },
  task: { type: 'string', default: 'reverse' },
  seed: { type: 'string', default: '1' },
  keep: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;
let parsed: ReturnType<typeof parseArgs<{ options: typeof BENCH_OPTIONS }>>['values'];
try {
  checkFlagNames(process.argv.slice(2), BENCH_OPTIONS);
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
const peerThreads = parsed.threads!;
if (!/^(all|\d+|\d+x\d+(,\d+x\d+)*)$/.test(peerThreads))
  fail(`--threads must be 'all', N or TxB[,TxB...] (PyTorch x BLAS threads), got '${peerThreads}'`);
const only = (parsed.only ?? [...BENCHMARKS]) as BenchName[];
for (const name of only) if (!BENCHMARKS.includes(name)) fail(`unknown benchmark '${name}'`);
if (parsed.peer != null && parsed.peer !== 'torch') fail(`unknown peer '${parsed.peer}'; the peer is 'torch'`);
const ttaTask = parsed.task as TaskName;
if (!TASK_NAMES.includes(ttaTask)) fail(`--task must be one of ${TASK_NAMES.join(', ')}, got '${parsed.task}'`);
const ttaSeed = Number(parsed.seed);
if (!Number.isInteger(ttaSeed) || ttaSeed < 0) fail(`--seed must be an integer >= 0, got '${parsed.seed}'`);
if (parsed.peer === 'torch' && ttaTask !== 'reverse' && only.includes('time-to-accuracy'))
  fail(`--peer torch trains reverse only; time-to-accuracy with --task ${ttaTask} has no peer`);

/** The files the peer reads: our batches, sources and held-out set, so it does the work we timed. */
const REFERENCE_BATCHES = benchTempFile('reference-batches');
const DECODE_SOURCES = benchTempFile('decode-sources');
const GPT_CHAR_BATCHES = benchTempFile('gpt-char');
/** time-to-accuracy's training stream (every batch the recipe allows) and held-out sources. */
const TTA_BATCHES = benchTempFile('time-to-accuracy-batches');
const TTA_HELD_OUT = benchTempFile('time-to-accuracy-held-out');

/** Writes what the peer of `name` reads, with our benchmarks' own functions (time-to-accuracy writes its own). */
function writePeerInputs(name: BenchName): void {
  if (name === 'train-reference') {
    const batches = referenceBatches(stepsPerRepeat);
    writeInt32File(
      REFERENCE_BATCHES,
      batches.flatMap((b) => [b.source, b.decoderInput, b.decoderTarget]),
    );
  } else if (name === 'decode-greedy') {
    writeInt32File(
      DECODE_SOURCES,
      [1, 64].map((batch) => encodeBatch(task, decodeSamples(batch)).source),
    );
  } else if (name === 'train-gpt-char') {
    writeInt32File(GPT_CHAR_BATCHES, [gptCharBatches(gptCharText(), GPT_CHAR_STEPS)]);
  }
}

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

/**
 * generate-gpt in Node: @genai-fi/nanogpt's generation timed in turn with ours in this process
 * (scripts/bench/nanogpt.ts; without it, the line says why), and the load average around it.
 */
async function generateGptWithNanogpt(settings: BenchSettings): Promise<Result[]> {
  const loadBefore = loadavg()[0];
  let peer: Awaited<ReturnType<typeof nanogptPeer>> | undefined;
  let peerFailed: string | undefined;
  try {
    peer = await nanogptPeer();
  } catch (error) {
    peerFailed = (error as Error).message;
    console.error(`bench: the nanogpt peer of generate-gpt failed: ${peerFailed}`);
  }
  try {
    const rows = await generateGpt(settings, peer);
    const loadAvg1m = [round(loadBefore), round(loadavg()[0])];
    return rows.map((row) => ({
      ...row,
      ...(peerFailed != null ? { nanogpt: { failed: peerFailed } } : {}),
      loadAvg1m,
    }));
  } finally {
    peer?.dispose();
  }
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
    String(trainReferenceWarmupSteps(stepsPerRepeat)),
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
  'generate-gpt': () => ['--repeats', String(repeats)],
};

/** The peer script of each benchmark: torch_reverse.py unless named here. */
const PEER_SCRIPTS: Partial<Record<BenchName, string>> = {
  'train-gpt-char': 'torch_gpt_char.py',
  'generate-gpt': 'torch_generate_gpt.py',
};

function runPeer(name: BenchName, ours: Result[]): Array<Record<string, unknown>> {
  const python = '/usr/bin/python3';
  const script = join(__dirname, 'peers', PEER_SCRIPTS[name] ?? 'torch_reverse.py');
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (!existsSync(python) || probe.status !== 0) {
    throw new Error(`the torch peer needs Debian's python3-torch: apt-get install python3-torch libopenblas0-pthread`);
  }
  // OpenBLAS picks its kernels and block sizes when it loads, from these if they are set: unset, it
  // takes the ones it detects for this CPU.
  const { OPENBLAS_CORETYPE: _coreType, OPENBLAS_L2_SIZE: _l2Size, ...env } = process.env;
  const run = spawnSync(python, [script, ...(PEER_ARGS[name]?.(ours) ?? []), '--threads', peerThreads], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
    env,
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
    case 'generate-gpt':
      // Cached against the peer's own cached loop; uncached against its uncached.
      return {
        speedRatio: ratio(peer.msPerTokenCached, ours.msPerTokenCached),
        speedRatioUncached: ratio(peer.msPerTokenUncached, ours.msPerTokenUncached),
      };
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
  const settings = { repeats, steps: stepsPerRepeat };
  const peerLines = new Map<BenchName, Array<Record<string, unknown>>>();
  // Once per benchmark, even when the browser runs it on two backends.
  const peersOf = (name: BenchName, ours: Result[]) => {
    if (parsed.peer !== 'torch' || PEER_ARGS[name] == null) return [];
    if (!peerLines.has(name)) {
      try {
        writePeerInputs(name);
        peerLines.set(name, runPeer(name, ours));
      } catch (error) {
        console.error(`bench: ${(error as Error).message}`);
        peerLines.set(name, []);
      }
    }
    return peerLines.get(name)!;
  };
  const print = (ours: Result[], machine: Record<string, unknown>) => {
    for (const result of ours) {
      const peer = result.skipped == null ? matchPeer(result, peersOf(result.name, ours)) : undefined;
      const line = {
        ...result,
        ...(peer ? { peer: { name: 'torch', ...peer }, ...compare(result, peer) } : {}),
        machine,
      };
      if (parsed.json) console.log(JSON.stringify(line));
      else console.log(formatLine(line));
      kept.push(line);
    }
  };

  if (parsed.browser) {
    const { benchInChromium, PAGE_BACKENDS } = await import('./bench/browser');
    const backends = parsed.backend != null ? [parsed.backend] : PAGE_BACKENDS;
    for (const name of backends) {
      if (!(PAGE_BACKENDS as readonly string[]).includes(name))
        fail(`--backend with --browser must be one of ${PAGE_BACKENDS.join(', ')}, got '${name}'`);
    }
    // The host's CPU and cores, with what the page ran on in place of Node and its tfjs backend.
    const { cpu, vectorExtensions, cpuFamily, cpuModelNumber, cores } = machineInfo();
    const announced = new Set<string>();
    // The page follows the variable that sets the shared heap in Node (scripts/run.cjs sets it).
    const sharedHeap = sharedHeapByDefault();
    await benchInChromium({ only, backends, settings, sharedHeap }, (lines, page) => {
      const machine = {
        cpu,
        vectorExtensions,
        cpuFamily,
        cpuModelNumber,
        cores,
        runtime: 'chromium',
        chromium: page.chromium,
        tfjs: page.tfjs,
        backend: page.backend,
        wasmThreads: page.wasmThreads,
        kernelThreads: page.kernelThreads,
        relaxedSimd: page.relaxedSimd,
        sharedHeap: page.sharedHeap,
        crossOriginIsolated: page.crossOriginIsolated,
        fusedAttention: page.fusedAttention,
      };
      if (!parsed.json && !announced.has(page.backend)) {
        announced.add(page.backend);
        const gl = page.backend === 'webgl' ? { glRenderer: page.glRenderer } : {};
        console.log(`machine: ${JSON.stringify({ ...machine, ...gl })}`);
      }
      print(lines, machine);
    });
  } else {
    const backend = await initBackend(parsed.backend, { quiet: parsed.json });
    const machine = machineInfo();
    if (!parsed.json) console.log(`machine: ${JSON.stringify(machine)}`);
    for (const name of only) {
      const run =
        name === 'time-to-accuracy'
          ? timeToAccuracy
          : name === 'generate-gpt'
            ? generateGptWithNanogpt
            : PORTABLE_CASES[name]!;
      print([await run(settings)].flat(), { ...machine, backend });
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
  const { machine: _machine, peer, skipped, nanogpt, ...rest } = line;
  const own = Object.entries(rest)
    // The renderer is in the machine line above the lines of its page.
    .filter(([k]) => !k.startsWith('repeatsMs') && k !== 'glRenderer')
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join(' ');
  if (skipped != null) return `skipped: ${own}: ${skipped}`;
  const n = nanogpt as Record<string, unknown> | undefined;
  const js = n
    ? `\n    nanogpt ${n.version ?? ''}: ` +
      Object.entries(n)
        .filter(([k]) => k.startsWith('msPerToken') || k.startsWith('kernels') || k === 'failed')
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')
    : '';
  if (!peer) return own + js;
  const p = peer as Record<string, unknown>;
  const shared = [
    'tokensPerSecond',
    'msPerStep',
    'msPerSequence',
    'msPerCall',
    'msPerTokenCached',
    'msPerTokenUncached',
    'steps',
    'seconds',
  ].filter((k) => k in p);
  const threads = p.threads as { torch: number; blas: number } | undefined;
  const config = threads
    ? `PyTorch ${threads.torch} thread(s), BLAS ${threads.blas}, of ${JSON.stringify(p.threadConfigs)}`
    : '';
  return `${own}\n    torch: ${shared.map((k) => `${k}=${p[k]}`).join(' ')} (${config})${js}`;
}

main().catch((error) => {
  console.error(`bench: ${(error as Error).stack ?? error}`);
  process.exit(1);
});
