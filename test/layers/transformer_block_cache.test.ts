/**
 * The blocks' caches (keras-hub's TransformerDecoder call arguments, on all four block classes)
 * and the position layers' `startIndex`: running a sequence one position at a time gives the rows
 * of the full pass, a memory's cross-attention cache is written once and read after, and the
 * caches come back after the output.
 */
import * as tf from '@tensorflow/tfjs';
import { KerasHubPositionEmbedding } from '../../src/layers/keras_hub/position_embedding';
import { KerasHubSinePositionEncoding } from '../../src/layers/keras_hub/sine_position_encoding';
import { KerasHubTokenAndPositionEmbedding } from '../../src/layers/keras_hub/token_and_position_embedding';
import { KerasHubTransformerDecoder } from '../../src/layers/keras_hub/transformer_decoder';
import { SinusoidalPositionEncoding } from '../../src/layers/sinusoidal_position_encoding';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import type { TransformerBlock } from '../../src/layers/transformer_block';
import { TransformerDecoderBlock } from '../../src/layers/transformer_decoder_block';
import { TransformerEncoderBlock } from '../../src/layers/transformer_encoder_block';
import { describeEachBackend } from '../helpers/backends';
import { seededValues } from './attention_reference';

const [B, T, S, D] = [2, 7, 5, 16];

function tensor(shape: number[], seed: number): tf.Tensor {
  return tf.tidy(() => tf.tensor(seededValues(tf.util.sizeFromShape(shape), seed), shape));
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);
}

/** A built block with seeded weights (glorot's zero biases and unit gammas would hide mistakes). */
function seeded<L extends TransformerBlock>(block: L, shapes: number[][]): L {
  block.build(shapes.length === 1 ? shapes[0] : shapes);
  block.setWeights(block.getWeights().map((w, i) => tensor(w.shape, 300 + i).mul(0.5)));
  return block;
}

/** The block over x (B, T, D) one position at a time with caches; outputs concatenated (B, T, D). */
function stepwise(block: TransformerBlock, x: tf.Tensor, memory: tf.Tensor | null): tf.Tensor {
  let self = block.selfAttention!.createCache(B, T);
  let cross = memory ? block.crossAttention!.createCache(B, S) : undefined;
  const outputs: tf.Tensor[] = [];
  for (let t = 0; t < T; t++) {
    const row = x.slice([0, t, 0], [B, 1, D]);
    const inputs = memory ? [row, memory] : row;
    const result = block.apply(inputs, {
      selfAttentionCache: self,
      selfAttentionCacheUpdateIndex: t,
      ...(memory ? { crossAttentionCache: cross, crossAttentionCacheUpdateIndex: t === 0 ? 0 : null } : {}),
    }) as tf.Tensor[];
    expect(result.length).toBe(memory ? 3 : 2);
    tf.dispose([row, self, ...(cross ? [cross] : [])]);
    [self, cross] = [result[1] as tf.Tensor3D, result[2] as tf.Tensor3D | undefined];
    outputs.push(result[0]);
  }
  const joined = tf.concat(outputs, 1);
  tf.dispose([...outputs, self, ...(cross ? [cross] : [])]);
  return joined;
}

describeEachBackend('transformer block caches', () => {
  const cases: Array<[string, () => TransformerBlock, boolean]> = [
    [
      'ours, causal encoder block, post-LN',
      () => new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 24, causal: true }),
      false,
    ],
    [
      'ours, causal encoder block, pre-LN gelu',
      () =>
        new TransformerEncoderBlock({
          numHeads: 4,
          intermediateDim: 24,
          causal: true,
          normalizeFirst: true,
          activation: 'gelu',
        }),
      false,
    ],
    [
      'ours, decoder block with cross-attention',
      () => new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 24 }),
      true,
    ],
    [
      'ours, decoder-only decoder block',
      () => new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 24 }),
      false,
    ],
    [
      'keras-hub decoder with cross-attention, pre-LN',
      () => new KerasHubTransformerDecoder({ numHeads: 2, intermediateDim: 24, normalizeFirst: true }),
      true,
    ],
    [
      'keras-hub decoder-only, silu',
      () => new KerasHubTransformerDecoder({ numHeads: 4, intermediateDim: 24, activation: 'silu' }),
      false,
    ],
  ];
  it.each(cases)('%s: one position at a time with caches equals the full pass', (_title, make, withMemory) => {
    const x = tensor([B, T, D], 1);
    const memory = withMemory ? tensor([B, S, 12], 2) : null;
    const block = seeded(
      make(),
      memory
        ? [
            [B, T, D],
            [B, S, 12],
          ]
        : [[B, T, D]],
    );
    const before = tf.memory().numTensors;
    const full = block.apply(memory ? [x, memory] : x) as tf.Tensor;
    const cached = stepwise(block, x, memory);
    expect(maxAbsDiff(full, cached)).toBeLessThan(5e-5);
    tf.dispose([full, cached]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, ...(memory ? [memory] : []), ...block.weights.map((w) => w.read())]);
  });

  it('a block refuses a cache call without the caches it has', () => {
    const block = seeded(new TransformerDecoderBlock({ name: 'dec', numHeads: 2, intermediateDim: 8 }), [
      [1, 3, D],
      [1, 4, D],
    ]);
    const [x, memory] = [tf.zeros([1, 1, D]), tf.zeros([1, 4, D])];
    const cache = block.selfAttention!.createCache(1, 3);
    expect(() => block.apply([x, memory], { selfAttentionCache: cache, selfAttentionCacheUpdateIndex: 0 })).toThrow(
      "TransformerDecoderBlock 'dec': with caches, pass selfAttentionCache and crossAttentionCache; " +
        'got selfAttentionCache',
    );
    tf.dispose([x, memory, cache]);
  });

  it('a non-causal encoder block cannot be fed one position at a time: its attention is not causal', () => {
    const block = seeded(new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 8 }), [[B, T, D]]);
    expect(block.selfAttention!.causal).toBe(false);
    expect(block.incrementalRole().kind).toBe('cached');
  });
});

describeEachBackend('position layers with startIndex', () => {
  const ids = tf.tensor2d(
    [
      [3, 1, 4, 1, 5, 9, 2],
      [6, 5, 3, 5, 8, 9, 7],
    ],
    undefined,
    'int32',
  );
  const embedded = tensor([2, 7, 8], 5);
  const cases: Array<[string, () => tf.layers.Layer, () => tf.Tensor]> = [
    [
      'TokenAndPositionEmbedding',
      () => new TokenAndPositionEmbedding({ vocabularySize: 10, sequenceLength: 9, embeddingDim: 8 }),
      () => ids,
    ],
    [
      'TokenAndPositionEmbedding, sinusoidal',
      () =>
        new TokenAndPositionEmbedding({
          vocabularySize: 10,
          sequenceLength: 9,
          embeddingDim: 8,
          positionEncoding: 'sinusoidal',
        }),
      () => ids,
    ],
    [
      'keras-hub TokenAndPositionEmbedding',
      () => new KerasHubTokenAndPositionEmbedding({ vocabularySize: 10, sequenceLength: 9, embeddingDim: 8 }),
      () => ids,
    ],
    // Past its 4-row table keras-hub's PositionEmbedding extends hierarchically: positions 4..6 too.
    ['keras-hub PositionEmbedding', () => new KerasHubPositionEmbedding({ sequenceLength: 4 }), () => embedded],
    ['keras-hub SinePositionEncoding', () => new KerasHubSinePositionEncoding(), () => embedded],
    ['SinusoidalPositionEncoding', () => new SinusoidalPositionEncoding(), () => embedded],
  ];
  it.each(cases)('%s: the rows from startIndex equal the full pass rows', (_title, make, input) => {
    const layer = make();
    const x = input();
    const full = layer.apply(x) as tf.Tensor;
    if (layer.weights.length > 0) layer.setWeights(layer.getWeights().map((w, i) => tensor(w.shape, 40 + i)));
    const whole = layer.apply(x) as tf.Tensor;
    for (const start of [1, 4, 6]) {
      const tail = x.rank === 2 ? x.slice([0, start], [2, 7 - start]) : x.slice([0, start, 0], [2, 7 - start, 8]);
      const rows = layer.apply(tail, { startIndex: start }) as tf.Tensor;
      const expected = whole.slice([0, start, 0], [2, 7 - start, 8]);
      expect(maxAbsDiff(rows, expected)).toBeLessThan(1e-6);
      tf.dispose([tail, rows, expected]);
    }
    tf.dispose([full, whole]);
  });

  it('startIndex is checked: a non-negative integer, inside a fixed position table', () => {
    const layer = new TokenAndPositionEmbedding({
      name: 'emb',
      vocabularySize: 10,
      sequenceLength: 9,
      embeddingDim: 8,
    });
    expect(() => layer.apply(ids, { startIndex: 3 })).toThrow(
      "TokenAndPositionEmbedding 'emb': positions 3..9 exceeds sequenceLength 9",
    );
    expect(() => layer.apply(ids, { startIndex: -1 })).toThrow(
      "TokenAndPositionEmbedding 'emb': startIndex must be a non-negative integer, got -1",
    );
  });
});
