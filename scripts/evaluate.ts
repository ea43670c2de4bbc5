/**
 * Evaluates a trained model on its task's held-out set (README, "Toy tasks":
 * metrics): greedy exact match, teacher-forced token accuracy, and a few
 * wrong decodings.
 *
 *     npm run evaluate -- --model models/reverse
 *     npm run evaluate -- --model models/sort --set fresh --json
 *
 * Exit codes: 0 done; 1 the model folder cannot be used (the message names the
 * file and what is wrong); 2 bad command line.
 */
import { initBackend } from '../src/backend';
import { loadSeq2Seq } from '../src/model/seq2seq';
import { encodeBatch, freshTestSet, heldOutSet } from '../src/tasks';
import { evaluateSeq2Seq } from '../src/train/evaluate';
import { EVALUATE_USAGE, parseEvaluateArgs } from '../src/train/options';
import { runMain } from './cli';

async function main(argv: string[]): Promise<number> {
  // --- Arguments -----------------------------------------------------------
  const parsed = parseEvaluateArgs(argv);
  if (parsed.help) {
    console.log(EVALUATE_USAGE);
    return 0;
  }
  const options = parsed.options;
  const backend = await initBackend(options.backend, { quiet: options.json });

  // --- Model and data ------------------------------------------------------
  const seq2seq = await loadSeq2Seq(options.model);
  const task = seq2seq.task;
  if (task === null) {
    throw new Error(
      `${options.model}/task.json names task '${seq2seq.info.task.name}', which is not one of the toy tasks`,
    );
  }
  const all = options.set === 'fresh' ? freshTestSet(task) : heldOutSet(task);
  const samples = all.slice(0, options.count ?? all.length);

  // --- Evaluate --------------------------------------------------------------
  const start = Date.now();
  const result = await evaluateSeq2Seq(seq2seq.model, samples, (s) => encodeBatch(task, s), {
    maxLength: seq2seq.maxTargetLength,
    maxFailures: options.failures,
  });
  const seconds = (Date.now() - start) / 1000;
  const failures = result.failures.map((f) => ({
    input: task.tokensToString(f.source),
    expected: task.tokensToString(f.expected),
    got: task.tokensToString(f.got),
  }));

  // --- Report ----------------------------------------------------------------
  if (options.json) {
    const { exactMatch, tokenAccuracy, loss, size } = result;
    console.log(
      JSON.stringify({
        model: options.model,
        task: task.name,
        set: options.set,
        backend,
        exactMatch,
        tokenAccuracy,
        loss,
        size,
        seconds,
        failures,
      }),
    );
  } else {
    const wrong = Math.round((1 - result.exactMatch) * result.size);
    console.log(`${options.model}: ${task.name}, ${options.set} set, ${result.size} samples, backend ${backend}`);
    console.log(
      `exact match     ${result.exactMatch.toFixed(4)}  (${result.size - wrong}/${result.size}, greedy decoding)`,
    );
    console.log(
      `token accuracy  ${result.tokenAccuracy.toFixed(4)}  (teacher forcing; loss ${result.loss.toFixed(4)})`,
    );
    if (failures.length > 0) console.log(`first ${failures.length} of ${wrong} wrong:`);
    for (const f of failures)
      console.log(`  ${f.input} -> expected ${f.expected}, got ${f.got === '' ? '(nothing)' : f.got}`);
  }
  seq2seq.dispose();
  return 0;
}

runMain(main, 'npm run evaluate -- --help');
