/**
 * The protocol of the SIMD kernels' threads (src/kernels/threads.ts; thread_results.test.ts checks
 * their results): more parts than threads, a command buffer too small for a call, a part that
 * traps, how work is cut into parts, the settings' errors, the count from the environment (on a
 * fresh copy of the module), and a Node process that ends by itself with the workers started.
 */
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
// Node's module object itself (a namespace import's names cannot be replaced): the pool constructs its Worker.
import workerThreads from 'worker_threads';
import { simdKernels, stage } from '../../src/kernels/simd_kernels';
import {
  inParallel,
  kernelThreads,
  kernelThreadsReady,
  MAX_PARTS,
  inParallelRuns,
  partsFor,
  partsRunByWorkers,
  setKernelThreads,
  setWorkersClaimParts,
  THREADS_ENV_VAR,
  type KernelCalls,
} from '../../src/kernels/threads';
import { onWorkersOnly, useThreads } from '../helpers/threads';

describe('kernel threads: the protocol', () => {
  // No tfjs here (the kernels alone): the file loads in a second, a mutation run's every mutant.
  beforeAll(async () => {
    await useThreads(2);
  });
  afterAll(() => setKernelThreads(2));

  /** Copies the float at `from` to the n floats from `to` (through the module: a worker may run it). */
  const spread = (calls: KernelCalls, from: number, to: number, n: number) =>
    calls.copyRows(4 * from, 0, 4 * to, 4, n, 1, 1);
  const floatsAt = (start: number, n: number) => Array.from(simdKernels()!.floats.subarray(start, start + n));

  test.each([
    ['shared by the caller and the worker', false],
    ['on the worker alone', true],
  ])(`${MAX_PARTS} parts each write their own run, every one exactly once (%s)`, (_how, workersOnly) => {
    const [one, counts] = stage([new Float32Array([1, 1, 1, 1])], [4 * MAX_PARTS]);
    // Part p adds p + 1 to its four floats (axpyRows accumulating): a part run twice would show.
    const call = () =>
      inParallel(MAX_PARTS, (calls, p) => {
        calls.axpyRows(4 * one, 0, 0, 4 * one, 0, 4 * (counts + 4 * p), 16, 1, 1, 16, p + 1, 1);
      });
    if (workersOnly) onWorkersOnly(call);
    else call();
    expect(floatsAt(counts, 4 * MAX_PARTS)).toEqual(
      Array.from({ length: 4 * MAX_PARTS }, (_, i) => Math.floor(i / 4) + 1),
    );
    expect(() => inParallel(MAX_PARTS + 1, () => undefined)).toThrow(
      `at most ${MAX_PARTS} parts, got ${MAX_PARTS + 1}`,
    );
  });

  test('a call whose commands overflow the buffer runs on one thread, with the same result', () => {
    const [n, calls] = [8, 80000];
    const [seven, out] = stage([new Float32Array([7])], [calls * n]);
    const before = partsRunByWorkers();
    // 80,000 calls of 7 arguments, 8 slots each: more than the command buffer's 524,288.
    inParallel(2, (k, p) => {
      for (let i = p; i < calls; i += 2) spread(k, seven, out + i * n, n);
    });
    expect(partsRunByWorkers()).toBe(before);
    expect(floatsAt(out, calls * n).every((x) => x === 7)).toBe(true);
  });

  test('a part that traps makes the call throw, and later calls still work', async () => {
    const [three, out] = stage([new Float32Array([3])], [4 * 16]);
    const beyondMemory = (2 ** 31 - 64) / 4;
    expect(() => inParallel(16, (k, p) => spread(k, three, p === 9 ? beyondMemory : out + 4 * p, 4))).toThrow(
      /out of bounds|kernel thread failed/,
    );
    // Whether the trap happened here or in the worker, the next call completes and is right.
    simdKernels()!.floats.fill(0, out, out + 64);
    inParallel(16, (k, p) => spread(k, three, out + 4 * p, 4));
    expect(floatsAt(out, 64)).toEqual(Array(64).fill(3));
    setKernelThreads(2);
    expect(await kernelThreadsReady()).toBe(2);
  });

  test('a part that traps on a worker: the call says a thread failed, and the kernels then run on one', async () => {
    const [three, out] = stage([new Float32Array([3])], [4 * 16]);
    const beyondMemory = (2 ** 31 - 64) / 4;
    onWorkersOnly(() =>
      expect(() => inParallel(16, (k, p) => spread(k, three, p === 9 ? beyondMemory : out + 4 * p, 4))).toThrow(
        'tfjs-attention: a kernel thread failed; the kernels now run on one thread',
      ),
    );
    // Every other part ran.
    expect(floatsAt(out, 64)).toEqual(Array.from({ length: 64 }, (_, i) => (i >= 36 && i < 40 ? 0 : 3)));
    expect([kernelThreads(), partsRunByWorkers(), partsFor(100)]).toEqual([1, 0, 1]);
    // On one thread the caller runs every part, even with the caller told to claim none.
    simdKernels()!.floats.fill(0, out, out + 64);
    onWorkersOnly(() => inParallel(16, (k, p) => spread(k, three, out + 4 * p, 4)));
    expect(floatsAt(out, 64)).toEqual(Array(64).fill(3));
    await useThreads(2);
  });

  test('a call of one part runs on the caller, never on a worker', () => {
    const [three, out] = stage([new Float32Array([3])], [4]);
    const before = partsRunByWorkers();
    onWorkersOnly(() => inParallel(1, (k) => spread(k, three, out, 4)));
    expect(floatsAt(out, 4)).toEqual([3, 3, 3, 3]);
    expect(partsRunByWorkers()).toBe(before);
  });

  test('another thread count stops the running workers', async () => {
    const terminate = jest.spyOn(workerThreads.Worker.prototype, 'terminate');
    try {
      await useThreads(3);
      expect(terminate).toHaveBeenCalledTimes(1); // the one worker of two threads
      setKernelThreads(1);
      expect(terminate).toHaveBeenCalledTimes(3); // the two of three
      expect(kernelThreads()).toBe(1);
      await useThreads(2);
      expect(terminate).toHaveBeenCalledTimes(3);
    } finally {
      terminate.mockRestore();
    }
  });

  /** Runs `work` with the workers told of no call: the caller runs every part, through the pool. */
  const onCallerOnly = (work: () => void) => {
    setWorkersClaimParts(false);
    try {
      work();
    } finally {
      setWorkersClaimParts(true);
    }
  };

  test('a part that throws on the caller: the call throws it after the parts claimed, later parts skipped', () => {
    const [three, out] = stage([new Float32Array([3])], [4 * 8]);
    const before = partsRunByWorkers();
    // The body throws only when run here (the recorder's calls, which a worker would replay, do not).
    const body = (k: KernelCalls, p: number) => {
      if (p === 3 && k === simdKernels()) throw new Error('part 3 failed');
      spread(k, three, out + 4 * p, 4);
    };
    onCallerOnly(() => expect(() => inParallel(8, body)).toThrow('part 3 failed'));
    expect(floatsAt(out, 32)).toEqual(Array.from({ length: 32 }, (_, i) => (i < 12 ? 3 : 0)));
    // The caller (claiming parts by default) ran them all; the threads still work.
    expect(partsRunByWorkers()).toBe(before);
    expect(kernelThreads()).toBe(2);
    onCallerOnly(() => inParallel(8, (k, p) => spread(k, three, out + 4 * p, 4)));
    expect(floatsAt(out, 32)).toEqual(Array(32).fill(3));
  });

  test('no worker can start: the kernels run on one thread, and the workers started are stopped', async () => {
    const RealWorker = workerThreads.Worker;
    const terminate = jest.spyOn(RealWorker.prototype, 'terminate');
    let started = 0;
    // The second worker fails to start.
    workerThreads.Worker = class extends RealWorker {
      constructor(...args: ConstructorParameters<typeof RealWorker>) {
        if (++started === 2) throw new Error('no worker here');
        super(...args);
      }
    };
    try {
      setKernelThreads(3);
      expect(await kernelThreadsReady()).toBe(1);
      expect(started).toBe(2);
      // The one of two threads (stopped by setKernelThreads), then the one that did start.
      expect(terminate).toHaveBeenCalledTimes(2);
      expect(partsFor(100)).toBe(1);
    } finally {
      workerThreads.Worker = RealWorker;
      terminate.mockRestore();
    }
    await useThreads(2);
  });

  test('kernelThreadsReady resolves at once on one thread, and with no time left (no timer runs)', async () => {
    jest.useFakeTimers();
    try {
      setKernelThreads(1);
      expect(await kernelThreadsReady(1e9)).toBe(1);
      setKernelThreads(3);
      // Whether or not the new workers are ready yet, it does not wait.
      expect([1, 3]).toContain(await kernelThreadsReady(0));
    } finally {
      jest.useRealTimers();
    }
    await useThreads(2);
  });

  test('asking again for the running thread count keeps the running workers', () => {
    const [one, counts] = stage([new Float32Array([1, 1, 1, 1])], [4 * MAX_PARTS]);
    const before = partsRunByWorkers();
    // Every part on the worker, whatever the scheduler does.
    onWorkersOnly(() =>
      inParallel(MAX_PARTS, (calls, p) =>
        calls.axpyRows(4 * one, 0, 0, 4 * one, 0, 4 * (counts + 4 * p), 16, 1, 1, 16, 1, 0),
      ),
    );
    const taken = partsRunByWorkers();
    expect(taken - before).toBe(MAX_PARTS);
    // A new pool would count from 0 again (and leave the old workers running).
    setKernelThreads(2);
    expect(kernelThreads()).toBe(2);
    expect(partsRunByWorkers()).toBe(taken);
  });

  test('partsFor: four parts a thread, none below minItems, at most one an item; 1 on one thread', async () => {
    // Two threads: at most 8 parts.
    expect([partsFor(100), partsFor(8), partsFor(5), partsFor(1), partsFor(0)]).toEqual([8, 8, 5, 1, 1]);
    expect([partsFor(100, 30), partsFor(100, 12), partsFor(100, 13), partsFor(10, 20)]).toEqual([3, 8, 7, 1]);
    await useThreads(3);
    expect([partsFor(100), partsFor(12), partsFor(11), partsFor(100, 10)]).toEqual([12, 12, 11, 10]);
    setKernelThreads(1);
    expect([kernelThreads(), partsFor(100), partsFor(100, 1)]).toEqual([1, 1, 1]);
    await useThreads(2);
  });

  test('inParallelRuns cuts the items into runs in order that shrink to the last, each to its part', async () => {
    const [indices, out] = stage([new Float32Array([0, 1, 2, 3])], [10]);
    const runs: number[][] = [];
    // Each part writes its index into its run's floats, on the workers.
    onWorkersOnly(() =>
      inParallelRuns(10, 4, (calls, first, end, part) => {
        runs.push([first, end, part]);
        spread(calls, indices + part, out + first, end - first);
      }),
    );
    // Recorded once each; the caller, which claims none, never runs a body.
    expect(runs).toEqual([
      [0, 3, 0],
      [3, 6, 1],
      [6, 8, 2],
      [8, 10, 3],
    ]);
    expect(floatsAt(out, 10)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 3, 3]);
    runs.length = 0;
    setKernelThreads(1);
    inParallelRuns(7, 3, (_calls, first, end, part) => runs.push([first, end, part]));
    expect(runs).toEqual([
      [0, 3, 0],
      [3, 5, 1],
      [5, 7, 2],
    ]);
    // Past one item each, part p's share is proportional to parts - p: 8/36 of 504 first, 1/36 last.
    const sizes: number[] = [];
    inParallelRuns(512, 8, (_calls, first, end) => sizes.push(end - first));
    expect(sizes).toEqual([113, 99, 85, 71, 57, 43, 29, 15]);
    // As many parts as items: one each.
    sizes.length = 0;
    inParallelRuns(8, 8, (_calls, first, end) => sizes.push(end - first));
    expect(sizes).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    // Fewer items than parts (a caller may count its parts itself): every item once, in order.
    runs.length = 0;
    inParallelRuns(3, 8, (_calls, first, end, part) => runs.push([first, end, part]));
    expect(runs.map(([first, end]) => [first, end])).toEqual([
      [0, 0],
      [0, 0],
      [0, 1],
      [1, 1],
      [1, 1],
      [1, 2],
      [2, 2],
      [2, 3],
    ]);
    await useThreads(2);
  });

  test('the thread settings reject what is not an integer from 1 to 64, naming the value', async () => {
    expect(() => setKernelThreads(0)).toThrow('setKernelThreads: count must be an integer from 1 to 64, got 0');
    expect(() => setKernelThreads(1.5)).toThrow('got 1.5');
    expect(() => setKernelThreads(65)).toThrow('got 65');
    expect(() => setKernelThreads('2' as unknown as number)).toThrow('got "2"');
    // 64 is accepted (asked for, not started: the count is set back before any call).
    expect(() => setKernelThreads(64)).not.toThrow();
    await useThreads(2);
    expect(THREADS_ENV_VAR).toBe('TFJS_ATTENTION_THREADS');
    // initBackend's `threads` is checked the same way (test/backend.test.ts).
    expect(kernelThreads()).toBe(2);
  });
});

describe('kernel threads: the count in effect', () => {
  type Threads = typeof import('../../src/kernels/threads');
  /**
   * Runs `use` on a fresh copy of threads.ts (and the kernels: no count asked for yet) with
   * THREADS_ENV_VAR set to `value` (unset for undefined) while it runs; stops its workers after.
   */
  async function withFreshThreads(value: string | undefined, use: (threads: Threads) => Promise<void>) {
    const saved = process.env[THREADS_ENV_VAR];
    if (value === undefined) delete process.env[THREADS_ENV_VAR];
    else process.env[THREADS_ENV_VAR] = value;
    let threads: Threads | undefined;
    jest.isolateModules(() => {
      threads = require('../../src/kernels/threads') as Threads;
    });
    try {
      await use(threads!);
    } finally {
      if (saved === undefined) delete process.env[THREADS_ENV_VAR];
      else process.env[THREADS_ENV_VAR] = saved;
      threads!.setKernelThreads(1);
    }
  }
  const cores = Math.min(os.availableParallelism(), 4);

  test.each([
    ['3', 3],
    [' 1 ', 1],
    ['01', 1],
    ['2\n', 2],
    ['', cores],
    [undefined, cores],
  ])(`${THREADS_ENV_VAR} %j: %d threads`, async (value, count) => {
    await withFreshThreads(value, async (threads) => {
      expect(await threads.kernelThreadsReady()).toBe(count);
      expect(threads.partsFor(1000)).toBe(count === 1 ? 1 : 4 * count);
    });
  });

  test(`setKernelThreads wins over ${THREADS_ENV_VAR}`, async () => {
    await withFreshThreads('3', async (threads) => {
      threads.setKernelThreads(2);
      expect(await threads.kernelThreadsReady()).toBe(2);
    });
  });

  test('by default the caller claims parts: a call kept from the workers completes', async () => {
    await withFreshThreads('2', async (threads) => {
      expect(await threads.kernelThreadsReady()).toBe(2);
      const parts: number[] = [];
      threads.setWorkersClaimParts(false);
      threads.inParallel(4, (calls, p) => {
        parts.push(p);
        calls.zeroFill(0, 0);
      });
      // Recorded, then run here.
      expect(parts).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
      expect(threads.partsRunByWorkers()).toBe(0);
    });
  });

  test.each(['many', '0', '65', '2.5', '-1', '1 2', '+3', '0x2', '2e0'])(
    `${THREADS_ENV_VAR} %j is an error that names the variable and the value`,
    async (value) => {
      await withFreshThreads(value, async (threads) => {
        expect(() => threads.kernelThreads()).toThrow(
          `the ${THREADS_ENV_VAR} environment variable must be an integer from 1 to 64, got '${value}'`,
        );
      });
    },
  );
});

describe('kernel threads: a Node process', () => {
  const ROOT = path.resolve(__dirname, '../..');
  const runNode = (script: string, env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60000,
      env: { ...process.env, TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json'), ...env },
    });

  test('ends by itself after using the workers (they never keep it alive)', () => {
    const run = runNode(`
      const tf = require('@tensorflow/tfjs');
      const { initBackend } = require('./src/backend');
      const threads = require('./src/kernels/threads');
      const { kernelThreads, kernelThreadsReady, partsRunByWorkers, setCallerClaimsParts } = threads;
      // Every part on the worker (not left to the scheduler), ready however loaded the machine is.
      setCallerClaimsParts(false);
      initBackend('wasm', { quiet: true, threads: 2 }).then(() => kernelThreadsReady(60000)).then(() => {
        const a = tf.ones([512, 256]);
        const sum = tf.matMul(a, a, false, true).sum().dataSync()[0];
        console.log(JSON.stringify({ threads: kernelThreads(), sum, workerParts: partsRunByWorkers() }));
      });`);
    expect(run.error).toBeUndefined();
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout.trim());
    expect(out).toMatchObject({ threads: 2, sum: 512 * 512 * 256 });
    expect(out.workerParts).toBeGreaterThan(0);
  });

  test(`${THREADS_ENV_VAR} sets the count at start (its values and errors: checked in-process above)`, () => {
    const script = `
      const { initBackend } = require('./src/backend');
      const { kernelThreads, kernelThreadsReady } = require('./src/kernels/threads');
      // initBackend waits 5 s for the workers; a loaded machine may take longer to start them.
      initBackend('wasm', { quiet: true })
        .then(() => kernelThreadsReady(60000))
        .then(() => console.log(kernelThreads()), (e) => console.log(e.message));`;
    expect(runNode(script, { [THREADS_ENV_VAR]: '3' }).stdout.trim()).toBe('3');
  });
});
