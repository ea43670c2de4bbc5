/**
 * A gradient for tfjs's `Tile` that costs two kernels per tiled axis instead of one Slice and one
 * Add per repetition.
 *
 * tfjs-core 4.22's Tile gradient (gradients/Tile_grad.ts) loops over every repetition, slicing
 * `dy` and adding the slice into the result, and stops at rank 4. `tf.layers.layerNormalization`
 * tiles its gamma and beta over every (batch, time) position and its moments over the width, so
 * one training step of a rank-3 layer norm at batch 16, length 128 and width 128 runs about 4,350
 * Slice and 4,350 Add kernels (a decoder-only model's step went from 986 to 3,257 ms on wasm with
 * one such layer). Summing the repetitions is the same gradient: `dy` reshaped so that each tiled
 * axis splits into (repetitions, size), then summed over the repetitions.
 */
import * as tf from '@tensorflow/tfjs';
import { checkOptionNames, optionNames } from '../options';

/** tfjs's own gradient, kept while ours is registered so that it can be restored. */
let tfjsTileGradient: tf.GradConfig | undefined;

const tileGradient: tf.GradConfig = {
  kernelName: tf.Tile,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const reps = (attrs as unknown as tf.TileAttrs).reps;
    return { x: () => sumRepetitions(dy as tf.Tensor, x.shape, reps) };
  },
};

/**
 * The gradient of `tile(x, reps)` for `dy`: for each axis with reps > 1, (..., r * n, ...) is
 * reshaped to (..., r, n, ...) and summed over r, since output index r * n + i along that axis
 * is a copy of input index i. One Reshape and one Sum per tiled axis.
 */
export function sumRepetitions(dy: tf.Tensor, xShape: number[], reps: number[]): tf.Tensor {
  return tf.tidy(() => {
    let grad = dy;
    for (let axis = 0; axis < xShape.length; axis++) {
      if (reps[axis] === 1) continue;
      const shape = grad.shape;
      // (..., r * n, ...) -> (..., r, n, ...) -> sum over r -> (..., n, ...)
      const split = [...shape.slice(0, axis), reps[axis], xShape[axis], ...shape.slice(axis + 1)];
      grad = grad.reshape(split).sum(axis);
    }
    return grad === dy ? dy.clone() : grad;
  });
}

/** Options of `installGradientFixes`. */
export interface GradientFixesOptions {
  /** Register the faster gradients (default true); false restores tfjs's own. */
  replaceTfjsGradients?: boolean;
}

/**
 * Replaces tfjs-core's `Tile` gradient with `sumRepetitions` (the same values, two kernels per
 * tiled axis, any rank), or with `replaceTfjsGradients: false` restores tfjs's own. Gradients are
 * registered process-wide and for every backend, so this changes how fast every tfjs program in
 * the process trains, not what it computes. Idempotent. `initBackend` calls it (its
 * `keepTfjsKernels` option keeps tfjs's own); importing the library does not.
 */
export function installGradientFixes(options: GradientFixesOptions = {}): void {
  checkOptionNames('installGradientFixes', options, optionNames<GradientFixesOptions>({ replaceTfjsGradients: true }));
  const replace = options.replaceTfjsGradients ?? true;
  if (replace && tfjsTileGradient === undefined) {
    tfjsTileGradient = tf.getGradient(tf.Tile);
    tf.registerGradient(tileGradient);
  } else if (!replace && tfjsTileGradient !== undefined) {
    tf.registerGradient(tfjsTileGradient);
    tfjsTileGradient = undefined;
  }
}
