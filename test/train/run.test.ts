import * as fs from 'node:fs';
import * as path from 'node:path';

import { initBackend } from '../../src/backend';
import { readTaskJson } from '../../src/io/task_json';
import { parseTrainArgs, TrainOptions } from '../../src/train/options';
import { TrainingRun } from '../../src/train/run';
import { tempDir, TINY_TRAIN_ARGS } from './helpers';

beforeAll(() => initBackend('wasm', { quiet: true }));

function options(args: string[]): TrainOptions {
  const parsed = parseTrainArgs([...TINY_TRAIN_ARGS, ...args]);
  if (parsed.help) throw new Error('unexpected --help');
  return parsed.options;
}

describe('TrainingRun', () => {
  it('stops at --max-seconds, and when interrupted', async () => {
    const timed = await TrainingRun.create({
      options: options(['--steps', '1000', '--max-seconds', '0.001']),
      backend: 'wasm',
    });
    expect(await timed.train()).toEqual({ stopReason: 'reached --max-seconds 0.001', interrupted: false });
    expect(timed.trainer.stepCount).toBe(1);
    timed.dispose();

    // interrupted() is asked before every step. (Early stopping at the target exact match is
    // covered by train_copy.test.ts.)
    const stopped = await TrainingRun.create({ options: options(['--steps', '1000']), backend: 'wasm' });
    let calls = 0;
    expect(await stopped.train(() => ++calls > 3)).toEqual({ stopReason: 'interrupted', interrupted: true });
    expect(stopped.trainer.stepCount).toBe(3);
    stopped.dispose();
  });

  it('saves a folder whose task.json describes the saved weights and reproduces the run', async () => {
    const out = tempDir();
    const run = await TrainingRun.create({
      options: options(['--steps', '3', '--log-every', '1', '--eval-every', '2', '--out', out]),
      backend: 'wasm',
      save: true,
    });
    const outcome = await run.train();
    await run.save(outcome.stopReason);
    run.dispose();
    expect(fs.readdirSync(out).sort()).toEqual([
      'checkpoint.bin',
      'model.json',
      'task.json',
      'train-log.jsonl',
      'training-curve.svg',
      'weights.bin',
    ]);
    const info = await readTaskJson(out);
    const log = fs
      .readFileSync(path.join(out, 'train-log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // Evaluated at step 2 (eval-every) and again at step 3 before saving: metrics are of the saved weights.
    expect(log.filter((e) => e.type === 'eval').map((e) => e.step)).toEqual([2, 3]);
    expect(log.filter((e) => e.type === 'train').map((e) => e.step)).toEqual([1, 2, 3]);
    expect(info.metrics.heldOutExactMatch).toBe(log[log.length - 1].exactMatch);
    expect(info.metrics.heldOutSize).toBe(512);
    expect(info.training).toMatchObject({ steps: 3, backend: 'wasm', seed: 1, batch: 32 });
    expect(info.training.command).toBe(
      'npm run train -- --task copy --preset tiny --norm pre --steps 3 --batch 32 ' +
        `--lr ${info.training.lr} --warmup ${info.training.warmup} ` +
        `--decay ${info.training.decay} --decay-steps ${info.training.decaySteps} ` +
        `--min-lr ${info.training.minLr} --beta1 0.9 ` +
        `--beta2 ${info.training.beta2} --clip ${info.training.clip} ` +
        `--seed 1 --eval-every 2 --target-exact-match 0 --out ${out}`,
    );
    expect(info.config).toMatchObject({ embeddingDim: 32, vocabularySize: 13, normalizeFirst: true });
    fs.rmSync(out, { recursive: true });
  });
});
