/**
 * initBackend's `sharedHeap` (src/kernels/shared_heap.ts): tfjs's threaded WebAssembly build as the
 * 'wasm' backend, its tensors in the memory the SIMD kernels run in. A test file has a tfjs engine
 * of its own, so this one starts 'wasm' that way before anything else; the cpu backend, on the same
 * kernels, gives the values to compare with.
 */
import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../../src/backend';
import { fusedDense } from '../../src/kernels/dense';
import { installSharedHeap, shareThreadedHeap } from '../../src/kernels/shared_heap';
import {
  inSharedHeap,
  placeInHeap,
  sharedHeapKernels,
  simdModule,
  stagingCopies,
} from '../../src/kernels/simd_kernels';
import { TransformerEncoderBlock } from '../../src/layers/transformer_encoder_block';
import { maxAbsDiff, randomizeWeights, seededTensor } from '../helpers/tensors';

const listeners = () =>
  ['uncaughtException', 'unhandledRejection'].map((event) => process.listeners(event as 'uncaughtException').length);
const globalsBefore = { worker: 'Worker' in globalThis, listeners: listeners() };

beforeAll(async () => {
  await initBackend('wasm', { quiet: true, sharedHeap: true, threads: 2 });
});

/** A causal encoder block's output and every gradient (input and weights) of a weighted sum of it, on `backend`. */
async function blockValues(block: TransformerEncoderBlock, backend: 'wasm' | 'cpu'): Promise<Float32Array[]> {
  await initBackend(backend, { quiet: true });
  const x = seededTensor([3, 12, 32], 7);
  const weights = seededTensor([3, 12, 32], 8);
  const variables = block.trainableWeights.map((w) => w.read());
  const f = (input: tf.Tensor, ...ws: tf.Tensor[]) => {
    void ws;
    return tf.sum(tf.mul(block.apply(input, { training: true }) as tf.Tensor, weights));
  };
  const { value, grads } = tf.valueAndGrads(f)([x, ...variables]);
  const out = [value, ...grads].map((t) => t.dataSync() as Float32Array);
  tf.dispose([value, ...grads, x, weights]);
  return out;
}

describe('initBackend sharedHeap', () => {
  it("puts tfjs's wasm tensors and the kernels in one memory", () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(inSharedHeap()).toBe(true);
    expect(sharedHeapKernels()).toBe(true);
    const tfjsModule = (tf.backend() as unknown as { wasm: { wasmMemory: WebAssembly.Memory } }).wasm;
    expect(tfjsModule.wasmMemory).toBe(simdModule()!.memory);
    expect(tfjsModule.wasmMemory.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it("undoes the threaded build's process-wide changes (global Worker, process listeners)", () => {
    expect('Worker' in globalThis).toBe(globalsBefore.worker);
    expect(listeners()).toEqual(globalsBefore.listeners);
  });

  it('reads the inputs and writes the outputs of a dense layer in place, forward and backward', () => {
    const x = seededTensor([4, 8, 16], 1);
    const kernel = seededTensor([16, 24], 2);
    const bias = seededTensor([24], 3);
    const dy = seededTensor([4, 8, 24], 4);
    const before = stagingCopies();
    const grads = tf.grads((a: tf.Tensor, k: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(fusedDense(a, k, b, 'gelu'), dy)),
    )([x, kernel, bias]);
    const after = stagingCopies();
    expect(after).toEqual(before);
    // The values: exact GELU of x W + b in tfjs ops, z Phi(z) = z (1 + erf(z / sqrt 2)) / 2.
    const composite = (a: tf.Tensor, k: tf.Tensor, b: tf.Tensor) => {
      const z = tf.add(tf.matMul(a.reshape([32, 16]), k), b).reshape([4, 8, 24]);
      return tf.sum(tf.mul(tf.mul(tf.mul(z, 0.5), tf.add(1, tf.erf(tf.div(z, Math.SQRT2)))), dy));
    };
    const expected = tf.grads(composite)([x, kernel, bias]);
    grads.forEach((g, i) => {
      const scale = Math.max(1, ...Array.from(expected[i].dataSync(), Math.abs));
      expect(maxAbsDiff(g.dataSync(), expected[i].dataSync())).toBeLessThan(1e-4 * scale);
    });
    tf.dispose([x, kernel, bias, dy, ...grads, ...expected]);
  });

  it("gives an encoder block's output and gradients as cpu does, also after tfjs grew the memory", async () => {
    const block = new TransformerEncoderBlock({ numHeads: 4, intermediateDim: 64, activation: 'gelu', causal: true });
    block.apply(tf.input({ shape: [12, 32] }));
    randomizeWeights(block, 5);
    const onCpu = await blockValues(block, 'cpu');
    const onWasm = await blockValues(block, 'wasm');
    // tfjs's allocator grows the memory past the kernels' arena; the kernels still read and write there.
    const memory = simdModule()!.memory;
    const bytesBefore = memory.buffer.byteLength;
    const large = tf.zeros([64 * 2 ** 20]);
    expect(memory.buffer.byteLength).toBeGreaterThan(bytesBefore);
    const afterGrowth = await blockValues(block, 'wasm');
    large.dispose();
    onCpu.forEach((expected, i) => {
      const scale = Math.max(1, ...Array.from(expected, Math.abs));
      expect(maxAbsDiff(onWasm[i], expected)).toBeLessThan(1e-4 * scale);
      expect(Array.from(afterGrowth[i])).toEqual(Array.from(onWasm[i]));
    });
    block.dispose();
  });

  it('leaves no tensor behind in a training step', async () => {
    await initBackend('wasm', { quiet: true });
    const block = new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 32 });
    const x = seededTensor([2, 6, 16], 9);
    (block.apply(x) as tf.Tensor).dispose();
    const optimizer = tf.train.adam(1e-3);
    const step = () =>
      optimizer.minimize(() => tf.mean(tf.square(block.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar);
    step();
    const before = tf.memory().numTensors;
    step();
    expect(tf.memory().numTensors).toBe(before);
    optimizer.dispose();
    block.dispose();
    x.dispose();
  });

  it('is refused once the wasm backend or the kernels have started, and says why', async () => {
    await expect(installSharedHeap()).resolves.toBe("the 'wasm' backend has started already");
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 16, shared: true });
    expect(placeInHeap({ memory, maximumPages: 16, malloc: () => 0 })).toMatch(/started already/);
    expect(simdModule()!.memory).not.toBe(memory);
  });

  it("takes a browser's threaded tfjs heap only when it is shared, and says why not", () => {
    // The browser path, given wasm backends' modules as a page would have them.
    const backendWith = (wasm: object) => ({ wasm }) as unknown as tf.KernelBackend;
    const notShared = /single-threaded build here, whose heap is not shared/;
    expect(shareThreadedHeap(tf.findBackend('cpu')!)).toMatch(notShared);
    const unshared = new WebAssembly.Memory({ initial: 1, maximum: 16 });
    expect(shareThreadedHeap(backendWith({ wasmMemory: unshared, _malloc: () => 0 }))).toMatch(notShared);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 16, shared: true });
    expect(shareThreadedHeap(backendWith({ wasmMemory: memory }))).toMatch(notShared);
    // A shared heap, but the kernels run already (here, in Node's shared heap): placeInHeap's reason.
    expect(shareThreadedHeap(backendWith({ wasmMemory: memory, _malloc: () => 0 }))).toMatch(/started already/);
    expect(simdModule()!.memory).not.toBe(memory);
  });
});
