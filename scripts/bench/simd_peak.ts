/**
 * The 4-lane multiply-add peak of one core in WebAssembly (scripts/simd_peak.ts prints it): a
 * loop of independent chains that nothing but the multiply-add units limits.
 */
import { ARITHMETICS, type Arithmetic } from '../../src/kernels/simd_kernels';
import { assembleModule, defineFunction, f32, f32x4, forLoop, get, i32, set } from '../../src/kernels/wasm_assembler';

/**
 * Independent accumulators: more than a core needs in flight to keep both of its multiply-add
 * units busy (2 units x 4 cycles of latency on Zen 4 and Zen 5), and few enough for the 16 vector
 * registers that V8 has on x64.
 */
export const PEAK_CHAINS = 12;

/**
 * A module with one function, `peak(iterations, out)`: each of PEAK_CHAINS accumulators, 1.0 in
 * every lane, becomes acc * 1 + step `iterations` times in `math` (our kernels' arithmetic); their
 * lanes are stored at byte `out` (4 * PEAK_CHAINS floats), so that nothing can be left out.
 */
export function peakModule(math: Arithmetic): Uint8Array<ArrayBuffer> {
  const peak = defineFunction(
    'peak',
    ['i32', 'i32', 'f32'],
    ['i32', 'v128', 'v128', ...Array<'v128'>(PEAK_CHAINS).fill('v128')],
    ([iterations, out, step], [i, one, increment, ...acc]) => [
      ...set(one, f32x4.splat(f32.const(1))),
      ...set(increment, f32x4.splat(get(step))),
      ...acc.flatMap((a) => set(a, get(one))),
      ...forLoop(
        i,
        i32.const(0),
        get(iterations),
        1,
        acc.flatMap((a) => set(a, math.madd(get(a), get(one), get(increment)))),
      ),
      ...acc.flatMap((a, k) => f32x4.store(get(out), get(a), 16 * k)),
    ],
  );
  return assembleModule([peak]);
}

/**
 * `peak` of peakModule in the first of our kernels' arithmetics whose module validates (as our
 * kernels choose), instantiated on a memory of its own; null without WebAssembly SIMD.
 */
export function peakFunction(): {
  relaxed: boolean;
  run: (iterations: number, step: number) => Float32Array;
} | null {
  for (const math of ARITHMETICS) {
    const bytes = peakModule(math);
    if (!WebAssembly.validate(bytes)) continue;
    const memory = new WebAssembly.Memory({ initial: 1 });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    const peak = instance.exports.peak as (iterations: number, out: number, step: number) => void;
    return {
      relaxed: math.relaxed,
      run: (iterations, step) => {
        peak(iterations, 0, step);
        return new Float32Array(memory.buffer, 0, 4 * PEAK_CHAINS).slice();
      },
    };
  }
  return null;
}
