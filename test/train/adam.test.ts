import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../../src/backend';
import { Adam } from '../../src/train/adam';

beforeAll(() => initBackend('wasm', { quiet: true }));

/** torch.optim.Adam's update in float64, for one parameter vector. */
function referenceAdam(w: number[], grads: number[][], lrs: number[], b1: number, b2: number, eps: number): number[] {
  let m = w.map(() => 0);
  let v = w.map(() => 0);
  let x = [...w];
  grads.forEach((g, i) => {
    const t = i + 1;
    m = m.map((mi, k) => b1 * mi + (1 - b1) * g[k]);
    v = v.map((vi, k) => b2 * vi + (1 - b2) * g[k] * g[k]);
    x = x.map((xi, k) => xi - (lrs[i] / (1 - b1 ** t)) * (m[k] / (Math.sqrt(v[k]) / Math.sqrt(1 - b2 ** t) + eps)));
  });
  return x;
}

describe('Adam', () => {
  const grads = [
    [0.5, -1.0, 2.0],
    [0.1, 0.3, -0.2],
    [-0.4, 0.0, 1.0],
    [1e-3, -2.0, 0.7],
  ];
  const lrs = [1e-2, 2e-2, 5e-3, 1e-2];

  it("matches PyTorch's Adam update, with the learning rate changed every step", () => {
    const w = tf.variable(tf.tensor1d([1, -2, 0.5]));
    const adam = new Adam({ beta1: 0.9, beta2: 0.98, epsilon: 1e-8 });
    grads.forEach((g, i) => {
      adam.learningRate = lrs[i];
      const gt = tf.tensor1d(g);
      adam.applyGradients([{ name: w.name, tensor: gt }]);
      gt.dispose();
    });
    const expected = referenceAdam([1, -2, 0.5], grads, lrs, 0.9, 0.98, 1e-8);
    Array.from(w.dataSync()).forEach((x, k) => expect(x).toBeCloseTo(expected[k], 5));
    expect(adam.step).toBe(4);
    adam.dispose();
    w.dispose();
  });

  it("defaults to lr 1e-3, beta1 0.9, beta2 0.98 and epsilon 1e-9 (Vaswani et al. 5.3's betas, not tfjs's)", () => {
    // The last component's gradients are 1e-8: there the update depends on epsilon as much as on g.
    const tiny = grads.map((g) => [...g, 1e-8]);
    const w = tf.variable(tf.tensor1d([1, -2, 0.5, 0.25]));
    const adam = new Adam();
    expect([adam.learningRate, adam.beta1, adam.beta2, adam.epsilon]).toEqual([1e-3, 0.9, 0.98, 1e-9]);
    for (const g of tiny) {
      const gt = tf.tensor1d(g);
      adam.applyGradients([{ name: w.name, tensor: gt }]);
      gt.dispose();
    }
    const expected = referenceAdam([1, -2, 0.5, 0.25], tiny, [1e-3, 1e-3, 1e-3, 1e-3], 0.9, 0.98, 1e-9);
    Array.from(w.dataSync()).forEach((x, k) => expect(x).toBeCloseTo(expected[k], 6));
    adam.dispose();
    w.dispose();
  });

  it('getWeights/setWeights restore the state exactly: the next updates are bit-identical', async () => {
    const run = async (restoreAfter: number | null): Promise<Float32Array> => {
      const w = tf.variable(tf.tensor1d([1, -2, 0.5]));
      let adam = new Adam({ learningRate: 1e-2 });
      for (let i = 0; i < grads.length; i++) {
        if (i === restoreAfter) {
          const saved = await adam.getWeights();
          const copies = saved.map((s) => ({
            name: s.name,
            tensor: tf.tensor(s.tensor.dataSync(), s.tensor.shape, s.tensor.dtype),
          }));
          saved[0].tensor.dispose(); // the iteration scalar is made by getWeights
          adam.dispose();
          adam = new Adam({ learningRate: 1e-2 });
          await adam.setWeights(copies);
          tf.dispose(copies.map((c) => c.tensor));
          expect(adam.step).toBe(i);
        }
        const gt = tf.tensor1d(grads[i]);
        adam.applyGradients({ [w.name]: gt });
        gt.dispose();
      }
      const out = w.dataSync() as Float32Array;
      adam.dispose();
      w.dispose();
      return out;
    };
    const straight = await run(null);
    const restored = await run(2);
    expect(Array.from(restored)).toEqual(Array.from(straight));
  });

  it('rejects bad hyperparameters naming them', () => {
    expect(() => new Adam({ beta1: 1 })).toThrow('Adam: beta1 must be a number in [0, 1), got 1');
    expect(() => new Adam({ learningRate: -1 })).toThrow('Adam: learningRate must be a number >= 0, got -1');
  });

  it('decays kernels (rank >= 2) by lr x weightDecay per step, AdamW-style, and leaves biases alone', () => {
    const adam = new Adam({ learningRate: 0.1, weightDecay: 0.5 });
    const kernel = tf.variable(tf.tensor2d([[1, -2]]));
    const bias = tf.variable(tf.tensor1d([3]));
    // Zero gradients: Adam's own term is 0 / (0 + epsilon) = 0, so only the decay moves the kernel.
    adam.update([kernel, bias], [new Float32Array(2), new Float32Array(1)]);
    adam.update([kernel, bias], [new Float32Array(2), new Float32Array(1)]);
    expect(Array.from(kernel.dataSync())).toEqual([0.9025, -1.805].map(Math.fround)); // x (1 - 0.1 * 0.5)^2
    expect(Array.from(bias.dataSync())).toEqual([3]);
    expect(adam.getConfig().weightDecay).toBe(0.5);
    expect(() => new Adam({ weightDecay: -1 })).toThrow('Adam: weightDecay must be a number >= 0, got -1');
    tf.dispose([kernel, bias]);
    adam.dispose();
  });
});
