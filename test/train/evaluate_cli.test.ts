/** scripts/evaluate.ts as a user runs it: a child process. */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { initBackend } from '../../src/backend';
import { parseTrainArgs } from '../../src/train/options';
import { TrainingRun } from '../../src/train/run';
import { expectExit, tempDir, TINY_TRAIN_ARGS as TINY, train } from './helpers';

beforeAll(() => initBackend('wasm', { quiet: true }));

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
      evaluate(['--model', out, '--count', '64', '--json', '--backend', 'wasm']),
      evaluate(['--model', path.join(out, 'nope')]),
      evaluate(['--model', out, '--count', 'all']),
    ]);
    expectExit(ok, 0);
    expect(ok.stdout).toMatch(/^exact match {5}0\.\d{4} {2}\(\d+\/64, greedy decoding\)$/m);
    expect(ok.stdout).toMatch(/^token accuracy {2}0\.\d{4}/m);
    expect(ok.stdout.match(/^ {2}\S+ -> expected \S+, got /gm)).toHaveLength(2);
    expectExit(json, 0);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({ task: 'copy', set: 'held-out', size: 64, backend: 'wasm' });
    expect(report.exactMatch).toBeGreaterThanOrEqual(0);
    expectExit(missing, 1);
    expect(missing.stderr).toContain(`model folder ${path.join(out, 'nope')} does not exist`);
    expectExit(badFlag, 2);
    expect(badFlag.stderr.split('\n')[0]).toBe("error: --count must be an integer in [1, 512], got 'all'");
    fs.rmSync(out, { recursive: true });
  });
});
