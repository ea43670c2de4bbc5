/**
 * One name per concept (vocabularySize, embeddingDim, maxSourceLength, maxTargetLength): the names
 * earlier versions used are still read wherever they were public, and map to the current ones.
 */
import { createTask, encodeBatch, parseTaskJson, presetConfig, resolveConfig } from '../src';
import { TASK_JSON_VERSION } from '../src/model/task_json';
import { parseTrainArgs, UsageError } from '../src/train/options';

const SIZES = { maxSourceLength: 12, maxTargetLength: 13 };

describe('deprecated names', () => {
  it('TransformerConfig: vocabSize and dModel resolve to vocabularySize and embeddingDim', () => {
    const old = resolveConfig({ vocabSize: 13, dModel: 32, numHeads: 2, ...SIZES });
    const current = resolveConfig({ vocabularySize: 13, embeddingDim: 32, numHeads: 2, ...SIZES });
    expect(old).toEqual(current);
    expect(old).toMatchObject({ vocabularySize: 13, embeddingDim: 32, keyDim: 16 });
    expect(Object.keys(old)).not.toContain('vocabSize');
    expect(Object.keys(old)).not.toContain('dModel');
  });

  it('an override under the old name replaces the preset value of the new one', () => {
    const config = presetConfig('reference', { vocabularySize: 13, ...SIZES }, { dModel: 128, keyDim: 32 });
    expect(config.embeddingDim).toBe(128);
    expect(presetConfig('tiny', { vocabSize: 20, ...SIZES }).vocabularySize).toBe(20);
  });

  it('both names with different values is an error naming both', () => {
    expect(() => resolveConfig({ vocabularySize: 13, vocabSize: 14, ...SIZES })).toThrow(
      'TransformerConfig: vocabSize (deprecated) is 14 but vocabularySize is 13; give only vocabularySize',
    );
    expect(resolveConfig({ vocabularySize: 13, vocabSize: 13, ...SIZES }).vocabularySize).toBe(13);
  });

  it('Task: vocabSize, maxSourceLen and targetLen read the current fields', () => {
    const task = createTask('addition', { digits: 2 });
    expect([task.vocabSize, task.maxSourceLen, task.targetLen]).toEqual([
      task.vocabularySize,
      task.maxSourceLength,
      task.maxTargetLength,
    ]);
    expect([task.vocabularySize, task.maxSourceLength, task.maxTargetLength]).toEqual([14, 5, 4]);
  });

  it('EncodedBatch: sourceLen and targetLen are readable but not copied', () => {
    const task = createTask('reverse', { maxLen: 5 });
    const batch = encodeBatch(task, [{ source: [3, 4], target: [4, 3] }]);
    expect([batch.sourceLen, batch.targetLen]).toEqual([5, 6]);
    expect(Object.keys({ ...batch }).sort()).toEqual(
      ['batchSize', 'decoderInput', 'decoderTarget', 'source', 'sourceLength', 'targetLength'].sort(),
    );
  });

  it('task.json version 1 (config.vocabSize, config.dModel) reads as the current version', () => {
    const config = presetConfig('tiny', { vocabularySize: 13, ...SIZES });
    const { vocabularySize, embeddingDim, ...rest } = config;
    const v1 = {
      format: 'tfjs-attention-seq2seq',
      version: 1,
      task: { name: 'reverse', options: { numSymbols: 10, minLen: 2, maxLen: 12 } },
      vocabulary: { size: 13, symbols: [...'0123456789'], specials: ['<pad>', '<bos>', '<eos>'] },
      ...SIZES,
      config: { ...rest, vocabSize: vocabularySize, dModel: embeddingDim },
      metrics: { heldOutExactMatch: 1, heldOutTokenAccuracy: 1, heldOutSize: 512 },
      training: { command: 'npm run train', steps: 1, seconds: 1, backend: 'cpu', seed: 1, batch: 64, lr: 0.001 },
    };
    const info = parseTaskJson(JSON.stringify(v1), 'old/task.json');
    expect(info.version).toBe(TASK_JSON_VERSION);
    expect(info.config).toEqual(config);
    const wrong = { ...v1, config: { ...v1.config, vocabSize: 14 } };
    expect(() => parseTaskJson(JSON.stringify(wrong), 'old/task.json')).toThrow(
      'old/task.json: config.vocabularySize is 14; expected vocabulary.size (13)',
    );
  });

  it('npm run train: --d-model is --embedding-dim', () => {
    const parsed = parseTrainArgs(['--d-model', '32', '--heads', '2']);
    if (parsed.help) throw new Error('unexpected --help');
    expect(parsed.options.model.embeddingDim).toBe(32);
    expect(() => parseTrainArgs(['--d-model', '32', '--embedding-dim', '64'])).toThrow(UsageError);
    expect(() => parseTrainArgs(['--d-model', '32', '--embedding-dim', '64'])).toThrow(
      '--d-model (deprecated) is 32 but --embedding-dim is 64; give only one',
    );
  });
});
