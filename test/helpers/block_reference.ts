/**
 * Plain-math references for the Transformer blocks, the embedding and the
 * whole encoder-decoder, written with explicit loops from Vaswani et al.
 * (2017) and keras-hub's TransformerEncoder/TransformerDecoder. No tfjs here,
 * on purpose: the weights come in as nested arrays (from `getWeights()`), so a
 * bug in the layers cannot hide in a shared helper.
 *
 * Shapes: one batch element at a time; x [T][D], masks [T][S] with 1 = may attend.
 */
import { Matrix, referenceAttention, ReferenceWeights } from '../layers/attention_reference';

export type Activation = 'relu' | 'gelu';

export interface LayerNormReference {
  gamma: number[];
  beta: number[];
}

export interface FeedForwardReference {
  innerKernel: Matrix; // [D][I]
  innerBias: number[]; // [I]
  outerKernel: Matrix; // [I][D]
  outerBias: number[]; // [D]
}

export interface BlockOptions {
  normalizeFirst: boolean;
  activation: Activation;
  epsilon: number;
}

export interface EncoderBlockReference {
  selfAttention: ReferenceWeights;
  selfAttentionNorm: LayerNormReference;
  feedForward: FeedForwardReference;
  feedForwardNorm: LayerNormReference;
}

export interface DecoderBlockReference extends EncoderBlockReference {
  crossAttention: ReferenceWeights | null;
  crossAttentionNorm: LayerNormReference | null;
}

// ---------------------------------------------------------------------------
// Scalar functions.
// ---------------------------------------------------------------------------

/**
 * erf(x) to ~1e-15: the everywhere-convergent series with positive terms
 * erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (1*3*...*(2n+1))
 * (Abramowitz & Stegun 7.1.6); |erf(x)| = 1 to double precision past |x| = 6.
 */
export function erf(x: number): number {
  if (x === 0) return 0;
  const ax = Math.abs(x);
  if (ax > 6) return Math.sign(x);
  let term = ax;
  let sum = ax;
  for (let n = 1; n < 200 && term > 1e-17 * sum; n++) {
    term *= (2 * ax * ax) / (2 * n + 1);
    sum += term;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum;
}

/** Exact GELU, x * Phi(x) (Hendrycks & Gimpel 2016). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

export function activate(x: number, activation: Activation): number {
  return activation === 'relu' ? Math.max(0, x) : gelu(x);
}

// ---------------------------------------------------------------------------
// Row-wise pieces.
// ---------------------------------------------------------------------------

/** Layer norm of each row over its last axis (population variance, as Ba et al. 2016). */
export function layerNorm(x: Matrix, w: LayerNormReference, epsilon: number): Matrix {
  return x.map((row) => {
    const mean = row.reduce((a, b) => a + b, 0) / row.length;
    const variance = row.reduce((a, b) => a + (b - mean) * (b - mean), 0) / row.length;
    return row.map((v, d) => ((v - mean) / Math.sqrt(variance + epsilon)) * w.gamma[d] + w.beta[d]);
  });
}

/** x [N][In] @ kernel [In][Out] + bias [Out]. */
export function dense(x: Matrix, kernel: Matrix, bias: number[] | null): Matrix {
  const out = kernel[0].length;
  return x.map((row) =>
    Array.from({ length: out }, (_o, o) => {
      let sum = bias ? bias[o] : 0;
      for (let d = 0; d < row.length; d++) sum += row[d] * kernel[d][o];
      return sum;
    }),
  );
}

export function feedForward(x: Matrix, w: FeedForwardReference, activation: Activation): Matrix {
  const inner = dense(x, w.innerKernel, w.innerBias).map((row) => row.map((v) => activate(v, activation)));
  return dense(inner, w.outerKernel, w.outerBias);
}

function add(a: Matrix, b: Matrix): Matrix {
  return a.map((row, t) => row.map((v, d) => v + b[t][d]));
}

/** Post-LN `norm(x + f(x))` or pre-LN `x + f(norm(x))`. */
function residual(x: Matrix, norm: LayerNormReference, opts: BlockOptions, f: (h: Matrix) => Matrix): Matrix {
  if (opts.normalizeFirst) return add(x, f(layerNorm(x, norm, opts.epsilon)));
  return layerNorm(add(x, f(x)), norm, opts.epsilon);
}

/** (T, S) attention mask from padding vectors (1 = real), causal or not. */
export function attentionMask(
  queryPadding: number[] | null,
  keyPadding: number[] | null,
  length: number,
  keyLength: number,
  causal: boolean,
): Matrix {
  return Array.from({ length }, (_r, t) =>
    Array.from({ length: keyLength }, (_c, s) => {
      let m = 1;
      if (queryPadding && queryPadding[t] === 0) m = 0;
      if (keyPadding && keyPadding[s] === 0) m = 0;
      if (causal && s > t) m = 0;
      return m;
    }),
  );
}

// ---------------------------------------------------------------------------
// Blocks.
// ---------------------------------------------------------------------------

/** An attention layer's 8 weights (Keras order, with biases) as the reference's fields. */
export function attentionWeights(w: unknown[]): ReferenceWeights {
  const [queryKernel, queryBias, keyKernel, keyBias, valueKernel, valueBias, outputKernel, outputBias] = w;
  return {
    queryKernel,
    queryBias,
    keyKernel,
    keyBias,
    valueKernel,
    valueBias,
    outputKernel,
    outputBias,
  } as ReferenceWeights;
}

function norm(w: unknown[]): LayerNormReference {
  return { gamma: w[0] as number[], beta: w[1] as number[] };
}

function ff(w: unknown[]): FeedForwardReference {
  const [innerKernel, innerBias, outerKernel, outerBias] = w as [Matrix, number[], Matrix, number[]];
  return { innerKernel, innerBias, outerKernel, outerBias };
}

/** An encoder block's `getWeights()` (as arrays) in its documented order. */
export function encoderBlockWeights(w: unknown[]): EncoderBlockReference {
  if (w.length !== 16) throw new Error(`encoder block: expected 16 weights, got ${w.length}`);
  return {
    selfAttention: attentionWeights(w.slice(0, 8)),
    selfAttentionNorm: norm(w.slice(8, 10)),
    feedForward: ff(w.slice(10, 14)),
    feedForwardNorm: norm(w.slice(14, 16)),
  };
}

/** A decoder block's `getWeights()` (as arrays) in its documented order. */
export function decoderBlockWeights(w: unknown[]): DecoderBlockReference {
  if (w.length === 16) return { ...encoderBlockWeights(w), crossAttention: null, crossAttentionNorm: null };
  if (w.length !== 26) throw new Error(`decoder block: expected 16 or 26 weights, got ${w.length}`);
  return {
    selfAttention: attentionWeights(w.slice(0, 8)),
    crossAttention: attentionWeights(w.slice(8, 16)),
    selfAttentionNorm: norm(w.slice(16, 18)),
    crossAttentionNorm: norm(w.slice(18, 20)),
    feedForward: ff(w.slice(20, 24)),
    feedForwardNorm: norm(w.slice(24, 26)),
  };
}

/** Encoder block on one batch element: x [T][D], padding [T] (1 = real) or null. */
export function referenceEncoderBlock(
  w: EncoderBlockReference,
  x: Matrix,
  padding: number[] | null,
  causal: boolean,
  opts: BlockOptions,
): Matrix {
  const mask = padding || causal ? attentionMask(padding, padding, x.length, x.length, causal) : null;
  const attended = residual(
    x,
    w.selfAttentionNorm,
    opts,
    (h) => referenceAttention(w.selfAttention, h, h, h, mask).output,
  );
  return residual(attended, w.feedForwardNorm, opts, (h) => feedForward(h, w.feedForward, opts.activation));
}

/**
 * Decoder block on one batch element: x [T][D], encoder [S][De] or null,
 * paddings (1 = real) or null. Self-attention is always causal.
 */
export function referenceDecoderBlock(
  w: DecoderBlockReference,
  x: Matrix,
  encoder: Matrix | null,
  decoderPadding: number[] | null,
  encoderPadding: number[] | null,
  opts: BlockOptions,
): Matrix {
  const selfMask = attentionMask(decoderPadding, decoderPadding, x.length, x.length, true);
  let h = residual(x, w.selfAttentionNorm, opts, (q) => referenceAttention(w.selfAttention, q, q, q, selfMask).output);
  if (encoder) {
    const crossMask =
      decoderPadding || encoderPadding
        ? attentionMask(decoderPadding, encoderPadding, x.length, encoder.length, false)
        : null;
    h = residual(
      h,
      w.crossAttentionNorm!,
      opts,
      (q) => referenceAttention(w.crossAttention!, q, encoder, encoder, crossMask).output,
    );
  }
  return residual(h, w.feedForwardNorm, opts, (q) => feedForward(q, w.feedForward, opts.activation));
}

// ---------------------------------------------------------------------------
// Embedding.
// ---------------------------------------------------------------------------

/** PE(t, 2i) = sin(t / w^(2i/D)), PE(t, 2i+1) = cos(t / w^(2i/D)) (Vaswani et al. 3.5). */
export function sinusoid(t: number, i: number, width: number, maxWavelength = 10000): number {
  const angle = t / Math.pow(maxWavelength, (2 * Math.floor(i / 2)) / width);
  return i % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
}

/**
 * token_table[id] * sqrt(D) (if scaled) + position_table[t] (or the sinusoid
 * when positionTable is null), for one sequence of ids.
 */
export function referenceEmbedding(
  tokenTable: Matrix,
  positionTable: Matrix | null,
  ids: number[],
  scale: boolean,
): Matrix {
  const width = tokenTable[0].length;
  const factor = scale ? Math.sqrt(width) : 1;
  return ids.map((id, t) =>
    tokenTable[id].map((v, d) => v * factor + (positionTable ? positionTable[t][d] : sinusoid(t, d, width))),
  );
}
