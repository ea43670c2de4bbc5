import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../../src/backend';
import { clipByGlobalNorm, globalL2Norm } from '../../src/train/clip';

beforeAll(() => initBackend('wasm', { quiet: true }));

describe('clipByGlobalNorm', () => {
  // Global norm of [3, 4] and [[12]] = sqrt(9 + 16 + 144) = 13.
  const gradients = () => [tf.tensor1d([3, 4]), tf.tensor2d([[12]])];

  it('scales all gradients together by maxNorm / globalNorm when the norm is larger', () => {
    const g = gradients();
    const { clipped, globalNorm } = clipByGlobalNorm(g, 6.5);
    expect(globalNorm.dataSync()[0]).toBeCloseTo(13, 5);
    expect(Array.from(clipped[0].dataSync())).toEqual([expect.closeTo(1.5, 5), expect.closeTo(2, 5)]);
    expect(clipped[1].dataSync()[0]).toBeCloseTo(6, 5);
    expect(globalL2Norm(clipped).dataSync()[0]).toBeCloseTo(6.5, 4);
    tf.dispose([...g, ...clipped, globalNorm]);
  });

  it('leaves gradients within the limit (and all-zero ones) unchanged', () => {
    const g = gradients();
    const { clipped, globalNorm } = clipByGlobalNorm(g, 20);
    expect(Array.from(clipped[0].dataSync())).toEqual([3, 4]);
    expect(clipped[1].dataSync()[0]).toBe(12);
    const zero = [tf.zeros([3])];
    const z = clipByGlobalNorm(zero, 1);
    expect(Array.from(z.clipped[0].dataSync())).toEqual([0, 0, 0]);
    tf.dispose([...g, ...clipped, globalNorm, ...zero, ...z.clipped, z.globalNorm]);
  });

  it('rejects a non-positive limit', () => {
    expect(() => clipByGlobalNorm([], 0)).toThrow('maxNorm must be a positive number, got 0');
  });
});
