/**
 * Issue 8, "token ids" and "model folder": bad ids passed to a loaded model,
 * and broken model folders given to `loadSeq2Seq` and to `npm run evaluate`.
 * Every error must name the id, length or file, and what was expected.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../../src/backend';
import { fileSystem } from '../../src/io/file_system';
import { ModelLoadError } from '../../src/io/load_error';
import { loadSeq2Seq, Seq2Seq } from '../../src/model/seq2seq';
import { copyFolder, saveModelFolder, tempDir, tinyReverse } from './model_folder';

const ROOT = path.resolve(__dirname, '../..');

let root: string;
/** A whole model folder: tiny preset, reverse task (vocabulary 13, sources up to 12, targets up to 12 + EOS). */
let good: string;
let reverse: Seq2Seq;

beforeAll(async () => {
  await initBackend('cpu', { quiet: true });
  root = tempDir('seq2seq-errors-');
  good = path.join(root, 'good');
  const { model, info } = tinyReverse();
  await saveModelFolder(good, model, info);
  model.dispose();
  reverse = await loadSeq2Seq(good);
});

afterAll(() => {
  reverse?.dispose();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

describe('token ids', () => {
  // The reverse task: symbols 0-9 have ids 3-12; 0-2 are PAD, BOS, EOS.
  const range = 'expected a symbol id, an integer in [3, 12] (0-2 are PAD, BOS, EOS)';
  const tooLong = Array.from({ length: 13 }, () => 3);

  it('the fixture decodes valid ids (so the errors below come from the ids alone)', async () => {
    const [out] = await reverse.generate([[3, 4, 5]]);
    expect(Array.isArray(out)).toBe(true);
    expect(out.length).toBeLessThanOrEqual(12);
    expect(reverse.score([[3, 4]], [[4, 3]])[0]).toBeLessThan(0);
  });

  it.each<[string, unknown[][], string]>([
    ['one past the vocabulary', [[3, 13]], `generate: sources[0][1] is 13; ${range}`],
    ['negative', [[-1]], `generate: sources[0][0] is -1; ${range}`],
    ['PAD inside a source', [[4, 0, 5]], `generate: sources[0][1] is 0; ${range}`],
    ['non-integer', [[3, 4.5]], `generate: sources[0][1] is 4.5; ${range}`],
    ['NaN', [[5], [NaN, 4]], `generate: sources[1][0] is NaN; ${range}`],
    ['a string', [['3']], `generate: sources[0][0] is '3'; ${range}`],
    ['an empty source', [[3], []], 'generate: sources[1] is empty; expected 1 to 12 symbol ids'],
    ['a source longer than the model takes', [tooLong], 'generate: sources[0] has 13 ids; this model takes at most 12'],
  ])('generate rejects %s, naming the id or length and the allowed range', async (_title, sources, message) => {
    await expect(reverse.generate(sources as number[][])).rejects.toThrow(message);
  });

  it.each<[string, () => unknown, string]>([
    [
      'a source id outside the vocabulary',
      () => reverse.score([[3, 99]], [[4]]),
      `score: sources[0][1] is 99; ${range}`,
    ],
    ['a target id outside the vocabulary', () => reverse.score([[3]], [[2]]), `score: targets[0][0] is 2; ${range}`],
    ['a NaN target id', () => reverse.score([[3], [4]], [[3], [NaN]]), `score: targets[1][0] is NaN; ${range}`],
    ['an empty source', () => reverse.score([[]], [[3]]), 'score: sources[0] is empty; expected 1 to 12 symbol ids'],
    [
      'a target longer than the model produces',
      () => reverse.score([[3]], [tooLong]),
      'score: targets[0] has 13 ids; this model takes at most 12',
    ],
    [
      'fewer targets than sources',
      () => reverse.score([[3], [4]], [[3]]),
      'score: targets must be an array with one target per source (2), got [[3]]',
    ],
  ])('score rejects %s', (_title, call, message) => {
    expect(call).toThrow(message);
  });

  it.each<[string, number[], number[], string]>([
    ['a source id outside the vocabulary', [3, 13], [4], `attention: source[1] is 13; ${range}`],
    ['a non-integer target id', [3], [3.25], `attention: target[0] is 3.25; ${range}`],
    ['an empty source', [], [3], 'attention: source is empty; expected 1 to 12 symbol ids'],
    ['a source longer than the model takes', tooLong, [3], 'attention: source has 13 ids; this model takes at most 12'],
  ])('attention rejects %s', async (_title, source, target, message) => {
    await expect(reverse.attention(source, target)).rejects.toThrow(message);
  });
});

describe('model folder', () => {
  let count = 0;
  /** A fresh copy of the good folder, corrupted by `damage`. */
  function broken(damage: (folder: string) => void): string {
    const folder = copyFolder(good, path.join(root, `broken-${++count}`));
    damage(folder);
    return folder;
  }
  const file = (folder: string, name: string) => path.join(folder, name);
  const editTaskJson = (edit: (json: Record<string, any>) => void) => (folder: string) => {
    const json = JSON.parse(fs.readFileSync(file(folder, 'task.json'), 'utf8'));
    edit(json);
    fs.writeFileSync(file(folder, 'task.json'), JSON.stringify(json));
  };

  it('a missing folder is named', async () => {
    const missing = path.join(root, 'no-such-model');
    await expect(loadSeq2Seq(missing)).rejects.toThrow(`loadSeq2Seq: model folder ${missing} does not exist`);
  });

  it('a file given as the folder is named', async () => {
    const notFolder = path.join(root, 'a-file');
    fs.writeFileSync(notFolder, 'x');
    await expect(loadSeq2Seq(notFolder)).rejects.toThrow(
      `loadSeq2Seq: ${notFolder} is not a folder; expected a model folder`,
    );
  });

  it('a missing model.json is named', async () => {
    const folder = broken((f) => fs.rmSync(file(f, 'model.json')));
    await expect(loadSeq2Seq(folder)).rejects.toThrow(
      `Cannot load model: ${file(folder, 'model.json')} does not exist`,
    );
  });

  it('model.json that is not JSON is named', async () => {
    const folder = broken((f) => fs.writeFileSync(file(f, 'model.json'), '{"modelTopology": {'));
    await expect(loadSeq2Seq(folder)).rejects.toThrow(
      new RegExp(`^Cannot load model: ${escapeRegExp(file(folder, 'model.json'))} is not valid JSON \\(.+\\)$`),
    );
  });

  it('a missing weights.bin is named, with the model.json that lists it', async () => {
    const folder = broken((f) => fs.rmSync(file(f, 'weights.bin')));
    await expect(loadSeq2Seq(folder)).rejects.toThrow(
      `Cannot load model: weights file ${file(folder, 'weights.bin')} does not exist ` +
        `(listed in ${file(folder, 'model.json')})`,
    );
  });

  it('a truncated weights.bin is named, with its size and the size model.json needs', async () => {
    const size = fs.statSync(file(good, 'weights.bin')).size;
    const folder = broken((f) => fs.truncateSync(file(f, 'weights.bin'), size - 100));
    await expect(loadSeq2Seq(folder)).rejects.toThrow(
      `Cannot load model: weights file ${file(folder, 'weights.bin')} has ${size - 100} bytes ` +
        `but model.json's weightsManifest needs ${size} ` +
        '(truncated, or not the weights of this model.json)',
    );
  });

  it('a missing task.json is named', async () => {
    const folder = broken((f) => fs.rmSync(file(f, 'task.json')));
    await expect(loadSeq2Seq(folder)).rejects.toThrow(
      `${file(folder, 'task.json')} does not exist; a model folder needs the task.json written by training`,
    );
  });

  it('task.json that is not JSON is named', async () => {
    const folder = broken((f) => fs.writeFileSync(file(f, 'task.json'), '{"format": "tfjs-attention-seq2seq",'));
    await expect(loadSeq2Seq(folder)).rejects.toThrow(`${file(folder, 'task.json')} is not valid JSON`);
  });

  it('task.json with a vocabulary the model does not have is named, with both sizes', async () => {
    // Self-consistent (11 symbols, size 14 everywhere), but not this model's 13.
    const folder = broken(
      editTaskJson((json) => {
        json.vocabulary.symbols.push('A');
        json.vocabulary.size = 14;
        json.config.vocabularySize = 14;
        json.task.options.numSymbols = 11;
      }),
    );
    await expect(loadSeq2Seq(folder)).rejects.toThrow(
      `${file(folder, 'task.json')}: vocabulary.size is 14 but the model's vocabulary (its output width) is 13; ` +
        'task.json does not belong to this model',
    );
  });

  it('task.json with another maxSourceLength is named, with both lengths', async () => {
    const folder = broken(
      editTaskJson((json) => {
        json.maxSourceLength = 20;
        json.config.maxSourceLength = 20;
      }),
    );
    await expect(loadSeq2Seq(folder)).rejects.toThrow(
      `${file(folder, 'task.json')}: maxSourceLength is 20 ` +
        "but the model's source position embedding length is 12; task.json does not belong to this model",
    );
  });

  it('task.json that breaks its own rules names the field', async () => {
    const folder = broken(editTaskJson((json) => (json.config.maxTargetLength = 99)));
    await expect(loadSeq2Seq(folder)).rejects.toThrow(
      `${file(folder, 'task.json')}: config.maxTargetLength is 99; expected maxTargetLength (13)`,
    );
  });

  it('failed loads leave no tensors behind', async () => {
    const inconsistent = broken(
      editTaskJson((json) => ((json.maxTargetLength = 14), (json.config.maxTargetLength = 14))),
    );
    const truncated = broken((f) => fs.truncateSync(file(f, 'weights.bin'), 8));
    const before = tf.memory().numTensors;
    await expect(loadSeq2Seq(inconsistent)).rejects.toThrow(
      "maxTargetLength is 14 but the model's target position embedding length is 13",
    );
    await expect(loadSeq2Seq(truncated)).rejects.toThrow('has 8 bytes');
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('untrusted weights: the same rules in loadSeq2Seq and the file:// route', () => {
  let count = 0;
  function folderWith(damage: (folder: string) => void): string {
    const folder = copyFolder(good, path.join(root, `weights-${++count}`));
    damage(folder);
    return folder;
  }
  const withNaN = (folder: string) => {
    const weights = path.join(folder, 'weights.bin');
    const bytes = fs.readFileSync(weights);
    bytes.writeFloatLE(NaN, 8);
    fs.writeFileSync(weights, bytes);
  };

  it("NaN weights are refused by both, and load with {nonFiniteWeights: 'warn'} with a warning", async () => {
    const folder = folderWith(withNaN);
    const json = path.join(folder, 'model.json');
    const refused = `${json}: weight 'source_embedding/token_embedding/embeddings' holds 1 non-finite value(s)`;
    await expect(loadSeq2Seq(folder)).rejects.toThrow(refused);
    await expect(tf.loadLayersModel(`file://${json}`)).rejects.toThrow(refused);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const loaded = await loadSeq2Seq(folder, { nonFiniteWeights: 'warn' });
    const viaRoute = await tf.loadLayersModel(fileSystem(json, { nonFiniteWeights: 'warn' }));
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining("loaded anyway (nonFiniteWeights: 'warn')"));
    warn.mockRestore();
    expect(Number.isNaN(loaded.model.getWeights()[0].dataSync()[2])).toBe(true);
    expect(Number.isNaN(viaRoute.getWeights()[0].dataSync()[2])).toBe(true);
    loaded.dispose();
    viaRoute.dispose();
  });

  it('maxWeightBytes refuses a model whose manifest lists more, naming the option', async () => {
    const error = await loadSeq2Seq(good, { maxWeightBytes: 1000 }).catch((e) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect(error.message).toMatch(
      /model\.json: lists more than 1\.0 kB of weights \(the maxWeightBytes option\) by weight '.+'$/,
    );
    expect(error.file).toBe(path.join(good, 'model.json'));
  });

  it('a manifest that lists no weights file, but weights, is refused naming model.json', async () => {
    const folder = folderWith((f) => {
      const json = JSON.parse(fs.readFileSync(path.join(f, 'model.json'), 'utf8'));
      json.weightsManifest[0].paths = [];
      fs.writeFileSync(path.join(f, 'model.json'), JSON.stringify(json));
    });
    const json = path.join(folder, 'model.json');
    await expect(loadSeq2Seq(folder)).rejects.toThrow(
      new RegExp(`^Cannot load model: ${json} lists no weights file, but its weightsManifest needs \\d+ bytes$`),
    );
  });

  it('a weights file that is a link to a file inside the folder loads; the manifest must match the model', async () => {
    const linked = folderWith((folder) => {
      fs.mkdirSync(path.join(folder, 'store'));
      fs.renameSync(path.join(folder, 'weights.bin'), path.join(folder, 'store/weights.bin'));
      fs.symlinkSync('store/weights.bin', path.join(folder, 'weights.bin'));
    });
    (await loadSeq2Seq(linked)).dispose();
    const extra = folderWith((folder) => {
      const json = JSON.parse(fs.readFileSync(path.join(folder, 'model.json'), 'utf8'));
      json.weightsManifest[0].weights[0].name = 'spare/kernel';
      fs.writeFileSync(path.join(folder, 'model.json'), JSON.stringify(json));
    });
    await expect(loadSeq2Seq(extra)).rejects.toThrow(
      "model.json: its weightsManifest has no weight 'source_embedding/token_embedding/embeddings', which the " +
        "model's config creates (the weights are not those of this model)",
    );
  });
});

describe('npm run evaluate -- --model <broken folder>', () => {
  interface Run {
    code: number | null;
    stdout: string;
    stderr: string;
  }
  function evaluate(folder: string, ...args: string[]): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          '-r',
          'ts-node/register/transpile-only',
          'scripts/evaluate.ts',
          '--model',
          folder,
          '--backend',
          'cpu',
          ...args,
        ],
        {
          cwd: ROOT,
          env: { ...process.env, TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json'), DEBUG: '' },
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('exits 1 with one line naming the file and what is wrong, and no stack trace', async () => {
    const missing = path.join(root, 'cli-missing');
    const truncated = copyFolder(good, path.join(root, 'cli-truncated'));
    fs.truncateSync(path.join(truncated, 'weights.bin'), 64);
    const noTask = copyFolder(good, path.join(root, 'cli-no-task'));
    fs.rmSync(path.join(noTask, 'task.json'));
    const cases: Array<[string, string]> = [
      [missing, `error: loadSeq2Seq: model folder ${missing} does not exist`],
      [
        truncated,
        `error: Cannot load model: weights file ${path.join(truncated, 'weights.bin')} has 64 bytes ` +
          "but model.json's weightsManifest needs",
      ],
      [noTask, `error: ${path.join(noTask, 'task.json')} does not exist`],
    ];
    // The whole folder as a control: the errors come from the damage, not from loading as such.
    const [whole, ...runs] = await Promise.all([
      evaluate(good, '--count', '2', '--json'),
      ...cases.map(([folder]) => evaluate(folder)),
    ]);
    expect({ code: whole.code, errors: whole.stderr.match(/^error:.*/gm) }).toEqual({ code: 0, errors: null });
    expect(JSON.parse(whole.stdout)).toMatchObject({ model: good, task: 'reverse', size: 2 });
    runs.forEach((run, i) => {
      const errorLines = run.stderr.split('\n').filter((line) => line.startsWith('error:'));
      expect({ code: run.code, errorLines }).toEqual({ code: 1, errorLines: [expect.stringContaining(cases[i][1])] });
      expect(run.stderr).not.toMatch(/^\s+at /m);
      expect(run.stdout).toBe('');
    });
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
