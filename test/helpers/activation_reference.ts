/**
 * Keras's activations in float64, one formula each (keras/src/activations/activations.py), for the
 * tests of src/ops/activations.ts (tfjs ops) and src/ops/rows.ts (typed arrays). No tfjs here.
 */
import { gelu } from './block_reference';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
// Klambauer et al. 2017.
const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;

export const ACTIVATION_REFERENCE: Record<string, (x: number) => number> = {
  linear: (x) => x,
  relu: (x) => Math.max(0, x),
  gelu,
  tanh: Math.tanh,
  sigmoid,
  silu: (x) => x * sigmoid(x),
  swish: (x) => x * sigmoid(x),
  softplus: (x) => Math.log(1 + Math.exp(x)),
  elu: (x) => (x > 0 ? x : Math.exp(x) - 1),
  selu: (x) => SELU_SCALE * (x > 0 ? x : SELU_ALPHA * (Math.exp(x) - 1)),
};

/** Inputs that tell the activations apart: both signs, zero, small and large (softplus's overflow). */
export const ACTIVATION_INPUTS = [-30, -3, -1, -0.25, 0, 0.25, 1, 3, 30];

/** Whether float32 results `actual` are `expected` to float32 precision. */
export function closeToFloat32(actual: ArrayLike<number>, expected: number[]): boolean {
  return expected.every((e, i) => Math.abs(actual[i] - e) <= 1e-6 + 2e-6 * Math.abs(e));
}
