/**
 * Small tensor utilities shared by the block, embedding and model tests:
 * seeded test data, seeded weights, and comparisons that read values outside
 * any tidy.
 */
import * as tf from '@tensorflow/tfjs';
import type { FusedAttentionArgs } from '../../src/kernels/attention';
import { seededValues } from '../layers/attention_reference';

/** A float32 tensor of seeded values in [-1, 1) times `scale`. */
export function seededTensor(shape: number[], seed: number, scale = 1): tf.Tensor {
  return tf.tensor(
    seededValues(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ).map((v) => v * scale),
    shape,
  );
}

/**
 * Replaces every weight of `layer` (built) with seeded values: initializers
 * give zero biases and unit gammas, which would hide a mixed-up weight order.
 */
export function randomizeWeights(layer: tf.layers.Layer | tf.LayersModel, seed: number, scale = 0.5): void {
  // getWeights() returns the variables' own tensors: read them, never dispose them.
  const fresh = layer.getWeights().map((w, i) => seededTensor(w.shape, seed + 7 * i, scale));
  layer.setWeights(fresh);
  tf.dispose(fresh);
}

/** The weights as nested arrays, in `getWeights()` order. */
export function weightArrays(layer: tf.layers.Layer | tf.LayersModel): unknown[] {
  return layer.getWeights().map((w) => w.arraySync());
}

/** Padding mask (B, L) from lengths, 1 = real token. */
export function paddingMask(lengths: number[], length: number): tf.Tensor2D {
  return tf.tensor2d(
    lengths.map((n) => Array.from({ length }, (_x, i) => (i < n ? 1 : 0))),
    [lengths.length, length],
  );
}

/** Int32 ids (B, T). */
export function ids(rows: number[][]): tf.Tensor2D {
  return tf.tensor2d(rows, undefined, 'int32');
}

/** Max |a - b| over flattened arrays of the same length. */
export function maxAbsDiff(a: ArrayLike<number> | unknown[], b: ArrayLike<number> | unknown[]): number {
  const fa = flatten(a);
  const fb = flatten(b);
  if (fa.length !== fb.length) throw new Error(`maxAbsDiff: lengths differ, ${fa.length} vs ${fb.length}`);
  let max = 0;
  for (let i = 0; i < fa.length; i++) {
    const d = Math.abs(fa[i] - fb[i]);
    if (Number.isNaN(d)) return NaN;
    max = Math.max(max, d);
  }
  return max;
}

function flatten(x: ArrayLike<number> | unknown[]): number[] {
  if (Array.isArray(x)) return (x as unknown[]).flat(8) as number[];
  return Array.from(x as ArrayLike<number>);
}

/** Runs `f`, reads its (single) tensor result as nested arrays and disposes it. */
export function read<T = number[][][]>(f: () => tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[]): T {
  const out = f() as tf.Tensor;
  const value = out.arraySync() as unknown as T;
  out.dispose();
  return value;
}

/** Attaches a padding mask to an eager tensor the way tfjs layers do (`kerasMask`). */
export function withMask<T extends tf.Tensor>(x: T, mask: tf.Tensor | null): T {
  // tfjs declares kerasMask as Tensor | undefined; null also means "no mask" to our layers.
  (x as { kerasMask?: tf.Tensor }).kerasMask = mask ?? undefined;
  return x;
}

/** FNV-1a hash of a string, for seeds that follow a weight's name rather than its position. */
export function hashSeed(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * Sets every weight of `model` to `seededValues(size, hashSeed(seed + ':' + originalName)) * scale`:
 * deterministic, independent of weight order and of the backend.
 */
export function seedWeightsByName(model: tf.LayersModel | tf.layers.Layer, seed: number, scale = 0.5): void {
  const fresh = model.weights.map((w) =>
    seededTensor(w.shape as number[], hashSeed(`${seed}:${w.originalName}`), scale),
  );
  model.setWeights(fresh);
  tf.dispose(fresh);
}

/**
 * Self-attention over one seeded (B, T, 2*H*K + H*V) source holding queries, keys and values side
 * by side, each query and key head K wide and each value head V wide (default K).
 */
export function selfAttentionArgs(
  shape: [number, number, number, number],
  seed: number,
  mask: tf.Tensor | null,
  scale?: number,
  valueDim?: number,
) {
  const [b, t, h, k] = shape;
  const v = valueDim ?? k;
  const args: FusedAttentionArgs = {
    sources: [seededTensor([b, t, 2 * h * k + h * v], seed)],
    query: { source: 0, offset: 0 },
    key: { source: 0, offset: h * k },
    value: { source: 0, offset: 2 * h * k },
    numHeads: h,
    keyDim: k,
    valueDim: v,
    scale: scale ?? 1 / Math.sqrt(k),
    mask,
  };
  return args;
}
