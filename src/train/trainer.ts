/**
 * One optimisation step of a seq2seq `tf.LayersModel` at a time: forward pass
 * with teacher forcing, masked cross-entropy, gradients, global-norm clipping
 * and an Adam update at the scheduled learning rate.
 *
 * Shapes: B batch, S source length, T target length, V vocabulary.
 */
import * as tf from '@tensorflow/tfjs';
import { checkOptionNames, optionNames } from '../options';

import { Adam } from './adam';
import { clipScale, globalNorm } from './clip';

import { maskedSoftmaxCrossEntropy, maskedTokenAccuracy } from './losses';
import { LearningRateSchedule } from './schedule';
import type { EncodedBatch } from '../tasks/encode';

/** The arguments of `Trainer`: the model and the optimisation settings. */
export interface TrainerArgs {
  /** A model with inputs `[source (B, S), decoderInput (B, T)]` and logits (B, T, V) out. Required. */
  model: tf.LayersModel;
  /** A fixed rate or a schedule of the (1-based) step. Default 1e-3. */
  learningRate?: number | LearningRateSchedule;
  /** Adam's beta1. Default 0.9. */
  beta1?: number;
  /** Adam's beta2. Default 0.98 (Vaswani et al. 2017). */
  beta2?: number;
  /** Adam's epsilon. Default 1e-9 (Vaswani et al. 2017). */
  epsilon?: number;
  /** Largest global gradient norm; larger gradients are scaled down to it. Infinity turns clipping off. Default 1. */
  clipNorm?: number;
  /** Label smoothing of the training loss (see maskedSoftmaxCrossEntropy). Default 0. */
  labelSmoothing?: number;
  /** Adam's decoupled weight decay (see AdamArgs). Default 0. */
  weightDecay?: number;
}

const TRAINER_ARG_NAMES = optionNames<TrainerArgs>({
  model: true,
  learningRate: true,
  beta1: true,
  beta2: true,
  epsilon: true,
  clipNorm: true,
  labelSmoothing: true,
  weightDecay: true,
});

/** What one step measured (on the batch, before the update). */
export interface StepResult {
  /** The step just taken, 1-based: the trainer's `stepCount` after it. */
  step: number;
  /** Masked mean cross-entropy of the batch (label-smoothed when the trainer smooths). */
  loss: number;
  /** Token accuracy of the batch (teacher forcing, non-PAD positions). */
  tokenAccuracy: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** The learning rate of this step's update. */
  learningRate: number;
}

/** The complete trainer state, as plain typed arrays, for checkpoints (see `Trainer.getState`). */
export interface TrainerState {
  /** Completed steps. */
  step: number;
  /** Every model weight, in `model.weights` order. */
  weights: Float32Array[];
  /** Adam's first moments, one per trainable weight, in `model.trainableWeights` order. */
  firstMoments: Float32Array[];
  /** Adam's second moments, same order. */
  secondMoments: Float32Array[];
}

/**
 * Thrown by `Trainer.step` when the loss or the gradient norm is NaN or
 * infinite. The update was not applied: the model and the optimizer are as
 * they were after the previous step.
 */
export class NonFiniteLossError extends Error {
  constructor(
    readonly step: number,
    readonly loss: number,
    readonly gradNorm: number,
    readonly learningRate: number,
  ) {
    super(
      `training diverged at step ${step}: loss ${loss}, gradient norm ${gradNorm} ` +
        `(learning rate ${learningRate.toPrecision(3)}); ` +
        `the update was not applied. Try a lower --lr, a longer --warmup, or --resume from the last checkpoint.`,
    );
    this.name = 'NonFiniteLossError';
  }
}

/**
 * Trains a seq2seq model one batch at a time.
 *
 * ```ts
 * const trainer = new Trainer({
 *   model,
 *   learningRate: warmupSchedule({peak: 1e-3, warmupSteps: 100, decay: 'constant'}),
 * });
 * const {loss, tokenAccuracy} = await trainer.step(encodeBatch(task, stream.nextBatch(64)));
 * ```
 *
 * Each step leaves `tf.memory().numTensors` unchanged once Adam's moments exist
 * (after the first step). A step whose loss is not finite throws
 * `NonFiniteLossError` and changes nothing.
 */
export class Trainer {
  readonly model: tf.LayersModel;
  readonly optimizer: Adam;
  readonly clipNorm: number;
  readonly labelSmoothing: number;
  private readonly schedule: LearningRateSchedule;
  private readonly variables: tf.Variable[];

  constructor(args: TrainerArgs) {
    checkOptionNames('Trainer', args, TRAINER_ARG_NAMES);
    this.model = args.model;
    const rate = args.learningRate ?? 1e-3;
    this.schedule = typeof rate === 'number' ? () => rate : rate;
    this.clipNorm = args.clipNorm ?? 1;
    if (!(this.clipNorm > 0))
      throw new Error(`Trainer: clipNorm must be a positive number or Infinity, got ${args.clipNorm}`);
    this.labelSmoothing = args.labelSmoothing ?? 0;
    if (!(this.labelSmoothing >= 0 && this.labelSmoothing < 1))
      throw new Error(`Trainer: labelSmoothing must be a number in [0, 1), got ${args.labelSmoothing}`);
    this.optimizer = new Adam({
      learningRate: this.schedule(1),
      beta1: args.beta1,
      beta2: args.beta2,
      epsilon: args.epsilon,
      weightDecay: args.weightDecay,
    });
    this.variables = this.model.trainableWeights.map((w) => w.read() as tf.Variable);
  }

  /** Completed steps. */
  get stepCount(): number {
    return this.optimizer.step;
  }

  /** The learning rate the next step will use. */
  get nextLearningRate(): number {
    return this.schedule(this.stepCount + 1);
  }

  /** One update on `batch`; returns what it measured, as numbers. */
  async step(batch: EncodedBatch): Promise<StepResult> {
    const step = this.stepCount + 1;
    const learningRate = this.schedule(step);
    const { loss, accuracy, grads } = tf.tidy(() => {
      const { source, decoderInput, decoderTarget } = batchTensors(batch);
      let accuracy: tf.Scalar | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const logits = this.model.apply([source, decoderInput], { training: true }) as tf.Tensor; // (B, T, V)
        // Measured on the same forward pass; kept because variableGrads disposes everything but the loss.
        accuracy = tf.keep(maskedTokenAccuracy(logits, decoderTarget));
        return maskedSoftmaxCrossEntropy(logits, decoderTarget, this.labelSmoothing);
      }, this.variables);
      return { loss: value, accuracy: accuracy as tf.Scalar, grads };
    });
    try {
      // Read outside tidy (tf.tidy walks every element of a typed array it returns), before deciding whether to update.
      const [lossValue, accuracyValue] = await Promise.all([loss.data(), accuracy.data()]);
      // Clipping and Adam run on the gradients as arrays: no kernels (see Adam).
      const gradients = this.variables.map((v) => grads[v.name].dataSync() as Float32Array);
      const gradNorm = globalNorm(gradients);
      const result: StepResult = { step, loss: lossValue[0], tokenAccuracy: accuracyValue[0], gradNorm, learningRate };
      if (!Number.isFinite(result.loss) || !Number.isFinite(gradNorm)) {
        throw new NonFiniteLossError(step, result.loss, gradNorm, learningRate);
      }
      const scale = clipScale(gradNorm, this.clipNorm);
      this.optimizer.learningRate = learningRate;
      this.optimizer.update(this.variables, gradients, scale);
      return result;
    } finally {
      tf.dispose([loss, accuracy, ...Object.values(grads)]);
    }
  }

  /** A copy of everything a resumed run needs: step, weights, Adam moments. */
  async getState(): Promise<TrainerState> {
    const { first, second } = this.optimizer.getMoments();
    // Copies: a backend may hand out its own storage (the cpu backend does).
    const copy = async (t: tf.Tensor) => Float32Array.from((await t.data()) as Float32Array);
    return {
      step: this.stepCount,
      weights: await Promise.all(this.model.weights.map((w) => copy(w.read()))),
      firstMoments: first,
      secondMoments: second,
    };
  }

  /** Restores a `getState` result (of a model with the same architecture). */
  async setState(state: TrainerState): Promise<void> {
    const weights = this.model.weights;
    if (state.weights.length !== weights.length) {
      throw new Error(`Trainer.setState: the state has ${state.weights.length} weights, the model ${weights.length}`);
    }
    const count = state.firstMoments.length;
    if (
      state.secondMoments.length !== count ||
      (count !== 0 && count !== this.variables.length) ||
      (count === 0 && state.step !== 0)
    ) {
      throw new Error(
        `Trainer.setState: expected ${this.variables.length} first and second moments (one per trainable weight) ` +
          `at step ${state.step}, got ${count} and ${state.secondMoments.length}`,
      );
    }
    // Check everything before changing anything.
    this.variables.forEach((v, i) => {
      for (const [list, suffix] of [
        [state.firstMoments, 'first'],
        [state.secondMoments, 'second'],
      ] as const) {
        if (count !== 0 && list[i].length !== v.size) {
          throw new Error(
            `Trainer.setState: the ${suffix} moment of ${v.name} has ${list[i].length} values, expected ${v.size}`,
          );
        }
      }
    });
    const values = weights.map((w, i) => {
      if (state.weights[i].length !== w.read().size) {
        throw new Error(
          `Trainer.setState: weight ${w.originalName} has shape [${w.shape}] (${w.read().size} values), ` +
            `the state ${state.weights[i].length}`,
        );
      }
      return tf.tensor(state.weights[i], w.shape as number[], w.dtype);
    });
    this.model.setWeights(values);
    tf.dispose(values);
    this.optimizer.setMoments(
      state.step,
      count === 0 ? [] : this.variables.map((v) => v.name),
      state.firstMoments,
      state.secondMoments,
    );
  }

  /** Frees Adam's moments (the model belongs to the caller). */
  dispose(): void {
    this.optimizer.dispose();
  }
}

/** The batch's arrays as int32 tensors (B, S), (B, T), (B, T). */
export function batchTensors(batch: EncodedBatch): {
  source: tf.Tensor2D;
  decoderInput: tf.Tensor2D;
  decoderTarget: tf.Tensor2D;
} {
  const { batchSize: b, sourceLength: s, targetLength: t } = batch;
  return {
    source: tf.tensor2d(batch.source, [b, s], 'int32'),
    decoderInput: tf.tensor2d(batch.decoderInput, [b, t], 'int32'),
    decoderTarget: tf.tensor2d(batch.decoderTarget, [b, t], 'int32'),
  };
}
