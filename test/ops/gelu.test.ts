/**
 * The fused GELU kernel against the composite definition in tfjs ops, x * (erf(x / sqrt 2) + 1) / 2,
 * and against float64: values and gradients over a wide range, sizes that are not whole SIMD
 * vectors, and no tensor left behind; on cpu and wasm (the kernel), and on a backend without our
 * kernels (the composite, as webgl runs it).
 */
import * as tf from '@tensorflow/tfjs';
import { hasFusedGelu } from '../../src/kernels/gelu';
import { allocateResident, freeResident } from '../../src/kernels/simd_kernels';
import { kernelThreads } from '../../src/kernels/threads';
import { gelu } from '../../src/ops/gelu';
import { describeEachBackend, describeEachPath, OPS_ONLY_BACKEND } from '../helpers/backends';
import { erf } from '../helpers/block_reference';
import { runThenProfile } from '../helpers/kernel_paths';
import { maxAbsDiff } from '../helpers/tensors';
import { useThreads } from '../helpers/threads';

const composite = (x: tf.Tensor) => x.mul(tf.erf(x.mul(Math.SQRT1_2)).add(1)).mul(0.5);

/** float64 GELU and its derivative, Phi(x) + x phi(x). */
const exact = (x: number) => (x * (1 + erf(x / Math.SQRT2))) / 2;
const exactGradient = (x: number) =>
  (1 + erf(x / Math.SQRT2)) / 2 + (x * Math.exp((-x * x) / 2)) / Math.sqrt(2 * Math.PI);

describeEachPath('gelu', (path) => {
  const fusedHere = path !== OPS_ONLY_BACKEND;
  // 1001 values from -10 to 10: not a whole number of vectors, both tails and the centre.
  const xs = Array.from({ length: 1001 }, (_v, i) => -10 + i / 50);

  const here = fusedHere ? 'the fused kernel' : 'the composite';
  it(`runs ${here} here, and equals the composite and float64 (forward and gradient)`, () => {
    expect(hasFusedGelu()).toBe(fusedHere);
    const before = tf.memory().numTensors;
    const x = tf.tensor1d(xs);
    const weights = tf.tensor1d(xs.map((_v, i) => Math.cos(i)));
    // The gradient of sum(f(x) * w) is w * f'(x).
    const grad = (f: (x: tf.Tensor) => tf.Tensor) =>
      tf.tidy(() => tf.grad((t: tf.Tensor) => f(t).mul(weights).sum())(x));
    const [fused, plain] = [tf.tidy(() => gelu(x)), tf.tidy(() => composite(x))];
    const [fusedGrad, plainGrad] = [grad(gelu), grad(composite)];
    expect(maxAbsDiff(fused.dataSync(), plain.dataSync())).toBeLessThan(1e-6);
    expect(maxAbsDiff(fusedGrad.dataSync(), plainGrad.dataSync())).toBeLessThan(1e-6);
    const values = fused.dataSync();
    const gradients = fusedGrad.dataSync();
    xs.forEach((value, i) => {
      expect(Math.abs(values[i] - exact(value))).toBeLessThan(1e-6 * Math.max(1, Math.abs(value)));
      expect(Math.abs(gradients[i] - Math.cos(i) * exactGradient(value))).toBeLessThan(1e-6);
    });
    expect(values[0]).toBeCloseTo(0, 6); // gelu(-10) underflows to (minus) zero
    expect(values[1000]).toBe(10);
    tf.dispose([x, weights, fused, plain, fusedGrad, plainGrad]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it(`runs ${here} for float32, the composite for int32 (float32 values)`, async () => {
    const { kernels, result } = await runThenProfile(() => tf.tidy(() => gelu(tf.tensor1d([-2, 0.5, 3]))));
    expect(kernels).toEqual(fusedHere ? ['TfjsAttentionGelu'] : ['Multiply', 'Erf', 'Add']);
    expect(maxAbsDiff(result.dataSync(), [-2, 0.5, 3].map(exact))).toBeLessThan(1e-6);
    const ints = tf.tensor1d([-2, -1, 0, 1, 3], 'int32');
    const y = tf.tidy(() => gelu(ints));
    expect(y.dtype).toBe('float32');
    expect(maxAbsDiff(y.dataSync(), [-2, -1, 0, 1, 3].map(exact))).toBeLessThan(1e-6);
    tf.dispose([result, ints, y]);
  });

  it(`runs ${fusedHere ? 'the fused gradient kernel' : 'tfjs ops'} for the gradient`, async () => {
    const x = tf.tensor1d([-2, 0.5, 3]);
    const { kernels, result } = await runThenProfile(() => tf.grad((t: tf.Tensor) => gelu(t).sum())(x));
    expect(kernels.filter((name) => name.startsWith('TfjsAttention'))).toEqual(
      fusedHere ? ['TfjsAttentionGelu', 'TfjsAttentionGeluGrad'] : [],
    );
    expect(maxAbsDiff(result.dataSync(), [-2, 0.5, 3].map(exactGradient))).toBeLessThan(1e-6);
    tf.dispose([x, result]);
  });

  it('keeps the shape of a rank-3 input', () => {
    const y = tf.tidy(() => gelu(tf.ones([2, 3, 5])));
    expect(y.shape).toEqual([2, 3, 5]);
    expect(maxAbsDiff(y.dataSync(), new Float32Array(30).fill(exact(1)))).toBeLessThan(1e-6);
    y.dispose();
  });
});

describeEachBackend('the fused gelu kernel', () => {
  it('in parts on two threads, staged after a resident block, equals float64 (forward and gradient)', async () => {
    // 200,003 values: over twice the floats of a part (threads.ts's MIN_ELEMENTWISE_PART), not whole
    // vectors; the resident block (as Adam's state keeps) puts the staged regions away from address 0.
    const threads = kernelThreads();
    await useThreads(2);
    const block = allocateResident(4096);
    try {
      const n = 200003;
      const xs = Array.from({ length: n }, (_v, i) => -10 + (20 * i) / n);
      const x = tf.tensor1d(xs);
      const weights = tf.tensor1d(xs.map((_v, i) => Math.cos(i)));
      const y = tf.tidy(() => gelu(x));
      const dx = tf.tidy(() => tf.grad((t: tf.Tensor) => gelu(t).mul(weights).sum())(x));
      const [values, gradients] = [y.dataSync(), dx.dataSync()];
      let [worst, worstGradient] = [0, 0];
      xs.forEach((value, i) => {
        worst = Math.max(worst, Math.abs(values[i] - exact(value)) / Math.max(1, Math.abs(value)));
        worstGradient = Math.max(
          worstGradient,
          Math.abs(gradients[i] - Math.fround(Math.cos(i)) * exactGradient(value)),
        );
      });
      expect(worst).toBeLessThan(1e-6);
      expect(worstGradient).toBeLessThan(1e-6);
      tf.dispose([x, weights, y, dx]);
    } finally {
      freeResident(block);
      await useThreads(threads);
    }
  });
});
