import * as tf from '@tensorflow/tfjs';

import { describeEachBackend } from '../helpers/backends';
import { maskedSoftmaxCrossEntropy, maskedTokenAccuracy, maskedTokenCounts } from '../../src/train/losses';

/** -log softmax(row)[target], in float64. */
function nll(row: number[], target: number): number {
  const max = Math.max(...row);
  const logSum = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
  return logSum - row[target];
}

describeEachBackend('masked losses', () => {
  // B = 2, T = 3, V = 4. Row 0 has 2 real targets, row 1 has 1; PAD (0) positions carry
  // logits that would dominate the loss if they counted.
  const logits = [
    [
      [0.5, 1.0, -1.0, 2.0],
      [0.1, 0.2, 3.0, -0.5],
      [9.0, -9.0, -9.0, -9.0],
    ],
    [
      [1.5, -0.5, 0.25, 0.0],
      [-9.0, 9.0, 9.0, 9.0],
      [-9.0, 9.0, 9.0, 9.0],
    ],
  ];
  const targets = [
    [3, 1, 0],
    [2, 0, 0],
  ];

  it('cross-entropy is the mean over non-PAD positions of the hand-computed NLL', () => {
    const expected = (nll(logits[0][0], 3) + nll(logits[0][1], 1) + nll(logits[1][0], 2)) / 3;
    const loss = tf.tidy(
      () => maskedSoftmaxCrossEntropy(tf.tensor3d(logits), tf.tensor2d(targets, undefined, 'int32')).dataSync()[0],
    );
    expect(loss).toBeCloseTo(expected, 5);
  });

  it('label smoothing e targets (1 - e) one-hot + e / V over non-PAD positions, as PyTorch does', () => {
    const e = 0.2;
    // Per position: (1 - e) NLL of the target + e times the mean NLL over the V = 4 classes.
    const smoothed = (row: number[], target: number) =>
      (1 - e) * nll(row, target) + (e / 4) * [0, 1, 2, 3].reduce((sum, k) => sum + nll(row, k), 0);
    const expected = (smoothed(logits[0][0], 3) + smoothed(logits[0][1], 1) + smoothed(logits[1][0], 2)) / 3;
    const loss = tf.tidy(
      () => maskedSoftmaxCrossEntropy(tf.tensor3d(logits), tf.tensor2d(targets, undefined, 'int32'), e).dataSync()[0],
    );
    expect(loss).toBeCloseTo(expected, 5);
    expect(() => maskedSoftmaxCrossEntropy(tf.zeros([1, 1, 4]), tf.ones([1, 1], 'int32'), 1)).toThrow(
      'maskedSoftmaxCrossEntropy: labelSmoothing must be a number in [0, 1), got 1',
    );
  });

  it('a PAD position changes nothing, whatever its logits', () => {
    const changed = logits.map((row) => row.map((r) => [...r]));
    changed[0][2] = [-100, 100, 0, 5];
    changed[1][1] = [42, -42, 0, 1];
    const losses = tf.tidy(() =>
      [logits, changed].map(
        (l) => maskedSoftmaxCrossEntropy(tf.tensor3d(l), tf.tensor2d(targets, undefined, 'int32')).dataSync()[0],
      ),
    );
    expect(losses[1]).toBe(losses[0]);
  });

  it('token accuracy counts argmax hits over non-PAD positions only', () => {
    // Position (0,0): argmax 3 = target 3, hit. (0,1): argmax 2, target 1, miss. (1,0): argmax 0, target 2, miss.
    const result = tf.tidy(() => {
      const l = tf.tensor3d(logits);
      const t = tf.tensor2d(targets, undefined, 'int32');
      const { correct, count } = maskedTokenCounts(l, t);
      return [maskedTokenAccuracy(l, t).dataSync()[0], correct.dataSync()[0], count.dataSync()[0]];
    });
    expect(result[0]).toBeCloseTo(1 / 3, 6);
    expect(result.slice(1)).toEqual([1, 3]);
  });

  it('a batch without targets gives 0, not NaN, and the gradient flows only from real targets', () => {
    const empty = tf.tidy(
      () => maskedSoftmaxCrossEntropy(tf.tensor3d(logits), tf.zeros([2, 3], 'int32')).dataSync()[0],
    );
    expect(empty).toBe(0);
    const grad = tf.tidy(() => {
      const t = tf.tensor2d(targets, undefined, 'int32');
      return tf
        .grad((l: tf.Tensor) => maskedSoftmaxCrossEntropy(l, t))(tf.tensor3d(logits))
        .arraySync() as number[][][];
    });
    expect(grad[0][2].every((g) => g === 0)).toBe(true);
    expect(grad[1][1].every((g) => g === 0)).toBe(true);
    // d loss / d logit = (softmax - onehot) / #targets at a real position.
    const row = logits[0][0];
    const z = row.reduce((s, v) => s + Math.exp(v), 0);
    row.forEach((v, k) => expect(grad[0][0][k]).toBeCloseTo((Math.exp(v) / z - (k === 3 ? 1 : 0)) / 3, 5));
  });

  it('rejects mismatched shapes with both shapes in the message', () => {
    expect(() => maskedSoftmaxCrossEntropy(tf.zeros([2, 3, 4]), tf.zeros([2, 4], 'int32'))).toThrow(
      'got logits [2,3,4] and targets [2,4]',
    );
  });

  it.each([
    ['logits of rank 2', [2, 3], [2, 3]],
    ['targets of rank 3', [2, 3, 4], [2, 3, 1]],
    ['another batch size', [2, 3, 4], [1, 3]],
    ['another target length', [2, 3, 4], [2, 2]],
  ])('each function refuses %s, naming itself and both shapes', (_what, logitsShape, targetsShape) => {
    const functions = { maskedSoftmaxCrossEntropy, maskedTokenAccuracy, maskedTokenCounts };
    for (const [name, fn] of Object.entries(functions)) {
      expect(() => tf.tidy(() => fn(tf.zeros(logitsShape), tf.zeros(targetsShape, 'int32')))).toThrow(
        `${name}: expected logits (B, T, V) and targets (B, T) with the same B and T, ` +
          `got logits [${logitsShape}] and targets [${targetsShape}]`,
      );
    }
  });

  it('refuses a negative or NaN labelSmoothing', () => {
    for (const e of [-0.1, NaN]) {
      expect(() => maskedSoftmaxCrossEntropy(tf.zeros([1, 1, 4]), tf.ones([1, 1], 'int32'), e)).toThrow(
        `maskedSoftmaxCrossEntropy: labelSmoothing must be a number in [0, 1), got ${e}`,
      );
    }
  });

  it('leaves no tensors behind', () => {
    const l = tf.tensor3d(logits);
    const t = tf.tensor2d(targets, undefined, 'int32');
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      tf.dispose([maskedSoftmaxCrossEntropy(l, t), maskedTokenAccuracy(l, t)]);
      const { correct, count } = maskedTokenCounts(l, t);
      tf.dispose([correct, count]);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([l, t]);
  });
});
