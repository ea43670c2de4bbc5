/**
 * The 4-lane multiply-add peak of one core in WebAssembly, and of all the cores at once
 * (scripts/simd_peak.ts prints both): a loop of independent chains that nothing but the
 * multiply-add units limits.
 */
import { ARITHMETICS, type Arithmetic } from '../../src/kernels/simd_kernels';
import { assembleModule, defineFunction, f32, f32x4, forLoop, get, i32, set } from '../../src/kernels/wasm_assembler';

/**
 * Independent accumulators: more than a core needs in flight to keep both of its multiply-add
 * units busy (2 units x 4 cycles of latency on Zen 4 and Zen 5), and few enough for the 16 vector
 * registers that V8 has on x64.
 */
export const PEAK_CHAINS = 12;

/**
 * A module with one function, `peak(iterations, out)`: each of PEAK_CHAINS accumulators, 1.0 in
 * every lane, becomes acc * 1 + step `iterations` times in `math` (our kernels' arithmetic); their
 * lanes are stored at byte `out` (4 * PEAK_CHAINS floats), so that nothing can be left out.
 */
export function peakModule(math: Arithmetic): Uint8Array<ArrayBuffer> {
  const peak = defineFunction(
    'peak',
    ['i32', 'i32', 'f32'],
    ['i32', 'v128', 'v128', ...Array<'v128'>(PEAK_CHAINS).fill('v128')],
    ([iterations, out, step], [i, one, increment, ...acc]) => [
      ...set(one, f32x4.splat(f32.const(1))),
      ...set(increment, f32x4.splat(get(step))),
      ...acc.flatMap((a) => set(a, get(one))),
      ...forLoop(
        i,
        i32.const(0),
        get(iterations),
        1,
        acc.flatMap((a) => set(a, math.madd(get(a), get(one), get(increment)))),
      ),
      ...acc.flatMap((a, k) => f32x4.store(get(out), get(a), 16 * k)),
    ],
  );
  return assembleModule([peak]);
}

/** peakModule in the first of our kernels' arithmetics whose module validates (as our kernels choose). */
function peakBytes(): { bytes: Uint8Array<ArrayBuffer>; relaxed: boolean } | null {
  for (const math of ARITHMETICS) {
    const bytes = peakModule(math);
    if (WebAssembly.validate(bytes)) return { bytes, relaxed: math.relaxed };
  }
  return null;
}

/** The loop of `module` (peakBytes's) on a memory of its own; `run` returns the accumulators' lanes. */
function instantiatePeak(module: { bytes: Uint8Array<ArrayBuffer>; relaxed: boolean }) {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(module.bytes), { env: { memory } });
  const peak = instance.exports.peak as (iterations: number, out: number, step: number) => void;
  return {
    relaxed: module.relaxed,
    run: (iterations: number, step: number): Float32Array => {
      peak(iterations, 0, step);
      return new Float32Array(memory.buffer, 0, 4 * PEAK_CHAINS).slice();
    },
  };
}

/** `peak` of peakBytes's module (`instantiatePeak`); null without WebAssembly SIMD. */
export function peakFunction(): ReturnType<typeof instantiatePeak> | null {
  const module = peakBytes();
  return module === null ? null : instantiatePeak(module);
}

/**
 * A worker of `peakOnThreads`: instantiates the loop, says it is ready, waits for the start word,
 * runs the loop once and posts its time and the accumulators' lanes.
 */
const PEAK_WORKER = `'use strict';
const { parentPort, workerData } = require('worker_threads');
const { bytes, start, iterations, step } = workerData;
const memory = new WebAssembly.Memory({ initial: 1 });
const peak = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports.peak;
const go = new Int32Array(start);
parentPort.postMessage('ready');
Atomics.wait(go, 0, 0);
const began = performance.now();
peak(iterations, 0, step);
const ms = performance.now() - began;
parentPort.postMessage({ ms, lanes: new Float32Array(memory.buffer, 0, 4 * ${PEAK_CHAINS}).slice() });
`;

/**
 * The loop of peakFunction run `iterations` times on `threads` threads at once (Node: this one and
 * threads - 1 workers, started together once every worker is ready), for the multiply-adds that
 * all the cores do together: two threads on one core's two hyperthreads share its multiply-add
 * units, and do no more than one thread. Each thread's time in ms and its lanes, this thread's
 * first; null without WebAssembly SIMD.
 */
export async function peakOnThreads(
  threads: number,
  iterations: number,
  step: number,
): Promise<Array<{ ms: number; lanes: Float32Array }> | null> {
  const module = peakBytes();
  if (module === null) return null;
  const here = instantiatePeak(module);
  const { Worker } = require('worker_threads') as typeof import('worker_threads');
  const start = new SharedArrayBuffer(4);
  const workers = Array.from(
    { length: threads - 1 },
    () => new Worker(PEAK_WORKER, { eval: true, workerData: { bytes: module.bytes, start, iterations, step } }),
  );
  const message = (worker: import('worker_threads').Worker) =>
    new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  try {
    await Promise.all(workers.map(message));
    const results = workers.map(message) as Array<Promise<{ ms: number; lanes: Float32Array }>>;
    const go = new Int32Array(start);
    Atomics.store(go, 0, 1);
    Atomics.notify(go, 0);
    const began = performance.now();
    const lanes = here.run(iterations, step);
    const ms = performance.now() - began;
    return [{ ms, lanes }, ...(await Promise.all(results))];
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}
