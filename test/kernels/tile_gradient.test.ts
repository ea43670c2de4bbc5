import * as tf from '@tensorflow/tfjs';

import { installGradientFixes, sumRepetitions } from '../../src/kernels/tile_gradient';
import { describeEachBackend } from '../helpers/backends';
import { seededTensor } from '../helpers/tensors';

/** d/dx sum(tile(x, reps) * w) for a fixed w: the Tile gradient for dy = w, through tf.grad. */
function tileGradient(x: tf.Tensor, reps: number[]): tf.Tensor {
  const w = seededTensor(
    x.shape.map((n, i) => n * reps[i]),
    7,
  );
  const grad = tf.grad((input: tf.Tensor) => tf.tile(input, reps).mul(w).sum())(x);
  w.dispose();
  return grad;
}

/** The gradient written out: each element of x collects dy at every position that copies it. */
function referenceGradient(xShape: number[], reps: number[], dy: Float32Array): Float32Array {
  const outShape = xShape.map((n, i) => n * reps[i]);
  const out = new Float32Array(xShape.reduce((a, b) => a * b, 1));
  const index = new Array(outShape.length).fill(0);
  for (let flat = 0; flat < dy.length; flat++) {
    let source = 0;
    for (let axis = 0; axis < xShape.length; axis++) source = source * xShape[axis] + (index[axis] % xShape[axis]);
    out[source] += dy[flat];
    for (let axis = outShape.length - 1; axis >= 0; axis--) {
      if (++index[axis] < outShape[axis]) break;
      index[axis] = 0;
    }
  }
  return out;
}

const CASES: Array<[string, number[], number[]]> = [
  ['rank 1', [3], [4]],
  ['rank 2', [2, 3], [3, 1]],
  ['rank 3, layer norm gamma over (B, T)', [1, 1, 8], [4, 5, 1]],
  ['rank 3, layer norm moments over the width', [4, 5, 1], [1, 1, 8]],
  ['rank 4, every axis tiled', [2, 1, 3, 2], [2, 3, 2, 2]],
  ['rank 5 (tfjs 4.22 has no gradient for it)', [1, 2, 1, 2, 1], [2, 1, 3, 1, 2]],
];

describeEachBackend('Tile gradient', () => {
  afterAll(() => installGradientFixes());

  it.each(CASES)('%s: equals the written-out sum over repetitions', (_name, xShape, reps) => {
    const x = seededTensor(xShape, 3);
    const dyShape = xShape.map((n, i) => n * reps[i]);
    const dy = seededTensor(dyShape, 11);
    const before = tf.memory().numTensors;
    const grad = sumRepetitions(dy, xShape, reps);
    expect(grad.shape).toEqual(xShape);
    const want = referenceGradient(xShape, reps, dy.dataSync() as Float32Array);
    const got = grad.dataSync();
    want.forEach((value, i) => expect(got[i]).toBeCloseTo(value, 5));
    grad.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, dy]);
  });

  it.each(CASES.slice(0, 5))('%s: tf.grad through tile equals tfjs 4.22 own gradient', (_name, xShape, reps) => {
    const x = seededTensor(xShape, 5);
    installGradientFixes({ replaceTfjsGradients: false });
    const theirs = tileGradient(x, reps);
    installGradientFixes();
    const ours = tileGradient(x, reps);
    const [a, b] = [theirs.dataSync(), ours.dataSync()];
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeLessThan(1e-5);
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(0.1);
    tf.dispose([x, theirs, ours]);
  });

  it('costs two kernels per tiled axis rather than a Slice and an Add per repetition', async () => {
    // The shape of tf.layers.layerNormalization's gamma tiled over batch 16 and length 128.
    const x = tf.ones([1, 1, 8]);
    const w = tf.ones([16, 128, 8]);
    const grad = () => tf.grad((input: tf.Tensor) => tf.tile(input, [16, 128, 1]).mul(w).sum())(x);
    const count = async () => {
      // Once outside the profiler first: an error thrown inside it ends the test process (kernel_paths.ts).
      tf.dispose(grad());
      const info = await tf.profile(grad);
      tf.dispose(info.result as tf.Tensor);
      return info.kernels.filter((k) => k.name === 'Slice' || k.name === 'Add').length;
    };
    installGradientFixes({ replaceTfjsGradients: false });
    const theirs = await count();
    installGradientFixes();
    const ours = await count();
    expect(theirs).toBeGreaterThanOrEqual(2 * 16 * 128);
    expect(ours).toBeLessThanOrEqual(2);
    tf.dispose([x, w]);
  });

  it("tf.layers.layerNormalization on rank 3 trains to the same weights with tfjs's gradient and ours", () => {
    const train = () => {
      const model = tf.sequential({
        layers: [
          tf.layers.dense({ inputShape: [6, 8], units: 8, kernelInitializer: 'ones' }),
          tf.layers.layerNormalization({ gammaInitializer: 'ones' }),
        ],
      });
      const x = seededTensor([3, 6, 8], 9);
      const y = seededTensor([3, 6, 8], 10);
      const optimizer = tf.train.sgd(0.1);
      for (let step = 0; step < 3; step++) {
        optimizer.minimize(() => tf.losses.meanSquaredError(y, model.apply(x) as tf.Tensor) as tf.Scalar);
      }
      const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
      tf.dispose([x, y]);
      optimizer.dispose();
      model.dispose();
      return weights;
    };
    installGradientFixes({ replaceTfjsGradients: false });
    const theirs = train();
    installGradientFixes();
    const ours = train();
    expect(ours.length).toBe(4);
    ours.forEach((w, i) => w.forEach((v, j) => expect(v).toBeCloseTo(theirs[i][j], 5)));
    // gamma and beta moved away from their initial values, so the gradient reached them.
    expect(ours[2].some((v) => Math.abs(v - 1) > 1e-3)).toBe(true);
    expect(ours[3].some((v) => Math.abs(v) > 1e-3)).toBe(true);
  });

  it("replaceTfjsGradients: false restores tfjs's own gradient object", () => {
    installGradientFixes({ replaceTfjsGradients: false });
    const own = tf.getGradient('Tile');
    installGradientFixes();
    const ours = tf.getGradient('Tile');
    expect(ours).not.toBe(own);
    installGradientFixes();
    expect(tf.getGradient('Tile')).toBe(ours);
    installGradientFixes({ replaceTfjsGradients: false });
    expect(tf.getGradient('Tile')).toBe(own);
    installGradientFixes({ replaceTfjsGradients: false });
    expect(tf.getGradient('Tile')).toBe(own);
  });

  it('names itself and the nearest option for an unknown option', () => {
    expect(() => installGradientFixes({ replaceGradients: false } as never)).toThrow(
      /installGradientFixes.*replaceGradients.*replaceTfjsGradients/s,
    );
  });

  it('sums only the tiled axes: one Reshape and one Sum each', async () => {
    const dy = seededTensor([16, 128, 8], 2);
    const sum = () => sumRepetitions(dy, [1, 1, 8], [16, 128, 1]);
    // Once outside the profiler first: an error thrown inside it ends the test process (kernel_paths.ts).
    tf.dispose(sum());
    const info = await tf.profile(sum);
    expect(info.kernels.map((k) => k.name)).toEqual(['Reshape', 'Sum', 'Reshape', 'Sum']);
    expect((info.result as tf.Tensor).shape).toEqual([1, 1, 8]);
    tf.dispose([dy, info.result as tf.Tensor]);
  });

  it('gives a tensor of its own, not dy, when nothing is tiled', () => {
    const dy = seededTensor([2, 3], 4);
    const values = Array.from(dy.dataSync());
    const grad = sumRepetitions(dy, [2, 3], [1, 1]);
    expect(grad).not.toBe(dy);
    grad.dispose();
    expect(dy.isDisposed).toBe(false);
    expect(Array.from(dy.dataSync())).toEqual(values);
    dy.dispose();
  });
});
