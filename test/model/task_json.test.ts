import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { parseTaskJson, readTaskJson, Seq2SeqTaskInfo, writeTaskJson } from '../../src/model/task_json';
import { presetConfig } from '../../src/model/config';

const info: Seq2SeqTaskInfo = {
  format: 'tfjs-attention-seq2seq',
  version: 2,
  task: { name: 'reverse', options: { numSymbols: 10, minLen: 2, maxLen: 12 } },
  vocabulary: { size: 13, symbols: [...'0123456789'], specials: ['<pad>', '<bos>', '<eos>'] },
  maxSourceLength: 12,
  maxTargetLength: 13,
  config: presetConfig('tiny', { vocabularySize: 13, maxSourceLength: 12, maxTargetLength: 13 }),
  metrics: { heldOutExactMatch: 0.995, heldOutTokenAccuracy: 0.999, heldOutSize: 512 },
  training: {
    command: 'npm run train -- --task reverse',
    steps: 10,
    seconds: 1,
    backend: 'wasm',
    seed: 1,
    batch: 64,
    lr: 0.002,
  },
};

describe('task.json', () => {
  it('writes and reads back the same object', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskjson-'));
    await writeTaskJson(dir, info);
    expect(await readTaskJson(dir)).toEqual(info);
    expect(await readTaskJson(path.join(dir, 'task.json'))).toEqual(info);
    fs.rmSync(dir, { recursive: true });
  });

  it.each([
    ['not JSON', '{', /^m\/task.json is not valid JSON/],
    [
      'wrong format',
      JSON.stringify({ ...info, format: 'keras' }),
      `m/task.json: format is "keras"; expected 'tfjs-attention-seq2seq'`,
    ],
    [
      'vocabulary size',
      JSON.stringify({ ...info, vocabulary: { ...info.vocabulary, size: 14 } }),
      'vocabulary.size is 14; expected specials + symbols = 13',
    ],
    [
      'config mismatch',
      JSON.stringify({ ...info, maxSourceLength: 20 }),
      'config.maxSourceLength is 12; expected maxSourceLength (20)',
    ],
    ['missing metrics', JSON.stringify({ ...info, metrics: undefined }), 'metrics is missing; expected an object'],
    [
      'bad rate',
      JSON.stringify({ ...info, metrics: { ...info.metrics, heldOutExactMatch: 2 } }),
      'metrics.heldOutExactMatch is 2; expected a number in [0, 1]',
    ],
  ])('rejects %s naming the file and field', (_name, text, message) => {
    expect(() => parseTaskJson(text, 'm/task.json')).toThrow(message);
  });

  it('a missing task.json names the file', async () => {
    await expect(readTaskJson('/nonexistent/model')).rejects.toThrow('/nonexistent/model/task.json does not exist');
  });
});
