/**
 * The ablation study (src/explain/study.ts) of a trained toy-task model on its task's held-out
 * set, scored as `npm run evaluate` scores it (`evaluateSeq2Seq`: greedy exact match with the
 * key/value cache, teacher-forced loss per target token), heads switched off through the
 * evaluation's `headMasks`. The OV spectra of the model before training go beside the trained
 * ones: the model rebuilt from task.json's config with its training seed (and init scale), which
 * gives the weights training started from. What `npm run study` runs and its test reproduces.
 */
import * as tf from '@tensorflow/tfjs';
import { padBatch } from '../decode/decode';
import { type AttentionStudy, STUDY_FORMAT, STUDY_VERSION, type StudyOptions, studyAttention } from '../explain/study';
import type { Seq2Seq } from '../model/seq2seq';
import { checkOptionNames, optionNames } from '../options';
import { encodeBatch } from '../tasks/encode';
import { HELD_OUT_SEED, heldOutSet } from '../tasks/samples';
import { BOS } from '../tasks/vocabulary';
import { createTransformer } from '../model/transformer';
import { evaluateSeq2Seq } from './evaluate';
import { scaleInitialWeights } from './run';
import { withSeededRandom } from './seed';

/** Options of `studySeq2Seq`. */
export interface Seq2SeqStudyOptions extends Pick<StudyOptions, 'include' | 'onScore'> {
  /** How the model is named in the study ('models/reverse'). Required. */
  model: string;
  /** Score on the first `count` held-out samples only. Default: all of them (512). */
  count?: number;
}

const OPTION_NAMES = optionNames<Seq2SeqStudyOptions>({ model: true, count: true, include: true, onScore: true });

/** The study of `seq2seq` on its task's held-out set (see the file comment). */
export async function studySeq2Seq(seq2seq: Seq2Seq, options: Seq2SeqStudyOptions): Promise<AttentionStudy> {
  checkOptionNames('studySeq2Seq', options, OPTION_NAMES);
  const task = seq2seq.task;
  if (task === null) {
    throw new Error(
      `studySeq2Seq: ${options.model}'s task.json names task '${seq2seq.info.task.name}', which is not one of ` +
        'the toy tasks; the study scores a model on its task held-out set',
    );
  }
  const all = heldOutSet(task);
  const count = options.count ?? all.length;
  if (!Number.isInteger(count) || count < 1 || count > all.length) {
    throw new Error(`studySeq2Seq: count must be an integer in [1, ${all.length}], got ${JSON.stringify(count)}`);
  }
  const samples = all.slice(0, count);
  // The first held-out sample, teacher-forced, finds the attention layers.
  const example = [padBatch([samples[0].source]), padBatch([[BOS, ...samples[0].target]])];
  const { seed, initScale } = seq2seq.info.training;
  const initial = withSeededRandom(seed, () => createTransformer(seq2seq.info.config));
  if (typeof initScale === 'number' && initScale !== 1) scaleInitialWeights(initial, initScale);
  try {
    const { baseline, layers } = await studyAttention(seq2seq.model, {
      example,
      evaluate: (headMasks) =>
        evaluateSeq2Seq(seq2seq.model, samples, (s) => encodeBatch(task, s), {
          maxLength: seq2seq.maxTargetLength,
          headMasks,
        }),
      include: options.include,
      onScore: options.onScore,
      initial,
    });
    return {
      format: STUDY_FORMAT,
      version: STUDY_VERSION,
      about: {
        model: options.model,
        data: `${task.name} held-out set`,
        seed: HELD_OUT_SEED,
        size: samples.length,
        backend: tf.getBackend(),
        command: `npm run study -- --model ${options.model}${options.count == null ? '' : ` --count ${count}`}`,
      },
      baseline,
      layers,
    };
  } finally {
    tf.dispose(example);
    initial.dispose();
  }
}
