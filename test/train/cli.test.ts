/**
 * scripts/train.ts as a user runs it: a child process. Exit codes, messages,
 * and what is on disk after an interruption, a kill or a diverging run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../../src/backend';
import '../../src'; // registers the layers and the file:// handler
import { readTaskJson } from '../../src/model/task_json';
import { CHECKPOINT_FILE, decodeCheckpoint, encodeCheckpoint, readCheckpoint } from '../../src/train/checkpoint';
import { expectExit, tempDir, TINY_TRAIN_ARGS as TINY, train } from './helpers';

beforeAll(() => initBackend('wasm', { quiet: true }));

describe('npm run train: command-line errors', () => {
  const cases: Array<[string[], string]> = [
    [['--taks', 'reverse'], 'error: unknown option --taks (did you mean --task?)'],
    [['--frobnicate'], 'error: unknown option --frobnicate;'],
    [['--task', 'juggle'], "error: --task must be one of copy, reverse, sort, addition, got 'juggle'"],
    [['--steps', 'ten'], "error: --steps must be an integer >= 1, got 'ten'"],
    [['--batch', '0'], "error: --batch must be an integer in [1, 65536], got '0'"],
  ];

  it(
    'unknown flag, unknown task, non-numeric or out-of-range ' +
      'number: exit code 2, one line (the nearest flag, where the options are listed), no usage, no stack trace',
    async () => {
      // In parallel: each run is mostly process start-up.
      const runs = await Promise.all(cases.map(([args]) => train(args)));
      runs.forEach((run, i) => {
        expect({ args: cases[i][0], code: run.code, stderr: run.stderr }).toEqual({
          args: cases[i][0],
          code: 2,
          stderr: expect.stringMatching(/^[^\n]*; npm run train -- --help lists every option\n$/),
        });
        expect(run.stderr).toContain(cases[i][1]);
        expect(run.stdout).toBe('');
      });
    },
  );

  it('--resume without a checkpoint exits 1 naming the file', async () => {
    const out = tempDir();
    const missing = await train([...TINY, '--resume', '--out', out]);
    expect({ code: missing.code, stderr: missing.stderr }).toEqual({
      code: 1,
      stderr: expect.stringContaining(`error: no training checkpoint at ${path.join(out, CHECKPOINT_FILE)}`),
    });
    expect(missing.stderr).not.toMatch(/^\s+at /m);
    fs.rmSync(out, { recursive: true });
  });
});

describe('npm run train: interruptions', () => {
  it(
    'a run killed between checkpoints leaves a loadable model; ' +
      '--resume reaches the same weights as an uninterrupted run',
    async () => {
      const args = [...TINY, '--steps', '40', '--checkpoint-every', '10', '--eval-every', '10', '--log-every', '5'];
      const straightOut = tempDir();
      const killedOut = tempDir();
      const [straight, killed] = await Promise.all([
        train([...args, '--out', straightOut]),
        // SIGKILL (no handler runs) once the step-10 checkpoint is reported: ten steps before the next.
        train([...args, '--out', killedOut], (stdout, child) => {
          if (/^checkpoint saved at step 10 /m.test(stdout)) child.kill('SIGKILL');
        }),
      ]);
      expectExit(straight, 0);
      expect(killed.signal).toBe('SIGKILL');
      expect(killed.stdout).toContain('checkpoint saved at step 10');
      expect(killed.stdout).not.toContain('checkpoint saved at step 20');

      // The folder is whole: plain tfjs loads the model, task.json and the checkpoint agree on step 10.
      const model = await tf.loadLayersModel(`file://${killedOut}/model.json`);
      expect(model.outputs[0].shape).toEqual([null, null, 13]);
      model.dispose();
      expect((await readTaskJson(killedOut)).training.steps).toBe(10);
      expect((await readCheckpoint(path.join(killedOut, CHECKPOINT_FILE))).state.step).toBe(10);

      const resumed = await train([...args, '--out', killedOut, '--resume']);
      expectExit(resumed, 0);
      expect(resumed.stdout).toMatch(/^resuming at step 10: copy on wasm/m);
      const info = await readTaskJson(killedOut);
      expect(info.training.steps).toBe(40);
      expect(fs.readFileSync(path.join(killedOut, 'weights.bin'))).toEqual(
        fs.readFileSync(path.join(straightOut, 'weights.bin')),
      );
      // The log continues the checkpoint's log: every step's entry once, same values as the straight run.
      const log = (dir: string) =>
        fs
          .readFileSync(path.join(dir, 'train-log.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
      const strip = (entries: Array<Record<string, unknown>>) =>
        entries.map(({ seconds: _s, stepsPerSecond: _r, ...rest }) => rest);
      expect(strip(log(killedOut))).toEqual(strip(log(straightOut)));
      const straightCommand = (await readTaskJson(straightOut)).training.command;
      expect(info.training.command).toBe(straightCommand.replace(straightOut, killedOut));
      [straightOut, killedOut].forEach((d) => fs.rmSync(d, { recursive: true }));
    },
  );

  it('Ctrl-C (SIGINT) saves a checkpoint at the current step and exits with code 130', async () => {
    const out = tempDir();
    let sent = false;
    const run = await train(
      [...TINY, '--steps', '500', '--checkpoint-every', '1000', '--eval-every', '10', '--log-every', '5', '--out', out],
      (stdout, child) => {
        if (!sent && /^step 10\/500/m.test(stdout)) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    );
    expectExit(run, 130);
    const saved = /checkpoint saved at step (\d+) \(interrupted\)/.exec(run.stdout);
    expect(saved).not.toBeNull();
    const step = Number(saved![1]);
    expect(step).toBeGreaterThanOrEqual(10);
    expect((await readCheckpoint(path.join(out, CHECKPOINT_FILE))).state.step).toBe(step);
    expect((await readTaskJson(out)).training.steps).toBe(step);
    fs.rmSync(out, { recursive: true });
  });

  it(
    'a loss that becomes NaN stops the run with a clear ' + 'message and leaves the last checkpoint as it was',
    async () => {
      const out = tempDir();
      const args = [...TINY, '--steps', '10', '--eval-every', '10', '--out', out];
      expectExit(await train(args), 0);
      // Finite weights whose logits overflow float32 on the next step.
      const file = path.join(out, CHECKPOINT_FILE);
      const checkpoint = decodeCheckpoint(fs.readFileSync(file), file);
      const kernel = checkpoint.weightSpecs.findIndex((w) => w.name.startsWith('logits/kernel'));
      expect(kernel).toBeGreaterThanOrEqual(0);
      checkpoint.state.weights[kernel].fill(3e38);
      fs.writeFileSync(file, encodeCheckpoint(checkpoint));
      const before = ['checkpoint.bin', 'model.json', 'weights.bin', 'task.json'].map((f) =>
        fs.readFileSync(path.join(out, f)),
      );

      const run = await train([...TINY, '--steps', '20', '--out', out, '--resume']);
      expectExit(run, 1);
      expect(run.stderr).toContain('error: training diverged at step 11: loss NaN');
      expect(run.stderr).toContain(`the last good checkpoint (if any) is untouched: ${file}`);
      const after = ['checkpoint.bin', 'model.json', 'weights.bin', 'task.json'].map((f) =>
        fs.readFileSync(path.join(out, f)),
      );
      after.forEach((bytes, i) => expect(bytes.equals(before[i])).toBe(true));
      fs.rmSync(out, { recursive: true });
    },
  );
});
