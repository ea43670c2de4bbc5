/**
 * The fused-kernel plumbing (src/kernels/fused_kernel.ts) with a small kernel of this file's own,
 * written over Float32Arrays like the library's: registration on first use for cpu and wasm only,
 * inputs and outputs through each backend's memory, an absent optional input, the attributes and
 * shapes handed to `compute`, the float32 check, and `computeOnArrays` giving the same floats.
 */
import * as tf from '@tensorflow/tfjs';
import {
  computeOnArrays,
  defineFusedKernel,
  FUSED_KERNEL_BACKENDS,
  hasFusedKernel,
  runFusedKernel,
} from '../../src/kernels/fused_kernel';
import { describeEachBackend, useOpsOnlyBackend } from '../helpers/backends';

const KERNEL = 'TfjsAttentionTestScaleAdd';

interface ScaleAddAttrs {
  scale: number;
}

/** What `compute` was last given, to check the shapes and attributes it sees. */
let seen: { shapes: Record<string, number[]>; attrs: ScaleAddAttrs; names: string[] } | null = null;

// out = scale * x + y (y optional, broadcast from its first element), and sum = [sum of x, rows of x].
defineFusedKernel<ScaleAddAttrs>({
  kernelName: KERNEL,
  outputShapes: ({ x }, { scale }) => [x, scale === 0 ? [0] : [2]],
  compute: (inputs, [out, sum], attrs, shapes) => {
    const { x, y } = inputs;
    seen = { shapes: { ...shapes }, attrs: { ...attrs }, names: Object.keys(inputs) };
    for (let i = 0; i < x.length; i++) out[i] = attrs.scale * x[i] + (y == null ? 0 : y[0]);
    if (sum.length > 0) [sum[0], sum[1]] = [x.reduce((a, b) => a + b, 0), shapes.x[0]];
  },
});

const X = [1, -2, 3.5, 4, 0.25, -6];

describe('defineFusedKernel', () => {
  it('registers nothing at import, and only for cpu and wasm', () => {
    expect(FUSED_KERNEL_BACKENDS).toEqual(['cpu', 'wasm']);
    for (const backend of ['cpu', 'wasm', 'webgl']) expect(tf.getKernel(KERNEL, backend)).toBeUndefined();
  });

  it('runs outside tfjs on arrays (computeOnArrays), and names an unknown kernel', () => {
    const [out, sum] = computeOnArrays(
      KERNEL,
      { x: new Float32Array(X), y: new Float32Array([10]) },
      { scale: 2 },
      {
        x: [3, 2],
        y: [1],
      },
    );
    expect(Array.from(out)).toEqual(X.map((v) => 2 * v + 10));
    expect(Array.from(sum)).toEqual([0.75, 3]);
    expect(() => computeOnArrays('NoSuchKernel', {}, {}, {})).toThrow('NoSuchKernel: no such fused kernel');
  });
});

describeEachBackend('a fused kernel', (backend) => {
  it('is registered on first use, once, without a warning', () => {
    // Made first: tfjs's cpu backend prints its banner on its first tensor.
    const x = tf.tensor([1, 2]);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      expect(hasFusedKernel(KERNEL)).toBe(true);
      const kernel = tf.getKernel(KERNEL, backend);
      expect(kernel?.backendName).toBe(backend);
      expect(hasFusedKernel(KERNEL)).toBe(true);
      expect(tf.getKernel(KERNEL, backend)).toBe(kernel);
      expect(hasFusedKernel('NoSuchKernel')).toBe(false);
      // What it registered runs (registration builds the kernel function).
      const [out, sum] = runFusedKernel(KERNEL, { x }, { scale: 3 });
      expect([Array.from(out.dataSync()), Array.from(sum.dataSync())]).toEqual([
        [3, 6],
        [3, 2],
      ]);
      tf.dispose([x, out, sum]);
      // A kernel defined after the first use (a module imported later) is registered on its own
      // first use; the ones registered before are not registered again.
      const later = `${KERNEL}Later${backend}`;
      defineFusedKernel<Record<string, never>>({
        kernelName: later,
        outputShapes: ({ x: shape }) => [shape],
        compute: ({ x: input }, [y]) => y.set(input.map((v) => -v)),
      });
      expect(hasFusedKernel(later)).toBe(true);
      expect(tf.getKernel(KERNEL, backend)).toBe(kernel);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it('computes from its inputs in the backend memory, with its attributes and shapes', () => {
    const x = tf.tensor(X, [3, 2]);
    const y = tf.tensor([10]);
    const before = tf.memory().numTensors;
    const outs = runFusedKernel(KERNEL, { x, y }, { scale: 2 });
    expect(outs.map((t) => [t.shape, t.dtype])).toEqual([
      [[3, 2], 'float32'],
      [[2], 'float32'],
    ]);
    expect(outs.map((t) => Array.from(t.dataSync()))).toEqual([X.map((v) => 2 * v + 10), [0.75, 3]]);
    expect(seen).toEqual({ shapes: { x: [3, 2], y: [1] }, attrs: { scale: 2 }, names: ['x', 'y'] });
    // Its outputs are tensors of the backend like any other: they take part in later ops.
    const plusOne = outs[0].add(1);
    expect(Array.from(plusOne.dataSync())).toEqual(X.map((v) => 2 * v + 11));
    tf.dispose([...outs, plusOne]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
  });

  it('leaves out an absent input, and gives a list of one output too', () => {
    const x = tf.tensor(X, [6]);
    const outs = runFusedKernel(KERNEL, { x, y: undefined as unknown as tf.Tensor }, { scale: 0 });
    expect(outs.map((t) => t.shape)).toEqual([[6], [0]]);
    expect(Array.from(outs[0].dataSync())).toEqual(X.map(() => 0));
    expect(seen?.shapes).toEqual({ x: [6] });
    tf.dispose([x, ...outs]);
  });

  it('refuses an input that is not float32, naming the kernel, the input and its dtype', () => {
    const x = tf.tensor([1, 2], [2], 'int32');
    expect(() => runFusedKernel(KERNEL, { x }, { scale: 1 })).toThrow(
      `${KERNEL}: input 'x' must be float32, got int32`,
    );
    x.dispose();
  });
});

describe('a fused kernel elsewhere', () => {
  it('is not there on another backend, and running it says so', async () => {
    await useOpsOnlyBackend();
    expect(hasFusedKernel(KERNEL)).toBe(false);
    expect(tf.getKernel(KERNEL, 'ops-only')).toBeUndefined();
    const x = tf.tensor(X);
    expect(() => runFusedKernel(KERNEL, { x }, { scale: 1 })).toThrow(
      `${KERNEL}: no fused kernel on backend 'ops-only'`,
    );
    x.dispose();
  });
});
