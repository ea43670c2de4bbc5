/**
 * `tf.layers.layerNormalization` over the last axis, through this library's layer norm
 * (ops/layer_norm.ts: one fused kernel forward and one backward on cpu and wasm).
 *
 * tfjs-layers 4.22's own `call` (layers/normalization.js) computes `moments`, tiles the mean, the
 * variance, gamma and beta to the input's whole shape (a workaround for tfjs issue #2120) and runs
 * `batchNormalization` on the five; its gradient runs through all of them. A training step of one
 * such layer on (16, 128, 128) ran 266 kernels and 12.1 ms on wasm, with our `Tile` gradient
 * (README, Speed); the fused kernels need two. Both compute `(x - mean) / sqrt(variance +
 * epsilon) * gamma + beta` with the variance as the mean of the squared deviations, so the results
 * agree to float32 rounding.
 *
 * Only `call` is replaced, and only where the fused kernel serves: the layer's weights, config,
 * mask handling and serialization are tfjs's own, and any other case (several axes or another
 * one, a width that is not a multiple of 4, another dtype or backend) runs tfjs's call.
 */
import * as tf from '@tensorflow/tfjs';
import { hasFusedLayerNorm } from '../kernels/layer_norm';
import { layerNormalize } from '../ops/layer_norm';
import { checkOptionNames, optionNames } from '../options';

type Kwargs = Record<string, unknown>;
type Call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs) => tf.Tensor | tf.Tensor[];

/** What the fused call reads of a tfjs-layers LayerNormalization (its fields in tfjs 4.22). */
interface TfjsLayerNormalization {
  /** The axes normalized: a number or a list before `build`, a list of non-negative ones after. */
  axis: number | number[];
  epsilon: number;
  /** Null without `scale`. */
  gamma: tf.LayerVariable | null;
  /** Null without `center`. */
  beta: tf.LayerVariable | null;
}

/** tfjs's own `call`, kept while ours is installed so that it can be restored. */
let tfjsCall: Call | undefined;

/** tfjs-layers' LayerNormalization class, as registered for serialization; undefined if absent. */
function layerNormalizationClass(): { prototype: { call: Call } } | undefined {
  const registered = tf.serialization.SerializationMap.getMap().classNameMap.LayerNormalization;
  return registered?.[0] as unknown as { prototype: { call: Call } } | undefined;
}

/** Whether `axis` names only the last axis of a rank-`rank` input. */
function onlyLastAxis(axis: number | number[], rank: number): boolean {
  const axes = typeof axis === 'number' ? [axis] : axis;
  return axes.length === 1 && (axes[0] === rank - 1 || axes[0] === -1);
}

function fusedCall(this: TfjsLayerNormalization, inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs) {
  const x = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
  const width = x?.shape[x.rank - 1];
  if (x === undefined || x.dtype !== 'float32' || !onlyLastAxis(this.axis, x.rank) || !hasFusedLayerNorm(width!)) {
    return tfjsCall!.call(this, inputs, kwargs);
  }
  return tf.tidy(() => {
    const gamma = this.gamma?.read() ?? tf.ones([width!]);
    const beta = this.beta?.read() ?? tf.zeros([width!]);
    return layerNormalize(x, gamma, beta, this.epsilon);
  });
}

/** Options of `installLayerNormalizationFix`. */
export interface LayerNormalizationFixOptions {
  /** Route the layer's call through the fused layer norm (default true); false restores tfjs's own. */
  replaceTfjsCall?: boolean;
}

/**
 * Makes `tf.layers.layerNormalization` over the last axis (its default) run this library's fused
 * layer norm where it can (see the file comment), or with `replaceTfjsCall: false` restores tfjs's
 * own call. It replaces the call of tfjs-layers' LayerNormalization class, so it changes every
 * such layer in the process, built before or after: how fast it runs, and its results by float32
 * rounding. Idempotent. `initBackend` calls it (its `keepTfjsKernels` option keeps tfjs's own);
 * importing the library does not.
 */
export function installLayerNormalizationFix(options: LayerNormalizationFixOptions = {}): void {
  checkOptionNames(
    'installLayerNormalizationFix',
    options,
    optionNames<LayerNormalizationFixOptions>({ replaceTfjsCall: true }),
  );
  const replace = options.replaceTfjsCall ?? true;
  const layerClass = layerNormalizationClass();
  if (layerClass === undefined) return;
  if (replace && tfjsCall === undefined) {
    tfjsCall = layerClass.prototype.call;
    layerClass.prototype.call = fusedCall as Call;
  } else if (!replace && tfjsCall !== undefined) {
    layerClass.prototype.call = tfjsCall;
    tfjsCall = undefined;
  }
}
