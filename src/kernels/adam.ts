/**
 * Adam's update of every variable of a model as one SIMD kernel over the kernel threads
 * (simd_kernels.ts's `adamUpdate`), with the weights and both moments kept in the kernels' memory
 * from one step to the next (a resident block): a step copies in only the gradients, and copies out
 * only the new weights; a variable's weights are copied in again only when something else has
 * changed them. The update of one float depends on no other, so any split over the threads gives
 * the same floats.
 *
 * The block holds three equal thirds, weights, first moments, second moments, with each variable
 * at the same offset in each, padded to whole SIMD vectors. Where WebAssembly SIMD is missing, the
 * same layout lives in a plain array and a loop does the same arithmetic.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  ADAM_PARAMETERS,
  allocateResident,
  freeResident,
  simdKernels,
  stage,
  type ResidentBlock,
  wholeVectors,
} from './simd_kernels';
import { inParallelRuns, partsFor } from './threads';

/** One step's hyperparameters, as `adamUpdate` reads them. */
export type AdamParameters = Record<(typeof ADAM_PARAMETERS)[number], number>;

/** Floats below which a part of the update is not worth handing to another thread. */
const MIN_PART_FLOATS = 1 << 15;

/**
 * A tensor's floats without a copy where its backend allows: a view of the wasm backend's heap
 * (valid until tfjs next allocates), else `dataSync()`.
 */
export function floatsOf(tensor: tf.Tensor): Float32Array {
  if (tf.getBackend() === 'wasm') return (tf.backend() as BackendWasm).typedArrayFromHeap(tensor) as Float32Array;
  return tensor.dataSync() as Float32Array;
}

/** The weights and moments of a list of variables, in the kernels' memory (or an array without SIMD). */
export class AdamState {
  /** Each variable's offset (floats) in each third. */
  private readonly offsets: number[];
  /** Floats in a third. */
  private readonly third: number;
  private readonly block: ResidentBlock | null;
  /** The layout itself where WebAssembly SIMD is missing. */
  private readonly plain: Float32Array | null;

  /** Zero moments for variables of `sizes` floats (their weights come with the first update). */
  constructor(readonly sizes: number[]) {
    let end = 0;
    this.offsets = sizes.map((size) => {
      const offset = end;
      end += wholeVectors(size);
      return offset;
    });
    this.third = end;
    const simd = simdKernels() != null;
    this.block = simd ? allocateResident(3 * end) : null;
    this.plain = simd ? null : new Float32Array(3 * end);
  }

  /** The floats of the layout's storage, and where the layout starts in them. */
  private storage(): { floats: Float32Array; start: number } {
    return this.block ? { floats: simdKernels()!.floats, start: this.block.start } : { floats: this.plain!, start: 0 };
  }

  /** Where variable i's weights (0), first moment (1) or second moment (2) start in `storage().floats`. */
  private at(third: 0 | 1 | 2, i: number): number {
    return this.storage().start + third * this.third + this.offsets[i];
  }

  /** Variable i's weights as the last update wrote them: a view, valid until the next kernel call. */
  weights(i: number): Float32Array {
    const at = this.at(0, i);
    return this.storage().floats.subarray(at, at + this.sizes[i]);
  }

  /** A copy of variable i's first (1) or second (2) moment. */
  moment(which: 1 | 2, i: number): Float32Array {
    const at = this.at(which, i);
    return this.storage().floats.slice(at, at + this.sizes[i]);
  }

  /** Sets variable i's first (1) or second (2) moment to `values` (copied). */
  setMoment(which: 1 | 2, i: number, values: Float32Array): void {
    this.storage().floats.set(values, this.at(which, i));
  }

  /**
   * One step of every variable whose gradient is given: `weights[i]` are its weights now, or null
   * when they are still the ones `weights(i)` gives (nothing else changed them); `keep[i]` the
   * factor of its decoupled weight decay (1 for none). A null gradient leaves the variable and its
   * moments as they are.
   */
  update(
    weights: Array<Float32Array | null>,
    gradients: Array<Float32Array | null>,
    parameters: AdamParameters,
    keep: number[],
  ): void {
    const { floats, start } = this.storage();
    weights.forEach((values, i) => values != null && floats.set(values, this.at(0, i)));
    const values = ADAM_PARAMETERS.map((name) => parameters[name]);
    if (this.block == null) {
      gradients.forEach((gradient, i) => gradient != null && this.updateInPlace(i, gradient, parameters, keep[i]));
      return;
    }
    // The gradients at the variables' offsets in a scratch third, then the hyperparameters.
    const [g, p] = stage([], [], [this.third, values.length]);
    const kernels = simdKernels()!;
    gradients.forEach((gradient, i) => gradient != null && kernels.floats.set(gradient, g + this.offsets[i]));
    kernels.floats.set(values, p);
    const vectors = this.third / 4;
    inParallelRuns(vectors, partsFor(vectors, MIN_PART_FLOATS / 4), (calls, first, end) => {
      // Each variable's floats within the part's [4 first, 4 end) of a third.
      this.sizes.forEach((_size, i) => {
        const from = Math.max(4 * first, this.offsets[i]);
        const to = Math.min(4 * end, this.offsets[i] + wholeVectors(this.sizes[i]));
        if (gradients[i] == null || from >= to) return;
        const [w, m, v] = [0, 1, 2].map((third) => 4 * (start + third * this.third + from));
        calls.adamUpdate(w, 4 * (g + from), m, v, 4 * (to - from), 4 * p, keep[i]);
      });
    });
  }

  /** `adamUpdate`'s arithmetic in a loop, where WebAssembly SIMD is missing. */
  private updateInPlace(i: number, gradient: Float32Array, parameters: AdamParameters, keep: number): void {
    const floats = this.plain!;
    const [w, m, v] = [this.at(0, i), this.at(1, i), this.at(2, i)];
    const { gradientScale, beta1, oneMinusBeta1, beta2, oneMinusBeta2, stepSize, rootCorrection, epsilon } = parameters;
    for (let k = 0; k < this.sizes[i]; k++) {
      const g = gradient[k] * gradientScale;
      floats[m + k] = beta1 * floats[m + k] + oneMinusBeta1 * g;
      floats[v + k] = beta2 * floats[v + k] + oneMinusBeta2 * g * g;
      floats[w + k] =
        keep * floats[w + k] - (stepSize * floats[m + k]) / (Math.sqrt(floats[v + k]) * rootCorrection + epsilon);
    }
  }

  /** Frees the kernels' memory the state held. */
  dispose(): void {
    if (this.block) freeResident(this.block);
  }
}
