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
 * added to the bias-corrected root, no amsgrad), with `torch.optim.AdamW`'s
 * decoupled weight decay (Loshchilov & Hutter 2019) when `weightDecay` > 0:
 *
 *     w -= lr * weightDecay * w          (only variables of rank >= 2, see AdamArgs)
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
  /**
   * Decoupled weight decay per unit of learning rate, applied to kernels and embeddings (rank >= 2)
   * but not to biases and layer-norm scales, as minGPT and nanoGPT do. Default 0.
   */
  weightDecay?: number;
}

interface Slot {
  name: string;
  /** First and second moments, float32 as tf.train.adam keeps them. */
  m: Float32Array;
  v: Float32Array;
}

/**
 * The update runs in plain JavaScript over typed arrays, not as tensor ops: a
 * tensor Adam costs about a dozen kernels per variable (~900 per step for the
 * reference model, each with tfjs's per-kernel overhead), while the arithmetic
 * is ~240k multiply-adds. Each variable gets one new tensor per step.
 */
export class Adam extends tf.Optimizer {
  /** @nocollapse */
  static className = 'TfjsAttentionAdam';

  learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  private slots: Slot[] = [];

  constructor(args: AdamArgs = {}) {
    super();
    this.learningRate = args.learningRate ?? 1e-3;
    this.beta1 = args.beta1 ?? 0.9;
    this.beta2 = args.beta2 ?? 0.98;
    this.epsilon = args.epsilon ?? 1e-9;
    this.weightDecay = args.weightDecay ?? 0;
    checkRange('learningRate', this.learningRate, 0, Infinity, 'a number >= 0');
    checkRange('beta1', this.beta1, 0, 1, 'a number in [0, 1)');
    checkRange('beta2', this.beta2, 0, 1, 'a number in [0, 1)');
    checkRange('epsilon', this.epsilon, 0, Infinity, 'a number >= 0');
    checkRange('weightDecay', this.weightDecay, 0, Infinity, 'a number >= 0');
  }

  /** The number of updates applied so far (Adam's t). */
  get step(): number {
    return this.iterations;
  }

  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const named = Array.isArray(variableGradients)
      ? variableGradients
      : Object.keys(variableGradients).map((name) => ({ name, tensor: variableGradients[name] }));
    const variables = named.map(({ name }) => {
      const variable = tf.engine().registeredVariables[name];
      if (variable == null) throw new Error(`Adam.applyGradients: no variable named '${name}'`);
      return variable;
    });
    this.update(
      variables,
      named.map(({ tensor }) => (tensor == null ? null : (tensor.dataSync() as Float32Array))),
    );
  }

  /**
   * One Adam step on gradients already read into arrays (one per variable, in
   * the same order every step), each multiplied by `gradientScale` first (the
   * factor of global-norm clipping).
   */
  update(variables: tf.Variable[], gradients: Array<Float32Array | null>, gradientScale = 1): void {
    const t = this.iterations + 1;
    const stepSize = this.learningRate / (1 - Math.pow(this.beta1, t));
    const rootCorrection = 1 / Math.sqrt(1 - Math.pow(this.beta2, t));
    const { beta1, beta2, epsilon } = this;
    variables.forEach((variable, i) => {
      const slot = (this.slots[i] ??= {
        name: variable.name,
        m: new Float32Array(variable.size),
        v: new Float32Array(variable.size),
      });
      const gradient = gradients[i];
      if (gradient == null) return;
      const { m, v } = slot;
      const weights = variable.dataSync() as Float32Array;
      const updated = new Float32Array(weights.length);
      const keep = variable.rank >= 2 ? 1 - this.learningRate * this.weightDecay : 1;
      for (let k = 0; k < weights.length; k++) {
        const g = gradient[k] * gradientScale;
        m[k] = beta1 * m[k] + (1 - beta1) * g;
        v[k] = beta2 * v[k] + (1 - beta2) * g * g;
        updated[k] = weights[k] * keep - (stepSize * m[k]) / (Math.sqrt(v[k]) * rootCorrection + epsilon);
      }
      const value = tf.tensor(updated, variable.shape, 'float32');
      variable.assign(value);
      value.dispose();
    });
    this.incrementIterations();
  }

  /** `iter`, then every first moment, then every second moment: new tensors the caller disposes. */
  override async getWeights(): Promise<NamedTensor[]> {
    return [
      await this.saveIterations(),
      ...this.slots.map((s) => ({ name: `${s.name}/m`, tensor: tf.tensor(s.m) })),
      ...this.slots.map((s) => ({ name: `${s.name}/v`, tensor: tf.tensor(s.v) })),
    ];
  }

  /** The moments as arrays (copies), in the order of the variables of `update`. */
  getMoments(): { first: Float32Array[]; second: Float32Array[] } {
    return { first: this.slots.map((s) => s.m.slice()), second: this.slots.map((s) => s.v.slice()) };
  }

  /** Restores moments from arrays (copied) and the step count. */
  setMoments(step: number, names: string[], first: Float32Array[], second: Float32Array[]): void {
    this.iterations_ = step;
    this.slots = names.map((name, i) => ({ name, m: first[i].slice(), v: second[i].slice() }));
  }

  /**
   * Restores what `getWeights` returned (the values are copied). The moments
   * must be listed for the same variables, in the same order, as the gradients
   * that `applyGradients` will receive.
   */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const moments = await this.extractIterations(weightValues);
    if (moments.length % 2 !== 0) {
      throw new Error(
        `Adam.setWeights: expected iter, then as many first as second moments; got ${moments.length} moments`,
      );
    }
    const count = moments.length / 2;
    this.slots = moments.slice(0, count).map((first, i) => ({
      name: first.name.replace(/\/m$/, ''),
      m: Float32Array.from(first.tensor.dataSync() as Float32Array),
      v: Float32Array.from(moments[count + i].tensor.dataSync() as Float32Array),
    }));
  }

  override dispose(): void {
    super.dispose();
    this.slots = [];
  }

  getConfig(): tf.serialization.ConfigDict {
    const { learningRate, beta1, beta2, epsilon, weightDecay } = this;
    return { learningRate, beta1, beta2, epsilon, weightDecay };
  }

  /** @nocollapse */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new cls(config as AdamArgs);
  }
}
tf.serialization.registerClass(Adam);

function checkRange(name: string, value: unknown, min: number, maxExclusive: number, expected: string): void {
  if (typeof value !== 'number' || !(value >= min && value < maxExclusive)) {
    throw new Error(`Adam: ${name} must be ${expected}, got ${JSON.stringify(value)}`);
  }
}
