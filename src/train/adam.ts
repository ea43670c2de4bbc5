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
import { AdamState, floatsOf, type AdamParameters } from '../kernels/adam';
import { checkOptionNames, optionNames } from '../options';

/** The arguments of `Adam`, with `tf.train.adam`'s defaults. */
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

/** Every option name, for the unknown-option check. */
const ADAM_ARG_NAMES = optionNames<AdamArgs>({
  learningRate: true,
  beta1: true,
  beta2: true,
  epsilon: true,
  weightDecay: true,
});

/**
 * The update runs as one fused SIMD kernel over the kernel threads (src/kernels/adam.ts), not as
 * tensor ops: a tensor Adam costs about a dozen kernels per variable (~900 per step for the
 * reference model, each with tfjs's per-kernel overhead), on one thread. The weights and moments
 * stay in the kernels' memory between steps; each variable gets one new tensor per step.
 *
 * As an optimizer for `model.compile` it computes what `tf.train.adam` computes, within float32
 * rounding, given the same hyperparameters (tf.train.adam's defaults are beta2 0.999 and epsilon
 * 1e-7), except that a restored optimizer continues exactly (see above):
 *
 * ```ts
 * const optimizer = new Adam({ learningRate: 1e-3, beta2: 0.999, epsilon: 1e-7 });
 * model.compile({ optimizer, loss: 'meanSquaredError' });
 * ```
 */
export class Adam extends tf.Optimizer {
  /** @nocollapse */
  static className = 'TfjsAttentionAdam';

  learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  /** The names of the variables of the moments, in order (moments are matched by position). */
  private names: string[] = [];
  /** Weights and moments, made by the first update. */
  private state: AdamState | null = null;
  /** Moments restored (`setMoments`, `setWeights`) before an update has made the state. */
  private restored: { first: Float32Array[]; second: Float32Array[] } | null = null;
  /**
   * What each variable held after the last update assigned it (its data id): while it still holds
   * it, the state's weights are its weights, and they need not be copied in again.
   */
  private assigned: unknown[] = [];

  constructor(args: AdamArgs = {}) {
    super();
    checkOptionNames('Adam', args, ADAM_ARG_NAMES);
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
      named.map(({ tensor }) => tensor ?? null),
    );
  }

  /**
   * One Adam step of `variables` (the same ones, in the same order, every step) from their
   * gradients (tensors, or arrays already read), each multiplied by `gradientScale` first (the
   * factor of global-norm clipping). A null gradient leaves its variable as it is.
   */
  update(variables: tf.Variable[], gradients: Array<tf.Tensor | Float32Array | null>, gradientScale = 1): void {
    const t = this.iterations + 1;
    const { beta1, beta2, epsilon } = this;
    const parameters: AdamParameters = {
      gradientScale,
      beta1,
      oneMinusBeta1: 1 - beta1,
      beta2,
      oneMinusBeta2: 1 - beta2,
      stepSize: this.learningRate / (1 - Math.pow(beta1, t)),
      rootCorrection: 1 / Math.sqrt(1 - Math.pow(beta2, t)),
      epsilon,
    };
    const keep = variables.map((v) => (v.rank >= 2 ? 1 - this.learningRate * this.weightDecay : 1));
    const state = this.stateFor(variables);
    // Views of the wasm heap (floatsOf): read after the last allocation before the update copies them.
    const weights = variables.map((v, i) => (this.assigned[i] === v.dataId ? null : floatsOf(v)));
    const read = gradients.map((g) => (g == null || g instanceof Float32Array ? g : floatsOf(g)));
    state.update(weights, read, parameters, keep);
    variables.forEach((variable, i) => {
      if (read[i] == null) return;
      // The wasm backend copies the values into its heap; the others may keep the array itself.
      const values = tf.getBackend() === 'wasm' ? state.weights(i) : state.weights(i).slice();
      const value = tf.tensor(values, variable.shape, 'float32');
      variable.assign(value);
      value.dispose();
      this.assigned[i] = variable.dataId;
    });
    this.incrementIterations();
  }

  /**
   * The state for `variables`: the one made before while their sizes are the same, else a new one
   * with the moments kept (or restored) by position where the sizes match, zero elsewhere.
   */
  private stateFor(variables: tf.Variable[]): AdamState {
    const sizes = variables.map((v) => v.size);
    const current = this.state;
    if (current != null && current.sizes.length === sizes.length && sizes.every((n, i) => current.sizes[i] === n)) {
      return current;
    }
    const { first, second } = this.getMoments();
    const state = new AdamState(sizes);
    sizes.forEach((size, i) => {
      if (first[i]?.length !== size || second[i]?.length !== size) return;
      state.setMoment(1, i, first[i]);
      state.setMoment(2, i, second[i]);
    });
    this.state?.dispose();
    this.state = state;
    this.restored = null;
    this.assigned = [];
    this.names = variables.map((v) => v.name);
    return state;
  }

  /** `iter`, then every first moment, then every second moment: new tensors the caller disposes. */
  override async getWeights(): Promise<NamedTensor[]> {
    const { first, second } = this.getMoments();
    return [
      await this.saveIterations(),
      ...first.map((m, i) => ({ name: `${this.names[i]}/m`, tensor: tf.tensor(m) })),
      ...second.map((v, i) => ({ name: `${this.names[i]}/v`, tensor: tf.tensor(v) })),
    ];
  }

  /** The moments as arrays (copies), in the order of the variables of `update`. */
  getMoments(): { first: Float32Array[]; second: Float32Array[] } {
    if (this.state == null) {
      return {
        first: this.restored?.first.map((m) => m.slice()) ?? [],
        second: this.restored?.second.map((v) => v.slice()) ?? [],
      };
    }
    const state = this.state;
    return {
      first: state.sizes.map((_size, i) => state.moment(1, i)),
      second: state.sizes.map((_size, i) => state.moment(2, i)),
    };
  }

  /** Restores moments from arrays (copied) and the step count. */
  setMoments(step: number, names: string[], first: Float32Array[], second: Float32Array[]): void {
    this.iterations_ = step;
    this.forgetState();
    this.names = [...names];
    this.restored = { first: first.map((m) => m.slice()), second: second.map((v) => v.slice()) };
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
    const values = (list: NamedTensor[]) => list.map((m) => Float32Array.from(m.tensor.dataSync() as Float32Array));
    this.setMoments(
      this.iterations,
      moments.slice(0, count).map((m) => m.name.replace(/\/m$/, '')),
      values(moments.slice(0, count)),
      values(moments.slice(count)),
    );
  }

  /** Drops the state (its kernels' memory too). */
  private forgetState(): void {
    this.state?.dispose();
    this.state = null;
    this.restored = null;
    this.assigned = [];
  }

  override dispose(): void {
    super.dispose();
    this.forgetState();
    this.names = [];
  }

  getConfig(): tf.serialization.ConfigDict {
    const { learningRate, beta1, beta2, epsilon, weightDecay } = this;
    return { learningRate, beta1, beta2, epsilon, weightDecay };
  }

  /**
   * The optimizer a config (`getConfig`'s) describes, as tfjs deserializes optimizers.
   * @nocollapse
   */
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
