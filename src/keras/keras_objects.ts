/**
 * tfjs's serialized objects (initializers, regularizers, constraints, activation names) as Keras 3
 * serializes them (`{module, class_name, config, registered_name}`, keras/src/saving/
 * serialization_lib.py), for the layer configs save.ts writes. Anything without an exact Keras
 * equal is an error naming it.
 */
import { ACTIVATIONS } from './stock_layers';

/** A tfjs object as `getConfig` gives it: `{className, config}`. */
interface TfjsObject {
  className: string;
  config: Record<string, unknown>;
}

/** Keras's float32 dtype policy, which every written layer computes in. */
export const FLOAT32_POLICY = {
  module: 'keras',
  class_name: 'DTypePolicy',
  config: { name: 'float32' },
  registered_name: null,
};

function kerasObject(module: string, className: string, config: Record<string, unknown>) {
  return { module, class_name: className, config, registered_name: null };
}

const MODES: Record<string, string> = { fanIn: 'fan_in', fanOut: 'fan_out', fanAvg: 'fan_avg' };
/**
 * tfjs's VarianceScaling 'normal' draws from a truncated normal of standard deviation
 * sqrt(scale / n) (tfjs-layers initializers.ts); Keras's 'truncated_normal' divides that by 0.8796 so
 * that the truncated draw has it. The distribution of fresh weights only: a saved model's weights
 * are written as they are.
 */
const DISTRIBUTIONS: Record<string, string> = {
  normal: 'truncated_normal',
  truncatedNormal: 'truncated_normal',
  uniform: 'uniform',
};

/** A tfjs initializer as Keras's; `where` names the argument in errors. */
export function kerasInitializer(value: unknown, where: string): unknown {
  const init = value as TfjsObject;
  const c = init.config ?? {};
  const seed = c.seed ?? null;
  const make = (className: string, config: Record<string, unknown>) =>
    kerasObject('keras.initializers', className, config);
  switch (init.className) {
    case 'Zeros':
    case 'Ones':
      return make(init.className, {});
    case 'Constant':
      return make('Constant', { value: c.value });
    case 'RandomUniform':
      return make('RandomUniform', { seed, minval: c.minval, maxval: c.maxval });
    case 'RandomNormal':
    case 'TruncatedNormal':
      return make(init.className, { seed, mean: c.mean, stddev: c.stddev });
    case 'Identity':
      return make('Identity', { gain: c.gain });
    case 'Orthogonal':
      return make('Orthogonal', { seed, gain: c.gain });
    case 'VarianceScaling':
    case 'GlorotUniform':
    case 'GlorotNormal':
    case 'HeUniform':
    case 'HeNormal':
    case 'LeCunUniform':
    case 'LeCunNormal': {
      const mode = MODES[c.mode as string];
      const distribution = DISTRIBUTIONS[c.distribution as string];
      if (mode == null || distribution == null) {
        throw new Error(`${where}: initializer ${JSON.stringify(init)} has no Keras equal`);
      }
      return make('VarianceScaling', { seed, scale: c.scale, mode, distribution });
    }
    default:
      throw new Error(`${where}: initializer ${init?.className ?? JSON.stringify(value)} has no Keras equal`);
  }
}

/** A tfjs regularizer (null, or L1L2) as Keras's L1L2 (the same penalty, l1 * sum|x| + l2 * sum x^2). */
export function kerasRegularizer(value: unknown, where: string): unknown {
  if (value == null) return null;
  const reg = value as TfjsObject;
  if (reg.className !== 'L1L2') throw new Error(`${where}: regularizer ${reg.className} has no Keras equal`);
  return kerasObject('keras.regularizers', 'L1L2', { l1: reg.config.l1, l2: reg.config.l2 });
}

/** A tfjs constraint (null, MaxNorm, UnitNorm, NonNeg, MinMaxNorm) as Keras's. */
export function kerasConstraint(value: unknown, where: string): unknown {
  if (value == null) return null;
  const con = value as TfjsObject;
  const c = con.config;
  const make = (config: Record<string, unknown>) => kerasObject('keras.constraints', con.className, config);
  switch (con.className) {
    case 'NonNeg':
      return make({});
    case 'UnitNorm':
      return make({ axis: c.axis });
    case 'MaxNorm':
      return make({ max_value: c.maxValue, axis: c.axis });
    case 'MinMaxNorm':
      return make({ min_value: c.minValue, max_value: c.maxValue, rate: c.rate, axis: c.axis });
    default:
      throw new Error(`${where}: constraint ${con.className} has no Keras equal`);
  }
}

/**
 * tfjs activation name -> Keras's: the inverse of the loader's table (stock_layers.ts ACTIVATIONS),
 * so that only the activations whose tfjs and Keras results are the same are written.
 */
const KERAS_ACTIVATIONS: Record<string, string> = Object.fromEntries(
  Object.entries(ACTIVATIONS)
    .reverse()
    .map(([keras, tfjs]) => [tfjs, keras]),
);

/** A tfjs activation identifier as Keras's name ('swish' -> 'silu', ...). */
export function kerasActivation(value: unknown, where: string): string {
  const name = KERAS_ACTIVATIONS[String(value)];
  if (name == null) {
    throw new Error(
      `${where}: activation ${JSON.stringify(value)} has no Keras equal computing the same ` +
        `(written: ${Object.keys(KERAS_ACTIVATIONS).join(', ')})`,
    );
  }
  return name;
}
