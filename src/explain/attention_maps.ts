/**
 * The attention maps of a sequence-to-sequence model (`Seq2Seq.attention`, the demo): every layer
 * and head of its encoder's self-attention, its decoder's causal self-attention and its
 * cross-attention, for one source and target, from `explainAttention`.
 */
import * as tf from '@tensorflow/tfjs';
import { padBatch } from '../decode/decode';
import { BOS } from '../tasks/vocabulary';
import { type AttentionKind, explainAttention } from './explain';

/** One value per attention kind: encoder self-attention, decoder self-attention, cross-attention. */
export interface PerAttentionKind<T> {
  encoderSelf: T;
  decoderSelf: T;
  cross: T;
}

/** Attention probabilities of every layer and head, as plain arrays: [layer][head][query][key]. */
export interface AttentionMaps extends PerAttentionKind<number[][][][]> {
  /** Source ids (rows and columns of encoderSelf; columns of cross). */
  source: number[];
  /** Decoder input ids, [BOS, ...target] (rows of decoderSelf and cross). */
  decoderInput: number[];
  /**
   * The attention weights, [layer][head][query][key], are the fields encoderSelf, decoderSelf and
   * cross. What each key position adds to each query's output through each head (Kobayashi et
   * al. 2020; see `MultiHeadAttention.attentionContributions`): weight * value norm, in the same
   * layout.
   */
  contributions: PerAttentionKind<number[][][][]>;
  /** The length of what each key position sends through each head, [layer][head][key]. */
  valueNorms: PerAttentionKind<number[][][]>;
  /**
   * How much each head adds to its layer's output: the mean over query positions of the length
   * of the head's share of the output (before the output bias), [layer][head].
   */
  headImportance: PerAttentionKind<number[][]>;
}

/** Where each kind of explainAttention goes in the maps. */
const KINDS: Record<AttentionKind, keyof PerAttentionKind<unknown>> = {
  self: 'encoderSelf',
  causal: 'decoderSelf',
  cross: 'cross',
};

/**
 * Runs one source and target (teacher forcing) through a `[source, decoderInput]` model and
 * returns every attention map, in the order the forward pass makes them (`explainAttention`).
 */
export function attentionMaps(model: tf.LayersModel, source: number[], target: number[]): AttentionMaps {
  const decoderInput = [BOS, ...target];
  const inputs = [padBatch([source]), padBatch([decoderInput])];
  const explained = (() => {
    try {
      return explainAttention(model, inputs);
    } finally {
      tf.dispose(inputs);
    }
  })();
  const empty = <T>(): PerAttentionKind<T[]> => ({ encoderSelf: [], decoderSelf: [], cross: [] });
  const maps = {
    weights: empty<number[][][]>(),
    contributions: empty<number[][][]>(),
    valueNorms: empty<number[][]>(),
    headImportance: empty<number[]>(),
  };
  for (const call of explained) {
    const kind = KINDS[call.kind];
    // The one batch row.
    maps.weights[kind].push(call.weights[0]);
    maps.contributions[kind].push(call.contributions[0]);
    maps.valueNorms[kind].push(call.valueNorms[0]);
    maps.headImportance[kind].push(call.importance[0]);
  }
  return {
    source,
    decoderInput,
    ...maps.weights,
    contributions: maps.contributions,
    valueNorms: maps.valueNorms,
    headImportance: maps.headImportance,
  };
}
