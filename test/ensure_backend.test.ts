/**
 * The backend is ready without ceremony: the library's async entry points call `ensureBackend`,
 * which makes `initBackend()`'s choice when nothing has chosen a backend yet (wasm here: Node
 * without tfjs-node), and otherwise keeps the one in use. `initBackend`'s `keepTfjsKernels` leaves
 * (or puts back) tfjs's own wasm kernels.
 *
 * The order of the tests matters: tfjs's engine is global to this file, and the first test needs
 * it with no backend chosen.
 */
import * as tf from '@tensorflow/tfjs';
import * as path from 'node:path';

import { ensureBackend, initBackend } from '../src/backend';
import { loadSeq2Seq } from '../src/model/seq2seq';

const REVERSE = path.join(__dirname, '..', 'models', 'reverse');
const engineBackendName = () => (tf.engine() as unknown as { backendName?: string | null }).backendName ?? null;

test('loadSeq2Seq with no backend chosen picks the auto choice (wasm) and its extras, then decodes', async () => {
  expect(engineBackendName()).toBeNull();
  const reverse = await loadSeq2Seq(REVERSE);
  expect(tf.getBackend()).toBe('wasm');
  expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeDefined();
  expect(await reverse.generate([[3, 4, 5, 6]])).toEqual([[6, 5, 4, 3]]);
  reverse.model.dispose();
});

test('a backend the user chose stays: ensureBackend neither switches nor replaces its kernels', async () => {
  await tf.setBackend('cpu');
  expect(await ensureBackend()).toBe('cpu');
  expect(tf.getBackend()).toBe('cpu');

  // wasm chosen with tf.setBackend and tfjs's own kernels: ensureBackend only adds the missing one.
  await initBackend('wasm', { quiet: true, keepTfjsKernels: true });
  const tfjsIdentity = tf.getKernel('Identity', 'wasm')!.kernelFunc;
  await tf.setBackend('cpu');
  await tf.setBackend('wasm');
  expect(await ensureBackend()).toBe('wasm');
  expect(tf.getKernel('Identity', 'wasm')!.kernelFunc).toBe(tfjsIdentity);
  expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeDefined();
});

test(
  "initBackend replaces tfjs's Identity and BatchMatMul " + 'on wasm unless keepTfjsKernels, which puts them back',
  async () => {
    await initBackend('wasm', { quiet: true, keepTfjsKernels: true });
    const own = {
      identity: tf.getKernel('Identity', 'wasm')!.kernelFunc,
      matMul: tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc,
    };
    const product = () =>
      tf.tidy(() =>
        Array.from(
          tf
            .matMul(
              tf.tensor2d([
                [1, 2],
                [3, 4],
              ]),
              tf.tensor2d([
                [5, 6],
                [7, 8],
              ]),
              true,
              false,
            )
            .dataSync(),
        ),
      );
    const expected = [26, 30, 38, 44]; // A^T B
    expect(product()).toEqual(expected);

    await initBackend('wasm', { quiet: true });
    expect(tf.getKernel('Identity', 'wasm')!.kernelFunc).not.toBe(own.identity);
    expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc).not.toBe(own.matMul);
    expect(product()).toEqual(expected);

    await initBackend('wasm', { quiet: true, keepTfjsKernels: true });
    expect(tf.getKernel('Identity', 'wasm')!.kernelFunc).toBe(own.identity);
    expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc).toBe(own.matMul);
    expect(product()).toEqual(expected);
  },
);
