/**
 * The arguments of Keras's `MultiHeadAttention` that tfjs's names do not cover: `output_shape`
 * (Keras's name for the output width), `attention_axes`, and the regularizer and constraint keys,
 * which are accepted only at their defaults so that nothing in a Keras config is silently dropped.
 */
import { checkPositiveInt } from './args';

export function resolveOutputDim(
  name: string,
  outputDim: number | null | undefined,
  outputShape: number | number[] | null | undefined,
): number | null {
  if (outputDim != null) return checkPositiveInt(name, 'outputDim', outputDim);
  if (outputShape == null) return null;
  const dims = Array.isArray(outputShape) ? outputShape : [outputShape];
  if (dims.length !== 1) {
    throw new Error(`${name}: outputShape must be one width (e.g. 64 or [64]), got ${JSON.stringify(outputShape)}`);
  }
  return checkPositiveInt(name, 'outputShape', dims[0]);
}

export function checkAttentionAxes(name: string, axes: number | number[] | null | undefined): void {
  if (axes == null) return;
  const list = Array.isArray(axes) ? axes : [axes];
  if (list.length === 1 && (list[0] === 1 || list[0] === -2)) return;
  throw new Error(
    `${name}: attentionAxes ${JSON.stringify(axes)} is not supported; only attention over the ` +
      `sequence axis of rank-3 inputs (null, 1, [1] or [-2], the Keras default) is implemented`,
  );
}

/** Keras config keys we accept only at their defaults, so nothing is silently dropped. */
export function rejectUnsupportedKerasArgs(name: string, args: Record<string, unknown>): void {
  for (const key of [
    'kernelRegularizer',
    'biasRegularizer',
    'activityRegularizer',
    'kernelConstraint',
    'biasConstraint',
  ]) {
    if (args[key] != null) {
      throw new Error(`${name}: ${key} is not supported (got ${JSON.stringify(args[key])}); only null is accepted`);
    }
  }
}
