/**
 * src/ops/embedding.ts: the lookup's rows and table gradient against plain loops on both of its
 * paths (the one-hot product under a gradient tape for vocabularies up to ONE_HOT_MAX_VOCABULARY,
 * a gather otherwise), and the id check's refusals, on cpu and on a backend without host memory
 * reads (where the check is skipped).
 */
import * as tf from '@tensorflow/tfjs';
import { checkTokenIds, embeddingLookup, ONE_HOT_MAX_VOCABULARY } from '../../src/ops/embedding';
import { describeEachPath, OPS_ONLY_BACKEND } from '../helpers/backends';
import { runThenProfile } from '../helpers/kernel_paths';
import { maxAbsDiff } from '../helpers/tensors';
import { seededValues } from '../layers/attention_reference';

const WIDTH = 3;
/** Ids with a repeat, the first and the last row of a vocabulary of `v`. */
const idsFor = (v: number) => [2, 0, v - 1, 2, 1];

/** A [v, WIDTH] table of seeded values, as rows. */
function tableRows(v: number): number[][] {
  const values = seededValues(v * WIDTH, v);
  return Array.from({ length: v }, (_r, r) => values.slice(r * WIDTH, (r + 1) * WIDTH));
}

/** The gradient of sum(lookup(table, ids) * weights) in the table: each id's row adds its weights. */
function tableGradient(v: number, ids: number[], weights: number[][]): number[][] {
  const g = Array.from({ length: v }, () => new Array<number>(WIDTH).fill(0));
  ids.forEach((id, i) => weights[i].forEach((w, d) => (g[id][d] += w)));
  return g;
}

describeEachPath('embeddingLookup', (path) => {
  for (const v of [4, ONE_HOT_MAX_VOCABULARY, ONE_HOT_MAX_VOCABULARY + 1]) {
    const underTape = v <= ONE_HOT_MAX_VOCABULARY ? 'OneHot' : 'GatherV2';
    // The gather's gradient kernel (UnsortedSegmentSum) is missing on tfjs-backend-wasm 4.22.
    if (underTape === 'GatherV2' && path === 'wasm') continue;
    it(`vocabulary ${v}: rows by id (a gather); under a tape (${underTape}) rows, table gradient`, async () => {
      const rows = tableRows(v);
      const ids = idsFor(v);
      const weights = ids.map((_id, i) => [1, -2, 0.5].map((w) => w * (i + 1)));
      const table = tf.tensor2d(rows);
      const w = tf.tensor2d(weights);
      const before = tf.memory().numTensors;
      for (const dtype of ['int32', 'float32'] as const) {
        const idTensor = tf.tensor1d(ids, dtype);
        const plain = await runThenProfile(() => tf.tidy(() => embeddingLookup(table, idTensor)));
        expect(plain.kernels).toContain('GatherV2');
        expect(plain.kernels).not.toContain('OneHot');
        // int32 ids are used as they are; float32 ones are cast first.
        expect(plain.kernels.includes('Cast')).toBe(dtype === 'float32');
        expect(plain.result.arraySync()).toEqual(ids.map((id) => rows[id].map(Math.fround)));
        let looked: number[][] = [];
        const taped = await runThenProfile(() =>
          tf.grad((t: tf.Tensor) => {
            const y = embeddingLookup(t, idTensor);
            looked = y.arraySync();
            return y.mul(w).sum();
          })(table),
        );
        expect(taped.kernels).toContain(underTape);
        expect(looked).toEqual(ids.map((id) => rows[id].map(Math.fround)));
        const expected = tableGradient(v, ids, weights);
        expect(maxAbsDiff(taped.result.arraySync() as number[][], expected)).toBeLessThan(1e-5);
        tf.dispose([idTensor, plain.result, taped.result]);
      }
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([table, w]);
    });
  }
});

describeEachPath('checkTokenIds', (path) => {
  const checked = path !== OPS_ONLY_BACKEND;

  it('passes ids in [0, vocabularySize), int32 or float32', () => {
    for (const dtype of ['int32', 'float32'] as const) {
      const ids = tf.tensor2d(
        [
          [0, 4, 2],
          [1, 3, 0],
        ],
        undefined,
        dtype,
      );
      expect(() => checkTokenIds(ids, 5, 'layer')).not.toThrow();
      ids.dispose();
    }
  });

  it(
    checked
      ? 'refuses an id below 0, at or past vocabularySize, fractional or NaN, naming it and its position'
      : 'reads no ids on a backend whose tensors are not in host memory (as on webgl)',
    () => {
      const cases: Array<[number, string]> = [
        [-1, 'token id -1 at position 4'],
        [5, 'token id 5 at position 4'],
        [1e9, 'token id 1000000000 at position 4'],
        [2.5, 'token id 2.5 at position 4'],
        [NaN, 'token id NaN at position 4'],
      ];
      for (const [bad, where] of cases) {
        const ids = tf.tensor2d([
          [0, 4, 2],
          [1, bad, 0],
        ]);
        const check = () => checkTokenIds(ids, 5, 'decoder');
        if (checked) expect(check).toThrow(`decoder: ${where} is outside [0, 4] (vocabularySize 5)`);
        else expect(check).not.toThrow();
        ids.dispose();
      }
    },
  );
});
