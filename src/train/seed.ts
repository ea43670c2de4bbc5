/**
 * Seeded weight initialisation for models whose layers take no seed.
 *
 * tfjs initializers without an explicit seed draw one from `Math.random()`
 * (tfjs-core's rand_util: `seed ?? Math.random()`), so two builds of the same
 * model start from different weights. Running the build with `Math.random`
 * replaced by a seeded generator makes it deterministic without touching the
 * layers. The replacement lasts only for the synchronous call.
 */
import { Random } from '../tasks/random';

/**
 * Calls `build` (synchronous: no await inside) with `Math.random` drawing from
 * a generator seeded by `seed` (an integer in [0, 2^32 - 1]), then restores it.
 *
 * ```ts
 * const model = withSeededRandom(1, () => createTransformer(config)); // same weights for seed 1
 * ```
 */
export function withSeededRandom<T>(seed: number, build: () => T): T {
  const rng = new Random(seed);
  const original = Math.random;
  Math.random = () => rng.nextFloat();
  try {
    const result = build();
    if (result instanceof Promise) {
      throw new Error('withSeededRandom: build must be synchronous (Math.random is restored when it returns)');
    }
    return result;
  } finally {
    Math.random = original;
  }
}
