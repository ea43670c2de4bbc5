/**
 * Issue 8, "layer args" and "call inputs": the cases that test/layers/*.test.ts
 * does not already cover (those files test numHeads 0/2.5/-1, keyDim missing
 * or 0, dropout 1 and -0.1 for MultiHeadAttention, unknown activations, rank 2
 * queries, query/value batch mismatch, a value wider than the layer was built
 * for, value/key length mismatch and an attentionMask of a shape Keras does not accept).
 *
 * Argument checks do not depend on the backend, so one backend (cpu) suffices.
 */
import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../../src/backend';
import { MultiHeadAttention, MultiHeadAttentionArgs } from '../../src/layers/multi_head_attention';
import { TransformerDecoderBlock, TransformerDecoderBlockArgs } from '../../src/layers/transformer_decoder_block';
import { TransformerEncoderBlock, TransformerEncoderBlockArgs } from '../../src/layers/transformer_encoder_block';

beforeAll(() => initBackend('cpu', { quiet: true }));

describe('layer arguments, at construction', () => {
  const mha = (args: object) => () =>
    new MultiHeadAttention({ numHeads: 2, keyDim: 2, ...args } as MultiHeadAttentionArgs);
  const encoder = (args: object) => () =>
    new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 8, ...args } as TransformerEncoderBlockArgs);
  const decoder = (args: object) => () =>
    new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 8, ...args } as TransformerDecoderBlockArgs);

  it.each<[string, () => unknown, RegExp]>([
    [
      'MultiHeadAttention numHeads "2" (a string)',
      mha({ numHeads: '2' }),
      /MultiHeadAttention '.*': numHeads must be a positive integer, got '2'/,
    ],
    [
      'MultiHeadAttention dropout 1.5',
      mha({ dropout: 1.5 }),
      /MultiHeadAttention '.*': dropout must be a number in \[0, 1\), got 1\.5/,
    ],
    [
      'MultiHeadAttention valueDim 0',
      mha({ valueDim: 0 }),
      /MultiHeadAttention '.*': valueDim must be a positive integer, got 0/,
    ],
    [
      'TransformerEncoderBlock numHeads -1',
      encoder({ numHeads: -1 }),
      /TransformerEncoderBlock '.*': numHeads must be a positive integer, got -1/,
    ],
    [
      'TransformerEncoderBlock dropout -0.1',
      encoder({ dropout: -0.1 }),
      /TransformerEncoderBlock '.*': dropout must be a number in \[0, 1\), got -0\.1/,
    ],
    [
      'TransformerEncoderBlock activation "tanhh"',
      encoder({ activation: 'tanhh' }),
      /TransformerEncoderBlock '.*': activation must be one of 'linear', 'relu', 'gelu', .*, got 'tanhh'/,
    ],
    [
      'TransformerDecoderBlock numHeads -1',
      decoder({ numHeads: -1 }),
      /TransformerDecoderBlock '.*': numHeads must be a positive integer, got -1/,
    ],
    [
      'TransformerDecoderBlock keyDim 0',
      decoder({ keyDim: 0 }),
      /TransformerDecoderBlock '.*': keyDim must be a positive integer, got 0/,
    ],
    [
      'TransformerDecoderBlock keyDim 1.5',
      decoder({ keyDim: 1.5 }),
      /TransformerDecoderBlock '.*': keyDim must be a positive integer, got 1\.5/,
    ],
    [
      'TransformerDecoderBlock dropout -0.1',
      decoder({ dropout: -0.1 }),
      /TransformerDecoderBlock '.*': dropout must be a number in \[0, 1\), got -0\.1/,
    ],
    [
      'TransformerDecoderBlock activation 2 (not a string)',
      decoder({ activation: 2 }),
      /TransformerDecoderBlock '.*': activation must be one of 'linear', 'relu', 'gelu', .*, got 2/,
    ],
  ])('%s', (_title, make, message) => {
    expect(make).toThrow(message);
  });

  // NaN and Infinity must print as themselves (JSON.stringify would print null).
  it.each<[string, () => unknown, RegExp]>([
    [
      'MultiHeadAttention dropout NaN names the value NaN',
      mha({ dropout: NaN }),
      /dropout must be a number in \[0, 1\), got NaN/,
    ],
    [
      'TransformerEncoderBlock dropout Infinity names the value Infinity',
      encoder({ dropout: Infinity }),
      /dropout must be a number in \[0, 1\), got Infinity/,
    ],
  ])('%s', (_title, make, message) => {
    expect(make).toThrow(message);
  });
});

describe('call inputs', () => {
  // B 2, T 3, S 5, D 4.
  let query: tf.Tensor;
  let value: tf.Tensor;
  beforeAll(() => {
    query = tf.zeros([2, 3, 4]);
    value = tf.zeros([2, 5, 4]);
  });
  afterAll(() => tf.dispose([query, value]));

  /** Runs `f` with tensors it makes, disposing them however `f` ends. */
  function withTensors(make: () => tf.Tensor[], f: (...tensors: tf.Tensor[]) => unknown): () => unknown {
    return () => {
      const tensors = make();
      try {
        return f(...tensors);
      } finally {
        tf.dispose(tensors);
      }
    };
  }

  describe('MultiHeadAttention', () => {
    let layer: MultiHeadAttention;
    beforeAll(() => {
      layer = new MultiHeadAttention({ numHeads: 2, keyDim: 2, name: 'mha' });
      tf.dispose(layer.apply([query, value]) as tf.Tensor); // built for width 4
    });
    afterAll(() => layer.dispose());

    it.each<[string, () => tf.Tensor[], (...t: tf.Tensor[]) => unknown, string]>([
      [
        'a value of rank 2',
        () => [tf.zeros([2, 5])],
        (v) => layer.apply([query, v]),
        "MultiHeadAttention 'mha': value must have rank 3, got shape [2, 5] (rank 2)",
      ],
      [
        'a key of rank 4',
        () => [tf.zeros([2, 5, 4, 1])],
        (k) => layer.apply([query, value, k]),
        "MultiHeadAttention 'mha': key must have rank 3, got shape [2, 5, 4, 1] (rank 4)",
      ],
      [
        'a key whose batch differs from query and value',
        () => [tf.zeros([1, 5, 4])],
        (k) => layer.apply([query, value, k]),
        "MultiHeadAttention 'mha': query, value and key must have the same batch size, " +
          'got shapes query [2, 3, 4], value [2, 5, 4], key [1, 5, 4]',
      ],
      [
        'a query wider than the layer was built for',
        () => [tf.zeros([2, 3, 6])],
        (q) => layer.apply([q, value]),
        "MultiHeadAttention 'mha': query has width 6 (shape [2, 3, 6]) but the layer was built for width 4",
      ],
      [
        'a key narrower than the layer was built for',
        () => [tf.zeros([2, 5, 3])],
        (k) => layer.apply([query, value, k]),
        "MultiHeadAttention 'mha': key has width 3 (shape [2, 5, 3]) but the layer was built for width 4",
      ],
      [
        'four inputs',
        () => [],
        () => layer.apply([query, value, value, value]),
        "MultiHeadAttention 'mha': expected query, [query, value] or [query, value, key], got 4 inputs",
      ],
      [
        'an attentionMask (T, S) with the wrong key length',
        () => [tf.ones([3, 4])],
        (m) => layer.apply([query, value], { attentionMask: m }),
        "MultiHeadAttention 'mha': attentionMask must have shape (T, S) = [3, 5], (B, T, S) = [2, 3, 5], " +
          '(B, H, T, S) = [2, 2, 3, 5] (an axis may also be 1), got [3, 4]',
      ],
    ])('rejects %s, naming the shapes', (_title, make, call, message) => {
      expect(withTensors(make, call)).toThrow(message);
    });

    // Unchecked, a wrong padding mask would fail in tfjs's broadcasting, or,
    // (1, S), be silently broadcast over the batch.
    it.each<[string, () => tf.Tensor[], RegExp]>([
      ['a value padding mask of length 3 for S = 5', () => [tf.ones([2, 3])], /mask.*\[2, 3\]/],
      ['a value padding mask for one sequence of a batch of 2', () => [tf.ones([1, 5])], /mask.*\[1, 5\]/],
    ])('rejects %s, naming the mask and its shape', (_title, make, message) => {
      expect(withTensors(make, (m) => layer.apply([query, value], { mask: [null, m] } as never))).toThrow(message);
    });
  });

  describe('transformer blocks', () => {
    let encoder: TransformerEncoderBlock;
    let decoder: TransformerDecoderBlock;
    beforeAll(() => {
      encoder = new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 8, name: 'enc' });
      decoder = new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 8, name: 'dec' });
      tf.dispose([encoder.apply(query), decoder.apply([query, value])] as tf.Tensor[]); // built for width 4
    });
    afterAll(() => {
      encoder.dispose();
      decoder.dispose();
    });

    // A built block's call() checks its inputs itself: they go to the attention's
    // `attend`, past the attention layer's own input checks.
    it.each<[string, () => tf.Tensor[], (...t: tf.Tensor[]) => unknown, RegExp]>([
      [
        'TransformerDecoderBlock: a decoder sequence of rank 4',
        () => [tf.zeros([2, 3, 4, 1])],
        (x) => decoder.apply([x, value]),
        /'dec'.*\[2, 3, 4, 1\]/,
      ],
      [
        'TransformerEncoderBlock: an input wider than it was built for',
        () => [tf.zeros([2, 3, 6])],
        (x) => encoder.apply(x),
        /'enc'.*\[2, 3, 6\]/,
      ],
      [
        'TransformerEncoderBlock: a padding mask of the wrong length',
        () => [tf.ones([2, 4])],
        (m) => encoder.apply(query, { mask: m } as never),
        /'enc'.*mask.*\[2, 4\]/,
      ],
      [
        'TransformerDecoderBlock: an encoder sequence of another batch size',
        () => [tf.zeros([3, 5, 4])],
        (e) => decoder.apply([query, e]),
        /'dec'.*\[3, 5, 4\]/,
      ],
      [
        'TransformerDecoderBlock: an encoder sequence of another width',
        () => [tf.zeros([2, 5, 6])],
        (e) => decoder.apply([query, e]),
        /'dec'.*\[2, 5, 6\]/,
      ],
      [
        'TransformerDecoderBlock: an encoder padding mask of the wrong length',
        () => [tf.ones([2, 3])],
        (m) => decoder.apply([query, value], { mask: [null, m] } as never),
        /'dec'.*mask.*\[2, 3\]/,
      ],
    ])('%s is rejected naming the layer and the shape', (_title, make, call, message) => {
      expect(withTensors(make, call)).toThrow(message);
    });
  });
});
