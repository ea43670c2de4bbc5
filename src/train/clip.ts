/**
 * Gradient clipping by global norm (Pascanu et al. 2013; `tf.clip_by_global_norm` in TensorFlow,
 * `clip_grad_norm_` in PyTorch): every gradient is scaled by `min(1, maxNorm / globalNorm)`, where
 * `globalNorm` is the L2 norm of all gradients together, so the update keeps its direction.
 *
 * The Trainer reads the gradients out as arrays once per step and folds the scale into its Adam
 * update (no kernels), so the rule is written here over Float32Arrays.
 */

/** sqrt(sum over every array of its squared elements). */
export function globalNorm(gradients: readonly Float32Array[]): number {
  let sum = 0;
  for (const g of gradients) for (let k = 0; k < g.length; k++) sum += g[k] * g[k];
  return Math.sqrt(sum);
}

/** The factor that clips gradients of norm `norm` to at most `maxNorm`; 1e-6 keeps a zero gradient finite. */
export function clipScale(norm: number, maxNorm: number): number {
  if (!(maxNorm > 0)) throw new Error(`clipScale: maxNorm must be a positive number, got ${maxNorm}`);
  return Math.min(1, maxNorm / (norm + 1e-6));
}
