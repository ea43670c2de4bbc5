/**
 * The ablation study (src/explain/study.ts, src/train/study.ts): values replaced by their mean are
 * exactly the mean of the value vectors each query may attend to (padding and causal masks), for
 * all heads or one, in a full pass and in cached decoding, with the weights restored after;
 * `studyAttention` asks its evaluator for exactly the ablations it reports; and the study of the
 * shipped reverse model reproduces its committed models/reverse/study.json, whose baseline is the
 * held-out exact match task.json records.
 *
 * Reproducing the whole study takes 55 evaluations of the 512 held-out samples, too many for the
 * suite: the test recomputes the baseline, every OV spectrum (before and after training), and the
 * ablations of the head and of the layer the committed study finds most harmful (3 evaluations),
 * each on all 512 samples; `npm run study -- --model models/reverse` rewrites the whole file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { decode } from '../../src/decode/decode';
import { attentionSites } from '../../src/decode/graph';
import { explainAttention, predictWithHeadMasks } from '../../src/explain/explain';
import { type AttentionStudy, checkStudy, roundStudy, studyAttention, withMeanValues } from '../../src/explain/study';
import { studyTable } from '../../src/explain/study_report';
import { MultiHeadAttention } from '../../src/layers/multi_head_attention';
import { loadSeq2Seq, type Seq2Seq } from '../../src/model/seq2seq';
import { encodeBatch, heldOutSet } from '../../src/tasks';
import { evaluateSeq2Seq } from '../../src/train/evaluate';
import { studySeq2Seq } from '../../src/train/study';
import { maxAbsDiff, randomizeWeights } from '../helpers/tensors';

const REVERSE = path.join(__dirname, '..', '..', 'models', 'reverse');
const committed = checkStudy(
  JSON.parse(fs.readFileSync(path.join(REVERSE, 'study.json'), 'utf8')),
  'models/reverse/study.json',
);

/** The shipped reverse model, loaded once for the tests that use it. */
let reverse: Seq2Seq;

beforeAll(async () => {
  await initBackend('wasm', { quiet: true });
  reverse = await loadSeq2Seq(REVERSE);
});

afterAll(() => reverse?.dispose());

/** Token ids (B, T) -> embedding (padding id 0 masked) -> causal self-attention: the attention's output. */
function causalModel(): { model: tf.LayersModel; attention: MultiHeadAttention } {
  const ids = tf.input({ shape: [null], dtype: 'int32' });
  const embedded = tf.layers.embedding({ inputDim: 10, outputDim: 8, maskZero: true }).apply(ids);
  const attention = new MultiHeadAttention({ numHeads: 3, keyDim: 4, causal: true, name: 'attention' });
  const model = tf.model({ inputs: ids, outputs: attention.apply(embedded) as tf.SymbolicTensor });
  randomizeWeights(model, 5);
  return { model, attention };
}

describe('withMeanValues', () => {
  const rows = [
    [3, 5, 7, 2, 0, 0],
    [4, 4, 8, 1, 6, 9],
  ];
  const lengths = [4, 6];

  it('each query gets the mean of the value vectors it may attend to (causal, padded), per head or all', async () => {
    const { model, attention } = causalModel();
    const ids = tf.tensor2d(rows, undefined, 'int32');
    const before = model.getWeights().map((w) => w.arraySync());
    // What each key sends through each head, (B, H, S, Dout), and the output bias.
    const embedded = model.layers[1].apply(ids) as tf.Tensor;
    const vectors = tf.tidy(() => attention.valueVectors(embedded)).arraySync() as number[][][][];
    const bias = attention.outputDense!.bias!.read().arraySync() as number[];
    const [explained] = explainAttention(model, ids, { headOutputs: true });
    const plain = (model.predict(ids) as tf.Tensor).arraySync() as number[][][];
    const all = (await withMeanValues(attention, [0, 1, 2], async () => model.predict(ids) as tf.Tensor)).arraySync();
    const one = (await withMeanValues(attention, [1], async () => model.predict(ids) as tf.Tensor)).arraySync();
    // Head h's share at query t with mean values: the mean over the real keys s <= t of its vectors.
    const meanShare = (b: number, h: number, t: number) =>
      bias.map((_x, d) => vectors[b][h].slice(0, t + 1).reduce((sum, v) => sum + v[d], 0) / (t + 1));
    let worstAll = 0;
    let worstOne = 0;
    let moved = 0;
    rows.forEach((_row, b) => {
      for (let t = 0; t < lengths[b]; t++) {
        const shares = [0, 1, 2].map((h) => meanShare(b, h, t));
        const wantAll = bias.map((c, d) => c + shares.reduce((sum, s) => sum + s[d], 0));
        // One head: the plain output, less that head's own share, plus its mean share.
        const wantOne = plain[b][t].map((v, d) => v - explained.headOutputs![b][1][t][d] + shares[1][d]);
        worstAll = Math.max(worstAll, maxAbsDiff((all as number[][][])[b][t], wantAll));
        worstOne = Math.max(worstOne, maxAbsDiff((one as number[][][])[b][t], wantOne));
        moved = Math.max(moved, maxAbsDiff(plain[b][t], wantOne));
      }
    });
    expect(worstAll).toBeLessThan(1e-5);
    expect(worstOne).toBeLessThan(1e-5);
    expect(moved).toBeGreaterThan(1e-2); // the ablation does change the output
    // The weights are back, exactly.
    expect(model.getWeights().map((w) => w.arraySync())).toEqual(before);
    tf.dispose([ids, embedded]);
    model.dispose();
  });

  it('restores the weights when the work throws, leaks nothing, and names a bad head', async () => {
    const { model, attention } = causalModel();
    const before = model.getWeights().map((w) => w.arraySync());
    const tensors = tf.memory().numTensors;
    await expect(
      withMeanValues(attention, [0, 2], async () => {
        throw new Error('planted');
      }),
    ).rejects.toThrow('planted');
    expect(model.getWeights().map((w) => w.arraySync())).toEqual(before);
    expect(tf.memory().numTensors).toBe(tensors);
    await expect(withMeanValues(attention, [3], async () => 0)).rejects.toThrow(
      'withMeanValues: heads must be head indices in [0, 2], got [3]',
    );
    model.dispose();
  });

  it('cached decoding gives what rerunning the whole model gives, with a layer of mean values', async () => {
    const sources = heldOutSet(reverse.task!)
      .slice(0, 16)
      .map((s) => s.source);
    const cross = attentionSites(reverse.model).find((s) => s.path === 'decoder_block_0/cross_attention')!;
    const [cached, rerun] = await withMeanValues(cross.attention as MultiHeadAttention, [0, 1, 2, 3], async () => [
      decode(reverse.model, sources).tokens,
      decode(reverse.model, sources, { useCache: false }).tokens,
    ]);
    expect(cached).toEqual(rerun);
    expect(cached).not.toEqual(decode(reverse.model, sources).tokens); // the ablation changes answers
  });
});

describe('evaluateSeq2Seq with headMasks', () => {
  it('ones change nothing; a zeroed head changes the scores as decode and predictWithHeadMasks do', async () => {
    const task = reverse.task!;
    const samples = heldOutSet(task).slice(0, 64);
    const evaluate = (headMasks?: Record<string, number[]>) =>
      evaluateSeq2Seq(reverse.model, samples, (s) => encodeBatch(task, s), {
        maxLength: reverse.maxTargetLength,
        headMasks,
      });
    const path = 'decoder_block_0/cross_attention';
    const plain = await evaluate();
    const tensors = tf.memory().numTensors;
    expect(await evaluate({ [path]: [1, 1, 1, 1] })).toEqual(plain);
    expect(tf.memory().numTensors).toBe(tensors);
    const masked = await evaluate({ [path]: [0, 1, 1, 1] });
    const decoded = decode(
      reverse.model,
      samples.map((s) => s.source),
      { headMasks: { [path]: [0, 1, 1, 1] } },
    ).tokens;
    const exact = samples.filter((s, i) => s.target.join() === decoded[i].join()).length;
    expect(masked.exactMatch).toBe(exact / samples.length);
    expect(masked.exactMatch).toBeLessThan(plain.exactMatch);
    expect(masked.loss).toBeGreaterThan(2 * plain.loss);
    // The masked teacher-forced pass is predictWithHeadMasks: with ones it is model.predict.
    const batch = encodeBatch(task, samples.slice(0, 4));
    const inputs = [
      tf.tensor2d(batch.source, [4, batch.sourceLength], 'int32'),
      tf.tensor2d(batch.decoderInput, [4, batch.targetLength], 'int32'),
    ];
    const before = tf.memory().numTensors;
    const viaMasks = predictWithHeadMasks(reverse.model, inputs, { [path]: [1, 1, 1, 1] }) as tf.Tensor;
    expect(tf.memory().numTensors).toBe(before + 1); // its output, nothing else
    expect(() => predictWithHeadMasks(reverse.model, inputs, { decoder_block_9: [1] })).toThrow(
      "predictWithHeadMasks: headMasks has 'decoder_block_9', which is not an attention layer of the model",
    );
    expect(tf.memory().numTensors).toBe(before + 1);
    const viaPredict = reverse.model.predict(inputs) as tf.Tensor;
    expect(maxAbsDiff(viaMasks.dataSync(), viaPredict.dataSync())).toBeLessThan(1e-6);
    tf.dispose([...inputs, viaMasks, viaPredict]);
  });
});

describe('studyAttention', () => {
  it('scores the baseline, each head removed, each head and each layer with mean values, as included', async () => {
    const { model, attention } = causalModel();
    const example = tf.tensor2d([[3, 5, 7, 2]], undefined, 'int32');
    const calls: string[] = [];
    const progress: string[] = [];
    const study = await studyAttention(model, {
      example,
      // A score that shows what the model was asked under: the head masks, and which heads' queries are zero.
      evaluate: async (headMasks) => {
        const zeroQueries = tf.tidy(() =>
          attention.queryDense!.kernel!.read().abs().sum([0, 2]).equal(0).cast('int32').arraySync(),
        ) as number[];
        calls.push(`${JSON.stringify(headMasks)} zero queries ${zeroQueries}`);
        return { exactMatch: 1 - calls.length / 100, loss: calls.length };
      },
      include: (_path, head) => head !== 2,
      onScore: (done, total, what) => progress.push(`${done}/${total} ${what}`),
    });
    expect(calls).toEqual([
      '{} zero queries 0,0,0',
      '{"attention":[0,1,1]} zero queries 0,0,0',
      '{} zero queries 1,0,0',
      '{"attention":[1,0,1]} zero queries 0,0,0',
      '{} zero queries 0,1,0',
      '{} zero queries 1,1,1',
    ]);
    expect(progress[0]).toBe('1/6 baseline');
    expect(progress[5]).toBe('6/6 attention all values -> mean');
    expect(study.baseline).toEqual({ exactMatch: 0.99, loss: 1 });
    const [layer] = study.layers;
    expect([layer.path, layer.kind, layer.numHeads, layer.valueDim]).toEqual(['attention', 'causal', 3, 4]);
    expect(layer.heads.map((h) => [h.removed?.loss ?? null, h.meanValues?.loss ?? null])).toEqual([
      [2, 3],
      [4, 5],
      [null, null],
    ]);
    expect(layer.meanValues).toEqual({ exactMatch: 0.94, loss: 6 });
    expect(layer.heads.every((h) => h.ov.singularValues.length === 4 && h.initialOv === null)).toBe(true);
    await expect(
      studyAttention(model, { example, evaluate: async () => study.baseline, only: 1 } as never),
    ).rejects.toThrow("studyAttention: unknown option 'only'");
    await expect(studyAttention(model, { example: [], evaluate: async () => study.baseline })).rejects.toThrow(
      "studyAttention: example must be the model's input (a tensor, or one per input), got []",
    );
    example.dispose();
    model.dispose();
  });
});

describe('the study of models/reverse', () => {
  /** What the committed study finds most harmful: the worst head removed, the worst layer's mean values. */
  const worstHeads = committed.layers
    .flatMap((layer) => layer.heads.map((head, h) => ({ path: layer.path, h, exactMatch: head.removed!.exactMatch })))
    .sort((a, b) => a.exactMatch - b.exactMatch)
    .slice(0, 1);
  const worstLayer = [...committed.layers].sort((a, b) => a.meanValues!.exactMatch - b.meanValues!.exactMatch)[0];
  let study: AttentionStudy;

  beforeAll(async () => {
    study = roundStudy(
      await studySeq2Seq(reverse, {
        model: 'models/reverse',
        include: (path, head) =>
          head === null ? path === worstLayer.path : worstHeads.some((w) => w.path === path && w.h === head),
      }),
    );
  }, 60_000);

  it('has the baseline task.json records as the held-out exact match, and the committed baseline', () => {
    const task = JSON.parse(fs.readFileSync(path.join(REVERSE, 'task.json'), 'utf8'));
    expect(study.baseline.exactMatch).toBe(task.metrics.heldOutExactMatch);
    expect(study.about).toEqual(committed.about);
    expect(study.baseline.exactMatch).toBe(committed.baseline.exactMatch);
    expect(study.baseline.loss / committed.baseline.loss).toBeCloseTo(1, 4);
  });

  it('reproduces the committed ablations it reran, and every OV spectrum before and after training', () => {
    expect(worstHeads.map((w) => w.exactMatch).every((v) => v < 0.5)).toBe(true); // heads that matter
    const score = (a: { exactMatch: number; loss: number } | null, b: typeof a) => {
      expect(a!.exactMatch).toBe(b!.exactMatch);
      expect(a!.loss / b!.loss).toBeCloseTo(1, 4);
    };
    expect(study.layers.map((l) => [l.path, l.kind])).toEqual(committed.layers.map((l) => [l.path, l.kind]));
    study.layers.forEach((layer, l) => {
      const want = committed.layers[l];
      if (layer.path === worstLayer.path) score(layer.meanValues, want.meanValues);
      else expect(layer.meanValues).toBeNull();
      layer.heads.forEach((head, h) => {
        if (worstHeads.some((w) => w.path === layer.path && w.h === h)) {
          score(head.removed, want.heads[h].removed);
          score(head.meanValues, want.heads[h].meanValues);
        } else {
          expect(head.removed).toBeNull();
        }
        // Four significant digits, from weights alone: the same on every backend.
        expect(head.ov).toEqual(want.heads[h].ov);
        expect(head.initialOv).toEqual(want.heads[h].initialOv);
      });
    });
  });

  it("the printed table shows each head's figures", () => {
    const table = studyTable(committed);
    expect(table).toContain('models/reverse: reverse held-out set, 512 samples, seed 0x7e570001');
    const head = committed.layers[3].heads[0];
    const line = table.split('\n').find((l) => l.startsWith('decoder_block_0/cross_attention (cross)'))!;
    expect(line).toContain(`${head.removed!.exactMatch.toFixed(4)} (${head.removed!.loss.toFixed(4)})`);
    expect(line).toContain(`${head.ov.effectiveRank.toFixed(1)} (${head.initialOv!.effectiveRank.toFixed(1)}) of 16`);
  });
});
