/** The loader's own layers (op_layers.ts): values, masks and config round trips. */
import * as tf from '@tensorflow/tfjs';
import {
  ActivationOperation,
  ElementwiseOperation,
  KerasGlobalAveragePooling1D,
  KerasNormalization,
  ReduceOperation,
  SliceOperation,
  type SliceKeyItem,
} from '../../src';
import { KERAS_ACTIVATIONS, type ActivationOperationArgs } from '../../src/keras/activations';
import { parseSliceKey } from '../../src/keras/slicing';

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

describe('SliceOperation (x[key], NumPy basic indexing)', () => {
  const x = tf.range(0, 24).reshape([2, 3, 4]); // x[b, t, d] = 12 b + 4 t + d
  const all = { start: null, stop: null, step: null };
  const slice = (start: number | null, stop: number | null, step: number | null = null) => ({ start, stop, step });
  const index = (key: SliceKeyItem[], input: tf.Tensor = x) =>
    (new SliceOperation({ key, name: 's' }).apply(input) as tf.Tensor).arraySync();

  it('takes integers (removing the axis), slices with negative bounds and steps, new axes and the ellipsis', () => {
    expect(index([all, -1, all])).toEqual([
      [8, 9, 10, 11],
      [20, 21, 22, 23],
    ]);
    expect(index([all, slice(null, null, -2), null, slice(1, 3)])).toEqual([
      [[[9, 10]], [[1, 2]]],
      [[[21, 22]], [[13, 14]]],
    ]);
    expect(index(['ellipsis', slice(null, null, 3)])).toEqual(index([all, all, slice(0, 4, 3)]));
    expect(index([0, 'ellipsis', 2])).toEqual([2, 6, 10]);
    // Out-of-range bounds are clipped, as Python's slice.indices does.
    expect(index([all, slice(-10, 2), 0])).toEqual([
      [0, 4],
      [12, 16],
    ]);
    expect((new SliceOperation({ key: [all, slice(5, 10)] }).apply(x) as tf.Tensor).shape).toEqual([2, 0, 4]);
    expect(() => index([all, 3])).toThrow("SliceOperation 's': index 3 is out of range for axis 1 of size 3");
  });

  it('keeps unknown sizes unknown in its output shape, and round-trips its config', () => {
    const layer = new SliceOperation({ key: [all, slice(null, null, -2), null, 0], name: 's' });
    expect(layer.computeOutputShape([null, 3, 4])).toEqual([null, 2, 1]);
    expect(layer.computeOutputShape([null, null, 4])).toEqual([null, null, 1]);
    roundTrip(layer);
  });

  it('reads both Keras spellings of a key and refuses what is not a static basic index', () => {
    const keras3 = [{ class_name: '__slice__', config: { start: 1, stop: null, step: 2 } }, -1, null];
    expect(parseSliceKey(keras3, 'm')).toEqual([slice(1, null, 2), -1, null]);
    expect(parseSliceKey([{ start: null, stop: 3, step: null }, { class_name: '__ellipsis__' }], 'm')).toEqual([
      slice(null, 3),
      'ellipsis',
    ]);
    expect(() => parseSliceKey([{ start: { class_name: '__keras_tensor__' }, stop: 1, step: 1 }], 'm')).toThrow(
      'm: a slice start of {"class_name":"__keras_tensor__"}; only integer (static) bounds are supported',
    );
    expect(() => parseSliceKey([[0, 1]], 'm')).toThrow('m: index [0,1] is not supported');
    expect(() => parseSliceKey(['ellipsis', 'ellipsis'], 'm')).toThrow('m: an index with two ellipses');
    expect(() => parseSliceKey([slice(0, 1, 0)], 'm')).toThrow('m: a slice step of 0');
  });
});

describe('ActivationOperation (Keras activation operations)', () => {
  const x = tf.tensor1d([-1, 0, 1, 2]);
  const apply = (args: Omit<ActivationOperationArgs, 'name'>) =>
    (new ActivationOperation({ ...args, name: 'a' }).apply(x) as tf.Tensor).arraySync() as number[];
  const near = (got: number[], want: number[]) =>
    expect(Math.max(...got.map((v, i) => Math.abs(v - want[i])))).toBeLessThan(1e-6);

  it("computes Keras's definitions: exact and tanh gelu, leaky_relu with slope 0.2, elu with alpha", () => {
    // 0.5 x (1 + erf(x / sqrt 2)) and 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), by Python's math.
    near(apply({ activation: 'gelu' }), [-0.15865525, 0, 0.84134475, 1.95449974]);
    near(apply({ activation: 'gelu', approximate: true }), [-0.15880801, 0, 0.84119199, 1.95459769]);
    near(apply({ activation: 'leaky_relu' }), [-0.2, 0, 1, 2]);
    near(apply({ activation: 'leaky_relu', negativeSlope: 0.1 }), [-0.1, 0, 1, 2]);
    near(apply({ activation: 'elu', alpha: 2 }), [2 * (Math.exp(-1) - 1), 0, 1, 2]);
    near(apply({ activation: 'silu' }), [-1 / (1 + Math.E), 0, 1 / (1 + Math.exp(-1)), 2 / (1 + Math.exp(-2))]);
    near(apply({ activation: 'softsign' }), [-0.5, 0, 0.5, 2 / 3]);
    const softmax = new ActivationOperation({ activation: 'softmax', axis: 0 }).apply(
      tf.tensor2d([[0], [Math.log(3)]]),
    );
    near((softmax as tf.Tensor).arraySync() as unknown as number[], [0.25, 0.75]);
  });

  it('computes every elementwise activation Keras names by its definition (keras/src/activations)', () => {
    const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
    const softplus = (v: number) => Math.log1p(Math.exp(v));
    const [alpha, scale] = [1.6732632423543772, 1.0507009873554805]; // selu's constants
    const definitions: Record<string, (v: number) => number> = {
      linear: (v) => v,
      relu: (v) => Math.max(v, 0),
      relu6: (v) => Math.min(Math.max(v, 0), 6),
      sigmoid,
      tanh: Math.tanh,
      softplus,
      softsign: (v) => v / (1 + Math.abs(v)),
      silu: (v) => v * sigmoid(v),
      swish: (v) => v * sigmoid(v),
      selu: (v) => scale * (v > 0 ? v : alpha * Math.expm1(v)),
      elu: (v) => (v > 0 ? v : Math.expm1(v)),
      mish: (v) => v * Math.tanh(softplus(v)),
    };
    // gelu, leaky_relu and softmax take options: the test above.
    expect([...Object.keys(definitions), 'gelu', 'leaky_relu', 'softmax'].sort()).toEqual(
      [...KERAS_ACTIVATIONS].sort(),
    );
    const values = [-3, -1, -0.25, 0, 0.5, 2, 7];
    const input = tf.tensor1d(values);
    for (const [activation, f] of Object.entries(definitions)) {
      const layer = new ActivationOperation({
        activation: activation as ActivationOperationArgs['activation'],
        name: 'a',
      });
      const got = (layer.apply(input) as tf.Tensor).arraySync() as number[];
      got.forEach((v, i) => expect([activation, v]).toEqual([activation, expect.closeTo(f(values[i]), 5)]));
    }
    input.dispose();
  });

  it("passes no mask on, as Keras's operations; reads tfjs's camel-cased names; refuses unknown ones", () => {
    const layer = new ActivationOperation({ activation: 'leakyRelu' as never, negativeSlope: 0.1 });
    expect(layer.activation).toBe('leaky_relu');
    expect(layer.computeMask(x, tf.ones([4], 'bool'))).toBeNull();
    roundTrip(layer);
    expect(() => new ActivationOperation({ activation: 'hard_sigmoid' as never })).toThrow(
      'ActivationOperation: activation is "hard_sigmoid"; expected one of linear, relu',
    );
  });

  it("gives layers Keras 3's 'leaky_relu' activation (slope 0.2, tfjs's LeakyReLU's is 0.3) as KerasLeakyRelu", () => {
    const layer = tf.layers.activation({ activation: 'KerasLeakyRelu' as never });
    near((layer.apply(x) as tf.Tensor).arraySync() as number[], [-0.2, 0, 1, 2]);
  });
});

describe('KerasNormalization', () => {
  const x = tf.tensor3d([
    [
      [1, 10],
      [3, 30],
      [5, 50],
    ],
  ]); // (B=1, T=3, D=2)

  it('normalizes by the adapted mean and variance (its weights, in Keras order: mean, variance, count)', () => {
    const layer = new KerasNormalization({ name: 'n' });
    layer.build([null, 3, 2]);
    expect(layer.weights.map((w) => [w.originalName, w.shape, w.trainable])).toEqual([
      ['mean', [2], false],
      ['variance', [2], false],
      ['count', [], false],
    ]);
    layer.setWeights([tf.tensor1d([3, 30]), tf.tensor1d([4, 0]), tf.scalar(3)]);
    // (x - mean) / max(sqrt(variance), 1e-7)
    close((layer.apply(x) as tf.Tensor).arraySync(), [
      [
        [-1, -2e8],
        [0, 0],
        [1, 2e8],
      ],
    ]);
  });

  it('takes fixed statistics broadcast onto the kept axes, one for everything with axis null, and inverts', () => {
    const perStep = new KerasNormalization({ axis: 1, mean: [1, 3, 5], variance: [1, 4, 16] });
    close((perStep.apply(x) as tf.Tensor).arraySync(), [
      [
        [0, 9],
        [0, 13.5],
        [0, 11.25],
      ],
    ]);
    const whole = new KerasNormalization({ axis: null, mean: 1, variance: 4, invert: true });
    close((whole.apply(x) as tf.Tensor).arraySync(), [
      [
        [3, 21],
        [7, 61],
        [11, 101],
      ],
    ]);
    roundTrip(whole);
    const mask = tf.tensor2d([[1, 1, 0]], undefined, 'bool');
    expect(whole.computeMask(x, mask)).toBe(mask);
  });

  it('builds with fixed statistics leaving no tensor behind (every Keras file with one loaded leaked two)', () => {
    const before = tf.memory().numTensors;
    new KerasNormalization({ axis: 1, mean: [1, 3, 5], variance: [1, 4, 16] }).build([null, 3, 2]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses statistics that do not fit', () => {
    expect(() => new KerasNormalization({ mean: [1, 2] })).toThrow('mean and variance must be given together');
    expect(() => new KerasNormalization({ mean: [1, 2, 3], variance: [1, 1, 1], name: 'n' }).apply(x)).toThrow(
      "KerasNormalization 'n': mean of shape [3] does not broadcast onto the kept axes [2]",
    );
  });
});
