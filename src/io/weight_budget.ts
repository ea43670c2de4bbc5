/**
 * Building a layers model from an untrusted config without allocating more weights than its file
 * holds. tfjs creates and initialises every weight while it deserializes a config, before anything
 * can compare the weights' shapes with the file's: a 17 kB `.keras` whose Embedding says
 * `input_dim: 5e7` would make tfjs allocate and fill 1.6 GB before the shape check refuses it.
 *
 * So the model is built with every `Layer.addWeight` charged to a budget, the bytes that the file
 * really holds for weights (4 per value): the weight that would pass it is refused before it is
 * allocated, naming the layer and the weight, and the weights made so far are disposed. Weights
 * are created as zeros (the file's values replace them), which also spares the random
 * initialisers' time.
 *
 * How: `Layer.prototype.addWeight` is replaced for the duration of one synchronous call,
 * `tf.models.modelFromJSON` without a weights manifest, which runs tfjs's whole deserialization
 * before its first `await` (tfjs-layers 4.22 src/models.ts). No other code can run inside that
 * window, so no other model in the process ever sees the replacement, and it is restored in a
 * `finally`. test/io/weight_budget.test.ts fails if a tfjs version ever deserializes later.
 */
import * as tf from '@tensorflow/tfjs';
import { ModelLoadError } from './load_error';

/** What the budget is and how a message says it: the file, its limit in bytes, and what holds it. */
export interface WeightBudget {
  file: string;
  limitBytes: number;
  /** "the 17 kB of weights that model.weights.h5 holds", for the message that refuses a weight. */
  holds: string;
}

type AddWeight = tf.layers.Layer['addWeight'];

/** Bytes of the model's weights once loaded: 4 per value (float32 and int32). */
export function weightBytes(model: tf.LayersModel): number {
  return model.weights.reduce((sum, w) => sum + 4 * w.shape.reduce((a: number, b) => a * (b ?? 0), 1), 0);
}

/**
 * Deserializes `modelTopology` (tfjs's JSON, snake_case as saved) with tfjs, its weights zeros and
 * charged to `budget`; tfjs's own errors come back as `ModelLoadError`s naming the file.
 */
export async function buildWithinBudget(modelTopology: object, budget: WeightBudget): Promise<tf.LayersModel> {
  const prototype = tf.layers.Layer.prototype as unknown as { addWeight: AddWeight };
  const original = prototype.addWeight;
  const created: tf.LayerVariable[] = [];
  let spent = 0;
  const zeros = tf.initializers.zeros();
  prototype.addWeight = function (this: tf.layers.Layer, name, shape, dtype, _initializer, ...rest) {
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw new ModelLoadError(
        budget.file,
        `its config gives layer '${this.name}' a weight '${name}' of shape ${JSON.stringify(shape)?.slice(0, 100)}, ` +
          'which is not a list of sizes; the config is corrupt',
      );
    }
    spent += 4 * (shape as number[]).reduce((a, b) => a * b, 1);
    if (spent > budget.limitBytes) {
      throw new ModelLoadError(
        budget.file,
        `its config gives layer '${this.name}' a weight '${name}' of shape [${shape}], which brings the model's ` +
          `weights to ${formatBytes(spent)}, more than ${budget.holds}; the config does not match its weights`,
      );
    }
    const weight = original.call(this, name, shape, dtype, zeros, ...rest);
    created.push(weight);
    return weight;
  };
  let pending: Promise<tf.LayersModel>;
  try {
    pending = tf.models.modelFromJSON({ modelTopology: modelTopology as tf.io.ModelJSON['modelTopology'] });
  } finally {
    prototype.addWeight = original;
  }
  try {
    return await pending;
  } catch (error) {
    // The model was never returned, so nothing else holds or has disposed these.
    for (const weight of created) weight.dispose();
    if (error instanceof ModelLoadError) throw error;
    throw new ModelLoadError(
      budget.file,
      `tfjs could not build the model from its config (${error instanceof Error ? error.message : String(error)})`,
    );
  }
}

/** Bytes for a message: '17 kB', '1.6 GB' (powers of 1000, as file managers show sizes). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} bytes`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}
