/**
 * The arguments of Keras's `MultiHeadAttention` (Keras 3.15, keras/src/layers/attention/multi_head_attention.py)
 * that tfjs's names do not cover, resolved so that nothing in a Keras config is silently dropped:
 * `output_shape` (Keras's name for the output width), `attention_axes`, `sliding_window`,
 * `flash_attention`, `seed`, the regularizers and constraints, and `callArguments` (which input is
 * which Keras call argument, set by the Keras loader).
 */
import * as tf from '@tensorflow/tfjs';
import type { Constraint } from '@tensorflow/tfjs-layers/dist/constraints';
import type { Regularizer } from '@tensorflow/tfjs-layers/dist/regularizers';
import { describeValue as describe } from '../describe';
import { checkPositiveInt } from './args';

export function resolveOutputDim(
  name: string,
  outputDim: number | null | undefined,
  outputShape: number | number[] | null | undefined,
): number | null {
  if (outputDim != null) return checkPositiveInt(name, 'outputDim', outputDim);
  // Keras treats a falsy output_shape (None, an empty tuple) as "the query's width".
  if (outputShape == null || (Array.isArray(outputShape) && outputShape.length === 0)) return null;
  const dims = Array.isArray(outputShape) ? outputShape : [outputShape];
  if (dims.length !== 1) {
    throw new Error(
      `${name}: outputShape ${describe(outputShape)} has ${dims.length} dimensions; only one output width ` +
        `(e.g. 64 or [64]) is supported, as the layer's output is (B, T, Dout)`,
    );
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

/** `sliding_window`: null (full attention) or a positive integer w, the band |t - s| < w. */
export function checkSlidingWindow(name: string, value: unknown): number | null {
  if (value == null) return null;
  return checkPositiveInt(name, 'slidingWindow', value);
}

/** `seed`: null or an integer (Keras seeds its dropout with it; inference does not depend on it). */
export function checkSeed(name: string, value: unknown): number | null {
  if (value == null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new Error(`${name}: seed must be an integer or null, got ${describe(value)}`);
  }
  return value;
}

/**
 * `flash_attention`: null, true or false. Only a choice of kernel in Keras, so the values are the
 * same either way; but Keras refuses flash attention with dropout, and so does this.
 */
export function checkFlashAttention(name: string, value: unknown, dropout: number): boolean | null {
  if (value == null) return null;
  if (typeof value !== 'boolean') {
    throw new Error(`${name}: flashAttention must be true, false or null, got ${describe(value)}`);
  }
  if (value && dropout > 0) {
    throw new Error(`${name}: flashAttention true does not allow dropout (got dropout ${dropout}), as in Keras`);
  }
  return value;
}

// ---------------------------------------------------------------------------
// Regularizers and constraints, as tfjs has them. Keras writes
// {class_name: 'L2', config: {l2}}, {class_name: 'L1', config: {l1}},
// {class_name: 'L1L2', config: {l1, l2}}; tfjs has one class, L1L2, so L1 and
// L2 map onto it. Constraints have the same class names in both (MaxNorm,
// MinMaxNorm, NonNeg, UnitNorm) and act on kernels of the same shapes.
// ---------------------------------------------------------------------------

/** A regularizer as a layer argument: its tfjs name, an instance, or a Keras `{className, config}`. */
export type RegularizerIdentifier = string | Regularizer | tf.serialization.ConfigDict;
/** A constraint as a layer argument: its tfjs name, an instance, or a Keras `{className, config}`. */
export type ConstraintIdentifier = string | Constraint | tf.serialization.ConfigDict;

/** tfjs 4.22's regularizer and constraint classes (the registry also holds layers and initializers). */
const REGULARIZERS = ['L1L2'];
const CONSTRAINTS = ['MaxNorm', 'MinMaxNorm', 'NonNeg', 'UnitNorm'];

function fromRegistry<T>(
  layer: string,
  name: string,
  id: tf.serialization.ConfigDict,
  kind: string,
  known: string[],
): T {
  const { className, config } = id as { className?: string; config?: tf.serialization.ConfigDict };
  const entry = className ? tf.serialization.SerializationMap.getMap().classNameMap[className] : undefined;
  if (!entry || !known.includes(className!)) {
    throw new Error(`${layer}: ${name} ${describe(id)} is not a known ${kind} class (${known.join(', ')})`);
  }
  const [cls, fromConfig] = entry;
  return fromConfig(cls, config ?? {}) as T;
}

export function resolveRegularizer(layer: string, name: string, id: unknown): Regularizer | null {
  if (id == null) return null;
  if (typeof id === 'string') {
    // Keras's defaults for the string forms: L1(0.01), L2(0.01), L1L2(0, 0) (tfjs's l1l2 defaults differ).
    const key = id.toLowerCase().replace('_', '');
    if (key === 'l1') return tf.regularizers.l1({ l1: 0.01 });
    if (key === 'l2') return tf.regularizers.l2({ l2: 0.01 });
    if (key === 'l1l2') return tf.regularizers.l1l2({ l1: 0, l2: 0 });
    throw new Error(`${layer}: ${name} ${describe(id)} is not a known regularizer ('l1', 'l2', 'l1l2')`);
  }
  if (typeof (id as Regularizer).apply === 'function') return id as Regularizer;
  const { className, config = {} } = id as { className?: string; config?: Record<string, number> };
  if (className === 'L1') return tf.regularizers.l1({ l1: config.l1 });
  if (className === 'L2') return tf.regularizers.l2({ l2: config.l2 });
  return fromRegistry<Regularizer>(layer, name, id as tf.serialization.ConfigDict, 'regularizer', REGULARIZERS);
}

export function resolveConstraint(layer: string, name: string, id: unknown): Constraint | null {
  if (id == null) return null;
  if (typeof id === 'string') {
    const camel = id.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
    const factory = (tf.constraints as unknown as Record<string, unknown>)[camel];
    if (typeof factory !== 'function') throw new Error(`${layer}: ${name} ${describe(id)} is not a known constraint`);
    return (factory as (args: object) => Constraint)({});
  }
  if (typeof (id as Constraint).apply === 'function') return id as Constraint;
  return fromRegistry<Constraint>(layer, name, id as tf.serialization.ConfigDict, 'constraint', CONSTRAINTS);
}

/** The `{className, config}` form of a regularizer or constraint, or null. */
export function serializeRegularizerOrConstraint(
  value: Regularizer | Constraint | null,
): tf.serialization.ConfigDict | null {
  return value == null ? null : { className: value.getClassName(), config: value.getConfig() };
}

/**
 * tfjs 4.22 cannot call a layer that has an activity regularizer (`Layer.apply` throws "not
 * supported yet"), so a Keras config with one is refused here, by name, instead.
 */
export function rejectActivityRegularizer(layer: string, value: unknown): void {
  if (value != null) {
    throw new Error(
      `${layer}: activityRegularizer ${describe(value)} is not supported (tfjs 4.22 cannot run a layer ` +
        `with an activity regularizer); only null is accepted`,
    );
  }
}

/**
 * `callArguments`: the Keras call argument that each input of the layer is, in order (e.g.
 * `['query', 'value', 'attention_mask']`), set by the Keras loader when a node passes tensors
 * beyond the leading positional ones. Null keeps the plain positional inputs. Each name must be
 * one of `allowed`, appear once, and `required` ones must be there.
 */
export function checkCallArguments(
  layer: string,
  value: unknown,
  allowed: readonly string[],
  required: readonly string[],
): string[] | null {
  if (value == null) return null;
  const expected = `a list of distinct names from ${allowed.map((a) => `'${a}'`).join(', ')}`;
  if (!Array.isArray(value) || value.length === 0 || value.some((v) => typeof v !== 'string')) {
    throw new Error(`${layer}: callArguments must be ${expected}, got ${describe(value)}`);
  }
  // tfjs's model.json loader camelCases every string value in a config (convertPythonicToTs),
  // so 'attention_mask' may arrive as 'attentionMask': both name the Keras argument.
  const names = (value as string[]).map((v) => v.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
  for (const name of names) {
    if (!allowed.includes(name)) {
      throw new Error(`${layer}: callArguments names '${name}', which is not a call argument; expected ${expected}`);
    }
  }
  if (new Set(names).size !== names.length) {
    throw new Error(`${layer}: callArguments ${describe(value)} names an argument twice; expected ${expected}`);
  }
  for (const name of required) {
    if (!names.includes(name)) {
      throw new Error(`${layer}: callArguments ${describe(value)} must include '${name}'`);
    }
  }
  return names;
}

/** The inputs (or input shapes) by Keras call argument name, per `callArguments`. */
export function byCallArgument<T>(layer: string, names: string[], inputs: T[]): Record<string, T> {
  if (inputs.length !== names.length) {
    throw new Error(
      `${layer}: callArguments ${describe(names)} names ${names.length} inputs, but the layer got ${inputs.length}`,
    );
  }
  return Object.fromEntries(names.map((n, i) => [n, inputs[i]]));
}
