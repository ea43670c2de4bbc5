/**
 * `explainAttention` on any model, and `headMask`: every attention layer of the README's GPT, a
 * `tf.sequential` classifier, a Keras file and the shipped reverse model, with its path and kind;
 * per head, the contribution vectors summed over the keys are exactly the share of the layer's
 * output that switching the other heads off leaves; a mask of ones changes nothing, a zeroed head
 * removes exactly its share, and gradients flow with a mask.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { explainAttention } from '../../src/explain/explain';
import { loadKerasModel } from '../../src/keras/load';
import { MultiHeadAttention } from '../../src/layers/multi_head_attention';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import { TransformerEncoderBlock } from '../../src/layers/transformer_encoder_block';
import { loadSeq2Seq } from '../../src/model/seq2seq';
import { describeEachBackend } from '../helpers/backends';
import { seededValues } from '../layers/attention_reference';

const FIXTURES = path.join(__dirname, '..', 'fixtures');

function seedWeights(model: tf.LayersModel, seed: number): void {
  const weights = model
    .getWeights()
    .map((w, i) => tf.tidy(() => tf.tensor(seededValues(w.size, seed + i), w.shape).mul(0.5)));
  model.setWeights(weights);
  tf.dispose(weights);
}

function gpt(): tf.LayersModel {
  const tokens = tf.input({ shape: [null], dtype: 'int32' });
  let x = new TokenAndPositionEmbedding({
    vocabularySize: 12,
    sequenceLength: 8,
    embeddingDim: 16,
    name: 'embedding',
  }).apply(tokens);
  for (let i = 0; i < 2; i++) {
    x = new TransformerEncoderBlock({
      numHeads: 2,
      intermediateDim: 32,
      causal: true,
      normalizeFirst: true,
      name: `block_${i}`,
    }).apply(x);
  }
  const next = tf.layers.dense({ units: 12, activation: 'softmax' }).apply(tf.layers.layerNormalization().apply(x));
  return tf.model({ inputs: tokens, outputs: next as tf.SymbolicTensor });
}

function classifier(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.embedding({ inputDim: 12, outputDim: 16, maskZero: true, inputShape: [6] }),
      new MultiHeadAttention({ numHeads: 4, keyDim: 4, name: 'attention' }),
      tf.layers.globalAveragePooling1d(),
      tf.layers.dense({ units: 2, activation: 'softmax' }),
    ],
  });
}

const maxDiff = (a: number[] | number[][] | number[][][] | number[][][][], b: typeof a): number => {
  const [x, y] = [(a as unknown[]).flat(3) as number[], (b as unknown[]).flat(3) as number[]];
  expect(x.length).toBe(y.length);
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
};

describeEachBackend('explainAttention', () => {
  it("the README's GPT: both blocks' self-attention, causal, with the shapes of the input", () => {
    const model = gpt();
    seedWeights(model, 1);
    const ids = tf.tensor2d(
      [
        [3, 5, 7, 2, 9],
        [4, 4, 8, 1, 6],
      ],
      undefined,
      'int32',
    );
    const before = tf.memory().numTensors;
    const explained = explainAttention(model, ids);
    expect(tf.memory().numTensors).toBe(before);
    expect(explained.map((e) => [e.path, e.kind, e.numHeads])).toEqual([
      ['block_0/self_attention', 'causal', 2],
      ['block_1/self_attention', 'causal', 2],
    ]);
    for (const e of explained) {
      expect([e.weights.length, e.weights[0].length, e.weights[0][0].length, e.weights[0][0][0].length]).toEqual([
        2, 2, 5, 5,
      ]);
      expect([e.valueNorms.length, e.valueNorms[0].length, e.valueNorms[0][0].length]).toEqual([2, 2, 5]);
      // Causal: query 0 puts all its weight on key 0; every row is a distribution.
      expect(e.weights[1][1][0][0]).toBeCloseTo(1, 6);
      for (const row of e.weights.flat(2)) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      // Contributions are weights times value norms.
      expect(e.contributions[0][1][3][2]).toBeCloseTo(e.weights[0][1][3][2] * e.valueNorms[0][1][2], 5);
    }
    tf.dispose(ids);
    model.dispose();
  });

  it('a layer called twice: two explanations, the second named path#2, each from its own call', () => {
    const attention = new MultiHeadAttention({ numHeads: 2, keyDim: 4, name: 'shared' });
    const input = tf.input({ shape: [4, 8] });
    const once = attention.apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: attention.apply(once) as tf.SymbolicTensor });
    seedWeights(model, 3);
    const x = tf.tensor3d(seededValues(32, 7), [1, 4, 8]);
    const before = tf.memory().numTensors;
    const explained = explainAttention(model, x);
    expect(tf.memory().numTensors).toBe(before);
    expect(explained.map((e) => e.path)).toEqual(['shared', 'shared#2']);
    // Each call's own weights: the first is the layer's on x alone, the second differs from it.
    const first = tf.tidy(() => attention.attentionContributions(x).weights.arraySync() as number[][][][]);
    expect(maxDiff(explained[0].weights, first)).toBeLessThan(1e-6);
    expect(maxDiff(explained[1].weights, first)).toBeGreaterThan(1e-3);
    tf.dispose(x);
    model.dispose();
  });

  it("with headMasks: the masked layer's contributions, shares, importance scaled; the next pass changed", () => {
    const model = gpt();
    seedWeights(model, 7);
    const ids = tf.tensor2d([[3, 5, 7, 2, 9]], undefined, 'int32');
    const plain = explainAttention(model, ids, { headOutputs: true });
    const before = tf.memory().numTensors;
    const masked = explainAttention(model, ids, {
      headOutputs: true,
      headMasks: { 'block_0/self_attention': [0.5, 0] },
    });
    expect(tf.memory().numTensors).toBe(before);
    const [first, second] = [masked[0], plain[0]];
    expect(first.headMask).toEqual([0.5, 0]);
    expect(plain[0].headMask).toBeNull();
    // The masked layer's own weights and value norms do not depend on its mask.
    expect(maxDiff(first.weights, second.weights)).toBe(0);
    expect(maxDiff(first.valueNorms, second.valueNorms)).toBe(0);
    const scaledBy = (x: number[][][][], factors: number[]) =>
      x.map((row) => row.map((head, h) => head.map((t) => t.map((v) => v * factors[h]))));
    expect(maxDiff(first.contributions, scaledBy(second.contributions, [0.5, 0]))).toBeLessThan(1e-6);
    expect(maxDiff(first.headOutputs!, scaledBy(second.headOutputs!, [0.5, 0]))).toBeLessThan(1e-6);
    expect(first.importance[0][0]).toBeCloseTo(second.importance[0][0] * 0.5, 6);
    expect(first.importance[0][1]).toBe(0);
    // The next block sees the masked output: its attention is another.
    expect(maxDiff(masked[1].weights, plain[1].weights)).toBeGreaterThan(1e-4);
    tf.dispose(ids);
    model.dispose();
  });

  it("per head, the contributions summed over keys are the head's share (others masked, minus the bias)", () => {
    const model = classifier();
    seedWeights(model, 20);
    const ids = tf.tensor2d(
      [
        [3, 5, 7, 2, 0, 0],
        [4, 4, 8, 1, 6, 9],
      ],
      undefined,
      'int32',
    );
    const [explained] = explainAttention(model, ids, { headOutputs: true });
    expect([explained.path, explained.kind]).toEqual(['attention', 'self']);
    const attention = model.getLayer('attention') as MultiHeadAttention;
    // Not in a tidy: the embedding's padding mask travels on the tensor (kerasMask), which tidy would dispose.
    const embedded = model.layers[0].apply(ids) as tf.Tensor;
    const bias = attention.outputDense!.bias!.read();
    for (let h = 0; h < 4; h++) {
      const only = tf.tensor1d([0, 1, 2, 3].map((i) => (i === h ? 1 : 0)));
      const share = tf.tidy(() => (attention.apply(embedded, { headMask: only }) as tf.Tensor).sub(bias).arraySync());
      // Compared at the real positions: padded query rows attend uniformly in both.
      const real = [
        [0, 1, 2, 3],
        [0, 1, 2, 3, 4, 5],
      ];
      for (let b = 0; b < 2; b++) {
        const expected = real[b].map((t) => (share as number[][][])[b][t]);
        const actual = real[b].map((t) => explained.headOutputs![b][h][t]);
        expect(maxDiff(actual, expected)).toBeLessThan(1e-5);
      }
      only.dispose();
    }
    tf.dispose([ids, embedded]);
    model.dispose();
  });

  it('a Keras file loaded with loadKerasModel: its attention layer, from the same pass as predict', async () => {
    const model = await loadKerasModel(path.join(FIXTURES, 'keras', 'k3_attention.keras'));
    const x = model.inputs.map((input, i) => {
      const shape = input.shape.map((d, axis) => (axis === 0 ? 2 : (d ?? 4))) as number[];
      const values = seededValues(tf.util.sizeFromShape(shape), 9 + i).map((v) =>
        input.dtype === 'int32' ? Math.floor(Math.abs(v) * 5) + 1 : v,
      );
      return tf.tensor(values, shape, input.dtype);
    });
    const explained = explainAttention(model, x);
    expect(explained.length).toBeGreaterThan(0);
    for (const e of explained) {
      expect(e.weights.length).toBe(2);
      for (const row of e.weights.flat(2)) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    tf.dispose(x);
    model.dispose();
  });

  it('the shipped reverse model: six attention calls; Seq2Seq.attention gives the figures it gave before', async () => {
    const reverse = await loadSeq2Seq('models/reverse');
    const fixture = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'explain', 'reverse_attention_maps.json'), 'utf8'));
    const maps = await reverse.attention(fixture.source, fixture.decoderInput.slice(1));
    for (const kind of ['encoderSelf', 'decoderSelf', 'cross'] as const) {
      expect(maxDiff(maps[kind], fixture[kind])).toBeLessThan(1e-5);
      expect(maxDiff(maps.contributions[kind], fixture.contributions[kind])).toBeLessThan(1e-4);
      expect(maxDiff(maps.valueNorms[kind], fixture.valueNorms[kind])).toBeLessThan(1e-4);
      expect(maxDiff(maps.headImportance[kind], fixture.headImportance[kind])).toBeLessThan(1e-4);
    }
    const explained = explainAttention(reverse.model, [
      tf.tensor2d([fixture.source], undefined, 'int32'),
      tf.tensor2d([fixture.decoderInput], undefined, 'int32'),
    ]);
    expect(explained.map((e) => `${e.path}:${e.kind}`)).toEqual([
      'encoder_block_0/self_attention:self',
      'encoder_block_1/self_attention:self',
      'decoder_block_0/self_attention:causal',
      'decoder_block_0/cross_attention:cross',
      'decoder_block_1/self_attention:causal',
      'decoder_block_1/cross_attention:cross',
    ]);
    reverse.dispose();
  });
});

describeEachBackend('headMask', () => {
  const layer = new MultiHeadAttention({ numHeads: 3, keyDim: 4, name: 'mha' });
  const x = tf.tensor(seededValues(2 * 5 * 8, 3), [2, 5, 8]);
  beforeAll(() => {
    tf.dispose(layer.apply(x) as tf.Tensor);
    layer.setWeights(layer.getWeights().map((w, i) => tf.tensor(seededValues(w.size, 60 + i), w.shape)));
  });

  it('all ones equals no mask exactly; a zeroed head removes exactly its share; (B, H) masks rows apart', () => {
    const plain = layer.apply(x) as tf.Tensor;
    const ones = layer.apply(x, { headMask: tf.ones([3]) }) as tf.Tensor;
    expect(Array.from(ones.dataSync())).toEqual(Array.from(plain.dataSync()));
    const withoutHead1 = layer.apply(x, { headMask: tf.tensor1d([1, 0, 1]) }) as tf.Tensor;
    const onlyHead1 = layer.apply(x, { headMask: tf.tensor1d([0, 1, 0]) }) as tf.Tensor;
    const none = layer.apply(x, { headMask: tf.zeros([3]) }) as tf.Tensor; // the output bias alone
    // plain = without head 1 + head 1's share, its share = onlyHead1 - bias.
    const sum = tf.tidy(() => withoutHead1.add(onlyHead1.sub(none)));
    expect(tf.tidy(() => sum.sub(plain).abs().max().dataSync()[0])).toBeLessThan(1e-5);
    expect(tf.tidy(() => withoutHead1.sub(plain).abs().max().dataSync()[0])).toBeGreaterThan(1e-3);
    const perRow = layer.apply(x, {
      headMask: tf.tensor2d([
        [1, 1, 1],
        [1, 0, 1],
      ]),
    }) as tf.Tensor;
    expect(
      tf.tidy(
        () =>
          perRow
            .slice([0], [1])
            .sub(plain.slice([0], [1]))
            .abs()
            .max()
            .dataSync()[0],
      ),
    ).toBe(0);
    expect(
      tf.tidy(
        () =>
          perRow
            .slice([1], [1])
            .sub(withoutHead1.slice([1], [1]))
            .abs()
            .max()
            .dataSync()[0],
      ),
    ).toBeLessThan(1e-6);
    expect(() => layer.apply(x, { headMask: tf.ones([4]) })).toThrow(
      "MultiHeadAttention 'mha': headMask must be a tensor of shape (H) = [3] or (B, H) = [2, 3], got shape [4]",
    );
  });

  it('every weight still gets a gradient with a fixed mask, and a masked-out head gets none through its values', () => {
    const mask = tf.tensor1d([1, 0, 1]);
    const { grads } = tf.variableGrads(
      () => (layer.apply(x, { headMask: mask }) as tf.Tensor).square().sum() as tf.Scalar,
    );
    const norm = (name: string) => tf.tidy(() => grads[name].abs().sum().dataSync()[0]);
    for (const w of layer.trainableWeights) expect(grads[w.name]).toBeDefined();
    const valueKernel = layer.valueDense!.kernel!;
    // [D, H, V]: head 1's slice of the value kernel gets no gradient, heads 0 and 2 do.
    const perHead = tf.tidy(() => grads[valueKernel.name].abs().sum([0, 2]).arraySync() as number[]);
    expect(perHead[1]).toBe(0);
    expect(Math.min(perHead[0], perHead[2])).toBeGreaterThan(0);
    expect(norm(layer.queryDense!.kernel!.name)).toBeGreaterThan(0);
    tf.dispose([mask, ...Object.values(grads)]);
  });
});
