/**
 * Decoding a sequence-to-sequence model: inputs `[source (B, S), decoderInput (B, T)]` of token
 * ids, output the next target token's logits (B, T, V), the toy tasks' vocabulary
 * (src/tasks/vocabulary.ts: PAD 0, BOS 1, EOS 2). createTransformer builds such models; any model
 * with those inputs and output decodes the same way. Greedy and beam search run through
 * `generate`'s runner (src/decode/runner.ts): the encoder once, the decoder one position per step
 * with key/value caches, or the whole model per step without them (the reference). Also
 * teacher-forced scoring (the attention maps of every layer and head: src/explain/attention_maps.ts).
 *
 * Sources are unpadded token ids; results are target ids without BOS and EOS.
 */
import * as tf from '@tensorflow/tfjs';
import { checkOptionNames, optionNames } from '../options';
import { BOS, EOS, PAD } from '../tasks/vocabulary';
import { type GenerateOptions, generateSync } from './generate';
import { positionLimit } from './graph';

/** The seq2seq inputs: the source first, the decoder input second (createTransformer's order). */
const SOURCE_INPUT = 0;
const DECODER_INPUT = 1;

/** (B, maxLen) int32, right-padded with PAD. */
export function padBatch(sequences: number[][], length?: number): tf.Tensor2D {
  const width = length ?? Math.max(1, ...sequences.map((s) => s.length));
  const data = new Int32Array(sequences.length * width);
  sequences.forEach((s, b) => data.set(s, b * width));
  return tf.tensor2d(data, [sequences.length, width], 'int32');
}

/** Throws unless `model` has a seq2seq model's two inputs. */
function checkSeq2Seq(model: tf.LayersModel, what: string): void {
  if (model.inputs.length !== 2) {
    throw new Error(
      `${what}: model '${model.name}' has ${model.inputs.length} input(s) (${model.inputNames.join(', ')}); ` +
        'a sequence-to-sequence model takes [source, decoderInput] (as createTransformer builds it); ' +
        'for other models use generate',
    );
  }
}

/** The longest target (EOS included) the model's decoder positions allow. */
export function maxTargetLength(model: tf.LayersModel): number {
  return positionLimit(model, DECODER_INPUT);
}

/** Options of `decode`; an unknown one is an error naming the nearest. */
export interface DecodeOptions {
  /** Most target tokens to produce, EOS included. Default: the model's decoder positions (maxTargetLength). */
  maxLength?: number;
  /** Beam width; 1 is greedy. Default 1. */
  beamWidth?: number;
  /** Whether to use the key/value cache. Default true; false reruns the whole model each step. */
  useCache?: boolean;
  /** Keep decoding past EOS, always `maxLength` steps (benchmarks: a fixed amount of work). Default false. */
  ignoreEos?: boolean;
  /** Heads switched off, per attention path: see `generate`'s `headMasks`. Default none. */
  headMasks?: Record<string, number[]>;
  /** Where the cached steps run: see `generate`'s `step`. Default 'auto'. */
  step?: GenerateOptions['step'];
}

/** What `decode` returns: per source, the ids and their log-probabilities. */
export interface DecodeResult {
  /** Target ids per source, without BOS and EOS. */
  tokens: number[][];
  /** Log-probability of each result, EOS included when it was produced. */
  logProbs: number[];
}

const DECODE_OPTION_NAMES = optionNames<DecodeOptions>({
  maxLength: true,
  beamWidth: true,
  useCache: true,
  ignoreEos: true,
  headMasks: true,
  step: true,
});

/**
 * Decodes `sources` (unpadded ids) with `model`, greedy unless `beamWidth > 1`: from BOS, never
 * producing PAD or BOS (they are not targets), until EOS. Leaves `tf.memory().numTensors` as it
 * found it.
 */
export function decode(model: tf.LayersModel, sources: number[][], options: DecodeOptions = {}): DecodeResult {
  checkOptionNames('decode', options, DECODE_OPTION_NAMES);
  checkSeq2Seq(model, 'decode');
  if (sources.length === 0) return { tokens: [], logProbs: [] };
  const beamWidth = options.beamWidth ?? 1;
  const maxLength = options.maxLength ?? maxTargetLength(model);
  return generateSync(
    model,
    sources.map(() => [BOS]),
    {
      maxNewTokens: maxLength,
      sampler: beamWidth > 1 ? 'beam' : 'greedy',
      beamWidth,
      stopTokenIds: [EOS],
      suppressTokenIds: [PAD, BOS],
      useCache: options.useCache ?? true,
      inputs: { [model.inputNames[SOURCE_INPUT]]: sources },
      tokenInput: model.inputNames[DECODER_INPUT],
      output: 'logits',
      headMasks: options.headMasks,
      step: options.step,
    },
    { runAllSteps: options.ignoreEos ?? false },
  );
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
  checkSeq2Seq(model, 'scoreTargets');
  // A result that reached the length limit has no EOS; score what the model produced.
  const limit = maxTargetLength(model);
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
