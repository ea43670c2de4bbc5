/**
 * Which path a computation took: the fused kernels (src/kernels/*, on cpu and wasm with
 * WebAssembly SIMD, for key/value dims and widths that are multiples of 4) or the plain tfjs ops.
 * tf.profile lists the kernels that ran; the fused ones have their own names.
 */
import * as tf from '@tensorflow/tfjs';

/** The fused kernels' names (src/kernels/attention.ts, src/kernels/layer_norm.ts). */
export const FUSED_ATTENTION = 'TfjsAttentionScaledDotProduct';
export const FUSED_ATTENTION_GRAD = 'TfjsAttentionScaledDotProductGrad';
export const FUSED_LAYER_NORM = 'TfjsAttentionLayerNorm';
export const FUSED_LAYER_NORM_GRAD = 'TfjsAttentionLayerNormGrad';

/** A transformer block's forward pass on the fused path runs both fused forward kernels. */
export const FUSED_BLOCK_KERNELS = [FUSED_ATTENTION, FUSED_LAYER_NORM];

/**
 * The model widths of the block tests: 6 with 2 heads (keyDim 3) takes the plain ops everywhere,
 * 8 with 2 heads (keyDim 4) the fused attention and the fused layer norm.
 */
export const BLOCK_PATHS = [
  { path: 'plain (width 6, keyDim 3)', width: 6, fused: false },
  { path: 'fused (width 8, keyDim 4)', width: 8, fused: true },
] as const;

/** Runs `f` under tf.profile: the names of the kernels it ran (each once), and its result. */
export async function profiled<T extends tf.TensorContainer>(f: () => T): Promise<{ kernels: string[]; result: T }> {
  const info = await tf.profile(f);
  return { kernels: info.kernelNames, result: info.result as T };
}

/** The fused forward kernels of a block among `kernels`, in FUSED_BLOCK_KERNELS order. */
export function fusedKernelsIn(kernels: string[]): string[] {
  return FUSED_BLOCK_KERNELS.filter((name) => kernels.includes(name));
}

/**
 * `profiled`, after one run of `f` outside the profiler (its result disposed): an error that `f`
 * throws fails the test here. Thrown inside tf.profile, it escapes tfjs's kernel timer as an
 * unhandled rejection that ends the test process (a crash, not a failed test).
 */
export async function runThenProfile<T extends tf.TensorContainer>(
  f: () => T,
): Promise<{ kernels: string[]; result: T }> {
  tf.dispose(tf.tidy(f));
  return profiled(f);
}
