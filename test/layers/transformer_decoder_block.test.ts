import * as tf from '@tensorflow/tfjs';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import { TransformerDecoderBlock, TransformerDecoderBlockArgs } from '../../src/layers/transformer_decoder_block';
import { describeEachBackend } from '../helpers/backends';
import { Activation, decoderBlockWeights, referenceDecoderBlock } from '../helpers/block_reference';
import { BLOCK_PATHS, FUSED_BLOCK_KERNELS, fusedKernelsIn, profiled } from '../helpers/kernel_paths';
import { expectLayerContract } from '../helpers/layer_contract';
import {
  ids,
  maxAbsDiff,
  paddingMask,
  randomizeWeights,
  read,
  seededTensor,
  weightArrays,
  withMask,
} from '../helpers/tensors';

/**
 * Weight shapes in the documented order for decoder width D, encoder width De
 * (null: decoder-only), H heads of size K, feed-forward width I.
 */
function decoderWeightShapes(D: number, De: number | null, H: number, K: number, I: number): number[][] {
  const attention = (keyWidth: number) => [
    [D, H, K],
    [H, K],
    [keyWidth, H, K],
    [H, K],
    [keyWidth, H, K],
    [H, K],
    [H, K, D],
    [D],
  ];
  const norm = [[D], [D]];
  const feedForward = [[D, I], [I], [I, D], [D]];
  if (De == null) return [...attention(D), ...norm, ...feedForward, ...norm];
  return [...attention(D), ...attention(De), ...norm, ...norm, ...feedForward, ...norm];
}

/** A built block with seeded weights (non-zero biases, non-unit gammas). */
function seededBlock(
  args: TransformerDecoderBlockArgs,
  inputs: tf.Tensor | tf.Tensor[],
  seed = 100,
): TransformerDecoderBlock {
  const block = new TransformerDecoderBlock(args);
  (block.apply(inputs) as tf.Tensor).dispose();
  randomizeWeights(block, seed);
  return block;
}

/** x with position `t` of every batch element shifted by `by`. */
function bump(x: tf.Tensor, t: number, by = 3): tf.Tensor {
  const [batch, length, width] = x.shape as number[];
  return tf.tidy(() =>
    x.add(
      tf
        .oneHot(tf.tensor1d([t], 'int32'), length)
        .reshape([1, length, 1])
        .tile([batch, 1, width])
        .mul(by),
    ),
  );
}

describeEachBackend('TransformerDecoderBlock', () => {
  expectLayerContract('TransformerDecoderBlock with a padded encoder sequence of another width', {
    make: () => new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 8 }),
    // Masks ride on the inputs as tfjs layers attach them (kerasMask).
    inputs: () => [
      withMask(seededTensor([2, 4, 6], 1), paddingMask([4, 3], 4)),
      withMask(seededTensor([2, 5, 5], 2), paddingMask([5, 2], 5)),
    ],
    outputShape: [2, 4, 6],
    weightShapes: decoderWeightShapes(6, 5, 2, 3, 8),
  });
  expectLayerContract('TransformerDecoderBlock decoder-only, pre-LN gelu, keyDim 4, dropout, epsilon 0.05', {
    make: () =>
      new TransformerDecoderBlock({
        numHeads: 2,
        keyDim: 4,
        intermediateDim: 5,
        normalizeFirst: true,
        activation: 'gelu',
        dropout: 0.1,
        layerNormEpsilon: 0.05,
      }),
    inputs: () => seededTensor([2, 4, 6], 3),
    outputShape: [2, 4, 6],
    weightShapes: decoderWeightShapes(6, null, 2, 4, 5),
  });

  describe('numerical parity with a plain-math reference (1e-5)', () => {
    const cases: Array<{
      normalizeFirst: boolean;
      activation: Activation;
      encoder: boolean;
      decoderLengths?: number[];
      encoderLengths?: number[];
    }> = [
      { normalizeFirst: false, activation: 'relu', encoder: true, encoderLengths: [5, 2] },
      { normalizeFirst: true, activation: 'gelu', encoder: true, decoderLengths: [4, 2], encoderLengths: [3, 5] },
      { normalizeFirst: false, activation: 'gelu', encoder: false, decoderLengths: [3, 4] },
      { normalizeFirst: true, activation: 'relu', encoder: false },
    ];
    for (const c of cases) {
      for (const { path, width, fused } of BLOCK_PATHS) {
        const title =
          `${c.normalizeFirst ? 'pre' : 'post'}-LN ${c.activation} ${c.encoder ? 'with encoder' : 'decoder-only'}` +
          `${c.decoderLengths ? ', padded decoder' : ''}${c.encoderLengths ? ', padded encoder' : ''} [${path}]`;
        it(title, async () => {
          const epsilon = 1e-4;
          const x = seededTensor([2, 4, width], 11, 1.5);
          const encoder = c.encoder ? seededTensor([2, 5, 5], 12, 1.5) : null;
          const inputs = encoder ? [x, encoder] : x;
          const block = seededBlock(
            {
              numHeads: 2,
              intermediateDim: 7,
              layerNormEpsilon: epsilon,
              normalizeFirst: c.normalizeFirst,
              activation: c.activation,
            },
            inputs,
          );
          const decoderMask = c.decoderLengths ? paddingMask(c.decoderLengths, 4) : null;
          const encoderMask = c.encoderLengths ? paddingMask(c.encoderLengths, 5) : null;
          const { kernels, result } = await profiled(
            () =>
              block.apply(inputs, {
                mask: encoder ? [decoderMask, encoderMask] : (decoderMask ?? undefined),
              }) as tf.Tensor,
          );
          expect(fusedKernelsIn(kernels)).toEqual(fused ? FUSED_BLOCK_KERNELS : []);
          const out = result.arraySync() as number[][][];
          result.dispose();
          const w = decoderBlockWeights(weightArrays(block));
          expect(w.crossAttention == null).toBe(!c.encoder);
          const xs = x.arraySync() as number[][][];
          const es = encoder ? (encoder.arraySync() as number[][][]) : null;
          const padding = (lengths: number[] | undefined, b: number, length: number) =>
            lengths ? Array.from({ length }, (_v, t) => (t < lengths[b] ? 1 : 0)) : null;
          for (let b = 0; b < 2; b++) {
            const ref = referenceDecoderBlock(
              w,
              xs[b],
              es ? es[b] : null,
              padding(c.decoderLengths, b, 4),
              padding(c.encoderLengths, b, 5),
              {
                ...c,
                epsilon,
              },
            );
            // Real decoder positions only (a padded query attends to nothing: uniform in float32).
            const real = c.decoderLengths ? c.decoderLengths[b] : 4;
            expect(maxAbsDiff(out[b].slice(0, real), ref.slice(0, real))).toBeLessThan(1e-5);
          }
          tf.dispose([
            x,
            ...(encoder ? [encoder] : []),
            ...(decoderMask ? [decoderMask] : []),
            ...(encoderMask ? [encoderMask] : []),
          ]);
          block.dispose();
        });
      }
    }
  });

  describe('causality', () => {
    for (const withEncoder of [true, false]) {
      it(
        'changing decoder position t changes no output before t ' +
          `(${withEncoder ? 'with encoder' : 'decoder-only'})`,
        () => {
          const x = seededTensor([2, 5, 6], 21);
          const encoder = withEncoder ? seededTensor([2, 3, 6], 22) : null;
          const with_ = (d: tf.Tensor) => (encoder ? [d, encoder] : d);
          const block = seededBlock({ numHeads: 2, intermediateDim: 8 }, with_(x));
          const base = read(() => block.apply(with_(x)) as tf.Tensor);
          for (const t of [1, 3, 4]) {
            const changed = bump(x, t);
            const after = read(() => block.apply(with_(changed)) as tf.Tensor);
            for (let b = 0; b < 2; b++) {
              expect(maxAbsDiff(after[b].slice(0, t), base[b].slice(0, t))).toBeLessThan(1e-6);
              expect(maxAbsDiff(after[b][t], base[b][t])).toBeGreaterThan(1e-3);
            }
            changed.dispose();
          }
          tf.dispose([x, ...(encoder ? [encoder] : [])]);
          block.dispose();
        },
      );
    }
  });

  describe('encoder padding', () => {
    it('masks via kwargs {mask: [decoderMask, encoderMask]}: a padded encoder position changes nothing', () => {
      const x = seededTensor([2, 4, 6], 31);
      const encoder = seededTensor([2, 5, 6], 32);
      const block = seededBlock({ numHeads: 2, intermediateDim: 8 }, [x, encoder]);
      const decoderMask = paddingMask([4, 4], 4);
      const encoderMask = paddingMask([3, 5], 5);
      const run = (e: tf.Tensor, mask?: Array<tf.Tensor | null>) =>
        read(() => block.apply([x, e], { mask }) as tf.Tensor);
      const base = run(encoder, [decoderMask, encoderMask]);
      const padded = bump(encoder, 4);
      const real = bump(encoder, 1);
      const afterPadded = run(padded, [decoderMask, encoderMask]);
      // Batch element 0 has encoder positions 3, 4 padded: nothing changes.
      expect(maxAbsDiff(afterPadded[0], base[0])).toBeLessThan(1e-6);
      // Batch element 1 has no padding: position 4 is real and changes its output.
      expect(maxAbsDiff(afterPadded[1], base[1])).toBeGreaterThan(1e-3);
      // A real position changes element 0, and without the encoder mask so does a padded one.
      expect(maxAbsDiff(run(real, [decoderMask, encoderMask])[0], base[0])).toBeGreaterThan(1e-3);
      expect(maxAbsDiff(run(padded, [decoderMask, null])[0], run(encoder, [decoderMask, null])[0])).toBeGreaterThan(
        1e-3,
      );
      // The decoder mask alone (a single tensor in kwargs) leaves the encoder unmasked.
      expect(maxAbsDiff(run(encoder, [decoderMask, null]), run(encoder, decoderMask as unknown as tf.Tensor[]))).toBe(
        0,
      );
      tf.dispose([x, encoder, decoderMask, encoderMask, padded, real]);
      block.dispose();
    });

    it('masks carried by the inputs (kerasMask) act like kwargs masks', () => {
      const x = seededTensor([2, 4, 6], 33);
      const encoder = seededTensor([2, 5, 6], 34);
      const block = seededBlock({ numHeads: 2, intermediateDim: 8 }, [x, encoder]);
      const decoderMask = paddingMask([2, 4], 4);
      const encoderMask = paddingMask([3, 1], 5);
      const viaKwargs = read(() => block.apply([x, encoder], { mask: [decoderMask, encoderMask] }) as tf.Tensor);
      const carried = [withMask(x.clone(), decoderMask.clone()), withMask(encoder.clone(), encoderMask.clone())];
      const viaInputs = read(() => block.apply(carried) as tf.Tensor);
      expect(maxAbsDiff(viaKwargs, viaInputs)).toBe(0);
      tf.dispose([x, encoder, decoderMask, encoderMask, ...carried]);
      block.dispose();
    });

    it(
      'in a functional model fed by TokenAndPositionEmbedding(maskZero): ' +
        'predict and apply(training) ignore source padding',
      () => {
        const source = tf.input({ shape: [null], dtype: 'int32' });
        const target = tf.input({ shape: [null], dtype: 'int32' });
        const embedSource = new TokenAndPositionEmbedding({ vocabularySize: 9, sequenceLength: 8, embeddingDim: 6 });
        const embedTarget = new TokenAndPositionEmbedding({ vocabularySize: 9, sequenceLength: 8, embeddingDim: 6 });
        const decoded = new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 8 }).apply([
          embedTarget.apply(target) as tf.SymbolicTensor,
          embedSource.apply(source) as tf.SymbolicTensor,
        ]) as tf.SymbolicTensor;
        const model = tf.model({ inputs: [source, target], outputs: decoded });
        randomizeWeights(model, 400);
        const tgt = ids([
          [1, 5, 6],
          [1, 2, 3],
        ]);
        for (const how of ['predict', 'apply'] as const) {
          const run = (rows: number[][]) => {
            const src = ids(rows);
            const y = read(
              () =>
                (how === 'predict'
                  ? model.predict([src, tgt])
                  : model.apply([src, tgt], { training: true })) as tf.Tensor,
            );
            src.dispose();
            return y;
          };
          const padded = run([
            [3, 4, 5, 0, 0],
            [7, 0, 0, 0, 0],
          ]);
          expect(
            maxAbsDiff(
              padded,
              run([
                [3, 4, 5],
                [7, 0, 0],
              ]),
            ),
          ).toBeLessThan(1e-5);
          expect(
            maxAbsDiff(
              padded,
              run([
                [3, 4, 5, 0, 0, 0, 0],
                [7, 0, 0, 0, 0, 0, 0],
              ]),
            ),
          ).toBeLessThan(1e-5);
          // A real token where the padding was does change the output.
          const longer = run([
            [3, 4, 5, 8, 0],
            [7, 0, 0, 0, 0],
          ]);
          expect(maxAbsDiff(padded[0], longer[0])).toBeGreaterThan(1e-3);
          expect(maxAbsDiff(padded[1], longer[1])).toBeLessThan(1e-5);
        }
        tgt.dispose();
        model.dispose();
      },
    );
  });

  describe('decoder-only mode', () => {
    it('has no cross-attention weights and rejects an encoder sequence later', () => {
      const x = seededTensor([1, 3, 6], 41);
      const encoder = seededTensor([1, 2, 6], 42);
      const block = new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 8, name: 'gpt' });
      (block.apply(x) as tf.Tensor).dispose();
      expect(block.crossAttention).toBeNull();
      expect(block.weights.map((w) => w.originalName)).toEqual([
        'gpt/self_attention/query/kernel',
        'gpt/self_attention/query/bias',
        'gpt/self_attention/key/kernel',
        'gpt/self_attention/key/bias',
        'gpt/self_attention/value/kernel',
        'gpt/self_attention/value/bias',
        'gpt/self_attention/attention_output/kernel',
        'gpt/self_attention/attention_output/bias',
        'gpt/self_attention_layer_norm/gamma',
        'gpt/self_attention_layer_norm/beta',
        'gpt/feedforward_intermediate_dense/kernel',
        'gpt/feedforward_intermediate_dense/bias',
        'gpt/feedforward_output_dense/kernel',
        'gpt/feedforward_output_dense/bias',
        'gpt/feedforward_layer_norm/gamma',
        'gpt/feedforward_layer_norm/beta',
      ]);
      expect(() => block.apply([x, encoder])).toThrow(
        /TransformerDecoderBlock 'gpt': built without an encoder sequence, called with one/,
      );
      const withCross = new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 8, name: 'seq2seq' });
      (withCross.apply([x, encoder]) as tf.Tensor).dispose();
      expect(withCross.weights.filter((w) => w.originalName.includes('cross_attention')).length).toBe(10);
      expect(() => withCross.apply(x)).toThrow(/built with an encoder sequence, called without one/);
      tf.dispose([x, encoder]);
      block.dispose();
      withCross.dispose();
    });
  });

  describe('dropout', () => {
    it('rate ~1 vs 0 differ only when training', () => {
      const x = seededTensor([2, 4, 6], 51);
      const encoder = seededTensor([2, 3, 6], 52);
      const dropped = seededBlock({ numHeads: 2, intermediateDim: 8, dropout: 0.999 }, [x, encoder]);
      const plain = seededBlock({ numHeads: 2, intermediateDim: 8, dropout: 0 }, [x, encoder]);
      plain.setWeights(dropped.getWeights());
      const run = (block: TransformerDecoderBlock, training: boolean) =>
        read(() => block.apply([x, encoder], { training }) as tf.Tensor);
      expect(maxAbsDiff(run(dropped, false), run(plain, false))).toBe(0);
      expect(maxAbsDiff(run(plain, true), run(plain, false))).toBe(0);
      expect(maxAbsDiff(run(dropped, true), run(plain, true))).toBeGreaterThan(1e-2);
      tf.dispose([x, encoder]);
      dropped.dispose();
      plain.dispose();
    });
  });

  describe('memory', () => {
    it('20 calls with masks leave tf.memory().numTensors unchanged', () => {
      const x = seededTensor([2, 4, 6], 61);
      const encoder = seededTensor([2, 5, 6], 62);
      const decoderMask = paddingMask([4, 2], 4);
      const encoderMask = paddingMask([3, 5], 5);
      const block = new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 8, dropout: 0.1 });
      const call = (training: boolean) =>
        (block.apply([x, encoder], { mask: [decoderMask, encoderMask], training }) as tf.Tensor).dispose();
      call(false); // builds the weights
      const before = tf.memory().numTensors;
      for (let i = 0; i < 20; i++) call(i % 2 === 0);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, encoder, decoderMask, encoderMask]);
      block.dispose();
    });
  });

  describe('invalid arguments', () => {
    const make = (args: object) => () =>
      new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 8, ...args } as TransformerDecoderBlockArgs);
    const cases: Array<[string, () => unknown, RegExp]> = [
      ['numHeads 0', make({ numHeads: 0 }), /TransformerDecoderBlock '.*': numHeads must be a positive integer, got 0/],
      ['numHeads 2.5', make({ numHeads: 2.5 }), /numHeads must be a positive integer, got 2\.5/],
      [
        'intermediateDim missing',
        make({ intermediateDim: undefined }),
        /intermediateDim must be a positive integer, got undefined \(missing\)/,
      ],
      ['dropout 1', make({ dropout: 1 }), /dropout must be a number in \[0, 1\), got 1/],
      [
        'activation swishy',
        make({ activation: 'swishy' }),
        /activation must be one of 'linear', 'relu', 'gelu', .*, got 'swishy'/,
      ],
      ['layerNormEpsilon 0', make({ layerNormEpsilon: 0 }), /layerNormEpsilon must be a positive number, got 0/],
      ['normalizeFirst 1', make({ normalizeFirst: 1 }), /normalizeFirst must be true or false, got 1/],
    ];
    for (const [title, f, message] of cases) {
      it(title, () => expect(f).toThrow(message));
    }

    it('model width not divisible by numHeads without keyDim; fine with keyDim', () => {
      const x = tf.zeros([1, 3, 6]);
      const encoder = tf.zeros([1, 2, 6]);
      expect(() => new TransformerDecoderBlock({ numHeads: 4, intermediateDim: 8 }).apply([x, encoder])).toThrow(
        /the model width 6 is not divisible by numHeads 4; pass keyDim explicitly/,
      );
      const block = new TransformerDecoderBlock({ numHeads: 4, keyDim: 2, intermediateDim: 8 });
      const y = block.apply([x, encoder]) as tf.Tensor;
      expect(y.shape).toEqual([1, 3, 6]);
      expect(block.getWeights()[8].shape).toEqual([6, 4, 2]);
      tf.dispose([x, encoder, y]);
      block.dispose();
    });

    it('three inputs, or an encoder sequence of rank 2', () => {
      const x = tf.zeros([1, 3, 6]);
      const flat = tf.zeros([1, 6]);
      expect(() => new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 8 }).apply([x, x, x])).toThrow(
        /expected \[decoderSequence, encoderSequence\] or decoderSequence, got 3 inputs/,
      );
      expect(() => new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 8 }).apply([x, flat])).toThrow(
        /encoderSequence must have rank 3, got shape \[1, 6\] \(rank 2\)/,
      );
      tf.dispose([x, flat]);
    });
  });
});
