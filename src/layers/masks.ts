/**
 * Masks: padding masks (B, L) with 1 = real token, and attention masks (B, T, S) or (T, S) with
 * 1 = may attend. How tfjs hands masks to a layer (and where its model executor gets them wrong)
 * is handled here, once for every layer.
 */
import * as tf from '@tensorflow/tfjs';
import { formatShape } from './shapes';

/** A tensor as tfjs-layers hands it around: masks travel on `kerasMask`. */
type MaskedTensor = tf.Tensor & { kerasMask?: tf.Tensor | null };

/** Throws unless each padding mask is null or (B, L) for its sequence (B, L, ...). */
export function checkPaddingMasks(layer: string, masks: Array<[string, tf.Tensor | null, tf.Tensor]>): void {
  for (const [name, mask, sequence] of masks) {
    if (mask == null) continue;
    const want = sequence.shape.slice(0, 2);
    if (mask.rank !== 2 || mask.shape[0] !== want[0] || mask.shape[1] !== want[1]) {
      throw new Error(
        `${layer}: the padding mask of ${name} must have shape (B, L) = ${formatShape(want)}, ` +
          `got ${formatShape(mask.shape)}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------
// Masks. tfjs hands a layer its input masks in `kwargs.mask`, but the model
// executor (predict/fit/evaluate) passes only the FIRST input's mask for a
// multi-input layer (tfjs-layers executor.ts: `kwargs['mask'] = inputMasks[0]`),
// and eager calls pass none. Every tensor produced by a mask-aware layer also
// carries its mask as `kerasMask`, so fall back to that.
// ---------------------------------------------------------------------------

/**
 * The padding mask of each input, (B, L) with 1 = real token, or null: from
 * the `mask` argument, else the tensor's own `kerasMask`.
 *
 * tfjs 4.22's model executor (predict/fit/evaluate) hands every layer of a run
 * the same kwargs object and sets `kwargs.mask` only for layers that have a
 * masked input, so a layer whose inputs carry no mask receives the mask of an
 * earlier layer (tfjs-layers executor.ts `execute`). The executor always passes
 * the inputs as a list and one mask tensor; such a mask that does not fit the
 * first input's (B, L) cannot be that input's and is dropped. A mask given with
 * a single (unlisted) input, or as a list, is kept (and checked by the caller).
 */
export function resolveInputMasks(inputs: tf.Tensor | tf.Tensor[], mask: unknown): Array<tf.Tensor | null> {
  const list = Array.isArray(inputs) ? inputs : [inputs];
  let given = mask as tf.Tensor | Array<tf.Tensor | null | undefined> | null | undefined;
  if (given instanceof tf.Tensor && Array.isArray(inputs) && list.length > 0) {
    const [batch, length] = list[0].shape;
    if (given.rank !== 2 || given.shape[0] !== batch || given.shape[1] !== length) given = null;
  }
  const perInput: Array<tf.Tensor | null | undefined> = Array.isArray(given) ? given : [given];
  return list.map((input, i) => perInput[i] ?? (input as MaskedTensor).kerasMask ?? null);
}

/**
 * The mask a pass-through layer gives its output: a clone of its input's, so
 * each tensor owns its `kerasMask`. tfjs 4.x's `Tensor.dispose()` also
 * disposes the tensor's `kerasMask`; shared mask objects would be disposed with
 * the first tensor that the model executor frees while later layers still need it.
 */
export function passMask(
  input: tf.Tensor,
  mask: tf.Tensor | Array<tf.Tensor | null | undefined> | null | undefined,
): tf.Tensor | null {
  const resolved = resolveInputMasks(input, mask)[0];
  return resolved ? resolved.clone() : null;
}

/**
 * Lower-triangular (T, S) mask, 1 = may attend: query t sees keys s <= t. Matches Keras's
 * `causal_mask` for the same T and S. With `queryOffset` the queries are positions
 * queryOffset .. queryOffset + T - 1 of the sequence (a key/value cache holds the earlier ones),
 * as keras-hub's `compute_causal_mask(..., cache_index)`.
 */
export function causalMask(queryLength: number, keyLength: number, queryOffset = 0): tf.Tensor2D {
  // Written in JavaScript and uploaded once: no kernels (it was six per attention call).
  const data = new Float32Array(queryLength * keyLength);
  for (let t = 0; t < queryLength; t++) {
    data.fill(1, t * keyLength, t * keyLength + Math.min(queryOffset + t + 1, keyLength));
  }
  return tf.tensor2d(data, [queryLength, keyLength]);
}

/**
 * Keras's sliding window (MultiHeadAttention `sliding_window`, Keras 3.15): the (T, S) band
 * |t - s| < window, 1 = may attend, the same on both sides of the diagonal; with a causal mask it
 * is the causal sliding window of Mistral-style models. `queryOffset` as in `causalMask`.
 */
export function slidingWindowMask(
  queryLength: number,
  keyLength: number,
  window: number,
  queryOffset = 0,
): tf.Tensor2D {
  const data = new Float32Array(queryLength * keyLength);
  for (let t = 0; t < queryLength; t++) {
    const position = queryOffset + t;
    const from = Math.max(0, position - window + 1);
    const to = Math.min(keyLength, position + window);
    if (from < to) data.fill(1, t * keyLength + from, t * keyLength + to);
  }
  return tf.tensor2d(data, [queryLength, keyLength]);
}

/**
 * The combined mask over `keyLength` keys, 1 = may attend, as Keras's `_compute_attention_mask`
 * (queries at positions `queryOffset`.. of the sequence, as with a key/value cache): query padding
 * (B, T, 1) * value padding (B, 1, S) * key padding (B, 1, S) * causal (1, T, S) * sliding
 * window (1, T, S) * attentionMask, which may be (T, S), (B, T, S) or (B, H, T, S) (each axis
 * also 1, to broadcast; Keras broadcasts it over the batch and heads axes it lacks). The result
 * is (B, T, S) (or broadcastable to it), or (B, H, T, S) with a 4-D attentionMask, whose other
 * factors then broadcast over heads. Null when nothing is masked. Call inside a tidy.
 */
export function combineMasks(
  query: tf.Tensor,
  keyLength: number,
  queryMask: tf.Tensor | null,
  valueMask: tf.Tensor | null,
  keyMask: tf.Tensor | null,
  causal: boolean,
  attentionMask: tf.Tensor | null,
  slidingWindow: number | null = null,
  queryOffset = 0,
): tf.Tensor | null {
  const queryLength = query.shape[1] as number;
  const factors: tf.Tensor[] = [];
  if (queryMask != null) factors.push(queryMask.cast('float32').expandDims(2));
  if (valueMask != null) factors.push(valueMask.cast('float32').expandDims(1));
  if (keyMask != null) factors.push(keyMask.cast('float32').expandDims(1));
  // Queries from the last key's position on see every key: their causal mask is all ones.
  if (causal && keyLength - 1 > queryOffset) {
    factors.push(causalMask(queryLength, keyLength, queryOffset).expandDims(0));
  }
  if (slidingWindow != null) {
    factors.push(slidingWindowMask(queryLength, keyLength, slidingWindow, queryOffset).expandDims(0));
  }
  // (T, S) -> (1, T, S); (B, T, S) as it is.
  if (attentionMask != null && attentionMask.rank < 4) {
    const mask = attentionMask.cast('float32');
    factors.push(mask.rank === 2 ? mask.expandDims(0) : mask);
  }
  const combined = factors.length === 0 ? null : factors.reduce((a, b) => a.mul(b));
  if (attentionMask == null || attentionMask.rank < 4) return combined;
  // (B, H, T, S): the other factors gain a heads axis, (B, T, S) -> (B, 1, T, S).
  const perHead = attentionMask.cast('float32');
  return combined == null ? perHead : combined.expandDims(1).mul(perHead);
}

/**
 * Throws unless `mask` is an attention mask Keras's MultiHeadAttention accepts for query length
 * T, key length S, batch B and H heads: (T, S), (B, T, S) or (B, H, T, S), any axis also 1.
 */
export function checkAttentionMask(layer: string, mask: tf.Tensor, batch: number, heads: number, t: number, s: number) {
  const wanted: Record<number, [string, number[]]> = {
    2: ['(T, S)', [t, s]],
    3: ['(B, T, S)', [batch, t, s]],
    4: ['(B, H, T, S)', [batch, heads, t, s]],
  };
  const want = wanted[mask.rank];
  if (want == null || mask.shape.some((d, i) => d !== want[1][i] && d !== 1)) {
    const shapes = Object.values(wanted)
      .map(([letters, dims]) => `${letters} = ${formatShape(dims)}`)
      .join(', ');
    throw new Error(
      `${layer}: attentionMask must have shape ${shapes} (an axis may also be 1), got ${formatShape(mask.shape)}`,
    );
  }
}
