/** The causal mask the layers build (src/layers/masks.ts), on cpu and wasm. */
import * as tf from '@tensorflow/tfjs';
import { causalMask } from '../../src/layers/masks';
import { describeEachBackend } from '../helpers/backends';

describeEachBackend('masks', () => {
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
});
