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
 * How: `Layer.prototype.addWeight` (and, to name the layer in tfjs's errors, `Layer.prototype.apply`
 * and the serialization registry) is replaced while tfjs deserializes, which it does synchronously:
 * - `buildWithinBudget`: for one call, `tf.models.modelFromJSON` without a weights manifest, which
 *   runs tfjs's whole deserialization before its first `await` (tfjs-layers 4.22 src/models.ts);
 *   restored in a `finally`;
 * - `armForTfjs`, for tfjs's own `tf.loadLayersModel` (the `file://` route, so that the model is built
 *   once, by tfjs): from tfjs's read of the artifacts' `modelTopology`, which it deserializes right
 *   after, in the same synchronous run (tfjs-layers 4.22 `loadLayersModelFromIOHandler`), to the end
 *   of that run (a microtask).
 * No other code runs inside either window, so no other model in the process sees the replacement.
 * test/io/weight_budget.test.ts fails if a tfjs version ever deserializes outside them.
 */
import * as tf from '@tensorflow/tfjs';
import { describeValue } from '../describe';
import { ModelLoadError } from './load_error';

/** What the budget is and how a message says it: the file, its limit in bytes, and what holds it. */
export interface WeightBudget {
  file: string;
  limitBytes: number;
  /** "the 17 kB of weights that model.weights.h5 holds", for the message that refuses a weight. */
  holds: string;
}

type AddWeight = tf.layers.Layer['addWeight'];

/**
 * The budget of a file that holds `bytes` of weights at most (`holds` says where: "of
 * model.weights.h5"), or of the `maxWeightBytes` option when that is smaller.
 */
export function budgetOf(file: string, bytes: number, holds: string, maxWeightBytes: number): WeightBudget {
  return bytes <= maxWeightBytes
    ? { file, limitBytes: bytes, holds: `the ${formatBytes(bytes)} ${holds}` }
    : { file, limitBytes: maxWeightBytes, holds: `the ${formatBytes(maxWeightBytes)} of the maxWeightBytes option` };
}

/** Bytes of the model's weights once loaded: 4 per value (float32 and int32). */
export function weightBytes(model: tf.LayersModel): number {
  return model.weights.reduce((sum, w) => sum + 4 * w.shape.reduce((a: number, b) => a * (b ?? 0), 1), 0);
}

/**
 * Deserializes `modelTopology` (tfjs's JSON, snake_case as saved) with tfjs, its weights zeros and
 * charged to `budget`. tfjs's own errors come back as `ModelLoadError`s naming the file and, when
 * tfjs was making or calling one, the layer: `layer 'dense' (Dense): tfjs cannot build it from its
 * config (tfjs: ...)`.
 */
export async function buildWithinBudget(modelTopology: object, budget: WeightBudget): Promise<tf.LayersModel> {
  const created: tf.LayerVariable[] = [];
  let pending: Promise<tf.LayersModel>;
  const restore = instrument(budget, created);
  try {
    pending = tf.models.modelFromJSON({ modelTopology: modelTopology as tf.io.ModelJSON['modelTopology'] });
  } finally {
    restore();
  }
  try {
    const model = await pending;
    // A layer that no output depends on is built but left out of the model (tfjs's Container keeps
    // only the layers between inputs and outputs): its weights would outlive model.dispose().
    const kept = new Set(model.weights);
    for (const weight of created) if (!kept.has(weight)) weight.dispose();
    countOnce(model.layers);
    return model;
  } catch (error) {
    // The model was never returned, so nothing else holds or has disposed these.
    for (const weight of created) weight.dispose();
    if (error instanceof ModelLoadError) throw error;
    throw new ModelLoadError(budget.file, `tfjs could not build the model from its config (tfjs: ${messageOf(error)})`);
  }
}

/**
 * Replaces, until the returned function restores them: `Layer.prototype.addWeight` (charged to the
 * budget, zeros, each weight recorded in `created`), `Layer.prototype.apply` and the serialization
 * registry's `fromConfig`s (their errors attributed to the layer being built).
 */
function instrument(
  budget: WeightBudget,
  created: tf.LayerVariable[],
  onWeight: (weight: tf.LayerVariable, layer: tf.layers.Layer) => void = () => undefined,
  onModel: (model: tf.LayersModel) => void = () => undefined,
): () => void {
  const prototype = tf.layers.Layer.prototype as unknown as { addWeight: AddWeight; apply: tf.layers.Layer['apply'] };
  const { addWeight, apply: applyLayer } = prototype;
  const registry = tf.serialization.SerializationMap.getMap();
  const classes = registry.classNameMap;
  const fail = (problem: string) => new ModelLoadError(budget.file, problem);
  const attributed = (error: unknown, name: unknown, className: string) =>
    error instanceof ModelLoadError
      ? error
      : fail(
          `layer ${describeValue(name)} (${className}): tfjs cannot build it from its config ` +
            `(tfjs: ${messageOf(error)})`,
        );
  let spent = 0;
  // Zeros, each initial value remembered: tfjs's addWeight leaks it when the variable then fails
  // (an invalid weight name: "Not a valid tensor name").
  let initial: tf.Tensor | null = null;
  const zeros = Object.assign(Object.create(tf.initializers.zeros()), {
    apply: (shape: number[], dtype?: tf.DataType) => (initial = tf.zeros(shape, dtype)),
  }) as ReturnType<typeof tf.initializers.zeros>;
  prototype.addWeight = function (this: tf.layers.Layer, name, shape, dtype, _initializer, ...rest) {
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw fail(
        `its config gives layer '${this.name}' a weight '${name}' of shape ${describeValue(shape)}, which is not ` +
          'a list of sizes; the config is corrupt',
      );
    }
    spent += 4 * (shape as number[]).reduce((a, b) => a * b, 1);
    if (spent > budget.limitBytes) {
      throw fail(
        `its config gives layer '${this.name}' a weight '${name}' of shape [${shape}], which brings the model's ` +
          `weights to ${formatBytes(spent)}, more than ${budget.holds}; the config does not match its weights`,
      );
    }
    let weight: tf.LayerVariable;
    try {
      weight = addWeight.call(this, name, shape, dtype, zeros, ...rest);
    } catch (error) {
      if (initial != null && !initial.isDisposed) initial.dispose();
      throw error;
    }
    created.push(weight);
    onWeight(weight, this);
    return weight;
  };
  prototype.apply = function (this: tf.layers.Layer, ...args: Parameters<tf.layers.Layer['apply']>) {
    try {
      return applyLayer.apply(this, args);
    } catch (error) {
      throw attributed(error, this.name, this.getClassName());
    }
  };
  // A layer's fromConfig errors name the layer (its config names it; an initializer's or a
  // regularizer's does not, and its layer names the error); a model's are the whole build's. Each
  // class is wrapped once per window.
  const wrappedClasses = new Map<string, (typeof classes)[string]>();
  let depth = 0; // of fromConfig calls: the model being loaded is at 1
  registry.classNameMap = new Proxy(classes, {
    get(target, className: string) {
      const entry = target[className];
      if (!Array.isArray(entry) || !(entry[0].prototype instanceof tf.layers.Layer)) return entry;
      let wrapped = wrappedClasses.get(className);
      if (wrapped == null) {
        const [cls, fromConfig] = entry;
        const isModel = cls === tf.LayersModel || cls.prototype instanceof tf.LayersModel;
        wrapped = [
          cls,
          (c, config, ...rest) => {
            depth++;
            try {
              const made = fromConfig(c, config, ...rest);
              if (isModel && depth === 1) onModel(made as unknown as tf.LayersModel);
              return made;
            } catch (error) {
              if (error instanceof ModelLoadError) throw error;
              if (isModel && depth === 1) {
                throw fail(`tfjs could not build the model from its config (tfjs: ${messageOf(error)})`);
              }
              // A model class deeper down (a nested model, or one named where an initializer belongs) is
              // named by the layer around it.
              if (isModel || typeof config?.name !== 'string') throw error;
              throw attributed(error, config.name, className);
            } finally {
              depth--;
            }
          },
        ];
        wrappedClasses.set(className, wrapped);
      }
      return wrapped;
    },
  });
  return () => {
    prototype.addWeight = addWeight;
    prototype.apply = applyLayer;
    registry.classNameMap = classes;
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * `artifacts` (already checked by their loader) armed so that tfjs's own `loadLayersModel` builds
 * them within `budget`, each weight it creates checked by `onWeight` (which throws to refuse it), and
 * `onBuilt` called once tfjs has built the model (which throws to refuse it; the weights made are then
 * disposed): see the module comment. `onBuilt` returns whether it wrote the model's weights itself:
 * tfjs, which reads `weightData` again after building (tfjs-layers 4.22 `loadLayersModelFromIOHandler`),
 * then finds none to decode and load. Anything else reading the artifacts gets them unchanged.
 */
export function armForTfjs(
  artifacts: tf.io.ModelArtifacts,
  budget: WeightBudget,
  onWeight: (weight: tf.LayerVariable) => void,
  onBuilt: () => boolean,
): tf.io.ModelArtifacts {
  const { modelTopology, trainingConfig, weightData } = artifacts;
  let window: {
    created: tf.LayerVariable[];
    layers: Set<tf.layers.Layer>;
    model: tf.LayersModel | null;
    built: boolean;
    written: boolean;
  } | null = null;
  const armed = { ...artifacts };
  Object.defineProperty(armed, 'modelTopology', {
    enumerable: true,
    get() {
      if (window == null) {
        const opened = {
          created: [] as tf.LayerVariable[],
          layers: new Set<tf.layers.Layer>(),
          model: null as tf.LayersModel | null,
          built: false,
          written: false,
        };
        window = opened;
        const restore = instrument(
          budget,
          opened.created,
          (weight, layer) => {
            opened.layers.add(layer);
            onWeight(weight);
          },
          (model) => (opened.model = model),
        );
        queueMicrotask(() => {
          restore();
          // tfjs failed while building: it holds the weights made so far, and never returns them.
          if (!opened.built) for (const weight of opened.created) weight.dispose();
        });
      }
      return modelTopology;
    },
  });
  Object.defineProperty(armed, 'trainingConfig', {
    enumerable: true,
    get() {
      // tfjs reads this right after building the model.
      if (window != null && !window.built) {
        try {
          refuseLeftOut(window.model, window.layers, budget.file);
          window.written = onBuilt();
          // tfjs compiles the model with this next, and its errors would name no file: a trial first.
          if (trainingConfig != null) compiles(window.model, trainingConfig, budget.file);
        } catch (error) {
          for (const weight of window.created) weight.dispose();
          window.built = true; // nothing left for the end of the window to dispose
          throw error;
        }
        window.built = true;
        countOnce(window.layers);
      }
      return trainingConfig;
    },
  });
  Object.defineProperty(armed, 'weightData', {
    enumerable: true,
    get() {
      return window?.written ? undefined : weightData;
    },
  });
  return armed;
}

/**
 * Refuses a model that leaves out a layer with weights that its config builds: tfjs keeps only the
 * layers an output depends on through their inputs, and its loader drops a tensor passed as a keyword
 * argument (tf.keras 2's `MultiHeadAttention(query, value=v)` in a converter's model.json), so the
 * model would compute something else than the file's, and the left-out weights would outlive
 * `model.dispose()`.
 */
function refuseLeftOut(model: tf.LayersModel | null, built: Set<tf.layers.Layer>, file: string): void {
  const kept = new Set(model?.weights ?? []);
  const leftOut = [...built].filter((layer) => !layer.weights.some((w) => kept.has(w)));
  if (leftOut.length === 0) return;
  const names = leftOut.map((l) => `layer '${l.name}' (${l.getClassName()})`).join(', ');
  throw new ModelLoadError(
    file,
    `no output of the model tfjs builds depends on ${names} ` +
      "of its config (tfjs's loader drops a tensor passed as a keyword argument, such as tf.keras 2's " +
      'MultiHeadAttention value=), so tfjs would compute another model; loadKerasModel reads such a file',
  );
}

/** Whether tfjs can compile `model` with `config` (a model.json's trainingConfig); an error naming the file if not. */
export function compiles(model: tf.LayersModel | null, config: tf.io.TrainingConfig, file: string): void {
  try {
    // tfjs makes the optimizer (and its variables) before it checks the loss.
    freeingVariablesOnError(() =>
      model?.loadTrainingConfig(config as Parameters<tf.LayersModel['loadTrainingConfig']>[0]),
    );
  } catch (error) {
    throw new ModelLoadError(file, `its trainingConfig is not one tfjs can compile (tfjs: ${messageOf(error)})`);
  }
}

/** Runs `run`; if it throws, disposes every variable it registered with tfjs's engine first. */
export function freeingVariablesOnError<T>(run: () => T): T {
  const variables = tf.engine().registeredVariables;
  const before = new Set(Object.keys(variables));
  try {
    return run();
  } catch (error) {
    for (const [name, variable] of Object.entries(variables)) if (!before.has(name)) variable.dispose();
    throw error;
  }
}

/**
 * tfjs counts a reference per call of a layer, and `model.dispose()` releases one per layer: the
 * weights of a layer called twice (shared) would never be freed. Built by one load, each of these
 * layers belongs to that model alone.
 */
function countOnce(layers: Iterable<tf.layers.Layer>): void {
  for (const layer of layers) {
    const counted = layer as unknown as { _refCount: number | null };
    if (counted._refCount != null && counted._refCount > 1) counted._refCount = 1;
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
