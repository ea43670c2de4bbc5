import * as tf from '@tensorflow/tfjs';
import { AttentionOutputProjection } from '../../src/layers/attention_output_projection';
import { AttentionProjection } from '../../src/layers/attention_projection';
import { MultiHeadAttention, multiHeadAttention } from '../../src/layers/multi_head_attention';
import { describeEachBackend } from '../helpers/backends';
import { attentionWeights } from '../helpers/block_reference';
import { FUSED_ATTENTION, FUSED_ATTENTION_GRAD, profiled } from '../helpers/kernel_paths';
import { expectLayerContract } from '../helpers/layer_contract';
import { Matrix, referenceAttention, ReferenceWeights, seededValues } from './attention_reference';

function tensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(
    seededValues(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
  );
}

/** The layer's weights as nested arrays, in Keras order. */
function referenceWeights(layer: MultiHeadAttention): ReferenceWeights {
  const w = layer.getWeights().map((t) => t.arraySync());
  if (layer.useBias) return attentionWeights(w);
  const [queryKernel, keyKernel, valueKernel, outputKernel] = w;
  return {
    queryKernel,
    keyKernel,
    valueKernel,
    outputKernel,
    queryBias: null,
    keyBias: null,
    valueBias: null,
    outputBias: null,
  } as ReferenceWeights;
}

/** Random weights (glorot init has zero biases; the reference must see biases too). */
function randomizeWeights(layer: tf.layers.Layer, seed: number): void {
  layer.setWeights(layer.getWeights().map((w, i) => tensor(w.shape, seed + i).mul(0.7)));
}

function maxAbsDiff(a: number[] | number[][] | number[][][] | number[][][][], b: typeof a): number {
  const fa = (a as unknown[]).flat(4) as number[];
  const fb = (b as unknown[]).flat(4) as number[];
  expect(fa.length).toBe(fb.length);
  return fa.reduce((m, x, i) => Math.max(m, Math.abs(x - fb[i])), 0);
}

interface ParityCase {
  title: string;
  layerArgs: ConstructorParameters<typeof MultiHeadAttention>[0];
  queryShape: number[];
  valueShape?: number[];
  keyShape?: number[];
  /** Padding of the value/key sequence per batch element (number of real tokens). */
  valueLengths?: number[];
  attentionMask?: (b: number, t: number, s: number) => number;
}

const parityCases: ParityCase[] = [
  { title: 'self-attention', layerArgs: { numHeads: 2, keyDim: 3 }, queryShape: [2, 4, 5] },
  {
    title: 'cross-attention with a separate key and other widths',
    layerArgs: { numHeads: 3, keyDim: 2, outputDim: 7 },
    queryShape: [2, 3, 5],
    valueShape: [2, 6, 4],
    keyShape: [2, 6, 3],
  },
  {
    title: 'padded keys (padding mask on the value)',
    layerArgs: { numHeads: 2, keyDim: 4 },
    queryShape: [2, 3, 6],
    valueShape: [2, 5, 6],
    valueLengths: [5, 2],
  },
  { title: 'causal self-attention', layerArgs: { numHeads: 2, keyDim: 3, causal: true }, queryShape: [2, 5, 4] },
  {
    title: 'keyDim != valueDim, no bias, explicit attentionMask',
    layerArgs: { numHeads: 4, keyDim: 2, valueDim: 5, useBias: false },
    queryShape: [2, 4, 6],
    valueShape: [2, 3, 6],
    attentionMask: (b, t, s) => ((b + t + s) % 3 === 0 ? 0 : 1),
  },
  {
    title: 'causal self-attention, keyDim 8, valueDim 4',
    layerArgs: { numHeads: 2, keyDim: 8, valueDim: 4, causal: true },
    queryShape: [2, 5, 4],
  },
  {
    title: 'cross-attention with a separate key, no bias, explicit attentionMask, keyDim 4',
    layerArgs: { numHeads: 3, keyDim: 4, useBias: false },
    queryShape: [2, 4, 6],
    valueShape: [2, 3, 5],
    keyShape: [2, 3, 7],
    attentionMask: (b, t, s) => ((b + 2 * t + s) % 4 === 0 ? 0 : 1),
  },
];

/** The path of a layer's attention (src/ops/attention.ts): fused for key and value dims that are multiples of 4. */
function pathOf(args: { keyDim: number; valueDim?: number | null }): 'fused' | 'plain' {
  return args.keyDim % 4 === 0 && (args.valueDim ?? args.keyDim) % 4 === 0 ? 'fused' : 'plain';
}

describeEachBackend('MultiHeadAttention', () => {
  expectLayerContract('MultiHeadAttention self', {
    make: () => new MultiHeadAttention({ numHeads: 2, keyDim: 3, valueDim: 4 }),
    inputs: () => tensor([2, 5, 6], 1),
    outputShape: [2, 5, 6],
    weightShapes: [[6, 2, 3], [2, 3], [6, 2, 3], [2, 3], [6, 2, 4], [2, 4], [2, 4, 6], [6]],
  });
  expectLayerContract('MultiHeadAttention cross with scores', {
    make: () =>
      new MultiHeadAttention({ numHeads: 2, keyDim: 3, outputDim: 5, returnAttentionScores: true, dropout: 0.1 }),
    inputs: () => [tensor([2, 4, 6], 1), tensor([2, 3, 7], 2), tensor([2, 3, 8], 3)],
    outputShape: [
      [2, 4, 5],
      [2, 2, 4, 3],
    ],
    weightShapes: [[6, 2, 3], [2, 3], [8, 2, 3], [2, 3], [7, 2, 3], [2, 3], [2, 3, 5], [5]],
  });
  expectLayerContract('AttentionProjection', {
    make: () => new AttentionProjection({ numHeads: 3, headDim: 2 }),
    inputs: () => tensor([2, 4, 5], 4),
    outputShape: [2, 4, 3, 2],
    weightShapes: [
      [5, 3, 2],
      [3, 2],
    ],
  });
  expectLayerContract('AttentionOutputProjection', {
    make: () => new AttentionOutputProjection({ outputDim: 3 }),
    inputs: () => tensor([2, 4, 3, 2], 5),
    outputShape: [2, 4, 3],
    weightShapes: [[3, 2, 3], [3]],
  });

  describe('numerical parity with a plain-math reference (1e-5)', () => {
    for (const c of parityCases) {
      it(`${c.title} [${pathOf(c.layerArgs)}]`, async () => {
        const layer = new MultiHeadAttention({ ...c.layerArgs, returnAttentionScores: true });
        const query = tensor(c.queryShape, 11);
        const value = c.valueShape ? tensor(c.valueShape, 12) : null;
        const key = c.keyShape ? tensor(c.keyShape, 13) : null;
        const inputs = [query, value, key].filter((t): t is tf.Tensor => t != null);
        const [batch, queryLength] = c.queryShape;
        const keyLength = (c.valueShape ?? c.queryShape)[1];
        const valueMask = c.valueLengths
          ? tf.tensor2d(
              c.valueLengths.flatMap((n) => Array.from({ length: keyLength }, (_x, s) => (s < n ? 1 : 0))),
              [batch, keyLength],
            )
          : null;
        const maskArray = (b: number): Matrix =>
          Array.from({ length: queryLength }, (_r, t) =>
            Array.from({ length: keyLength }, (_c, s) => {
              let m = 1;
              if (c.valueLengths && s >= c.valueLengths[b]) m = 0;
              if (c.layerArgs.causal && s > t) m = 0;
              if (c.attentionMask) m *= c.attentionMask(b, t, s);
              return m;
            }),
          );
        const attentionMask = c.attentionMask
          ? tf.tensor3d(Array.from({ length: batch }, (_b, b) => maskArray(b)))
          : undefined;
        layer.apply(inputs.length === 1 ? inputs[0] : inputs); // build
        randomizeWeights(layer, 100);
        const kwargs = { attentionMask, mask: valueMask ? [null, valueMask] : undefined };
        const { kernels, result } = await profiled(
          () => layer.apply(inputs.length === 1 ? inputs[0] : inputs, kwargs) as tf.Tensor[],
        );
        expect(kernels.includes(FUSED_ATTENTION)).toBe(pathOf(c.layerArgs) === 'fused');
        const [output, scores] = result;
        const weights = referenceWeights(layer);
        const q = query.arraySync() as number[][][];
        const v = (value ?? query).arraySync() as number[][][];
        const k = (key ?? value ?? query).arraySync() as number[][][];
        const out = output.arraySync() as number[][][];
        const sc = scores.arraySync() as number[][][][];
        for (let b = 0; b < batch; b++) {
          const anyMask = c.valueLengths || c.layerArgs.causal || c.attentionMask;
          const ref = referenceAttention(weights, q[b], v[b], k[b], anyMask ? maskArray(b) : null);
          expect(maxAbsDiff(out[b], ref.output)).toBeLessThan(1e-5);
          expect(maxAbsDiff(sc[b], ref.scores)).toBeLessThan(1e-5);
        }
        tf.dispose([query, output, scores, ...(value ? [value] : []), ...(key ? [key] : [])]);
        if (valueMask) valueMask.dispose();
        if (attentionMask) attentionMask.dispose();
        layer.dispose();
      });
    }

    it('a hand-computed case: 1 head, 2 keys (1e-6)', () => {
      // Query width 1, keyDim 1, identity-like weights: q = 2, keys k = [1, 3],
      // values v = [10, 20]. Scores 2*1 = 2 and 2*3 = 6 (sqrt(1) = 1);
      // softmax = [1 / (1 + e^4), e^4 / (1 + e^4)] = [0.0179862100, 0.9820137900];
      // output = 10 * 0.01798621 + 20 * 0.98201379 = 19.8201379.
      const layer = new MultiHeadAttention({ numHeads: 1, keyDim: 1, useBias: false, returnAttentionScores: true });
      const query = tf.tensor3d([[[2]]]);
      const value = tf.tensor3d([[[10], [20]]]);
      const key = tf.tensor3d([[[1], [3]]]);
      layer.apply([query, value, key]);
      layer.setWeights([tf.ones([1, 1, 1]), tf.ones([1, 1, 1]), tf.ones([1, 1, 1]), tf.ones([1, 1, 1])]);
      const [output, scores] = layer.apply([query, value, key]) as tf.Tensor[];
      const p = 1 / (1 + Math.exp(4));
      expect(Math.abs(scores.dataSync()[0] - p)).toBeLessThan(1e-6);
      expect(Math.abs(scores.dataSync()[1] - (1 - p))).toBeLessThan(1e-6);
      expect(Math.abs(output.dataSync()[0] - (10 * p + 20 * (1 - p)))).toBeLessThan(1e-5 * 20);
      expect(Math.abs(output.dataSync()[0] - 19.8201379)).toBeLessThan(1e-5);
      tf.dispose([query, value, key, output, scores]);
      layer.dispose();
    });
  });

  describe('gradients', () => {
    for (const { path, keyDim, valueDim } of [
      { path: 'plain (keyDim 2, valueDim 3)', keyDim: 2, valueDim: 3 },
      { path: 'fused (keyDim 4, valueDim 4)', keyDim: 4, valueDim: 4 },
    ]) {
      it(`match central finite differences for every weight [${path}]`, async () => {
        const layer = new MultiHeadAttention({ numHeads: 2, keyDim, valueDim });
        const query = tensor([1, 3, 4], 21);
        const value = tensor([1, 4, 3], 22);
        layer.apply([query, value]);
        randomizeWeights(layer, 200);
        const target = tensor([1, 3, 4], 23);
        const loss = () =>
          tf.tidy(() => tf.sum(tf.square((layer.apply([query, value]) as tf.Tensor).sub(target))) as tf.Scalar);
        const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
        const { kernels, result } = await profiled(() => tf.variableGrads(loss, vars));
        const { grads, value: l0 } = result;
        // The intended path ran, forward and backward.
        const fused = keyDim % 4 === 0;
        expect([FUSED_ATTENTION, FUSED_ATTENTION_GRAD].map((name) => kernels.includes(name))).toEqual([fused, fused]);
        l0.dispose();
        const eps = 1e-2;
        let checked = 0;
        for (const variable of vars) {
          const analytic = grads[variable.name].dataSync();
          const original = variable.dataSync().slice();
          // A handful of entries per weight keeps the test fast on the cpu backend.
          for (const index of [0, Math.floor(original.length / 2), original.length - 1]) {
            const shifted = (delta: number) => {
              const values = original.slice();
              values[index] += delta;
              variable.assign(tf.tensor(values, variable.shape));
              const l = loss();
              const result = l.dataSync()[0];
              l.dispose();
              return result;
            };
            const numeric = (shifted(eps) - shifted(-eps)) / (2 * eps);
            variable.assign(tf.tensor(original, variable.shape));
            const scale = Math.max(1, Math.abs(numeric), Math.abs(analytic[index]));
            expect({
              weight: variable.name,
              index,
              relErr: Math.abs(numeric - analytic[index]) / scale < 1e-3,
            }).toEqual({
              weight: variable.name,
              index,
              relErr: true,
            });
            checked++;
          }
        }
        expect(checked).toBe(8 * 3);
        tf.dispose([query, value, target, ...Object.values(grads)]);
        layer.dispose();
      });
    }

    it('one Adam step inside a tf.model changes every trainable weight', async () => {
      const input = tf.input({ shape: [4, 6] });
      const other = tf.input({ shape: [3, 5] });
      const selfAttention = new MultiHeadAttention({ numHeads: 2, keyDim: 3, name: 'self_att' });
      const crossAttention = new MultiHeadAttention({ numHeads: 2, keyDim: 3, name: 'cross_att' });
      const h = selfAttention.apply(input) as tf.SymbolicTensor;
      const y = crossAttention.apply([h, other]) as tf.SymbolicTensor;
      const model = tf.model({ inputs: [input, other], outputs: y });
      model.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
      expect(model.trainableWeights.length).toBe(16);
      const before = model.getWeights().map((w) => w.clone());
      const xs = [tensor([8, 4, 6], 31), tensor([8, 3, 5], 32)];
      const ys = tensor([8, 4, 6], 33);
      await model.fit(xs, ys, { epochs: 1, batchSize: 8, verbose: 0 });
      model.getWeights().forEach((w, i) => {
        const change = tf.max(tf.abs(w.sub(before[i]))).dataSync()[0];
        expect({ weight: model.weights[i].originalName, changed: change > 0 }).toEqual({
          weight: model.weights[i].originalName,
          changed: true,
        });
      });
      tf.dispose([...before, ...xs, ys]);
      model.dispose();
    });
  });

  describe('masks', () => {
    function outputs(layer: MultiHeadAttention, inputs: tf.Tensor[], kwargs: object): Float32Array {
      const out = layer.apply(inputs, kwargs) as tf.Tensor;
      const data = out.dataSync() as Float32Array;
      out.dispose();
      return data;
    }

    it('changing a padded key/value changes nothing; an unmasked one does', () => {
      const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 3 });
      const query = tensor([1, 3, 4], 41);
      const value = tensor([1, 5, 4], 42);
      const mask = tf.tensor2d([[1, 1, 1, 0, 0]]);
      const base = outputs(layer, [query, value], { mask: [null, mask] });
      const changed = (position: number) =>
        tf.tidy(() => {
          const bump = tf
            .oneHot(tf.tensor1d([position], 'int32'), 5)
            .reshape([1, 5, 1])
            .mul(3);
          return value.add(bump);
        });
      const padded = changed(4);
      const real = changed(1);
      expect(outputs(layer, [query, padded], { mask: [null, mask] })).toEqual(base);
      expect(
        maxAbsDiff(Array.from(outputs(layer, [query, real], { mask: [null, mask] })), Array.from(base)),
      ).toBeGreaterThan(1e-3);
      tf.dispose([query, value, mask, padded, real]);
      layer.dispose();
    });

    it('changing a future position changes no earlier output (causal)', () => {
      const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 3, causal: true });
      const x = tensor([1, 5, 4], 51);
      const base = outputs(layer, [x], {});
      const changed = tf.tidy(() =>
        x.add(
          tf
            .oneHot(tf.tensor1d([3], 'int32'), 5)
            .reshape([1, 5, 1])
            .mul(2),
        ),
      );
      const after = outputs(layer, [changed], {});
      // Positions 0..2 (the first 3 * 4 values) are unchanged; position 3 changes.
      expect(Array.from(after.slice(0, 12))).toEqual(Array.from(base.slice(0, 12)));
      expect(maxAbsDiff(Array.from(after.slice(12, 16)), Array.from(base.slice(12, 16)))).toBeGreaterThan(1e-3);
      tf.dispose([x, changed]);
      layer.dispose();
    });

    it('uses the padding mask that tf.layers.embedding({maskZero}) propagates in a model', () => {
      const tokens = tf.input({ shape: [null], dtype: 'int32' });
      const embedded = tf.layers
        .embedding({ inputDim: 10, outputDim: 4, maskZero: true })
        .apply(tokens) as tf.SymbolicTensor;
      const attended = new MultiHeadAttention({ numHeads: 2, keyDim: 2 }).apply(embedded) as tf.SymbolicTensor;
      const model = tf.model({ inputs: tokens, outputs: attended });
      const padded = tf.tensor2d([[3, 4, 5, 0, 0]], undefined, 'int32');
      const unpadded = tf.tensor2d([[3, 4, 5]], undefined, 'int32');
      const longer = tf.tensor2d([[3, 4, 5, 7, 0]], undefined, 'int32');
      const [yPadded, yUnpadded, yLonger] = [padded, unpadded, longer].map((x) => model.predict(x) as tf.Tensor);
      // Padded keys are never attended: the real rows equal those of the unpadded sequence.
      expect(maxAbsDiff(Array.from(yPadded.dataSync().slice(0, 12)), Array.from(yUnpadded.dataSync()))).toBeLessThan(
        1e-6,
      );
      // A real token in the same place does change them.
      expect(
        maxAbsDiff(Array.from(yPadded.dataSync().slice(0, 12)), Array.from(yLonger.dataSync().slice(0, 12))),
      ).toBeGreaterThan(1e-4);
      tf.dispose([padded, unpadded, longer, yPadded, yUnpadded, yLonger]);
      model.dispose();
    });

    for (const { path, keyDim } of [
      { path: 'plain (keyDim 3)', keyDim: 3 },
      { path: 'fused (keyDim 4)', keyDim: 4 },
    ]) {
      it(`a query row whose keys are all masked attends uniformly: [${path}]`, async () => {
        const layer = new MultiHeadAttention({ numHeads: 2, keyDim, returnAttentionScores: true });
        const x = tensor([1, 3, 4], 61);
        const attentionMask = tf.tensor3d([
          [
            [0, 0, 0],
            [1, 0, 0],
            [1, 1, 0],
          ],
        ]);
        layer.apply(x); // build
        randomizeWeights(layer, 160);
        const { kernels, result } = await profiled(() => layer.apply(x, { attentionMask }) as tf.Tensor[]);
        expect(kernels.includes(FUSED_ATTENTION)).toBe(keyDim === 4);
        const [output, scores] = result;
        const probabilities = scores.arraySync() as number[][][][]; // (B, H, T, S)
        const out = output.arraySync() as number[][][];
        for (const head of probabilities[0]) {
          // Every score of the row is exactly MASKED_SCORE (float32 absorbs q.k), so its probabilities are
          // exactly equal, and 1/S to float32 rounding (the fused kernel on cpu lands one ulp below).
          expect(head[0].map((p) => p === head[0][0])).toEqual([true, true, true]);
          expect(Math.abs(head[0][0] - 1 / 3)).toBeLessThan(1e-7);
          expect(head[1]).toEqual([1, 0, 0]); // an ordinary row: masked keys get exactly 0
          expect(head[2][2]).toBe(0);
        }
        // The row's output: the mean of the value projections, through the output projection.
        const w = referenceWeights(layer);
        const rows = x.arraySync() as number[][][];
        const meanX = rows[0][0].map((_v, d) => rows[0].reduce((sum, row) => sum + row[d], 0) / 3);
        const [numHeads, valueDim] = [2, keyDim];
        const meanValue = Array.from({ length: numHeads }, (_h, h) =>
          Array.from(
            { length: valueDim },
            (_e, e) => meanX.reduce((sum, v, d) => sum + v * w.valueKernel[d][h][e], 0) + w.valueBias![h][e],
          ),
        );
        const expected = w.outputBias!.map(
          (bias, d) =>
            bias +
            meanValue.reduce((sum, head, h) => sum + head.reduce((s, v, e) => s + v * w.outputKernel[h][e][d], 0), 0),
        );
        expect(maxAbsDiff(out[0][0], expected)).toBeLessThan(1e-5);
        // Not vacuous: the other rows differ from it.
        expect(maxAbsDiff(out[0][1], expected)).toBeGreaterThan(1e-2);
        tf.dispose([x, attentionMask, output, scores]);
        layer.dispose();
      });
    }
    for (const { path, keyDim } of [
      { path: 'plain (keyDim 3)', keyDim: 3 },
      { path: 'fused (keyDim 4)', keyDim: 4 },
    ]) {
      it(`with fullyMaskedQueries 'zero' such a row attends to nothing (Keras's masked Softmax): [${path}]`, () => {
        const args = { numHeads: 2, keyDim, returnAttentionScores: true };
        const uniform = new MultiHeadAttention(args);
        const zero = new MultiHeadAttention({ ...args, fullyMaskedQueries: 'zero' });
        const x = tensor([2, 3, 4], 62);
        // Row 0 of batch 0 is fully masked, by the attention mask or (batch 1) by the query's padding.
        const attentionMask = tf.tensor3d([
          [
            [0, 0, 0],
            [1, 0, 1],
            [1, 1, 1],
          ],
          [
            [1, 1, 1],
            [1, 1, 0],
            [1, 1, 1],
          ],
        ]);
        const padding = tf.tensor2d([
          [1, 1, 1],
          [0, 1, 1],
        ]);
        uniform.apply(x);
        zero.apply(x);
        randomizeWeights(uniform, 161);
        zero.setWeights(uniform.getWeights());
        const [a, aScores] = uniform.apply(x, { attentionMask, mask: padding }) as tf.Tensor[];
        const [b, bScores] = zero.apply(x, { attentionMask, mask: padding }) as tf.Tensor[];
        const [out, scores] = [b.arraySync() as number[][][], bScores.arraySync() as number[][][][]];
        const [outUniform, scoresUniform] = [a.arraySync() as number[][][], aScores.arraySync() as number[][][][]];
        // The fully masked rows: zero scores, and the output is the output projection's bias.
        const bias = Array.from(zero.outputDense!.bias!.read().dataSync());
        for (const [batch, row] of [
          [0, 0],
          [1, 0],
        ]) {
          for (const head of scores[batch]) expect(head[row]).toEqual([0, 0, 0]);
          expect(maxAbsDiff(out[batch][row], bias)).toBeLessThan(1e-6);
          expect(maxAbsDiff(outUniform[batch][row], bias)).toBeGreaterThan(1e-3);
        }
        // Every other row as with uniform attention.
        for (const [batch, row] of [
          [0, 1],
          [0, 2],
          [1, 1],
          [1, 2],
        ]) {
          expect(maxAbsDiff(out[batch][row], outUniform[batch][row])).toBeLessThan(1e-6);
          expect(maxAbsDiff(scores[batch][0][row], scoresUniform[batch][0][row])).toBeLessThan(1e-6);
        }
        expect(zero.getConfig().fullyMaskedQueries).toBe('zero');
        expect('fullyMaskedQueries' in uniform.getConfig()).toBe(false);
        expect(() => new MultiHeadAttention({ ...args, fullyMaskedQueries: 'none' as never })).toThrow(
          "fullyMaskedQueries must be one of 'uniform', 'zero', got 'none'",
        );
        tf.dispose([x, attentionMask, padding, a, aScores, b, bScores]);
        uniform.dispose();
        zero.dispose();
      });
    }
  });

  describe('dropout', () => {
    it('rate ~1 vs 0 differ only when training; inference is deterministic', () => {
      const x = tensor([2, 4, 6], 71);
      const dropped = new MultiHeadAttention({ numHeads: 2, keyDim: 3, dropout: 0.999 });
      const plain = new MultiHeadAttention({ numHeads: 2, keyDim: 3, dropout: 0 });
      dropped.apply(x);
      plain.apply(x);
      plain.setWeights(dropped.getWeights());
      const run = (layer: MultiHeadAttention, training: boolean) => {
        const y = layer.apply(x, { training }) as tf.Tensor;
        const data = Array.from(y.dataSync());
        y.dispose();
        return data;
      };
      expect(run(dropped, false)).toEqual(run(plain, false));
      expect(run(dropped, false)).toEqual(run(dropped, false));
      expect(run(plain, true)).toEqual(run(plain, false));
      expect(maxAbsDiff(run(dropped, true), run(plain, true))).toBeGreaterThan(1e-3);
      x.dispose();
      dropped.dispose();
      plain.dispose();
    });
  });

  describe('serialization', () => {
    it('a functional model with self- and cross-attention reloads with identical predictions', async () => {
      const a = tf.input({ shape: [4, 6] });
      const b = tf.input({ shape: [3, 5] });
      const h = new MultiHeadAttention({ numHeads: 2, keyDim: 3, causal: true }).apply(a) as tf.SymbolicTensor;
      const y = new MultiHeadAttention({ numHeads: 2, keyDim: 3, valueDim: 2 }).apply([h, b]) as tf.SymbolicTensor;
      const model = tf.model({ inputs: [a, b], outputs: y });
      const xs = [tensor([2, 4, 6], 81), tensor([2, 3, 5], 82)];
      let artifacts: tf.io.ModelArtifacts | null = null;
      await model.save(
        tf.io.withSaveHandler(async (art) => {
          artifacts = art;
          return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
        }),
      );
      const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
      const p1 = model.predict(xs) as tf.Tensor;
      const p2 = loaded.predict(xs) as tf.Tensor;
      expect(maxAbsDiff(Array.from(p1.dataSync()), Array.from(p2.dataSync()))).toBe(0);
      expect(loaded.layers.map((l) => l.getClassName())).toEqual([
        'InputLayer',
        'MultiHeadAttention',
        'InputLayer',
        'MultiHeadAttention',
      ]);
      tf.dispose([...xs, p1, p2]);
      model.dispose();
      loaded.dispose();
    });

    it('names weights as Keras does', () => {
      const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 3, name: 'mha' });
      const x = tensor([1, 2, 4], 91);
      (layer.apply(x) as tf.Tensor).dispose();
      expect(layer.weights.map((w) => w.originalName)).toEqual([
        'mha/query/kernel',
        'mha/query/bias',
        'mha/key/kernel',
        'mha/key/bias',
        'mha/value/kernel',
        'mha/value/bias',
        'mha/attention_output/kernel',
        'mha/attention_output/bias',
      ]);
      x.dispose();
      layer.dispose();
    });
  });

  describe('invalid arguments', () => {
    const cases: Array<[string, () => unknown, RegExp]> = [
      [
        'numHeads 0',
        () => multiHeadAttention({ numHeads: 0, keyDim: 2 }),
        /numHeads must be a positive integer, got 0/,
      ],
      [
        'numHeads 2.5',
        () => multiHeadAttention({ numHeads: 2.5, keyDim: 2 }),
        /numHeads must be a positive integer, got 2.5/,
      ],
      [
        'numHeads -1',
        () => multiHeadAttention({ numHeads: -1, keyDim: 2 }),
        /numHeads must be a positive integer, got -1/,
      ],
      [
        'keyDim missing',
        () => multiHeadAttention({ numHeads: 2 } as never),
        /keyDim must be a positive integer, got undefined/,
      ],
      ['keyDim 0', () => multiHeadAttention({ numHeads: 2, keyDim: 0 }), /keyDim must be a positive integer, got 0/],
      [
        'dropout 1',
        () => multiHeadAttention({ numHeads: 2, keyDim: 2, dropout: 1 }),
        /dropout must be a number in \[0, 1\), got 1/,
      ],
      [
        'dropout -0.1',
        () => multiHeadAttention({ numHeads: 2, keyDim: 2, dropout: -0.1 }),
        /dropout must be a number in \[0, 1\), got -0.1/,
      ],
      [
        'attentionAxes [1, 2]',
        () => multiHeadAttention({ numHeads: 2, keyDim: 2, attentionAxes: [1, 2] }),
        /attentionAxes \[1,2\] is not supported/,
      ],
    ];
    for (const [title, make, message] of cases) {
      it(title, () => expect(make).toThrow(message));
    }

    it('rank != 3', () => {
      const layer = multiHeadAttention({ numHeads: 2, keyDim: 2 });
      const x = tf.zeros([2, 3]);
      expect(() => layer.apply(x)).toThrow(/query must have rank 3, got shape \[2, 3\] \(rank 2\)/);
      x.dispose();
    });

    it('batch mismatch between query and value', () => {
      const layer = multiHeadAttention({ numHeads: 2, keyDim: 2 });
      const q = tf.zeros([2, 3, 4]);
      const v = tf.zeros([3, 3, 4]);
      expect(() => layer.apply([q, v])).toThrow(/same batch size, got shapes query \[2, 3, 4\], value \[3, 3, 4\]/);
      tf.dispose([q, v]);
    });

    it('width different from the one the layer was built for', () => {
      const layer = multiHeadAttention({ numHeads: 2, keyDim: 2 });
      const q = tf.zeros([2, 3, 4]);
      const wide = tf.zeros([2, 3, 5]);
      (layer.apply(q) as tf.Tensor).dispose();
      expect(() => layer.apply([q, wide])).toThrow(
        /value has width 5 \(shape \[2, 3, 5\]\) but the layer was built for width 4/,
      );
      tf.dispose([q, wide]);
      layer.dispose();
    });

    it('key and value of different lengths', () => {
      const layer = multiHeadAttention({ numHeads: 2, keyDim: 2 });
      const q = tf.zeros([2, 3, 4]);
      const v = tf.zeros([2, 5, 4]);
      const k = tf.zeros([2, 6, 4]);
      expect(() => layer.apply([q, v, k])).toThrow(
        /value and key must have the same length S, got shapes value \[2, 5, 4\], key \[2, 6, 4\]/,
      );
      tf.dispose([q, v, k]);
    });

    it('attentionMask of the wrong shape', () => {
      const layer = multiHeadAttention({ numHeads: 2, keyDim: 2 });
      const q = tf.zeros([2, 3, 4]);
      const m = tf.ones([2, 3, 4]);
      expect(() => layer.apply(q, { attentionMask: m })).toThrow(
        'attentionMask must have shape (T, S) = [3, 3], (B, T, S) = [2, 3, 3], (B, H, T, S) = [2, 2, 3, 3] ' +
          '(an axis may also be 1), got [2, 3, 4]',
      );
      tf.dispose([q, m]);
    });
  });
});
