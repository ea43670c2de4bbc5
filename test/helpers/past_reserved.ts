import { simdKernels } from '../../src/kernels/simd_kernels';

/**
 * Floats watched past each `reserve` of the SIMD module's memory. `stage` reserves a call's regions
 * and 4 floats of slack a kernel may read (simd_kernels.ts); the regions end on a whole line of 16
 * floats and the next call's start on a whole page, so the 12 floats after the slack belong to no
 * region of this call or of the one before (nor to a resident block: those end before the staging
 * area starts).
 */
const WATCHED = 12;

/**
 * Watches, until `stop`, that no kernel call writes past the memory reserved for it: at each
 * `reserve` (every call's `stage` makes one before it writes anything), the floats just past the
 * count are filled with NaN, and checked at the next `reserve` and at `stop`. `stop` restores
 * `reserve` and returns where such a write was seen (empty when none).
 */
export function watchPastReserved(): { stop: () => string[] } {
  const kernels = simdKernels()!;
  const reserve = kernels.reserve;
  const seen: string[] = [];
  let watched: [number, number] | null = null;
  const check = () => {
    if (watched === null) return;
    const [from, to] = watched;
    const written = Array.from(kernels.floats.subarray(from, to)).findIndex((v) => !Number.isNaN(v));
    if (written >= 0) seen.push(`float ${written} past a reserve of ${from} floats`);
  };
  kernels.reserve = (count: number) => {
    check();
    reserve(count);
    const to = Math.min(count + WATCHED, kernels.floats.length);
    kernels.floats.fill(NaN, count, to);
    watched = [count, to];
  };
  return {
    stop: () => {
      check();
      kernels.reserve = reserve;
      return seen;
    },
  };
}
