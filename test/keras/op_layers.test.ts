/** The loader's own layers (op_layers.ts): values, masks and config round trips. */
import * as tf from '@tensorflow/tfjs';
import { ElementwiseOperation, KerasGlobalAveragePooling1D, ReduceOperation } from '../../src';

const close = (got: unknown, want: number[][] | number[][][]) =>
  expect(Math.max(...(got as number[][]).flat(2).map((v, i) => Math.abs(v - want.flat(2)[i])))).toBeLessThan(1e-4);

const roundTrip = (layer: tf.layers.Layer) => {
  const cls = layer.constructor as unknown as { fromConfig(c: typeof Object, config: object): tf.layers.Layer };
  const again = cls.fromConfig(layer.constructor as never, layer.getConfig());
  expect(again.getConfig()).toEqual(layer.getConfig());
};

describe('ElementwiseOperation', () => {
  it('computes x op y, x op c and c op x, and averages any number of inputs', () => {
    const x = tf.tensor2d([[1, 2]]);
    const y = tf.tensor2d([[3, 5]]);
    const value = (layer: tf.layers.Layer, inputs: tf.Tensor | tf.Tensor[]) =>
      (layer.apply(inputs) as tf.Tensor).arraySync();
    expect(value(new ElementwiseOperation({ operation: 'subtract' }), [x, y])).toEqual([[-2, -3]]);
    expect(value(new ElementwiseOperation({ operation: 'subtract', constant: 1, constantFirst: true }), x)).toEqual([
      [0, -1],
    ]);
    expect(value(new ElementwiseOperation({ operation: 'divide', constant: 2 }), x)).toEqual([[0.5, 1]]);
    close(value(new ElementwiseOperation({ operation: 'average' }), [x, y, y]), [[7 / 3, 4]]);
    roundTrip(new ElementwiseOperation({ operation: 'power', constant: 2, name: 'p' }));
  });

  it('with mergeMasks, the AND of the masks (tfjs 4.22 merge layers keep only the first, with an extra axis)', () => {
    const layer = new ElementwiseOperation({ operation: 'add', mergeMasks: true });
    const a = tf.tensor2d([[1, 1, 0]], undefined, 'bool');
    const b = tf.tensor2d([[1, 0, 0]], undefined, 'bool');
    const x = tf.zeros([1, 3, 2]);
    expect((layer.computeMask([x, x], [a, b]) as tf.Tensor).arraySync()).toEqual([[1, 0, 0]]);
    expect(layer.computeMask([x, x], [a, null as never])).not.toBeNull();
    expect(new ElementwiseOperation({ operation: 'add' }).computeMask([x, x], [a, b])).toBeNull();
  });

  it('refuses an unknown operation and a wrong number of inputs', () => {
    expect(() => new ElementwiseOperation({ operation: 'xor' as never })).toThrow(
      'ElementwiseOperation: operation is "xor"; expected one of add, subtract, multiply, divide, maximum, minimum, ' +
        'power, average',
    );
    expect(() => new ElementwiseOperation({ operation: 'add', name: 'e' }).apply(tf.ones([2]))).toThrow(
      "ElementwiseOperation 'e': got 1 inputs; expected two or more",
    );
  });
});

describe('ReduceOperation', () => {
  it('reduces the given axes, negative ones from the end, keeping dims when asked', () => {
    const x = tf.tensor3d([
      [
        [1, 2],
        [3, 4],
      ],
    ]);
    const value = (args: ConstructorParameters<typeof ReduceOperation>[0]) =>
      (new ReduceOperation(args).apply(x) as tf.Tensor).arraySync();
    expect(value({ operation: 'mean', axis: -1 })).toEqual([[1.5, 3.5]]);
    expect(value({ operation: 'sum', axis: [1, 2], keepdims: true })).toEqual([[[10]]]);
    expect(value({ operation: 'max', axis: 1 })).toEqual([[3, 4]]);
    roundTrip(new ReduceOperation({ operation: 'prod', axis: [0, 1], keepdims: true }));
    expect(() => new ReduceOperation({ operation: 'mean', axis: 5, name: 'r' }).apply(x)).toThrow(
      "ReduceOperation 'r': axis 5 is out of range for rank 3",
    );
  });
});

describe('KerasGlobalAveragePooling1D', () => {
  const x = tf.tensor3d([
    [
      [1, 10],
      [3, 30],
      [100, 1000],
    ],
  ]); // (B=1, T=3, D=2)

  it('averages the steps axis of channels_last, the last axis of channels_first', () => {
    close((new KerasGlobalAveragePooling1D().apply(x) as tf.Tensor).arraySync(), [[104 / 3, 1040 / 3]]);
    const first = new KerasGlobalAveragePooling1D({ dataFormat: 'channels_first', keepdims: true });
    expect((first.apply(x) as tf.Tensor).arraySync()).toEqual([[[5.5], [16.5], [550]]]);
    roundTrip(first);
  });

  it('averages the unmasked steps only, as Keras (tfjs 4.22 averages padded steps too)', () => {
    const layer = new KerasGlobalAveragePooling1D();
    const mask = tf.tensor2d([[1, 1, 0]], undefined, 'bool');
    expect((layer.call(x, { mask }) as tf.Tensor).arraySync()).toEqual([[2, 20]]);
    const theirs = tf.layers.globalAveragePooling1d({});
    expect((theirs.call(x, { mask }) as tf.Tensor).arraySync()).not.toEqual([[2, 20]]);
  });
});
