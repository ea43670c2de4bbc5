import * as tf from '@tensorflow/tfjs';
import { SinusoidalPositionEncoding, sinusoidalEncoding } from '../../src/layers/sinusoidal_position_encoding';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import { TransformerEncoderBlock } from '../../src/layers/transformer_encoder_block';
import { describeEachBackend } from '../helpers/backends';
import { sinusoid } from '../helpers/block_reference';
import { expectLayerContract } from '../helpers/layer_contract';
import { expectWeightlessLayerContract } from '../helpers/weightless_layer_contract';
import { ids, maxAbsDiff, paddingMask, randomizeWeights, read, seededTensor, withMask } from '../helpers/tensors';

type MaskedTensor = tf.Tensor & { kerasMask?: tf.Tensor | null };

describeEachBackend('SinusoidalPositionEncoding', () => {
  // expectLayerContract cannot take a layer without weights (its training step
  // calls tf.variableGrads on an empty list, which throws); this is the same
  // contract with the gradient checked at the input instead.
  expectWeightlessLayerContract('SinusoidalPositionEncoding', {
    make: () => new SinusoidalPositionEncoding({ maxWavelength: 100 }),
    inputs: () => withMask(seededTensor([2, 5, 6], 1), paddingMask([5, 3], 5)),
    outputShape: [2, 5, 6],
  });
  // ...and the full contract for the layer it is used in place of.
  expectLayerContract('TokenAndPositionEmbedding sinusoidal', {
    make: () =>
      new TokenAndPositionEmbedding({
        vocabularySize: 7,
        sequenceLength: 5,
        embeddingDim: 6,
        positionEncoding: 'sinusoidal',
      }),
    inputs: () =>
      ids([
        [1, 2, 3, 0, 0],
        [4, 5, 6, 1, 0],
      ]),
    outputShape: [2, 5, 6],
    weightShapes: [[7, 6]],
  });

  describe('values', () => {
    it('adds PE(t, 2i) = sin(t / w^(2i/D)), PE(t, 2i+1) = cos(t / w^(2i/D)) to its input', () => {
      const x = seededTensor([2, 5, 6], 2);
      const layer = new SinusoidalPositionEncoding();
      const out = read(() => layer.apply(x) as tf.Tensor);
      const xs = x.arraySync() as number[][][];
      const pe = out.map((rows, b) => rows.map((row, t) => row.map((v, i) => v - xs[b][t][i])));
      // Hand values: PE(0, even) = 0, PE(0, odd) = 1, PE(1, 0) = sin(1), PE(1, 1) = cos(1).
      for (const b of [0, 1]) {
        expect(maxAbsDiff(pe[b][0], [0, 1, 0, 1, 0, 1])).toBeLessThan(1e-6);
        expect(Math.abs(pe[b][1][0] - Math.sin(1))).toBeLessThan(1e-6);
        expect(Math.abs(pe[b][1][1] - Math.cos(1))).toBeLessThan(1e-6);
        expect(Math.abs(pe[b][4][3] - Math.cos(4 / Math.pow(10000, 2 / 6)))).toBeLessThan(1e-6);
        expect(Math.abs(pe[b][2][4] - Math.sin(2 / Math.pow(10000, 4 / 6)))).toBeLessThan(1e-6);
        expect(
          maxAbsDiff(
            pe[b],
            pe[b].map((row, t) => row.map((_v, i) => sinusoid(t, i, 6))),
          ),
        ).toBeLessThan(1e-6);
      }
      x.dispose();
    });

    it('maxWavelength changes the frequencies; odd widths work', () => {
      const x = tf.zeros([1, 4, 5]);
      const pe = read(() => new SinusoidalPositionEncoding({ maxWavelength: 100 }).apply(x) as tf.Tensor)[0];
      expect(Math.abs(pe[3][2] - Math.sin(3 / Math.pow(100, 2 / 5)))).toBeLessThan(1e-6);
      expect(Math.abs(pe[3][4] - Math.sin(3 / Math.pow(100, 4 / 5)))).toBeLessThan(1e-6);
      expect(
        maxAbsDiff(
          pe,
          pe.map((row, t) => row.map((_v, i) => sinusoid(t, i, 5, 100))),
        ),
      ).toBeLessThan(1e-6);
      x.dispose();
    });

    it('works for any length, and agrees with sinusoidalEncoding and the embedding', () => {
      const x = tf.zeros([1, 50, 4]);
      const pe = read(() => new SinusoidalPositionEncoding().apply(x) as tf.Tensor)[0];
      const table = sinusoidalEncoding(50, 4);
      expect(maxAbsDiff(pe, table.arraySync())).toBe(0);
      expect(Math.abs(pe[49][0] - Math.sin(49))).toBeLessThan(1e-5);
      // TokenAndPositionEmbedding('sinusoidal') = token * sqrt(D) + the same encoding.
      const embedding = new TokenAndPositionEmbedding({
        vocabularySize: 5,
        sequenceLength: 50,
        embeddingDim: 4,
        positionEncoding: 'sinusoidal',
      });
      const tokens = ids([Array.from({ length: 50 }, (_v, t) => t % 5)]);
      (embedding.apply(tokens) as tf.Tensor).dispose();
      randomizeWeights(embedding, 9);
      const embedded = read(() => embedding.apply(tokens) as tf.Tensor)[0];
      const tokenTable = embedding.getWeights()[0].arraySync() as number[][];
      const expected = pe.map((row, t) => row.map((v, d) => v + 2 * tokenTable[t % 5][d]));
      expect(maxAbsDiff(embedded, expected)).toBeLessThan(1e-5);
      tf.dispose([x, table, tokens]);
      embedding.dispose();
    });
  });

  describe('mask', () => {
    it('passes the padding mask through (kwargs or carried by the input), and the output owns it', () => {
      const layer = new SinusoidalPositionEncoding();
      const x = tf.zeros([2, 3, 4]);
      const mask = paddingMask([1, 3], 3);
      const viaKwargs = layer.computeMask(x, mask);
      expect(viaKwargs.arraySync()).toEqual([
        [1, 0, 0],
        [1, 1, 1],
      ]);
      const input = withMask(x.clone(), mask.clone());
      const y = layer.apply(input) as MaskedTensor;
      input.dispose(); // disposes the input's mask too (tfjs 4.x)
      expect(y.kerasMask).toBeTruthy();
      expect(y.kerasMask!.isDisposed).toBe(false);
      expect(y.kerasMask!.arraySync()).toEqual([
        [1, 0, 0],
        [1, 1, 1],
      ]);
      const unmasked = layer.apply(x) as MaskedTensor;
      expect(unmasked.kerasMask ?? null).toBeNull();
      tf.dispose([x, mask, viaKwargs, y, unmasked]);
    });

    it('in a model (embedding maskZero -> sinusoidal -> encoder block), predict ignores padding', () => {
      const tokens = tf.input({ shape: [null], dtype: 'int32' });
      // Learned-free: the embedding adds no positions of its own here.
      const embedded = tf.layers
        .embedding({ inputDim: 9, outputDim: 6, maskZero: true })
        .apply(tokens) as tf.SymbolicTensor;
      const positioned = new SinusoidalPositionEncoding().apply(embedded) as tf.SymbolicTensor;
      const encoded = new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 8 }).apply(
        positioned,
      ) as tf.SymbolicTensor;
      const model = tf.model({ inputs: tokens, outputs: encoded });
      randomizeWeights(model, 700);
      const run = (rows: number[][]) => {
        const x = ids(rows);
        const y = read(() => model.predict(x) as tf.Tensor)[0];
        x.dispose();
        return y;
      };
      const padded = run([[3, 4, 5, 0, 0]]);
      expect(maxAbsDiff(padded.slice(0, 3), run([[3, 4, 5]]))).toBeLessThan(1e-5);
      expect(maxAbsDiff(padded.slice(0, 3), run([[3, 4, 5, 7, 0]]).slice(0, 3))).toBeGreaterThan(1e-3);
      model.dispose();
    });
  });

  describe('invalid arguments', () => {
    it('maxWavelength 0', () => {
      expect(() => new SinusoidalPositionEncoding({ maxWavelength: 0 })).toThrow(
        /SinusoidalPositionEncoding '.*': maxWavelength must be a positive number, got 0/,
      );
    });

    it('input of rank 2', () => {
      const x = tf.zeros([3, 4]);
      expect(() => new SinusoidalPositionEncoding().apply(x)).toThrow(
        /input must have rank 3, got shape \[3, 4\] \(rank 2\)/,
      );
      x.dispose();
    });
  });
});
