/**
 * Held-out evaluation of a seq2seq model (README, "Toy tasks": token accuracy and exact match):
 * exact match of greedy decoding and teacher-forced token accuracy and loss.
 */
import * as tf from '@tensorflow/tfjs';
import { checkOptionNames, optionNames } from '../options';

import { decode } from '../decode/decode';
import { predictWithHeadMasks } from '../explain/explain';
import { maskedSoftmaxCrossEntropy, maskedTokenCounts, targetMask } from './losses';
import type { EncodedBatch } from '../tasks/encode';
import { batchTensors } from './trainer';

/** A source and its one correct target: unpadded symbol ids, target without EOS. */
export interface EvalSample {
  source: number[];
  target: number[];
}

/** A held-out sample that greedy decoding got wrong. */
export interface Failure {
  source: number[];
  expected: number[];
  got: number[];
}

/** What `evaluateSeq2Seq` measured on the samples. */
export interface EvaluationResult {
  /** Share of samples whose greedy decoding, up to and including EOS, equals the target. */
  exactMatch: number;
  /** Teacher-forced share of correct non-PAD target tokens. */
  tokenAccuracy: number;
  /** Teacher-forced masked cross-entropy per non-PAD target token. */
  loss: number;
  /** Number of samples. */
  size: number;
  /** The first `maxFailures` wrong samples, in sample order. */
  failures: Failure[];
}

/** Options of `evaluateSeq2Seq`. */
export interface EvaluateOptions {
  /**
   * Most tokens greedy decoding produces, EOS included: the padded target
   * width (longest target + 1), so a right answer must end with EOS. Required.
   */
  maxLength: number;
  /** Samples per forward pass. Default 256. */
  batchSize?: number;
  /** How many failures to return. Default 3. */
  maxFailures?: number;
  /**
   * Heads switched off for the whole evaluation (decoding and the teacher-forced pass), per
   * attention path: `generate`'s `headMasks`. Default none.
   */
  headMasks?: Record<string, number[]>;
}

const EVALUATE_OPTION_NAMES = optionNames<EvaluateOptions>({
  maxLength: true,
  batchSize: true,
  maxFailures: true,
  headMasks: true,
});

/**
 * Evaluates `model` on `samples`; `encode` pads samples into a batch (for the
 * toy tasks, `(s) => encodeBatch(task, s)`). Leaves no tensors behind.
 *
 * Exact match compares the decoded ids with the target; decoding stops at EOS
 * or after `maxLength` tokens, and a decoding that never emits EOS is longer
 * than any target, so it counts as wrong.
 */
export async function evaluateSeq2Seq(
  model: tf.LayersModel,
  samples: readonly EvalSample[],
  encode: (samples: EvalSample[]) => EncodedBatch,
  options: EvaluateOptions,
): Promise<EvaluationResult> {
  checkOptionNames('evaluateSeq2Seq', options, EVALUATE_OPTION_NAMES);
  if (samples.length === 0) throw new Error('evaluateSeq2Seq: samples is empty; expected at least one sample');
  const batchSize = options.batchSize ?? 256;
  const maxFailures = options.maxFailures ?? 3;
  let exact = 0;
  let correctTokens = 0;
  let targetTokens = 0;
  let lossSum = 0;
  const failures: Failure[] = [];
  for (let start = 0; start < samples.length; start += batchSize) {
    const chunk = samples.slice(start, start + batchSize);
    const decoded = decode(
      model,
      chunk.map((s) => s.source),
      { maxLength: options.maxLength, headMasks: options.headMasks },
    ).tokens;
    chunk.forEach((sample, i) => {
      if (sameIds(decoded[i], sample.target)) exact++;
      else if (failures.length < maxFailures)
        failures.push({ source: sample.source, expected: sample.target, got: decoded[i] });
    });
    const sums = tf.tidy(() => {
      const { source, decoderInput, decoderTarget } = batchTensors(encode(chunk));
      const logits = (
        options.headMasks
          ? predictWithHeadMasks(model, [source, decoderInput], options.headMasks)
          : model.predict([source, decoderInput])
      ) as tf.Tensor;
      const { correct, count } = maskedTokenCounts(logits, decoderTarget);
      // The batch mean times its token count: the batch's loss sum.
      const loss = tf.mul(maskedSoftmaxCrossEntropy(logits, decoderTarget), tf.sum(targetMask(decoderTarget)));
      return tf.stack([correct, count, loss]);
    });
    const [correct, count, loss] = await sums.data();
    sums.dispose();
    correctTokens += correct;
    targetTokens += count;
    lossSum += loss;
  }
  return {
    exactMatch: exact / samples.length,
    tokenAccuracy: targetTokens === 0 ? 0 : correctTokens / targetTokens,
    loss: targetTokens === 0 ? 0 : lossSum / targetTokens,
    size: samples.length,
    failures,
  };
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}
