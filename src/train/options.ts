/**
 * Command-line options of `npm run train`: parsing with Node's `util.parseArgs`,
 * checking every value, defaults (the training recipe), and the command line
 * that reproduces a run. Errors are `UsageError`s: the script prints the
 * one-line message and the usage and exits with code 2.
 */
import { parseArgs } from 'node:util';

import { BACKEND_CHOICES } from '../backend';
import { ModelSize, PRESET_NAMES, PresetName } from '../model/config';
import { unknownNameMessage } from '../options';
import { createTask, TASK_NAMES, TaskName, TaskOptions } from '../tasks/tasks';
import { DECAYS } from './schedule';
import { DEFAULT_RECIPE, Recipe, TASK_RECIPES } from './recipe';

/** A wrong command line: exit code 2, message and usage, no stack trace. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Refuses the first flag of `argv` that `flags` (a `util.parseArgs` options table) does not have,
 * with the nearest one: `unknown option --taks (did you mean --task?)`. Call it before parseArgs,
 * whose own message has no suggestion. The value after a string flag and everything after `--`
 * are not flags.
 */
export function checkFlagNames(argv: readonly string[], flags: Readonly<Record<string, { type: string }>>): void {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') return;
    if (!arg.startsWith('--')) continue;
    const name = arg.slice(2).split('=')[0];
    const flag = flags[name];
    if (flag === undefined) {
      const quote = (n: string) => `--${n}`;
      throw new UsageError(unknownNameMessage('option', name, Object.keys(flags), { quote, listKnown: false }));
    }
    if (flag.type === 'string' && !arg.includes('=')) i++;
  }
}

/** The recipe's settings (src/train/recipe.ts documents each); the cosine's floor is an absolute `minLr` here. */
type RecipeSettings = Pick<
  Recipe,
  | 'steps'
  | 'batch'
  | 'lr'
  | 'warmup'
  | 'decay'
  | 'decaySteps'
  | 'beta1'
  | 'beta2'
  | 'clip'
  | 'labelSmoothing'
  | 'weightDecay'
  | 'lengthBalanced'
  | 'lengthBalancedSteps'
  | 'initScale'
>;

export interface TrainOptions extends RecipeSettings {
  task: TaskName;
  /** Only the task options given on the command line (createTask fills in the rest). */
  taskOptions: TaskOptions;
  preset: PresetName;
  /** Model sizes given on the command line, over the preset's. */
  model: ModelSize;
  /** Floor of the cosine decay. */
  minLr: number;
  seed: number;
  backend: string;
  out: string;
  resume: boolean;
  evalEvery: number;
  checkpointEvery: number;
  /** Steps between the training log's loss entries (train-log.jsonl, training-curve.svg). */
  logEvery: number;
  /** Print each evaluation's wrong decodings (else only the last evaluation's, at the end). */
  verbose: boolean;
  /** Stop once held-out exact match reaches this; 0 never stops early. */
  targetExactMatch: number;
  /** Stop (and save) after this many wall-clock seconds of the run (evaluations included); undefined: no limit. */
  maxSeconds?: number;
}

export { DEFAULT_RECIPE, TASK_RECIPES };

/**
 * Where `npm run train` writes when no --out is given: `models/runs/<task>`, ignored by git and
 * left out of the package, so that training never overwrites the shipped `models/<task>`.
 */
export const RUNS_FOLDER = 'models/runs';

export const TRAIN_USAGE = `Usage: npm run train -- [options]

Trains a seq2seq Transformer on a toy task and saves it (model.json, weights.bin,
task.json, train-log.jsonl, training-curve.svg, checkpoint.bin) in --out.
Every optimisation default is the task's recipe (the table at the end); a flag overrides it.

Example:
  npm run train -- --task addition          # stops at 0.99 held-out exact match, into ${RUNS_FOLDER}/addition

Data and model:
  --task NAME              ${TASK_NAMES.join(' | ')} (default reverse)
  --symbols N --min-len N --max-len N    copy/reverse/sort options (the tasks' defaults)
  --digits N               addition option (default 3)
  --preset NAME            ${PRESET_NAMES.join(' | ')} (default reference)
  --embedding-dim N --heads N --key-dim N --ff N      sizes over the preset's
  --layers N               encoder and decoder blocks (or --encoder-layers N --decoder-layers N)
  --dropout R --activation relu|gelu --norm pre|post   (default norm: the recipe's)
Optimisation (defaults: the task's recipe):
  --steps N                most steps
  --batch N                samples per step
  --lr R                   peak learning rate
  --warmup N               linear warmup steps
  --decay NAME             ${DECAYS.join(' | ')}
  --decay-steps N          step where the cosine reaches --min-lr
  --min-lr R               cosine floor (default the recipe's share of --lr)
  --beta1 R --beta2 R      Adam betas
  --clip R                 global gradient norm limit
  --label-smoothing R      label smoothing of the training loss, in [0, 1)
  --weight-decay R         decoupled (AdamW) weight decay of kernels and embeddings
  --length-balanced R      share of each batch with uniform lengths (addition: operand digit counts), in [0, 1]
  --length-balanced-steps N   the share falls linearly to 0 at step N (a curriculum); 0 keeps it constant
  --init-scale R           factor on the initial kernels and embeddings
  --seed N                 training data seed (default 1)
Run:
  --backend NAME           ${BACKEND_CHOICES.filter((b) => b !== 'webgl').join(' | ')} (default auto)
  --out DIR                output folder (default ${RUNS_FOLDER}/<task>, ignored by git)
  --resume                 continue from DIR/checkpoint.bin with its settings
  --eval-every N           steps between held-out evaluations (default the recipe's)
  --checkpoint-every N     steps between checkpoints (default 250)
  --log-every N            steps between the loss entries of train-log.jsonl (default 50)
  --verbose                print the wrong decodings of every evaluation (else the last one's, at the end)
  --target-exact-match R   stop when held-out exact match reaches R; 0 never stops early (default 0.99)
  --max-seconds S          stop (and save) after S seconds of this run, evaluations included (default: no limit)
  --help                   this text

Ctrl-C saves a checkpoint and exits with code 130; --resume continues from it.

Default recipes (src/train/recipe.ts):
${TASK_NAMES.map((name) => `  ${name.padEnd(9)} ${formatRecipe(TASK_RECIPES[name])}`).join('\n')}`;

/** `--lr 0.004 --warmup 50 --decay cosine --decay-steps 350 ...`: a recipe as the flags that set it. */
export function formatRecipe(recipe: Recipe): string {
  return recipeFlags(recipe)
    .map(([flag, value]) => `--${flag} ${value}`)
    .join(' ');
}

/** The recipe a run uses: its options' optimisation settings. */
export function recipeOf(options: TrainOptions): Recipe {
  return {
    steps: options.steps,
    batch: options.batch,
    lr: options.lr,
    warmup: options.warmup,
    decay: options.decay,
    decaySteps: options.decaySteps,
    minLrFraction: options.minLr / options.lr,
    beta1: options.beta1,
    beta2: options.beta2,
    clip: options.clip,
    labelSmoothing: options.labelSmoothing,
    weightDecay: options.weightDecay,
    lengthBalanced: options.lengthBalanced,
    lengthBalancedSteps: options.lengthBalancedSteps,
    initScale: options.initScale,
    normalizeFirst: options.model.normalizeFirst ?? TASK_RECIPES[options.task].normalizeFirst,
    evalEvery: options.evalEvery,
  };
}

/**
 * The line `npm run train` prints first: the task's default recipe and the settings of this run
 * that differ from it, `recipe: addition's default (src/train/recipe.ts) --norm pre ...; changed: --lr 0.003`.
 */
export function describeRecipe(options: TrainOptions): string {
  const defaults = recipeFlags(TASK_RECIPES[options.task]);
  const used = new Map(recipeFlags(recipeOf(options)));
  const changed = defaults
    .filter(([flag, value]) => used.get(flag) !== value)
    .map(([flag]) => `--${flag} ${used.get(flag)}`);
  return (
    `recipe: ${options.task}'s default (src/train/recipe.ts) ${formatRecipe(TASK_RECIPES[options.task])}` +
    (changed.length > 0 ? `; changed: ${changed.join(' ')}` : '')
  );
}

function recipeFlags(r: Recipe): Array<[string, string | number]> {
  return [
    ['norm', r.normalizeFirst ? 'pre' : 'post'],
    ['steps', r.steps],
    ['batch', r.batch],
    ['lr', r.lr],
    ['warmup', r.warmup],
    ['decay', r.decay],
    ['decay-steps', r.decaySteps],
    ['min-lr', Number((r.minLrFraction * r.lr).toPrecision(6))],
    ['beta1', r.beta1],
    ['beta2', r.beta2],
    ['clip', r.clip],
    ['label-smoothing', r.labelSmoothing],
    ['weight-decay', r.weightDecay],
    ['length-balanced', r.lengthBalanced],
    ['length-balanced-steps', r.lengthBalancedSteps],
    ['init-scale', r.initScale],
    ['eval-every', r.evalEvery],
  ];
}

const FLAGS = {
  task: { type: 'string' },
  symbols: { type: 'string' },
  'min-len': { type: 'string' },
  'max-len': { type: 'string' },
  digits: { type: 'string' },
  preset: { type: 'string' },
  'embedding-dim': { type: 'string' },
  heads: { type: 'string' },
  'key-dim': { type: 'string' },
  ff: { type: 'string' },
  layers: { type: 'string' },
  'encoder-layers': { type: 'string' },
  'decoder-layers': { type: 'string' },
  dropout: { type: 'string' },
  activation: { type: 'string' },
  norm: { type: 'string' },
  steps: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  warmup: { type: 'string' },
  decay: { type: 'string' },
  'decay-steps': { type: 'string' },
  'min-lr': { type: 'string' },
  beta1: { type: 'string' },
  beta2: { type: 'string' },
  clip: { type: 'string' },
  'label-smoothing': { type: 'string' },
  'weight-decay': { type: 'string' },
  'length-balanced': { type: 'string' },
  'length-balanced-steps': { type: 'string' },
  'init-scale': { type: 'string' },
  seed: { type: 'string' },
  backend: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'boolean' },
  verbose: { type: 'boolean' },
  'eval-every': { type: 'string' },
  'checkpoint-every': { type: 'string' },
  'log-every': { type: 'string' },
  'target-exact-match': { type: 'string' },
  'max-seconds': { type: 'string' },
  help: { type: 'boolean' },
} as const;

/** Settings a resumed run takes from its checkpoint (they define the run being continued). */
export const RESUMED_SETTINGS = [
  'task',
  'taskOptions',
  'preset',
  'model',
  'batch',
  'lr',
  'warmup',
  'decay',
  'decaySteps',
  'minLr',
  'beta1',
  'beta2',
  'clip',
  'labelSmoothing',
  'weightDecay',
  'lengthBalanced',
  'lengthBalancedSteps',
  'initScale',
  'seed',
] as const;

export type ParsedTrainArgs =
  | { help: true }
  | {
      help: false;
      options: TrainOptions;
      /** The TrainOptions keys set on the command line (the rest are defaults). */
      explicit: Set<keyof TrainOptions>;
    };

/** Parses `argv` (without node and the script); throws `UsageError`. */
export function parseTrainArgs(argv: string[]): ParsedTrainArgs {
  let values: Record<string, string | boolean | undefined>;
  checkFlagNames(argv, FLAGS);
  try {
    ({ values } = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false }));
  } catch (error) {
    // parseArgs' messages are already one readable line ("Unknown option '--foo'...").
    throw new UsageError((error as Error).message.replace(/\s*\n\s*/g, ' '));
  }
  if (values.help) return { help: true };
  const explicit = new Set<keyof TrainOptions>();
  const str = (flag: string) => values[flag] as string | undefined;

  const int = (flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined => {
    const text = str(flag);
    if (text === undefined) return undefined;
    const value = Number(text);
    if (text.trim() === '' || !Number.isInteger(value) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
      throw new UsageError(`--${flag} must be ${range}, got '${text}'`);
    }
    return value;
  };
  const num = (flag: string, ok: (v: number) => boolean, expected: string): number | undefined => {
    const text = str(flag);
    if (text === undefined) return undefined;
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || !ok(value)) {
      throw new UsageError(`--${flag} must be ${expected}, got '${text}'`);
    }
    return value;
  };
  const choice = <T extends string>(flag: string, allowed: readonly T[]): T | undefined => {
    const text = str(flag);
    if (text === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(text)) {
      throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}, got '${text}'`);
    }
    return text as T;
  };
  const set = <K extends keyof TrainOptions>(key: K, value: TrainOptions[K] | undefined, fallback: TrainOptions[K]) => {
    if (value !== undefined) explicit.add(key);
    return value ?? fallback;
  };

  const task = set('task', choice('task', TASK_NAMES), 'reverse');
  const recipe = TASK_RECIPES[task];
  const taskOptions: TaskOptions = {};
  const symbols = int('symbols', 1);
  const minLen = int('min-len', 1);
  const maxLen = int('max-len', 1);
  const digits = int('digits', 1);
  if (symbols !== undefined) taskOptions.numSymbols = symbols;
  if (minLen !== undefined) taskOptions.minLen = minLen;
  if (maxLen !== undefined) taskOptions.maxLen = maxLen;
  if (digits !== undefined) taskOptions.digits = digits;
  if (Object.keys(taskOptions).length > 0) explicit.add('taskOptions');
  try {
    createTask(task, taskOptions);
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/^createTask(\('\w+'\))?: /, `--task ${task}: `));
  }

  const preset = set('preset', choice('preset', PRESET_NAMES), 'reference');
  const model: ModelSize = {};
  const put = <K extends keyof ModelSize>(key: K, value: ModelSize[K] | undefined) => {
    if (value !== undefined) model[key] = value;
  };
  put('embeddingDim', int('embedding-dim', 1));
  put('numHeads', int('heads', 1));
  put('keyDim', int('key-dim', 1));
  put('intermediateDim', int('ff', 1));
  const layers = int('layers', 1);
  put('numEncoderLayers', int('encoder-layers', 1) ?? layers);
  put('numDecoderLayers', int('decoder-layers', 1) ?? layers);
  put(
    'dropout',
    num('dropout', (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
  );
  put('activation', choice('activation', ['relu', 'gelu'] as const));
  const norm = choice('norm', ['pre', 'post'] as const);
  if (Object.keys(model).length > 0 || norm !== undefined) explicit.add('model');
  // Always explicit, so that the recorded command does not depend on the recipe's default.
  model.normalizeFirst = norm === undefined ? recipe.normalizeFirst : norm === 'pre';

  const lr = set(
    'lr',
    num('lr', (v) => v > 0 && v < 1, 'a number in (0, 1)'),
    recipe.lr,
  );
  const steps = set('steps', int('steps', 1), recipe.steps);
  const warmup = set('warmup', int('warmup', 0), recipe.warmup);
  const decay = set('decay', choice('decay', DECAYS), recipe.decay);
  const decaySteps = set('decaySteps', int('decay-steps', 1), Math.max(recipe.decaySteps, warmup + 1));
  if (decay === 'cosine' && decaySteps <= warmup) {
    throw new UsageError(
      `--decay-steps must be greater than --warmup (${warmup}) for the cosine decay, got ${decaySteps}`,
    );
  }
  const minLr = set(
    'minLr',
    num('min-lr', (v) => v >= 0 && v <= lr, `a number in [0, --lr (${lr})]`),
    recipe.minLrFraction * lr,
  );

  const options: TrainOptions = {
    task,
    taskOptions,
    preset,
    model,
    steps,
    batch: set('batch', int('batch', 1, 65536), recipe.batch),
    lr,
    warmup,
    decay,
    decaySteps,
    minLr,
    beta1: set(
      'beta1',
      num('beta1', (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
      recipe.beta1,
    ),
    beta2: set(
      'beta2',
      num('beta2', (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
      recipe.beta2,
    ),
    clip: set(
      'clip',
      num('clip', (v) => v > 0, 'a positive number'),
      recipe.clip,
    ),
    labelSmoothing: set(
      'labelSmoothing',
      num('label-smoothing', (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
      recipe.labelSmoothing,
    ),
    weightDecay: set(
      'weightDecay',
      num('weight-decay', (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
      recipe.weightDecay,
    ),
    lengthBalanced: set(
      'lengthBalanced',
      num('length-balanced', (v) => v >= 0 && v <= 1, 'a number in [0, 1]'),
      recipe.lengthBalanced,
    ),
    lengthBalancedSteps: set('lengthBalancedSteps', int('length-balanced-steps', 0), recipe.lengthBalancedSteps),
    initScale: set(
      'initScale',
      num('init-scale', (v) => v > 0, 'a positive number'),
      recipe.initScale,
    ),
    seed: set('seed', int('seed', 0, 0xffff_ffff), 1),
    backend: set(
      'backend',
      choice(
        'backend',
        BACKEND_CHOICES.filter((b) => b !== 'webgl'),
      ),
      'auto',
    ),
    out: set('out', str('out'), `${RUNS_FOLDER}/${task}`),
    resume: set('resume', values.resume as boolean | undefined, false),
    evalEvery: set('evalEvery', int('eval-every', 1), recipe.evalEvery),
    checkpointEvery: set('checkpointEvery', int('checkpoint-every', 1), 250),
    logEvery: set('logEvery', int('log-every', 1), 50),
    verbose: set('verbose', values.verbose as boolean | undefined, false),
    targetExactMatch: set(
      'targetExactMatch',
      num('target-exact-match', (v) => v >= 0 && v <= 1, 'a number in [0, 1]'),
      0.99,
    ),
    maxSeconds: set(
      'maxSeconds',
      num('max-seconds', (v) => v > 0, 'a positive number of seconds'),
      undefined,
    ),
  };
  if (options.out.trim() === '') throw new UsageError(`--out must be a folder, got ''`);
  return { help: false, options, explicit };
}

/**
 * The options of a resumed run: the checkpoint's settings (RESUMED_SETTINGS)
 * with this command line's run controls (steps, output, evaluation...). A
 * setting given explicitly with a value other than the checkpoint's is a
 * UsageError, rather than silently training a different run.
 */
export function resumeOptions(
  saved: TrainOptions,
  current: TrainOptions,
  explicit: Set<keyof TrainOptions>,
): TrainOptions {
  for (const key of RESUMED_SETTINGS) {
    if (explicit.has(key) && JSON.stringify(current[key]) !== JSON.stringify(saved[key])) {
      throw new UsageError(
        `--resume continues the checkpoint's run, which has ${key} ${JSON.stringify(saved[key])}; ` +
          `the command line asks for ${JSON.stringify(current[key])} (leave it out, or train without --resume)`,
      );
    }
  }
  const merged = { ...current };
  // A checkpoint from before a setting existed lacks it: it trained with the setting's default.
  for (const key of RESUMED_SETTINGS)
    if (saved[key] !== undefined) (merged as Record<string, unknown>)[key] = saved[key];
  return merged;
}

/**
 * A command line that retrains the run's weights: every setting explicit (so
 * later changes of the defaults do not change it) and `--steps` the steps
 * actually taken. Backend and time limit are left out: they do not define the result.
 */
export function reproduceCommand(options: TrainOptions, stepsTaken: number): string {
  const args: Array<[string, string | number]> = [['task', options.task]];
  const o = options.taskOptions;
  if (o.numSymbols !== undefined) args.push(['symbols', o.numSymbols]);
  if (o.minLen !== undefined) args.push(['min-len', o.minLen]);
  if (o.maxLen !== undefined) args.push(['max-len', o.maxLen]);
  if (o.digits !== undefined) args.push(['digits', o.digits]);
  args.push(['preset', options.preset]);
  const m = options.model;
  if (m.embeddingDim !== undefined) args.push(['embedding-dim', m.embeddingDim]);
  if (m.numHeads !== undefined) args.push(['heads', m.numHeads]);
  if (m.keyDim !== undefined) args.push(['key-dim', m.keyDim]);
  if (m.intermediateDim !== undefined) args.push(['ff', m.intermediateDim]);
  if (m.numEncoderLayers !== undefined) args.push(['encoder-layers', m.numEncoderLayers]);
  if (m.numDecoderLayers !== undefined) args.push(['decoder-layers', m.numDecoderLayers]);
  if (m.dropout !== undefined) args.push(['dropout', m.dropout]);
  if (m.activation !== undefined) args.push(['activation', m.activation]);
  if (m.normalizeFirst !== undefined) args.push(['norm', m.normalizeFirst ? 'pre' : 'post']);
  args.push(
    ['steps', stepsTaken],
    ['batch', options.batch],
    ['lr', options.lr],
    ['warmup', options.warmup],
    ['decay', options.decay],
    ['decay-steps', options.decaySteps],
    ['min-lr', options.minLr],
    ['beta1', options.beta1],
    ['beta2', options.beta2],
    ['clip', options.clip],
    ['label-smoothing', options.labelSmoothing],
    ['weight-decay', options.weightDecay],
    ['length-balanced', options.lengthBalanced],
    ['length-balanced-steps', options.lengthBalancedSteps],
    ['init-scale', options.initScale],
    ['seed', options.seed],
    ['eval-every', options.evalEvery],
    ['target-exact-match', options.targetExactMatch],
    ['out', options.out],
  );
  return `npm run train -- ${args.map(([flag, value]) => `--${flag} ${shellQuote(String(value))}`).join(' ')}`;
}

function shellQuote(text: string): string {
  return /^[\w./:=+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

// ---------------------------------------------------------------------------
// npm run evaluate

export interface EvaluateOptions {
  /** The model folder (model.json, weights.bin, task.json). */
  model: string;
  /** 'held-out' (the 512 held-out samples) or 'fresh' (the acceptance test set). */
  set: 'held-out' | 'fresh';
  /** Evaluate only the first N samples of the set. */
  count?: number;
  /** Wrong decodings to print. */
  failures: number;
  backend: string;
  /** Print one JSON object instead of text. */
  json: boolean;
}

export const EVALUATE_USAGE = `Usage: npm run evaluate -- --model DIR [options]

Prints greedy exact match and teacher-forced token accuracy of a trained model
on its task's held-out set, and a few wrong decodings.

Example:
  npm run evaluate -- --model models/reverse

Options:
  --model DIR        model folder written by npm run train (model.json, weights.bin, task.json)
  --set NAME         held-out | fresh (default held-out; fresh is the acceptance test set)
  --count N          only the first N samples of the set (default all 512)
  --failures N       wrong decodings to print (default 5)
  --backend NAME     ${BACKEND_CHOICES.filter((b) => b !== 'webgl').join(' | ')} (default auto)
  --json             print one JSON object
  --help             this text`;

const EVALUATE_FLAGS = {
  model: { type: 'string' },
  set: { type: 'string' },
  count: { type: 'string' },
  failures: { type: 'string' },
  backend: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

/** Parses `npm run evaluate` arguments; throws `UsageError`. */
export function parseEvaluateArgs(argv: string[]): { help: true } | { help: false; options: EvaluateOptions } {
  let values: Record<string, string | boolean | undefined>;
  checkFlagNames(argv, EVALUATE_FLAGS);
  try {
    ({ values } = parseArgs({
      args: argv,
      options: EVALUATE_FLAGS,
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\s*\n\s*/g, ' '));
  }
  if (values.help) return { help: true };
  const model = values.model as string | undefined;
  if (model === undefined || model.trim() === '')
    throw new UsageError('--model is required: the folder of a trained model, e.g. models/reverse');
  const set = (values.set as string | undefined) ?? 'held-out';
  if (set !== 'held-out' && set !== 'fresh') throw new UsageError(`--set must be one of held-out, fresh, got '${set}'`);
  const int = (flag: string, min: number, max: number): number | undefined => {
    const text = values[flag] as string | undefined;
    if (text === undefined) return undefined;
    const value = Number(text);
    if (text.trim() === '' || !Number.isInteger(value) || value < min || value > max) {
      throw new UsageError(`--${flag} must be an integer in [${min}, ${max}], got '${text}'`);
    }
    return value;
  };
  const backend = (values.backend as string | undefined) ?? 'auto';
  const backends = BACKEND_CHOICES.filter((b) => b !== 'webgl') as readonly string[];
  if (!backends.includes(backend))
    throw new UsageError(`--backend must be one of ${backends.join(', ')}, got '${backend}'`);
  return {
    help: false,
    options: {
      model,
      set,
      count: int('count', 1, 512),
      failures: int('failures', 0, 512) ?? 5,
      backend,
      json: values.json === true,
    },
  };
}
