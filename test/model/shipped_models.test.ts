/**
 * The trained models under models/: each answers its task on the fresh test set
 * (FRESH_TEST_SEED, a seed training never uses and whose samples training filters out) and on
 * the held-out set (HELD_OUT_SEED, the 512 samples training evaluates on), through the public
 * API a user calls, `loadSeq2Seq(...).generate` (greedy). Both exact matches are computed here
 * from the weights and must be the README's shipped-models table, to the digits it shows; so
 * must each folder's size. Also what each folder must hold to be shipped: the three files, no
 * checkpoint, and a task.json whose command retrains it.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadSeq2Seq, Seq2Seq } from '../../src';
import { freshTestSet, heldOutSet, TASK_NAMES } from '../../src/tasks';
import { initBackend } from '../../src/backend';
import { figuresIn, readmeTable, readReadme, toDigitsShown } from '../helpers/readme_tables';
import { recordMargin } from '../helpers/test_output';

const MODELS = path.join(__dirname, '../../models');
const FRESH_SAMPLES = 400;
const HELD_OUT_SAMPLES = 512;

/** The README's shipped-models table, by task. */
const README_ROWS = new Map(
  readmeTable(readReadme(), [
    'model',
    `held-out exact match (${HELD_OUT_SAMPLES})`,
    `fresh exact match (${FRESH_SAMPLES})`,
    'training',
    'size (bytes)',
  ]).map(([model, heldOut, fresh, , size]) => [model.replace(/^`models\/(.*)`$/, '$1'), { heldOut, fresh, size }]),
);

beforeAll(async () => {
  await initBackend('wasm', { quiet: true });
});

/** Greedy exact match of `model` on `samples`, leaving no tensors behind; kept in test-output/margins.jsonl. */
async function exactMatchOn(
  model: Seq2Seq,
  samples: Array<{ source: number[]; target: number[] }>,
  label: string,
): Promise<{ exactMatch: number; wrong: string[] }> {
  const before = tf.memory().numTensors;
  const outputs = await model.generate(samples.map((s) => s.source));
  expect(tf.memory().numTensors).toBe(before);
  const wrong = samples.filter((s, i) => outputs[i].join(',') !== s.target.join(','));
  const exactMatch = 1 - wrong.length / samples.length;
  recordMargin('shipped_models', { label, exactMatch, right: samples.length - wrong.length, of: samples.length });
  return {
    exactMatch,
    wrong: wrong.map((s) => `${model.tokensToString(s.source)} -> ${model.tokensToString(s.target)}`),
  };
}

describe.each(TASK_NAMES.map((task) => [task]))('models/%s', (task) => {
  const folder = path.join(MODELS, task);
  const row = README_ROWS.get(task);
  let model: Seq2Seq;

  beforeAll(async () => {
    model = await loadSeq2Seq(folder);
  });

  afterAll(() => model?.dispose());

  it('is in the README table', () => {
    expect(row).toBeDefined();
  });

  it("holds model.json, weights.bin and task.json, is the README's size (about 1 MB), says how it was trained", () => {
    for (const file of ['model.json', 'weights.bin', 'task.json']) {
      expect(fs.existsSync(path.join(folder, file))).toBe(true);
    }
    const shipped = fs.readdirSync(folder).filter((name) => !name.startsWith('.'));
    expect(shipped).not.toContain('checkpoint.bin'); // optimizer state: for resuming, not for users
    const bytes = shipped.reduce((sum, name) => sum + fs.statSync(path.join(folder, name)).size, 0);
    // The README: "each about 1 MB", and the exact size in its table.
    expect(bytes.toLocaleString('en-US')).toBe(row!.size);
    expect(Math.abs(bytes - 1e6)).toBeLessThan(0.1e6);
    const info = JSON.parse(fs.readFileSync(path.join(folder, 'task.json'), 'utf8'));
    expect(info.task.name ?? info.task).toBe(task);
    expect(info.training.command).toContain(`--task ${task}`);
  });

  it(`answers >= 0.99 of ${FRESH_SAMPLES} fresh samples exactly (greedy): the README's figure`, async () => {
    const samples = freshTestSet(model.task!).slice(0, FRESH_SAMPLES);
    expect(samples).toHaveLength(FRESH_SAMPLES);
    const { exactMatch, wrong } = await exactMatchOn(model, samples, `models/${task}: fresh exact match`);
    if (exactMatch < 0.99) {
      throw new Error(
        `${task}: exact match ${exactMatch.toFixed(4)} < 0.99 on fresh samples; wrong: ${wrong.slice(0, 5).join('; ')}`,
      );
    }
    expect(toDigitsShown(exactMatch, figuresIn(row!.fresh)[0])).toBe(row!.fresh);
  });

  it(`answers the ${HELD_OUT_SAMPLES} held-out samples as the README and task.json say (greedy)`, async () => {
    const samples = heldOutSet(model.task!);
    expect(samples).toHaveLength(HELD_OUT_SAMPLES);
    const { exactMatch } = await exactMatchOn(model, samples, `models/${task}: held-out exact match`);
    expect(toDigitsShown(exactMatch, figuresIn(row!.heldOut)[0])).toBe(row!.heldOut);
    // The figure training recorded is the one these weights give.
    const info = JSON.parse(fs.readFileSync(path.join(folder, 'task.json'), 'utf8'));
    expect(info.metrics.heldOutSize).toBe(HELD_OUT_SAMPLES);
    expect(exactMatch).toBe(info.metrics.heldOutExactMatch);
    expect(exactMatch).toBeGreaterThanOrEqual(0.99);
  });
});
