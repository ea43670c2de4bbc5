/**
 * The SIMD kernels on more than one thread (src/kernels/threads.ts): a part computes the same
 * floats on any thread, so every threaded result must equal the one-thread result exactly, and
 * the workers must really have taken parts. Also the protocol's edge cases: more parts than
 * threads, a command buffer too small for a call, a part that traps, the settings' errors, and a
 * Node process that ends by itself with the workers started.
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { initBackend } from '../../src/backend';
import { fusedAttention } from '../../src/kernels/attention';
import { simdKernels, stage } from '../../src/kernels/simd_kernels';
import {
  inParallel,
  kernelThreads,
  kernelThreadsReady,
  MAX_PARTS,
  partsRunByWorkers,
  setKernelThreads,
  THREADS_ENV_VAR,
  type KernelCalls,
} from '../../src/kernels/threads';
import { causalMask } from '../../src/layers/masks';
import { gelu } from '../../src/ops/gelu';
import { layerNormalize } from '../../src/ops/layer_norm';
import { seededTensor, selfAttentionArgs } from '../helpers/tensors';

/** Every float of `actual` is exactly `expected`'s (a loop: jest's toEqual takes seconds on 100k floats). */
function expectSameFloats(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  const firstDifference = actual.findIndex((x, i) => !Object.is(x, expected[i]));
  expect(firstDifference).toBe(-1);
}

async function useThreads(count: number): Promise<void> {
  setKernelThreads(count);
  expect(await kernelThreadsReady()).toBe(count);
}

/**
 * Runs `f` on one thread, then on two until the worker has taken parts (at most 30 times: on a
 * loaded machine the caller may finish a call before the worker wakes); returns the one-thread
 * result, every two-thread result, and the parts the worker ran.
 */
async function onOneAndTwoThreads(
  f: () => tf.Tensor[],
): Promise<{ one: Float32Array[]; twos: Float32Array[][]; workerParts: number }> {
  const values = () =>
    f().map((t) => {
      const array = t.dataSync() as Float32Array;
      t.dispose();
      return array;
    });
  await useThreads(1);
  const one = values();
  await useThreads(2);
  const before = partsRunByWorkers();
  const twos: Float32Array[][] = [];
  while (twos.length < 30 && partsRunByWorkers() === before) twos.push(values());
  return { one, twos, workerParts: partsRunByWorkers() - before };
}

describe.each(['wasm', 'cpu'])('kernel threads [%s]', (backend) => {
  beforeAll(async () => {
    await initBackend(backend, { quiet: true });
  });
  afterAll(() => setKernelThreads(2));

  test('a matrix product on two threads equals the one-thread product exactly, and the worker took parts', async () => {
    const a = seededTensor([517, 96], 1);
    const b = seededTensor([96, 130], 2);
    const bias = seededTensor([130], 3);
    const { one, twos, workerParts } = await onOneAndTwoThreads(() => [
      tf.matMul(a, b),
      tf.matMul(a, b, false, false),
      tf.matMul(b, a, true, true),
      tf.fused.matMul({ a, b, bias, activation: 'relu' }),
    ]);
    tf.dispose([a, b, bias]);
    if (backend === 'wasm') expect(workerParts).toBeGreaterThan(0);
    for (const two of twos) two.forEach((values, i) => expectSameFloats(values, one[i]));
    // Not all zeros, and the relu really clipped some.
    expect(Math.max(...one[0].map(Math.abs))).toBeGreaterThan(1);
    expect(one[3].filter((x) => x === 0).length).toBeGreaterThan(1000);
  });

  test('attention forward and every gradient on two threads equal one thread exactly, causal and padded', async () => {
    const [B, T, H, K] = [3, 150, 4, 16];
    const weights = seededTensor([B, T, H, K], 5);
    // Causal, and the last 40 keys of batch row 1 padded.
    const padding = tf.tensor3d(
      Array.from({ length: B }, (_, b) => [Array.from({ length: T }, (_x, s) => (b === 1 && s >= T - 40 ? 0 : 1))]),
    );
    const mask = tf.mul(causalMask(T, T), padding);
    const { sources, ...args } = selfAttentionArgs([B, T, H, K], 4, mask, 0.25);
    const source = sources[0];
    const { one, twos, workerParts } = await onOneAndTwoThreads(() => {
      const { value, grads } = tf.valueAndGrads((x: tf.Tensor) =>
        fusedAttention({ ...args, sources: [x] })
          .context.mul(weights)
          .sum(),
      )([source]);
      const context = fusedAttention({ ...args, sources: [source] }).context;
      return [value, grads[0], context];
    });
    tf.dispose([source, weights, padding, mask]);
    expect(workerParts).toBeGreaterThan(0);
    for (const two of twos) two.forEach((values, i) => expectSameFloats(values, one[i]));
    expect(Math.max(...one[1].map(Math.abs))).toBeGreaterThan(0.01);
  });

  test('layer norm and GELU, forward and every gradient, on two threads equal one thread exactly', async () => {
    const x = seededTensor([1000, 128], 6, 2);
    const gamma = seededTensor([128], 7);
    const beta = seededTensor([128], 8);
    const weights = seededTensor([1000, 128], 9);
    const { one, twos, workerParts } = await onOneAndTwoThreads(() => {
      const { value, grads } = tf.valueAndGrads((input: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        gelu(layerNormalize(input, g, b, 1e-5))
          .mul(weights)
          .sum(),
      )([x, gamma, beta]);
      return [value, ...grads, gelu(x)];
    });
    tf.dispose([x, gamma, beta, weights]);
    expect(workerParts).toBeGreaterThan(0);
    for (const two of twos) two.forEach((values, i) => expectSameFloats(values, one[i]));
    expect(Math.max(...one[2].map(Math.abs))).toBeGreaterThan(0.1);
  });
});

describe('kernel threads: the protocol', () => {
  beforeAll(async () => {
    await initBackend('wasm', { quiet: true });
    await useThreads(2);
  });
  afterAll(() => setKernelThreads(2));

  /** Copies the float at `from` to the n floats from `to` (through the module: a worker may run it). */
  const spread = (calls: KernelCalls, from: number, to: number, n: number) =>
    calls.copyRows(4 * from, 0, 4 * to, 4, n, 1, 1);
  const floatsAt = (start: number, n: number) => Array.from(simdKernels()!.floats.subarray(start, start + n));

  test(`${MAX_PARTS} parts each write their own run, every one exactly once`, () => {
    const [one, counts] = stage([new Float32Array([1, 1, 1, 1])], [4 * MAX_PARTS]);
    // Part p adds p + 1 to its four floats (axpyRows accumulating): a part run twice would show.
    inParallel(MAX_PARTS, (calls, p) => {
      calls.axpyRows(4 * one, 0, 0, 4 * one, 0, 4 * (counts + 4 * p), 16, 1, 1, 16, p + 1, 1);
    });
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

  test('asking again for the running thread count keeps the running workers', () => {
    const [one, counts] = stage([new Float32Array([1, 1, 1, 1])], [4 * MAX_PARTS]);
    const call = () =>
      inParallel(MAX_PARTS, (calls, p) =>
        calls.axpyRows(4 * one, 0, 0, 4 * one, 0, 4 * (counts + 4 * p), 16, 1, 1, 16, 1, 0),
      );
    for (let i = 0; i < 30 && partsRunByWorkers() === 0; i++) call();
    const taken = partsRunByWorkers();
    expect(taken).toBeGreaterThan(0);
    // A new pool would count from 0 again (and leave the old workers running).
    setKernelThreads(2);
    expect(kernelThreads()).toBe(2);
    expect(partsRunByWorkers()).toBe(taken);
  });

  test('the thread settings reject what is not an integer from 1 to 64, naming the value', async () => {
    expect(() => setKernelThreads(0)).toThrow('setKernelThreads: count must be an integer from 1 to 64, got 0');
    expect(() => setKernelThreads(1.5)).toThrow('got 1.5');
    expect(() => setKernelThreads(65)).toThrow('got 65');
    expect(() => setKernelThreads('2' as unknown as number)).toThrow('got "2"');
    await expect(initBackend('wasm', { quiet: true, threads: -1 })).rejects.toThrow(
      'initBackend: threads must be an integer from 1 to 64, got -1',
    );
    expect(kernelThreads()).toBe(2);
  });
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
      const { kernelThreads, partsRunByWorkers } = require('./src/kernels/threads');
      initBackend('wasm', { quiet: true, threads: 2 }).then(() => {
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

  test(`${THREADS_ENV_VAR} sets the count, and a bad value is an error that names the variable`, () => {
    const script = `
      const { initBackend } = require('./src/backend');
      const { kernelThreads } = require('./src/kernels/threads');
      initBackend('wasm', { quiet: true }).then(() => console.log(kernelThreads()), (e) => console.log(e.message));`;
    expect(runNode(script, { [THREADS_ENV_VAR]: '1' }).stdout.trim()).toBe('1');
    expect(runNode(script, { [THREADS_ENV_VAR]: '3' }).stdout.trim()).toBe('3');
    expect(runNode(script, { [THREADS_ENV_VAR]: 'many' }).stdout.trim()).toBe(
      `the ${THREADS_ENV_VAR} environment variable must be an integer from 1 to 64, got 'many'`,
    );
  });
});
