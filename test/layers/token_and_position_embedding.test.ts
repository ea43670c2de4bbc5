import * as tf from '@tensorflow/tfjs';
import { MultiHeadAttention } from '../../src/layers/multi_head_attention';
import {
  TokenAndPositionEmbedding,
  TokenAndPositionEmbeddingArgs,
} from '../../src/layers/token_and_position_embedding';
import { describeEachBackend } from '../helpers/backends';
import { referenceEmbedding, sinusoid } from '../helpers/block_reference';
import { expectLayerContract } from '../helpers/layer_contract';
import { ids, maxAbsDiff, randomizeWeights, read, seededTensor, weightArrays } from '../helpers/tensors';

type MaskedTensor = tf.Tensor & { kerasMask?: tf.Tensor | null };

const ROWS = [
  [1, 2, 3, 0],
  [4, 5, 0, 0],
];

/** A built embedding with seeded tables. */
function seededEmbedding(args: TokenAndPositionEmbeddingArgs, seed = 100): TokenAndPositionEmbedding {
  const layer = new TokenAndPositionEmbedding(args);
  const x = ids(ROWS);
  (layer.apply(x) as tf.Tensor).dispose();
  x.dispose();
  randomizeWeights(layer, seed);
  return layer;
}

describeEachBackend('TokenAndPositionEmbedding', () => {
  expectLayerContract('TokenAndPositionEmbedding learned, one-hot path (vocabulary <= 512)', {
    make: () => new TokenAndPositionEmbedding({ vocabularySize: 11, sequenceLength: 6, embeddingDim: 4 }),
    inputs: () => ids(ROWS),
    outputShape: [2, 4, 4],
    weightShapes: [
      [11, 4],
      [6, 4],
    ],
  });
  expectLayerContract('TokenAndPositionEmbedding sinusoidal, gather path (vocabulary > 512), no mask', {
    make: () =>
      new TokenAndPositionEmbedding({
        vocabularySize: 600,
        sequenceLength: 6,
        embeddingDim: 4,
        positionEncoding: 'sinusoidal',
        maskZero: false,
      }),
    inputs: () =>
      ids([
        [1, 599, 300, 0],
        [4, 5, 513, 0],
      ]),
    outputShape: [2, 4, 4],
    weightShapes: [[600, 4]],
  });

  describe('values', () => {
    for (const vocabularySize of [11, 600]) {
      for (const scaleEmbeddings of [true, false]) {
        it(
          `learned: tokenTable[id] * ${scaleEmbeddings ? 'sqrt(D)' : '1'} + ` +
            `positionTable[t] (vocabulary ${vocabularySize})`,
          () => {
            const layer = seededEmbedding({ vocabularySize, sequenceLength: 6, embeddingDim: 4, scaleEmbeddings });
            const x = ids([
              [1, 2, 3, 0],
              [4, 10, 0, 0],
            ]);
            const out = read(() => layer.apply(x) as tf.Tensor);
            const [tokenTable, positionTable] = weightArrays(layer) as number[][][];
            const rows = x.arraySync() as number[][];
            rows.forEach((row, b) =>
              expect(
                maxAbsDiff(out[b], referenceEmbedding(tokenTable, positionTable, row, scaleEmbeddings)),
              ).toBeLessThan(1e-6),
            );
            // A hand check of one entry: id 10 at t = 1, d = 2.
            const factor = scaleEmbeddings ? 2 : 1; // sqrt(4)
            expect(Math.abs(out[1][1][2] - (tokenTable[10][2] * factor + positionTable[1][2]))).toBeLessThan(1e-6);
            x.dispose();
            layer.dispose();
          },
        );
      }
    }

    it('sinusoidal: PE(t, 2i) = sin(t / 10000^(2i/D)), PE(t, 2i+1) = cos(...), added to the scaled token', () => {
      const layer = new TokenAndPositionEmbedding({
        vocabularySize: 7,
        sequenceLength: 5,
        embeddingDim: 6,
        positionEncoding: 'sinusoidal',
      });
      const x = ids([[3, 3, 3, 3, 3]]);
      (layer.apply(x) as tf.Tensor).dispose();
      // Token 3's vector is zero, every other token's is ones: the output is PE itself.
      const table = tf.tidy(() =>
        tf.ones([7, 6]).mul(
          tf
            .oneHot(tf.tensor1d([3], 'int32'), 7)
            .reshape([7, 1])
            .sub(1)
            .neg(),
        ),
      );
      layer.setWeights([table]);
      const pe = read(() => layer.apply(x) as tf.Tensor)[0];
      // Hand values.
      expect(Math.abs(pe[0][0] - 0)).toBeLessThan(1e-6);
      expect(Math.abs(pe[0][1] - 1)).toBeLessThan(1e-6);
      expect(Math.abs(pe[1][0] - Math.sin(1))).toBeLessThan(1e-6);
      expect(Math.abs(pe[1][1] - Math.cos(1))).toBeLessThan(1e-6);
      expect(Math.abs(pe[3][2] - Math.sin(3 / Math.pow(10000, 2 / 6)))).toBeLessThan(1e-6);
      expect(Math.abs(pe[2][5] - Math.cos(2 / Math.pow(10000, 4 / 6)))).toBeLessThan(1e-6);
      // Every entry against the formula.
      const expected = pe.map((row, t) => row.map((_v, i) => sinusoid(t, i, 6)));
      expect(maxAbsDiff(pe, expected)).toBeLessThan(1e-6);
      // And another token adds sqrt(D) * its vector on top.
      const other = ids([[0, 1, 2, 4, 5]]);
      const withTokens = read(() => layer.apply(other) as tf.Tensor)[0];
      expect(
        maxAbsDiff(
          withTokens,
          expected.map((row) => row.map((v) => v + Math.sqrt(6))),
        ),
      ).toBeLessThan(1e-5);
      tf.dispose([x, table, other]);
      layer.dispose();
    });

    it('a shorter sequence uses the first rows of the position table; embed(ids, offset) continues it', () => {
      const layer = seededEmbedding({ vocabularySize: 11, sequenceLength: 6, embeddingDim: 4 });
      const full = ids([[1, 2, 3, 4, 5, 6]]);
      const prefix = ids([[1, 2, 3]]);
      const step = ids([[4]]);
      const outFull = read(() => layer.apply(full) as tf.Tensor)[0];
      const outPrefix = read(() => layer.apply(prefix) as tf.Tensor)[0];
      const outStep = read(() => tf.tidy(() => layer.embed(step, 3)))[0];
      expect(maxAbsDiff(outPrefix, outFull.slice(0, 3))).toBe(0);
      expect(maxAbsDiff(outStep[0], outFull[3])).toBeLessThan(1e-6);
      tf.dispose([full, prefix, step]);
      layer.dispose();
    });
  });

  describe('mask', () => {
    it('maskZero (default): mask = id != 0, on computeMask and on the output', () => {
      const layer = new TokenAndPositionEmbedding({ vocabularySize: 11, sequenceLength: 6, embeddingDim: 4 });
      const x = ids([
        [1, 0, 3, 0],
        [0, 5, 6, 7],
      ]);
      const y = layer.apply(x) as MaskedTensor;
      const expected = [
        [1, 0, 1, 0],
        [0, 1, 1, 1],
      ];
      expect(y.kerasMask!.cast('float32').arraySync()).toEqual(expected);
      const mask = layer.computeMask(x);
      expect(mask.cast('float32').arraySync()).toEqual(expected);
      tf.dispose([x, y, mask]);
      layer.dispose();
    });

    it('maskZero false: no mask, and id 0 is an ordinary token', () => {
      const layer = seededEmbedding({ vocabularySize: 11, sequenceLength: 6, embeddingDim: 4, maskZero: false });
      const x = ids([[1, 0, 3, 0]]);
      const y = layer.apply(x) as MaskedTensor;
      expect(y.kerasMask ?? null).toBeNull();
      expect(layer.computeMask(x) ?? null).toBeNull();
      const [tokenTable, positionTable] = weightArrays(layer) as number[][][];
      expect(
        maxAbsDiff(y.arraySync() as number[][][], [referenceEmbedding(tokenTable, positionTable, [1, 0, 3, 0], true)]),
      ).toBeLessThan(1e-6);
      tf.dispose([x, y]);
      layer.dispose();
    });

    it('in a functional model, the mask reaches the next layer (attention ignores padded positions)', () => {
      const tokens = tf.input({ shape: [null], dtype: 'int32' });
      const embedding = new TokenAndPositionEmbedding({ vocabularySize: 11, sequenceLength: 6, embeddingDim: 4 });
      const attended = new MultiHeadAttention({ numHeads: 2, keyDim: 2 }).apply(
        embedding.apply(tokens),
      ) as tf.SymbolicTensor;
      const model = tf.model({ inputs: tokens, outputs: attended });
      randomizeWeights(model, 500);
      const run = (rows: number[][]) => {
        const x = ids(rows);
        const y = read(() => model.predict(x) as tf.Tensor)[0];
        x.dispose();
        return y;
      };
      const padded = run([[1, 2, 0, 0]]);
      expect(maxAbsDiff(padded.slice(0, 2), run([[1, 2]]))).toBeLessThan(1e-6);
      expect(maxAbsDiff(padded.slice(0, 2), run([[1, 2, 0, 0, 0, 0]]).slice(0, 2))).toBeLessThan(1e-6);
      expect(maxAbsDiff(padded.slice(0, 2), run([[1, 2, 3, 0]]).slice(0, 2))).toBeGreaterThan(1e-3);
      model.dispose();
    });
  });

  describe('gradients', () => {
    for (const vocabularySize of [11, 600]) {
      it(
        `flow to both tables with the exact values ` +
          `(vocabulary ${vocabularySize}: ${vocabularySize > 512 ? 'gather' : 'one-hot matmul'})`,
        () => {
          const layer = seededEmbedding({ vocabularySize, sequenceLength: 6, embeddingDim: 4 });
          const rows = [
            [1, 2, 1, 0],
            [10, 2, 0, 0],
          ];
          const x = ids(rows);
          const c = seededTensor([2, 4, 4], 7);
          const [tokenVar, positionVar] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
          const { value, grads } = tf.variableGrads(
            () => tf.sum((layer.apply(x) as tf.Tensor).mul(c)) as tf.Scalar,
            [tokenVar, positionVar],
          );
          const tokenGrad = grads[tokenVar.name].arraySync() as number[][];
          const positionGrad = grads[positionVar.name].arraySync() as number[][];
          const cs = c.arraySync() as number[][][];
          // d/d token[v] = sqrt(D) * sum of c over the positions holding v; d/d position[t] = sum_b c[b][t].
          const expectedToken = Array.from({ length: vocabularySize }, () => [0, 0, 0, 0]);
          const expectedPosition = Array.from({ length: 6 }, () => [0, 0, 0, 0]);
          rows.forEach((row, b) =>
            row.forEach((id, t) =>
              cs[b][t].forEach((v, d) => {
                expectedToken[id][d] += 2 * v;
                expectedPosition[t][d] += v;
              }),
            ),
          );
          expect(maxAbsDiff(tokenGrad, expectedToken)).toBeLessThan(1e-5);
          expect(maxAbsDiff(positionGrad, expectedPosition)).toBeLessThan(1e-5);
          expect(Math.abs(tokenGrad[1][0])).toBeGreaterThan(1e-3);
          tf.dispose([x, c, value, ...Object.values(grads)]);
          layer.dispose();
        },
      );
    }
  });

  describe('invalid arguments', () => {
    const make = (args: object) => () =>
      new TokenAndPositionEmbedding({
        vocabularySize: 11,
        sequenceLength: 6,
        embeddingDim: 4,
        ...args,
      } as TokenAndPositionEmbeddingArgs);
    const cases: Array<[string, () => unknown, RegExp]> = [
      [
        'vocabularySize 0',
        make({ vocabularySize: 0 }),
        /TokenAndPositionEmbedding '.*': vocabularySize must be a positive integer, got 0/,
      ],
      [
        'sequenceLength missing',
        make({ sequenceLength: undefined }),
        /sequenceLength must be a positive integer, got undefined \(missing\)/,
      ],
      ['embeddingDim 2.5', make({ embeddingDim: 2.5 }), /embeddingDim must be a positive integer, got 2\.5/],
      [
        'positionEncoding rotary',
        make({ positionEncoding: 'rotary' }),
        /positionEncoding must be one of 'learned', 'sinusoidal', got 'rotary'/,
      ],
      ['maskZero "yes"', make({ maskZero: 'yes' }), /maskZero must be true or false, got 'yes'/],
      [
        'embeddingsInitializer unknown',
        make({ embeddingsInitializer: 'nope' }),
        /embeddingsInitializer 'nope' is not a known initializer/,
      ],
    ];
    for (const [title, f, message] of cases) {
      it(title, () => expect(f).toThrow(message));
    }

    it('a sequence longer than sequenceLength (learned and sinusoidal)', () => {
      const x = ids([[1, 2, 3, 4, 5, 6, 7]]);
      for (const positionEncoding of ['learned', 'sinusoidal'] as const) {
        const layer = make({ positionEncoding })() as TokenAndPositionEmbedding;
        expect(() => layer.apply(x)).toThrow(/sequence length 7 exceeds sequenceLength 6/);
      }
      x.dispose();
    });

    for (const vocabularySize of [11, 600]) {
      it(`a token id outside [0, vocabularySize) is an error on either path (vocabulary ${vocabularySize})`, () => {
        // Checked before either lookup (src/ops/token_ids.ts): the one-hot path (vocabulary <= 512)
        // would otherwise embed the id as a zero vector.
        const layer = make({ vocabularySize })() as TokenAndPositionEmbedding;
        for (const bad of [vocabularySize, -1]) {
          const x = ids([[1, bad]]);
          expect(() => tf.dispose(layer.apply(x) as tf.Tensor)).toThrow(
            `token id ${bad} at position 1 is outside [0, ${vocabularySize - 1}] (vocabularySize ${vocabularySize})`,
          );
          x.dispose();
        }
      });
    }

    it('input of rank 3', () => {
      const x = tf.zeros([2, 3, 1], 'int32');
      expect(() => make({})().apply(x)).toThrow(/input must be token ids of rank 2 \(B, T\), got shape \[2, 3, 1\]/);
      x.dispose();
    });
  });
});
