/**
 * Decoding from a model built by `createTransformer`: greedy and beam search,
 * with a key/value cache (each step runs only the newest position through the
 * decoder) or without one (each step reruns the whole model: the reference),
 * plus teacher-forced scoring and the attention maps of every layer and head.
 *
 * Sources are unpadded token ids of the task's vocabulary (src/tasks/vocabulary.ts); results
 * are target ids without BOS and EOS.
 */
import * as tf from '@tensorflow/tfjs';
import { checkOptionNames, optionNames } from '../options';
import type { MultiHeadAttention } from '../layers/multi_head_attention';
import { BOS, EOS, PAD } from '../tasks/vocabulary';
import type { DecoderStep, IncrementalDecoder } from './incremental';
import { DecoderState } from './tfjs_step';
import { encode, transformerParts, type TransformerParts } from './transformer_parts';
import { TYPED_ARRAY_MAX_ROWS, TypedArrayDecoderState } from './typed_array_step';

export type { DecoderStep };

/** (B, maxLen) int32, right-padded with PAD. */
export function padBatch(sequences: number[][], length?: number): tf.Tensor2D {
  const width = length ?? Math.max(1, ...sequences.map((s) => s.length));
  const data = new Int32Array(sequences.length * width);
  sequences.forEach((s, b) => data.set(s, b * width));
  return tf.tensor2d(data, [sequences.length, width], 'int32');
}

/**
 * The cached decoder for `source` (B, S): the encoder runs once, in tfjs; the
 * steps run in tfjs kernels or, for small batches (`auto`), in typed arrays.
 */
function startDecoder(parts: TransformerParts, source: tf.Tensor2D, step: DecoderStep): IncrementalDecoder {
  const { memory, mask } = tf.tidy(() => encode(parts, source));
  try {
    const rows = source.shape[0];
    const typed = step === 'typed-arrays' || (step === 'auto' && rows <= TYPED_ARRAY_MAX_ROWS);
    return typed ? new TypedArrayDecoderState(parts, memory, mask, rows) : new DecoderState(parts, memory, mask);
  } finally {
    tf.dispose([memory, mask]);
  }
}

/** Options of `decode`. */
export interface DecodeOptions {
  /** Most target tokens to produce, EOS included. Default: the model's maxTargetLength. */
  maxLength?: number;
  /** Beam width; 1 is greedy. Default 1. */
  beamWidth?: number;
  /** Whether to use the key/value cache. Default true; false reruns the whole model each step. */
  useCache?: boolean;
  /** Keep decoding past EOS, always `maxLength` steps (benchmarks: a fixed amount of work). Default false. */
  ignoreEos?: boolean;
  /**
   * How cached steps run: 'tfjs' kernels, 'typed-arrays' (plain JavaScript; faster for a few
   * rows, where tfjs's per-kernel overhead dominates), or 'auto' (typed arrays up to
   * TYPED_ARRAY_MAX_ROWS rows = sources x beams). Default 'auto'.
   */
  decoderStep?: DecoderStep;
}

/** What `decode` returns: per source, the ids and their log-probabilities. */
export interface DecodeResult {
  /** Target ids per source, without BOS and EOS. */
  tokens: number[][];
  /** Log-probability of each result, EOS included when it was produced. */
  logProbs: number[];
}

/**
 * The most likely token of a row, never PAD or BOS (as in beam search): they
 * are not targets, and a generated PAD would be masked out of the decoder's
 * own attention when the whole model reruns, unlike in the cache.
 */
function argmaxRow(data: Float32Array | Int32Array | Uint8Array, row: number, width: number): number {
  let best = EOS;
  for (let v = EOS + 1; v < width; v++) if (data[row * width + v] > data[row * width + best]) best = v;
  return best;
}

/** Greedy decoding with the key/value cache. */
function greedyCached(
  parts: TransformerParts,
  sources: number[][],
  maxLength: number,
  ignoreEos = false,
  step: DecoderStep = 'auto',
): DecodeResult {
  const batch = sources.length;
  const source = padBatch(sources);
  const state = startDecoder(parts, source, step);
  source.dispose();
  const tokens: number[][] = sources.map(() => []);
  const logProbs = new Array<number>(batch).fill(0);
  const done = new Array<boolean>(batch).fill(false);
  let current = new Int32Array(batch).fill(BOS);
  try {
    for (let t = 0; t < maxLength && (ignoreEos || done.includes(false)); t++) {
      const data = state.step(current);
      const vocab = data.length / batch;
      const next = new Int32Array(batch);
      for (let b = 0; b < batch; b++) {
        if (done[b]) continue;
        const token = argmaxRow(data, b, vocab);
        logProbs[b] += data[b * vocab + token];
        if (token === EOS) done[b] = true;
        else tokens[b].push(token);
        next[b] = token;
      }
      current = next;
    }
  } finally {
    state.dispose();
  }
  return { tokens, logProbs };
}

/** Greedy decoding that reruns the whole model on the prefix at every step (no cache). */
function greedyUncached(
  model: tf.LayersModel,
  sources: number[][],
  maxLength: number,
  ignoreEos = false,
): DecodeResult {
  const batch = sources.length;
  const source = padBatch(sources);
  const prefixes: number[][] = sources.map(() => [BOS]);
  const tokens: number[][] = sources.map(() => []);
  const logProbs = new Array<number>(batch).fill(0);
  const done = new Array<boolean>(batch).fill(false);
  try {
    for (let t = 0; t < maxLength && (ignoreEos || done.includes(false)); t++) {
      const lp = tf.tidy(() => {
        const decoderInput = padBatch(prefixes);
        const logits = model.predict([source, decoderInput]) as tf.Tensor3D;
        // The newest position's logits: (B, T, V) -> (B, V).
        return tf.logSoftmax(logits.slice([0, t, 0], [batch, 1, logits.shape[2]]).squeeze([1]));
      });
      const data = lp.dataSync();
      lp.dispose();
      const vocab = data.length / batch;
      for (let b = 0; b < batch; b++) {
        const token = done[b] ? PAD : argmaxRow(data, b, vocab);
        if (!done[b]) {
          logProbs[b] += data[b * vocab + token];
          if (token === EOS) done[b] = true;
          else tokens[b].push(token);
        }
        prefixes[b].push(token);
      }
    }
  } finally {
    source.dispose();
  }
  return { tokens, logProbs };
}

interface Hypothesis {
  tokens: number[];
  logProb: number;
  finished: boolean;
}

/**
 * Beam search (cached). Each source keeps `beamWidth` hypotheses ranked by
 * total log-probability (no length penalty); finished ones (EOS) stay in the
 * beam with their score. The greedy result is also a candidate, so the answer
 * never scores below greedy decoding (plain beam search can prune the greedy
 * path). Ties go to the lower token id, so width 1 is exactly greedy.
 */
function beamSearch(
  parts: TransformerParts,
  sources: number[][],
  maxLength: number,
  beamWidth: number,
  step: DecoderStep = 'auto',
): DecodeResult {
  const greedy = greedyCached(parts, sources, maxLength, false, step);
  const batch = sources.length;
  const rows = batch * beamWidth;
  // Each source's encoder output repeated beamWidth times: row b * W + w.
  const repeated = sources.flatMap((s) => Array.from({ length: beamWidth }, () => s));
  const source = padBatch(repeated);
  const state = startDecoder(parts, source, step);
  source.dispose();
  // Only the first beam of each source is live at the start.
  let beams: Hypothesis[] = Array.from({ length: rows }, (_x, r) => ({
    tokens: [],
    logProb: r % beamWidth === 0 ? 0 : -Infinity,
    finished: false,
  }));
  let current = new Int32Array(rows).fill(BOS);
  try {
    for (let t = 0; t < maxLength && beams.some((h) => !h.finished && h.logProb > -Infinity); t++) {
      const data = state.step(current);
      const vocab = data.length / rows;
      const nextBeams: Hypothesis[] = [];
      const parents = new Int32Array(rows);
      const nextTokens = new Int32Array(rows);
      for (let b = 0; b < batch; b++) {
        const candidates: Array<{ parent: number; token: number; logProb: number }> = [];
        for (let w = 0; w < beamWidth; w++) {
          const r = b * beamWidth + w;
          const h = beams[r];
          if (h.logProb === -Infinity) continue;
          if (h.finished) {
            candidates.push({ parent: r, token: -1, logProb: h.logProb });
            continue;
          }
          for (let v = 0; v < vocab; v++) {
            if (v === PAD || v === BOS) continue;
            candidates.push({ parent: r, token: v, logProb: h.logProb + data[r * vocab + v] });
          }
        }
        // Stable: equal scores keep beam order, then token order.
        candidates.sort((x, y) => y.logProb - x.logProb);
        for (let w = 0; w < beamWidth; w++) {
          const r = b * beamWidth + w;
          const c = candidates[w];
          if (!c) {
            nextBeams[r] = { tokens: [], logProb: -Infinity, finished: true };
            parents[r] = b * beamWidth;
            nextTokens[r] = PAD;
            continue;
          }
          const parent = beams[c.parent];
          parents[r] = c.parent;
          if (c.token === -1) {
            nextBeams[r] = parent;
            nextTokens[r] = PAD;
          } else {
            nextBeams[r] = {
              tokens: c.token === EOS ? parent.tokens : [...parent.tokens, c.token],
              logProb: c.logProb,
              finished: c.token === EOS,
            };
            nextTokens[r] = c.token;
          }
        }
      }
      state.reorder(parents);
      beams = nextBeams;
      current = nextTokens;
    }
  } finally {
    state.dispose();
  }
  const tokens: number[][] = [];
  const logProbs: number[] = [];
  for (let b = 0; b < batch; b++) {
    const mine = beams.slice(b * beamWidth, (b + 1) * beamWidth);
    const pool = mine.some((h) => h.finished && h.logProb > -Infinity) ? mine.filter((h) => h.finished) : mine;
    const best = pool.reduce((x, y) => (y.logProb > x.logProb ? y : x));
    const useGreedy = greedy.logProbs[b] > best.logProb;
    tokens.push(useGreedy ? greedy.tokens[b] : best.tokens);
    logProbs.push(useGreedy ? greedy.logProbs[b] : best.logProb);
  }
  return { tokens, logProbs };
}

const DECODE_OPTION_NAMES = optionNames<DecodeOptions>({
  maxLength: true,
  beamWidth: true,
  useCache: true,
  ignoreEos: true,
  decoderStep: true,
});

/**
 * Decodes `sources` (unpadded ids) with `model`; greedy unless
 * `beamWidth > 1`. Leaves `tf.memory().numTensors` as it found it.
 */
export function decode(model: tf.LayersModel, sources: number[][], options: DecodeOptions = {}): DecodeResult {
  checkOptionNames('decode', options, DECODE_OPTION_NAMES);
  const parts = transformerParts(model);
  const maxLength = options.maxLength ?? parts.maxTargetLength;
  const beamWidth = options.beamWidth ?? 1;
  if (sources.length === 0) return { tokens: [], logProbs: [] };
  const step = options.decoderStep ?? 'auto';
  if (beamWidth > 1) return beamSearch(parts, sources, maxLength, beamWidth, step);
  const ignoreEos = options.ignoreEos ?? false;
  return options.useCache === false
    ? greedyUncached(model, sources, maxLength, ignoreEos)
    : greedyCached(parts, sources, maxLength, ignoreEos, step);
}

/** Greedy decoding (cached): target ids without BOS/EOS for each source. */
export async function greedyDecode(model: tf.LayersModel, sources: number[][], maxLength: number): Promise<number[][]> {
  return decode(model, sources, { maxLength }).tokens;
}

/**
 * Teacher-forced log-probability of each target (ids without BOS/EOS), EOS
 * included: the score beam search ranks by.
 */
export function scoreTargets(model: tf.LayersModel, sources: number[][], targets: number[][]): number[] {
  // A result that reached the length limit has no EOS; score what the model produced.
  const limit = transformerParts(model).maxTargetLength;
  const decoderInputs = targets.map((t) => [BOS, ...t].slice(0, limit));
  const expected = targets.map((t) => [...t, EOS].slice(0, limit));
  const logProbs = tf.tidy(() => {
    const logits = model.predict([padBatch(sources), padBatch(decoderInputs)]) as tf.Tensor3D;
    return tf.logSoftmax(logits);
  });
  const data = logProbs.dataSync();
  const [, length, vocab] = logProbs.shape as number[];
  logProbs.dispose();
  return expected.map((row, b) => row.reduce((sum, token, t) => sum + data[(b * length + t) * vocab + token], 0));
}

/** Attention probabilities of every layer and head, as plain arrays: [layer][head][query][key]. */
/** One value per attention kind: encoder self-attention, decoder self-attention, cross-attention. */
export interface PerAttentionKind<T> {
  encoderSelf: T;
  decoderSelf: T;
  cross: T;
}

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

/** One attention call's maps for a single batch row: (H, T, S), (H, T, S), (H, S) and (H). */
interface CallMaps {
  weights: tf.Tensor;
  contributions: tf.Tensor;
  valueNorms: tf.Tensor;
  headImportance: tf.Tensor;
}

/** The maps of one call of `layer` with probabilities (1, H, T, S) over `value` (1, S, Dv). Call inside a tidy. */
function callMaps(layer: MultiHeadAttention, probabilities: tf.Tensor, value: tf.Tensor): CallMaps {
  const vectors = layer.valueVectors(value).squeeze([0]); // (H, S, Dout)
  const weights = probabilities.squeeze([0]); // (H, T, S)
  const valueNorms = vectors.square().sum(-1).sqrt(); // (H, S)
  // Each head's share of the output: (H, T, S) @ (H, S, Dout) -> (H, T, Dout); its length, averaged over T.
  const shares = tf.matMul(weights as tf.Tensor3D, vectors as tf.Tensor3D);
  const headImportance = shares.square().sum(-1).sqrt().mean(-1);
  return { weights, contributions: weights.mul(valueNorms.expandDims(1)), valueNorms, headImportance };
}

/** Runs one source and target (teacher forcing) and returns every attention map. */
export function attentionMaps(model: tf.LayersModel, source: number[], target: number[]): AttentionMaps {
  const parts = transformerParts(model);
  const decoderInput = [BOS, ...target];
  // A single batch row, unpadded. No gradient tape records here, so every block returns its
  // probabilities (they are null only under a tape).
  const maps = tf.tidy(() => {
    const sourceIds = padBatch([source]);
    const mask = tf.notEqual(sourceIds, PAD);
    const encoderSelf: CallMaps[] = [];
    let x: tf.Tensor = parts.sourceEmbedding.embed(sourceIds, 0);
    for (const block of parts.encoderBlocks) {
      const r = block.forward(x, mask, false, true);
      encoderSelf.push(callMaps(block.selfAttention!, r.selfAttention!, r.selfAttentionInput));
      x = r.output;
    }
    if (parts.encoderFinalNorm) x = parts.encoderFinalNorm.apply(x) as tf.Tensor;
    const decoderSelf: CallMaps[] = [];
    const cross: CallMaps[] = [];
    let y: tf.Tensor = parts.targetEmbedding.embed(padBatch([decoderInput]), 0);
    for (const block of parts.decoderBlocks) {
      const r = block.forward(y, x, null, mask, false, true);
      decoderSelf.push(callMaps(block.selfAttention!, r.selfAttention!, r.selfAttentionInput));
      if (r.crossAttention) cross.push(callMaps(block.crossAttention!, r.crossAttention, x));
      y = r.output;
    }
    return { encoderSelf, decoderSelf, cross } as unknown as tf.TensorContainer;
  }) as unknown as PerAttentionKind<CallMaps[]>;
  const read = <T>(kind: keyof PerAttentionKind<unknown>, field: keyof CallMaps) =>
    maps[kind].map((m) => m[field].arraySync() as T);
  const all = <T>(field: keyof CallMaps): PerAttentionKind<T[]> => ({
    encoderSelf: read<T>('encoderSelf', field),
    decoderSelf: read<T>('decoderSelf', field),
    cross: read<T>('cross', field),
  });
  const weights = all<number[][][]>('weights');
  const result: AttentionMaps = {
    source,
    decoderInput,
    ...weights,
    contributions: all<number[][][]>('contributions'),
    valueNorms: all<number[][]>('valueNorms'),
    headImportance: all<number[]>('headImportance'),
  };
  tf.dispose([...maps.encoderSelf, ...maps.decoderSelf, ...maps.cross].flatMap((m) => Object.values(m)));
  return result;
}
