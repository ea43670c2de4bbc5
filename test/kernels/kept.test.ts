/**
 * The kept copies of weights in the SIMD module's memory (simd_kernels.ts's `kept`): made the
 * third time a tensor is asked for in a form (a training step's weights, read twice, are staged),
 * found again by data id and form without a copy, copied in again when the tensor is written in place, placed
 * in a ring whose oldest copies give way, never a copy the same kernel call has taken; refused when
 * too large. And the dense layer that reads them (kernels/dense.ts) stays right when its weights
 * change, when the ring is too small for them, and when they come and go through a small ring.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedDense } from '../../src/kernels/dense';
import {
  identify,
  kept,
  keptCopyCount,
  setKeptRingFloats,
  simdKernels,
  stage,
  writtenInPlace,
} from '../../src/kernels/simd_kernels';
import { describeEachBackend } from '../helpers/backends';
import { maxAbsDiff, seededTensor } from '../helpers/tensors';

/** An array of `length` floats from `seed`, identified as the tensor `id`. */
function weights(length: number, seed: number, id: object = {}): Float32Array {
  return identify(
    Float32Array.from({ length }, (_x, i) => Math.sin(seed * 7.1 + i * 0.37)),
    id,
  );
}

/** The module's floats at [start, start + length). */
const at = (start: number, length: number) => Array.from(simdKernels()!.floats.subarray(start, start + length));

/** Ends a kernel call: the copies it took may be replaced by the next call's. */
const endCall = () => stage([], [], []);

/** `kept(...args)` asked for the third time, when a copy is made. */
function keptNow(...args: Parameters<typeof kept>): number | null {
  kept(...args);
  kept(...args);
  return kept(...args);
}

describe('kept copies', () => {
  afterEach(() => setKeptRingFloats());

  it('are made the third time a tensor is asked for in a form', () => {
    setKeptRingFloats(1024);
    const w = weights(8, 1);
    expect([kept(w), kept(w), keptCopyCount()]).toEqual([null, null, 0]);
    // Another form of it is counted apart.
    expect(kept(w, 'other', 8, () => {})).toBeNull();
    const start = kept(w);
    expect([start === null, keptCopyCount()]).toEqual([false, 1]);
    expect(at(start!, 8)).toEqual(Array.from(w));
    endCall();
  });

  it('are found again by data id and form, without a new copy', () => {
    setKeptRingFloats(1024);
    const w = weights(10, 1);
    const first = keptNow(w)!;
    endCall();
    expect(at(first, 12)).toEqual([...Array.from(w), 0, 0]);
    expect([kept(w), keptCopyCount()]).toEqual([first, 1]);
    // The same floats under another data id are another tensor: a copy of their own.
    const again = keptNow(weights(10, 1))!;
    expect([again === first, keptCopyCount()]).toEqual([false, 2]);
    // Another form of the first tensor: a copy of its own, written by `fill`.
    const doubled = keptNow(w, 'doubled', 10, (start) =>
      simdKernels()!.floats.set(
        w.map((v) => 2 * v),
        start,
      ),
    )!;
    expect(at(doubled, 10)).toEqual(Array.from(w.map((v) => 2 * v)));
    expect(kept(w)).toBe(first);
    endCall();
  });

  it('are copied in again after `writtenInPlace`', () => {
    setKeptRingFloats(1024);
    const id = {};
    const w = weights(8, 2, id);
    keptNow(w);
    endCall();
    w.fill(3);
    writtenInPlace(id);
    const start = kept(w)!;
    expect(at(start, 8)).toEqual(Array(8).fill(3));
    expect(keptCopyCount()).toBe(1);
    endCall();
  });

  it('key a joined copy by every tensor in it', () => {
    setKeptRingFloats(1024);
    const [a, b] = [weights(4, 3), weights(4, 4)];
    const join = (parts: Float32Array[]) =>
      keptNow(parts, 'joined', 8, (start) => parts.forEach((p, i) => simdKernels()!.floats.set(p, start + 4 * i)));
    const first = join([a, b])!;
    expect(at(first, 8)).toEqual([...Array.from(a), ...Array.from(b)]);
    expect(join([a, b])).toBe(first);
    const other = join([a, weights(4, 5)]);
    expect(other === first).toBe(false);
    expect(keptCopyCount()).toBe(2);
    endCall();
  });

  it('give way oldest first in a full ring, but never to a copy taken by the same call', () => {
    // Each copy of 40 floats takes 48 (whole cache lines, with room to read past its end): 5 fit in 256.
    setKeptRingFloats(256);
    const list = [0, 1, 2, 3, 4].map((i) => weights(40, 10 + i));
    const starts = list.map((w) => {
      const start = keptNow(w)!;
      endCall();
      return start;
    });
    expect(keptCopyCount()).toBe(5);
    // A sixth goes to the start of the ring, in the place of the oldest.
    const sixth = weights(40, 20);
    expect(keptNow(sixth)).toBe(starts[0]);
    endCall();
    expect(keptCopyCount()).toBe(5);
    expect(kept(list[0]) === starts[0]).toBe(false); // copied again, in the place of the next oldest
    endCall();
    // One call takes the copy at the ring's head (the oldest), then needs a new one: the new one
    // goes past it, and the taken copy keeps its floats.
    const oldest = list[2];
    const oldestStart = kept(oldest)!;
    const fresh = weights(40, 30);
    const freshStart = keptNow(fresh)!;
    expect(freshStart).not.toBe(oldestStart);
    expect(at(oldestStart, 40)).toEqual(Array.from(oldest));
    expect(at(freshStart, 40)).toEqual(Array.from(fresh));
    endCall();
  });

  it('are refused for arrays without a data id or larger than a quarter of the ring', () => {
    setKeptRingFloats(256);
    expect(keptNow(new Float32Array(8))).toBeNull();
    expect(keptNow(weights(65, 1))).toBeNull();
    expect(keptNow(weights(64, 1))).not.toBeNull();
    endCall();
  });
});

describeEachBackend('the dense layer on kept weights', () => {
  afterEach(() => setKeptRingFloats());

  /** The plain definition: x [W_0 W_1 ...] + [b_0 b_1 ...]. */
  const reference = (x: tf.Tensor, kernels: tf.Tensor[], biases: tf.Tensor[]) =>
    tf.matMul(x as tf.Tensor2D, tf.concat(kernels, 1) as tf.Tensor2D).add(tf.concat(biases, 0));

  it('follows a kernel variable that changes between calls', () => {
    const before = tf.memory().numTensors;
    const [x, bias] = [seededTensor([5, 8], 1), seededTensor([12], 2)];
    const kernel = tf.tidy(() => tf.variable(seededTensor([8, 12], 3)));
    for (const seed of [4, 5, 6]) {
      const ours = tf.tidy(() => fusedDense(x, kernel, bias, 'linear').dataSync());
      const theirs = tf.tidy(() => reference(x, [kernel], [bias]).dataSync());
      expect(maxAbsDiff(ours, theirs)).toBeLessThan(1e-5);
      tf.tidy(() => kernel.assign(seededTensor([8, 12], seed)));
    }
    tf.dispose([x, bias, kernel]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives the same outputs and gradients when its weights come and go through a small ring, or do not fit', () => {
    const before = tf.memory().numTensors;
    const x = seededTensor([6, 16], 1);
    // Three layers of three kernels (16, 8), (16, 4), (16, 12) and their biases.
    const layers = [0, 1, 2].map((l) => ({
      kernels: [8, 4, 12].map((width, p) => seededTensor([16, width], 10 * l + p, 0.3)),
      biases: [8, 4, 12].map((width, p) => seededTensor([width], 10 * l + p + 5)),
    }));
    const run = (dense: (x: tf.Tensor, k: tf.Tensor[], b: tf.Tensor[]) => tf.Tensor) =>
      layers.map(({ kernels, biases }) =>
        tf.tidy(() => {
          const inputs = [x, ...kernels, ...biases];
          const { value, grads } = tf.valueAndGrads((...xs: tf.Tensor[]) =>
            dense(xs[0], xs.slice(1, 4), xs.slice(4)).square().sum(),
          )(inputs);
          return [value, ...grads].map((t) => Array.from(t.dataSync()));
        }),
      );
    const theirs = run(reference);
    // A ring that holds one layer's joined kernel and its transpose at a time (each 384 floats),
    // then one too small to keep a joined kernel at all (the kernels are joined in scratch).
    for (const ringFloats of [2048, 1024, undefined]) {
      setKeptRingFloats(ringFloats);
      // Four rounds: a copy is made on the third ask, and the transpose is asked for once the kernel is kept.
      for (let round = 0; round < 4; round++) {
        const ours = run((x, kernels, biases) => fusedDense(x, kernels, biases, 'linear'));
        ours.forEach((layer, l) =>
          layer.forEach((values, i) =>
            expect({ ringFloats, l, i, close: maxAbsDiff(values, theirs[l][i]) < 1e-4 }).toEqual({
              ringFloats,
              l,
              i,
              close: true,
            }),
          ),
        );
      }
    }
    tf.dispose([x, ...layers.flatMap((l) => [...l.kernels, ...l.biases])]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
