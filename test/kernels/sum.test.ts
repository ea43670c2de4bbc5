/**
 * The wasm Sum over leading axes of float32 tensors (src/kernels/sum.ts), against sums written as
 * plain loops: through `tf.sum` on both backends (on cpu it runs tfjs's own kernel, which checks
 * the loop itself), and the wasm kernel called directly with a stand-in for tfjs's kernel, to see
 * which axes, dtypes and sizes it hands over to it.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { leadingAxes, sumLeadingOnWasm } from '../../src/kernels/sum';
import { describeEachBackend } from '../helpers/backends';
import { callKernel, tfjsStandIn } from '../helpers/wasm_kernels';

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Values whose float32 sums depend on the order they are added in. */
const valuesOf = (shape: number[], dtype: tf.DataType) =>
  Array.from({ length: size(shape) }, (_v, i) => (dtype === 'int32' ? i % 7 : Math.fround(Math.sin(i) * 1000 + 1 / 3)));

/** The sums over the first `leading` axes, each column added row after row in float32 (the kernel's order). */
function leadingSums(values: number[], shape: number[], leading: number): number[] {
  const rows = size(shape.slice(0, leading));
  const columns = size(shape.slice(leading));
  return Array.from({ length: columns }, (_c, j) => {
    let sum = 0;
    for (let r = 0; r < rows; r++) sum = Math.fround(sum + values[r * columns + j]);
    return sum;
  });
}

/** The sums over `axes` of any kind, in float64, indexed as the kept axes in order. */
function sumsOver(values: number[], shape: number[], axes: number[]): number[] {
  const kept = shape.map((_n, k) => k).filter((k) => !axes.includes(k));
  const out = new Array<number>(size(kept.map((k) => shape[k]))).fill(0);
  const strides = shape.map((_n, k) => size(shape.slice(k + 1)));
  values.forEach((v, flat) => {
    const index = shape.map((n, k) => Math.floor(flat / strides[k]) % n);
    out[kept.reduce((at, k) => at * shape[k] + index[k], 0)] += v;
  });
  return out;
}

/** [shape, axis, keepDims, dtype, how many leading axes the wasm kernel here sums (0: tfjs's)]. */
const CASES: Array<[number[], number | number[], boolean, tf.DataType, number]> = [
  [[37, 11], 0, false, 'float32', 1], // columns not whole vectors: rows read past their end
  [[2048, 65], [0], false, 'float32', 1], // a dense layer's bias gradient (gpt-char's output layer)
  [[1, 2048, 65], [0, 1], false, 'float32', 2],
  [[3, 5, 7], [1, 0], false, 'float32', 2], // axes in any order
  [[3, 5, 7], [-3, -2], true, 'float32', 2], // negative axes, dimensions kept
  [[5, 3], [0], true, 'float32', 1], // fewer columns than a vector
  [[1, 9], [0], false, 'float32', 1], // one row
  [[300, 8], [0], false, 'float32', 1], // whole vectors
  [[4, 6], [1], false, 'float32', 0], // the last axis
  [[2, 3, 4], [0, 2], false, 'float32', 0], // not leading
  [[4, 6], [0, 1], false, 'float32', 0], // every axis
  [[6], [0], false, 'float32', 0],
  [[4, 6], [0], false, 'int32', 0], // another dtype
  [[0, 6], [0], false, 'float32', 1], // sums of no rows: zeros (tfjs 4.22's own kernel leaves garbage)
  [[3, 0, 2], [0], true, 'float32', 1], // no columns
];

describeEachBackend('Sum', () => {
  it.each(CASES)(
    'tf.sum of %j over %j (keepDims %s, %s) equals the written-out sums',
    (shape, axis, keepDims, dtype) => {
      const values = valuesOf(shape, dtype);
      const x = tf.tensor(values, shape, dtype);
      const before = tf.memory().numTensors;
      const out = tf.sum(x, axis, keepDims);
      const leading = leadingAxes(axis, shape);
      const ours = tf.getBackend() === 'wasm' && leading > 0 && leading < shape.length && dtype === 'float32';
      if (ours) {
        // Ours adds each column row after row in float32.
        expect(Array.from(out.dataSync())).toEqual(leadingSums(values, shape, leading));
      } else {
        // tfjs's own kernels, in their own order: within float32 rounding of the sums of magnitudes.
        const axes = tf.util.parseAxisParam(axis, shape);
        const [expected, magnitudes] = [sumsOver(values, shape, axes), sumsOver(values.map(Math.abs), shape, axes)];
        const got = out.dataSync();
        expect(got.length).toBe(expected.length);
        expected.forEach((e, j) => expect(Math.abs(got[j] - e)).toBeLessThanOrEqual(1e-6 * magnitudes[j]));
      }
      out.dispose();
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    },
  );
});

describe('sumLeadingOnWasm called directly', () => {
  beforeAll(async () => {
    await initBackend('wasm', { quiet: true });
  });

  it.each(CASES)(
    'of %j over %j (keepDims %s, %s): done here only for float32 sums over some leading axes',
    (shape, axis, keepDims, dtype, leading) => {
      const values = valuesOf(shape, dtype);
      const x = tf.tensor(values, shape, dtype);
      const fallback = tfjsStandIn();
      const out = callKernel(sumLeadingOnWasm(fallback), { x }, { axis, keepDims });
      if (leading > 0) {
        expect(fallback).not.toHaveBeenCalled();
        const t = tf.engine().makeTensorFromTensorInfo(out as tf.TensorInfo);
        const kept = shape.map((n, i) => (i < leading ? 1 : n));
        expect([t.shape, t.dtype]).toEqual([keepDims ? kept : shape.slice(leading), 'float32']);
        expect(Array.from(t.dataSync())).toEqual(leadingSums(values, shape, leading));
        t.dispose();
      } else {
        expect(out).toBe('tfjs');
        expect(fallback).toHaveBeenCalledTimes(1);
      }
      x.dispose();
    },
  );

  it('leadingAxes counts axes 0.. named in any order, 0 when any other is named', () => {
    expect([leadingAxes(0, [2, 3]), leadingAxes([1, 0], [2, 3, 4]), leadingAxes([-3, -2], [2, 3, 4])]).toEqual([
      1, 2, 2,
    ]);
    expect([leadingAxes([1], [2, 3]), leadingAxes([0, 2], [2, 3, 4]), leadingAxes([0, 0], [2, 3])]).toEqual([0, 0, 0]);
  });
});
