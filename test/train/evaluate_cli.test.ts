/** scripts/evaluate.ts as a user runs it: a child process. */
import * as fs from 'node:fs';
import * as path from 'node:path';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../../src/backend';
import { loadSeq2Seq } from '../../src/model/seq2seq';
import { encodeBatch, heldOutSet } from '../../src/tasks';
import { parseTrainArgs } from '../../src/train/options';
import { TrainingRun } from '../../src/train/run';
import { expectExit, tempDir, TINY_TRAIN_ARGS as TINY, train } from './helpers';

beforeAll(() => initBackend('wasm', { quiet: true }));

const SHIPPED = path.join(__dirname, '../../models/addition');

/**
 * The figures of `npm run evaluate` computed here another way: greedy decoding through the public
 * `Seq2Seq.generate`, token accuracy and loss from the logits in plain JavaScript (float64).
 */
async function independentFigures(folder: string, count: number) {
  const seq2seq = await loadSeq2Seq(folder);
  const task = seq2seq.task!;
  const samples = heldOutSet(task).slice(0, count);
  const decoded = await seq2seq.generate(samples.map((s) => s.source));
  const wrong = samples
    .map((s, i) => ({ ...s, got: decoded[i] }))
    .filter((s) => s.got.join(',') !== s.target.join(','));
  const batch = encodeBatch(task, samples);
  const logits = tf.tidy(() =>
    (
      seq2seq.model.predict([
        tf.tensor2d(batch.source, [batch.batchSize, batch.sourceLength], 'int32'),
        tf.tensor2d(batch.decoderInput, [batch.batchSize, batch.targetLength], 'int32'),
      ]) as tf.Tensor
    ).dataSync(),
  );
  const vocab = logits.length / batch.decoderTarget.length;
  let [right, tokens, lossSum] = [0, 0, 0];
  batch.decoderTarget.forEach((target, position) => {
    if (target === 0) return; // PAD
    const row = Array.from(logits.subarray(position * vocab, (position + 1) * vocab));
    const max = Math.max(...row);
    if (row.indexOf(max) === target) right++;
    lossSum += max + Math.log(row.reduce((sum, l) => sum + Math.exp(l - max), 0)) - row[target];
    tokens++;
  });
  seq2seq.dispose();
  const show = (ids: number[]) => task.tokensToString(ids);
  return {
    exact: count - wrong.length,
    tokenAccuracy: right / tokens,
    loss: lossSum / tokens,
    failureLines: wrong.map(
      (s) => `  ${show(s.source)} -> expected ${show(s.target)}, got ${show(s.got) || '(nothing)'}`,
    ),
  };
}

describe('npm run evaluate', () => {
  const evaluate = (args: string[]) => train(args, undefined, 'scripts/evaluate.ts');

  it('prints exact match, token accuracy and failures of a model folder; errors name the folder or flag', async () => {
    // A model folder written in-process by the training loop (5 steps: a poor model, so there are failures).
    const out = tempDir();
    const parsed = parseTrainArgs([...TINY, '--steps', '5', '--out', out]);
    if (parsed.help) throw new Error('unexpected --help');
    const run = await TrainingRun.create({ options: parsed.options, backend: 'wasm', save: true });
    await run.save((await run.train()).stopReason);
    run.dispose();

    const [ok, json, missing, badFlag] = await Promise.all([
      evaluate(['--model', out, '--count', '64', '--failures', '2', '--backend', 'wasm']),
      // A shipped model on its whole held-out set (512), whose figures its task.json records.
      evaluate(['--model', SHIPPED, '--json', '--backend', 'wasm']),
      evaluate(['--model', path.join(out, 'nope')]),
      evaluate(['--model', out, '--count', 'all']),
    ]);
    const expected = await independentFigures(out, 64);
    expect(expected.failureLines.length).toBeGreaterThanOrEqual(2); // a poor model: there are failures to show
    expectExit(ok, 0);
    const lines = ok.stdout.split('\n');
    expect(lines).toContain(
      `exact match     ${(expected.exact / 64).toFixed(4)}  (${expected.exact}/64, greedy decoding)`,
    );
    const accuracy = /^token accuracy {2}(0\.\d{4}) {2}\(teacher forcing; loss (\d+\.\d{4})\)$/m.exec(ok.stdout);
    expect(accuracy).not.toBeNull();
    // Printed to 4 decimals: within half a unit of the last digit (and float32 rounding for the loss).
    expect(Math.abs(Number(accuracy![1]) - expected.tokenAccuracy)).toBeLessThanOrEqual(5e-5 + 1e-9);
    expect(Math.abs(Number(accuracy![2]) - expected.loss)).toBeLessThan(5e-5 + 1e-5);
    expect(lines).toContain(`first 2 of ${expected.failureLines.length} wrong:`);
    expect(ok.stdout.match(/^ {2}\S+ -> expected \S+, got .*$/gm)).toEqual(expected.failureLines.slice(0, 2));
    expectExit(json, 0);
    const metrics = JSON.parse(fs.readFileSync(path.join(SHIPPED, 'task.json'), 'utf8')).metrics;
    expect(metrics.heldOutSize).toBe(512);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({
      model: SHIPPED,
      task: 'addition',
      set: 'held-out',
      size: 512,
      backend: 'wasm',
      exactMatch: metrics.heldOutExactMatch,
      tokenAccuracy: expect.closeTo(metrics.heldOutTokenAccuracy, 9),
    });
    // The default --failures 3, or fewer when fewer are wrong.
    expect(report.failures).toHaveLength(Math.min(3, Math.round((1 - report.exactMatch) * 512)));
    expectExit(missing, 1);
    expect(missing.stderr).toContain(`model folder ${path.join(out, 'nope')} does not exist`);
    expectExit(badFlag, 2);
    expect(badFlag.stderr).toBe(
      "error: --count must be an integer in [1, 512], got 'all'; npm run evaluate -- --help lists every option\n",
    );
    fs.rmSync(out, { recursive: true });
  });
});
