/**
 * Exact GELU, x Phi(x) (Hendrycks & Gimpel 2016), as keras-hub and PyTorch's default: the one
 * home of its math in tfjs ops, and the one place that hands it to the fused kernel
 * (src/kernels/gelu.ts) on cpu and wasm with WebAssembly SIMD; elsewhere (webgl, tensorflow) the
 * same formula runs as tfjs ops.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedGelu, hasFusedGelu } from '../kernels/gelu';

/** Exact GELU, differentiable. Call inside a tidy. */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (x.dtype === 'float32' && hasFusedGelu()) return fusedGelu(x);
  return x.mul(tf.erf(x.mul(Math.SQRT1_2)).add(1)).mul(0.5);
}
