/**
 * Fixed sinusoidal position encoding (Vaswani et al. 2017, section 3.5).
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import { checkPositiveNumber, checkLayerArgNames, layerArgNames } from './args';
import { type IncrementalRole, POSITIONED, startIndexOf } from './incremental';
import { passMask } from './masks';
import { checkRank, type Kwargs, type Shape } from './shapes';

/** The arguments of `SinusoidalPositionEncoding`, and tfjs's `LayerArgs`. */
export interface SinusoidalPositionEncodingArgs extends LayerArgs {
  /** The wavelength scale, 10000 in the paper. Default 10000. */
  maxWavelength?: number;
}

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<SinusoidalPositionEncodingArgs>({
  maxWavelength: true,
});

/**
 * Adds the encoding PE(t, 2i) = sin(t / w^(2i/D)), PE(t, 2i+1) = cos(t / w^(2i/D))
 * to its input: (B, T, D) -> (B, T, D). No weights; works for any length T.
 * The padding mask passes through. With the call argument `startIndex`, the
 * input's rows are positions startIndex, startIndex + 1, ... (incremental decoding).
 *
 * ```ts
 * const withPositions = new SinusoidalPositionEncoding().apply(tf.zeros([1, 3, 4])) as tf.Tensor;
 * ```
 */
export class SinusoidalPositionEncoding extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'SinusoidalPositionEncoding';

  readonly maxWavelength: number;

  constructor(args: SinusoidalPositionEncodingArgs = {}) {
    super(args);
    checkLayerArgNames(this, SinusoidalPositionEncoding, args, ARG_NAMES);
    this.maxWavelength = checkPositiveNumber(
      `SinusoidalPositionEncoding '${this.name}'`,
      'maxWavelength',
      args.maxWavelength ?? 10000,
    );
    this.supportsMasking = true;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    checkRank(`SinusoidalPositionEncoding '${this.name}'`, 'input', shape, 3);
    this.built = true;
  }

  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return passMask(Array.isArray(inputs) ? inputs[0] : inputs, mask) as tf.Tensor;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const label = `SinusoidalPositionEncoding '${this.name}'`;
    checkRank(label, 'input', x.shape, 3);
    const [, length, width] = x.shape as number[];
    const start = startIndexOf(label, kwargs);
    return tf.tidy(() => x.add(sinusoidalEncoding(length, width, this.maxWavelength, start)));
  }

  /** How `generate` runs this layer one new position at a time (see `IncrementalRole`). */
  incrementalRole(): IncrementalRole {
    return POSITIONED;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), maxWavelength: this.maxWavelength };
  }
}
tf.serialization.registerClass(SinusoidalPositionEncoding);

/** The (T, D) encoding table of positions start .. start + T - 1; even columns sine, odd columns cosine. */
export function sinusoidalEncoding(length: number, width: number, maxWavelength = 10000, start = 0): tf.Tensor2D {
  const table = new Float32Array(length * width);
  for (let t = 0; t < length; t++) {
    for (let i = 0; i < width; i++) {
      const angle = (start + t) / Math.pow(maxWavelength, (2 * Math.floor(i / 2)) / width);
      table[t * width + i] = i % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return tf.tensor2d(table, [length, width]);
}
