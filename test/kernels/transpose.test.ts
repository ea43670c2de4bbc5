/**
 * The wasm Transpose of the last two axes of float32 tensors (src/kernels/transpose.ts), against a
 * transpose written as plain loops: through `tf.transpose` on both backends (on cpu it runs tfjs's
 * own kernel, which checks the loop itself), and the wasm kernel called directly with a stand-in
 * for tfjs's kernel, to see which permutations, dtypes and sizes it hands over to it.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { transposeLastTwoOnWasm } from '../../src/kernels/transpose';
import { describeEachBackend } from '../helpers/backends';
import { callKernel, tfjsStandIn } from '../helpers/wasm_kernels';

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Distinct values, so that an element in the wrong place shows. */
const valuesOf = (shape: number[], dtype: tf.DataType) =>
  Array.from({ length: size(shape) }, (_v, i) => (dtype === 'int32' ? i : i / 8 - 100));

/** transpose written out: output index j (in the permuted shape) reads input index sum(j[k] * stride[perm[k]]). */
function transposeReference(values: number[], shape: number[], perm: number[]): number[] {
  const outShape = perm.map((axis) => shape[axis]);
  const strides = shape.map((_n, k) => size(shape.slice(k + 1)));
  const out: number[] = [];
  const index = new Array<number>(outShape.length).fill(0);
  for (let flat = 0; flat < values.length; flat++) {
    out.push(values[index.reduce((at, j, k) => at + j * strides[perm[k]], 0)]);
    for (let k = outShape.length - 1; k >= 0; k--) {
      if (++index[k] < outShape[k]) break;
      index[k] = 0;
    }
  }
  return out;
}

/** [shape, perm, dtype, whether the wasm kernel here does it (not tfjs's)]. */
const CASES: Array<[number[], number[], tf.DataType, boolean]> = [
  [[37, 11], [1, 0], 'float32', true], // rows and columns not multiples of the kernel's blocks
  [[2048, 37], [1, 0], 'float32', true], // many blocks of rows
  // One matrix of 1 MB, more than the kernels' memory starts with: it grows to hold the staged input
  // and output and little more, so a write past the output leaves the memory.
  [[512, 512], [1, 0], 'float32', true],
  [[3, 5, 7], [0, 2, 1], 'float32', true], // one matrix per leading index
  [[2, 3, 4, 5], [0, 1, 3, 2], 'float32', true],
  [[2, 1, 3, 4, 2], [0, 1, 2, 4, 3], 'float32', true],
  [[1, 9], [1, 0], 'float32', true],
  [[3, 5, 7], [1, 0, 2], 'float32', false], // another permutation
  [[3, 5, 7], [2, 1, 0], 'float32', false],
  [[3, 5, 7], [1, 2, 0], 'float32', false],
  [[2, 3, 4, 5], [1, 0, 3, 2], 'float32', false],
  [[2, 3, 4, 5], [0, 2, 3, 1], 'float32', false],
  [[4, 6], [0, 1], 'float32', false], // no swap
  [[6], [0], 'float32', false], // rank 1
  [[], [], 'float32', false], // a scalar (tf.transpose clones it; the kernel hands it over too)
  [[4, 6], [1, 0], 'int32', false], // another dtype
  [[0, 6], [1, 0], 'float32', false], // empty
  [[3, 0, 2], [0, 2, 1], 'float32', false],
];

describeEachBackend('Transpose', () => {
  it.each(CASES)('tf.transpose of %j by %j (%s) equals the written-out transpose', (shape, perm, dtype) => {
    const values = valuesOf(shape, dtype);
    const x = tf.tensor(values, shape, dtype);
    const before = tf.memory().numTensors;
    const out = tf.transpose(x, perm);
    expect(out.shape).toEqual(perm.map((axis) => shape[axis]));
    expect(Array.from(out.dataSync())).toEqual(transposeReference(values, shape, perm));
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

describe('transposeLastTwoOnWasm called directly', () => {
  beforeAll(async () => {
    await initBackend('wasm', { quiet: true });
  });

  it.each(CASES)(
    'of %j by %j (%s): done here only for a float32 swap of the last two axes',
    (shape, perm, dtype, ours) => {
      const values = valuesOf(shape, dtype);
      const x = tf.tensor(values, shape, dtype);
      const fallback = tfjsStandIn();
      const out = callKernel(transposeLastTwoOnWasm(fallback), { x }, { perm });
      if (ours) {
        expect(fallback).not.toHaveBeenCalled();
        const t = tf.engine().makeTensorFromTensorInfo(out as tf.TensorInfo);
        expect([t.shape, t.dtype]).toEqual([perm.map((axis) => shape[axis]), 'float32']);
        expect(Array.from(t.dataSync())).toEqual(transposeReference(values, shape, perm));
        t.dispose();
      } else {
        expect(out).toBe('tfjs');
        expect(fallback).toHaveBeenCalledTimes(1);
      }
      x.dispose();
    },
  );
});
