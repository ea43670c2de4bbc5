/**
 * Timing helpers for `npm run bench`: warm-up, several timed repeats, median
 * and spread, and a description of the machine, so that every figure printed
 * says what it measured and where.
 */
import * as tf from '@tensorflow/tfjs';

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
  const repeatsMs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    for (let i = 0; i < units; i++) await work();
    repeatsMs.push((performance.now() - start) / units);
  }
  const medianMs = median(repeatsMs);
  return {
    medianMs,
    repeatsMs: repeatsMs.map(round),
    spread: round((Math.max(...repeatsMs) - Math.min(...repeatsMs)) / medianMs),
  };
}

/**
 * `measure`, unless its calls would take longer than `maxSeconds`: then, instead of measuring,
 * why not. The first warm-up call pays for what the backend compiles (webgl's shaders), so the
 * second, timed, is what each later call costs. Needs `warmup` >= 2 when `maxSeconds` is finite:
 * the two are warm-up calls.
 */
export async function measureWithin(
  work: () => void | Promise<void>,
  options: { warmup?: number; repeats?: number; units?: number; maxSeconds: number },
): Promise<Timing | { skipped: string }> {
  const { warmup = 2, repeats = 5, units = 1, maxSeconds } = options;
  if (maxSeconds === Infinity) return measure(work, { warmup, repeats, units });
  if (warmup < 2) throw new Error(`measureWithin: warmup must be >= 2 to estimate, got ${warmup}`);
  await work();
  const start = performance.now();
  await work();
  const callMs = performance.now() - start;
  const calls = warmup - 2 + repeats * units;
  const seconds = (callMs * calls) / 1000;
  if (seconds > maxSeconds) {
    const why = `one call took ${round(callMs)} ms, so ${calls} more would take ~${round(seconds)} s`;
    return { skipped: `${why} (over ${maxSeconds} s)` };
  }
  return measure(work, { warmup: warmup - 2, repeats, units });
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

/** What ran the benchmark. */
export function machineInfo(): Record<string, string | number> {
  // Lazily, so the module also loads where `os` does not exist.
  const os = require('os') as typeof import('os');
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    node: process.version,
    tfjs: tf.version.tfjs,
    backend: tf.getBackend(),
    wasmThreads: tf.getBackend() === 'wasm' ? wasmThreadCount() : 0,
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
