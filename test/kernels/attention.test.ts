/**
 * The fused attention kernel against the library's definition in plain tfjs ops
 * (`plainAttention`, src/ops/attention.ts: slices, transposes, matmuls, the mask rule, softmax):
 * forward values, probabilities and the gradient of every source, for each way the sources can be
 * shared, every mask shape, and odd sizes; on cpu and wasm.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedAttention, hasFusedAttention, type FusedAttentionArgs } from '../../src/kernels/attention';
import { plainAttention } from '../../src/ops/attention';
import { updateCache } from '../../src/ops/attention_cache';
import { describeEachBackend } from '../helpers/backends';
import { maxAbsDiff, seededTensor, selfAttentionArgs } from '../helpers/tensors';

/** Gradients of sum(context * weights) with respect to every source, by either implementation. */
function sourceGradients(args: FusedAttentionArgs, weights: tf.Tensor, fused: boolean): tf.Tensor[] {
  const f = (...sources: tf.Tensor[]) => {
    const run = fused ? fusedAttention : plainAttention;
    return run({ ...args, sources })
      .context.mul(weights)
      .sum();
  };
  return tf.grads(f)(args.sources);
}

const B = 3;
const T = 5;
const S = 7;
const H = 2;
const K = 8;
const V = 4;

interface Case {
  name: string;
  shapes: number[][];
  slices: Pick<FusedAttentionArgs, 'query' | 'key' | 'value'>;
}

const CASES: Case[] = [
  {
    name: 'self-attention: queries, keys, values in one (B, T, 2HK + HV) source',
    shapes: [[B, T, 2 * H * K + H * V]],
    slices: {
      query: { source: 0, offset: 0 },
      key: { source: 0, offset: H * K },
      value: { source: 0, offset: 2 * H * K },
    },
  },
  {
    name: 'cross-attention: queries, then keys and values joined',
    shapes: [
      [B, T, H * K],
      [B, S, H * K + H * V],
    ],
    slices: { query: { source: 0, offset: 0 }, key: { source: 1, offset: 0 }, value: { source: 1, offset: H * K } },
  },
  {
    name: 'three sources, the heads at column offsets inside wider rows',
    shapes: [
      [B, T, H * K + 4],
      [B, S, H * K + 8],
      [B, S, H * V + 4],
    ],
    slices: { query: { source: 0, offset: 4 }, key: { source: 1, offset: 0 }, value: { source: 2, offset: 4 } },
  },
];

function selfLength(c: Case): number {
  return c.shapes.length === 1 ? T : S;
}

describeEachBackend('fusedAttention', () => {
  for (const c of CASES) {
    const keyLength = selfLength(c);
    const masks: [string, () => tf.Tensor | null][] = [
      ['no mask', () => null],
      ['a (T, S) causal-like mask', () => tf.tidy(() => tf.linalg.bandPart(tf.ones([T, keyLength]), -1, 0))],
      [
        'a (B, T, S) mask with a fully masked row',
        () => {
          const m = tf.buffer([B, T, keyLength]);
          for (let b = 0; b < B; b++)
            for (let t = 0; t < T; t++)
              for (let s = 0; s < keyLength; s++)
                m.set(t === 1 && b === 0 ? 0 : (s + t + b) % 3 === 0 ? 0 : 1, b, t, s);
          return m.toTensor();
        },
      ],
      [
        'a (B, 1, S) padding mask, broadcast over queries',
        () =>
          tf.tensor3d([
            [[1, 1, 1, 0, 0, 0, 0].slice(0, keyLength)],
            [[1, 1, 1, 1, 1, 0, 0].slice(0, keyLength)],
            [Array(keyLength).fill(1)],
          ]),
      ],
    ];

    for (const [maskName, makeMask] of masks) {
      it(`${c.name}, ${maskName}: context, probabilities and gradients equal the plain definition`, () => {
        const before = tf.memory().numTensors;
        const sources = c.shapes.map((shape, i) => seededTensor(shape, 11 + i));
        const mask = makeMask();
        const weights = seededTensor([B, T, H, V], 5);
        const args: FusedAttentionArgs = {
          sources,
          ...c.slices,
          numHeads: H,
          keyDim: K,
          valueDim: V,
          scale: 1 / Math.sqrt(K),
          mask,
        };

        const fused = tf.tidy(() => {
          const { context, probabilities } = fusedAttention({ ...args, needProbabilities: true });
          return [context, probabilities!];
        });
        const composite = tf.tidy(() => {
          const { context, probabilities } = plainAttention(args);
          return [context, probabilities];
        });
        const fusedGrads = tf.tidy(() => sourceGradients(args, weights, true));
        const compositeGrads = tf.tidy(() => sourceGradients(args, weights, false));

        expect(fused[0].shape).toEqual([B, T, H, V]);
        expect(fused[1].shape).toEqual([B, H, T, keyLength]);
        expect(maxAbsDiff(fused[0].dataSync(), composite[0].dataSync())).toBeLessThan(1e-5);
        expect(maxAbsDiff(fused[1].dataSync(), composite[1].dataSync())).toBeLessThan(1e-5);
        fusedGrads.forEach((grad, i) => {
          expect(grad.shape).toEqual(sources[i].shape);
          expect(maxAbsDiff(grad.dataSync(), compositeGrads[i].dataSync())).toBeLessThan(1e-5);
        });
        // The comparison is not vacuous: some gradient is far from zero.
        const largest = tf.tidy(() => Math.max(...fusedGrads.map((g) => g.abs().max().dataSync()[0])));
        expect(largest).toBeGreaterThan(0.05);
        tf.dispose([...fused, ...composite, ...fusedGrads, ...compositeGrads, ...sources, weights]);
        if (mask != null) mask.dispose();
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  }

  it('S not whole vectors: the transposed keys and values are padded with zeros, whatever the memory held', () => {
    // NaN through the kernels' memory first (forward and backward, twice: the staging regions of
    // two calls in a row alternate), so that padding read without being zeroed makes NaN results.
    const before = tf.memory().numTensors;
    const nanArgs = selfAttentionArgs([2, 40, H, K], 4, null, 0.5, V);
    const nan = tf.fill(nanArgs.sources[0].shape, NaN);
    for (let i = 0; i < 2; i++) {
      tf.dispose(tf.tidy(() => sourceGradients({ ...nanArgs, sources: [nan] }, tf.ones([2, 40, H, V]), true)));
    }
    tf.dispose([nan, ...nanArgs.sources]);
    const args = selfAttentionArgs([B, S, H, K], 23, null, 0.5, V);
    const weights = seededTensor([B, S, H, V], 24);
    const [fused, composite] = [true, false].map((useFused) =>
      tf.tidy(() => [
        (useFused ? fusedAttention : plainAttention)(args).context,
        ...sourceGradients(args, weights, useFused),
      ]),
    );
    fused.forEach((t, i) => expect(maxAbsDiff(t.dataSync(), composite[i].dataSync())).toBeLessThan(1e-5));
    tf.dispose([...fused, ...composite, ...args.sources, weights]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('wider heads (key dim 16, value dim 20) equal the plain definition, forward and backward', () => {
    const before = tf.memory().numTensors;
    const [k, v] = [16, 20];
    const args = selfAttentionArgs([B, T, H, k], 21, null, 0.25, v);
    const source = args.sources[0];
    const weights = seededTensor([B, T, H, v], 22);
    const [fused, composite] = [true, false].map((useFused) =>
      tf.tidy(() => [
        (useFused ? fusedAttention : plainAttention)(args).context,
        ...sourceGradients(args, weights, useFused),
      ]),
    );
    fused.forEach((t, i) => expect(maxAbsDiff(t.dataSync(), composite[i].dataSync())).toBeLessThan(1e-5));
    tf.dispose([...fused, ...composite, source, weights]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a masked key gets zero probability and changes nothing', () => {
    const mask = tf.tensor2d([
      [1, 0, 1],
      [1, 0, 1],
      [1, 0, 1],
    ]);
    const args = selfAttentionArgs([1, 3, 1, K], 3, mask, 0.5, V);
    const source = args.sources[0];
    const { context, probabilities } = fusedAttention({ ...args, needProbabilities: true });
    const p = probabilities!.arraySync() as number[][][][];
    for (const row of p[0][0]) {
      expect(row[1]).toBe(0);
      expect(row[0] + row[2]).toBeCloseTo(1, 6);
    }
    // Changing position 1's key and value (not its query) leaves the context as it was.
    const keyAndValueColumns = tf.concat([tf.zeros([K]), tf.ones([K + V])]);
    const changed = source.add(tf.oneHot([1], 3).reshape([1, 3, 1]).mul(keyAndValueColumns).mul(100));
    const again = fusedAttention({ ...args, sources: [changed] }).context;
    expect(maxAbsDiff(again.dataSync(), context.dataSync())).toBe(0);
    tf.dispose([source, context, probabilities!, keyAndValueColumns, changed, again, args.mask!]);
  });

  // The kernels work on blocks of 32 queries: T = 70 is two whole blocks and a partial one (its
  // probabilities are saved for the backward; the next test is over the size where they are not),
  // and with a mask each block reads only the keys its rows may attend to.
  for (const [maskName, mask] of [
    ['no mask', () => null],
    ['causal', () => tf.tidy(() => tf.linalg.bandPart(tf.ones([70, 70]), -1, 0))],
    // A block of queries then reads keys from an unaligned first one (the window's start) to its
    // last query's: the kernels skip the keys outside, rounding the first down to a whole vector.
    ['a sliding window of 9 keys', () => tf.tidy(() => tf.linalg.bandPart(tf.ones([70, 70]), 8, 0))],
    [
      'a (B, 1, S) padding mask',
      () => tf.tidy(() => tf.stack([tf.ones([1, 70]), tf.concat([tf.ones([1, 33]), tf.zeros([1, 37])], 1)])),
    ],
  ] as const) {
    it(`T = 70 over several query blocks, ${maskName}: context and gradients equal the plain definition`, () => {
      const before = tf.memory().numTensors;
      const [b, t, h, k] = [2, 70, 2, 4];
      const args = selfAttentionArgs([b, t, h, k], 3, mask());
      const [source] = args.sources;
      const weights = seededTensor([b, t, h, k], 4);
      const fused = tf.tidy(() => fusedAttention(args).context);
      const withProbabilities = tf.tidy(() => {
        const result = fusedAttention({ ...args, needProbabilities: true });
        return { context: result.context, probabilities: result.probabilities! };
      });
      const plain = tf.tidy(() => plainAttention(args));
      expect(maxAbsDiff(fused.dataSync(), plain.context.dataSync())).toBeLessThan(1e-5);
      expect(maxAbsDiff(withProbabilities.context.dataSync(), fused.dataSync())).toBe(0);
      expect(maxAbsDiff(withProbabilities.probabilities!.dataSync(), plain.probabilities.dataSync())).toBeLessThan(
        1e-6,
      );
      const [fusedGrad] = tf.tidy(() => sourceGradients(args, weights, true));
      const [plainGrad] = tf.tidy(() => sourceGradients(args, weights, false));
      expect(maxAbsDiff(fusedGrad.dataSync(), plainGrad.dataSync())).toBeLessThan(1e-5);
      expect(Math.max(...plainGrad.dataSync().map(Math.abs))).toBeGreaterThan(0.01);
      tf.dispose([source, weights, fused, withProbabilities, plain, fusedGrad, plainGrad]);
      if (args.mask) args.mask.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('over 2^20 probabilities (B1 H4 T520, causal, padded), the backward recomputes them: gradients match', () => {
    const before = tf.memory().numTensors;
    const [t, h, k] = [520, 4, 4];
    // Causal, and the last 20 keys padding: each block recomputes over a different range of keys.
    const mask = tf.tidy(() =>
      tf.linalg.bandPart(tf.ones([t, t]), -1, 0).mul(tf.concat([tf.ones([1, 500]), tf.zeros([1, 20])], 1)),
    );
    const args = selfAttentionArgs([1, t, h, k], 7, mask);
    const [source] = args.sources;
    const weights = seededTensor([1, t, h, k], 8);
    const [fusedGrad] = tf.tidy(() => sourceGradients(args, weights, true));
    const [plainGrad] = tf.tidy(() => sourceGradients(args, weights, false));
    expect(maxAbsDiff(fusedGrad.dataSync(), plainGrad.dataSync())).toBeLessThan(1e-5);
    expect(Math.max(...plainGrad.dataSync().map(Math.abs))).toBeGreaterThan(0.01);
    tf.dispose([source, mask, weights, fusedGrad, plainGrad]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('without needProbabilities holds nothing of shape (T, S): peak bytes grow linearly in T', async () => {
    const peak = async (t: number) => {
      const [h, k] = [4, 8];
      const args = selfAttentionArgs([1, t, h, k], 5, null, 1);
      const [source] = args.sources;
      // tf.profile's peakBytes counts every live tensor: subtract those alive before the call.
      const base = tf.memory().numBytes;
      // tf.profile hands back one object that its next call overwrites: read it at once.
      const withoutProbabilities = await tf.profile(() => fusedAttention(args).context);
      const without = withoutProbabilities.peakBytes - base;
      tf.dispose(withoutProbabilities.result as tf.Tensor);
      const withProbabilities = await tf.profile(() => {
        const result = fusedAttention({ ...args, needProbabilities: true });
        result.probabilities!.dispose();
        return result.context;
      });
      tf.dispose([source, withProbabilities.result as tf.Tensor]);
      return { without, with: withProbabilities.peakBytes - base };
    };
    const before = tf.memory().numTensors;
    const [small, large] = [await peak(256), await peak(512)];
    expect(tf.memory().numTensors).toBe(before);
    // Without: the context (B, T, H, V) and each row's max and log-sum (B, H, T, 2), linear in T.
    expect(small.without).toBe(4 * (256 * 4 * 8 + 4 * 256 * 2));
    expect(large.without).toBe(4 * (512 * 4 * 8 + 4 * 512 * 2));
    // With: the (B, H, T, S) probabilities instead, 4 MB at T = 512.
    expect(large.with).toBe(4 * (512 * 4 * 8 + 4 * 512 * 512));
  });

  it('is available for key and value dims that are multiples of 4, and only those', () => {
    expect(hasFusedAttention(16, 16)).toBe(true);
    expect(hasFusedAttention(16, 6)).toBe(false);
    expect(hasFusedAttention(3, 8)).toBe(false);
  });

  it('names the argument in its errors', () => {
    const x = tf.zeros([2, 3, 8]);
    const base = { numHeads: 1, keyDim: 4, valueDim: 4, scale: 1, mask: null };
    expect(() =>
      fusedAttention({
        ...base,
        sources: [x],
        query: { source: 0, offset: 0 },
        key: { source: 0, offset: 4 },
        value: { source: 0, offset: 6 },
      }),
    ).toThrow("fusedAttention: value columns [6, 10) of sources[0] must lie inside a source's width (shapes [2,3,8])");
    expect(() =>
      fusedAttention({
        ...base,
        sources: [x.reshape([6, 8])],
        query: { source: 0, offset: 0 },
        key: { source: 0, offset: 0 },
        value: { source: 0, offset: 4 },
      }),
    ).toThrow('fusedAttention: sources[0] must be (B, L, W), got shape [6,8]');
    x.dispose();
  });

  // The kernels' staging finds a tensor the previous call staged in place, by its data id; a cache
  // written in place keeps its data id, so its write must tell staging (cache_update.ts).
  it('a key/value cache written in place between two calls is read as written', () => {
    const before = tf.memory().numTensors;
    const [b, t, s, h, k] = [2, 1, 6, 2, 4];
    const width = 2 * h * k;
    const query = seededTensor([b, t, h * k], 5);
    let cache = tf.zeros([b, s, width]) as tf.Tensor3D;
    const args = (keyLength: number): FusedAttentionArgs => ({
      sources: [query, cache],
      query: { source: 0, offset: 0 },
      key: { source: 1, offset: 0 },
      value: { source: 1, offset: h * k },
      numHeads: h,
      keyDim: k,
      valueDim: k,
      scale: 0.5,
      mask: null,
      keyLength,
    });
    const attend = (keyLength: number, run: typeof fusedAttention) =>
      tf.tidy(() => run(args(keyLength)).context.dataSync().slice());
    const write = (position: number) => {
      const rows = seededTensor([b, 1, width], 10 + position) as tf.Tensor3D;
      const written = updateCache(cache, rows, { index: position, sourceColumn: 0, targetColumn: 0, width });
      tf.dispose([rows, cache]);
      cache = written;
    };
    write(0);
    for (let position = 1; position < s; position++) {
      // A call that stages the cache as it is, then the write, then the first kernel call since.
      attend(position, fusedAttention);
      write(position);
      const fused = attend(position + 1, fusedAttention);
      expect(maxAbsDiff(fused, attend(position + 1, plainAttention))).toBeLessThan(1e-5);
    }
    tf.dispose([query, cache]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
