import * as tf from '@tensorflow/tfjs';
import { KerasHubPositionEmbedding } from '../../../src/layers/keras_hub/position_embedding';
import { describeEachBackend } from '../../helpers/backends';
import { expectLayerContract } from '../../helpers/layer_contract';
import { paddingMask, seededTensor, withMask } from '../../helpers/tensors';
import { hubFixture, maxDiff, t } from './fixtures';

interface PositionFixture {
  table: number[][];
  short: number[][];
  exact: number[][];
  long: number[][];
}

describeEachBackend('keras_hub PositionEmbedding', () => {
  expectLayerContract('keras_hub PositionEmbedding', {
    make: () => new KerasHubPositionEmbedding({ sequenceLength: 5 }),
    inputs: () => seededTensor([2, 5, 3], 1),
    outputShape: [2, 5, 3],
    weightShapes: [[5, 3]],
  });

  it('returns the table rows for T < L, T = L and keras-hub hierarchical rows for T > L (numpy, 1e-6)', () => {
    const f = hubFixture<PositionFixture>('hub_position_embedding');
    const layer = new KerasHubPositionEmbedding({ sequenceLength: 4 });
    for (const [length, expected] of [
      [3, f.short],
      [4, f.exact],
      [10, f.long],
    ] as Array<[number, number[][]]>) {
      const x = tf.zeros([2, length, 6]);
      if (!layer.built) {
        tf.dispose(layer.apply(x) as tf.Tensor);
        layer.setWeights([t(f.table)]);
      }
      const y = layer.apply(x) as tf.Tensor;
      expect(y.shape).toEqual([2, length, 6]);
      // Both batch rows are the positions.
      expect(maxDiff(y, [expected, expected])).toBeLessThan(1e-6);
      tf.dispose([x, y]);
    }
  });

  it('its output carries no mask (keras-hub: no masking support)', () => {
    const layer = new KerasHubPositionEmbedding({ sequenceLength: 4 });
    const x = withMask(seededTensor([1, 3, 2], 2), paddingMask([2], 3));
    const y = layer.apply(x) as tf.Tensor & { kerasMask?: tf.Tensor };
    expect(y.kerasMask ?? null).toBeNull();
    tf.dispose([x, x.kerasMask!, y]);
  });

  it('invalid arguments', () => {
    expect(() => new KerasHubPositionEmbedding({ sequenceLength: 0, name: 'p' })).toThrow(
      "keras_hub PositionEmbedding 'p': sequenceLength must be a positive integer, got 0",
    );
    expect(() => new KerasHubPositionEmbedding({ sequenceLength: 3, hierarchicalAlpha: 1, name: 'p' })).toThrow(
      "keras_hub PositionEmbedding 'p': hierarchicalAlpha must be a number in [0, 1), got 1",
    );
    const layer = new KerasHubPositionEmbedding({ sequenceLength: 3, name: 'p' });
    expect(() => layer.apply(tf.input({ shape: [3] }))).toThrow(
      "keras_hub PositionEmbedding 'p': inputs must have rank 3, got shape [null, 3] (rank 2)",
    );
  });
});
