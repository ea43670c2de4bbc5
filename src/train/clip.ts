/**
 * Gradient clipping by global norm (Pascanu et al. 2013; `tf.clip_by_global_norm`
 * in TensorFlow, `clip_grad_norm_` in PyTorch).
 */
import * as tf from '@tensorflow/tfjs';

/**
 * Scales every gradient by `min(1, maxNorm / globalNorm)`, where `globalNorm`
 * is the L2 norm of all gradients together, so the update keeps its direction.
 * Returns the clipped gradients (new tensors, same order) and the norm before
 * clipping (a scalar); the caller owns all of them. The norm is left as a
 * tensor so that no value is read back from the backend here.
 */
export function clipByGlobalNorm(
  gradients: tf.Tensor[],
  maxNorm: number,
): { clipped: tf.Tensor[]; globalNorm: tf.Scalar } {
  if (!(maxNorm > 0)) throw new Error(`clipByGlobalNorm: maxNorm must be a positive number, got ${maxNorm}`);
  return tf.tidy(() => {
    const globalNorm = globalL2Norm(gradients);
    // 1e-6 keeps an all-zero gradient finite (scale 1, nothing to clip).
    const scale = tf.minimum(tf.div(tf.scalar(maxNorm), tf.add(globalNorm, 1e-6)), 1);
    return { clipped: gradients.map((g) => tf.mul(g, scale)), globalNorm };
  });
}

/** sqrt(sum over all tensors of the sum of their squared elements). */
export function globalL2Norm(tensors: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.addN(tensors.map((t) => tf.sum(tf.square(t))))) as tf.Scalar);
}
