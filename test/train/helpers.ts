/** Shared set-up of the training tests: a seeded tiny model on a toy task; running the scripts. */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { presetConfig, PresetName } from '../../src/model/config';
import { createTransformer } from '../../src/model/transformer';
import { createTask, TaskName } from '../../src/tasks';
import { withSeededRandom } from '../../src/train/seed';

export function tinySetup(taskName: TaskName = 'copy', seed = 1, preset: PresetName = 'tiny', normalizeFirst = true) {
  const task = createTask(taskName);
  const config = presetConfig(preset, task, { normalizeFirst });
  const model = withSeededRandom(seed, () => createTransformer(config));
  return { task, config, model };
}

/** The repository, where the scripts run. */
const ROOT = path.resolve(__dirname, '../..');

/** `run` exited with `code`; on failure the message shows its stderr. */
export function expectExit(run: Run, code: number): void {
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code, stderr: run.code === code ? run.stderr : '(any)' });
}

/** A fast run: tiny model on copy, wasm, no early stop. */
export const TINY_TRAIN_ARGS = [
  '--task',
  'copy',
  '--preset',
  'tiny',
  '--backend',
  'wasm',
  '--batch',
  '32',
  '--target-exact-match',
  '0',
];

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a script (default the training script) as a child process; `watch` sees stdout as it grows
 * and may kill the child.
 */
export function train(
  args: string[],
  watch?: (stdout: string, child: ChildProcess) => void,
  script = 'scripts/train.ts',
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', script, ...args], {
      cwd: ROOT,
      env: { ...process.env, TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json') },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      watch?.(stdout, child);
    });
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'train-cli-'));
}
