/**
 * Masked sequence losses and metrics for teacher-forced seq2seq training.
 *
 * Shapes: B batch, T target length, V vocabulary. Targets are int32 token ids
 * (B, T) right-padded with PAD = 0; a PAD position is never a target
 * (README, "Toy tasks"), so it adds nothing to the loss, to the
 * accuracy, or to the count they are averaged over.
 *
 * The cross-entropy is `logSoftmax` times a one-hot of the targets rather than
 * a `gather` of the target log-probabilities: its gradient is elementwise (no
 * scatter, which the wasm backend lacks), and the one-hot is built in int32 and
 * then cast, because wasm's float32 `oneHot` is wrong (it writes ~1.4e-45 for 1; README, "TensorFlow.js 4.22 defects").
 */
import * as tf from '@tensorflow/tfjs';

import { oneHotFloat } from '../backend';

/** PAD's id; never a target. */
const PAD = 0;

/** (B, T) float32, 1 where `targets` holds a real token (not PAD), else 0. */
export function targetMask(targets: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.cast(tf.notEqual(targets, tf.scalar(PAD, 'int32')), 'float32'));
}

/**
 * Mean softmax cross-entropy over the non-PAD target positions:
 * `-sum_{b,t: target != PAD} log softmax(logits[b, t])[target[b, t]] / #non-PAD`.
 * A batch with no real target at all gives 0 (not NaN).
 *
 * With `labelSmoothing` e > 0 the target distribution is `(1 - e) one-hot + e / V` (Szegedy et
 * al. 2016; Vaswani et al. 2017, 5.4, with e = 0.1), as PyTorch's `cross_entropy(label_smoothing=e)`.
 *
 * @param logits (B, T, V) float32, unnormalised scores.
 * @param targets (B, T) int32 target ids, PAD = 0 where there is no target.
 * @param labelSmoothing e in [0, 1). Default 0.
 */
export function maskedSoftmaxCrossEntropy(logits: tf.Tensor, targets: tf.Tensor, labelSmoothing = 0): tf.Scalar {
  checkShapes('maskedSoftmaxCrossEntropy', logits, targets);
  if (!(labelSmoothing >= 0 && labelSmoothing < 1)) {
    throw new Error(`maskedSoftmaxCrossEntropy: labelSmoothing must be a number in [0, 1), got ${labelSmoothing}`);
  }
  return tf.tidy(() => {
    const vocab = logits.shape[2] as number;
    const logProbs = tf.logSoftmax(logits); // (B, T, V)
    let weights = oneHotFloat(targets, vocab); // (B, T, V); a PAD row is [1, 0, ...], masked below
    if (labelSmoothing > 0) weights = tf.add(tf.mul(weights, 1 - labelSmoothing), labelSmoothing / vocab);
    const nll = tf.neg(tf.sum(tf.mul(logProbs, weights), -1)); // (B, T)
    const mask = targetMask(targets);
    return tf.div(tf.sum(tf.mul(nll, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  });
}

/**
 * Share of non-PAD target positions where the highest logit is the target
 * (teacher forcing, README "Toy tasks": token accuracy). 0 for a batch without targets.
 */
export function maskedTokenAccuracy(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  checkShapes('maskedTokenAccuracy', logits, targets);
  return tf.tidy(() => {
    const { correct, count } = maskedTokenCounts(logits, targets);
    return tf.div(correct, tf.maximum(count, 1)) as tf.Scalar;
  });
}

/**
 * The numerator and denominator of the token accuracy, as float32 scalars, for
 * summing over several batches: `correct` non-PAD positions whose argmax is the
 * target, out of `count` non-PAD positions.
 */
export function maskedTokenCounts(logits: tf.Tensor, targets: tf.Tensor): { correct: tf.Scalar; count: tf.Scalar } {
  checkShapes('maskedTokenCounts', logits, targets);
  return tf.tidy(() => {
    const predicted = tf.argMax(logits, -1); // (B, T) int32
    const mask = targetMask(targets);
    const hits = tf.mul(tf.cast(tf.equal(predicted, tf.cast(targets, 'int32')), 'float32'), mask);
    return { correct: tf.sum(hits) as tf.Scalar, count: tf.sum(mask) as tf.Scalar };
  });
}

function checkShapes(fn: string, logits: tf.Tensor, targets: tf.Tensor): void {
  if (
    logits.rank !== 3 ||
    targets.rank !== 2 ||
    logits.shape[0] !== targets.shape[0] ||
    logits.shape[1] !== targets.shape[1]
  ) {
    throw new Error(
      `${fn}: expected logits (B, T, V) and targets (B, T) with the same B and T, ` +
        `got logits [${logits.shape}] and targets [${targets.shape}]`,
    );
  }
}
