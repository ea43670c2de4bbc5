/**
 * Concat and SplitV on wasm as row copies inside the heap (src/kernels/concat.ts), against concat
 * and split written as plain loops: through `tf.concat` and `tf.split` on both backends (on cpu they
 * run tfjs's own kernels, which checks the loops themselves), and the wasm kernels called directly
 * with a stand-in for tfjs's kernel, to see which inputs they hand over to it.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { concatOnWasm, splitVOnWasm } from '../../src/kernels/concat';
import { describeEachBackend } from '../helpers/backends';
import { callKernel, tfjsStandIn } from '../helpers/wasm_kernels';

type Values = number[] | boolean[];

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Distinct values per input (`seed`), so that a value in the wrong place shows. */
function valuesOf(shape: number[], dtype: tf.DataType, seed: number): Values {
  return Array.from({ length: size(shape) }, (_v, i) =>
    dtype === 'bool' ? (i * seed) % 3 === 0 : dtype === 'int32' ? 100 * seed + i : seed + i / 64,
  ) as Values;
}

/** concat written out: each output row along `axis` is every input's row in turn. */
function concatReference(inputs: Values[], shapes: number[][], axis: number): number[] {
  const outer = size(shapes[0].slice(0, axis));
  const out: number[] = [];
  for (let o = 0; o < outer; o++) {
    inputs.forEach((values, i) => {
      const row = size(shapes[i].slice(axis));
      for (let e = 0; e < row; e++) out.push(Number(values[o * row + e]));
    });
  }
  return out;
}

/** split written out: output i holds columns [begin_i, begin_i + sizes[i]) of each row along `axis`. */
function splitReference(values: Values, shape: number[], sizes: number[], axis: number): number[][] {
  const outer = size(shape.slice(0, axis));
  const inner = size(shape.slice(axis + 1));
  let begin = 0;
  return sizes.map((length) => {
    const out: number[] = [];
    for (let o = 0; o < outer; o++) {
      for (let e = 0; e < length * inner; e++) out.push(Number(values[(o * shape[axis] + begin) * inner + e]));
    }
    begin += length;
    return out;
  });
}

/** Concatenations: [shapes, axis, dtype]. */
const CONCATS: Array<[string, number[][], number, tf.DataType]> = [
  ['rank 1', [[5], [3], [9]], 0, 'float32'],
  [
    'attention joined kernels',
    [
      [64, 64],
      [64, 64],
      [64, 64],
    ],
    1,
    'float32',
  ],
  [
    'rows shorter and longer than 8',
    [
      [4, 3],
      [4, 1],
      [4, 20],
    ],
    1,
    'int32',
  ],
  [
    'a short last row (past it: the next row)',
    [
      [3, 9],
      [3, 2],
    ],
    1,
    'float32',
  ],
  [
    'a short last row of 7',
    [
      [3, 2],
      [3, 7],
    ],
    1,
    'int32',
  ],
  [
    'whole inputs after one another',
    [
      [2, 3],
      [5, 3],
    ],
    0,
    'float32',
  ],
  [
    'an empty input',
    [
      [2, 3, 4],
      [2, 0, 4],
      [2, 2, 4],
    ],
    1,
    'float32',
  ],
  [
    'rank 4, bool',
    [
      [2, 3, 4, 5],
      [2, 3, 4, 2],
    ],
    3,
    'bool',
  ],
  [
    'negative axis',
    [
      [2, 3, 4, 5],
      [2, 1, 4, 5],
    ],
    -3,
    'float32',
  ],
  [
    'one input of the same row length as the output',
    [
      [3, 0],
      [3, 4],
    ],
    1,
    'float32',
  ],
];

/** Splits: [shape, sizes or count, axis, dtype]. */
const SPLITS: Array<[string, number[], number | number[], number, tf.DataType]> = [
  ['by count', [12], 3, 0, 'float32'],
  ['the joined kernels gradient', [64, 192], [64, 64, 64], 1, 'float32'],
  ['sizes with -1', [4, 23], [1, 20, -1], 1, 'int32'],
  ['a size of 0', [6, 3], [2, 0, 4], 0, 'float32'],
  ['rank 4, bool', [2, 3, 4, 5], 5, 3, 'bool'],
  ['negative axis', [2, 6, 4], [1, 5], -2, 'float32'],
  ['short pieces', [3, 10], [7, 3], 1, 'float32'],
  ['one piece of the whole axis (one copy of every row at once)', [3, 4], [0, 4], 1, 'float32'],
];

/** Reads `t` and disposes it. */
function read(t: tf.Tensor): number[] {
  const values = Array.from(t.dataSync(), Number);
  t.dispose();
  return values;
}

describeEachBackend('Concat and SplitV', () => {
  it.each(CONCATS)('tf.concat, %s, equals the written-out concat', (_name, shapes, axis, dtype) => {
    const values = shapes.map((shape, i) => valuesOf(shape, dtype, i + 2));
    const inputs = shapes.map((shape, i) => tf.tensor(values[i], shape, dtype));
    const before = tf.memory().numTensors;
    const out = tf.concat(inputs, axis);
    const positive = axis < 0 ? axis + shapes[0].length : axis;
    expect(out.dtype).toBe(dtype);
    expect(read(out)).toEqual(concatReference(values, shapes, positive));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(inputs);
  });

  it.each(SPLITS)('tf.split, %s, equals the written-out split', (_name, shape, splits, axis, dtype) => {
    const values = valuesOf(shape, dtype, 3);
    const x = tf.tensor(values, shape, dtype);
    const before = tf.memory().numTensors;
    const outs = tf.split(x, splits, axis);
    const positive = axis < 0 ? axis + shape.length : axis;
    const sizes =
      typeof splits === 'number'
        ? new Array<number>(splits).fill(shape[positive] / splits)
        : splits.map((s) => (s === -1 ? shape[positive] - splits.reduce((sum, t) => sum + t, 1) : s));
    expect(outs.map((t) => t.shape)).toEqual(sizes.map((s) => shape.map((d, k) => (k === positive ? s : d))));
    expect(outs.map(read)).toEqual(splitReference(values, shape, sizes, positive));
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('the gradient of a concat is a split: a joined projection and its gradients', () => {
    const x = tf.tensor(valuesOf([5, 7], 'float32', 1), [5, 7]);
    const weights = [0, 1, 2].map((i) => tf.tensor(valuesOf([7, 6], 'float32', i + 4), [7, 6]));
    const joined = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf
        .matMul(x, tf.concat([a, b, c], 1))
        .square()
        .sum(),
    )(weights);
    // The same gradients one weight at a time: d/dw sum((x w)^2) = 2 x^T (x w).
    const apart = weights.map((w) => tf.tidy(() => tf.matMul(x, tf.matMul(x, w), true).mul(2)));
    joined.forEach((g, i) => {
      const [a, b] = [g.dataSync(), apart[i].dataSync()];
      a.forEach((v, j) => expect(v).toBeCloseTo(b[j], 3));
    });
    tf.dispose([x, ...weights, ...joined, ...apart]);
  });
});

describe('concatOnWasm and splitVOnWasm called directly', () => {
  beforeAll(async () => {
    await initBackend('wasm', { quiet: true });
  });

  const complexInfo = (shape: number[]): tf.TensorInfo => ({ dataId: {}, shape, dtype: 'complex64' });

  const callConcat = (kernel: tf.KernelFunc, inputs: tf.Tensor[], axis: number) => callKernel(kernel, inputs, { axis });

  it('copies numeric inputs of one dtype itself (float32, int32, bool; two or more non-empty)', () => {
    for (const [dtype, shapes] of [
      [
        'float32',
        [
          [2, 3],
          [2, 5],
        ],
      ],
      [
        'int32',
        [
          [2, 3],
          [2, 0],
          [2, 1],
        ],
      ],
      ['bool', [[3], [4]]],
    ] as Array<[tf.DataType, number[][]]>) {
      const values = shapes.map((shape, i) => valuesOf(shape, dtype, i + 1));
      const inputs = shapes.map((shape, i) => tf.tensor(values[i], shape, dtype));
      const fallback = tfjsStandIn();
      const out = callConcat(concatOnWasm(fallback), inputs, shapes[0].length - 1);
      expect(fallback).not.toHaveBeenCalled();
      const tensor = tf.engine().makeTensorFromTensorInfo(out as tf.TensorInfo);
      expect(tensor.shape).toEqual([...shapes[0].slice(0, -1), shapes.reduce((sum, s) => sum + s.at(-1)!, 0)]);
      expect(read(tensor)).toEqual(concatReference(values, shapes, shapes[0].length - 1));
      tf.dispose(inputs);
    }
  });

  it('hands strings, complex numbers, mixed dtypes and fewer than two non-empty inputs to tfjs', () => {
    const cases: Array<[string, () => tf.Tensor[]]> = [
      ['strings', () => [tf.tensor(['a', 'b']), tf.tensor(['c'])]],
      // The wasm backend has no complex numbers: tensors described only (the kernel reads the dtype first).
      ['complex', () => [complexInfo([2]), complexInfo([1])] as unknown as tf.Tensor[]],
      ['float32 then int32', () => [tf.tensor([1, 2]), tf.tensor([3], undefined, 'int32')]],
      ['int32 then float32', () => [tf.tensor([1, 2], undefined, 'int32'), tf.tensor([3])]],
      ['one input', () => [tf.tensor([1, 2])]],
      ['one non-empty input', () => [tf.tensor([1, 2]), tf.zeros([0])]],
      ['no input', () => []],
    ];
    for (const [name, make] of cases) {
      const inputs = make();
      const fallback = tfjsStandIn();
      expect([name, callConcat(concatOnWasm(fallback), inputs, 0)]).toEqual([name, 'tfjs']);
      expect(fallback).toHaveBeenCalledTimes(1);
      tf.dispose(inputs.filter((t) => t instanceof tf.Tensor));
    }
  });

  it('splits numeric tensors itself and hands strings, complex numbers and empty tensors to tfjs', () => {
    const callSplit = (kernel: tf.KernelFunc, x: tf.Tensor, numOrSizeSplits: number | number[], axis: number) =>
      callKernel(kernel, { x }, { numOrSizeSplits, axis });
    for (const dtype of ['float32', 'int32', 'bool'] as tf.DataType[]) {
      const values = valuesOf([2, 9], dtype, 2);
      const x = tf.tensor(values, [2, 9], dtype);
      const fallback = tfjsStandIn();
      const outs = callSplit(splitVOnWasm(fallback), x, [4, 0, 5], 1) as tf.TensorInfo[];
      expect(fallback).not.toHaveBeenCalled();
      const tensors = outs.map((info) => tf.engine().makeTensorFromTensorInfo(info));
      expect(tensors.map((t) => t.shape)).toEqual([
        [2, 4],
        [2, 0],
        [2, 5],
      ]);
      expect(tensors.map(read)).toEqual(splitReference(values, [2, 9], [4, 0, 5], 1));
      x.dispose();
    }
    for (const [name, x] of [
      ['strings', tf.tensor(['a', 'b'])],
      ['complex', complexInfo([2]) as unknown as tf.Tensor],
      ['empty', tf.zeros([2, 0])],
    ] as Array<[string, tf.Tensor]>) {
      const fallback = tfjsStandIn();
      expect([name, callSplit(splitVOnWasm(fallback), x, 2, 0)]).toEqual([name, 'tfjs']);
      expect(fallback).toHaveBeenCalledTimes(1);
      if (x instanceof tf.Tensor) x.dispose();
    }
  });
});
