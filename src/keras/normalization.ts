/**
 * Keras's `Normalization` preprocessing layer, which tfjs 4.22 does not have
 * (keras/src/layers/preprocessing/normalization.py; tf-keras's computes the same).
 */
import * as tf from '@tensorflow/tfjs';
import { checkLayerArgNames, layerArgNames } from '../layers/args';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { IncrementalRole } from '../layers/incremental';
import { axesOf, positionWiseUnless } from './positions';

/** A mean or variance given in the config: a number or nested lists of them. */
export type Statistic = number | Statistic[];

/** The arguments of `KerasNormalization` (Keras's `Normalization` layer). */
export interface KerasNormalizationArgs extends LayerArgs {
  /**
   * The axis or axes kept: one mean and variance per position along them, the other axes share
   * them. Default -1 (per feature); null or [] means one mean and variance for everything.
   */
  axis?: number | number[] | null;
  /**
   * A fixed mean, broadcast onto the kept axes from the right (NumPy broadcasting); null (the
   * default) means the layer has weights `mean`, `variance` and `count`, which `adapt` filled in
   * Keras and the file holds.
   */
  mean?: Statistic | null;
  /** The fixed variance that goes with `mean`. Default null. */
  variance?: Statistic | null;
  /** Whether to undo the normalization instead: `mean + x * sqrt(variance)`. Default false. */
  invert?: boolean;
}

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<KerasNormalizationArgs>({ axis: true, mean: true, variance: true, invert: true });

/** Keras's backend.epsilon(): the smallest standard deviation divided by. */
const EPSILON = 1e-7;

/**
 * `(x - mean) / max(sqrt(variance), 1e-7)` (or, with `invert`, `mean + x * max(sqrt(variance), 1e-7)`),
 * mean and variance per position of the kept axes. Integer inputs are normalized as float32. The
 * padding mask passes through, as in Keras.
 */
export class KerasNormalization extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'KerasNormalization';
  readonly axis: number[];
  readonly mean: Statistic | null;
  readonly variance: Statistic | null;
  readonly invert: boolean;
  private adaptedMean: tf.LayerVariable | null = null;
  private adaptedVariance: tf.LayerVariable | null = null;
  /** Input shape with the reduced axes as 1: the shape the statistics broadcast from. */
  private broadcastShape: number[] = [];

  constructor(args: KerasNormalizationArgs = {}) {
    super(args);
    checkLayerArgNames(this, KerasNormalization, args, ARG_NAMES);
    const axis = args.axis === undefined ? -1 : args.axis;
    this.axis = axis == null ? [] : Array.isArray(axis) ? axis : [axis];
    if (!this.axis.every((a) => Number.isInteger(a))) {
      throw new Error(`KerasNormalization: axis is ${JSON.stringify(args.axis)}; expected an integer, a list or null`);
    }
    this.mean = args.mean ?? null;
    this.variance = args.variance ?? null;
    if ((this.mean == null) !== (this.variance == null)) {
      throw new Error('KerasNormalization: mean and variance must be given together (or neither)');
    }
    for (const [name, value] of [
      ['mean', this.mean],
      ['variance', this.variance],
    ] as const) {
      if (value != null && !finiteNested(value)) {
        throw new Error(`KerasNormalization: ${name} is ${JSON.stringify(value)}; expected finite numbers`);
      }
    }
    this.invert = args.invert ?? false;
    this.supportsMasking = true;
  }

  build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const rank = shape.length;
    const keep = [...new Set(axesOf(this.axis, rank))].sort((a, b) => a - b);
    for (const a of keep) {
      if (a < 0 || a >= rank) {
        throw new Error(
          `KerasNormalization '${this.name}': axis ${JSON.stringify(this.axis)} is out of range for rank ${rank}`,
        );
      }
      if (shape[a] == null) {
        throw new Error(
          `KerasNormalization '${this.name}': kept axis ${a} of input shape [${shape}] has no known size`,
        );
      }
    }
    this.broadcastShape = shape.map((d, i) => (keep.includes(i) ? (d as number) : 1));
    const statisticShape = keep.map((a) => shape[a] as number);
    if (this.mean == null) {
      // Keras's order: mean, variance, count (`count` is kept for the file only).
      this.adaptedMean = this.addWeight('mean', statisticShape, 'float32', tf.initializers.zeros(), undefined, false);
      this.adaptedVariance = this.addWeight(
        'variance',
        statisticShape,
        'float32',
        tf.initializers.ones(),
        undefined,
        false,
      );
      this.addWeight('count', [], 'float32', tf.initializers.zeros(), undefined, false);
    } else {
      // Checks that the fixed statistics broadcast onto the kept axes (tidy keeps what it returns: nothing).
      tf.tidy(() => {
        this.statistics();
      });
    }
    this.built = true;
  }

  /** Mean and variance, shaped to broadcast against the input. */
  private statistics(): [tf.Tensor, tf.Tensor] {
    if (this.adaptedMean != null) {
      return [
        tf.reshape(this.adaptedMean.read(), this.broadcastShape),
        tf.reshape(this.adaptedVariance!.read(), this.broadcastShape),
      ];
    }
    const statisticShape = this.broadcastShape.filter((_d, i) => this.keptAxis(i));
    const fixed = (value: Statistic, name: string) => {
      const t = tf.tensor(value as number[]);
      try {
        return tf.reshape(tf.broadcastTo(t, statisticShape), this.broadcastShape);
      } catch {
        throw new Error(
          `KerasNormalization '${this.name}': ${name} of shape [${t.shape}] does not broadcast onto the kept axes ` +
            `[${statisticShape}]`,
        );
      }
    };
    return [fixed(this.mean!, 'mean'), fixed(this.variance!, 'variance')];
  }

  private keptAxis(i: number): boolean {
    return axesOf(this.axis, this.broadcastShape.length).includes(i);
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = tf.cast(Array.isArray(inputs) ? inputs[0] : inputs, 'float32');
      const [mean, variance] = this.statistics();
      const deviation = tf.maximum(tf.sqrt(variance), EPSILON);
      return this.invert ? tf.add(mean, tf.mul(x, deviation)) : tf.div(tf.sub(x, mean), deviation);
    });
  }

  computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
  }

  /**
   * Position-wise (see positions.ts) unless its statistics differ along the batch or the positions'
   * axis (that axis kept, `axis=1`): the new position would need its own.
   */
  incrementalRole(): IncrementalRole | null {
    return positionWiseUnless(this, () => this.broadcastShape.flatMap((size, axis) => (size > 1 ? [axis] : [])));
  }

  getConfig(): tf.serialization.ConfigDict {
    return {
      axis: this.axis,
      mean: this.mean as tf.serialization.ConfigDictValue,
      variance: this.variance as tf.serialization.ConfigDictValue,
      invert: this.invert,
      ...super.getConfig(),
    };
  }
}
tf.serialization.registerClass(KerasNormalization);

function finiteNested(value: Statistic): boolean {
  return Array.isArray(value) ? value.every(finiteNested) : typeof value === 'number' && Number.isFinite(value);
}
