/**
 * The SIMD e^x (simd_kernels.ts's `expForward`) and the wasm Exp built on it (src/kernels/exp.ts):
 * within 1 ulp of e^x correctly rounded to float32 over the whole range, with the special values
 * as tfjs's own Exp gives them, and the kernel handing other dtypes and empty tensors to tfjs's.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { expOnWasm } from '../../src/kernels/exp';
import { simdKernels } from '../../src/kernels/simd_kernels';
import { partsRunByWorkers } from '../../src/kernels/threads';
import { onWorkersOnly, useThreads } from '../helpers/threads';
import { callKernel, tfjsStandIn } from '../helpers/wasm_kernels';

/** The largest of many numbers (Math.max(...xs) overflows the stack past about 100,000). */
function largest(xs: ArrayLike<number>): number {
  let most = -Infinity;
  for (let i = 0; i < xs.length; i++) most = Math.max(most, xs[i]);
  return most;
}

/** The distance from |v| to the next float32 up (the smallest subnormal at 0). */
function ulpOf(v: number): number {
  const bits = new Int32Array(new Float32Array([Math.abs(v)]).buffer);
  bits[0]++;
  return new Float32Array(bits.buffer)[0] - Math.abs(v);
}

/** How many ulps `got` is from e^x rounded to float32 (0 where both are the same infinity or NaN). */
function ulpsFromExp(x: number, got: number): number {
  const want = Math.fround(Math.exp(x));
  if (!Number.isFinite(want)) return Object.is(got, want) ? 0 : Infinity;
  return Math.abs(got - want) / ulpOf(want);
}

/** Every 0.00137 from -110 to 90 (146,000 floats: subnormal results, overflow, everything between). */
const SWEEP = Array.from({ length: Math.floor(200 / 0.00137) }, (_v, i) => Math.fround(-110 + i * 0.00137));

/** [x, e^x as float32] at the edges: overflow, the smallest normal and subnormal results, NaN. */
const SPECIAL: Array<[number, number]> = [
  [NaN, NaN],
  [Infinity, Infinity],
  [-Infinity, 0],
  [0, 1],
  [-0, 1],
  [Math.fround(88.72283), Math.fround(Math.exp(Math.fround(88.72283)))], // just below float32's largest
  [Math.fround(88.72284), Infinity],
  [Math.fround(-87.33654), Math.fround(Math.exp(Math.fround(-87.33654)))], // about the smallest normal
  [Math.fround(-103.97), 1.401298464324817e-45], // the smallest subnormal
  [-104, 0],
  [Math.fround(1e-30), 1],
];

describe('expForward', () => {
  const mm = simdKernels()!;

  it('is within 1 ulp of e^x over -110 to 90, 146,000 floats, most exactly rounded, and ends as float32 does', () => {
    const xs = [...SWEEP, ...SPECIAL.map(([x]) => x)];
    const n4 = 4 * Math.ceil(xs.length / 4);
    mm.reserve(2 * n4 + 16);
    mm.floats.set(xs, 0);
    mm.expForward(0, 4 * n4, 4 * n4);
    const got = mm.floats.slice(n4, n4 + xs.length);
    const worst = largest(SWEEP.map((x, i) => ulpsFromExp(x, got[i])));
    expect(worst).toBeLessThanOrEqual(1);
    expect(worst).toBeGreaterThan(0); // an approximation, not a copy of Math.exp
    // And most exactly rounded (90.9% with fused multiply-adds, 90.5% without): a coefficient off
    // by a quarter still stays within 1 ulp, but rounds 89.7% exactly.
    const exact = SWEEP.filter((x, i) => ulpsFromExp(x, got[i]) === 0).length;
    expect(exact / SWEEP.length).toBeGreaterThan(0.9);
    SPECIAL.forEach(([, want], i) => expect(got[SWEEP.length + i]).toBe(want));
  });
});

describe('expOnWasm', () => {
  beforeAll(async () => {
    await initBackend('wasm', { quiet: true });
    await useThreads(2);
  });

  const callDirectly = (x: tf.Tensor, fallback: tf.KernelFunc) => callKernel(expOnWasm(fallback), { x });

  it('tf.exp of float32 over more floats than a part (a last partial vector), on the worker: within 1 ulp', () => {
    // 3 x 70001: not whole vectors, and parts on both threads.
    const values = Float32Array.from({ length: 3 * 70001 }, (_v, i) => Math.sin(i) * 90 - 10);
    const x = tf.tensor(values, [3, 70001]);
    const before = tf.memory().numTensors;
    // Every part on the worker (the caller claims none), so that its results are the ones checked.
    const workerParts = partsRunByWorkers();
    const y = onWorkersOnly(() => tf.exp(x));
    expect(partsRunByWorkers() - workerParts).toBeGreaterThan(1);
    expect([y.shape, y.dtype]).toEqual([[3, 70001], 'float32']);
    const got = y.dataSync();
    expect(largest(Array.from(values, (v, i) => ulpsFromExp(v, got[i])))).toBeLessThanOrEqual(1);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('runs float32 here and hands other dtypes and empty tensors to tfjs', () => {
    const fallback = tfjsStandIn();
    const x = tf.tensor([
      [0, 1, -2],
      [30, -100, 2],
    ]);
    const out = tf.engine().makeTensorFromTensorInfo(callDirectly(x, fallback) as tf.TensorInfo);
    expect(fallback).not.toHaveBeenCalled();
    expect(Math.max(...Array.from(out.dataSync(), (v, i) => ulpsFromExp(x.dataSync()[i], v)))).toBeLessThanOrEqual(1);
    for (const other of [tf.tensor([1, 2], [2], 'int32'), tf.zeros([0, 3])]) {
      expect(callDirectly(other, fallback)).toBe('tfjs');
      other.dispose();
    }
    expect(fallback).toHaveBeenCalledTimes(2);
    tf.dispose([x, out]);
  });
});
