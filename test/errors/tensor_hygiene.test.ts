/**
 * Issue 8, tensor hygiene: every public function, called 20+ times after one
 * warm-up call, leaves `tf.memory().numTensors` where it was; so does a call
 * that throws. Training keeps tensors and bytes flat from step 10 to step 200
 * (issue 7's acceptance).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../../src/backend';
import { MultiHeadAttention } from '../../src/layers/multi_head_attention';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import { TransformerDecoderBlock } from '../../src/layers/transformer_decoder_block';
import { TransformerEncoderBlock } from '../../src/layers/transformer_encoder_block';
import { loadSeq2Seq, Seq2Seq } from '../../src/model/seq2seq';
import { createTrainingStream, encodeBatch, generateSamples } from '../../src/tasks';
import { Trainer } from '../../src/train/trainer';
import { paddingMask, seededTensor } from '../helpers/tensors';
import { saveModelFolder, tempDir, tinyReverse } from './model_folder';

const REPEATS = 20;

/** One warm-up call (builds weights, caches kernels), then REPEATS calls; numTensors must not move. */
async function expectNoLeak(call: (i: number) => unknown): Promise<void> {
  await call(-1);
  const before = tf.memory().numTensors;
  for (let i = 0; i < REPEATS; i++) await call(i);
  expect(tf.memory().numTensors - before).toBe(0);
}

/** As expectNoLeak, for a call that must throw `message` every time. */
async function expectThrowsWithoutLeak(call: () => unknown, message: string | RegExp): Promise<void> {
  await expectNoLeak(async () => {
    await expect(async () => call()).rejects.toThrow(message);
  });
}

const disposeAll = (result: unknown) => tf.dispose(result as tf.Tensor | tf.Tensor[]);

beforeAll(() => initBackend('wasm', { quiet: true }));

describe('layer calls leave tf.memory().numTensors unchanged', () => {
  // B 2, T 4, S 5, D 6.
  let query: tf.Tensor3D;
  let value: tf.Tensor3D;
  let queryMask: tf.Tensor2D;
  let valueMask: tf.Tensor2D;
  let attentionMask: tf.Tensor3D;
  beforeAll(() => {
    query = seededTensor([2, 4, 6], 1) as tf.Tensor3D;
    value = seededTensor([2, 5, 6], 2) as tf.Tensor3D;
    queryMask = paddingMask([4, 2], 4);
    valueMask = paddingMask([5, 3], 5);
    attentionMask = tf.ones([2, 4, 5]);
  });
  afterAll(() => tf.dispose([query, value, queryMask, valueMask, attentionMask]));

  it('MultiHeadAttention.apply: self, cross, with masks, training true, with attention scores', async () => {
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 3, dropout: 0.3 });
    const scores = new MultiHeadAttention({ numHeads: 2, keyDim: 3, causal: true, returnAttentionScores: true });
    await expectNoLeak((i) => {
      const training = i % 2 === 0;
      disposeAll(layer.apply(query, { training }));
      disposeAll(layer.apply([query, value], { training }));
      disposeAll(layer.apply([query, value], { mask: [queryMask, valueMask], attentionMask, training } as never));
      disposeAll(scores.apply(query, { mask: [queryMask] } as never));
    });
    layer.dispose();
    scores.dispose();
  });

  it('TransformerEncoderBlock.apply and TransformerDecoderBlock.apply, masked, training true and false', async () => {
    const encoder = new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 8, dropout: 0.2 });
    const decoder = new TransformerDecoderBlock({
      numHeads: 2,
      intermediateDim: 8,
      dropout: 0.2,
      normalizeFirst: true,
    });
    await expectNoLeak((i) => {
      const training = i % 2 === 0;
      disposeAll(encoder.apply(value, { mask: valueMask, training } as never));
      disposeAll(decoder.apply([query, value], { mask: [queryMask, valueMask], training } as never));
    });
    encoder.dispose();
    decoder.dispose();
  });

  it('TokenAndPositionEmbedding.apply (its output carries a padding mask)', async () => {
    const embedding = new TokenAndPositionEmbedding({
      vocabularySize: 13,
      sequenceLength: 6,
      embeddingDim: 4,
      maskZero: true,
    });
    const ids = tf.tensor2d(
      [
        [3, 4, 5, 0],
        [6, 0, 0, 0],
      ],
      undefined,
      'int32',
    );
    await expectNoLeak(() => {
      const output = embedding.apply(ids) as tf.Tensor & { kerasMask?: tf.Tensor };
      expect(output.kerasMask?.shape).toEqual([2, 4]);
      output.dispose(); // tfjs 4 disposes the kerasMask with it
    });
    ids.dispose();
    embedding.dispose();
  });
});

describe('failed calls leave tf.memory().numTensors unchanged', () => {
  it("layer calls that throw on a bad shape (the layers' own input checks)", async () => {
    const query = tf.zeros([2, 3, 4]);
    const flat = tf.zeros([2, 3]);
    const otherBatch = tf.zeros([3, 3, 4]);
    const wrongMask = tf.ones([2, 3, 4]);
    const wide = tf.zeros([2, 3, 6]);
    const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 2 });
    const encoder = new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 8 });
    disposeAll(mha.apply(query));
    disposeAll(encoder.apply(query));
    await expectThrowsWithoutLeak(() => mha.apply(flat), 'query must have rank 3, got shape [2, 3] (rank 2)');
    await expectThrowsWithoutLeak(
      () => mha.apply([query, otherBatch]),
      'query, value and key must have the same batch size',
    );
    await expectThrowsWithoutLeak(
      () => mha.apply(query, { attentionMask: wrongMask }),
      'attentionMask must have shape (T, S) = [3, 3], (B, T, S) = [2, 3, 3], (B, H, T, S) = [2, 2, 3, 3] ' +
        '(an axis may also be 1), got [2, 3, 4]',
    );
    // Thrown by the built block's own input check in call(), before its tidy.
    await expectThrowsWithoutLeak(
      () => encoder.apply(wide),
      /^TransformerEncoderBlock '[^']+': input has width 6 \(shape \[2, 3, 6\]\) but the layer was built for width 4$/,
    );
    tf.dispose([query, flat, otherBatch, wrongMask, wide]);
    mha.dispose();
    encoder.dispose();
  });
});

describe('Seq2Seq, training and loading leave tf.memory() unchanged', () => {
  let folder: string;
  let reverse: Seq2Seq;
  let setup: ReturnType<typeof tinyReverse>;
  let sources: number[][];

  beforeAll(async () => {
    setup = tinyReverse();
    sources = generateSamples(setup.task, 3, 11).map((s) => s.source);
    folder = path.join(tempDir('tensor-hygiene-'), 'reverse');
    await saveModelFolder(folder, setup.model, setup.info);
    reverse = await loadSeq2Seq(folder);
  });
  afterAll(() => {
    reverse.dispose();
    setup.model.dispose();
    fs.rmSync(path.dirname(folder), { recursive: true, force: true });
  });

  it('Seq2Seq.generate, greedy and beam width 3, with and without the cache', async () => {
    await expectNoLeak(async () => {
      await reverse.generate(sources, { maxLength: 5 });
      await reverse.generate(sources.slice(0, 2), { beamWidth: 3, maxLength: 5 });
      await reverse.generate(sources.slice(0, 1), { maxLength: 3, useCache: false });
    });
  });

  it('Seq2Seq.attention and Seq2Seq.score', async () => {
    await expectNoLeak(async () => {
      const maps = await reverse.attention(sources[0], [5, 4]);
      expect(maps.decoderTokens.length).toBe(3);
      reverse.score(
        sources,
        sources.map((s) => [...s].reverse()),
      );
    });
  });

  it('Seq2Seq calls rejected for their ids', async () => {
    await expectThrowsWithoutLeak(() => reverse.generate([[3, 99]]), 'generate: sources[0][1] is 99');
    await expectThrowsWithoutLeak(() => reverse.score([[3]], [[NaN]]), 'score: targets[0][0] is NaN');
    await expectThrowsWithoutLeak(() => reverse.attention([], [3]), 'attention: source is empty');
  });

  it('loadSeq2Seq + dispose', async () => {
    await expectNoLeak(async () => {
      const loaded = await loadSeq2Seq(folder);
      expect(loaded.vocabSize).toBe(13);
      loaded.dispose();
    });
  });

  it('Trainer.step (tiny preset, batch 8): the same numTensors and numBytes after step 10 and step 200', async () => {
    const { task, model } = tinyReverse(2);
    const trainer = new Trainer({ model, learningRate: 1e-3 });
    const stream = createTrainingStream(task, 5);
    const memory: Record<number, tf.MemoryInfo> = {};
    for (let step = 1; step <= 200; step++) {
      const result = await trainer.step(encodeBatch(task, stream.nextBatch(8)));
      expect(result.step).toBe(step);
      if (step === 10 || step === 200) memory[step] = tf.memory();
    }
    expect({ numTensors: memory[200].numTensors, numBytes: memory[200].numBytes }).toEqual({
      numTensors: memory[10].numTensors,
      numBytes: memory[10].numBytes,
    });
    trainer.dispose();
    model.dispose();
  });
});
