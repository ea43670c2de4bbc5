/**
 * Argument validation and initializers of the layers. Every error names the layer, the argument,
 * the value and the rule.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';
import { describeValue as describe } from '../describe';
import { checkOptionNames, optionNames } from '../options';

/** tfjs's `LayerArgs`: every layer takes them, and tfjs passes `getConfig`'s back when it deserializes one. */
const LAYER_ARG_NAMES = optionNames<LayerArgs>({
  inputShape: true,
  batchInputShape: true,
  batchSize: true,
  dtype: true,
  name: true,
  trainable: true,
  weights: true,
  inputDType: true,
});

/**
 * What tfjs adds to a layer's config when it deserializes one (`deserializeKerasObject` in
 * tfjs-layers' generic_utils: the custom classes, for layers that deserialize their own parts).
 */
const DESERIALIZATION_NAMES = ['customObjects'];

/**
 * The argument names of a layer whose arguments are `T`: the ones it adds to `LayerArgs` (the
 * object literal must list exactly those, so the compiler keeps the list in step with `T`), then
 * LayerArgs' own and what tfjs adds when deserializing.
 */
export function layerArgNames<T extends LayerArgs>(own: {
  readonly [K in Exclude<keyof T, keyof LayerArgs>]-?: true;
}): readonly string[] {
  return [...Object.keys(own), ...LAYER_ARG_NAMES, ...DESERIALIZATION_NAMES];
}

/**
 * Refuses an argument that `cls` does not know, with the nearest known name (src/options.ts), when
 * `layer` is exactly a `cls`: a subclass with arguments of its own checks them itself.
 */
export function checkLayerArgNames(
  layer: tf.layers.Layer,
  cls: { className: string },
  args: unknown,
  names: readonly string[],
): void {
  if ((layer.constructor as unknown) === cls) checkOptionNames(`${cls.className} '${layer.name}'`, args, names);
}

/** Throws unless `value` is an integer >= 1. */
export function checkPositiveInt(layer: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new Error(`${layer}: ${name} must be a positive integer, got ${describe(value)}`);
  }
  return value;
}

/** Throws unless `value` is a rate in [0, 1). */
export function checkRate(layer: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value >= 1) {
    throw new Error(`${layer}: ${name} must be a number in [0, 1), got ${describe(value)}`);
  }
  return value;
}

/** Throws unless `value` is a finite number > 0. */
export function checkPositiveNumber(layer: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`${layer}: ${name} must be a positive number, got ${describe(value)}`);
  }
  return value;
}

/** Throws unless `value` is a boolean. */
export function checkBoolean(layer: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new Error(`${layer}: ${name} must be true or false, got ${describe(value)}`);
  }
  return value;
}

/** Throws unless `value` is one of `choices`. */
export function checkChoice<T extends string>(layer: string, name: string, value: unknown, choices: readonly T[]): T {
  if (typeof value !== 'string' || !choices.includes(value as T)) {
    throw new Error(
      `${layer}: ${name} must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${describe(value)}`,
    );
  }
  return value as T;
}

// ---------------------------------------------------------------------------
// Initializers. tfjs keeps its own getInitializer/serializeInitializer private,
// so these mirror them on the public serialization registry.
// ---------------------------------------------------------------------------

/** What a layer argument may hold for an initializer. */
export type InitializerIdentifier = string | Initializer | tf.serialization.ConfigDict;

/** Keras/tfjs string identifiers, e.g. 'glorot_uniform' or 'glorotUniform'. */
function initializerFromString(layer: string, name: string, id: string): Initializer {
  const camel = id.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  const factory = (tf.initializers as unknown as Record<string, unknown>)[camel];
  if (typeof factory !== 'function') {
    throw new Error(`${layer}: ${name} '${id}' is not a known initializer (e.g. 'glorotUniform', 'zeros')`);
  }
  return (factory as (args: object) => Initializer)({});
}

function isInitializer(value: unknown): value is Initializer {
  const v = value as Partial<Initializer>;
  return typeof v.apply === 'function' && typeof v.getClassName === 'function';
}

/** Resolves an initializer given as a string, an instance or a `{className, config}` dict. */
export function resolveInitializer(
  layer: string,
  name: string,
  id: InitializerIdentifier | undefined,
  fallback: string,
): Initializer {
  if (id == null) return initializerFromString(layer, name, fallback);
  if (typeof id === 'string') return initializerFromString(layer, name, id);
  if (isInitializer(id)) return id;
  const { className, config } = id as { className?: string; config?: tf.serialization.ConfigDict };
  const entry = className ? tf.serialization.SerializationMap.getMap().classNameMap[className] : undefined;
  if (!entry) {
    throw new Error(`${layer}: ${name} ${describe(id)} is not a registered initializer class`);
  }
  const [cls, fromConfig] = entry;
  return fromConfig(cls, config ?? {}) as Initializer;
}

/** The `{className, config}` form tfjs writes into model.json. */
export function serializeInitializer(init: Initializer): tf.serialization.ConfigDict {
  return { className: init.getClassName(), config: init.getConfig() };
}
