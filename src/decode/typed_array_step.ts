/**
 * The decoder's incremental step in plain JavaScript over typed arrays, for small batches.
 *
 * At batch 1, one decoder step of the reference model is about 0.25 MFLOP spread over ~200 tfjs
 * kernels, and each kernel costs tens of microseconds of dispatch on wasm (more on webgl): the
 * step is almost all overhead. Here the same step (target embedding; per block causal
 * self-attention over the cached keys and values, cross-attention over the encoder's projected
 * keys and values, feed-forward, residuals and layer norms; final norm, logits, log-softmax)
 * runs as loops over Float32Arrays. The encoder and the cross-attention keys and values still
 * run in tfjs, once per decode; the weights are read out of tfjs once per set of weight values
 * (`decoderWeights`, from the layers' own `inferenceArrays`/`inferenceWeights`), so a model that
 * is training still decodes with its current weights. `decode.ts` uses this for small batches
 * only (`TYPED_ARRAY_MAX_ROWS`); larger batches keep the tfjs step, where XNNPACK's matmuls win.
 *
 * Numerically it is the same computation as the tfjs step (tfjs_step.ts) in another summation
 * order (differences ~1e-6); tests compare the two. It is the library's one other home of the
 * math (attention with its additive mask, layer norm, gelu) besides src/ops and src/kernels:
 * plain loops, because at batch 1 per-kernel dispatch is the whole cost.
 */
import * as tf from '@tensorflow/tfjs';
import { projectJoined } from '../layers/attention_projection';
import type { MultiHeadAttention } from '../layers/multi_head_attention';
import type { DecoderBlockArrays, LayerNormArrays, TransformerDecoderBlock } from '../layers/transformer_decoder_block';
import { MASKED_SCORE } from '../ops/attention';
import type { IncrementalDecoder } from './incremental';
import type { TransformerParts } from './transformer_parts';

/** Batches (rows = sources x beams) up to this size decode with the typed-array step. */
export const TYPED_ARRAY_MAX_ROWS = 4;

type Norm = LayerNormArrays;

interface Attention {
  heads: number;
  keyDim: number;
  valueDim: number;
  /** [D, Q] queries only (Q = H*K, scaled by 1/sqrt(K)), or [D, Q + H*K + H*V] for self-attention. */
  kernel: Float32Array;
  bias: Float32Array;
  /** [H*V, D] and [D]. */
  outputKernel: Float32Array;
  outputBias: Float32Array;
}

/** A decoder block's weights as typed arrays. */
interface BlockWeights extends DecoderBlockArrays {
  normalizeFirst: boolean;
  activation: 'relu' | 'gelu';
  selfAttention: Attention;
  crossAttention: Attention | null;
}

/** A decoder block during one decode: its weights and, per row, what the steps attend to. */
interface Block extends BlockWeights {
  /** Per row: cross-attention keys (S, H*K) and values (S, H*V); mask adder (S). */
  crossKeys: Float32Array[];
  crossValues: Float32Array[];
  crossMaskAdder: Float32Array[] | null;
  /** Self-attention cache, per row: (maxT, H*K) keys and (maxT, H*V) values. */
  keys: Float32Array[];
  values: Float32Array[];
}

/** What the typed-array step needs of the model (found by `transformerParts`). */
export type TypedArrayDecoderParts = Pick<
  TransformerParts,
  'targetEmbedding' | 'decoderBlocks' | 'finalNorm' | 'logits' | 'vocabularySize'
>;

function read(tensor: tf.Tensor): Float32Array {
  return (tensor.dataSync() as Float32Array).slice();
}

function attentionArrays(layer: MultiHeadAttention, fused: boolean): Attention {
  return tf.tidy(() => {
    const w = layer.inferenceWeights();
    const kernel = fused ? w.queryKeyValueKernel : w.queryKernel;
    const bias = fused ? w.queryKeyValueBias : w.queryBias;
    if (kernel == null || bias == null)
      throw new Error(`typed-array decoder: '${layer.name}' has no fused query/key/value weights`);
    const arrays = {
      heads: layer.numHeads,
      keyDim: layer.keyDim,
      valueDim: layer.valueDim,
      kernel: read(kernel),
      bias: read(bias),
      outputKernel: read(w.outputKernel),
      outputBias: read(w.outputBias),
    };
    tf.dispose(Object.values(w).filter((t): t is tf.Tensor => t instanceof tf.Tensor));
    return arrays;
  });
}

/** y[o] = bias[o] + sum_d x[d] * kernel[d, o], kernel row-major [x.length, out]. */
function denseInto(y: Float32Array, x: Float32Array, kernel: Float32Array, bias: Float32Array): void {
  const out = bias.length;
  y.set(bias);
  for (let d = 0; d < x.length; d++) {
    const xd = x[d];
    if (xd === 0) continue;
    const row = d * out;
    for (let o = 0; o < out; o++) y[o] += xd * kernel[row + o];
  }
}

function layerNormInto(y: Float32Array, x: Float32Array, n: Norm): void {
  let mean = 0;
  for (let i = 0; i < x.length; i++) mean += x[i];
  mean /= x.length;
  let variance = 0;
  for (let i = 0; i < x.length; i++) variance += (x[i] - mean) ** 2;
  const inverseStd = 1 / Math.sqrt(variance / x.length + n.epsilon);
  for (let i = 0; i < x.length; i++) y[i] = (x[i] - mean) * inverseStd * n.gamma[i] + n.beta[i];
}

/** Softmax of scores[0..length) in place. */
function softmaxInPlace(scores: Float32Array, length: number): void {
  let max = -Infinity;
  for (let s = 0; s < length; s++) max = Math.max(max, scores[s]);
  let total = 0;
  for (let s = 0; s < length; s++) {
    scores[s] = Math.exp(scores[s] - max);
    total += scores[s];
  }
  for (let s = 0; s < length; s++) scores[s] /= total;
}

/** Keys or values of one row: element e of head h at position s is data[s * position + h * head + e]. */
interface Strided {
  data: Float32Array;
  position: number;
  head: number;
}

/** Scaled queries (H*K) against `length` keys and values, with an additive mask (or null) -> output (D). */
function attend(
  a: Attention,
  query: Float32Array,
  length: number,
  keys: Strided,
  values: Strided,
  adder: Float32Array | null,
): Float32Array {
  const context = new Float32Array(a.heads * a.valueDim); // (H*V): the heads side by side
  const scores = new Float32Array(length);
  for (let head = 0; head < a.heads; head++) {
    const q = head * a.keyDim;
    for (let s = 0; s < length; s++) {
      const k = s * keys.position + head * keys.head;
      let dot = 0;
      for (let e = 0; e < a.keyDim; e++) dot += query[q + e] * keys.data[k + e];
      scores[s] = adder ? dot + adder[s] : dot;
    }
    softmaxInPlace(scores, length);
    const c = head * a.valueDim;
    for (let s = 0; s < length; s++) {
      const v = s * values.position + head * values.head;
      for (let e = 0; e < a.valueDim; e++) context[c + e] += scores[s] * values.data[v + e];
    }
  }
  const output = new Float32Array(a.outputBias.length);
  denseInto(output, context, a.outputKernel, a.outputBias);
  return output;
}

/**
 * erf by its Maclaurin-type series 2/sqrt(pi) e^(-x^2) sum (2x^2)^n x / (1*3*...*(2n+1)),
 * to float precision; +-1 past |x| = 4.
 */
function erf(x: number): number {
  const a = Math.abs(x);
  if (a > 4) return Math.sign(x);
  let sum = a;
  let term = a;
  for (let n = 1; n < 200 && term > 1e-12 * sum; n++) {
    term *= (2 * a * a) / (2 * n + 1);
    sum += term;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-a * a) * sum;
}

/** The decoder's weights as typed arrays (see `decoderWeights`). */
interface DecoderWeights {
  blocks: BlockWeights[];
  tokenTable: Float32Array; // [V, D], already scaled by sqrt(D) when the embedding scales
  positionTable: Float32Array; // [maxT, D]
  finalNorm: Norm | null;
  logitsKernel: Float32Array; // [D, V]
  logitsBias: Float32Array;
}

/**
 * Reading ~100 weights out of tfjs costs more than a whole batch-1 decode, so
 * they are read once per set of weight values. Every way tfjs changes a
 * variable (optimizers, setWeights, loadWeights) assigns it a new data id, so
 * the cache holds the data ids it was read from and rereads when one differs.
 */
const weightCache = new WeakMap<object, { dataIds: unknown[]; weights: DecoderWeights }>();

function decoderVariables(parts: TypedArrayDecoderParts): tf.LayerVariable[] {
  return [
    ...parts.targetEmbedding.weights,
    ...parts.decoderBlocks.flatMap((b) => b.weights),
    ...(parts.finalNorm?.weights ?? []),
    ...parts.logits.weights,
  ];
}

function decoderWeights(parts: TypedArrayDecoderParts): DecoderWeights {
  const dataIds = decoderVariables(parts).map((v) => (v.read() as unknown as { dataId: unknown }).dataId);
  const cached = weightCache.get(parts.logits);
  if (cached && cached.dataIds.length === dataIds.length && cached.dataIds.every((id, i) => id === dataIds[i])) {
    return cached.weights;
  }
  const { tokenTable, positionTable } = parts.targetEmbedding.inferenceArrays();
  const [logitsKernel, logitsBias] = parts.logits.getWeights();
  let finalNorm: Norm | null = null;
  if (parts.finalNorm) {
    const [gamma, beta] = parts.finalNorm.getWeights();
    finalNorm = { gamma: read(gamma), beta: read(beta), epsilon: parts.finalNorm.getConfig().epsilon as number };
  }
  const weights: DecoderWeights = {
    blocks: parts.decoderBlocks.map(blockWeights),
    tokenTable,
    positionTable,
    finalNorm,
    logitsKernel: read(logitsKernel),
    logitsBias: logitsBias ? read(logitsBias) : new Float32Array(parts.vocabularySize),
  };
  weightCache.set(parts.logits, { dataIds, weights });
  return weights;
}

function blockWeights(block: TransformerDecoderBlock): BlockWeights {
  const cross = block.crossAttention;
  return {
    ...block.inferenceArrays(),
    normalizeFirst: block.normalizeFirst,
    activation: block.activation,
    selfAttention: attentionArrays(block.selfAttention!, true),
    crossAttention: cross ? attentionArrays(cross, false) : null,
  };
}

/**
 * Incremental decoder state for `rows` sequences; the typed-array twin of
 * decode.ts's tfjs `DecoderState` (same `step`/`reorder` contract).
 */
export class TypedArrayDecoderState implements IncrementalDecoder {
  position = 0;
  private readonly blocks: Block[];
  private readonly weights: DecoderWeights;
  private readonly width: number;
  private readonly maxLength: number;

  /**
   * `memory` (rows, S, D) and `mask` (rows, S) are the encoder's output and
   * the source padding mask (1 = real), one row per decoded sequence.
   */
  constructor(
    parts: TypedArrayDecoderParts,
    memory: tf.Tensor,
    mask: tf.Tensor,
    private readonly rows: number,
  ) {
    this.weights = decoderWeights(parts);
    this.width = parts.targetEmbedding.embeddingDim;
    this.maxLength = parts.targetEmbedding.sequenceLength;
    this.blocks = parts.decoderBlocks.map((block, i) => this.startBlock(block, this.weights.blocks[i], memory, mask));
  }

  /** The block's per-decode state: the encoder's keys and values per row, an empty self-attention cache. */
  private startBlock(block: TransformerDecoderBlock, weights: BlockWeights, memory: tf.Tensor, mask: tf.Tensor): Block {
    const { heads, keyDim, valueDim } = weights.selfAttention;
    const cross = block.crossAttention;
    let crossKeys: Float32Array[] = [];
    let crossValues: Float32Array[] = [];
    let crossMaskAdder: Float32Array[] | null = null;
    if (cross) {
      // (rows, S, H*K + H*V): each position's keys, then its values. Read outside tidy, which
      // would walk every element of a typed array it returns.
      const joined = tf.tidy(() => projectJoined(memory, [cross.keyDense!, cross.valueDense!]));
      const data = joined.dataSync() as Float32Array;
      joined.dispose();
      const length = memory.shape[1] as number;
      const keysWidth = cross.numHeads * cross.keyDim;
      const valuesWidth = cross.numHeads * cross.valueDim;
      const row = keysWidth + valuesWidth;
      const split = (r: number, from: number, width: number) => {
        const out = new Float32Array(length * width);
        for (let s = 0; s < length; s++)
          out.set(data.subarray((r * length + s) * row + from, (r * length + s) * row + from + width), s * width);
        return out;
      };
      crossKeys = Array.from({ length: this.rows }, (_x, r) => split(r, 0, keysWidth));
      crossValues = Array.from({ length: this.rows }, (_x, r) => split(r, keysWidth, valuesWidth));
      const maskData = mask.dataSync();
      // The mask rule of src/ops/attention.ts (`maskToScores`): 0 for real positions, MASKED_SCORE for padding.
      crossMaskAdder = Array.from({ length: this.rows }, (_x, r) =>
        Float32Array.from({ length }, (_y, s) => (maskData[r * length + s] ? 0 : MASKED_SCORE)),
      );
    }
    return {
      ...weights,
      crossKeys,
      crossValues,
      crossMaskAdder,
      keys: Array.from({ length: this.rows }, () => new Float32Array(this.maxLength * heads * keyDim)),
      values: Array.from({ length: this.rows }, () => new Float32Array(this.maxLength * heads * valueDim)),
    };
  }

  /** Feeds tokens (rows) at the next position; returns log-probabilities (rows x V), row-major. */
  step(tokens: Int32Array): Float32Array {
    if (this.position >= this.maxLength) {
      throw new Error(`decode: position ${this.position} is past the model's maxTargetLength ${this.maxLength}`);
    }
    const { tokenTable, positionTable, finalNorm, logitsKernel, logitsBias } = this.weights;
    const vocab = logitsBias.length;
    const out = new Float32Array(this.rows * vocab);
    const width = this.width;
    for (let r = 0; r < this.rows; r++) {
      const x = new Float32Array(width);
      const token = tokens[r] * width;
      const position = this.position * width;
      for (let d = 0; d < width; d++) x[d] = tokenTable[token + d] + positionTable[position + d];
      for (const block of this.blocks) this.blockStep(block, x, r);
      const h = finalNorm ? new Float32Array(width) : x;
      if (finalNorm) layerNormInto(h, x, finalNorm);
      const logits = out.subarray(r * vocab, (r + 1) * vocab);
      denseInto(logits, h, logitsKernel, logitsBias);
      // log-softmax
      let max = -Infinity;
      for (let v = 0; v < vocab; v++) max = Math.max(max, logits[v]);
      let total = 0;
      for (let v = 0; v < vocab; v++) total += Math.exp(logits[v] - max);
      const logTotal = max + Math.log(total);
      for (let v = 0; v < vocab; v++) logits[v] -= logTotal;
    }
    this.position++;
    return out;
  }

  /** Keeps rows `rows` (a beam search's survivors), in that order. */
  reorder(rows: Int32Array): void {
    for (const block of this.blocks) {
      const pick = (list: Float32Array[]) => Array.from(rows, (r) => list[r].slice());
      block.keys = pick(block.keys);
      block.values = pick(block.values);
      block.crossKeys = pick(block.crossKeys);
      block.crossValues = pick(block.crossValues);
      if (block.crossMaskAdder) block.crossMaskAdder = pick(block.crossMaskAdder);
    }
  }

  dispose(): void {
    // Typed arrays only: nothing to free in tfjs.
  }

  /** x (D) of row r through one decoder block, in place. */
  private blockStep(block: Block, x: Float32Array, r: number): void {
    this.residual(block, x, block.selfNorm, (h) => this.selfAttend(block, h, r));
    if (block.crossAttention) this.residual(block, x, block.crossNorm!, (h) => this.crossAttend(block, h, r));
    this.residual(block, x, block.feedForwardNorm, (h) => this.feedForward(block, h));
  }

  /** Post-LN `x = norm(x + f(x))` or pre-LN `x = x + f(norm(x))`, as TransformerBlockBase.residual. */
  private residual(block: Block, x: Float32Array, n: Norm, f: (h: Float32Array) => Float32Array): void {
    if (block.normalizeFirst) {
      const h = new Float32Array(x.length);
      layerNormInto(h, x, n);
      const y = f(h);
      for (let d = 0; d < x.length; d++) x[d] += y[d];
    } else {
      const y = f(x);
      for (let d = 0; d < x.length; d++) y[d] += x[d];
      layerNormInto(x, y, n);
    }
  }

  private selfAttend(block: Block, h: Float32Array, r: number): Float32Array {
    const a = block.selfAttention;
    const qk = a.heads * a.keyDim;
    const hv = a.heads * a.valueDim;
    const projected = new Float32Array(a.bias.length); // [queries | keys | values]
    denseInto(projected, h, a.kernel, a.bias);
    const t = this.position;
    block.keys[r].set(projected.subarray(qk, 2 * qk), t * qk);
    block.values[r].set(projected.subarray(2 * qk, 2 * qk + hv), t * hv);
    // The cache is (t, H*K) and (t, H*V): position-major.
    return attend(
      a,
      projected.subarray(0, qk),
      t + 1,
      { data: block.keys[r], position: qk, head: a.keyDim },
      { data: block.values[r], position: hv, head: a.valueDim },
      null,
    );
  }

  private crossAttend(block: Block, h: Float32Array, r: number): Float32Array {
    const a = block.crossAttention!;
    const query = new Float32Array(a.bias.length);
    denseInto(query, h, a.kernel, a.bias);
    const length = block.crossKeys[r].length / (a.heads * a.keyDim);
    // The encoder's keys and values are (S, H*K) and (S, H*V): position-major, like the cache.
    return attend(
      a,
      query,
      length,
      { data: block.crossKeys[r], position: a.heads * a.keyDim, head: a.keyDim },
      { data: block.crossValues[r], position: a.heads * a.valueDim, head: a.valueDim },
      block.crossMaskAdder ? block.crossMaskAdder[r] : null,
    );
  }

  private feedForward(block: Block, h: Float32Array): Float32Array {
    const inner = new Float32Array(block.innerBias.length);
    denseInto(inner, h, block.innerKernel, block.innerBias);
    for (let i = 0; i < inner.length; i++) {
      const v = inner[i];
      inner[i] = block.activation === 'relu' ? Math.max(0, v) : 0.5 * v * (1 + erf(v * Math.SQRT1_2));
    }
    const output = new Float32Array(block.outerBias.length);
    denseInto(output, inner, block.outerKernel, block.outerBias);
    return output;
  }
}
