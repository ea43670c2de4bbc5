/**
 * More than one core for the SIMD kernels (simd_kernels.ts): worker threads that instantiate the
 * same WebAssembly module on the same shared memory, and `inParallel`, which splits a kernel's
 * work into independent parts that the calling thread and the workers take in turn.
 *
 * How a call runs: the caller describes part p as a function of p (`body(calls, p)`) that only
 * calls the module's functions (it reads and writes memory through them, never through
 * `floats`). `inParallel` first runs every body against a recorder, which writes each call as
 * numbers into a command buffer in a SharedArrayBuffer; then the caller and the workers claim
 * parts one at a time from a shared counter (compare-and-swap, so that a part runs exactly once
 * and a slow thread takes fewer); a worker replays the part's recorded calls, the caller runs
 * the body again directly. The call returns when every part is done. The parts of one call must
 * not write what another part reads or writes; a part's own calls run in order.
 *
 * Why not tfjs's threads: tfjs-backend-wasm's threaded build cannot start in Node (its workers
 * are `blob:` URLs; ERR_WORKER_PATH), and it runs only XNNPACK's kernels on them, not ours.
 *
 * Workers start on first use in the background (about 30 ms) and parts run on the caller alone
 * until they report ready, so every call works, with the same results, whatever the workers do:
 * a part computes the same floats on any thread. Workers never keep a Node process alive
 * (`unref`). In a browser they need cross-origin isolation (SharedArrayBuffer); without it the
 * kernels run on one thread as before.
 *
 * How many threads: `setKernelThreads(n)`, else the TFJS_ATTENTION_THREADS environment
 * variable in Node, else the machine's cores up to MAX_DEFAULT_THREADS.
 */
import type { Worker as NodeWorker } from 'worker_threads';
import { isNodeRuntime } from '../io/atomic';
import { KERNEL_FUNCTIONS, simdKernels, simdModule, stage, unstage, type SimdKernels } from './simd_kernels';

/** The module's functions, without its memory: what a part may call. */
export type KernelCalls = Omit<SimdKernels, 'floats' | 'reserve'>;

/** The environment variable that sets the thread count in Node (an integer from 1). */
export const THREADS_ENV_VAR = 'TFJS_ATTENTION_THREADS';

/** The default never takes more cores than this, on machines with many. */
const MAX_DEFAULT_THREADS = 4;

/** The most threads `setKernelThreads` accepts. */
const MAX_THREADS = 64;

// The control words, as Int32Array indices into the pool's SharedArrayBuffer.
/** Incremented for each call; idle workers wait on it. */
const GEN = 0;
/** (generation << INDEX_BITS) | the next part to claim. */
const NEXT = 1;
/** Parts finished in this call. */
const DONE = 2;
/** (generation << INDEX_BITS) | the call's number of parts. */
const TOTAL = 3;
/** Workers that have instantiated the module. */
const READY = 4;
/** Set to make the workers exit. */
const STOP = 5;
/** Parts run by workers since the pool started (for tests and benchmarks). */
const WORKER_PARTS = 6;
/** Set by a worker whose part threw; the caller then throws and stops using threads. */
const FAILED = 7;
/**
 * Workers asleep in Atomics.wait on GEN, and callers asleep on DONE: a thread notifies only when
 * the other sleeps. Atomics.notify takes a lock that a waking thread takes too, and on a busy
 * machine the caller then stalls behind a worker that the scheduler has paused (a fifth of the
 * caller's time in one profile). No wake-up is lost: a thread counts itself before it waits, and
 * waits only while the word still has the value it saw, so a notify it missed finds it awake.
 */
const WORKERS_ASLEEP = 8;
const CALLER_ASLEEP = 9;
/** Part p's commands are at [PART_STARTS + p, PART_STARTS + p + 1) of the command buffer. */
const PART_STARTS = 16;

/** Bits of a packed word that hold a part index; the generation takes the other 20. */
const INDEX_BITS = 12;
/** The most parts one call may have. */
export const MAX_PARTS = 256;
const CONTROL_WORDS = PART_STARTS + MAX_PARTS + 2;
/** The command buffer: float64 slots after the control words. */
const COMMANDS_BYTE_OFFSET = 8 * Math.ceil((4 * CONTROL_WORDS) / 8);
const COMMAND_SLOTS = 1 << 19; // 4 MB: about 40,000 calls of 12 arguments
/** How many times a thread checks a word before it sleeps on it (a few microseconds). */
const SPINS = 4000;

/** The number of each function's parameters, in KERNEL_FUNCTIONS order. */
const ARITY = KERNEL_FUNCTIONS.map((fn) => fn.params.length);
const NAMES = KERNEL_FUNCTIONS.map((fn) => fn.name);

/**
 * The workers' code, run as a script (no module loader, so it works the same from a bundle, from
 * ts-jest and from dist): instantiate the module on the shared memory, then serve calls. It
 * repeats the claiming protocol of `Pool.run` below.
 */
const WORKER_SOURCE = `'use strict';
function serve({ module, memory, control, names, arity }) {
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const fns = names.map((name) => exports[name]);
  const ctl = new Int32Array(control, 0, ${CONTROL_WORDS});
  const c = new Float64Array(control, ${COMMANDS_BYTE_OFFSET}, ${COMMAND_SLOTS});
  let seen = Atomics.load(ctl, ${GEN});
  Atomics.add(ctl, ${READY}, 1);
  for (;;) {
    for (let spins = 0; Atomics.load(ctl, ${GEN}) === seen && spins < ${SPINS}; spins++);
    if (Atomics.load(ctl, ${GEN}) === seen) {
      Atomics.add(ctl, ${WORKERS_ASLEEP}, 1);
      Atomics.wait(ctl, ${GEN}, seen);
      Atomics.sub(ctl, ${WORKERS_ASLEEP}, 1);
    }
    if (Atomics.load(ctl, ${STOP}) !== 0) return;
    seen = Atomics.load(ctl, ${GEN});
    for (;;) {
      const next = Atomics.load(ctl, ${NEXT});
      const total = Atomics.load(ctl, ${TOTAL});
      if (next >>> ${INDEX_BITS} !== seen || total >>> ${INDEX_BITS} !== seen) break;
      const part = next & ${(1 << INDEX_BITS) - 1};
      if (part >= (total & ${(1 << INDEX_BITS) - 1})) break;
      if (Atomics.compareExchange(ctl, ${NEXT}, next, (next + 1) | 0) !== next) continue;
      try {
        for (let at = ctl[${PART_STARTS} + part], end = ctl[${PART_STARTS} + part + 1]; at < end; ) {
          const fn = c[at];
          fns[fn](c[at + 1], c[at + 2], c[at + 3], c[at + 4], c[at + 5], c[at + 6],
            c[at + 7], c[at + 8], c[at + 9], c[at + 10], c[at + 11], c[at + 12]);
          at += 1 + arity[fn];
        }
      } catch (error) {
        Atomics.store(ctl, ${FAILED}, 1);
      }
      Atomics.add(ctl, ${WORKER_PARTS}, 1);
      Atomics.add(ctl, ${DONE}, 1);
      if (Atomics.load(ctl, ${CALLER_ASLEEP}) > 0) Atomics.notify(ctl, ${DONE});
    }
  }
}
if (typeof require === 'function' && typeof process !== 'undefined' && process.versions && process.versions.node) {
  serve(require('worker_threads').workerData);
} else {
  self.onmessage = (event) => serve(event.data);
}
`;

/** A worker of either runtime, as far as the pool uses it. */
interface AnyWorker {
  terminate(): unknown;
}

/** The workers, their control words and command buffer. */
class Pool {
  readonly control: Int32Array;
  readonly commands: Float64Array;
  private readonly workers: AnyWorker[] = [];
  private generation = 0;
  /** Where the next recorded call goes. */
  private cursor = 0;

  constructor(shared: { module: WebAssembly.Module; memory: WebAssembly.Memory }, workerCount: number) {
    const buffer = new SharedArrayBuffer(COMMANDS_BYTE_OFFSET + 8 * COMMAND_SLOTS);
    this.control = new Int32Array(buffer, 0, CONTROL_WORDS);
    this.commands = new Float64Array(buffer, COMMANDS_BYTE_OFFSET, COMMAND_SLOTS);
    const data = { module: shared.module, memory: shared.memory, control: buffer, names: NAMES, arity: ARITY };
    try {
      for (let i = 0; i < workerCount; i++) this.workers.push(startWorker(data));
    } catch (error) {
      for (const worker of this.workers) worker.terminate();
      throw error;
    }
  }

  get size(): number {
    return this.workers.length;
  }

  get ready(): boolean {
    return Atomics.load(this.control, READY) >= 1;
  }

  /** A KernelCalls whose every call is appended to the command buffer; throws OVERFLOW when it is full. */
  readonly recorder: KernelCalls = Object.fromEntries(
    NAMES.map((name, fn) => [
      name,
      (...args: number[]) => {
        const at = this.cursor;
        if (at + 1 + ARITY[fn] > COMMAND_SLOTS) throw OVERFLOW;
        this.commands[at] = fn;
        for (let i = 0; i < ARITY[fn]; i++) this.commands[at + 1 + i] = args[i];
        this.cursor = at + 1 + ARITY[fn];
      },
    ]),
  ) as unknown as KernelCalls;

  /** Records every part's calls; false when they do not fit in the command buffer. */
  record(parts: number, body: (calls: KernelCalls, part: number) => void): boolean {
    this.cursor = 0;
    try {
      for (let p = 0; p < parts; p++) {
        this.control[PART_STARTS + p] = this.cursor;
        body(this.recorder, p);
      }
    } catch (error) {
      if (error === OVERFLOW) return false;
      throw error;
    }
    this.control[PART_STARTS + parts] = this.cursor;
    return true;
  }

  /**
   * Runs the recorded parts: publishes them (a new generation), claims parts here too, running
   * each with `runHere`, and returns once every part is done, here or in a worker.
   */
  run(parts: number, runHere: (part: number) => void): void {
    const ctl = this.control;
    const generation = (this.generation = (this.generation + 1) & ((1 << (32 - INDEX_BITS)) - 1));
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, TOTAL, (generation << INDEX_BITS) | parts);
    Atomics.store(ctl, NEXT, generation << INDEX_BITS);
    if (workersClaimParts) {
      Atomics.store(ctl, GEN, generation);
      if (Atomics.load(ctl, WORKERS_ASLEEP) > 0) Atomics.notify(ctl, GEN);
    }
    let failure: unknown = null;
    while (callerClaimsParts) {
      const next = Atomics.load(ctl, NEXT);
      const part = next & ((1 << INDEX_BITS) - 1);
      if (part >= parts) break;
      if (Atomics.compareExchange(ctl, NEXT, next, (next + 1) | 0) !== next) continue;
      try {
        if (failure === null) runHere(part);
      } catch (error) {
        failure = error;
      }
      Atomics.add(ctl, DONE, 1);
    }
    this.waitForDone(parts);
    if (failure !== null) throw failure;
    if (Atomics.load(ctl, FAILED) !== 0) {
      stopThreads();
      throw new Error('tfjs-attention: a kernel thread failed; the kernels now run on one thread');
    }
  }

  private waitForDone(parts: number): void {
    // The main thread of a browser page may not block in Atomics.wait: it only spins.
    const canSleep = isNodeRuntime();
    for (let spins = 0; ; spins++) {
      const done = Atomics.load(this.control, DONE);
      if (done === parts) return;
      if (canSleep && spins > SPINS) {
        Atomics.add(this.control, CALLER_ASLEEP, 1);
        Atomics.wait(this.control, DONE, done, 1);
        Atomics.sub(this.control, CALLER_ASLEEP, 1);
      }
    }
  }

  stop(): void {
    Atomics.store(this.control, STOP, 1);
    Atomics.add(this.control, GEN, 1);
    Atomics.notify(this.control, GEN);
    for (const worker of this.workers) worker.terminate();
  }
}

/** Thrown by the recorder when the command buffer is full (the call then runs on one thread). */
const OVERFLOW = new Error('command buffer full');

function startWorker(data: object): AnyWorker {
  if (isNodeRuntime()) {
    // Required here, not imported: browser bundles stub Node's built-ins (scripts/build_browser.ts).
    const { Worker } = require('worker_threads') as { Worker: typeof NodeWorker };
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: data });
    worker.unref();
    return worker;
  }
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  const worker = new Worker(url);
  worker.postMessage(data);
  return worker;
}

/** The thread count asked for (`setKernelThreads`), or undefined for the default. */
let requestedThreads: number | undefined;
/** The pool once started; null where threads are unavailable or one thread is asked for. */
let pool: Pool | null | undefined;

/** The machine's cores as the runtime reports them. */
function coreCount(): number {
  if (isNodeRuntime()) {
    const os = require('os') as typeof import('os');
    return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  }
  return typeof navigator === 'object' ? (navigator.hardwareConcurrency ?? 1) : 1;
}

/** `count` when it is a valid thread count; else an Error that names `source`, the value and the range. */
export function checkThreadCount(count: unknown, source: string, shown = JSON.stringify(count)): number {
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_THREADS) {
    throw new Error(`${source} must be an integer from 1 to ${MAX_THREADS}, got ${shown}`);
  }
  return count;
}

/** The thread count in effect: the one asked for, else the environment variable's, else the cores'. */
function wantedThreads(): number {
  if (requestedThreads !== undefined) return requestedThreads;
  const fromEnv = isNodeRuntime() ? process.env[THREADS_ENV_VAR] : undefined;
  if (fromEnv !== undefined && fromEnv !== '') {
    const count = /^\s*\d+\s*$/.test(fromEnv) ? Number(fromEnv) : NaN;
    return checkThreadCount(count, `the ${THREADS_ENV_VAR} environment variable`, `'${fromEnv}'`);
  }
  return Math.min(coreCount(), MAX_DEFAULT_THREADS);
}

/**
 * Sets how many threads the SIMD kernels use, the calling one included: 1 runs them on the
 * calling thread only. Takes effect for the next kernel call; workers no longer needed stop.
 * Process-wide, like tfjs's own `setThreadsCount` for its wasm backend.
 *
 * ```ts
 * setKernelThreads(1); // one core, e.g. to compare with a one-thread peer
 * ```
 */
export function setKernelThreads(count: number): void {
  checkThreadCount(count, 'setKernelThreads: count');
  requestedThreads = count;
  // A pool of the right size stays; any other is stopped, and the next call starts the new one.
  if (pool != null && pool.size + 1 === count) return;
  if (pool != null) stopThreads();
  pool = undefined;
}

/** Stops the workers; the kernels run on one thread until the next `setKernelThreads`. */
function stopThreads(): void {
  pool?.stop();
  pool = null;
}

/** The pool, started on first use; null for one thread or where shared memory is unavailable. */
function currentPool(): Pool | null {
  if (pool !== undefined) return pool;
  const threads = wantedThreads();
  const shared = threads > 1 ? simdModule() : null;
  try {
    pool = shared?.shared ? new Pool(shared, threads - 1) : null;
  } catch {
    // No worker could start here (a Content-Security-Policy without `worker-src blob:`, a
    // runtime without workers): the kernels run on the calling thread.
    pool = null;
  }
  return pool;
}

/**
 * How many threads the kernels run on now: 1 until the workers have started, or where they
 * cannot (no SharedArrayBuffer, or one thread asked for).
 */
export function kernelThreads(): number {
  const current = currentPool();
  return current?.ready ? current.size + 1 : 1;
}

/** Resolves once the workers can take parts (at once for one thread), or after `timeoutMs`. */
export async function kernelThreadsReady(timeoutMs = 5000): Promise<number> {
  const started = Date.now();
  const starting = currentPool();
  while (starting != null && !starting.ready && Date.now() - started < timeoutMs) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return kernelThreads();
}

/** Parts of calls run by a worker since the workers started (0 on one thread). */
export function partsRunByWorkers(): number {
  return pool ? Atomics.load(pool.control, WORKER_PARTS) : 0;
}

/** Whether the calling thread claims parts too (see `setCallerClaimsParts`). */
let callerClaimsParts = true;

/**
 * For tests of the threads: with `false`, the calling thread leaves every part of a threaded call
 * to the workers and waits for them, so that a test of what the workers compute does not depend on
 * the scheduler handing them parts (the caller is often fast enough to take them all). Default
 * true; not exported from the package.
 */
export function setCallerClaimsParts(claims: boolean): void {
  callerClaimsParts = claims;
}

/** Whether the workers are told of a threaded call (see `setWorkersClaimParts`). */
let workersClaimParts = true;

/**
 * For tests of the threads, the other side of `setCallerClaimsParts`: with `false`, a threaded
 * call is not published to the workers (its generation is not stored where they wait), so the
 * calling thread claims and runs every part through the pool's own path, its handling of a part
 * that throws included. Never with `setCallerClaimsParts(false)` (no thread would take the parts).
 * Default true; not exported from the package.
 */
export function setWorkersClaimParts(claims: boolean): void {
  workersClaimParts = claims;
}

/**
 * Runs `body(calls, p)` for every part p in [0, parts), spread over the kernel threads (see the
 * file comment for what a body may do). With one thread, or one part, it is a plain loop.
 */
export function inParallel(parts: number, body: (calls: KernelCalls, part: number) => void): void {
  const kernels = simdKernels()!;
  if (parts > MAX_PARTS) throw new Error(`inParallel: at most ${MAX_PARTS} parts, got ${parts}`);
  const threads = parts > 1 ? currentPool() : null;
  if (threads == null || !threads.ready || !threads.record(parts, body)) {
    for (let p = 0; p < parts; p++) body(kernels, p);
    return;
  }
  threads.run(parts, (p) => body(kernels, p));
}

/**
 * How many parts to cut `items` equal items into for `inParallel`: a few per thread, so that a
 * slow thread takes fewer, but none smaller than `minItems`. 1 on one thread.
 */
export function partsFor(items: number, minItems = 1): number {
  const threads = kernelThreads();
  if (threads === 1) return 1;
  return Math.max(1, Math.min(items, 4 * threads, MAX_PARTS, Math.floor(items / minItems)));
}

/**
 * `inParallel` over `items` cut into `parts` runs in order, each of at least one item (when there
 * are as many), that shrink from the first to the last: part p's share of the items past one each
 * is proportional to parts - p (8 parts: 8/36 of the call first, 1/36 last). Threads claim parts
 * in order, so the small ones come last, when one thread may wait for the other's part: the wait
 * is at most the last part's time, not an eighth of the call's. `visit(calls, first, end, part)`
 * for the items [first, end) of each part.
 */
export function inParallelRuns(
  items: number,
  parts: number,
  visit: (calls: KernelCalls, first: number, end: number, part: number) => void,
): void {
  // The items before part p: one for each part before it, and of the rest the shares of parts 0 to
  // p - 1, parts + (parts - 1) + ... + (parts - p + 1) = p parts - p (p - 1) / 2 of (parts + 1) parts / 2.
  // With fewer items than parts (a caller's own count), runs of nearly equal length, some empty.
  const before = (p: number) =>
    items < parts
      ? Math.floor((p * items) / parts)
      : p + Math.floor(((items - parts) * (p * parts - (p * (p - 1)) / 2)) / ((parts * (parts + 1)) / 2));
  inParallel(parts, (calls, part) => visit(calls, before(part), before(part + 1), part));
}

/**
 * Calls `run(calls, firstByte, bytes)` over `n` floats as runs of whole vectors (the kernels read
 * and write 4 floats at a time, so the last run may cover up to 3 past n), one per part, parts of
 * at least `minElements` floats, over the kernel threads.
 */
export function inVectorRuns(
  n: number,
  minElements: number,
  run: (calls: KernelCalls, firstByte: number, bytes: number) => void,
): void {
  const vectors = Math.ceil(n / 4);
  inParallelRuns(vectors, partsFor(vectors, minElements / 4), (calls, first, end) =>
    run(calls, 16 * first, 16 * (end - first)),
  );
}

/**
 * Floats below which a part of an element-wise kernel is not worth handing to another thread:
 * about 20 us of GELU or e^x (`geluForward`, `expForward`) on the machine of the note that added
 * exp.ts (30 without relaxed SIMD).
 */
const MIN_ELEMENTWISE_PART = 1 << 15;

/**
 * An element-wise kernel on the kernel threads: `inputs` copied into the module's memory, then
 * `run(calls, at, bytes)` over runs of whole vectors (`inVectorRuns`), `at` the byte address of
 * the run's start in each input and, last, in the output, then the output copied out. A last
 * partial vector reads past each input into the region after it and writes the output's slack
 * (3 floats).
 */
export function elementwise(
  inputs: Float32Array[],
  output: Float32Array,
  run: (calls: KernelCalls, at: number[], bytes: number) => void,
): void {
  const starts = stage(inputs, [], [output.length + 3]);
  inVectorRuns(output.length, MIN_ELEMENTWISE_PART, (calls, first, bytes) =>
    run(
      calls,
      starts.map((start) => 4 * start + first),
      bytes,
    ),
  );
  unstage([output], [starts[inputs.length]]);
}
