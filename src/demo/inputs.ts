/**
 * The inputs and output of a model the demo knows nothing about (a Keras file, a model folder
 * without task.json): what each input takes, told from the model's graph (an input that feeds an
 * embedding takes token ids below its vocabulary size; one named like a mask takes 1 = may attend;
 * anything else floats), a seeded random sample of it, the same as JSON a person can edit, and the
 * model's output in words.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Api } from './globals';

/** What one model input takes, for one sample (no batch axis). */
export interface InputSpec {
  /** The model's name for the input. */
  name: string;
  /** The sample's shape, the batch axis left out; unknown lengths resolved to `DEFAULT_LENGTH`. */
  shape: number[];
  /** tokens: ids in [1, vocabulary) (0 is padding); mask: 0 or 1, all ones to start; floats: anything. */
  kind: 'tokens' | 'mask' | 'floats';
  /** The vocabulary size of the embedding the tokens feed. */
  vocabulary?: number;
  dtype: 'int32' | 'float32';
}

/** The length given to an axis the model leaves open (a sequence of any length). */
export const DEFAULT_LENGTH = 8;

/** A nested array of numbers, one sample of an input. */
export type Nested = number | Nested[];

/** The vocabulary size of an embedding layer (tfjs's Embedding, ours, keras-hub's), else undefined. */
function vocabularyOf(layer: { getConfig(): Record<string, unknown> }): number | undefined {
  const config = layer.getConfig();
  const size = config.inputDim ?? config.vocabularySize;
  return typeof size === 'number' ? size : undefined;
}

/** What each input of `model` takes (see the file comment). */
export function inputSpecs(model: tf.LayersModel): InputSpec[] {
  return model.inputs.map((input) => {
    // The layers called on this input (tfjs keeps each layer's calls as inbound nodes).
    const readers = model.layers.filter((layer) =>
      layer.inboundNodes.some((node) => node.inputTensors.some((t) => t.id === input.id)),
    );
    const vocabulary = readers.map(vocabularyOf).find((v) => v !== undefined);
    const shape = input.shape.slice(1).map((d) => d ?? DEFAULT_LENGTH);
    if (vocabulary !== undefined) return { name: input.name, shape, kind: 'tokens', vocabulary, dtype: 'int32' };
    const kind = /mask/i.test(input.name) ? 'mask' : 'floats';
    return { name: input.name, shape, kind, dtype: input.dtype === 'int32' ? 'int32' : 'float32' };
  });
}

/** One sample of `spec` drawn with `rng` (tokens uniform, floats standard normal to 2 decimals, masks all ones). */
export function randomSample(spec: InputSpec, rng: InstanceType<Api['tasks']['Random']>): Nested {
  const draw = (): number => {
    if (spec.kind === 'mask') return 1;
    if (spec.kind === 'tokens') return 1 + Math.floor(rng.nextFloat() * Math.max(1, spec.vocabulary! - 1));
    // Box-Muller.
    const u = Math.max(rng.nextFloat(), 1e-12);
    const v = rng.nextFloat();
    return Math.round(100 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)) / 100;
  };
  const build = (axis: number): Nested =>
    axis === spec.shape.length ? draw() : Array.from({ length: spec.shape[axis] }, () => build(axis + 1));
  return build(0);
}

/** A sample as the page shows it: JSON, one innermost list per line for floats. */
export function sampleText(value: Nested): string {
  if (!Array.isArray(value) || value.every((v) => !Array.isArray(v))) return JSON.stringify(value);
  return `[\n${value.map((row) => `  ${JSON.stringify(row)}`).join(',\n')}\n]`;
}

/** The sample in `text` (JSON), checked against `spec`; an error names the input and what is wrong. */
export function parseSample(spec: InputSpec, text: string): Nested {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${spec.name}: not valid JSON (${(error as Error).message})`);
  }
  const check = (v: unknown, axis: number, at: string): void => {
    if (axis === spec.shape.length) {
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw new Error(`${spec.name}${at} is ${JSON.stringify(v)}; expected a number`);
      if (spec.kind === 'tokens' && !(Number.isInteger(v) && v >= 0 && v < spec.vocabulary!)) {
        throw new Error(`${spec.name}${at} is ${v}; expected a token id, an integer in [0, ${spec.vocabulary! - 1}]`);
      }
      return;
    }
    if (!Array.isArray(v) || v.length !== spec.shape[axis]) {
      throw new Error(
        `${spec.name}${at} must be a list of ${spec.shape[axis]} (the input's shape is [${spec.shape.join(', ')}]), ` +
          `got ${Array.isArray(v) ? `${v.length} entries` : JSON.stringify(v)}`,
      );
    }
    v.forEach((x, i) => check(x, axis + 1, `${at}[${i}]`));
  };
  check(value, 0, '');
  return value as Nested;
}

/** A model's output for one sample, in words, and the answer to compare (the class or ids it picks). */
export interface OutputSummary {
  text: string;
  answer: string;
}

const show = (v: number) =>
  Math.abs(v) >= 1000 || (Math.abs(v) < 0.001 && v !== 0) ? v.toExponential(2) : v.toFixed(3);

/**
 * `values` (one sample's output, row-major) of `shape` (no batch axis) in words: a distribution's
 * most likely class, a sequence's most likely id at each position, a vector's largest entry, or the
 * first numbers.
 */
export function summarizeOutput(values: number[], shape: number[]): OutputSummary {
  const argmax = (v: number[]) => v.reduce((best, x, i) => (x > v[best] ? i : best), 0);
  if (shape.length === 1 && values.length > 1) {
    const k = argmax(values);
    const sum = values.reduce((a, b) => a + b, 0);
    const distribution = values.every((v) => v >= 0 && v <= 1) && Math.abs(sum - 1) < 1e-3;
    const list = values.length <= 10 ? ` [${values.map(show).join(', ')}]` : '';
    return {
      text: `${distribution ? 'class' : 'largest: output'} ${k} (${show(values[k])})${list}`,
      answer: `class ${k}`,
    };
  }
  if (shape.length === 2) {
    const [length, width] = shape;
    const ids = Array.from({ length }, (_x, t) => argmax(values.slice(t * width, (t + 1) * width)));
    return { text: `most likely id at each position: ${ids.join(' ')}`, answer: ids.join(' ') };
  }
  const first = values.slice(0, 8).map(show).join(', ');
  return { text: `[${first}${values.length > 8 ? ', …' : ''}]`, answer: first };
}
