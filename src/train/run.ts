/**
 * A training run as `npm run train` performs it: data, model and trainer from
 * the options (or a checkpoint), the step loop with progress, held-out
 * evaluations, early stopping and periodic checkpoints, and saving the model
 * folder. The script only parses arguments, handles Ctrl-C and maps outcomes
 * to exit codes; benchmarks and tests drive the same loop.
 */
import * as tf from '@tensorflow/tfjs';
import { ensureBackend } from '../backend';

import { nodePath } from '../io/atomic';
import { fileSystem } from '../io/file_system';
import { Seq2SeqTaskInfo, taskInfoFor, writeTaskJson } from '../model/task_json';
import { presetConfig, TransformerConfig } from '../model/config';
import { createTransformer } from '../model/transformer';
import { encodeBatch, EncodedBatch } from '../tasks/encode';
import { RandomState } from '../tasks/random';
import { createTrainingStream, heldOutSet, Sample, TrainingStream } from '../tasks/samples';
import { createTask, Task, TaskName } from '../tasks/tasks';
import { Checkpoint, CHECKPOINT_FILE, writeCheckpoint } from './checkpoint';
import { evaluateSeq2Seq } from './evaluate';
import { EvalLogEntry, LogEntry, TrainLogEntry, writeTrainingLog } from './log';
import { parseTrainArgs, recipeOf, reproduceCommand, TrainOptions } from './options';
import { balancedShare, Recipe } from './recipe';
import {
  estimateTargetStep,
  EtaEstimator,
  evaluationFields,
  ProgressDisplay,
  ProgressStream,
  TargetProgress,
} from './progress';
import { warmupSchedule } from './schedule';
import { withSeededRandom } from './seed';
import { Trainer } from './trainer';

/** What checkpoint.bin holds besides the trainer state. */
export interface CheckpointExtra {
  options: TrainOptions;
  /** The training stream's generator state. */
  stream: RandomState;
  log: LogEntry[];
  /** Training seconds (steps only) so far. */
  seconds: number;
}

export interface TrainingRunArgs {
  options: TrainOptions;
  /** The backend in use (recorded in task.json). */
  backend: string;
  /** Continue from this checkpoint (its options must be `options`' resumed settings). */
  resumed?: Checkpoint<CheckpointExtra>;
  /** Whether checkpoints and the model folder are written (to `options.out`). Default false. */
  save?: boolean;
  /** Where progress goes (a TTY gets a live bar). Default: nowhere. */
  display?: ProgressStream;
}

export interface TrainingOutcome {
  /** Why the loop ended, for people. */
  stopReason: string;
  /** Whether `interrupted()` ended it. */
  interrupted: boolean;
}

/**
 * ```ts
 * const run = await TrainingRun.create({options, backend: 'wasm', save: true, display: process.stdout});
 * const {stopReason} = await run.train(() => false);
 * await run.save(stopReason);
 * ```
 */
export class TrainingRun {
  readonly options: TrainOptions;
  readonly task: Task;
  readonly config: TransformerConfig;
  readonly model: tf.LayersModel;
  readonly trainer: Trainer;
  readonly stream: TrainingStream;
  readonly heldOut: Sample[];
  readonly progress: ProgressDisplay;
  /** The ETA shown on the bar and the evaluation lines. */
  readonly eta: EtaEstimator;
  /** Every log entry of the run, resumed ones included. */
  log: LogEntry[] = [];
  /** Training seconds (steps and batch making; not evaluation or saving). */
  seconds = 0;
  lastEval: EvalLogEntry | undefined;
  /** Training loss summed over the steps since the last evaluation, for its line. */
  private sinceEval = { loss: 0, steps: 0 };
  /** When this process's part of the run started (performance.now()), for --max-seconds. */
  private runStart = performance.now();

  private constructor(
    options: TrainOptions,
    readonly backend: string,
    /** Absolute output folder, when saving. */
    readonly out: string | undefined,
    display: ProgressStream | undefined,
  ) {
    this.options = options;
    this.task = createTask(options.task, options.taskOptions);
    this.stream = createTrainingStream(this.task, options.seed);
    this.heldOut = heldOutSet(this.task);
    this.config = presetConfig(options.preset, this.task, options.model);
    // tfjs initializers take their seed from Math.random: seed it, so a run is repeatable.
    this.model = withSeededRandom(options.seed, () => createTransformer(this.config));
    if ((options.initScale ?? 1) !== 1) scaleInitialWeights(this.model, options.initScale);
    this.trainer = new Trainer({
      model: this.model,
      learningRate: warmupSchedule({
        peak: options.lr,
        warmupSteps: options.warmup,
        decay: options.decay,
        totalSteps: options.decaySteps,
        minRate: options.minLr,
      }),
      beta1: options.beta1,
      beta2: options.beta2,
      clipNorm: options.clip,
      // Checkpoints written before these options existed lack them.
      labelSmoothing: options.labelSmoothing ?? 0,
      weightDecay: options.weightDecay ?? 0,
    });
    this.progress = new ProgressDisplay(display ?? { write: () => true });
    this.eta = new EtaEstimator(options.steps);
  }

  static async create(args: TrainingRunArgs): Promise<TrainingRun> {
    await ensureBackend();
    const out = args.save ? nodePath().resolve(args.options.out) : undefined;
    const run = new TrainingRun(args.options, args.backend, out, args.display);
    if (args.resumed) {
      await run.trainer.setState(args.resumed.state);
      run.stream.setState(args.resumed.extra.stream);
      run.log = [...args.resumed.extra.log];
      run.seconds = args.resumed.extra.seconds;
      run.lastEval = [...run.log].reverse().find((e): e is EvalLogEntry => e.type === 'eval');
    }
    return run;
  }

  /** One line saying what is trained, on what, and where it goes. */
  describe(): string {
    const { options: o, config: c } = this;
    return (
      `${o.resume ? `resuming at step ${this.trainer.stepCount}: ` : ''}${this.task.name} on ${this.backend}, ` +
      `${o.preset} model (embeddingDim ${c.embeddingDim}, ${c.numHeads} heads, ff ${c.intermediateDim}, ` +
      `${c.numEncoderLayers}+${c.numDecoderLayers} layers, ${c.normalizeFirst ? 'pre' : 'post'}-LN, ` +
      `${this.model.countParams()} parameters), ` +
      `batch ${o.batch}, lr ${o.lr} (${o.warmup} warmup, ` +
      `${o.decay}${o.decay === 'cosine' ? ` to ${o.minLr} at ${o.decaySteps}` : ''}), ` +
      `up to ${o.steps} steps${this.out ? ` -> ${this.out}` : ''}`
    );
  }

  /** Held-out exact match, token accuracy and loss now; logged and printed. */
  async evaluate(): Promise<EvalLogEntry> {
    const result = await evaluateSeq2Seq(this.model, this.heldOut, (s) => this.encode(s), {
      maxLength: this.task.maxTargetLength,
    });
    const entry: EvalLogEntry = {
      type: 'eval',
      step: this.trainer.stepCount,
      exactMatch: result.exactMatch,
      tokenAccuracy: result.tokenAccuracy,
      loss: result.loss,
      size: result.size,
      seconds: round(this.seconds),
      failures: result.failures.map((f) => ({
        input: this.task.tokensToString(f.source),
        expected: this.task.tokensToString(f.expected),
        got: this.task.tokensToString(f.got),
      })),
    };
    this.log.push(entry);
    this.lastEval = entry;
    const target = this.targetProgress();
    this.eta.recordEstimate(target?.estimatedStep);
    const { steps, loss } = this.sinceEval;
    this.sinceEval = { loss: 0, steps: 0 };
    this.progress.printFields(
      evaluationFields({
        step: entry.step,
        totalSteps: this.options.steps,
        trainLoss: steps > 0 ? loss / steps : undefined,
        heldOutLoss: entry.loss,
        exactMatch: entry.exactMatch,
        right: Math.round(entry.exactMatch * entry.size),
        size: entry.size,
        tokenAccuracy: entry.tokenAccuracy,
        stepsPerSecond: this.eta.stepsPerSecond(),
        eta: this.eta.eta(entry.step, this.secondsLeft()),
      }),
    );
    if (this.options.verbose) for (const line of formatFailures(entry)) this.progress.print(line);
    return entry;
  }

  /**
   * Trains until `options.steps`, the target exact match, `options.maxSeconds`
   * or `interrupted()`; saves checkpoints every `checkpointEvery` steps when
   * there is an output folder. A diverging loss throws `NonFiniteLossError`
   * (see Trainer.step) with nothing saved for that step.
   */
  async train(interrupted: () => boolean = () => false): Promise<TrainingOutcome> {
    const o = this.options;
    this.runStart = performance.now();
    this.eta.recordStep(this.trainer.stepCount, this.runStart);
    let window = { loss: 0, accuracy: 0, gradNorm: 0, steps: 0, seconds: 0 };
    while (this.trainer.stepCount < o.steps) {
      // wasm and cpu steps never wait on the event loop, so yield to it: this is when Ctrl-C is seen.
      await new Promise((resolve) => setImmediate(resolve));
      if (interrupted()) return { stopReason: 'interrupted', interrupted: true };
      const t0 = performance.now();
      const batch = this.stream.nextBatch(o.batch, balancedShare(o, this.trainer.stepCount + 1));
      const result = await this.trainer.step(this.encode(batch));
      const stepSeconds = (performance.now() - t0) / 1000;
      this.seconds += stepSeconds;
      window = {
        loss: window.loss + result.loss,
        accuracy: window.accuracy + result.tokenAccuracy,
        gradNorm: window.gradNorm + result.gradNorm,
        steps: window.steps + 1,
        seconds: window.seconds + stepSeconds,
      };
      const step = result.step;
      this.eta.recordStep(step, performance.now());
      this.sinceEval = { loss: this.sinceEval.loss + result.loss, steps: this.sinceEval.steps + 1 };
      this.progress.update({
        step,
        totalSteps: o.steps,
        trainLoss: this.sinceEval.loss / this.sinceEval.steps,
        exactMatch: this.lastEval?.exactMatch,
        targetExactMatch: o.targetExactMatch > 0 ? o.targetExactMatch : undefined,
        stepsPerSecond: this.eta.stepsPerSecond(),
        eta: this.eta.eta(step, this.secondsLeft()),
      });
      if (step % o.logEvery === 0) {
        const entry: TrainLogEntry = {
          type: 'train',
          step,
          loss: window.loss / window.steps,
          tokenAccuracy: window.accuracy / window.steps,
          gradNorm: window.gradNorm / window.steps,
          learningRate: result.learningRate,
          stepsPerSecond: round(window.steps / window.seconds),
          seconds: round(this.seconds),
        };
        this.log.push(entry);
        window = { loss: 0, accuracy: 0, gradNorm: 0, steps: 0, seconds: 0 };
      }
      if (step % o.evalEvery === 0) {
        const entry = await this.evaluate();
        if (o.targetExactMatch > 0 && entry.exactMatch >= o.targetExactMatch) {
          return {
            stopReason:
              `held-out exact match ${entry.exactMatch.toFixed(4)} ` + `>= --target-exact-match ${o.targetExactMatch}`,
            interrupted: false,
          };
        }
      }
      if (o.maxSeconds !== undefined && this.secondsLeft()! <= 0) {
        return { stopReason: `reached --max-seconds ${o.maxSeconds}`, interrupted: false };
      }
      if (this.out !== undefined && step % o.checkpointEvery === 0 && step < o.steps) {
        await this.save(`every ${o.checkpointEvery} steps`);
      }
    }
    return { stopReason: `reached --steps ${o.steps}`, interrupted: false };
  }

  /** Seconds of --max-seconds left to this process's part of the run; undefined without a limit. */
  private secondsLeft(): number | undefined {
    const limit = this.options.maxSeconds;
    return limit === undefined ? undefined : limit - (performance.now() - this.runStart) / 1000;
  }

  /**
   * Where the run stands against --target-exact-match (undefined when it never stops early):
   * the last held-out exact match and the step its trend reaches the target at.
   */
  targetProgress(): TargetProgress | undefined {
    const target = this.options.targetExactMatch;
    if (!(target > 0)) return undefined;
    const points = this.log.filter((e): e is EvalLogEntry => e.type === 'eval');
    return {
      exactMatch: target,
      lastExactMatch: this.lastEval?.exactMatch,
      estimatedStep: estimateTargetStep(points, target),
    };
  }

  /**
   * Saves the checkpoint, then the model folder (model.json, weights.bin,
   * task.json, train-log.jsonl, training-curve.svg), each file atomically.
   * Evaluates first if the last evaluation is not of the current weights, so
   * task.json's metrics always describe the saved model.
   */
  async save(why: string): Promise<void> {
    const out = this.out;
    if (out === undefined) throw new Error('TrainingRun.save: this run has no output folder');
    if (this.lastEval?.step !== this.trainer.stepCount) await this.evaluate();
    const { join } = nodePath();
    const extra: CheckpointExtra = {
      options: this.options,
      stream: this.stream.getState(),
      log: this.log,
      seconds: this.seconds,
    };
    await writeCheckpoint(join(out, CHECKPOINT_FILE), {
      state: await this.trainer.getState(),
      weightSpecs: this.model.weights.map((w) => ({ name: w.originalName, shape: w.shape as number[] })),
      extra,
    });
    await this.model.save(fileSystem(out));
    await writeTaskJson(out, this.taskInfo());
    await writeTrainingLog(
      out,
      this.log,
      `${this.task.name}: ${this.options.preset} model, batch ${this.options.batch}, lr ${this.options.lr}`,
    );
    this.progress.print(`checkpoint saved at step ${this.trainer.stepCount} (${why})`);
  }

  /** The content of task.json for the current weights (needs an evaluation of them). */
  taskInfo(): Seq2SeqTaskInfo {
    const { task, options: o } = this;
    const metrics = this.lastEval;
    if (metrics === undefined) throw new Error('TrainingRun.taskInfo: evaluate before describing the model');
    return taskInfoFor(
      task,
      this.config,
      {
        heldOutExactMatch: metrics.exactMatch,
        heldOutTokenAccuracy: metrics.tokenAccuracy,
        heldOutSize: metrics.size,
      },
      {
        command: reproduceCommand(o, this.trainer.stepCount),
        steps: this.trainer.stepCount,
        seconds: round(this.seconds),
        backend: this.backend,
        seed: o.seed,
        batch: o.batch,
        lr: o.lr,
        warmup: o.warmup,
        decay: o.decay,
        decaySteps: o.decaySteps,
        minLr: o.minLr,
        beta1: o.beta1,
        beta2: o.beta2,
        clip: o.clip,
        labelSmoothing: o.labelSmoothing,
        weightDecay: o.weightDecay,
        lengthBalanced: o.lengthBalanced,
        lengthBalancedSteps: o.lengthBalancedSteps,
        initScale: o.initScale,
        normalizeFirst: this.config.normalizeFirst,
        tfjs: tf.version.tfjs,
      },
    );
  }

  dispose(): void {
    this.progress.clear();
    this.trainer.dispose();
    this.model.dispose();
  }

  private encode(samples: Sample[]): EncodedBatch {
    return encodeBatch(this.task, samples);
  }
}

/**
 * Multiplies every kernel and embedding (the weights of rank >= 2) by `scale`, leaving biases and
 * layer-norm parameters: a smaller initialization (e.g. 0.5) starts the residual stream closer to
 * the identity, as GPT-2's scaled initialization of residual projections does.
 */
export function scaleInitialWeights(model: tf.LayersModel, scale: number): void {
  for (const weight of model.weights) {
    if (weight.shape.length < 2) continue;
    const scaled = tf.tidy(() => tf.mul(weight.read(), scale));
    weight.write(scaled);
    scaled.dispose();
  }
}

/** `wrong: 1 2 3 -> expected 3 2 1, got 3 2`: the wrong decodings an evaluation kept. */
export function formatFailures(e: EvalLogEntry): string[] {
  return e.failures.map(
    (f) => `  wrong: ${f.input} -> expected ${f.expected}, got ${f.got === '' ? '(nothing)' : f.got}`,
  );
}

export interface TimeToAccuracyArgs {
  /** Default 'reverse'. */
  task?: TaskName;
  /** Held-out exact match to reach. Default 0.99. */
  target?: number;
  /** Give up after this many steps. Default the recipe's step limit. */
  maxSteps?: number;
  /** Further `npm run train` flags (e.g. ['--lr', '0.003']). */
  args?: string[];
  /** Progress output. Default: nowhere. */
  display?: ProgressStream;
}

export interface TimeToAccuracyResult {
  /** Steps taken: the first evaluation at or above the target (or the limit). */
  steps: number;
  /** Training seconds (steps and batch making; evaluation excluded, as the torch peer counts). */
  seconds: number;
  /** Wall-clock seconds including evaluations. */
  wallSeconds: number;
  exactMatch: number;
  tokenAccuracy: number;
  reached: boolean;
  evalEvery: number;
  /** The command line that reproduces the run. */
  command: string;
  /**
   * The settings the run trained with: its recipe, the cosine's floor as a rate and Adam's epsilon
   * (which no recipe sets), so that a peer can be given exactly the same.
   */
  recipe: Recipe & { minLr: number; epsilon: number };
  history: Array<{ step: number; exactMatch: number; seconds: number }>;
}

/**
 * `npm run train`'s loop from scratch with its default recipe (reference
 * model, batch 64) until held-out exact match reaches `target`; nothing is
 * saved. Runs on the backend in use, or `initBackend()`'s choice when none is.
 */
export async function runTimeToAccuracy(args: TimeToAccuracyArgs = {}): Promise<TimeToAccuracyResult> {
  const target = args.target ?? 0.99;
  const argv = ['--task', args.task ?? 'reverse', '--target-exact-match', String(target), ...(args.args ?? [])];
  if (args.maxSteps !== undefined) argv.push('--steps', String(args.maxSteps));
  const parsed = parseTrainArgs(argv);
  if (parsed.help) throw new Error('runTimeToAccuracy: --help is not a training option');
  const backend = await ensureBackend();
  const start = Date.now();
  const run = await TrainingRun.create({ options: parsed.options, backend, display: args.display });
  try {
    await run.train();
    const evals = run.log.filter((e): e is EvalLogEntry => e.type === 'eval');
    const last = run.lastEval?.step === run.trainer.stepCount ? run.lastEval : await run.evaluate();
    return {
      steps: run.trainer.stepCount,
      seconds: round(run.seconds),
      wallSeconds: round((Date.now() - start) / 1000),
      exactMatch: last.exactMatch,
      tokenAccuracy: last.tokenAccuracy,
      reached: last.exactMatch >= target,
      evalEvery: parsed.options.evalEvery,
      command: reproduceCommand(parsed.options, run.trainer.stepCount),
      recipe: { ...recipeOf(parsed.options), minLr: parsed.options.minLr, epsilon: run.trainer.optimizer.epsilon },
      history: evals.map((e) => ({ step: e.step, exactMatch: e.exactMatch, seconds: e.seconds })),
    };
  } finally {
    run.dispose();
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
