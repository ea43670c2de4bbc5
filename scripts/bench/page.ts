/**
 * The page side of `npm run bench -- --browser`: scripts/bench/browser.ts bundles this file with
 * the library's sources and TensorFlow.js, opens it in headless Chromium once per backend and calls
 * `window.bench.start(backend)`, then `window.bench.run(name, settings)` for each benchmark. The
 * benchmarks are the Node bench's own (cases.ts); only the backend set-up is the page's.
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

import { initBackend, webglRenderer } from '../../src/backend';
import { hasFusedAttention } from '../../src/kernels/attention';
import { relaxedSimdKernels, sharedHeapKernels } from '../../src/kernels/simd_kernels';
import { kernelThreads } from '../../src/kernels/threads';
import { BenchName, BenchSettings, NODE_ONLY, PORTABLE_CASES, Result } from './cases';

/** What ran the benchmarks in the page. */
export interface PageEnvironment {
  backend: string;
  tfjs: string;
  /** Threads of the wasm backend: 1 without cross-origin isolation (no SharedArrayBuffer). */
  wasmThreads: number;
  /** Threads of this library's SIMD kernels (src/kernels/threads.ts): 1 without isolation too. */
  kernelThreads: number;
  /** Whether those kernels run relaxed SIMD's fused multiply-add (Chromium has it). */
  relaxedSimd: boolean;
  /** Whether our kernels ran in tfjs's heap (initBackend's sharedHeap). */
  sharedHeap: boolean;
  /** Whether the page is cross-origin isolated (the runner serves it so). */
  crossOriginIsolated: boolean;
  /** Whether MultiHeadAttention runs the fused SIMD kernels (initBackend('wasm') installs them). */
  fusedAttention: boolean;
  /** WebGL's unmasked renderer (WEBGL_debug_renderer_info), else gl.RENDERER; '' without WebGL. */
  glRenderer: string;
}

export interface PageBench {
  /** `wasmPath`: the folder the .wasm files are served from; `sharedHeap`: initBackend's. */
  start(backend: string, wasmPath: string, sharedHeap: boolean): Promise<PageEnvironment>;
  /** The benchmark's lines, or one `skipped` line when it cannot run in a page. */
  run(name: BenchName, settings: BenchSettings): Promise<Result[]>;
}

const bench: PageBench = {
  async start(backend, wasmPath, sharedHeap) {
    setWasmPaths(wasmPath);
    const chosen = await initBackend(backend, { quiet: true, sharedHeap });
    return {
      backend: chosen,
      tfjs: tf.version.tfjs,
      wasmThreads: chosen === 'wasm' ? getThreadsCount() : 0,
      kernelThreads: chosen === 'wasm' ? kernelThreads() : 0,
      relaxedSimd: chosen === 'wasm' && relaxedSimdKernels(),
      sharedHeap: chosen === 'wasm' && sharedHeapKernels(),
      crossOriginIsolated: self.crossOriginIsolated,
      fusedAttention: hasFusedAttention(32, 32),
      glRenderer: webglRenderer() ?? '',
    };
  },
  async run(name, settings) {
    const run = PORTABLE_CASES[name];
    if (run == null) {
      return [{ name, backend: tf.getBackend(), skipped: NODE_ONLY[name] ?? `no benchmark ${name}` }];
    }
    return [await run(settings)].flat();
  },
};

(globalThis as unknown as { bench: PageBench }).bench = bench;
