/**
 * Seeing every attention call of a model's forward pass, wherever the attention sits (a
 * MultiHeadAttention in the model, or inside a block), with the masks the model really used:
 * `recordAttention(onCall, fn)` runs `fn` and calls `onCall` for each MultiHeadAttention call
 * made meanwhile, with the call's inputs and its attention probabilities. The recorder is active
 * only while `fn` runs (and only on the calling thread of JavaScript), the way a profiler or
 * TransformerLens's hooks see a forward pass; no layer changes what it computes.
 */
import type * as tf from '@tensorflow/tfjs';

/**
 * One attention call as the recorder sees it; `L` is the attention layer's type
 * (MultiHeadAttention: this file does not import it, which imports this file).
 */
export interface AttentionCallRecord<L = unknown> {
  layer: L;
  /** The call's query (B, T, Dq), value (B, S, Dv) and key (B, S, Dk). */
  inputs: { query: tf.Tensor; value: tf.Tensor; key: tf.Tensor };
  /** (B, H, T, S), inference mode (no dropout). */
  probabilities: tf.Tensor4D;
  /** The combined mask the call attended with, 1 = may attend, or null. */
  mask: tf.Tensor | null;
  /** The call's head mask (H) or (B, H), or null. */
  headMask: tf.Tensor | null;
}

/**
 * Called inside the attention's own `tf.tidy`: what it computes is disposed when the call returns
 * unless it keeps it (`tf.keep`).
 */
export type AttentionObserver<L = unknown> = (record: AttentionCallRecord<L>) => void;

let active: AttentionObserver | null = null;

/** Runs `fn`, calling `onCall` for each attention call it makes. Not reentrant: one recording at a time. */
export function recordAttention<T, L = unknown>(onCall: AttentionObserver<L>, fn: () => T): T {
  if (active != null) throw new Error('recordAttention: a recording is already running');
  active = onCall as AttentionObserver;
  try {
    return fn();
  } finally {
    active = null;
  }
}

/** The observer of the recording in progress, or null (read by MultiHeadAttention.run). */
export function attentionObserver(): AttentionObserver | null {
  return active;
}

/** An attention layer inside a layer, as tools that look into a model name and switch it (head masks). */
export interface AttentionSublayer<L = unknown> {
  /** Its name under the owning layer's ('self_attention'), or '' for the owning layer itself. */
  name: string;
  /** The attention layer (a MultiHeadAttention). */
  attention: L;
  /** The owning layer's call argument that takes this attention's head mask (H) or (B, H). */
  headMaskArgument: string;
}

/** A layer that has attention layers inside it (or is one): MultiHeadAttention and the blocks. */
export interface HasAttention<L = unknown> {
  attentionSublayers(): Array<AttentionSublayer<L>>;
}

export function hasAttention<L = unknown>(layer: unknown): layer is HasAttention<L> {
  return typeof (layer as Partial<HasAttention>)?.attentionSublayers === 'function';
}
