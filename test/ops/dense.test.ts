/**
 * The dense products of src/ops/dense.ts against plain tfjs ops: values and every gradient, on
 * cpu and wasm (where the transposed products of the gradients go through the BatchMatMul that
 * initBackend installs).
 */
import * as tf from '@tensorflow/tfjs';
import { addBias, dense2d, sumRows } from '../../src/ops/dense';
import { describeEachBackend } from '../helpers/backends';

describeEachBackend('ops/dense', () => {
  it('sumRows sums a matrix over its rows', () => {
    const x = tf.tensor2d([
      [1, 2, 3],
      [4, -5, 6.5],
    ]);
    expect(Array.from(sumRows(x).dataSync())).toEqual([5, -3, 9.5]);
    x.dispose();
  });

  it("addBias has tfjs's value and gradients, and leaves no tensors behind", () => {
    const x = tf.tensor2d([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    const bias = tf.tensor1d([0.5, -1]);
    const weights = tf.tensor2d([
      [1, -2],
      [0.5, 3],
      [2, 1],
    ]);
    const before = tf.memory().numTensors;
    const loss = (f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(f(a, b), weights));
    const ours = tf.grads(loss(addBias))([x, bias]);
    const theirs = tf.grads(loss((a, b) => tf.add(a, b)))([x, bias]);
    expect(ours[0].arraySync()).toEqual(theirs[0].arraySync());
    expect(Array.from(ours[1].dataSync())).toEqual([3.5, 2]); // column sums of the weights
    expect(Array.from(ours[1].dataSync())).toEqual(Array.from(theirs[1].dataSync()));
    tf.dispose([...ours, ...theirs]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, bias, weights]);
  });

  for (const activation of ['linear', 'relu'] as const) {
    it(
      `dense2d (${activation}) equals tf.matMul + bias (+ relu) ` +
        'in value and in the gradients of x, kernel and bias',
      () => {
        const x = tf.tensor2d([
          [1, -2, 0.5],
          [3, 0.25, -1],
          [-0.5, 2, 1.5],
          [0, 1, -3],
        ]);
        const kernel = tf.tensor2d([
          [0.5, -1],
          [1.5, 0.25],
          [-2, 1],
        ]);
        const bias = tf.tensor1d([0.1, -0.3]);
        const weights = tf.tensor2d([
          [1, -2],
          [0.5, 3],
          [2, 1],
          [-1, 0.5],
        ]);
        const before = tf.memory().numTensors;
        const plain = (a: tf.Tensor, k: tf.Tensor, b: tf.Tensor) => {
          const y = tf.add(tf.matMul(a as tf.Tensor2D, k as tf.Tensor2D), b);
          return activation === 'relu' ? tf.relu(y) : y;
        };
        const loss = (f: typeof plain) => (a: tf.Tensor, k: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(f(a, k, b), weights));
        const ours = tf.grads(loss((a, k, b) => dense2d(a, k, b, activation)))([x, kernel, bias]);
        const theirs = tf.grads(loss(plain))([x, kernel, bias]);
        ours.forEach((g, i) => {
          const [a, b] = [Array.from(g.dataSync()), Array.from(theirs[i].dataSync())];
          a.forEach((v, j) => expect(v).toBeCloseTo(b[j], 5));
        });
        const value = tf.tidy(() => Array.from(dense2d(x, kernel, bias, activation).dataSync()));
        const expected = tf.tidy(() => Array.from(plain(x, kernel, bias).dataSync()));
        value.forEach((v, j) => expect(v).toBeCloseTo(expected[j], 5));
        tf.dispose([...ours, ...theirs]);
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([x, kernel, bias, weights]);
      },
    );
  }
});
