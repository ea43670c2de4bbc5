/**
 * The wasm Tile that copies whole blocks (src/kernels/tile.ts), against a tile written as plain
 * loops: `tileInto` on typed arrays, `tf.tile` on both backends (on cpu it runs tfjs's own kernel,
 * which checks the loop itself), and the wasm kernel called directly with a stand-in for tfjs's
 * kernel, to see which tensors it hands over to it.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { tileInto, tileOnWasm } from '../../src/kernels/tile';
import { describeEachBackend } from '../helpers/backends';
import { callKernel, tfjsStandIn } from '../helpers/wasm_kernels';

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Distinct values, so that an element in the wrong place shows. */
const valuesOf = (shape: number[], dtype: tf.DataType) =>
  Array.from({ length: size(shape) }, (_v, i) => (dtype === 'int32' ? i + 1 : i / 4 - 2));

/** tile written out: output index j reads input index (j[k] mod shape[k]) on every axis k. */
function tileReference(values: number[], shape: number[], reps: number[]): number[] {
  const outShape = shape.map((n, k) => n * reps[k]);
  const out: number[] = [];
  const index = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < size(outShape); flat++) {
    out.push(values[index.reduce((at, j, k) => at * shape[k] + (j % shape[k]), 0)]);
    for (let k = shape.length - 1; k >= 0; k--) {
      if (++index[k] < outShape[k]) break;
      index[k] = 0;
    }
  }
  return out;
}

/** [shape, reps, dtype]. */
const CASES: Array<[number[], number[], tf.DataType]> = [
  [[5], [3], 'float32'],
  [[5], [1], 'float32'],
  [[2, 3], [1, 4], 'float32'],
  [[2, 3], [3, 1], 'int32'],
  [[2, 3], [5, 7], 'float32'], // repetitions that are not powers of two
  [[3, 2], [2, 2], 'int32'],
  [[16, 12, 1], [1, 1, 7], 'float32'], // a layer norm's moments to its input's shape
  [[1, 1, 9], [4, 5, 1], 'float32'], // its gamma and beta
  [[2, 3, 2, 3], [2, 1, 3, 2], 'float32'],
  [[3, 1, 2, 1, 2], [1, 3, 1, 2, 2], 'int32'],
];

describe('tileInto', () => {
  it.each(CASES)('tiles %j by %j (%s) as the written-out tile', (shape, reps, dtype) => {
    const values = valuesOf(shape, dtype);
    const Type = dtype === 'int32' ? Int32Array : Float32Array;
    // A sentinel after the output: nothing is written past its end.
    const out = new Type(size(shape) * size(reps) + 4).fill(-7);
    tileInto(new Type(values), shape, reps, out.subarray(0, size(shape) * size(reps)));
    expect(Array.from(out)).toEqual([...tileReference(values, shape, reps), -7, -7, -7, -7]);
  });
});

describeEachBackend('Tile', () => {
  it.each(CASES)('tf.tile of %j by %j (%s) equals the written-out tile', (shape, reps, dtype) => {
    const values = valuesOf(shape, dtype);
    const x = tf.tensor(values, shape, dtype);
    const before = tf.memory().numTensors;
    const out = tf.tile(x, reps);
    expect([out.shape, out.dtype]).toEqual([shape.map((n, k) => n * reps[k]), dtype]);
    expect(Array.from(out.dataSync())).toEqual(tileReference(values, shape, reps));
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

describe('tileOnWasm called directly', () => {
  beforeAll(async () => {
    await initBackend('wasm', { quiet: true });
  });

  const call = (fallback: tf.KernelFunc, x: tf.TensorInfo, reps: number[]) =>
    callKernel(tileOnWasm(fallback), { x }, { reps });

  it('tiles float32 and int32 itself', () => {
    for (const [shape, reps, dtype] of [
      [[2, 3], [2, 3], 'float32'],
      [[4], [3], 'int32'],
    ] as Array<[number[], number[], tf.DataType]>) {
      const values = valuesOf(shape, dtype);
      const x = tf.tensor(values, shape, dtype);
      const fallback = tfjsStandIn();
      const t = tf.engine().makeTensorFromTensorInfo(call(fallback, x, reps) as tf.TensorInfo);
      expect(fallback).not.toHaveBeenCalled();
      expect([t.shape, t.dtype]).toEqual([shape.map((n, k) => n * reps[k]), dtype]);
      expect(Array.from(t.dataSync())).toEqual(tileReference(values, shape, reps));
      tf.dispose([x, t]);
    }
  });

  it('hands bool, strings, scalars and empty outputs to tfjs', () => {
    const cases: Array<[string, () => tf.Tensor, number[]]> = [
      ['bool', () => tf.tensor([true, false], [2], 'bool'), [2]],
      ['strings', () => tf.tensor(['a', 'b']), [2]],
      ['a scalar', () => tf.scalar(3), []],
      ['an empty input', () => tf.zeros([0, 2]), [2, 2]],
      ['no repetitions', () => tf.ones([2, 2]), [2, 0]],
    ];
    for (const [name, make, reps] of cases) {
      const x = make();
      const fallback = tfjsStandIn();
      expect([name, call(fallback, x, reps)]).toEqual([name, 'tfjs']);
      expect(fallback).toHaveBeenCalledTimes(1);
      x.dispose();
    }
  });
});
