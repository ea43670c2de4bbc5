/**
 * The activations of the transformer blocks' feed-forward networks, by their Keras names, each in
 * tfjs ops: the one table of them (the blocks check `activation` against it, and ours and
 * keras-hub's blocks take the same names).
 */
import * as tf from '@tensorflow/tfjs';
import { gelu } from './gelu';

const ACTIVATION_FUNCTIONS: Record<string, (x: tf.Tensor) => tf.Tensor> = {
  linear: (x) => x,
  relu: (x) => tf.relu(x),
  // Keras's 'gelu' is exact (approximate=False), x * Phi(x).
  gelu,
  tanh: (x) => tf.tanh(x),
  sigmoid: (x) => tf.sigmoid(x),
  silu: (x) => x.mul(tf.sigmoid(x)),
  swish: (x) => x.mul(tf.sigmoid(x)),
  softplus: (x) => tf.softplus(x),
  elu: (x) => tf.elu(x),
  selu: (x) => tf.selu(x),
};

/** The names `activate` takes, Keras's. */
export const ACTIVATION_NAMES: readonly string[] = Object.keys(ACTIVATION_FUNCTIONS);

/** `name`(x) (one of ACTIVATION_NAMES). Call inside a tidy. */
export function activate(x: tf.Tensor, name: string): tf.Tensor {
  // Only the table's own names: `ACTIVATION_FUNCTIONS.toString` is Object's.
  const f = ACTIVATION_NAMES.includes(name) ? ACTIVATION_FUNCTIONS[name] : undefined;
  if (f === undefined)
    throw new Error(`activate: unknown activation '${name}'; expected one of ${ACTIVATION_NAMES.join(', ')}`);
  return f(x);
}
