import * as fs from 'node:fs';
import * as path from 'node:path';

import { initBackend } from '../../src/backend';
import { readTaskJson } from '../../src/model/task_json';
import { parseTrainArgs, TrainOptions } from '../../src/train/options';
import { balancedShare } from '../../src/train/recipe';
import { TrainingRun } from '../../src/train/run';
import { estimateTargetStep } from '../../src/train/progress';
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
        '--label-smoothing 0 --weight-decay 0 --length-balanced 0 --length-balanced-steps 0 --init-scale 1 ' +
        `--seed 1 --eval-every 2 --target-exact-match 0 --out ${out}`,
    );
    expect(info.config).toMatchObject({ embeddingDim: 32, vocabularySize: 13, normalizeFirst: true });
    fs.rmSync(out, { recursive: true });
  });

  it('--init-scale multiplies the initial kernels and embeddings, not biases or layer norms', async () => {
    const plain = await TrainingRun.create({ options: options([]), backend: 'wasm' });
    const scaled = await TrainingRun.create({ options: options(['--init-scale', '0.5']), backend: 'wasm' });
    const values = (run: TrainingRun) => run.model.weights.map((w) => Array.from(w.read().dataSync()));
    const [a, b] = [values(plain), values(scaled)];
    plain.model.weights.forEach((w, i) => {
      const factor = w.shape.length >= 2 ? 0.5 : 1;
      expect({ name: w.originalName, values: b[i] }).toEqual({
        name: w.originalName,
        values: a[i].map((x) => Math.fround(x * factor)),
      });
    });
    // There are rank-1 weights (biases, layer norms), and the check above left them unscaled.
    expect(plain.model.weights.filter((w) => w.shape.length < 2).length).toBeGreaterThan(0);
    plain.dispose();
    scaled.dispose();
  });

  it('stops at the first evaluation whose exact match reaches the target, equal included', async () => {
    const run = await TrainingRun.create({
      options: options(['--steps', '50', '--eval-every', '2', '--target-exact-match', '0.5']),
      backend: 'wasm',
    });
    const scores = [0.25, 0.5, 0.75];
    let evaluations = 0;
    run.evaluate = async () => {
      const entry = {
        type: 'eval' as const,
        step: run.trainer.stepCount,
        exactMatch: scores[evaluations++],
        tokenAccuracy: 0,
        loss: 0,
        size: 512,
        seconds: 0,
        failures: [],
      };
      run.log.push(entry);
      return entry;
    };
    expect(await run.train()).toEqual({
      stopReason: 'held-out exact match 0.5000 >= --target-exact-match 0.5',
      interrupted: false,
    });
    expect([run.trainer.stepCount, evaluations]).toEqual([4, 2]);
    run.dispose();
  });

  it("logs each window's mean loss, token accuracy and gradient norm over its steps", async () => {
    const run = await TrainingRun.create({ options: options(['--steps', '6', '--log-every', '3']), backend: 'wasm' });
    const steps: Array<{ loss: number; tokenAccuracy: number; gradNorm: number }> = [];
    const step = run.trainer.step.bind(run.trainer);
    run.trainer.step = async (batch) => {
      const result = await step(batch);
      steps.push(result);
      return result;
    };
    await run.train();
    const mean = (key: 'loss' | 'tokenAccuracy' | 'gradNorm', from: number) =>
      steps.slice(from, from + 3).reduce((sum, r) => sum + r[key], 0) / 3;
    const logged = run.log.filter((e) => e.type === 'train');
    expect(logged.map((e) => e.step)).toEqual([3, 6]);
    logged.forEach((entry, w) => {
      for (const key of ['loss', 'tokenAccuracy', 'gradNorm'] as const) {
        expect((entry as unknown as Record<string, number>)[key]).toBeCloseTo(mean(key, 3 * w), 10);
      }
    });
    // Not a constant: the windows differ.
    expect(logged[0].gradNorm).not.toBe(logged[1].gradNorm);
    run.dispose();
  });

  it("reports the target and the trend's estimated step from its evaluations", async () => {
    const run = await TrainingRun.create({ options: options(['--target-exact-match', '0.9']), backend: 'wasm' });
    expect(run.targetProgress()).toEqual({ exactMatch: 0.9, lastExactMatch: undefined, estimatedStep: undefined });
    const evals = [
      { step: 50, exactMatch: 0.1 },
      { step: 75, exactMatch: 0.2 },
      { step: 100, exactMatch: 0.3 },
    ];
    for (const e of evals)
      run.log.push({ type: 'eval', ...e, tokenAccuracy: 0, loss: 0, size: 512, seconds: 0, failures: [] });
    run.lastEval = run.log[run.log.length - 1] as never;
    expect(run.targetProgress()).toEqual({
      exactMatch: 0.9,
      lastExactMatch: 0.3,
      estimatedStep: estimateTargetStep(evals, 0.9),
    });
    expect(estimateTargetStep(evals, 0.9)).toBeGreaterThan(100);
    run.dispose();
    const never = await TrainingRun.create({ options: options(['--target-exact-match', '0']), backend: 'wasm' });
    expect(never.targetProgress()).toBeUndefined();
    never.dispose();
  });

  it('draws the length-balanced share of --length-balanced, falling linearly to 0 at --length-balanced-steps', () => {
    const curriculum = options(['--length-balanced', '0.8', '--length-balanced-steps', '100']);
    expect([1, 51, 101, 500].map((step) => balancedShare(curriculum, step))).toEqual([0.8, 0.4, 0, 0]);
    const constant = options(['--length-balanced', '0.5']);
    expect([1, 1000].map((step) => balancedShare(constant, step))).toEqual([0.5, 0.5]);
    expect(balancedShare(options([]), 1)).toBe(0);
  });
});
