/**
 * How `generate` runs the operation layers of Keras graphs (`ids != 0`, `x * c`, slices, reductions,
 * softmax, Normalization) one new position at a time (src/layers/incremental.ts): on the new
 * positions alone, as tfjs's Add or Dense, when what the layer works across leaves the batch axis (0)
 * and the positions' axis (1) alone. A loaded model's padding masks are such operations
 * (keras_masks.ts), so a Keras GPT whose Embedding has `mask_zero` generates with its caches.
 */
import type * as tf from '@tensorflow/tfjs';
import { type IncrementalRole, POSITION_WISE } from '../layers/incremental';

/** A call's first input's and first output's shapes. */
export interface CallShapes {
  input: tf.Shape;
  output: tf.Shape;
}

/**
 * Position-wise unless, at one of the layer's calls, `across` (the axes, counted from 0, that the
 * call mixes or holds a different value for: a reduction's axes, a constant's rows) includes the
 * batch or the positions' axis; then null, and `generate` refuses the layer by name.
 */
export function positionWiseUnless(
  layer: tf.layers.Layer,
  across: (call: CallShapes) => number[],
): IncrementalRole | null {
  const first = (shapes: tf.Shape | tf.Shape[]) => (Array.isArray(shapes[0]) ? shapes[0] : shapes) as tf.Shape;
  for (const node of layer.inboundNodes) {
    const call = { input: first(node.inputShapes), output: first(node.outputShapes) };
    if (across(call).some((axis) => axis === 0 || axis === 1)) return null;
  }
  return POSITION_WISE;
}

/** `axes` (negative ones counted from the end) as axes of a tensor of `rank`. */
export function axesOf(axes: number[], rank: number): number[] {
  return axes.map((a) => (a < 0 ? a + rank : a));
}
