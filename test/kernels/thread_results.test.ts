/**
 * The SIMD kernels on more than one thread (src/kernels/threads.ts) compute what they compute on
 * one: a part computes the same floats on any thread, so every threaded result must equal the
 * one-thread result exactly, also with every part on two workers racing for them. Run with either
 * arithmetic of the kernels (jest.config.js's second project runs it with relaxed SIMD).
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { fusedAttention } from '../../src/kernels/attention';
import { partsRunByWorkers, setCallerClaimsParts, setKernelThreads } from '../../src/kernels/threads';
import { causalMask } from '../../src/layers/masks';
import { gelu } from '../../src/ops/gelu';
import { layerNormalize } from '../../src/ops/layer_norm';
import { BACKENDS_OF_THIS_RUN } from '../helpers/backends';
import { seededTensor, selfAttentionArgs } from '../helpers/tensors';
import { useThreads } from '../helpers/threads';

/** Every float of `actual` is exactly `expected`'s (a loop: jest's toEqual takes seconds on 100k floats). */
function expectSameFloats(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  const firstDifference = actual.findIndex((x, i) => !Object.is(x, expected[i]));
  expect(firstDifference).toBe(-1);
}

/** Runs shared between the caller and a worker, and on two workers alone, for each comparison. */
const RUNS = 4;

/**
 * Runs `f` on one thread, then RUNS times on two threads (the caller and a worker share the parts)
 * and RUNS times on three with every part on the two workers (`setCallerClaimsParts(false)`: the
 * workers take parts whatever the scheduler does, and race each other for them); returns the
 * one-thread result, every threaded result, and the parts the workers ran.
 */
async function onOneAndMoreThreads(
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
  const twos: Float32Array[][] = [];
  await useThreads(2);
  for (let i = 0; i < RUNS; i++) twos.push(values());
  await useThreads(3);
  const before = partsRunByWorkers();
  setCallerClaimsParts(false);
  try {
    for (let i = 0; i < RUNS; i++) twos.push(values());
  } finally {
    setCallerClaimsParts(true);
  }
  return { one, twos, workerParts: partsRunByWorkers() - before };
}

describe.each(BACKENDS_OF_THIS_RUN)('kernel threads [%s]', (backend) => {
  beforeAll(async () => {
    await initBackend(backend, { quiet: true });
  });
  afterAll(() => setKernelThreads(2));

  test('a matrix product on two threads equals the one-thread product exactly, and the worker took parts', async () => {
    const a = seededTensor([517, 96], 1);
    const b = seededTensor([96, 130], 2);
    const bias = seededTensor([130], 3);
    const { one, twos, workerParts } = await onOneAndMoreThreads(() => [
      tf.matMul(a, b),
      tf.matMul(a, b, false, false),
      tf.matMul(b, a, true, true),
      tf.matMul(a, a, true, false), // 517 deep: two blocks of the right operand and part of one
      tf.fused.matMul({ a, b, bias, activation: 'relu' }),
    ]);
    tf.dispose([a, b, bias]);
    // tfjs's own matMul on cpu; the library's product replaces wasm's.
    if (backend === 'wasm') expect(workerParts).toBeGreaterThan(0);
    for (const two of twos) two.forEach((values, i) => expectSameFloats(values, one[i]));
    // Not all zeros, and the relu really clipped some.
    expect(Math.max(...one[0].map(Math.abs))).toBeGreaterThan(1);
    expect(one[4].filter((x) => x === 0).length).toBeGreaterThan(1000);
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
    const { one, twos, workerParts } = await onOneAndMoreThreads(() => {
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
    const { one, twos, workerParts } = await onOneAndMoreThreads(() => {
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
