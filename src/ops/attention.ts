/**
 * Scaled dot-product attention of H heads (Vaswani et al. 2017, section 3.2.1, equation 1):
 *
 *     softmax(scale * Q K^T + mask) V,   scale = 1/sqrt(K)
 *
 * `scaledDotProductAttention` is the one place where the library computes it, for the layers
 * (MultiHeadAttention) and for cached decoding (src/decode/tfjs_step.ts), and the only place that
 * may hand the work to the fused kernel (src/kernels/attention.ts). Its plain path below is the
 * definition, in tfjs ops, that runs on every backend; the kernel computes the same values on cpu
 * and wasm. Like Keras's `MultiHeadAttention._compute_attention`, it starts from projected
 * queries, keys and values and returns the context before the output projection.
 *
 * Queries, keys and values are read from the projections as they come out of one matmul: up to
 * three `sources` of (B, L, W) rows, each role's H heads of E values side by side from a column
 * `offset` (self-attention's one (B, T, H*K + H*K + H*V) projection needs no split).
 *
 * Shape letters: B batch, T query length, S key length, H heads, K key dim, V value dim.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedAttention, hasFusedAttention, type HeadsSlice, MASKED_SCORE } from '../kernels/attention';

export { MASKED_SCORE };
export type { HeadsSlice };

export interface AttentionArgs {
  /** The projections that hold the heads, each (B, L, W): L = T for the queries', S for the keys' and values'. */
  sources: tf.Tensor[];
  /** Where each role's heads are: `sources[slice.source]`, columns from `slice.offset`. */
  query: HeadsSlice;
  key: HeadsSlice;
  value: HeadsSlice;
  numHeads: number;
  keyDim: number;
  valueDim: number;
  /** (T, S), (B, T, S), (B, 1, S) or (B, H, T, S) (axes of 1 broadcast), 1 = may attend; null attends everywhere. */
  mask: tf.Tensor | null;
  /** Multiplies the queries. Default 1/sqrt(keyDim); 1 for queries scaled beforehand. */
  scale?: number;
  /** Dropout rate on the probabilities (pass it only while training). Default 0. */
  dropout?: number;
  /** The probabilities are wanted (and differentiable under a gradient tape). Default false. */
  needProbabilities?: boolean;
  /**
   * Attend to the first S = keyLength positions of the keys' and values' sources only (a key/value
   * cache filled up to there: src/ops/attention_cache.ts); the mask is then (.., T, keyLength).
   * Default: every position of the sources.
   */
  keyLength?: number;
  /**
   * What a query whose keys are all masked gets: 'uniform' attention (its scores are all equally
   * masked, so the softmax averages the values; the default) or 'zero' attention (a zero context
   * and zero probabilities: Keras's masked `Softmax`, keras/src/layers/activations/softmax.py, which
   * zeroes the masked positions after the softmax since Keras 3.10).
   */
  fullyMaskedQueries?: FullyMaskedQueries;
}

/** See `AttentionArgs.fullyMaskedQueries`. */
export type FullyMaskedQueries = 'uniform' | 'zero';
/** Every value of `FullyMaskedQueries`, for the layers' argument checks. */
export const FULLY_MASKED_QUERIES: readonly FullyMaskedQueries[] = ['uniform', 'zero'];

export interface AttentionResult {
  /** (B, T, H, V): each head's weighted values, the layout the output projection reads. */
  context: tf.Tensor4D;
  /**
   * (B, H, T, S), before dropout (as Keras returns them). Null when `needProbabilities` is false
   * and the fused kernel ran: it keeps no (T, S) matrix beyond one block of queries.
   */
  probabilities: tf.Tensor4D | null;
}

/** Scaled dot-product attention; see the file comment. Call inside a tidy. */
export function scaledDotProductAttention(args: AttentionArgs): AttentionResult {
  const scale = args.scale ?? 1 / Math.sqrt(args.keyDim);
  const dropout = args.dropout ?? 0;
  // A per-head mask whose heads axis is 1 is a (B, T, S) mask: (B, 1, T, S) -> (B, T, S).
  const mask =
    args.mask != null && args.mask.rank === 4 && args.mask.shape[1] === 1 ? args.mask.squeeze([1]) : args.mask;
  // The fused kernel: cpu or wasm with WebAssembly SIMD and K, V multiples of 4 (whole SIMD
  // vectors); it has no dropout, and its probabilities carry no gradient.
  const fused =
    hasFusedAttention(args.keyDim, args.valueDim) &&
    dropout === 0 &&
    !(args.needProbabilities && tf.engine().isTapeOn()) &&
    // A mask that differs per head (B, H, T, S) takes the plain path: the kernel's mask has no heads axis.
    (mask == null || mask.rank < 4) &&
    // A cache prefix is read in place only without a tape (the kernel's backward reads whole sources).
    !(args.keyLength != null && tf.engine().isTapeOn());
  const result = fused ? fusedAttention({ ...args, mask, scale }) : plainAttention({ ...args, mask, scale, dropout });
  if (args.fullyMaskedQueries !== 'zero' || mask == null) return result;
  return zeroFullyMaskedQueries(result, mask);
}

/**
 * The context and probabilities of the queries whose keys are all masked set to zero (Keras's
 * masked Softmax: `where(mask, softmax(scores), 0)`; the other rows' masked probabilities are
 * already exactly 0). Call inside a tidy.
 */
function zeroFullyMaskedQueries(result: AttentionResult, mask: tf.Tensor): AttentionResult {
  // 1 where a query may attend to any key: (T, 1), (B, T, 1), (B, 1, 1) or (B, H, T, 1).
  const attends = mask.cast('float32').max(-1, true);
  // As the probabilities' (B, H, T, S) and the context's (B, T, H, V) factors.
  const [forProbabilities, forContext] =
    attends.rank === 4
      ? [attends, attends.transpose([0, 2, 1, 3])]
      : attends.rank === 3
        ? [attends.expandDims(1), attends.expandDims(2)]
        : [attends, attends.expandDims(1)];
  return {
    context: result.context.mul(forContext) as tf.Tensor4D,
    probabilities: result.probabilities == null ? null : (result.probabilities.mul(forProbabilities) as tf.Tensor4D),
  };
}

/**
 * The additive scores of a mask, (1 - mask) * MASKED_SCORE: 0 where 1 = may attend, -1e9 where
 * masked, so that the softmax gives masked keys probability 0 (exactly: e^-1e9 underflows). A
 * query whose keys are all masked gets equal scores everywhere and attends uniformly, as Keras's
 * fused `dot_product_attention` does (see `AttentionArgs.fullyMaskedQueries` for its other path).
 */
export function maskToScores(mask: tf.Tensor): tf.Tensor {
  return tf.scalar(1).sub(mask.cast('float32')).mul(MASKED_SCORE);
}

/**
 * The definition in tfjs ops, on any backend: what `scaledDotProductAttention` runs where the fused
 * kernel cannot, and what the kernel's conformance tests (test/kernels/attention.test.ts) hold it
 * to. Always returns the probabilities. Call inside a tidy.
 */
export function plainAttention(args: AttentionArgs): { context: tf.Tensor4D; probabilities: tf.Tensor4D } {
  const { numHeads: H, keyDim: K, valueDim: V } = args;
  const scale = args.scale ?? 1 / Math.sqrt(K);
  const dropout = args.dropout ?? 0;
  // (B, L, W) columns [offset, offset + H*E) -> (B, L, H, E) -> (B, H, L, E); keys and values
  // only their first keyLength positions.
  const heads = (slice: HeadsSlice, size: number, keyLength?: number): tf.Tensor4D => {
    const source = args.sources[slice.source];
    const batch = source.shape[0] as number;
    const length = keyLength ?? (source.shape[1] as number);
    const columns = source.slice([0, 0, slice.offset], [batch, length, H * size]);
    return columns.reshape([batch, length, H, size]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
  };
  const queries = heads(args.query, K).mul(scale);
  // Scores: (B, H, T, K) x (B, H, S, K)^T -> (B, H, T, S).
  let scores = tf.matMul(queries, heads(args.key, K, args.keyLength), false, true);
  // The mask broadcasts over heads: (T, S) and (B, H, T, S) as they are, (B, T, S) and (B, 1, S) with a heads axis.
  if (args.mask != null) {
    const masked = maskToScores(args.mask);
    scores = scores.add(masked.rank === 3 ? masked.expandDims(1) : masked);
  }
  // Softmax over the keys S.
  const probabilities = tf.softmax(scores) as tf.Tensor4D;
  const dropped = dropout > 0 ? tf.dropout(probabilities, dropout) : probabilities;
  // Weighted values: (B, H, T, S) x (B, H, S, V) -> (B, H, T, V) -> (B, T, H, V).
  const context = tf.matMul(dropped, heads(args.value, V, args.keyLength)).transpose([0, 2, 1, 3]) as tf.Tensor4D;
  return { context, probabilities };
}
