/**
 * Adam (Kingma & Ba 2015) with a learning rate that may change every step and
 * a state that restores bit for bit, so that a resumed run repeats the
 * uninterrupted one exactly.
 *
 * Why not `tf.train.adam`: its bias corrections live in float32 variables
 * (`accBeta1 *= beta1` each step), and `setWeights` recomputes them as
 * `pow(beta1, t + 1)`, which differs from the repeated product in the last bit,
 * so a restored optimizer drifts from the original one. Here the only scalar
 * state is the integer step count `t`, and the corrections are computed from
 * it in float64 each step. The update is PyTorch's `torch.optim.Adam` (epsilon
 * added to the bias-corrected root, no weight decay, no amsgrad):
 *
 *     m = beta1 m + (1 - beta1) g
 *     v = beta2 v + (1 - beta2) g^2
 *     w -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + epsilon)
 *
 * `getWeights`/`setWeights` use tf.train.adam's layout: `iter` first, then
 * every first moment, then every second moment, in the order of the variables
 * of the first `applyGradients` (moments are matched by position, as there).
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedTensor } from '@tensorflow/tfjs-core/dist/tensor_types';

export interface AdamArgs {
  /** Step size; may be changed between steps through `learningRate`. Default 1e-3. */
  learningRate?: number;
  /** Decay of the first moment. Default 0.9. */
  beta1?: number;
  /** Decay of the second moment. Default 0.98 (Vaswani et al. 2017, 5.3), not Kingma & Ba's 0.999. */
  beta2?: number;
  /** Added to the root of the second moment. Default 1e-9 (Vaswani et al. 2017). */
  epsilon?: number;
}

interface Slot {
  name: string;
  m: tf.Variable;
  v: tf.Variable;
}

export class Adam extends tf.Optimizer {
  /** @nocollapse */
  static className = 'TfjsAttentionAdam';

  learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  private slots: Slot[] = [];

  constructor(args: AdamArgs = {}) {
    super();
    this.learningRate = args.learningRate ?? 1e-3;
    this.beta1 = args.beta1 ?? 0.9;
    this.beta2 = args.beta2 ?? 0.98;
    this.epsilon = args.epsilon ?? 1e-9;
    checkRange('learningRate', this.learningRate, 0, Infinity, 'a number >= 0');
    checkRange('beta1', this.beta1, 0, 1, 'a number in [0, 1)');
    checkRange('beta2', this.beta2, 0, 1, 'a number in [0, 1)');
    checkRange('epsilon', this.epsilon, 0, Infinity, 'a number >= 0');
  }

  /** The number of updates applied so far (Adam's t). */
  get step(): number {
    return this.iterations;
  }

  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const named = Array.isArray(variableGradients)
      ? variableGradients
      : Object.keys(variableGradients).map((name) => ({ name, tensor: variableGradients[name] }));
    const t = this.iterations + 1;
    const stepSize = this.learningRate / (1 - Math.pow(this.beta1, t));
    const rootCorrection = 1 / Math.sqrt(1 - Math.pow(this.beta2, t));
    tf.tidy(() => {
      const beta1 = tf.scalar(this.beta1);
      const oneMinusBeta1 = tf.scalar(1 - this.beta1);
      const beta2 = tf.scalar(this.beta2);
      const oneMinusBeta2 = tf.scalar(1 - this.beta2);
      const correction = tf.scalar(rootCorrection);
      const epsilon = tf.scalar(this.epsilon);
      const minusStep = tf.scalar(-stepSize);
      named.forEach(({ name, tensor: gradient }, i) => {
        const variable = tf.engine().registeredVariables[name];
        if (variable == null) throw new Error(`Adam.applyGradients: no variable named '${name}'`);
        const slot = (this.slots[i] ??= {
          name,
          m: tf.tidy(() => tf.zerosLike(variable).variable(false)),
          v: tf.tidy(() => tf.zerosLike(variable).variable(false)),
        });
        if (gradient == null) return;
        const m = tf.add(tf.mul(slot.m, beta1), tf.mul(gradient, oneMinusBeta1));
        const v = tf.add(tf.mul(slot.v, beta2), tf.mul(tf.square(gradient), oneMinusBeta2));
        const denominator = tf.add(tf.mul(tf.sqrt(v), correction), epsilon);
        slot.m.assign(m);
        slot.v.assign(v);
        variable.assign(tf.add(variable, tf.mul(tf.div(m, denominator), minusStep)));
      });
    });
    this.incrementIterations();
  }

  override async getWeights(): Promise<NamedTensor[]> {
    return [
      await this.saveIterations(),
      ...this.slots.map((s) => ({ name: `${s.name}/m`, tensor: s.m })),
      ...this.slots.map((s) => ({ name: `${s.name}/v`, tensor: s.v })),
    ];
  }

  /**
   * Restores what `getWeights` returned (the tensors are copied). The moments
   * must be listed for the same variables, in the same order, as the gradients
   * that `applyGradients` will receive.
   */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const moments = await this.extractIterations(weightValues);
    if (moments.length % 2 !== 0) {
      throw new Error(`Adam.setWeights: expected iter, then as many first as second moments; got ${moments.length} moments`);
    }
    const count = moments.length / 2;
    this.disposeSlots();
    this.slots = moments.slice(0, count).map((first, i) => ({
      name: first.name.replace(/\/m$/, ''),
      m: tf.variable(first.tensor, false),
      v: tf.variable(moments[count + i].tensor, false),
    }));
  }

  override dispose(): void {
    super.dispose();
    this.disposeSlots();
  }

  getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }

  /** @nocollapse */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new cls(config as AdamArgs);
  }

  private disposeSlots(): void {
    tf.dispose(this.slots.flatMap((s) => [s.m, s.v]));
    this.slots = [];
  }
}
tf.serialization.registerClass(Adam);

function checkRange(name: string, value: unknown, min: number, maxExclusive: number, expected: string): void {
  if (typeof value !== 'number' || !(value >= min && value < maxExclusive)) {
    throw new Error(`Adam: ${name} must be ${expected}, got ${JSON.stringify(value)}`);
  }
}
