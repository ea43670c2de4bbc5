/**
 * The dense layer on weights kept in the SIMD module's memory (simd_kernels.ts's `kept`, whose own
 * tests are in simd_kernels.test.ts): it stays right when its weights change, when the ring is too
 * small for them, and when they come and go through a small ring.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedDense } from '../../src/kernels/dense';
import { setKeptRingFloats } from '../../src/kernels/simd_kernels';
import { describeEachBackend } from '../helpers/backends';
import { maxAbsDiff, seededTensor } from '../helpers/tensors';

describeEachBackend('the dense layer on kept weights', () => {
  afterEach(() => setKeptRingFloats());

  /** The plain definition: x [W_0 W_1 ...] + [b_0 b_1 ...]. */
  const reference = (x: tf.Tensor, kernels: tf.Tensor[], biases: tf.Tensor[]) =>
    tf.matMul(x as tf.Tensor2D, tf.concat(kernels, 1) as tf.Tensor2D).add(tf.concat(biases, 0));

  it('follows a kernel variable that changes between calls', () => {
    const before = tf.memory().numTensors;
    const [x, bias] = [seededTensor([5, 8], 1), seededTensor([12], 2)];
    const kernel = tf.tidy(() => tf.variable(seededTensor([8, 12], 3)));
    for (const seed of [4, 5, 6]) {
      const ours = tf.tidy(() => fusedDense(x, kernel, bias, 'linear').dataSync());
      const theirs = tf.tidy(() => reference(x, [kernel], [bias]).dataSync());
      expect(maxAbsDiff(ours, theirs)).toBeLessThan(1e-5);
      tf.tidy(() => kernel.assign(seededTensor([8, 12], seed)));
    }
    tf.dispose([x, bias, kernel]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives the same outputs and gradients when its weights come and go through a small ring, or do not fit', () => {
    const before = tf.memory().numTensors;
    const x = seededTensor([6, 16], 1);
    // Three layers of three kernels (16, 8), (16, 4), (16, 12) and their biases.
    const layers = [0, 1, 2].map((l) => ({
      kernels: [8, 4, 12].map((width, p) => seededTensor([16, width], 10 * l + p, 0.3)),
      biases: [8, 4, 12].map((width, p) => seededTensor([width], 10 * l + p + 5)),
    }));
    const run = (dense: (x: tf.Tensor, k: tf.Tensor[], b: tf.Tensor[]) => tf.Tensor) =>
      layers.map(({ kernels, biases }) =>
        tf.tidy(() => {
          const inputs = [x, ...kernels, ...biases];
          const { value, grads } = tf.valueAndGrads((...xs: tf.Tensor[]) =>
            dense(xs[0], xs.slice(1, 4), xs.slice(4)).square().sum(),
          )(inputs);
          return [value, ...grads].map((t) => Array.from(t.dataSync()));
        }),
      );
    const theirs = run(reference);
    // A ring that holds one layer's joined kernel and its transpose at a time (each 384 floats),
    // then one too small to keep a joined kernel at all (the kernels are joined in scratch).
    for (const ringFloats of [2048, 1024, undefined]) {
      setKeptRingFloats(ringFloats);
      // Four rounds: a copy is made on the third ask, and the transpose is asked for once the kernel is kept.
      for (let round = 0; round < 4; round++) {
        const ours = run((x, kernels, biases) => fusedDense(x, kernels, biases, 'linear'));
        ours.forEach((layer, l) =>
          layer.forEach((values, i) =>
            expect({ ringFloats, l, i, close: maxAbsDiff(values, theirs[l][i]) < 1e-4 }).toEqual({
              ringFloats,
              l,
              i,
              close: true,
            }),
          ),
        );
      }
    }
    tf.dispose([x, ...layers.flatMap((l) => [...l.kernels, ...l.biases])]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
