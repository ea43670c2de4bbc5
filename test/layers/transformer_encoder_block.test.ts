import * as tf from '@tensorflow/tfjs';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import { TransformerDecoderBlock } from '../../src/layers/transformer_decoder_block';
import { KerasIoTransformerBlock } from '../../src/layers/keras_io/transformer_block';
import { TransformerEncoderBlock, TransformerEncoderBlockArgs } from '../../src/layers/transformer_encoder_block';
import { describeEachBackend } from '../helpers/backends';
import { Activation, encoderBlockWeights, erf, gelu, referenceEncoderBlock } from '../helpers/block_reference';
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

/** Weight shapes for width D, H heads of size K, feed-forward width I, in the documented order. */
function encoderWeightShapes(D: number, H: number, K: number, I: number): number[][] {
  const attention = [[D, H, K], [H, K], [D, H, K], [H, K], [D, H, K], [H, K], [H, K, D], [D]];
  return [...attention, [D], [D], [D, I], [I], [I, D], [D], [D], [D]];
}

/** A built block with seeded weights (non-zero biases, non-unit gammas). */
function seededBlock(args: TransformerEncoderBlockArgs, x: tf.Tensor, seed = 100): TransformerEncoderBlock {
  const block = new TransformerEncoderBlock(args);
  (block.apply(x) as tf.Tensor).dispose();
  randomizeWeights(block, seed);
  return block;
}

describeEachBackend('TransformerEncoderBlock', () => {
  expectLayerContract('TransformerEncoderBlock post-LN relu', {
    make: () => new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 8 }),
    inputs: () => seededTensor([2, 5, 6], 1),
    outputShape: [2, 5, 6],
    weightShapes: encoderWeightShapes(6, 2, 3, 8),
  });
  expectLayerContract('TransformerEncoderBlock pre-LN gelu causal, keyDim 4, dropout, epsilon 0.05, padded input', {
    make: () =>
      new TransformerEncoderBlock({
        numHeads: 2,
        keyDim: 4,
        intermediateDim: 5,
        activation: 'gelu',
        normalizeFirst: true,
        causal: true,
        dropout: 0.1,
        layerNormEpsilon: 0.05,
      }),
    // The padding mask rides on the input as tfjs layers attach it (kerasMask);
    // disposing the input disposes it too.
    inputs: () => withMask(seededTensor([2, 4, 6], 2), paddingMask([4, 2], 4)),
    outputShape: [2, 4, 6],
    weightShapes: encoderWeightShapes(6, 2, 4, 5),
  });

  describe('numerical parity with a plain-math reference (1e-5)', () => {
    const cases: Array<{ normalizeFirst: boolean; activation: Activation; causal?: boolean; lengths?: number[] }> = [
      { normalizeFirst: false, activation: 'relu' },
      { normalizeFirst: false, activation: 'gelu', lengths: [5, 3] },
      { normalizeFirst: true, activation: 'relu', lengths: [2, 5] },
      { normalizeFirst: true, activation: 'gelu', causal: true },
    ];
    for (const c of cases) {
      for (const { path, width, fused } of BLOCK_PATHS) {
        const flags = `${c.causal ? ' causal' : ''}${c.lengths ? ' padded' : ''}`;
        const title = `${c.normalizeFirst ? 'pre' : 'post'}-LN ${c.activation}${flags} [${path}]`;
        it(title, async () => {
          const epsilon = 1e-3; // not the default, so a hard-coded epsilon would show
          const args = { numHeads: 2, intermediateDim: 7, layerNormEpsilon: epsilon, ...c };
          delete (args as { lengths?: number[] }).lengths;
          const x = seededTensor([2, 5, width], 11, 1.5);
          const block = seededBlock(args, x);
          const mask = c.lengths ? paddingMask(c.lengths, 5) : null;
          const { kernels, result } = await profiled(() => block.apply(x, { mask: mask ?? undefined }) as tf.Tensor);
          expect(fusedKernelsIn(kernels)).toEqual(fused ? FUSED_BLOCK_KERNELS : []);
          const out = result.arraySync() as number[][][];
          result.dispose();
          const w = encoderBlockWeights(weightArrays(block));
          const xs = x.arraySync() as number[][][];
          for (let b = 0; b < 2; b++) {
            const padding = c.lengths ? Array.from({ length: 5 }, (_v, t) => (t < c.lengths![b] ? 1 : 0)) : null;
            const ref = referenceEncoderBlock(w, xs[b], padding, c.causal ?? false, { ...c, epsilon });
            // Real positions only: a padded query attends to nothing, which tfjs
            // (like Keras) turns into uniform attention in float32.
            const real = c.lengths ? c.lengths[b] : 5;
            expect(maxAbsDiff(out[b].slice(0, real), ref.slice(0, real))).toBeLessThan(1e-5);
            // The reference must be sensitive to the activation: relu and gelu differ here.
            const other = referenceEncoderBlock(w, xs[b], padding, c.causal ?? false, {
              ...c,
              activation: c.activation === 'relu' ? 'gelu' : 'relu',
              epsilon,
            });
            expect(maxAbsDiff(ref.slice(0, real), other.slice(0, real))).toBeGreaterThan(1e-3);
          }
          tf.dispose([x, ...(mask ? [mask] : [])]);
          block.dispose();
        });
      }
    }

    it("the reference's erf/gelu are accurate (tabulated values)", () => {
      // erf values from Abramowitz & Stegun table 7.1 / mpmath.
      expect(Math.abs(erf(0.5) - 0.5204998778130465)).toBeLessThan(1e-14);
      expect(Math.abs(erf(1) - 0.8427007929497149)).toBeLessThan(1e-14);
      expect(Math.abs(erf(-2) + 0.9953222650189527)).toBeLessThan(1e-14);
      expect(Math.abs(erf(3.5) - 0.9999992569016276)).toBeLessThan(1e-14);
      // GELU(1) = Phi(1) = 0.8413447460685429; the tanh approximation gives 0.8411919906.
      expect(Math.abs(gelu(1) - 0.8413447460685429)).toBeLessThan(1e-14);
    });

    it('gelu is the exact erf form, not the tanh approximation', () => {
      // One position, identity-like weights: the block is LN(x + FF(x)) with
      // attention output zero, so the feed-forward activation is directly visible.
      const block = new TransformerEncoderBlock({
        numHeads: 1,
        intermediateDim: 2,
        activation: 'gelu',
        normalizeFirst: true,
      });
      const x = tf.tensor3d([[[0, 0]]]);
      (block.apply(x) as tf.Tensor).dispose();
      const shapes = block.getWeights().map((w) => w.shape);
      // Zero attention, unit norms, inner kernel picks x, outer kernel identity; bias 1 and -2.
      const values = shapes.map((s, i) => {
        if (i === 8 || i === 14) return tf.ones(s); // gammas
        if (i === 10)
          return tf.tensor2d([
            [1, 0],
            [0, 1],
          ]); // inner kernel
        if (i === 11) return tf.tensor1d([1, -2]); // inner bias
        if (i === 12)
          return tf.tensor2d([
            [1, 0],
            [0, 1],
          ]); // outer kernel
        return tf.zeros(s);
      });
      block.setWeights(values);
      // Pre-LN: y = x + FF(LN(x)); LN of a constant row is 0, so y = gelu([1, -2]).
      const y = read<number[][][]>(() => block.apply(x) as tf.Tensor)[0][0];
      expect(Math.abs(y[0] - 0.8413447460685429)).toBeLessThan(1e-6);
      expect(Math.abs(y[1] - -0.04550026389635842)).toBeLessThan(1e-6);
      tf.dispose([x, ...values]);
      block.dispose();
    });
  });

  describe('masks', () => {
    it('changing a padded position changes no real output; changing a real one does', () => {
      const x = seededTensor([1, 5, 6], 21);
      const block = seededBlock({ numHeads: 2, intermediateDim: 8 }, x);
      const mask = paddingMask([3], 5);
      const bump = (position: number) =>
        tf.tidy(() =>
          x.add(
            tf
              .oneHot(tf.tensor1d([position], 'int32'), 5)
              .reshape([1, 5, 1])
              .mul(3),
          ),
        );
      const base = read(() => block.apply(x, { mask }) as tf.Tensor)[0];
      const [padded, real] = [bump(4), bump(1)];
      const afterPadded = read(() => block.apply(padded, { mask }) as tf.Tensor)[0];
      const afterReal = read(() => block.apply(real, { mask }) as tf.Tensor)[0];
      expect(maxAbsDiff(afterPadded.slice(0, 3), base.slice(0, 3))).toBeLessThan(1e-6);
      expect(maxAbsDiff(afterReal[0], base[0])).toBeGreaterThan(1e-3);
      // Without the mask the padded position is attended: the test can fail.
      const unmasked = read(() => block.apply(x) as tf.Tensor)[0];
      const unmaskedPadded = read(() => block.apply(padded) as tf.Tensor)[0];
      expect(maxAbsDiff(unmasked[0], unmaskedPadded[0])).toBeGreaterThan(1e-3);
      tf.dispose([x, mask, padded, real]);
      block.dispose();
    });

    it('a mask given as kwargs and one carried by the input (kerasMask) act the same', () => {
      const x = seededTensor([2, 4, 6], 22);
      const block = seededBlock({ numHeads: 2, intermediateDim: 8 }, x);
      const mask = paddingMask([2, 4], 4);
      const viaKwargs = read(() => block.apply(x, { mask }) as tf.Tensor);
      const carried = withMask(x.clone(), mask.clone());
      const viaInput = read(() => block.apply(carried) as tf.Tensor);
      const none = read(() => block.apply(x) as tf.Tensor);
      expect(maxAbsDiff(viaKwargs, viaInput)).toBe(0);
      expect(maxAbsDiff(viaKwargs[0].slice(0, 2), none[0].slice(0, 2))).toBeGreaterThan(1e-3);
      tf.dispose([x, mask, carried]);
      block.dispose();
    });

    it('causal: changing position 3 changes no output before it', () => {
      const x = seededTensor([1, 5, 6], 23);
      const changed = tf.tidy(() =>
        x.add(
          tf
            .oneHot(tf.tensor1d([3], 'int32'), 5)
            .reshape([1, 5, 1])
            .mul(2),
        ),
      );
      for (const causal of [true, false]) {
        const block = seededBlock({ numHeads: 2, intermediateDim: 8, causal }, x);
        const before = read(() => block.apply(x) as tf.Tensor)[0];
        const after = read(() => block.apply(changed) as tf.Tensor)[0];
        if (causal) expect(maxAbsDiff(after.slice(0, 3), before.slice(0, 3))).toBeLessThan(1e-6);
        else expect(maxAbsDiff(after[0], before[0])).toBeGreaterThan(1e-3);
        expect(maxAbsDiff(after[3], before[3])).toBeGreaterThan(1e-3);
        block.dispose();
      }
      tf.dispose([x, changed]);
    });

    it('passes the padding mask to its output, and the output owns it', () => {
      const x = seededTensor([2, 3, 6], 24);
      const block = seededBlock({ numHeads: 2, intermediateDim: 8 }, x);
      const input = withMask(x.clone(), paddingMask([3, 1], 3));
      const y = block.apply(input) as tf.Tensor & { kerasMask?: tf.Tensor | null };
      expect(y.kerasMask).toBeTruthy();
      expect(y.kerasMask!.cast('float32').arraySync()).toEqual([
        [1, 1, 1],
        [1, 0, 0],
      ]);
      // tfjs's Tensor.dispose() also disposes the tensor's kerasMask, and the
      // model executor frees a layer's input as soon as its last consumer has
      // run; a mask shared between input and output would die with the input.
      input.dispose();
      expect(y.kerasMask!.isDisposed).toBe(false);
      expect(y.kerasMask!.cast('float32').arraySync()).toEqual([
        [1, 1, 1],
        [1, 0, 0],
      ]);
      const computed = block.computeMask(x, paddingMask([2, 3], 3));
      expect(computed.cast('float32').arraySync()).toEqual([
        [1, 1, 0],
        [1, 1, 1],
      ]);
      tf.dispose([x, y, computed]);
      block.dispose();
    });

    it(
      'in a model (embedding maskZero -> encoder block -> ' +
        'decoder cross-attention), predict ignores source padding',
      () => {
        // The decoder gets the encoder's mask only through the encoder block's
        // output (tfjs's executor passes a multi-input layer only its first mask).
        const source = tf.input({ shape: [null], dtype: 'int32' });
        const target = tf.input({ shape: [null], dtype: 'int32' });
        const embedSource = new TokenAndPositionEmbedding({ vocabularySize: 9, sequenceLength: 8, embeddingDim: 6 });
        const embedTarget = new TokenAndPositionEmbedding({ vocabularySize: 9, sequenceLength: 8, embeddingDim: 6 });
        const encoded = new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 8 }).apply(
          embedSource.apply(source),
        ) as tf.SymbolicTensor;
        const decoded = new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 8 }).apply([
          embedTarget.apply(target) as tf.SymbolicTensor,
          encoded,
        ]) as tf.SymbolicTensor;
        const model = tf.model({ inputs: [source, target], outputs: decoded });
        randomizeWeights(model, 300);
        const tgt = ids([[1, 5, 6]]);
        const run = (rows: number[][]) => {
          const src = ids(rows);
          const y = read(() => model.predict([src, tgt]) as tf.Tensor);
          src.dispose();
          return y;
        };
        const padded = run([[3, 4, 5, 0, 0]]);
        expect(maxAbsDiff(padded, run([[3, 4, 5]]))).toBeLessThan(1e-5);
        expect(maxAbsDiff(padded, run([[3, 4, 5, 0, 0, 0, 0]]))).toBeLessThan(1e-5);
        expect(maxAbsDiff(padded, run([[3, 4, 5, 7, 0]]))).toBeGreaterThan(1e-3);
        tgt.dispose();
        model.dispose();
      },
    );
  });

  describe('dropout', () => {
    it('rate ~1 vs 0 differ only when training', () => {
      for (const normalizeFirst of [false, true]) {
        const x = seededTensor([2, 4, 6], 31);
        const dropped = seededBlock({ numHeads: 2, intermediateDim: 8, dropout: 0.999, normalizeFirst }, x);
        const plain = seededBlock({ numHeads: 2, intermediateDim: 8, dropout: 0, normalizeFirst }, x);
        plain.setWeights(dropped.getWeights());
        const run = (block: TransformerEncoderBlock, training: boolean) =>
          read(() => block.apply(x, { training }) as tf.Tensor);
        expect(maxAbsDiff(run(dropped, false), run(plain, false))).toBe(0);
        expect(maxAbsDiff(run(plain, true), run(plain, false))).toBe(0);
        expect(maxAbsDiff(run(dropped, true), run(plain, true))).toBeGreaterThan(1e-2);
        x.dispose();
        dropped.dispose();
        plain.dispose();
      }
    });
  });

  describe('invalid arguments', () => {
    const make = (args: object) => () =>
      new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 8, ...args } as TransformerEncoderBlockArgs);
    const cases: Array<[string, () => unknown, RegExp]> = [
      ['numHeads 0', make({ numHeads: 0 }), /TransformerEncoderBlock '.*': numHeads must be a positive integer, got 0/],
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
      ['keyDim 0', make({ keyDim: 0 }), /keyDim must be a positive integer, got 0/],
      ['causal "yes"', make({ causal: 'yes' }), /causal must be true or false, got 'yes'/],
      [
        'kernelInitializer unknown',
        make({ kernelInitializer: 'nope' }),
        /kernelInitializer 'nope' is not a known initializer/,
      ],
    ];
    for (const [title, f, message] of cases) {
      it(title, () => expect(f).toThrow(message));
    }

    it('model width not divisible by numHeads without keyDim; fine with keyDim', () => {
      const x = tf.zeros([1, 3, 6]);
      const block = new TransformerEncoderBlock({ numHeads: 4, intermediateDim: 8 });
      expect(() => block.apply(x)).toThrow(/the model width 6 is not divisible by numHeads 4; pass keyDim explicitly/);
      const withKeyDim = new TransformerEncoderBlock({ numHeads: 4, keyDim: 3, intermediateDim: 8 });
      const y = withKeyDim.apply(x) as tf.Tensor;
      expect(y.shape).toEqual([1, 3, 6]);
      expect(withKeyDim.getWeights()[0].shape).toEqual([6, 4, 3]);
      tf.dispose([x, y]);
      withKeyDim.dispose();
    });

    it('input of rank 2', () => {
      const x = tf.zeros([3, 6]);
      expect(() => new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 8 }).apply(x)).toThrow(
        /input must have rank 3, got shape \[3, 6\] \(rank 2\)/,
      );
      x.dispose();
    });
  });
});

describe('dropout in a block', () => {
  it('drops the residual branches in training only, and attention probabilities unless the block says not', () => {
    const input = seededTensor([2, 6, 8], 3);
    // keras.io's block drops only its residual branches (`rate`); its attention has no dropout.
    const io = new KerasIoTransformerBlock({ embedDim: 8, numHeads: 2, ffDim: 8, rate: 0.5 });
    const ours = new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 8, dropout: 0.5 });
    for (const block of [io, ours]) tf.dispose(block.apply(input) as tf.Tensor);
    expect([io.selfAttention!.dropout, ours.selfAttention!.dropout]).toEqual([0, 0.5]);
    const inference = io.apply(input) as tf.Tensor;
    const again = io.apply(input) as tf.Tensor;
    const training = io.apply(input, { training: true }) as tf.Tensor;
    expect(maxAbsDiff(inference.dataSync(), again.dataSync())).toBe(0);
    // Only the residual dropout can make training differ here.
    expect(maxAbsDiff(inference.dataSync(), training.dataSync())).toBeGreaterThan(0.1);
    tf.dispose([input, inference, again, training]);
    io.dispose();
    ours.dispose();
  });
});

describe("keras.io's TransformerBlock", () => {
  it("takes the example's defaults: rate 0.1 on the residual branches, layer norms with epsilon 1e-6", () => {
    const io = new KerasIoTransformerBlock({ embedDim: 8, numHeads: 2, ffDim: 8 });
    expect([io.rate, io.dropout, io.layerNormEpsilon]).toEqual([0.1, 0.1, 1e-6]);
    // The same as our block with those settings and the same weights, on rows of tiny variance
    // (where epsilon 1e-6 and 1e-5 differ by far more than rounding).
    const input = seededTensor([2, 5, 8], 4).mul(1e-3);
    // The example's attention has key_dim = embed_dim.
    const ours = new TransformerEncoderBlock({ numHeads: 2, keyDim: 8, intermediateDim: 8, layerNormEpsilon: 1e-6 });
    for (const block of [io, ours]) tf.dispose(block.apply(input) as tf.Tensor);
    randomizeWeights(io, 5);
    // The same weights by sublayer and name (the example's order differs: its norms come last).
    const key = (w: tf.LayerVariable) => w.originalName.split('/').slice(-2).join('/');
    const ioWeights = new Map(io.weights.map((w) => [key(w), w.read()]));
    ours.setWeights(ours.weights.map((w) => ioWeights.get(key(w))!));
    const [a, b] = [io.apply(input) as tf.Tensor, ours.apply(input) as tf.Tensor];
    expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBeLessThan(1e-5);
    tf.dispose([input, a, b]);
    io.dispose();
    ours.dispose();
  });
});
