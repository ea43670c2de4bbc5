/**
 * keras-hub's `SinePositionEncoding` (keras_hub/src/layers/modeling/sine_position_encoding.py).
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import { checkPositiveNumber, checkLayerArgNames, layerArgNames } from '../args';
import { type IncrementalRole, POSITIONED, startIndexOf } from '../incremental';
import { layerArgsWithName, registerKerasHubClass } from './parts';
import { checkRank, type Kwargs, type Shape } from '../shapes';
import { sinusoidalEncoding } from '../sinusoidal_position_encoding';

/** The arguments of `KerasHubSinePositionEncoding`: keras-hub's `SinePositionEncoding`'s, in camelCase. */
export interface KerasHubSinePositionEncodingArgs extends LayerArgs {
  /** The wavelength scale w. Default 10000. */
  maxWavelength?: number;
}

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<KerasHubSinePositionEncodingArgs>({
  maxWavelength: true,
});

/**
 * The fixed sinusoidal encoding of Vaswani et al. 2017 (section 3.5) as keras-hub computes it:
 * PE(t, 2i) = sin(t / w^(2i/D)), PE(t, 2i+1) = cos(t / w^(2i/D)), returned (not added) as
 * (T, D) broadcast to the input's shape (B, T, D); only the input's shape is used, and the
 * output carries no mask. The sum with the embeddings is the caller's (as in keras-hub; our
 * `SinusoidalPositionEncoding` adds it instead). No weights.
 *
 * ```ts
 * const encoding = new KerasHubSinePositionEncoding().apply(tf.zeros([1, 3, 4])) as tf.Tensor; // [1, 3, 4]
 * ```
 */
export class KerasHubSinePositionEncoding extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'keras_hub>SinePositionEncoding';

  readonly maxWavelength: number;

  constructor(args: KerasHubSinePositionEncodingArgs = {}) {
    super(layerArgsWithName(args, 'sine_position_encoding'));
    checkLayerArgNames(this, KerasHubSinePositionEncoding, args, ARG_NAMES);
    this.maxWavelength = checkPositiveNumber(this.label, 'maxWavelength', args.maxWavelength ?? 10000);
  }

  private get label(): string {
    return `keras_hub SinePositionEncoding '${this.name}'`;
  }

  override build(inputShape: Shape | Shape[]): void {
    checkRank(this.label, 'inputs', (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape, 3);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
  }

  /** keras-hub's layer does not support masking: its output has no mask. */
  override computeMask(): tf.Tensor {
    return null as unknown as tf.Tensor;
  }

  /** `startIndex` (keras-hub's `start_index`): the position of the input's first row. Default 0. */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    checkRank(this.label, 'inputs', x.shape, 3);
    const [, length, width] = x.shape as number[];
    const start = startIndexOf(this.label, kwargs);
    return tf.tidy(() => sinusoidalEncoding(length, width, this.maxWavelength, start).broadcastTo(x.shape));
  }

  /** How `generate` runs this layer one new position at a time (see `IncrementalRole`). */
  incrementalRole(): IncrementalRole {
    return POSITIONED;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), maxWavelength: this.maxWavelength };
  }
}
registerKerasHubClass(KerasHubSinePositionEncoding);
