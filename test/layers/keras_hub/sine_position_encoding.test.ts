import * as tf from '@tensorflow/tfjs';
import { KerasHubSinePositionEncoding } from '../../../src/layers/keras_hub/sine_position_encoding';
import { describeEachBackend } from '../../helpers/backends';
import { seededTensor } from '../../helpers/tensors';
import { expectWeightlessLayerContract } from '../../helpers/weightless_layer_contract';
import { hubFixture, maxDiff } from './fixtures';

describeEachBackend('keras_hub SinePositionEncoding', () => {
  expectWeightlessLayerContract('keras_hub SinePositionEncoding', {
    make: () => new KerasHubSinePositionEncoding({ maxWavelength: 100 }),
    inputs: () => seededTensor([2, 5, 6], 1),
    outputShape: [2, 5, 6],
    shapeOnly: true,
  });

  it('equals keras-hub (numpy) for an even and an odd width (1e-6)', () => {
    const f = hubFixture<{ even: number[][]; odd: number[][] }>('hub_sine_position_encoding');
    const even = new KerasHubSinePositionEncoding({ maxWavelength: 100 }).apply(tf.zeros([1, 5, 6])) as tf.Tensor;
    const odd = new KerasHubSinePositionEncoding().apply(tf.zeros([2, 4, 7])) as tf.Tensor;
    expect(maxDiff(even, [f.even])).toBeLessThan(1e-6);
    expect(maxDiff(odd, [f.odd, f.odd])).toBeLessThan(1e-6);
    tf.dispose([even, odd]);
  });

  it('a hand-computed row: position 1 of width 2 is [sin 1, cos 1]', () => {
    const y = new KerasHubSinePositionEncoding().apply(tf.zeros([1, 2, 2])) as tf.Tensor;
    const values = y.dataSync();
    expect(Math.abs(values[2] - Math.sin(1))).toBeLessThan(1e-6);
    expect(Math.abs(values[3] - Math.cos(1))).toBeLessThan(1e-6);
    expect([values[0], values[1]]).toEqual([0, 1]);
    y.dispose();
  });

  it('invalid arguments', () => {
    expect(() => new KerasHubSinePositionEncoding({ maxWavelength: 0, name: 's' })).toThrow(
      "keras_hub SinePositionEncoding 's': maxWavelength must be a positive number, got 0",
    );
  });
});
