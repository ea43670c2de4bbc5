/**
 * Timing helpers for `npm run bench`: warm-up, several timed repeats, median
 * and spread, and a description of the machine, so that every figure printed
 * says what it measured and where.
 */
import * as tf from '@tensorflow/tfjs';
import { relaxedSimdKernels, sharedHeapKernels } from '../kernels/simd_kernels';
import { kernelThreads } from '../kernels/threads';

export interface Timing {
  /** Median over repeats of the milliseconds per unit of work. */
  medianMs: number;
  /** Milliseconds per unit of work of each repeat. */
  repeatsMs: number[];
  /** (max - min) / median of repeatsMs: how noisy the machine was. */
  spread: number;
}

/**
 * Runs `work` `warmup` times untimed, then `repeats` timed rounds of `units`
 * calls each; returns the per-call milliseconds.
 */
export async function measure(
  work: () => void | Promise<void>,
  { warmup = 2, repeats = 5, units = 1 }: { warmup?: number; repeats?: number; units?: number } = {},
): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await work();
  return summarize((await timedRounds(work, repeats, units, Infinity)).repeatsMs);
}

/**
 * `measure`, unless its calls would take longer than `maxSeconds`: then, instead of the timing,
 * why not. The first warm-up call pays for what the backend compiles (webgl's shaders); the
 * second, timed until the backend has finished it, says what the rest would take, and when that
 * is over the budget they are not run. One call can still be a low estimate (other work on the
 * machine, a backend that slows as it runs), so the calls also stop once the budget, counted from
 * the second call, has run out. Needs `warmup` >= 2 when `maxSeconds` is finite: the
 * two are warm-up calls.
 */
export async function measureWithin(
  work: () => void | Promise<void>,
  options: { warmup?: number; repeats?: number; units?: number; maxSeconds: number },
): Promise<Timing | { skipped: string }> {
  const { warmup = 2, repeats = 5, units = 1, maxSeconds } = options;
  if (maxSeconds === Infinity) return measure(work, { warmup, repeats, units });
  if (warmup < 2) throw new Error(`measureWithin: warmup must be >= 2 to estimate, got ${warmup}`);
  await work();
  await settled();
  const start = performance.now();
  await work();
  await settled();
  const callMs = performance.now() - start;
  const calls = warmup - 2 + repeats * units;
  const seconds = (callMs * calls) / 1000;
  if (seconds > maxSeconds) {
    const why = `one call took ${round(callMs)} ms, so ${calls} more would take ~${round(seconds)} s`;
    return { skipped: `${why} (over ${maxSeconds} s)` };
  }
  const deadline = start + maxSeconds * 1000;
  for (let i = 0; i < warmup - 2; i++) await work();
  const rounds = await timedRounds(work, repeats, units, deadline);
  if (rounds.callsDone < repeats * units) {
    const why = `one call took ${round(callMs)} ms, but after ${rounds.callsDone} of ${repeats * units} timed calls`;
    return { skipped: `${why} ${maxSeconds} s had passed` };
  }
  return summarize(rounds.repeatsMs);
}

/**
 * Calls per timed repeat so that a repeat lasts about `targetMs`, and at least `minUnits`: the
 * PyTorch peer's rule for its attention figures (scripts/peers/torch_reverse.py, bench_attention:
 * 3 warm-up calls, 10 timed to calibrate, max(10, 0.3 s / call) calls a repeat), so that both
 * sides time repeats of the same length after the same warm-up. A fast call timed a few times
 * (5 calls of 5 ms) is a different figure from the same call timed a hundred times: what the first
 * calls leave (the JIT, the kernels' kept weights, the heap's size) weighs more in it. Where 13
 * calls of the first one's length would take longer than `maxSeconds`, no calibration: 1.
 */
export async function calibratedUnits(
  work: () => void | Promise<void>,
  {
    targetMs = 300,
    minUnits = 10,
    maxSeconds = Infinity,
  }: { targetMs?: number; minUnits?: number; maxSeconds?: number } = {},
): Promise<number> {
  const start = performance.now();
  await work();
  await settled();
  if ((performance.now() - start) * 13 > maxSeconds * 1000) return 1;
  for (let i = 0; i < 2; i++) await work();
  const calibration = await timedRounds(work, 1, 10, Infinity);
  return Math.max(minUnits, Math.floor(targetMs / calibration.repeatsMs[0]));
}

/** `measureInTurn`'s result: each work's timing, and each work's time over the first's, round by round. */
export interface TimingsInTurn<K extends string> {
  timings: Record<K, Timing>;
  /**
   * For each work, the median over rounds of its milliseconds divided by the first work's in the
   * same round (1 for the first work): a ratio that a slow spell of the machine, which slows
   * both calls of a round alike, moves less than it moves the medians.
   */
  ratios: Record<K, number>;
}

/**
 * Times several works in turn: `warmup` untimed calls of each, then `repeats` rounds that each
 * time `units` calls of every work, one work after the other, starting from the next work each
 * round (so none always runs first, or right after a given other one). For comparing two
 * libraries in one process on a machine whose load changes while they run.
 */
export async function measureInTurn<K extends string>(
  works: Record<K, () => void | Promise<void>>,
  { warmup = 2, repeats = 5, units = 1 }: { warmup?: number; repeats?: number; units?: number } = {},
): Promise<TimingsInTurn<K>> {
  const names = Object.keys(works) as K[];
  if (names.length === 0) throw new Error('measureInTurn: no works to time');
  for (const name of names) for (let i = 0; i < warmup; i++) await works[name]();
  const rounds: Array<Record<K, number>> = [];
  for (let r = 0; r < repeats; r++) {
    const times = {} as Record<K, number>;
    for (let i = 0; i < names.length; i++) {
      const name = names[(r + i) % names.length];
      times[name] = (await timedRounds(works[name], 1, units, Infinity)).repeatsMs[0];
    }
    rounds.push(times);
  }
  const timings = {} as Record<K, Timing>;
  const ratios = {} as Record<K, number>;
  for (const name of names) {
    timings[name] = summarize(rounds.map((times) => times[name]));
    ratios[name] = round(median(rounds.map((times) => times[name] / times[names[0]])));
  }
  return { timings, ratios };
}

/** `repeats` rounds of `units` calls, per-call milliseconds of each; stops after the call that ends past `deadline`. */
async function timedRounds(
  work: () => void | Promise<void>,
  repeats: number,
  units: number,
  deadline: number,
): Promise<{ repeatsMs: number[]; callsDone: number }> {
  const repeatsMs: number[] = [];
  let callsDone = 0;
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    for (let i = 0; i < units; i++) {
      await work();
      callsDone++;
      if (performance.now() > deadline && callsDone < repeats * units) return { repeatsMs, callsDone };
    }
    repeatsMs.push((performance.now() - start) / units);
  }
  return { repeatsMs, callsDone };
}

function summarize(repeatsMs: number[]): Timing {
  const medianMs = median(repeatsMs);
  return {
    medianMs,
    repeatsMs: repeatsMs.map(round),
    spread: round((Math.max(...repeatsMs) - Math.min(...repeatsMs)) / medianMs),
  };
}

/**
 * Resolves when the backend has done all the work queued so far. webgl runs kernels
 * asynchronously: a call that reads back only its loss (or its output) returns before the weight
 * updates (or gradients) it queued have run. A GL context runs its commands in order, so reading
 * back a tensor made now waits for all of them.
 */
async function settled(): Promise<void> {
  const marker = tf.scalar(0).add(1);
  await marker.data();
  marker.dispose();
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Three significant decimals: enough for figures that vary by percents between runs. */
export function round(value: number): number {
  return Number(value.toPrecision(4));
}

/** The vector extensions that set a CPU's speed at matrix products, by their names in Linux's CPU flags. */
const VECTOR_EXTENSIONS: Record<string, string> = { avx: 'AVX', avx2: 'AVX2', fma: 'FMA', avx512f: 'AVX-512' };

/** The text of /proc/cpuinfo, or null where that file does not exist (not Linux). */
function cpuinfoText(): string | null {
  // Lazily, so the module also loads where `fs` does not exist.
  const fs = require('fs') as typeof import('fs');
  return fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : null;
}

/**
 * Which of VECTOR_EXTENSIONS the CPU has, from /proc/cpuinfo's text (read here when not given):
 * two machines of one model name ("AMD EPYC" on a cloud host) can differ there, and the peer's BLAS
 * picks its kernels by them. null where that file does not exist (not Linux).
 */
export function vectorExtensions(cpuinfo = cpuinfoText()): string[] | null {
  if (cpuinfo === null) return null;
  const flags = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1].trim().split(/\s+/) ?? [];
  return Object.keys(VECTOR_EXTENSIONS)
    .filter((flag) => flags.includes(flag))
    .map((flag) => VECTOR_EXTENSIONS[flag]);
}

/**
 * The x86 family and model numbers of the CPU (`cpu family` and `model` in /proc/cpuinfo, whose
 * text `cpuinfo` is, read here when not given). They tell apart two CPUs of one model name and one
 * set of VECTOR_EXTENSIONS: a cloud host's "AMD EPYC" with AVX-512 is family 25 (Zen 4, whose cores
 * run AVX-512 on 256-bit halves) or family 26 (Zen 5, whose EPYC cores run it at full width). The
 * peer's BLAS does twice the multiply-adds a cycle on the second; ours, 4-lane WebAssembly SIMD,
 * the same on both, so the ratios differ by class. null where the file does not say (not Linux,
 * not x86).
 */
export function cpuFamily(cpuinfo = cpuinfoText()): { family: number; model: number } | null {
  if (cpuinfo === null) return null;
  const family = /^cpu family\s*:\s*(\d+)\s*$/m.exec(cpuinfo)?.[1];
  const model = /^model\s*:\s*(\d+)\s*$/m.exec(cpuinfo)?.[1];
  return family === undefined || model === undefined ? null : { family: Number(family), model: Number(model) };
}

/** What ran the benchmark. */
export function machineInfo(): Record<string, string | number | boolean | string[] | null> {
  // Lazily, so the module also loads where `os` does not exist.
  const os = require('os') as typeof import('os');
  const ours = tf.getBackend() === 'wasm' || tf.getBackend() === 'cpu';
  const cpuinfo = cpuinfoText();
  const x86 = cpuFamily(cpuinfo);
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    vectorExtensions: vectorExtensions(cpuinfo),
    cpuFamily: x86?.family ?? null,
    cpuModelNumber: x86?.model ?? null,
    cores: os.cpus().length,
    node: process.version,
    tfjs: tf.version.tfjs,
    backend: tf.getBackend(),
    wasmThreads: tf.getBackend() === 'wasm' ? wasmThreadCount() : 0,
    // Threads of this library's SIMD kernels (src/kernels/threads.ts), on wasm and cpu, and whether
    // they ran relaxed SIMD's fused multiply-add (src/kernels/simd_kernels.ts).
    kernelThreads: ours ? kernelThreads() : 0,
    relaxedSimd: ours && relaxedSimdKernels(),
    // tfjs's tensors and the kernels in one memory (initBackend's sharedHeap).
    sharedHeap: ours && sharedHeapKernels(),
  };
}

function wasmThreadCount(): number {
  try {
    const wasm = require('@tensorflow/tfjs-backend-wasm') as { getThreadsCount?: () => number };
    return wasm.getThreadsCount ? wasm.getThreadsCount() : 1;
  } catch {
    return 1;
  }
}
