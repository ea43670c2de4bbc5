import * as tf from '@tensorflow/tfjs';
import { MultiHeadAttention } from '../../src';

describe('MultiHeadAttention.kerasWeightPaths', () => {
  it('names each weight where Keras 3 saves it, in the order of layer.weights', () => {
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 4, valueDim: 3 });
    layer.apply([tf.input({ shape: [5, 6] }), tf.input({ shape: [7, 8] })]);
    const paths = layer.kerasWeightPaths();
    expect(paths).toEqual([
      'query_dense/vars/0',
      'query_dense/vars/1',
      'key_dense/vars/0',
      'key_dense/vars/1',
      'value_dense/vars/0',
      'value_dense/vars/1',
      'output_dense/vars/0',
      'output_dense/vars/1',
    ]);
    // Shapes as in a real Keras 3 file: query kernel [Dq, H, K], value kernel [Dv, H, V], output [H, V, Dout].
    expect(layer.weights.map((w) => w.shape)).toEqual([
      [6, 2, 4],
      [2, 4],
      [8, 2, 4],
      [2, 4],
      [8, 2, 3],
      [2, 3],
      [2, 3, 6],
      [6],
    ]);
  });

  it('leaves out the biases when useBias is false', () => {
    const layer = new MultiHeadAttention({ numHeads: 1, keyDim: 2, useBias: false });
    layer.apply(tf.input({ shape: [3, 4] }));
    expect(layer.kerasWeightPaths()).toEqual([
      'query_dense/vars/0',
      'key_dense/vars/0',
      'value_dense/vars/0',
      'output_dense/vars/0',
    ]);
    expect(layer.weights).toHaveLength(4);
  });
});
