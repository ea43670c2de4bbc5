/**
 * Layer normalization over the last axis (Ba et al. 2016), the one home of its math in tfjs ops;
 * `normalizeForward` and `normalizeBackward` are the single place that hands the work to the
 * fused kernel (src/kernels/layer_norm.ts): on cpu and wasm with WebAssembly SIMD, for widths
 * that are a multiple of 4 (whole SIMD vectors). Elsewhere (webgl, tensorflow, other widths) the
 * same formulas run as tfjs ops.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedLayerNorm, hasFusedLayerNorm, layerNormGradients } from '../kernels/layer_norm';
import { sumRows } from './dense';

/**
 * Layer normalization over the last axis (Ba et al. 2016):
 * `(x - mean) / sqrt(var + epsilon) * gamma + beta`, with the closed-form
 * gradient (about a third of the kernels tfjs's autodiff of `moments` runs).
 * Call inside a tidy.
 */
export function layerNormalize(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor {
  if (!tf.engine().isTapeOn()) {
    const { value, normalized, inverseStd } = normalizeForward(x, gamma, beta, epsilon);
    tf.dispose([normalized, inverseStd]);
    return value;
  }
  return layerNormWithGrad(epsilon)(x, gamma, beta);
}

/**
 * The forward pass, also keeping what the gradient needs: on cpu and wasm one
 * fused kernel (see the file comment), elsewhere tfjs ops. Call inside a tidy.
 */
function normalizeForward(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): { value: tf.Tensor; normalized: tf.Tensor; inverseStd: tf.Tensor } {
  if (hasFusedLayerNorm(gamma.size)) return fusedLayerNorm(x, gamma, beta, epsilon);
  const mean = x.mean(-1, true);
  const centered = x.sub(mean);
  const inverseStd = tf.rsqrt(centered.square().mean(-1, true).add(epsilon));
  const normalized = centered.mul(inverseStd);
  return { value: normalized.mul(gamma).add(beta), normalized, inverseStd };
}

/**
 * The differentiable layer norm for one epsilon (customGrad takes only tensors,
 * and epsilon is a constant of the layer): made once per value.
 */
const layerNormWithGradFor = new Map<number, (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor>();

function layerNormWithGrad(epsilon: number): (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor {
  let fn = layerNormWithGradFor.get(epsilon);
  if (fn == null) {
    fn = tf.customGrad(((x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
      const { value, normalized, inverseStd } = normalizeForward(x, gamma, beta, epsilon);
      save([normalized, inverseStd, gamma]);
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => normalizeBackward(dy, saved[0], saved[1], saved[2]),
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (
      x: tf.Tensor,
      gamma: tf.Tensor,
      beta: tf.Tensor,
    ) => tf.Tensor;
    layerNormWithGradFor.set(epsilon, fn);
  }
  return fn;
}

/** The gradients of x, gamma and beta, from normalizeForward's xHat and inverseStd. Call inside a tidy. */
function normalizeBackward(dy: tf.Tensor, xHat: tf.Tensor, invStd: tf.Tensor, gamma: tf.Tensor): tf.Tensor[] {
  if (hasFusedLayerNorm(gamma.size)) return layerNormGradients(dy, xHat, invStd, gamma);
  const width = xHat.shape[xHat.rank - 1];
  // gamma's and beta's gradients sum over every position: (..., D) -> (N, D) -> (D).
  const rowsOf = (t: tf.Tensor) => t.reshape([-1, width]);
  // dxHat = dy * gamma; dx = invStd * (dxHat - mean(dxHat) - xHat * mean(dxHat * xHat))
  const dxHat = dy.mul(gamma);
  const meanDxHat = dxHat.sum(-1, true).div(width);
  const meanDxHatXHat = dxHat.mul(xHat).sum(-1, true).div(width);
  const dx = dxHat.sub(meanDxHat).sub(xHat.mul(meanDxHatXHat)).mul(invStd);
  return [dx, sumRows(rowsOf(dy.mul(xHat))), sumRows(rowsOf(dy))];
}
