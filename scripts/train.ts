/**
 * Trains a seq2seq Transformer on a toy task of ../shared/TASKS.md and saves
 * it with its task.json, training log, curve and checkpoint.
 *
 *     npm run train                                  # reverse, reference config, into models/reverse
 *     npm run train -- --task copy --preset tiny --steps 600 --out /tmp/copy
 *     npm run train -- --resume                      # continue models/reverse from its checkpoint
 *
 * `--help` lists every flag. Exit codes: 0 done (step limit, target exact
 * match or --max-seconds reached); 1 error (e.g. the loss became NaN: the last
 * checkpoint is left as it was); 2 bad command line; 130 interrupted by Ctrl-C
 * after saving a checkpoint.
 */
import * as tf from '@tensorflow/tfjs';
import * as path from 'node:path';

import { initBackend } from '../src/backend';
import { fileSystem } from '../src/io/file_system';
import { Seq2SeqTaskInfo, writeTaskJson } from '../src/io/task_json';
import { presetConfig, TransformerConfig } from '../src/model/config';
import { createTransformer } from '../src/model/transformer';
import { createTask, createTrainingStream, encodeBatch, heldOutSet, RandomState, SPECIAL_TOKEN_NAMES, Task } from '../src/tasks';
import { Checkpoint, CHECKPOINT_FILE, readCheckpoint, writeCheckpoint } from '../src/train/checkpoint';
import { EvaluationResult, evaluateSeq2Seq } from '../src/train/evaluate';
import { EvalLogEntry, LogEntry, TrainLogEntry, writeTrainingLog } from '../src/train/log';
import { parseTrainArgs, reproduceCommand, resumeOptions, TRAIN_USAGE, TrainOptions, UsageError } from '../src/train/options';
import { ProgressDisplay } from '../src/train/progress';
import { warmupSchedule } from '../src/train/schedule';
import { withSeededRandom } from '../src/train/seed';
import { NonFiniteLossError, Trainer } from '../src/train/trainer';

/** What checkpoint.bin holds besides the trainer state. */
interface CheckpointExtra {
  options: TrainOptions;
  stream: RandomState;
  log: LogEntry[];
  /** Training seconds (steps only) so far. */
  seconds: number;
}

async function main(argv: string[]): Promise<number> {
  // --- Arguments ---------------------------------------------------------
  const parsed = parseTrainArgs(argv);
  if (parsed.help) {
    console.log(TRAIN_USAGE);
    return 0;
  }
  let options = parsed.options;
  const out = path.resolve(options.out);
  const checkpointFile = path.join(out, CHECKPOINT_FILE);
  let resumed: Checkpoint<CheckpointExtra> | undefined;
  if (options.resume) {
    resumed = await readCheckpoint<CheckpointExtra>(checkpointFile);
    options = { ...resumeOptions(resumed.extra.options, options, parsed.explicit), out: options.out };
  }
  const backend = await initBackend(options.backend);

  // --- Data ----------------------------------------------------------------
  const task = createTask(options.task, options.taskOptions);
  const stream = createTrainingStream(task, options.seed);
  const heldOut = heldOutSet(task);
  const encode = (samples: Parameters<typeof encodeBatch>[1]) => encodeBatch(task, samples);

  // --- Model ----------------------------------------------------------------
  const config = presetConfig(
    options.preset,
    { vocabSize: task.vocabSize, maxSourceLength: task.maxSourceLen, maxTargetLength: task.targetLen },
    options.model,
  );
  const model = withSeededRandom(options.seed, () => createTransformer(config));
  const trainer = new Trainer({
    model,
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
  });
  let log: LogEntry[] = [];
  let seconds = 0;
  if (resumed) {
    await trainer.setState(resumed.state);
    stream.setState(resumed.extra.stream);
    log = resumed.extra.log;
    seconds = resumed.extra.seconds;
  }
  const params = model.countParams();
  console.log(
    `${resumed ? `resuming at step ${trainer.stepCount}: ` : ''}${task.name} on ${backend}, ` +
      `${options.preset} model (dModel ${config.dModel}, ${config.numHeads} heads, ff ${config.intermediateDim}, ` +
      `${config.numEncoderLayers}+${config.numDecoderLayers} layers, ${config.normalizeFirst ? 'pre' : 'post'}-LN, ${params} parameters), ` +
      `batch ${options.batch}, lr ${options.lr} (${options.warmup} warmup, ${options.decay}), up to ${options.steps} steps -> ${out}`,
  );

  // --- Loop ------------------------------------------------------------------
  const progress = new ProgressDisplay(process.stdout, options.logEvery);
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) process.exit(130); // a second Ctrl-C: the files on disk are whole anyway
    interrupted = true;
    progress.print('interrupted: saving a checkpoint (Ctrl-C again to quit at once)');
  });

  let lastEval: EvalLogEntry | undefined = [...log].reverse().find((e): e is EvalLogEntry => e.type === 'eval');
  const evaluate = async (): Promise<EvalLogEntry> => {
    const result: EvaluationResult = await evaluateSeq2Seq(model, heldOut, encode, { maxLength: task.targetLen });
    const entry: EvalLogEntry = {
      type: 'eval',
      step: trainer.stepCount,
      exactMatch: result.exactMatch,
      tokenAccuracy: result.tokenAccuracy,
      loss: result.loss,
      size: result.size,
      seconds,
      failures: result.failures.map((f) => ({
        input: task.tokensToString(f.source),
        expected: task.tokensToString(f.expected),
        got: task.tokensToString(f.got),
      })),
    };
    log.push(entry);
    lastEval = entry;
    progress.print(formatEval(entry));
    return entry;
  };
  const save = async (why: string): Promise<void> => {
    if (lastEval?.step !== trainer.stepCount) await evaluate(); // task.json's metrics describe the saved weights
    const state = await trainer.getState();
    const weightSpecs = model.weights.map((w) => ({ name: w.originalName, shape: w.shape as number[] }));
    const extra: CheckpointExtra = { options, stream: stream.getState(), log, seconds };
    await writeCheckpoint(checkpointFile, { state, weightSpecs, extra });
    await model.save(fileSystem(out));
    await writeTaskJson(out, taskInfo(task, config, options, lastEval as EvalLogEntry, trainer.stepCount, seconds, backend));
    await writeTrainingLog(out, log, `${task.name}: ${options.preset} model, batch ${options.batch}, lr ${options.lr}`);
    progress.print(`checkpoint saved at step ${trainer.stepCount} (${why})`);
  };

  const runStart = Date.now();
  const startStep = trainer.stepCount;
  let window = { loss: 0, accuracy: 0, gradNorm: 0, steps: 0, seconds: 0 };
  let stopReason = `reached --steps ${options.steps}`;
  let exitCode = 0;
  while (trainer.stepCount < options.steps) {
    // wasm and cpu steps never wait on the event loop, so yield to it: this is when a Ctrl-C is seen.
    await new Promise((resolve) => setImmediate(resolve));
    const t0 = performance.now();
    let result;
    try {
      result = await trainer.step(encode(stream.nextBatch(options.batch)));
    } catch (error) {
      if (!(error instanceof NonFiniteLossError)) throw error;
      progress.clear();
      console.error(`error: ${error.message}`);
      console.error(`the last good checkpoint (if any) is untouched: ${checkpointFile}`);
      return 1;
    }
    const stepSeconds = (performance.now() - t0) / 1000;
    seconds += stepSeconds;
    window = {
      loss: window.loss + result.loss,
      accuracy: window.accuracy + result.tokenAccuracy,
      gradNorm: window.gradNorm + result.gradNorm,
      steps: window.steps + 1,
      seconds: window.seconds + stepSeconds,
    };
    const step = result.step;
    const wallSeconds = (Date.now() - runStart) / 1000;
    const rate = (step - startStep) / wallSeconds;
    const left = (options.steps - step) / rate;
    progress.update({
      step,
      totalSteps: options.steps,
      loss: window.loss / window.steps,
      tokenAccuracy: window.accuracy / window.steps,
      stepsPerSecond: rate,
      etaSeconds: options.maxSeconds === undefined ? left : Math.min(left, options.maxSeconds - wallSeconds),
    });
    if (step % options.logEvery === 0) {
      const entry: TrainLogEntry = {
        type: 'train',
        step,
        loss: window.loss / window.steps,
        tokenAccuracy: window.accuracy / window.steps,
        gradNorm: window.gradNorm / window.steps,
        learningRate: result.learningRate,
        stepsPerSecond: window.steps / window.seconds,
        seconds,
      };
      log.push(entry);
      window = { loss: 0, accuracy: 0, gradNorm: 0, steps: 0, seconds: 0 };
    }
    if (step % options.evalEvery === 0) {
      const entry = await evaluate();
      if (options.targetExactMatch > 0 && entry.exactMatch >= options.targetExactMatch) {
        stopReason = `held-out exact match ${entry.exactMatch.toFixed(4)} >= --target-exact-match ${options.targetExactMatch}`;
        break;
      }
    }
    if (interrupted) {
      stopReason = 'interrupted';
      exitCode = 130;
      break;
    }
    if (options.maxSeconds !== undefined && (Date.now() - runStart) / 1000 >= options.maxSeconds) {
      stopReason = `reached --max-seconds ${options.maxSeconds}`;
      break;
    }
    if (step % options.checkpointEvery === 0 && step < options.steps) await save(`every ${options.checkpointEvery} steps`);
  }

  // --- Save ------------------------------------------------------------------
  await save(stopReason);
  const final = lastEval as EvalLogEntry;
  progress.print(
    `done: ${stopReason}; step ${trainer.stepCount}, ${seconds.toFixed(1)} s of training ` +
      `(${((Date.now() - runStart) / 1000).toFixed(1)} s in this run), held-out exact match ${final.exactMatch.toFixed(4)}, ` +
      `token accuracy ${final.tokenAccuracy.toFixed(4)} -> ${out}`,
  );
  trainer.dispose();
  model.dispose();
  return exitCode;
}

/** `step 300  held-out exact match 0.7773 ...` plus up to three wrong decodings. */
function formatEval(e: EvalLogEntry): string {
  const lines = [
    `step ${e.step}  held-out exact match ${e.exactMatch.toFixed(4)} (${Math.round(e.exactMatch * e.size)}/${e.size})  ` +
      `token acc ${e.tokenAccuracy.toFixed(4)}  loss ${e.loss.toFixed(4)}`,
  ];
  for (const f of e.failures) lines.push(`  wrong: ${f.input} -> expected ${f.expected}, got ${f.got === '' ? '(nothing)' : f.got}`);
  return lines.join('\n');
}

function taskInfo(
  task: Task,
  config: TransformerConfig,
  options: TrainOptions,
  metrics: EvalLogEntry,
  steps: number,
  seconds: number,
  backend: string,
): Seq2SeqTaskInfo {
  return {
    format: 'tfjs-attention-seq2seq',
    version: 1,
    task: { name: task.name, options: { ...task.options } as Record<string, number> },
    vocabulary: { size: task.vocabSize, symbols: [...task.symbols], specials: [...SPECIAL_TOKEN_NAMES] },
    maxSourceLength: task.maxSourceLen,
    maxTargetLength: task.targetLen,
    config,
    metrics: { heldOutExactMatch: metrics.exactMatch, heldOutTokenAccuracy: metrics.tokenAccuracy, heldOutSize: metrics.size },
    training: {
      command: reproduceCommand(options, steps),
      steps,
      seconds: Math.round(seconds * 10) / 10,
      backend,
      seed: options.seed,
      batch: options.batch,
      lr: options.lr,
      warmup: options.warmup,
      decay: options.decay,
      decaySteps: options.decaySteps,
      minLr: options.minLr,
      beta1: options.beta1,
      beta2: options.beta2,
      clip: options.clip,
      tfjs: tf.version.tfjs,
    },
  };
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}\n\n${TRAIN_USAGE}`);
      process.exit(2);
    }
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    if (process.env.DEBUG) console.error(error);
    process.exit(1);
  },
);
