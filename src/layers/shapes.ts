/**
 * Shapes as the layers see them, and the checks that give a readable error for a wrong one.
 *
 * Shape letters used across src/layers: B batch, T query length, S key length,
 * D model width, H heads, K key dim, V value dim.
 */
import * as tf from '@tensorflow/tfjs';

/** A tensor shape as tfjs's layers give it: `null` for a size not known before the data (the batch, a length). */
export type Shape = Array<number | null>;
/**
 * The keyword arguments tfjs hands a layer's `call` (`training`, `mask`, and the layer's own).
 *
 * @inline
 */
export type Kwargs = { [key: string]: unknown };

/** The list of input shapes, whether `build` got one shape or several. */
export function shapeList(inputShape: Shape | Shape[]): Shape[] {
  return Array.isArray(inputShape[0]) ? (inputShape as Shape[]) : [inputShape as Shape];
}

export function formatShape(shape: ReadonlyArray<number | null>): string {
  return `[${shape.map((d) => (d == null ? 'null' : d)).join(', ')}]`;
}

/** Throws unless `shape` has `rank` dimensions and a known last dimension. */
export function checkRank(layer: string, name: string, shape: Shape | number[], rank: number): void {
  if (shape.length !== rank) {
    throw new Error(`${layer}: ${name} must have rank ${rank}, got shape ${formatShape(shape)} (rank ${shape.length})`);
  }
  if (shape[rank - 1] == null) {
    throw new Error(`${layer}: ${name} needs a known last dimension, got shape ${formatShape(shape)}`);
  }
}

/**
 * Throws unless `x` is (B, L, width) with a known width equal to `width` (when
 * given) and batch `batch` (when given); messages name the layer and shapes.
 */
export function checkSequence(layer: string, name: string, x: tf.Tensor, width?: number, batch?: number): void {
  checkRank(layer, name, x.shape, 3);
  if (width != null && x.shape[2] !== width) {
    throw new Error(
      `${layer}: ${name} has width ${x.shape[2]} (shape ${formatShape(x.shape)}) ` +
        `but the layer was built for width ${width}`,
    );
  }
  if (batch != null && x.shape[0] !== batch) {
    throw new Error(
      `${layer}: ${name} has batch size ${x.shape[0]} (shape ${formatShape(x.shape)}), expected ${batch}`,
    );
  }
}
