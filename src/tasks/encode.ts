import { describeValue } from '../describe';
import { Sample } from './samples';
import { Task } from './tasks';
import { BOS, EOS, FIRST_SYMBOL } from './vocabulary';

/**
 * A batch in the padded layout of the README's "Toy tasks", as flat row-major `Int32Array`s ready for
 * `tf.tensor2d(batch.source, [batch.batchSize, batch.sourceLength], 'int32')`.
 * B = batchSize, S = sourceLength (the task's maxSourceLength), T = targetLength (longest target + 1).
 */
export interface EncodedBatch {
  /** (B, S): the source, right-padded with PAD. */
  source: Int32Array;
  /** (B, T): [BOS, ...target], right-padded with PAD. */
  decoderInput: Int32Array;
  /** (B, T): [...target, EOS], right-padded with PAD; loss counts only the non-PAD positions. */
  decoderTarget: Int32Array;
  batchSize: number;
  sourceLength: number;
  targetLength: number;
}

/**
 * Pads `samples` to the task's fixed widths, so every batch of a task has the same shape.
 * Sources are checked with `task.validateSource`; targets must be symbol ids and fit in targetLength - 1.
 */
export function encodeBatch(task: Task, samples: readonly Sample[]): EncodedBatch {
  if (!Array.isArray(samples) || samples.length === 0) {
    throw new Error(`encodeBatch: samples must be a non-empty array of samples, got ${describeValue(samples)}`);
  }
  const batchSize = samples.length;
  const sourceLength = task.maxSourceLength;
  const targetLength = task.maxTargetLength;
  // Int32Array starts zeroed, and PAD is 0, so only the tokens themselves need writing.
  const source = new Int32Array(batchSize * sourceLength);
  const decoderInput = new Int32Array(batchSize * targetLength);
  const decoderTarget = new Int32Array(batchSize * targetLength);
  samples.forEach((sample, b) => {
    try {
      task.validateSource(sample.source);
    } catch (e) {
      throw new Error(`encodeBatch: samples[${b}]: ${(e as Error).message}`);
    }
    const target = sample.target;
    if (!Array.isArray(target) || target.length > targetLength - 1) {
      throw new Error(
        `encodeBatch: samples[${b}].target must be an array of at most ${targetLength - 1} symbol ids ` +
          `(targetLength - 1), got ${Array.isArray(target) ? `length ${target.length}` : describeValue(target)}`,
      );
    }
    const badIndex = target.findIndex((id) => !Number.isInteger(id) || id < FIRST_SYMBOL || id >= task.vocabularySize);
    if (badIndex >= 0) {
      throw new Error(
        `encodeBatch: samples[${b}].target[${badIndex}] = ${describeValue(target[badIndex])} is not a symbol id; ` +
          `expected an integer in [${FIRST_SYMBOL}, ${task.vocabularySize - 1}]`,
      );
    }
    source.set(sample.source, b * sourceLength);
    const row = b * targetLength;
    decoderInput[row] = BOS;
    decoderInput.set(target, row + 1);
    decoderTarget.set(target, row);
    decoderTarget[row + target.length] = EOS;
  });
  return { source, decoderInput, decoderTarget, batchSize, sourceLength, targetLength };
}
