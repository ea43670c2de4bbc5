/**
 * `MaskedLayerNormalization`: the values of `(x - mean) / sqrt(var + epsilon) * gamma + beta` against
 * a plain loop, with its default epsilon (1e-5, PyTorch's) where the epsilon decides the output, the
 * padding mask kept on the output through `model.predict`'s executor and eager calls, and the
 * layer saved and rebuilt from its config.
 */
import * as tf from '@tensorflow/tfjs';
import { MaskedLayerNormalization } from '../../src/layers/masked_layer_normalization';
import { describeEachBackend } from '../helpers/backends';
import { maxAbsDiff } from '../helpers/tensors';

/** Each row of x (rows of `width`) normalized with `epsilon`, times gamma plus beta, in float64. */
function normalizedRows(x: number[], width: number, epsilon: number, gamma: number[], beta: number[]): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / width; r++) {
    const row = x.slice(r * width, (r + 1) * width);
    const mean = row.reduce((a, b) => a + b, 0) / width;
    const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / width;
    row.forEach((v, i) => out.push(((v - mean) / Math.sqrt(variance + epsilon)) * gamma[i] + beta[i]));
  }
  return out;
}

describeEachBackend('MaskedLayerNormalization', () => {
  // Rows whose variance (about 1e-6 to 4e-4) is of the order of the epsilons compared: 1e-5 and
  // 1e-3 (tfjs's and Keras's default) give outputs that differ by far more than float32 rounding.
  const X = [0.001, -0.002, 0.0005, 0.003, 0.01, 0.03, -0.02, 0.0, 0.4, 0.4001, 0.3999, 0.4002];
  const WIDTH = 4;

  it('normalizes each row with the default epsilon 1e-5, then gamma and beta', () => {
    const layer = new MaskedLayerNormalization();
    expect(layer.epsilon).toBe(1e-5);
    const x = tf.tensor3d(X, [1, 3, WIDTH]);
    layer.apply(x); // builds gamma = ones, beta = zeros
    const gamma = [1.5, -0.5, 2, 1];
    const beta = [0.1, 0, -0.2, 0.3];
    layer.setWeights([tf.tensor1d(gamma), tf.tensor1d(beta)]);
    const before = tf.memory().numTensors;
    const y = layer.apply(x) as tf.Tensor;
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(y.shape).toEqual([1, 3, WIDTH]);
    expect(maxAbsDiff(y.dataSync(), normalizedRows(X, WIDTH, 1e-5, gamma, beta))).toBeLessThan(2e-4);
    // With tfjs's default the last row (variance 2e-8) would be about 100x smaller.
    expect(maxAbsDiff(y.dataSync(), normalizedRows(X, WIDTH, 1e-3, gamma, beta))).toBeGreaterThan(0.1);
    tf.dispose([x, y]);
    layer.dispose();
  });

  it('takes another epsilon, kept in its config, and is rebuilt from it', () => {
    const layer = new MaskedLayerNormalization({ epsilon: 1e-3, name: 'final_norm' });
    const x = tf.tensor3d(X, [1, 3, WIDTH]);
    const y = layer.apply(x) as tf.Tensor;
    expect(maxAbsDiff(y.dataSync(), normalizedRows(X, WIDTH, 1e-3, [1, 1, 1, 1], [0, 0, 0, 0]))).toBeLessThan(1e-5);
    const config = layer.getConfig();
    expect(config).toMatchObject({ epsilon: 1e-3, name: 'final_norm' });
    const again = MaskedLayerNormalization.fromConfig(MaskedLayerNormalization, config) as MaskedLayerNormalization;
    expect(again.epsilon).toBe(1e-3);
    tf.dispose([x, y]);
    layer.dispose();
  });

  it("passes on the mask it is given, else the input's padding mask (an embedding's, maskZero), else none", () => {
    const norm = new MaskedLayerNormalization();
    const ids = tf.tensor2d([[2, 4, 0]], undefined, 'int32');
    const embedding = tf.layers.embedding({ inputDim: 5, outputDim: WIDTH, maskZero: true });
    const embedded = embedding.apply(ids) as tf.Tensor; // carries ids != 0 as its kerasMask
    const given = tf.tensor2d([[1, 0, 1]]);
    const plain = tf.ones([1, 3, WIDTH]);
    const masks = [norm.computeMask(embedded, given), norm.computeMask(embedded, undefined)];
    expect(masks.map((m) => Array.from(m.dataSync()))).toEqual([
      [1, 0, 1],
      [1, 1, 0],
    ]);
    expect(norm.computeMask(plain, undefined)).toBeNull();
    tf.dispose([ids, embedded, given, plain, ...masks]);
  });

  it('refuses a non-positive epsilon and an unknown option, naming them', () => {
    expect(() => new MaskedLayerNormalization({ epsilon: 0 })).toThrow(/epsilon/);
    expect(() => new MaskedLayerNormalization({ epsilon: -1e-5 })).toThrow(/epsilon/);
    expect(() => new MaskedLayerNormalization({ epsilom: 1e-5 } as never)).toThrow(/did you mean 'epsilon'/);
  });
});
