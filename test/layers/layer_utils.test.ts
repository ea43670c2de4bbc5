/**
 * The shared helpers whose values the layers rely on: the causal mask, and the
 * gradient helpers that keep wasm on XNNPACK (sumRows, addBias).
 */
import * as tf from '@tensorflow/tfjs';
import { addBias, causalMask, sumRows } from '../../src/layers/layer_utils';
import { describeEachBackend } from '../helpers/backends';

describeEachBackend('layer_utils', () => {
  it('causalMask(T, S) lets query t see keys s <= t (Keras causal_mask), for T < S, T = S and T > S', () => {
    expect(tf.tidy(() => causalMask(3, 4).arraySync())).toEqual([
      [1, 0, 0, 0],
      [1, 1, 0, 0],
      [1, 1, 1, 0],
    ]);
    expect(tf.tidy(() => causalMask(2, 2).arraySync())).toEqual([
      [1, 0],
      [1, 1],
    ]);
    expect(tf.tidy(() => causalMask(3, 1).arraySync())).toEqual([[1], [1], [1]]);
  });

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
    const loss = (f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), weights));
    const ours = tf.grads(loss(addBias))([x, bias]);
    const theirs = tf.grads(loss((a, b) => tf.add(a, b)))([x, bias]);
    expect(ours[0].arraySync()).toEqual(theirs[0].arraySync());
    expect(Array.from(ours[1].dataSync())).toEqual([3.5, 2]); // column sums of the weights
    expect(Array.from(ours[1].dataSync())).toEqual(Array.from(theirs[1].dataSync()));
    tf.dispose([...ours, ...theirs]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, bias, weights]);
  });
});
