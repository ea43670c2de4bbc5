/**
 * The trained models under models/: each answers its task on the fresh test
 * set (FRESH_TEST_SEED, a seed training never uses and whose samples training
 * filters out), through the public API a user calls, `loadSeq2Seq(...).generate`.
 * Also what each folder must hold to be shipped: the three files, under 2 MB,
 * and a task.json whose command retrains it.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { freshTestSet, loadSeq2Seq, TASK_NAMES } from '../../src';
import { initBackend } from '../../src/backend';

const MODELS = path.join(__dirname, '../../models');
const FRESH_SAMPLES = 400;
const MAX_FOLDER_BYTES = 2 * 1024 * 1024;

beforeAll(async () => {
  await initBackend('wasm', { quiet: true });
});

describe.each(TASK_NAMES.map((task) => [task]))('models/%s', (task) => {
  const folder = path.join(MODELS, task);

  it('holds model.json, weights.bin and task.json (under 2 MB), and task.json says how it was trained', () => {
    for (const file of ['model.json', 'weights.bin', 'task.json']) {
      expect(fs.existsSync(path.join(folder, file))).toBe(true);
    }
    const shipped = fs.readdirSync(folder).filter((name) => !name.startsWith('.'));
    const bytes = shipped.reduce((sum, name) => sum + fs.statSync(path.join(folder, name)).size, 0);
    expect(bytes).toBeLessThan(MAX_FOLDER_BYTES);
    expect(shipped).not.toContain('checkpoint.bin'); // optimizer state: for resuming, not for users
    const info = JSON.parse(fs.readFileSync(path.join(folder, 'task.json'), 'utf8'));
    expect(info.task.name ?? info.task).toBe(task);
    expect(info.training.command).toContain(`--task ${task}`);
    expect(info.metrics.heldOutExactMatch).toBeGreaterThanOrEqual(0.99);
  });

  it(`answers >= 0.99 of ${FRESH_SAMPLES} fresh samples exactly (greedy), without leaking tensors`, async () => {
    const model = await loadSeq2Seq(folder);
    const samples = freshTestSet(model.task!).slice(0, FRESH_SAMPLES);
    const before = tf.memory().numTensors;
    const outputs = await model.generate(samples.map((s) => s.source));
    expect(tf.memory().numTensors).toBe(before);
    const wrong = samples.filter((s, i) => outputs[i].join(',') !== s.target.join(','));
    const exactMatch = 1 - wrong.length / samples.length;
    // Printed so the CI log shows each model's margin.
    console.log(
      `models/${task}: fresh exact match ${exactMatch.toFixed(4)} (${samples.length - wrong.length}/${samples.length})`,
    );
    if (exactMatch < 0.99) {
      const shown = wrong
        .slice(0, 5)
        .map((s) => `${model.tokensToString(s.source)} -> ${model.tokensToString(s.target)}`);
      throw new Error(
        `${task}: exact match ${exactMatch.toFixed(4)} < 0.99 on fresh samples; wrong: ${shown.join('; ')}`,
      );
    }
    expect(exactMatch).toBeGreaterThanOrEqual(0.99);
    model.dispose();
  });
});
