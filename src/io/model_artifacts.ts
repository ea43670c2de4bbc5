/**
 * A tfjs layers model's artifacts (model.json's topology and weights manifest, and the weight
 * bytes) checked as untrusted input, and the model built from them, for every loader that reads a
 * model.json: `loadSeq2Seq` (folder, URL, browser store), `loadKerasModel` (model.json) and the
 * `file://` route of `tf.loadLayersModel`, where tfjs builds the model itself under steps 4 and 5
 * (`checkedForTfjs`).
 *
 * In order, each refused with a `ModelLoadError` naming the model.json:
 * 1. the topology within the JSON limits, and its graph sound (./topology.ts);
 * 2. each weight spec: a name, a shape of sizes, a dtype (float32 or int32) or one of tfjs's
 *    quantizations; together at most `maxWeightBytes`, and exactly as many bytes as the weight data;
 * 3. no NaN or infinity in the weights (or a warning, with `nonFiniteWeights: 'warn'`);
 * 4. the model built within the budget of the weights the manifest lists (./weight_budget.ts);
 * 5. every weight of the model matched by name and shape to one of the manifest, and no other;
 * then the values written. Nothing is allocated from a declared size before it is checked, and a
 * failure disposes what was built.
 */
import * as tf from '@tensorflow/tfjs';
import { describeValue } from '../describe';
import { checkJsonValue, ModelLoadOptions } from './limits';
import { ModelLoadError } from './load_error';
import { checkTopology } from './topology';
import {
  armForTfjs,
  buildWithinBudget,
  compiles,
  formatBytes,
  freeingVariablesOnError,
  WeightBudget,
} from './weight_budget';

/** Bytes per stored value of each weight dtype and quantization that a layers model's manifest may use. */
const DTYPE_BYTES = new Map([
  ['float32', 4],
  ['int32', 4],
]);
const QUANTIZED_BYTES = new Map([
  ['uint8', 1],
  ['uint16', 2],
  ['float16', 2],
]);

/** A weight spec checked, with where its bytes are in the weight data. */
interface Weight {
  spec: tf.io.WeightsManifestEntry;
  offset: number;
  bytes: number;
  /** A model weight (assigned), or an optimizer's (skipped, as tfjs does without an optimizer). */
  isModel: boolean;
}

/**
 * The weight specs of `artifacts` checked against its weight data and the options (steps 1 to 3 of
 * the module comment); `file` names the model.json.
 */
export function checkArtifacts(
  artifacts: tf.io.ModelArtifacts,
  file: string,
  options: Required<ModelLoadOptions>,
): { weights: Weight[]; data: ArrayBuffer } {
  const topology = artifacts.modelTopology;
  if (topology == null || topology instanceof ArrayBuffer) {
    throw new ModelLoadError(file, 'has no modelTopology of a layers model (a graph model, or no model)');
  }
  checkJsonValue(topology, file);
  checkTopology(topology, file);
  const weights = checkWeightSpecs(artifacts.weightSpecs ?? [], file, options.maxWeightBytes);
  const data = joinWeightData(artifacts.weightData);
  const needed = weights.reduce((sum, w) => sum + w.bytes, 0);
  if (data.byteLength !== needed) {
    throw new ModelLoadError(
      file,
      `has ${data.byteLength} bytes of weight data but its weightsManifest needs ${needed} ` +
        '(truncated, or not the weights of this model.json)',
    );
  }
  for (const weight of weights) checkFinite(weight, data, file, options);
  return { weights, data };
}

/**
 * The artifacts checked (steps 1 to 3) and armed for tfjs's own `tf.loadLayersModel` (the `file://`
 * route), so that tfjs builds the model once, under steps 4 and 5 (weight_budget.ts's `armForTfjs`).
 */
export function checkedForTfjs(
  artifacts: tf.io.ModelArtifacts,
  file: string,
  options: Required<ModelLoadOptions>,
): tf.io.ModelArtifacts {
  const { weights, data } = checkArtifacts(artifacts, file, options);
  const modelWeights = weights.filter((w) => w.isModel);
  const byName = new Map(modelWeights.map((w) => [w.spec.name, w]));
  const pairs: [tf.LayerVariable, Weight][] = [];
  return armForTfjs(
    artifacts,
    budgetFor(modelWeights, file),
    (variable) => {
      pairs.push([variable, checkMatch(variable, byName.get(variable.originalName), file)]);
      byName.delete(variable.originalName);
    },
    () => {
      checkAllMatched(byName, file);
      // Without an optimizer's weights (which tfjs gives the optimizer it compiles), the weights are
      // written here from views of the data, as buildFromArtifacts does, instead of by tfjs, which
      // copies each one out of the data first.
      if (modelWeights.length !== weights.length) return false;
      for (const [variable, weight] of pairs) writeWeight(variable, decode(weight, data), file);
      return true;
    },
  );
}

function budgetFor(modelWeights: Weight[], file: string): WeightBudget {
  const values = modelWeights.reduce((sum, w) => sum + 4 * sizeOf(w.spec.shape), 0);
  // At most maxWeightBytes: checkWeightSpecs saw to it.
  return { file, limitBytes: values, holds: `the ${formatBytes(values)} its weightsManifest lists` };
}

/** The model of `artifacts`, checked and built within the weights they hold (steps 1 to 5), its weights written. */
export async function buildFromArtifacts(
  artifacts: tf.io.ModelArtifacts,
  file: string,
  options: Required<ModelLoadOptions>,
): Promise<tf.LayersModel> {
  const { weights, data } = checkArtifacts(artifacts, file, options);
  const modelWeights = weights.filter((w) => w.isModel);
  const model = await buildWithinBudget(artifacts.modelTopology as object, budgetFor(modelWeights, file));
  try {
    const pairs = matchWeights(model, modelWeights, file);
    for (const [variable, weight] of pairs) writeWeight(variable, decode(weight, data), file);
    if (artifacts.trainingConfig != null) compiles(model, artifacts.trainingConfig, file);
    if (artifacts.userDefinedMetadata != null) model.setUserDefinedMetadata(artifacts.userDefinedMetadata);
    return model;
  } catch (error) {
    model.dispose();
    throw ModelLoadError.wrap(error, file);
  }
}

/**
 * One weight's values as a tensor: float32 and int32 straight from the data (a view when aligned,
 * so the bytes are copied once, into the backend), quantized ones through tfjs's decoder.
 */
function decode({ spec, offset, bytes }: Weight, data: ArrayBuffer): tf.Tensor {
  if (spec.quantization != null) return tf.io.decodeWeights(data.slice(offset, offset + bytes), [spec])[spec.name];
  const Values = spec.dtype === 'int32' ? Int32Array : Float32Array;
  const values =
    offset % 4 === 0 ? new Values(data, offset, bytes / 4) : new Values(data.slice(offset, offset + bytes));
  return tf.tensor(values, spec.shape, spec.dtype);
}

/** Every model weight paired with the manifest's weight of its name and shape; any other is an error. */
function matchWeights(model: tf.LayersModel, weights: Weight[], file: string): [tf.LayerVariable, Weight][] {
  const byName = new Map(weights.map((w) => [w.spec.name, w]));
  const pairs: [tf.LayerVariable, Weight][] = [];
  for (const variable of model.weights) {
    const weight = checkMatch(variable, byName.get(variable.originalName), file);
    byName.delete(variable.originalName);
    pairs.push([variable, weight]);
  }
  checkAllMatched(byName, file);
  return pairs;
}

/** The manifest's weight for a weight the model creates: present, and of its shape. */
function checkMatch(variable: tf.LayerVariable, weight: Weight | undefined, file: string): Weight {
  if (weight == null) {
    throw new ModelLoadError(
      file,
      `its weightsManifest has no weight '${variable.originalName}', which the model's config creates ` +
        '(the weights are not those of this model)',
    );
  }
  const shape = weight.spec.shape;
  if (shape.length !== variable.shape.length || shape.some((d, i) => d !== variable.shape[i])) {
    throw new ModelLoadError(
      file,
      `weight '${variable.originalName}' has shape [${shape}] in its weightsManifest but [${variable.shape}] ` +
        'in the model its config builds',
    );
  }
  return weight;
}

/** No weight of the manifest is left over (`left`: those no weight of the model matched). */
function checkAllMatched(left: Map<string, Weight>, file: string): void {
  if (left.size === 0) return;
  const names = [...left.keys()].slice(0, 3).map((n) => describeValue(n));
  throw new ModelLoadError(
    file,
    `its weightsManifest lists ${left.size} weight(s) that no layer of the model has (${names.join(', ')}` +
      `${left.size > 3 ? ', ...' : ''})`,
  );
}

/** The specs checked one by one, with their offsets in the weight data (which follows the specs' order). */
export function checkWeightSpecs(specs: unknown, file: string, maxWeightBytes: number): Weight[] {
  if (!Array.isArray(specs))
    throw new ModelLoadError(file, `has weight specs ${describeValue(specs)}; expected a list`);
  const weights: Weight[] = [];
  const names = new Set<string>();
  let offset = 0;
  let values = 0;
  for (const [i, spec] of specs.entries()) {
    const fail = (problem: string): never => {
      throw new ModelLoadError(file, `weight ${i} of its weightsManifest ${problem}`);
    };
    if (spec == null || typeof spec !== 'object') fail(`is ${describeValue(spec)}; expected {name, shape, dtype}`);
    const { name, shape, dtype, quantization, group } = spec as tf.io.WeightsManifestEntry;
    if (typeof name !== 'string' || name === '') fail(`has the name ${describeValue(name)}`);
    if (name in Object.prototype) fail(`is named ${describeValue(name)}, a member of every JavaScript object`);
    if (names.has(name)) fail(`has the name ${describeValue(name)} of an earlier weight`);
    names.add(name);
    if (!Array.isArray(shape) || shape.length > 32 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`('${name}') has the shape ${describeValue(shape)}; expected a list of sizes`);
    }
    if (!DTYPE_BYTES.has(dtype)) {
      fail(
        `('${name}') has the dtype ${describeValue(dtype)}; a layers model's weights are float32 or int32 ` +
          "(float16 storage is written as quantization {dtype: 'float16'})",
      );
    }
    let bytesPerValue = DTYPE_BYTES.get(dtype)!;
    if (quantization != null) {
      const q = quantization as { dtype?: unknown; scale?: unknown; min?: unknown };
      if (typeof q.dtype !== 'string' || !QUANTIZED_BYTES.has(q.dtype)) {
        fail(`('${name}') has the quantization dtype ${describeValue(q.dtype)}; expected uint8, uint16 or float16`);
      }
      if (q.dtype === 'float16' ? dtype !== 'float32' : !Number.isFinite(q.scale) || !Number.isFinite(q.min)) {
        fail(`('${name}') has a quantization tfjs cannot decode (${describeValue(quantization)})`);
      }
      bytesPerValue = QUANTIZED_BYTES.get(q.dtype as string)!;
    }
    const size = sizeOf(shape);
    values += size;
    if (4 * values > maxWeightBytes) {
      throw new ModelLoadError(
        file,
        `lists more than ${formatBytes(maxWeightBytes)} of weights (the maxWeightBytes option) by weight '${name}'`,
      );
    }
    const bytes = size * bytesPerValue;
    weights.push({ spec: spec as tf.io.WeightsManifestEntry, offset, bytes, isModel: group !== 'optimizer' });
    offset += bytes;
  }
  return weights;
}

/** Refuses (or warns about) NaN and ±Infinity in one weight's stored values. */
function checkFinite(weight: Weight, data: ArrayBuffer, file: string, options: Required<ModelLoadOptions>): void {
  const { spec, offset, bytes } = weight;
  const storage = spec.quantization?.dtype ?? spec.dtype;
  let bad = 0;
  if (storage === 'float32') {
    const values =
      offset % 4 === 0
        ? new Float32Array(data, offset, bytes / 4)
        : new Float32Array(data.slice(offset, offset + bytes));
    bad = countNonFinite(values);
  } else if (storage === 'float16') {
    const view = new DataView(data, offset, bytes);
    for (let i = 0; i < bytes; i += 2) if ((view.getUint16(i, true) & 0x7c00) === 0x7c00) bad++;
  }
  reportNonFinite(bad, sizeOf(spec.shape), file, `weight '${spec.name}'`, options);
}

/**
 * Writes `value` (then disposed) into `variable`. tfjs applies the weight's constraint as it writes,
 * and a constraint from a crafted config (an initializer's class, say) fails there: that is an
 * error naming the file and the weight.
 */
export function writeWeight(variable: tf.LayerVariable, value: tf.Tensor, file: string): void {
  try {
    // A crafted constraint may even be a layer, which builds weights of its own as it fails (watched
    // for only where there is a constraint: the watch lists every variable of the process).
    if (variable.constraint == null) variable.write(value);
    else freeingVariablesOnError(() => variable.write(value));
  } catch (error) {
    throw new ModelLoadError(
      file,
      `weight '${variable.originalName}' cannot be set: tfjs fails applying its config's constraint to it ` +
        `(tfjs: ${(error as Error).message})`,
    );
  } finally {
    value.dispose();
  }
}

/** Values that are NaN or ±Infinity. */
export function countNonFinite(values: Float32Array): number {
  // x * 0 is ±0 for a finite x and NaN for any other: four running sums of them (four chains of
  // additions the CPU overlaps, twice as fast as one test a value) say whether any value is not
  // finite, and only then are they counted.
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  const whole = values.length - (values.length % 4);
  for (let i = 0; i < whole; i += 4) {
    a += values[i] * 0;
    b += values[i + 1] * 0;
    c += values[i + 2] * 0;
    d += values[i + 3] * 0;
  }
  for (let i = whole; i < values.length; i++) a += values[i] * 0;
  if (a + b + c + d === 0) return 0;
  let bad = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) bad++;
  return bad;
}

/**
 * Refuses `bad` non-finite values of `total` in the weight `what` of `file` (a ModelLoadError), or
 * warns with `nonFiniteWeights: 'warn'`; does nothing when `bad` is 0.
 */
export function reportNonFinite(
  bad: number,
  total: number,
  file: string,
  what: string,
  options: Pick<ModelLoadOptions, 'nonFiniteWeights'>,
): void {
  if (bad === 0) return;
  const message = `${file}: ${what} holds ${bad} non-finite value(s) (NaN or ±Infinity) of ${total}`;
  if ((options.nonFiniteWeights ?? 'refuse') === 'refuse') {
    throw new ModelLoadError(file, `${message}; pass {nonFiniteWeights: 'warn'} to load it anyway`);
  }
  console.warn(`${message}; loaded anyway (nonFiniteWeights: 'warn')`);
}

function joinWeightData(data: tf.io.WeightData | undefined): ArrayBuffer {
  if (data == null) return new ArrayBuffer(0);
  return Array.isArray(data) ? tf.io.CompositeArrayBuffer.join(data) : data;
}

function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
