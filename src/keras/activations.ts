/**
 * Keras's activation functions, for what Keras files hold that tfjs has no equal of:
 *
 * - activation operations in a graph: Keras 3 writes `keras.ops.gelu(x)` as an operation node
 *   (`"module": "keras.src.ops.nn", "class_name": "Gelu", "config": {"approximate": true}`), Keras 2
 *   writes `tf.nn.gelu(x, approximate=True)` as a `TFOpLambda` (`"function": "nn.gelu"`, the
 *   arguments in the call's kwargs). Both load as `ActivationOperation`, which, as Keras's
 *   operations, passes no mask on;
 * - the `'leaky_relu'` activation of Keras 3 (`Dense(8, activation='leaky_relu')`, slope 0.2; tfjs
 *   has no activation of that name, and its LeakyReLU layer's default slope is 0.3), registered
 *   with tfjs as `KerasLeakyRelu` for the layers' `activation` argument.
 *
 * The definitions are Keras's (keras/src/activations/activations.py, keras/src/ops/nn.py):
 * `gelu` is exact (`0.5 x (1 + erf(x / sqrt 2))`) unless `approximate`, then the tanh form
 * `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`; `leaky_relu` is `x` for x >= 0, else
 * `negative_slope * x`; `elu` is `x` for x > 0, else `alpha (exp(x) - 1)`; `silu`/`swish` is
 * `x sigmoid(x)`; `softsign` is `x / (|x| + 1)`; `mish` is `x tanh(softplus(x))`.
 */
import * as tf from '@tensorflow/tfjs';
import { checkLayerArgNames, layerArgNames } from '../layers/args';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { IncrementalRole } from '../layers/incremental';
import { axesOf, positionWiseUnless } from './positions';

/** The activations `loadKerasModel` reads, by Keras's names (`keras.activations`). */
export const KERAS_ACTIVATIONS = [
  'linear',
  'relu',
  'relu6',
  'sigmoid',
  'tanh',
  'softplus',
  'softsign',
  'silu',
  'swish',
  'selu',
  'elu',
  'gelu',
  'leaky_relu',
  'mish',
  'softmax',
] as const;
/** One of `KERAS_ACTIVATIONS`. */
export type KerasActivationName = (typeof KERAS_ACTIVATIONS)[number];

/** The parameters some activations take (Keras's names and defaults). */
export interface KerasActivationOptions {
  /** gelu: the tanh approximation instead of the exact (erf) form. Default false, as `keras.activations.gelu`. */
  approximate?: boolean;
  /** leaky_relu: the slope for x < 0. Default 0.2, as `keras.activations.leaky_relu`. */
  negativeSlope?: number;
  /** elu: the value approached for x -> -inf is -alpha. Default 1. */
  alpha?: number;
  /** softmax: the axis (negative counts from the end). Default -1. */
  axis?: number;
}

/** `x` through Keras's activation `name`, elementwise (softmax: over `options.axis`). */
export function kerasActivation(
  x: tf.Tensor,
  name: KerasActivationName,
  options: KerasActivationOptions = {},
): tf.Tensor {
  return tf.tidy(() => {
    switch (name) {
      case 'linear':
        return x.clone();
      case 'relu':
        return tf.relu(x);
      case 'relu6':
        return tf.relu6(x);
      case 'sigmoid':
        return tf.sigmoid(x);
      case 'tanh':
        return tf.tanh(x);
      case 'softplus':
        return tf.softplus(x);
      case 'softsign':
        return tf.div(x, tf.add(tf.abs(x), 1));
      case 'silu':
      case 'swish':
        return tf.mul(x, tf.sigmoid(x));
      case 'selu':
        return tf.selu(x);
      case 'elu': {
        const alpha = options.alpha ?? 1;
        return alpha === 1 ? tf.elu(x) : tf.where(tf.greater(x, 0), x, tf.mul(alpha, tf.expm1(tf.minimum(x, 0))));
      }
      case 'gelu':
        if (options.approximate) {
          // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
          const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
          return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
        }
        // 0.5 x (1 + erf(x / sqrt 2))
        return tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
      case 'leaky_relu':
        return tf.leakyRelu(x, options.negativeSlope ?? 0.2);
      case 'mish':
        return tf.mul(x, tf.tanh(tf.softplus(x)));
      case 'softmax':
        return softmaxOver(x, [options.axis ?? -1]);
    }
  });
}

/**
 * Softmax over one or more axes (negative count from the end): over one, tfjs's softmax on that
 * axis moved last; over several, `exp(x - logsumexp(x, axes))` (Keras's `ops.softmax` with a tuple axis).
 */
export function softmaxOver(x: tf.Tensor, axes: number[]): tf.Tensor {
  return tf.tidy(() => {
    const positive = axesOf(axes, x.rank);
    if (positive.length > 1) return tf.exp(tf.sub(x, tf.logSumExp(x, positive, true)));
    const axis = positive[0];
    if (axis === x.rank - 1) return tf.softmax(x, -1);
    // x with `axis` moved last, softmax, and moved back.
    const perm = [...Array(x.rank).keys()].filter((a) => a !== axis).concat(axis);
    const inverse = perm.map((_p, i) => perm.indexOf(i));
    return tf.transpose(tf.softmax(tf.transpose(x, perm), -1), inverse);
  });
}

export interface ActivationOperationArgs extends LayerArgs, KerasActivationOptions {
  /** Keras's name of the activation (`'gelu'`, `'leaky_relu'`, ...). */
  activation: KerasActivationName;
}

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<ActivationOperationArgs>({
  activation: true,
  approximate: true,
  negativeSlope: true,
  alpha: true,
  axis: true,
});

/**
 * A Keras activation operation of a graph (`keras.ops.gelu(x)`, `tf.nn.leaky_relu(x)`): Keras's
 * activation with its parameters. Keras's operations do not pass a mask on, so neither does this.
 */
export class ActivationOperation extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'ActivationOperation';
  readonly activation: KerasActivationName;
  readonly options: KerasActivationOptions;

  constructor(args: ActivationOperationArgs) {
    super(args);
    checkLayerArgNames(this, ActivationOperation, args, ARG_NAMES);
    // tfjs's deserializer camel-cases string values of a config ('leaky_relu' arrives as 'leakyRelu').
    const activation = String(args.activation).replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    if (!(KERAS_ACTIVATIONS as readonly string[]).includes(activation)) {
      throw new Error(
        `ActivationOperation: activation is ${JSON.stringify(args.activation)}; ` +
          `expected one of ${KERAS_ACTIVATIONS.join(', ')}`,
      );
    }
    for (const key of ['negativeSlope', 'alpha', 'axis'] as const) {
      const value = args[key];
      if (value != null && (typeof value !== 'number' || !Number.isFinite(value))) {
        throw new Error(`ActivationOperation: ${key} is ${JSON.stringify(value)}; expected a finite number`);
      }
    }
    if (args.axis != null && !Number.isInteger(args.axis)) {
      throw new Error(`ActivationOperation: axis is ${args.axis}; expected an integer`);
    }
    this.activation = activation as KerasActivationName;
    this.options = {
      approximate: args.approximate ?? false,
      negativeSlope: args.negativeSlope ?? 0.2,
      alpha: args.alpha ?? 1,
      axis: args.axis ?? -1,
    };
    this.supportsMasking = true;
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return kerasActivation(Array.isArray(inputs) ? inputs[0] : inputs, this.activation, this.options);
  }

  computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
  }

  override computeMask(_inputs: tf.Tensor | tf.Tensor[], _mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return null as unknown as tf.Tensor;
  }

  /** Position-wise (see positions.ts): elementwise, or a softmax over neither the batch nor the positions' axis. */
  incrementalRole(): IncrementalRole | null {
    return positionWiseUnless(this, ({ input }) =>
      this.activation === 'softmax' ? axesOf([this.options.axis ?? -1], input.length) : [],
    );
  }

  getConfig(): tf.serialization.ConfigDict {
    return { activation: this.activation, ...this.options, ...super.getConfig() };
  }
}
tf.serialization.registerClass(ActivationOperation);

/**
 * Keras 3's `'leaky_relu'` activation (slope 0.2) for a layer's `activation` argument; tfjs looks
 * activations up by class name, which is why this is a class. The file's `'leaky_relu'` is
 * rewritten to `'KerasLeakyRelu'` when the model is loaded (stock_layers.ts).
 */
export class KerasLeakyRelu extends tf.serialization.Serializable {
  /** @nocollapse */
  static className = 'KerasLeakyRelu';

  apply(x: tf.Tensor): tf.Tensor {
    return kerasActivation(x, 'leaky_relu');
  }

  getConfig(): tf.serialization.ConfigDict {
    return {};
  }
}
tf.serialization.registerClass(KerasLeakyRelu);
