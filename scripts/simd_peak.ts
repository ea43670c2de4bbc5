/**
 * The most 4-lane multiply-adds a core does in WebAssembly on this machine, against what our
 * product kernel (`axpyRows`, src/kernels/simd_kernels.ts) does: the ceiling that the README's
 * Speed section sets the PyTorch peer's figures against.
 *
 *   node scripts/run.cjs scripts/simd_peak.ts
 *
 * prints one JSON line: the machine (as the bench's lines record it), `peakGmacPerThread` (a loop
 * of PEAK_CHAINS independent chains of 4-lane multiply-adds on one thread: relaxed SIMD's fused
 * one where the engine validates it, as our kernels, else a multiply and an add),
 * `peakGmacAllThreads` (the same loop on `peakThreads` threads at once, as many as our kernels use:
 * the threads' rates summed; less than peakThreads times one thread's where threads share a core's
 * multiply-add units), and `productGmac` for a 512 x 512 x 512 `tf.matMul` on the wasm backend,
 * our kernels on 1 thread and on the kernel threads, and `kernelGmacInCache` for `axpyRows` itself on
 * one thread on a product whose right operand stays in the L1 cache (IN_CACHE: 3,000 x 128 by 128 x 12,
 * one tile wide, 6 kB): what the kernel's own instructions allow, memory aside. Each figure is the
 * median of 7 timed repeats after a warm-up.
 */
import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/backend';
import { relaxedSimdKernels, simdKernels, stage } from '../src/kernels/simd_kernels';
import { kernelThreads, kernelThreadsReady, setKernelThreads } from '../src/kernels/threads';
import { machineInfo, measure, median, round } from '../src/train/benchmark';
import { PEAK_CHAINS, peakFunction, peakOnThreads } from './bench/simd_peak';

/** `kernelGmacInCache`'s product, (M, K) by (K, N): B is K x N floats (6 kB), N one 3 x 12 tile wide. */
const IN_CACHE = { M: 3000, K: 128, N: 12 };

/** GMAC/s of `axpyRows` alone, on the calling thread, on the IN_CACHE product (operands in the module's memory). */
async function kernelGmacInCache(): Promise<number | null> {
  const kernels = simdKernels();
  if (kernels === null) return null;
  const { M, K, N } = IN_CACHE;
  // Operands in regions of the kernels' own (from address 0 the memory may be tfjs's: sharedHeap).
  const values = (n: number, from: number) => Float32Array.from({ length: n }, (_x, i) => Math.sin(from + i));
  const [a, b, c] = stage([values(M * K, 0), values(K * N, M * K)], [], [M * N]);
  const calls = 20;
  const product = () => {
    for (let i = 0; i < calls; i++) kernels.axpyRows(4 * a, 4 * K, 4, 4 * b, 4 * N, 4 * c, 4 * N, M, K, 4 * N, 1, 0);
  };
  return (calls * M * K * N) / (await medianMs(product)) / 1e6;
}

/** The median of 7 timed repeats of `work` after 2 untimed ones, in ms (the bench's `measure`). */
async function medianMs(work: () => void): Promise<number> {
  return (await measure(work, { warmup: 2, repeats: 7 })).medianMs;
}

async function main(): Promise<void> {
  await initBackend('wasm', { quiet: true });
  const threads = kernelThreads();
  const machine = machineInfo();

  const peak = peakFunction();
  const iterations = 10_000_000;
  /** GMAC/s of one thread that ran the loop in `ms`. */
  const gmacIn = (ms: number) => (PEAK_CHAINS * 4 * iterations) / ms / 1e6;
  const peakGmacPerThread = peak === null ? null : gmacIn(await medianMs(() => peak.run(iterations, 1e-7)));
  // The same loop on as many threads as our kernels use, all at once: the threads' rates summed, 7 times.
  const together: number[] = [];
  for (let repeat = 0; repeat < 7; repeat++) {
    const runs = await peakOnThreads(threads, iterations, 1e-7);
    if (runs === null) break;
    together.push(runs.reduce((sum, { ms }) => sum + gmacIn(ms), 0));
  }
  const peakGmacAllThreads = together.length === 0 ? null : median(together);

  const n = 512;
  const [a, b] = [tf.randomNormal([n, n]), tf.randomNormal([n, n])];
  const product = () => {
    for (let i = 0; i < 10; i++) tf.matMul(a, b).dispose();
    tf.matMul(a, b).dataSync();
  };
  const productGmac: Record<string, number> = {};
  for (const count of [...new Set([1, threads])]) {
    setKernelThreads(count);
    await kernelThreadsReady();
    productGmac[`threads${kernelThreads()}`] = round((11 * n ** 3) / (await medianMs(product)) / 1e6);
  }
  setKernelThreads(threads);
  tf.dispose([a, b]);
  const inCache = await kernelGmacInCache();

  console.log(
    JSON.stringify({
      name: 'simd-peak',
      date: new Date().toISOString().slice(0, 10),
      command: 'node scripts/run.cjs scripts/simd_peak.ts',
      machine,
      peakRelaxedSimd: peak?.relaxed ?? null,
      kernelsRelaxedSimd: relaxedSimdKernels(),
      peakChains: PEAK_CHAINS,
      peakGmacPerThread: peakGmacPerThread === null ? null : round(peakGmacPerThread),
      peakThreads: threads,
      peakGmacAllThreads: peakGmacAllThreads === null ? null : round(peakGmacAllThreads),
      productGmac,
      kernelGmacInCache: inCache === null ? null : round(inCache),
    }),
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`simd_peak: ${(error as Error).stack ?? error}`);
    process.exit(1);
  },
);
