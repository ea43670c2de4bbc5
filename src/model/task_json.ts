/**
 * `task.json`: what a saved seq2seq model folder needs besides the tfjs model
 * (model.json + weights.bin) to be used and trusted: the task and its options,
 * the vocabulary, the lengths, the full model config, held-out metrics and how
 * it was trained.
 *
 * `parseTaskJson` works anywhere (a browser fetches the text itself);
 * `readTaskJson`/`writeTaskJson` are Node-only and load `fs` on first use
 * (see ./atomic.ts), so browser bundles never include it.
 */
import type { TransformerConfig } from './config';
import type { Task } from '../tasks/tasks';
import { SPECIAL_TOKEN_NAMES } from '../tasks/vocabulary';

import { atomicWriteFile, nodePath } from '../io/atomic';
import { checkJsonBytes, checkJsonText } from '../io/limits';
import { NOT_PLAIN_FILE, readPlainFile } from '../io/read_file';

export const TASK_JSON = 'task.json';
export const TASK_JSON_FORMAT = 'tfjs-attention-seq2seq';
/** The version task.json files are written in and read from (CHANGELOG.md says what changed when). */
export const TASK_JSON_VERSION = 2;
const READABLE_VERSIONS: readonly number[] = [TASK_JSON_VERSION];

/** Held-out metrics of the saved weights (README, "Toy tasks"). */
export interface Seq2SeqMetrics {
  /** Share of the held-out samples whose greedy decoding equals the target. */
  heldOutExactMatch: number;
  /** Teacher-forced token accuracy on the held-out samples. */
  heldOutTokenAccuracy: number;
  /** Number of held-out samples (512). */
  heldOutSize: number;
}

/** How the saved weights were trained; `command` reproduces them. */
export interface Seq2SeqTrainingInfo {
  /** A command line that retrains this model (every setting explicit). */
  command: string;
  /** Optimisation steps taken. */
  steps: number;
  /** Seconds spent in training steps (evaluation and saving excluded). */
  seconds: number;
  /** TensorFlow.js backend used. */
  backend: string;
  /** Seed of the training stream. */
  seed: number;
  /** Samples per step. */
  batch: number;
  /** Peak learning rate. */
  lr: number;
  /** Any further settings (schedule, betas, clipping, ...). */
  [key: string]: unknown;
}

/** The content of task.json. */
export interface Seq2SeqTaskInfo {
  format: typeof TASK_JSON_FORMAT;
  version: typeof TASK_JSON_VERSION;
  /** The task, as `createTask(task.name, task.options)` rebuilds it. */
  task: { name: string; options: Record<string, number> };
  vocabulary: {
    /** Number of token ids, specials included: the model's vocabularySize. */
    size: number;
    /** Display string of each symbol; symbols[i] has id specials.length + i. */
    symbols: string[];
    /** Names of the special tokens by id: ['<pad>', '<bos>', '<eos>']. */
    specials: string[];
  };
  /** Longest source the model takes. */
  maxSourceLength: number;
  /** Longest decoder input: longest target + 1. */
  maxTargetLength: number;
  /** The full TransformerConfig the model was built from. */
  config: TransformerConfig;
  metrics: Seq2SeqMetrics;
  training: Seq2SeqTrainingInfo;
}

/**
 * The content of task.json for a model of the toy task `task` built from `config`: the task and
 * vocabulary parts come from the task itself. Used by the training run (src/train/run.ts) and by
 * the demo's in-browser training, so that `new Seq2Seq(model, info)` and `Seq2Seq.save` work.
 */
export function taskInfoFor(
  task: Task,
  config: TransformerConfig,
  metrics: Seq2SeqMetrics,
  training: Seq2SeqTrainingInfo,
): Seq2SeqTaskInfo {
  return {
    format: TASK_JSON_FORMAT,
    version: TASK_JSON_VERSION,
    task: { name: task.name, options: { ...task.options } as Record<string, number> },
    vocabulary: { size: task.vocabularySize, symbols: [...task.symbols], specials: [...SPECIAL_TOKEN_NAMES] },
    maxSourceLength: task.maxSourceLength,
    maxTargetLength: task.maxTargetLength,
    config,
    metrics,
    training,
  };
}

/**
 * Parses and checks task.json text; `source` (a path or URL) names the file in
 * errors. Every error says which field is wrong, its value and what was expected.
 */
export function parseTaskJson(text: string, source: string): Seq2SeqTaskInfo {
  checkJsonText(text, source);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source} is not valid JSON (${(error as Error).message})`);
  }
  return validateTaskJson(json, source);
}

/** Checks that `json` is a task.json object (see `parseTaskJson`). */
export function validateTaskJson(json: unknown, source: string): Seq2SeqTaskInfo {
  const fail = (field: string, value: unknown, expected: string): never => {
    throw new Error(`${source}: ${field} is ${show(value)}; expected ${expected}`);
  };
  if (!isObject(json)) return fail('the content', json, `a JSON object with format '${TASK_JSON_FORMAT}'`);
  if (json.format !== TASK_JSON_FORMAT) fail('format', json.format, `'${TASK_JSON_FORMAT}'`);
  if (!READABLE_VERSIONS.includes(json.version as number)) {
    fail('version', json.version, `one of ${READABLE_VERSIONS.join(', ')}`);
  }
  const positiveInt = (field: string, value: unknown) => {
    if (!(Number.isInteger(value) && (value as number) >= 1)) fail(field, value, 'a positive integer');
  };
  const rate = (field: string, value: unknown) => {
    if (!(typeof value === 'number' && value >= 0 && value <= 1)) fail(field, value, 'a number in [0, 1]');
  };

  const task = json.task;
  if (!isObject(task)) return fail('task', task, 'an object {name, options}');
  if (typeof task.name !== 'string' || task.name === '') fail('task.name', task.name, 'a task name such as "reverse"');
  if (!isObject(task.options)) fail('task.options', task.options, 'an object of task options');

  const vocabulary = json.vocabulary;
  if (!isObject(vocabulary)) return fail('vocabulary', vocabulary, 'an object {size, symbols, specials}');
  positiveInt('vocabulary.size', vocabulary.size);
  const strings = (value: unknown) => Array.isArray(value) && value.every((s) => typeof s === 'string');
  if (!strings(vocabulary.symbols)) fail('vocabulary.symbols', vocabulary.symbols, 'an array of strings');
  if (!strings(vocabulary.specials)) fail('vocabulary.specials', vocabulary.specials, 'an array of strings');
  const counted = (vocabulary.symbols as string[]).length + (vocabulary.specials as string[]).length;
  if (vocabulary.size !== counted) {
    fail('vocabulary.size', vocabulary.size, `specials + symbols = ${counted}`);
  }

  positiveInt('maxSourceLength', json.maxSourceLength);
  positiveInt('maxTargetLength', json.maxTargetLength);
  if (!isObject(json.config)) return fail('config', json.config, 'the TransformerConfig object');
  const config = json.config;
  for (const key of [
    'vocabularySize',
    'maxSourceLength',
    'maxTargetLength',
    'embeddingDim',
    'numHeads',
    'keyDim',
    'intermediateDim',
    'numEncoderLayers',
    'numDecoderLayers',
  ]) {
    positiveInt(`config.${key}`, config[key]);
  }
  if (config.vocabularySize !== vocabulary.size)
    fail('config.vocabularySize', config.vocabularySize, `vocabulary.size (${vocabulary.size})`);
  if (config.maxSourceLength !== json.maxSourceLength) {
    fail('config.maxSourceLength', config.maxSourceLength, `maxSourceLength (${json.maxSourceLength})`);
  }
  if (config.maxTargetLength !== json.maxTargetLength) {
    fail('config.maxTargetLength', config.maxTargetLength, `maxTargetLength (${json.maxTargetLength})`);
  }

  const metrics = json.metrics;
  if (!isObject(metrics))
    return fail('metrics', metrics, 'an object {heldOutExactMatch, heldOutTokenAccuracy, heldOutSize}');
  rate('metrics.heldOutExactMatch', metrics.heldOutExactMatch);
  rate('metrics.heldOutTokenAccuracy', metrics.heldOutTokenAccuracy);
  positiveInt('metrics.heldOutSize', metrics.heldOutSize);

  const training = json.training;
  if (!isObject(training))
    return fail('training', training, 'an object {command, steps, seconds, backend, seed, batch, lr, ...}');
  if (typeof training.command !== 'string')
    fail('training.command', training.command, 'the command line that trained the model');
  if (!(Number.isInteger(training.steps) && (training.steps as number) >= 0))
    fail('training.steps', training.steps, 'an integer >= 0');
  return { ...json, version: TASK_JSON_VERSION, config } as unknown as Seq2SeqTaskInfo;
}

/** Reads `<folder>/task.json` (or the file itself, if given a path ending in .json). Node only. */
export async function readTaskJson(folderOrFile: string): Promise<Seq2SeqTaskInfo> {
  const file = taskJsonPath(folderOrFile);
  let text: string;
  try {
    text = new TextDecoder().decode(readPlainFile(file, (size) => checkJsonBytes(size, file)));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new Error(`${file} does not exist; a model folder needs the task.json written by training`);
    }
    if (code === 'EISDIR' || code === NOT_PLAIN_FILE) {
      throw new Error(`${file} is not a plain file; a model folder needs the task.json written by training`);
    }
    throw error;
  }
  return parseTaskJson(text, file);
}

/** Writes `<folder>/task.json` atomically (after checking it). Node only. */
export async function writeTaskJson(folder: string, info: Seq2SeqTaskInfo): Promise<void> {
  const file = taskJsonPath(folder);
  validateTaskJson(info, `task.json for ${folder}`);
  await atomicWriteFile(file, `${JSON.stringify(info, null, 2)}\n`);
}

function taskJsonPath(folderOrFile: string): string {
  return folderOrFile.endsWith('.json') ? folderOrFile : nodePath().join(folderOrFile, TASK_JSON);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  if (value === undefined) return 'missing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
