/**
 * A plain-math multi-head attention, written with explicit loops from
 * Vaswani et al. (2017) and Keras's MultiHeadAttention, used as the numerical
 * reference for our layer. No tfjs here, on purpose.
 */
export type Matrix = number[][];

export interface ReferenceWeights {
  queryKernel: number[][][]; // [Dq][H][K]
  queryBias: number[][] | null; // [H][K]
  keyKernel: number[][][]; // [Dk][H][K]
  keyBias: number[][] | null;
  valueKernel: number[][][]; // [Dv][H][V]
  valueBias: number[][] | null;
  outputKernel: number[][][]; // [H][V][Dout]
  outputBias: number[] | null; // [Dout]
}

/** x [L][D] through kernel [D][H][E] and bias [H][E] -> [L][H][E]. */
function project(x: Matrix, kernel: number[][][], bias: number[][] | null): number[][][] {
  const heads = kernel[0].length;
  const dim = kernel[0][0].length;
  return x.map((row) =>
    Array.from({ length: heads }, (_h, h) =>
      Array.from({ length: dim }, (_e, e) => {
        let sum = bias ? bias[h][e] : 0;
        for (let d = 0; d < row.length; d++) sum += row[d] * kernel[d][h][e];
        return sum;
      }),
    ),
  );
}

/**
 * One batch element. mask [T][S] with 1 = may attend (or null).
 * Returns output [T][Dout] and scores [H][T][S].
 */
export function referenceAttention(
  w: ReferenceWeights,
  query: Matrix,
  value: Matrix,
  key: Matrix,
  mask: Matrix | null,
): { output: Matrix; scores: number[][][] } {
  const q = project(query, w.queryKernel, w.queryBias); // [T][H][K]
  const k = project(key, w.keyKernel, w.keyBias); // [S][H][K]
  const v = project(value, w.valueKernel, w.valueBias); // [S][H][V]
  const heads = w.queryKernel[0].length;
  const keyDim = w.queryKernel[0][0].length;
  const valueDim = w.valueKernel[0][0].length;
  const outDim = w.outputKernel[0][0].length;
  const scores: number[][][] = [];
  const context: number[][][] = query.map(() => Array.from({ length: heads }, () => new Array(valueDim).fill(0)));
  for (let h = 0; h < heads; h++) {
    scores.push([]);
    for (let t = 0; t < query.length; t++) {
      const logits = key.map((_row, s) => {
        let dot = 0;
        for (let e = 0; e < keyDim; e++) dot += q[t][h][e] * k[s][h][e];
        const scaled = dot / Math.sqrt(keyDim);
        return mask && mask[t][s] === 0 ? scaled - 1e9 : scaled;
      });
      const max = Math.max(...logits);
      const exps = logits.map((l) => Math.exp(l - max));
      const total = exps.reduce((a, b) => a + b, 0);
      const probs = exps.map((x) => x / total);
      scores[h].push(probs);
      for (let s = 0; s < key.length; s++) {
        for (let e = 0; e < valueDim; e++) context[t][h][e] += probs[s] * v[s][h][e];
      }
    }
  }
  const output = query.map((_row, t) =>
    Array.from({ length: outDim }, (_o, o) => {
      let sum = w.outputBias ? w.outputBias[o] : 0;
      for (let h = 0; h < heads; h++)
        for (let e = 0; e < valueDim; e++) sum += context[t][h][e] * w.outputKernel[h][e][o];
      return sum;
    }),
  );
  return { output, scores };
}

/** Deterministic pseudo-random numbers in [-1, 1) for test data. */
export function seededValues(count: number, seed: number): number[] {
  let state = seed >>> 0 || 1;
  return Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state / 2 ** 32) * 2 - 1;
  });
}
