/**
 * tfjs's own `tf.layers.dense` and `tf.layers.layerNormalization` through this library's fused
 * kernels (one kernel forward and one backward each, on cpu and wasm), for the models users write
 * with tfjs's layers.
 *
 * - **LayerNormalization** over the last axis (its default), through ops/layer_norm.ts.
 *   tfjs-layers 4.22's call (layers/normalization.js) computes `moments`, tiles the mean, the
 *   variance, gamma and beta to the input's whole shape (a workaround for tfjs issue #2120) and
 *   runs `batchNormalization` on the five; its gradient runs through all of them. A training step
 *   of one such layer on (16, 128, 128) between two dense layers ran 266 kernels and 13.9 ms on
 *   wasm with our `Tile` gradient, 185 and 7.6 ms fused (README, Backends). Without `scale` or
 *   `center`, tfjs's gradient throws a TypeError (batchNorm saves its absent scale or offset);
 *   gamma = 1 or beta = 0 take their place here. Both compute `(x - mean) / sqrt(variance +
 *   epsilon) * gamma + beta`, the variance as the mean of the squared deviations.
 * - **Dense** with a linear, relu or exact GELU activation, through kernels/dense.ts (the product,
 *   bias and activation in one kernel; the backward gives dx, the kernel's and the bias's gradients
 *   from one copy of its inputs). tfjs-layers applies 'gelu' as tfjs ops (erf and its gradient): a
 *   (16, 128, 128) -> 512 GELU -> 128 training step took 31.9 ms and 176 kernels, fused 23.2 ms and
 *   94 (`denseCall`).
 *
 * The results agree with tfjs's calls to float32 rounding (GELU's to tfjs's erf approximation,
 * about 1e-7). Only `call` is replaced, and only where a fused kernel serves: the layers' weights,
 * configs, masks, regularizers and serialization are tfjs's own, and every other case (another
 * axis or activation, widths that are not whole SIMD vectors, another dtype or backend) runs
 * tfjs's call.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedDense, hasFusedDense } from '../kernels/dense';
import { hasFusedLayerNorm } from '../kernels/layer_norm';
import { EPILOGUE_ACTIVATIONS, type EpilogueActivation } from '../kernels/matmul';
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

/** What the fused call reads of a tfjs-layers Dense (its fields in tfjs 4.22). */
interface TfjsDense {
  kernel: tf.LayerVariable;
  /** Null without `useBias`. */
  bias: tf.LayerVariable | null;
  activation: { getClassName(): string };
  invokeCallHook(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): void;
}

/** The one tensor of a layer's inputs, or undefined where there are several. */
const onlyInput = (inputs: tf.Tensor | tf.Tensor[]) =>
  Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;

/** Whether `axis` names only the last axis of a rank-`rank` input. */
function onlyLastAxis(axis: number | number[], rank: number): boolean {
  const axes = typeof axis === 'number' ? [axis] : axis;
  return axes.length === 1 && (axes[0] === rank - 1 || axes[0] === -1);
}

/**
 * A layer class's fused call: the layer's output, or undefined where tfjs's own call must run
 * (then nothing has been computed).
 */
type FusedCall<L> = (layer: L, inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs) => tf.Tensor | undefined;

function layerNormalizationCall(layer: TfjsLayerNormalization, inputs: tf.Tensor | tf.Tensor[]) {
  const x = onlyInput(inputs);
  if (x === undefined || x.dtype !== 'float32' || !onlyLastAxis(layer.axis, x.rank)) return undefined;
  const width = x.shape[x.rank - 1];
  if (!hasFusedLayerNorm(width)) return undefined;
  return tf.tidy(() => {
    const gamma = layer.gamma?.read() ?? tf.ones([width]);
    const beta = layer.beta?.read() ?? tf.zeros([width]);
    return layerNormalize(x, gamma, beta, layer.epsilon);
  });
}

/** The activations the fused dense kernel applies itself. */
const FUSED_ACTIVATIONS: readonly string[] = EPILOGUE_ACTIVATIONS;

/**
 * Dense through the fused kernel where it applies the activation. It trains faster than tfjs's
 * call with our replaced product kernels: a (16, 128, 128) -> 512 -> 128 training step on wasm,
 * alternated in one process (2026-12-07), took 0.73 of the time with GELU, 0.92 with relu and 0.99
 * linear. One case costs more: a first layer fed by data, whose input needs no gradient. The fused
 * backward computes it anyway, where tfjs skips it: with the input's gradient not asked for, the
 * same step took 1.02 to 1.06 of the time with relu (0.70 with GELU, 0.92 to 0.97 linear).
 */
function denseCall(layer: TfjsDense, inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs) {
  const x = onlyInput(inputs);
  const activation = layer.activation.getClassName();
  if (x === undefined || layer.kernel == null || !FUSED_ACTIVATIONS.includes(activation)) return undefined;
  const [kernel, bias] = [layer.kernel.read(), layer.bias?.read() ?? null];
  if (!hasFusedDense(x, kernel, bias)) return undefined;
  layer.invokeCallHook(inputs, kwargs);
  return tf.tidy(() => fusedDense(x, kernel, bias, activation as EpilogueActivation));
}

/** The calls replaced, by the class name tfjs-layers registers for serialization. */
const FUSED_CALLS: Record<string, FusedCall<never>> = {
  LayerNormalization: layerNormalizationCall,
  Dense: denseCall,
};

/** tfjs's own call of each class while ours is installed, so that it can be restored. */
const tfjsCalls = new Map<string, Call>();

/** A tfjs-layers class as registered for serialization; undefined if absent. */
function registeredClass(name: string): { prototype: { call: Call } } | undefined {
  const registered = tf.serialization.SerializationMap.getMap().classNameMap[name];
  return registered?.[0] as unknown as { prototype: { call: Call } } | undefined;
}

/** Options of `installLayerFixes`. */
export interface LayerFixesOptions {
  /** Route the layers' calls through the fused kernels (default true); false restores tfjs's own. */
  replaceTfjsCalls?: boolean;
}

/**
 * Makes `tf.layers.layerNormalization` over the last axis and `tf.layers.dense` with a linear,
 * relu or GELU activation run this library's fused kernels where they can (see the file comment),
 * or with `replaceTfjsCalls: false` restores tfjs's own calls. It replaces the call of
 * tfjs-layers' classes, so it changes every such layer in the process, built before or after: how
 * fast it runs, and its results by float32 rounding. Idempotent. `initBackend` calls it (its
 * `keepTfjsKernels` option keeps tfjs's own); importing the library does not.
 */
export function installLayerFixes(options: LayerFixesOptions = {}): void {
  checkOptionNames('installLayerFixes', options, optionNames<LayerFixesOptions>({ replaceTfjsCalls: true }));
  const replace = options.replaceTfjsCalls ?? true;
  for (const [name, fused] of Object.entries(FUSED_CALLS)) {
    const layerClass = registeredClass(name);
    const tfjsCall = tfjsCalls.get(name);
    if (layerClass === undefined) continue;
    if (replace && tfjsCall === undefined) {
      const own = layerClass.prototype.call;
      tfjsCalls.set(name, own);
      layerClass.prototype.call = function (this: never, inputs, kwargs) {
        return fused(this, inputs, kwargs) ?? own.call(this, inputs, kwargs);
      };
    } else if (!replace && tfjsCall !== undefined) {
      layerClass.prototype.call = tfjsCall;
      tfjsCalls.delete(name);
    }
  }
}
