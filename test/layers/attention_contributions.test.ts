/**
 * `MultiHeadAttention.attentionContributions` (Kobayashi et al. 2020) against a plain-math
 * reference written here over arrays: the weights, each head's value norms
 * || (value_s W_V^h + b_V^h) W_O^h || and the contributions weights * norms, for self, cross and
 * 3-input attention with padding, causal and explicit masks, valueDim != keyDim and
 * outputDim != query width, on the fused path (key and value dims multiples of 4) and the plain
 * one; and the identity that a head's contribution vectors, summed over the keys, are that head's
 * share of the layer's real output.
 */
import * as tf from '@tensorflow/tfjs';

import { MultiHeadAttention } from '../../src/layers/multi_head_attention';
import { describeEachBackend } from '../helpers/backends';
import { seededTensor } from '../helpers/tensors';

type Matrix = number[][];

interface Case {
  name: string;
  numHeads: number;
  keyDim: number;
  valueDim: number;
  outputDim?: number;
  causal?: boolean;
  /** Widths of query, value, key (as many as the call takes), length T and S. */
  widths: number[];
  T: number;
  S: number;
  /** Padding masks (B, L) per input, 1 = real; or none. */
  paddings?: number[][][];
  /** An explicit (B, T, S) attention mask. */
  attentionMask?: number[][][];
}

const B = 2;

const CASES: Case[] = [
  {
    name: 'self-attention, fused path (K 4, V 8), outputDim 5 != width 6, padding mask',
    numHeads: 2,
    keyDim: 4,
    valueDim: 8,
    outputDim: 5,
    widths: [6],
    T: 4,
    S: 4,
    paddings: [
      [
        [1, 1, 1, 0],
        [1, 1, 1, 1],
      ],
    ],
  },
  {
    name: 'cross-attention [query, value], plain path (K 3, V 5), causal and an explicit mask',
    numHeads: 3,
    keyDim: 3,
    valueDim: 5,
    causal: true,
    widths: [6, 7],
    T: 3,
    S: 4,
    attentionMask: [
      [
        [1, 1, 0, 1],
        [1, 1, 1, 1],
        [0, 1, 1, 1],
      ],
      [
        [1, 0, 1, 1],
        [1, 1, 1, 0],
        [1, 1, 1, 1],
      ],
    ],
  },
  {
    name: '[query, value, key] of three widths, fused path (K 4, V 4), padding on value and key',
    numHeads: 2,
    keyDim: 4,
    valueDim: 4,
    widths: [5, 6, 7],
    T: 3,
    S: 5,
    paddings: [
      [
        [1, 1, 1],
        [1, 1, 1],
      ],
      [
        [1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1],
      ],
      [
        [1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1],
      ],
    ],
  },
];

/** The layer, built for the case's inputs, with seeded weights. */
function buildLayer(c: Case, seed: number): { layer: MultiHeadAttention; inputs: tf.Tensor3D[] } {
  const inputs = c.widths.map((width, i) => seededTensor([B, i === 0 ? c.T : c.S, width], seed + i) as tf.Tensor3D);
  const layer = new MultiHeadAttention({
    numHeads: c.numHeads,
    keyDim: c.keyDim,
    valueDim: c.valueDim,
    outputDim: c.outputDim,
    causal: c.causal,
  });
  tf.tidy(() => {
    layer.apply(inputs.length === 1 ? inputs[0] : inputs);
  });
  // Non-zero biases, so that the reference checks b_V too.
  const weights = layer.getWeights().map((w, i) => seededTensor(w.shape, seed + 10 + i).mul(0.5));
  layer.setWeights(weights);
  tf.dispose(weights);
  return { layer, inputs };
}

/** x (L, D) @ kernel [D, H, E] + bias [H, E] -> per head (H, L, E). */
function project(x: Matrix, kernel: number[][][], bias: number[][]): number[][][] {
  const [H, E] = [bias.length, bias[0].length];
  return Array.from({ length: H }, (_h, h) =>
    x.map((row) =>
      Array.from({ length: E }, (_e, e) => row.reduce((sum, v, d) => sum + v * kernel[d][h][e], bias[h][e])),
    ),
  );
}

/** The reference: weights (H, T, S), value vectors through W_O^h (H, S, Dout), for batch row b. */
function reference(c: Case, inputs: number[][][][], w: tf.Tensor[], b: number) {
  const [qk, qb, kk, kb, vk, vb, ok] = w.map((t) => t.arraySync()) as [
    number[][][],
    number[][],
    number[][][],
    number[][],
    number[][][],
    number[][],
    number[][][],
  ];
  const query = inputs[0][b];
  const value = (inputs[1] ?? inputs[0])[b];
  const key = (inputs[2] ?? inputs[1] ?? inputs[0])[b];
  const [q, k, v] = [project(query, qk, qb), project(key, kk, kb), project(value, vk, vb)];
  const pad = (i: number, j: number) => c.paddings?.[i]?.[b]?.[j] ?? 1;
  const allowed = (t: number, s: number) => {
    const queryPad = pad(0, t);
    const valuePad = c.paddings ? pad(Math.min(1, c.paddings.length - 1), s) : 1;
    const keyPad = c.paddings && c.paddings.length > 2 ? pad(2, s) : 1;
    const causal = c.causal ? (s <= t ? 1 : 0) : 1;
    return queryPad * valuePad * keyPad * causal * (c.attentionMask?.[b][t][s] ?? 1);
  };
  const weights = q.map((qh, h) =>
    qh.map((qt, t) => {
      const scores = k[h].map((ks, s) => {
        const dot = qt.reduce((sum, x, e) => sum + x * ks[e], 0) / Math.sqrt(c.keyDim);
        // A masked score is -1e9: in float32 the dot product is lost next to it (the ulp of 1e9 is
        // 64), so a query whose keys are all masked attends uniformly, as in Keras.
        return allowed(t, s) ? dot : -1e9;
      });
      const max = Math.max(...scores);
      const exps = scores.map((x) => Math.exp(x - max));
      const total = exps.reduce((a, x) => a + x, 0);
      return exps.map((x) => x / total);
    }),
  );
  // f_h(v_s) = v_s^h W_O^h, W_O^h = ok[h] (V, Dout).
  const vectors = v.map((vh, h) =>
    vh.map((vs) => ok[h][0].map((_o, o) => vs.reduce((sum, x, e) => sum + x * ok[h][e][o], 0))),
  );
  return { weights, vectors };
}

const norm = (x: number[]) => Math.sqrt(x.reduce((sum, v) => sum + v * v, 0));

function expectClose(actual: number[], expected: number[], tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  const worst = Math.max(...actual.map((a, i) => Math.abs(a - expected[i])));
  expect(worst).toBeLessThan(tolerance);
}

describeEachBackend('MultiHeadAttention.attentionContributions', () => {
  CASES.forEach((c, caseIndex) => {
    it(`${c.name}: weights, value norms and contributions equal the plain-math reference (1e-5)`, () => {
      const { layer, inputs } = buildLayer(c, 100 * caseIndex + 1);
      const mask = c.paddings?.map((p) => tf.tensor2d(p));
      const attentionMask = c.attentionMask ? tf.tensor3d(c.attentionMask) : undefined;
      const before = tf.memory().numTensors;
      const result = layer.attentionContributions(inputs.length === 1 ? inputs[0] : inputs, {
        mask: mask && (mask.length === 1 ? mask[0] : mask),
        attentionMask,
      });
      expect(result.weights.shape).toEqual([B, c.numHeads, c.T, c.S]);
      expect(result.valueNorms.shape).toEqual([B, c.numHeads, c.S]);
      expect(result.contributions.shape).toEqual([B, c.numHeads, c.T, c.S]);
      const [weights, norms, contributions] = [result.weights, result.valueNorms, result.contributions].map(
        (t) => t.arraySync() as number[][][] | number[][][][],
      );
      const inputArrays = inputs.map((x) => x.arraySync());
      for (let b = 0; b < B; b++) {
        const ref = reference(c, inputArrays, layer.getWeights(), b);
        const refNorms = ref.vectors.map((vh) => vh.map(norm));
        expectClose((weights[b] as number[][][]).flat(2), ref.weights.flat(2), 1e-5);
        expectClose((norms[b] as number[][]).flat(), refNorms.flat(), 1e-5);
        const refContributions = ref.weights.map((wh, h) => wh.map((wt) => wt.map((x, s) => x * refNorms[h][s])));
        expectClose((contributions[b] as number[][][]).flat(2), refContributions.flat(2), 1e-5);
      }
      tf.dispose([result.weights, result.valueNorms, result.contributions]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([...inputs, ...(mask ?? []), ...(attentionMask ? [attentionMask] : [])]);
      layer.dispose();
    });
  });

  it("a head's contribution vectors, summed over the keys, are that head's share of the real output", () => {
    const c = CASES[0];
    const { layer, inputs } = buildLayer(c, 7);
    const mask = tf.tensor2d(c.paddings![0]);
    const { weights, valueNorms, contributions } = layer.attentionContributions(inputs[0], { mask });
    const w = weights.arraySync();
    const n = valueNorms.arraySync();
    // Copies: getWeights hands out the variables themselves, which setWeights overwrites.
    const original = layer.getWeights().map((t) => t.clone());
    for (let h = 0; h < c.numHeads; h++) {
      // The layer with every other head's slice of the output kernel, and the output bias, zeroed:
      // its output is head h's share.
      const only = original.map((t, i) => {
        if (i === 7) return tf.zerosLike(t);
        if (i !== 6) return t.clone();
        return tf.tidy(() => t.mul(tf.oneHot([h], c.numHeads).reshape([c.numHeads, 1, 1])));
      });
      layer.setWeights(only);
      const share = tf.tidy(() => (layer.apply(inputs[0], { mask }) as tf.Tensor).arraySync()) as number[][][];
      layer.setWeights(original);
      tf.dispose(only);
      const inputArrays = inputs.map((x) => x.arraySync());
      for (let b = 0; b < B; b++) {
        const ref = reference(c, inputArrays, original, b);
        for (let t = 0; t < c.T; t++) {
          // sum_s weights[b, h, t, s] * f_h(v_s), with the layer's own weights.
          const summed = ref.vectors[h][0].map((_o, o) =>
            ref.vectors[h].reduce((sum, vs, s) => sum + w[b][h][t][s] * vs[o], 0),
          );
          expectClose(summed, share[b][t], 1e-5);
        }
        expectClose(n[b][h], ref.vectors[h].map(norm), 1e-5);
      }
    }
    tf.dispose([weights, valueNorms, contributions, mask, ...inputs, ...original]);
    layer.dispose();
  });

  it('a value position whose vector is zeroed keeps its weight but contributes nothing', () => {
    const c = CASES[0];
    const { layer, inputs } = buildLayer(c, 11);
    // Zero the value kernel and bias of head 1: its value vectors, and so its norms, are 0.
    const weights = layer.getWeights();
    const zeroed = weights.map((t, i) =>
      i === 4 || i === 5 ? tf.tidy(() => t.mul(tf.oneHot([0], c.numHeads).reshape(i === 4 ? [1, 2, 1] : [2, 1]))) : t,
    );
    layer.setWeights(zeroed);
    const result = layer.attentionContributions(inputs[0]);
    const w = result.weights.arraySync();
    const contributions = result.contributions.arraySync();
    expect(Math.max(...w[0][1].flat())).toBeGreaterThan(0.2); // head 1 still attends
    expect(Math.max(...contributions[0][1].flat().map(Math.abs))).toBe(0); // and adds nothing
    expect(Math.max(...contributions[0][0].flat())).toBeGreaterThan(0); // head 0 does
    tf.dispose([result.weights, result.valueNorms, result.contributions, ...inputs]);
    tf.dispose(zeroed.filter((t, i) => i === 4 || i === 5));
    layer.dispose();
  });

  it('names the layer when it is not built yet', () => {
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 4, name: 'unbuilt' });
    expect(() => layer.attentionContributions(tf.zeros([1, 2, 8]))).toThrow(
      "MultiHeadAttention 'unbuilt': attentionContributions needs a built layer; apply it once first",
    );
  });
});
