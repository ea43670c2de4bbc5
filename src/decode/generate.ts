/**
 * `generate`: new tokens from any model built from these layers, with a key/value cache, as
 * keras-hub's `CausalLM.generate` and Hugging Face's `generate` do for their models.
 *
 * The model takes token ids (B, T) in one input and gives logits or probabilities (B, T, V) for
 * the token after each position: a decoder-only stack (the README's GPT, a `tf.sequential` of our
 * blocks, keras-hub's decoder layers, a Keras-loaded model), or an encoder-decoder whose other
 * inputs (`inputs`: a source sentence, features) stay fixed while the decoder's grow
 * (createTransformer's). With `useCache` (the default) the model runs one new position per step
 * (src/decode/runner.ts); without, it reruns whole, which any model can.
 */
import * as tf from '@tensorflow/tfjs';
import type { SymbolicTensor } from '@tensorflow/tfjs-layers/dist/engine/topology';
import { describeValue } from '../describe';
import { checkOptionNames, optionNames } from '../options';
import { Random } from '../tasks/random';
import { hasRowOps } from '../ops/rows';
import { ArrayRunner, planArraySteps } from './array_runner';
import { headMaskArguments, isContainer, outputIsProbabilities, planGraph, positionLimit } from './graph';
import { CachedRunner, checkFixedRows, RerunRunner, type RunnerSetup, type StepRunner } from './runner';
import { SAMPLERS, type SamplerName, type SamplerSettings, sampleToken } from './samplers';
import {
  beamSearch,
  runAsync,
  runSync,
  type Search,
  type SearchOptions,
  type SearchResult,
  samplingSearch,
} from './search';

export { SAMPLERS };
export type { SamplerName };

/** Options of `generate` (README "Generate text"); an unknown one is an error naming the nearest. */
export interface GenerateOptions {
  /** Most tokens generated per prompt, a stop token included. Default 32. */
  maxNewTokens?: number;
  /**
   * How each token is chosen: 'greedy' (the most likely; the default), 'beam' (beam search of
   * `beamWidth` hypotheses, the most likely sequence), 'topK', 'topP' or 'random' (sampled, after
   * dividing the logits by `temperature`).
   */
  sampler?: SamplerName;
  /** Hypotheses kept by 'beam'. Default 4. */
  beamWidth?: number;
  /** Divides the logits before sampling ('topK', 'topP', 'random'); below 1 sharper, above flatter. Default 1. */
  temperature?: number;
  /** 'topK' samples among the k most likely tokens. Default 10. */
  topK?: number;
  /** 'topP' samples among the fewest most likely tokens whose probability reaches p, in (0, 1]. Default 0.9. */
  topP?: number;
  /** Seed of the sampling samplers' random numbers: the same seed gives the same tokens. Default: a random one. */
  seed?: number;
  /** A prompt's generation ends at the first of these tokens, which is left out of the result. Default none. */
  stopTokenIds?: number[];
  /**
   * Tokens never generated. Default: the padding id 0 when the model's embedding masks it (`maskZero`,
   * or the `ids != 0` a Keras file's `mask_zero` loads as).
   */
  suppressTokenIds?: number[];
  /** Run one new position per step with key/value caches (true) or rerun the whole model each step. Default true. */
  useCache?: boolean;
  /**
   * Called after each step with each prompt's new token (null where a prompt generated none that
   * step); may return a promise, which is awaited (a page can render there). With 'beam' the
   * tokens come once the search ends, a position at a time.
   */
  onToken?: (tokens: Array<number | null>, step: number) => void | Promise<void>;
  /**
   * The model's other inputs, by input name, one row per prompt: tensors, or token ids (rows
   * right-padded with 0) such as an encoder-decoder's source. Default none.
   */
  inputs?: Record<string, tf.Tensor | number[][]>;
  /** The name of the input that takes the tokens. Default: the model's only input, else the one generation can grow. */
  tokenInput?: string;
  /**
   * Heads switched off (or scaled) at every step, per attention layer by its path
   * (`explainAttention`'s, e.g. 'block_1/self_attention'): H numbers, 0 removes a head's share of
   * the layer's output (MultiHeadAttention's `headMask`). Default none.
   */
  headMasks?: Record<string, number[] | tf.Tensor1D>;
  /**
   * Where the cached steps run: 'typed-arrays' (the layers on Float32Arrays through the library's
   * WebAssembly SIMD kernels, without tfjs's per-kernel bookkeeping: far faster for a few rows),
   * 'tfjs' (tfjs kernels on the current backend), or 'auto' (the default): typed arrays when every
   * cached layer of the model has a typed-array step, on the cpu and wasm backends (the same
   * kernels as their tensors, without the bookkeeping) and elsewhere (webgl, webgpu) for up to
   * TYPED_ARRAY_MAX_ROWS rows (prompts, times beams); else tfjs.
   */
  step?: 'auto' | 'tfjs' | 'typed-arrays';
  /**
   * Whether the model outputs 'logits' or 'probabilities'. Default 'auto': probabilities when its last
   * layer ends in a softmax.
   */
  output?: 'auto' | 'logits' | 'probabilities';
}

const OPTION_NAMES = optionNames<GenerateOptions>({
  maxNewTokens: true,
  sampler: true,
  beamWidth: true,
  temperature: true,
  topK: true,
  topP: true,
  seed: true,
  stopTokenIds: true,
  suppressTokenIds: true,
  useCache: true,
  onToken: true,
  inputs: true,
  tokenInput: true,
  output: true,
  headMasks: true,
  step: true,
});

/** The most rows (prompts, times beams) that `step: 'auto'` runs on typed arrays on a GPU backend. */
export const TYPED_ARRAY_MAX_ROWS = 4;

/**
 * Generates up to `maxNewTokens` tokens after each prompt (token ids; prompts may differ in
 * length) and returns each prompt's new tokens, without the prompt and the stop token. Leaves
 * `tf.memory().numTensors` as it found it, also when it throws.
 *
 * ```ts
 * const tokens = await generate(gpt, [tokenizer.encode('To be')], { maxNewTokens: 40, sampler: 'topK', seed: 1 });
 * tokenizer.decode(tokens[0]);
 * ```
 */
export async function generate(
  model: tf.LayersModel,
  prompts: number[][],
  options: GenerateOptions = {},
): Promise<number[][]> {
  return (await runAsync(generationSearch(model, prompts, options))).tokens;
}

/** `generate`'s work as a search (src/decode/search.ts), for the synchronous and asynchronous drivers. */
export function* generationSearch(
  model: tf.LayersModel,
  prompts: number[][],
  options: GenerateOptions,
  extra: Pick<SearchOptions, 'runAllSteps'> = {},
): Search {
  const settings = resolveOptions(model, prompts, options);
  try {
    if (prompts.length === 0) return { tokens: [], logProbs: [] };
    return yield* search(settings, prompts, options, extra);
  } finally {
    settings.dispose();
  }
}

function* search(
  settings: Resolved,
  prompts: number[][],
  options: GenerateOptions,
  extra: Pick<SearchOptions, 'runAllSteps'>,
): Search {
  const search: SearchOptions = {
    maxNewTokens: settings.maxNewTokens,
    stopTokenIds: new Set(options.stopTokenIds ?? []),
    suppressed: settings.suppressed,
    runAllSteps: extra.runAllSteps,
    onToken: options.onToken,
  };
  const identity = Int32Array.from(prompts, (_p, i) => i);
  if (settings.sampler === 'beam') {
    // Greedy first: beam search never returns less than its score (see beamSearch).
    const greedy = yield* withRunner(settings, identity, (runner) =>
      samplingSearch(
        runner,
        prompts,
        (row) => sampleToken(row, { ...settings.sampling, sampler: 'greedy' }, settings.random),
        {
          ...search,
          onToken: undefined,
        },
      ),
    );
    const beams = Int32Array.from({ length: prompts.length * settings.beamWidth }, (_x, r) =>
      Math.floor(r / settings.beamWidth),
    );
    return yield* withRunner(settings, beams, (runner) =>
      beamSearch(runner, prompts, settings.beamWidth, search, greedy),
    );
  }
  return yield* withRunner(settings, identity, (runner) =>
    samplingSearch(runner, prompts, (row) => sampleToken(row, settings.sampling, settings.random), search),
  );
}

/** Runs `search` on a new runner whose row r is prompt `rowPrompts[r]`; disposes the runner after. */
function* withRunner(settings: Resolved, rowPrompts: Int32Array, search: (runner: StepRunner) => Search): Search {
  const runner = settings.makeRunner(rowPrompts);
  try {
    return yield* search(runner);
  } finally {
    runner.dispose();
  }
}

/** `generate` synchronously (reads with `dataSync`), with scores: what `decode` runs. */
export function generateSync(
  model: tf.LayersModel,
  prompts: number[][],
  options: GenerateOptions,
  extra: Pick<SearchOptions, 'runAllSteps'> = {},
): SearchResult {
  return runSync(generationSearch(model, prompts, options, extra));
}

/** Everything a generation needs, checked. */
interface Resolved {
  sampler: SamplerName;
  beamWidth: number;
  maxNewTokens: number;
  sampling: SamplerSettings;
  suppressed: ReadonlySet<number>;
  random: Random;
  /** A runner whose row r is prompt `rowPrompts[r]` (the fixed inputs' rows picked to match). */
  makeRunner(rowPrompts: Int32Array): StepRunner;
  /** Frees what resolving made (the fixed inputs given as token ids). */
  dispose(): void;
}

function resolveOptions(model: tf.LayersModel, prompts: number[][], options: GenerateOptions): Resolved {
  if (options == null || typeof options !== 'object') {
    throw new Error(`generate: options must be an object, got ${describeValue(options)}`);
  }
  checkOptionNames('generate', options, OPTION_NAMES);
  if (!(model instanceof tf.LayersModel)) {
    throw new Error(
      `generate: model must be a tf.LayersModel (tf.model, tf.sequential or loaded), got ${describeValue(model)}`,
    );
  }
  const sampler = options.sampler ?? 'greedy';
  if (!(SAMPLERS as readonly string[]).includes(sampler)) {
    throw new Error(
      `generate: sampler must be one of ${SAMPLERS.map((s) => `'${s}'`).join(', ')}, got ${describeValue(sampler)}`,
    );
  }
  const maxNewTokens = positiveInt('maxNewTokens', options.maxNewTokens ?? 32);
  const beamWidth = positiveInt('beamWidth', options.beamWidth ?? 4);
  const temperature = options.temperature ?? 1;
  if (typeof temperature !== 'number' || !(temperature > 0) || !Number.isFinite(temperature)) {
    throw new Error(`generate: temperature must be a positive number, got ${describeValue(temperature)}`);
  }
  const topK = positiveInt('topK', options.topK ?? 10);
  const topP = options.topP ?? 0.9;
  if (typeof topP !== 'number' || !(topP > 0 && topP <= 1)) {
    throw new Error(`generate: topP must be a number in (0, 1], got ${describeValue(topP)}`);
  }
  const seed = options.seed ?? Math.floor(Math.random() * 0x1_0000_0000);
  const useCache = options.useCache ?? true;
  if (typeof useCache !== 'boolean')
    throw new Error(`generate: useCache must be true or false, got ${describeValue(useCache)}`);
  const step = options.step ?? 'auto';
  if (!['auto', 'tfjs', 'typed-arrays'].includes(step)) {
    throw new Error(`generate: step must be 'auto', 'tfjs' or 'typed-arrays', got ${describeValue(step)}`);
  }
  if (step === 'typed-arrays' && !useCache) {
    throw new Error(`generate: step 'typed-arrays' runs the cached steps; it cannot go with useCache: false`);
  }
  if (step === 'typed-arrays' && !hasRowOps()) {
    throw new Error(`generate: step 'typed-arrays' needs WebAssembly SIMD, which this JavaScript engine lacks`);
  }
  const output = options.output ?? 'auto';
  if (!['auto', 'logits', 'probabilities'].includes(output)) {
    throw new Error(`generate: output must be 'auto', 'logits' or 'probabilities', got ${describeValue(output)}`);
  }
  if (options.onToken != null && typeof options.onToken !== 'function') {
    throw new Error(`generate: onToken must be a function, got ${describeValue(options.onToken)}`);
  }

  const tokenInput = findTokenInput(model, options.tokenInput, useCache);
  const vocabulary = outputVocabulary(model);
  checkPrompts(prompts, vocabulary);
  const plan = useCache ? planGraph(model, new Set([model.inputs[tokenInput].id])) : null;
  const suppressIds = options.suppressTokenIds ?? (masksZero(model, tokenInput) ? [0] : []);
  checkIdList('suppressTokenIds', suppressIds, vocabulary);
  const suppressed = new Set(suppressIds);
  checkIdList('stopTokenIds', options.stopTokenIds ?? [], vocabulary);
  const longest = Math.max(0, ...prompts.map((p) => p.length));
  // The positions fed: each prompt, then all generated tokens but the last.
  const positions = longest + maxNewTokens - 1;
  checkPositionLimit(model, tokenInput, positions);
  const masks = headMaskArguments(model, options.headMasks ?? {});
  let fixedOnes: ReturnType<typeof fixedInputs>;
  try {
    fixedOnes = fixedInputs(model, tokenInput, options.inputs ?? {}, prompts.length);
  } catch (error) {
    tf.dispose(masks.made);
    throw error;
  }
  const { fixed, made } = fixedOnes;
  made.push(...masks.made);
  const probabilities = output === 'auto' ? outputIsProbabilities(model) : output === 'probabilities';
  return {
    sampler,
    beamWidth,
    maxNewTokens,
    sampling: { sampler: sampler === 'beam' ? 'greedy' : sampler, temperature, topK, topP, suppressed },
    suppressed,
    random: new Random(seed >>> 0),
    dispose: () => tf.dispose(made),
    makeRunner(rowPrompts: Int32Array): StepRunner {
      // The runner owns these copies, one row per runner row.
      const index = tf.tensor1d(rowPrompts, 'int32');
      const rows = fixed.map((x) => (x ? tf.gather(x, index) : null));
      index.dispose();
      const setup: RunnerSetup = {
        model,
        tokenInput,
        fixedInputs: rows,
        rows: rowPrompts.length,
        probabilities,
        extra: masks.extra,
      };
      if (plan == null) return new RerunRunner(setup);
      const arrays =
        step === 'typed-arrays' ||
        (step === 'auto' &&
          hasRowOps() &&
          (['cpu', 'wasm'].includes(tf.getBackend()) || setup.rows <= TYPED_ARRAY_MAX_ROWS));
      if (arrays) {
        const planned = planArraySteps(plan, setup, positions);
        if ('steps' in planned) return new ArrayRunner(setup, plan, planned.steps, positions);
        if (step === 'typed-arrays') {
          tf.dispose(rows.filter((x): x is tf.Tensor => x != null));
          throw new Error(
            `generate: step 'typed-arrays' cannot run ${planned.unsupported}: it has no typed-array step; ` +
              `use step 'tfjs' or 'auto'`,
          );
        }
      }
      return new CachedRunner(setup, plan, positions);
    },
  };
}

function positiveInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new Error(`generate: ${name} must be a positive integer, got ${describeValue(value)}`);
  }
  return value;
}

/** The width V of the model's output: its vocabulary. */
function outputVocabulary(model: tf.LayersModel): number {
  const shape = (model.outputs[0] as SymbolicTensor).shape;
  const vocabulary = shape[shape.length - 1];
  if (shape.length !== 3 || vocabulary == null) {
    throw new Error(
      `generate: model '${model.name}' must output (B, T, V) logits or probabilities per position, ` +
        `got an output of shape [${shape.map((d) => d ?? 'null').join(', ')}]`,
    );
  }
  return vocabulary;
}

function checkPrompts(prompts: unknown, vocabulary: number): asserts prompts is number[][] {
  if (!Array.isArray(prompts))
    throw new Error(`generate: prompts must be an array of token id arrays, got ${describeValue(prompts)}`);
  prompts.forEach((prompt, i) => {
    if (!Array.isArray(prompt) || prompt.length === 0) {
      throw new Error(`generate: prompts[${i}] must be a non-empty array of token ids, got ${describeValue(prompt)}`);
    }
    prompt.forEach((id, j) => {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabulary) {
        throw new Error(
          `generate: prompts[${i}][${j}] is ${describeValue(id)}; ` +
            `expected a token id, an integer in [0, ${vocabulary - 1}]`,
        );
      }
    });
  });
}

function checkIdList(name: string, ids: unknown, vocabulary: number): void {
  if (
    !Array.isArray(ids) ||
    ids.some((id) => typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabulary)
  ) {
    throw new Error(
      `generate: ${name} must be token ids, integers in [0, ${vocabulary - 1}], got ${describeValue(ids)}`,
    );
  }
}

/**
 * The index of the input that takes the tokens: `name`, the only input, or the one input from
 * which the model can grow (planning succeeds; without the cache, the one planning succeeds for
 * if any, else an int32 one).
 */
function findTokenInput(model: tf.LayersModel, name: string | undefined, useCache: boolean): number {
  const names = model.inputNames;
  if (name != null) {
    const index = names.indexOf(name);
    if (index < 0)
      throw new Error(`generate: tokenInput ${describeValue(name)} is not an input of the model (${names.join(', ')})`);
    return index;
  }
  if (names.length === 1) return 0;
  const plannable = names
    .map((_n, i) => i)
    .filter((i) => {
      try {
        planGraph(model, new Set([model.inputs[i].id]));
        return true;
      } catch {
        return false;
      }
    });
  if (plannable.length === 1) return plannable[0];
  if (!useCache && plannable.length === 0) {
    const ints = names.map((_n, i) => i).filter((i) => model.inputs[i].dtype === 'int32');
    if (ints.length === 1) return ints[0];
  }
  throw new Error(
    `generate: model '${model.name}' has inputs ${names.map((n) => `'${n}'`).join(', ')}` +
      (plannable.length > 1 ? ` and generation could grow ${plannable.map((i) => `'${names[i]}'`).join(' or ')}` : '') +
      `; pass tokenInput with the name of the one that takes the tokens`,
  );
}

/**
 * Whether the layers reading the token input treat id 0 as padding: an embedding's maskZero, or the
 * `ids != 0` a Keras file's `mask_zero` loads as (the loader's ElementwiseOperation, `isPaddingMask`);
 * in a model used as a layer, the layers reading its input there.
 */
function masksZero(model: tf.LayersModel, tokenInput: number): boolean {
  const input = model.inputs[tokenInput];
  return model.layers.some((layer) =>
    layer.inboundNodes.some((node) =>
      node.inputTensors.some((t, i) => {
        if (t.id !== input.id) return false;
        if (isContainer(layer)) return masksZero(layer, i);
        const flags = layer as unknown as { maskZero?: boolean; isPaddingMask?: boolean };
        return flags.maskZero === true || flags.isPaddingMask === true || layer.getConfig().maskZero === true;
      }),
    ),
  );
}

/** Throws when a position embedding with a fixed table (ours) is shorter than the positions fed. */
function checkPositionLimit(model: tf.LayersModel, tokenInput: number, positions: number): void {
  const limit = positionLimit(model, tokenInput);
  if (positions > limit) {
    throw new Error(
      `generate: the longest prompt and maxNewTokens need ${positions} positions, but the model's ` +
        `TokenAndPositionEmbedding of input '${model.inputNames[tokenInput]}' has a table of ${limit} positions ` +
        `(sequenceLength); shorten the prompt or lower maxNewTokens`,
    );
  }
}

/**
 * One tensor per model input (null for the token input), from `given` by input name, and those of
 * them made here from token ids (`made`: the caller disposes them).
 */
function fixedInputs(
  model: tf.LayersModel,
  tokenInput: number,
  given: Record<string, tf.Tensor | number[][]>,
  rows: number,
): { fixed: Array<tf.Tensor | null>; made: tf.Tensor[] } {
  const names = model.inputNames;
  for (const key of Object.keys(given)) {
    if (!names.includes(key) || key === names[tokenInput]) {
      const others = names.filter((_n, i) => i !== tokenInput);
      throw new Error(
        `generate: inputs has ${describeValue(key)}, which is ` +
          `${key === names[tokenInput] ? 'the token input' : 'not an input of the model'}; ` +
          `its other inputs are ${others.map((n) => `'${n}'`).join(', ') || 'none'}`,
      );
    }
  }
  const made: tf.Tensor[] = [];
  try {
    const fixed = names.map((name, i) => {
      if (i === tokenInput) return null;
      const value = given[name];
      if (value == null)
        throw new Error(`generate: the model's input '${name}' needs a value: pass it in options.inputs`);
      if (value instanceof tf.Tensor) return value;
      if (!Array.isArray(value) || value.some((row) => !Array.isArray(row))) {
        throw new Error(`generate: inputs['${name}'] must be a tensor or token id rows, got ${describeValue(value)}`);
      }
      const width = Math.max(1, ...value.map((row) => row.length));
      const data = new Int32Array(value.length * width);
      value.forEach((row, r) => data.set(row, r * width));
      const tensor = tf.tensor2d(data, [value.length, width], 'int32');
      made.push(tensor);
      return tensor;
    });
    checkFixedRows(model, fixed, rows);
    return { fixed, made };
  } catch (error) {
    tf.dispose(made);
    throw error;
  }
}
