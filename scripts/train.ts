/**
 * Trains a seq2seq Transformer on a toy task (README, "Toy tasks") and saves
 * it with its task.json, training log, curve and checkpoint.
 *
 *     npm run train                                  # reverse, reference config, into models/runs/reverse
 *     npm run train -- --task copy --preset tiny --steps 600 --out /tmp/copy
 *     npm run train -- --resume                      # continue models/runs/reverse from its checkpoint
 *
 * `--help` lists every flag. Exit codes: 0 done (step limit, target exact
 * match or --max-seconds reached); 1 error (e.g. the loss became NaN: the last
 * checkpoint is left as it was); 2 bad command line; 130 interrupted by Ctrl-C
 * after saving a checkpoint.
 */
import * as path from 'node:path';

import { initBackend } from '../src/backend';
import { Checkpoint, CHECKPOINT_FILE, readCheckpoint } from '../src/train/checkpoint';
import { describeRecipe, parseTrainArgs, resumeOptions, TRAIN_USAGE } from '../src/train/options';
import { CheckpointExtra, formatFailures, TrainingRun } from '../src/train/run';
import { NonFiniteLossError } from '../src/train/trainer';
import { runMain } from './cli';

async function main(argv: string[]): Promise<number> {
  // --- Arguments (a checkpoint's settings when resuming) -----------------------
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
    options = resumeOptions(resumed.extra.options, options, parsed.explicit);
  }
  const backend = await initBackend(options.backend);

  // --- Data, model and trainer ----------------------------------------------------
  const run = await TrainingRun.create({ options, backend, resumed, save: true, display: process.stdout });
  console.log(describeRecipe(options));
  console.log(run.describe());

  // --- Loop -------------------------------------------------------------------------
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) process.exit(130); // a second Ctrl-C: every file on disk is whole anyway
    interrupted = true;
    run.progress.print('interrupted: saving a checkpoint (Ctrl-C again to quit at once)');
  });
  let outcome;
  try {
    outcome = await run.train(() => interrupted);
  } catch (error) {
    if (!(error instanceof NonFiniteLossError)) throw error;
    run.progress.clear();
    console.error(`error: ${error.message}`);
    console.error(`the last good checkpoint (if any) is untouched: ${checkpointFile}`);
    return 1;
  }

  // --- Save -------------------------------------------------------------------------
  await run.save(outcome.stopReason);
  const final = run.lastEval!;
  run.progress.print(
    `done: ${outcome.stopReason}; step ${run.trainer.stepCount}, ${run.seconds.toFixed(1)} s of training steps, ` +
      `held-out exact match ${final.exactMatch.toFixed(4)}, token accuracy ${final.tokenAccuracy.toFixed(4)} -> ${out}`,
  );
  // The wrong answers once, at the end (--verbose printed every evaluation's).
  if (!options.verbose && final.failures.length > 0) {
    const wrong = Math.round((1 - final.exactMatch) * final.size);
    run.progress.print(`first ${final.failures.length} of the ${wrong} wrong decodings:`);
    for (const line of formatFailures(final)) run.progress.print(line);
  }
  run.dispose();
  return outcome.interrupted ? 130 : 0;
}

runMain(main, 'npm run train -- --help');
