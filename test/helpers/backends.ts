/**
 * Runs a block of tests once per backend that this library supports in Node
 * without native bindings. Every layer test goes through here so that the cpu
 * and wasm backends are both exercised in CI.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';

export const TEST_BACKENDS = ['cpu', 'wasm'] as const;
export type TestBackend = (typeof TEST_BACKENDS)[number];

/**
 * The backends a test file runs on: both, except in jest.config.js's relaxed-SIMD project, whose
 * kernel tests run on wasm alone (cpu and wasm run the same SIMD module; the first project runs both).
 */
export const BACKENDS_OF_THIS_RUN: readonly TestBackend[] =
  process.env.TFJS_ATTENTION_TEST_SIMD === 'relaxed' ? ['wasm'] : TEST_BACKENDS;

export function describeEachBackend(title: string, body: (backend: TestBackend) => void): void {
  for (const backend of BACKENDS_OF_THIS_RUN) {
    describe(`${title} [${backend}]`, () => {
      beforeAll(async () => {
        await initBackend(backend, { quiet: true });
        expect(tf.getBackend()).toBe(backend);
      });
      body(backend);
    });
  }
}

/**
 * The cpu backend under another name, with tfjs's cpu kernels and none of ours: the library's
 * fused kernels and in-place cache writes run on 'cpu' and 'wasm' only (src/kernels), so here every
 * op takes the path in tfjs ops that webgl, webgpu and tensorflow take. Never chosen by tfjs itself.
 */
export const OPS_ONLY_BACKEND = 'ops-only';

/** Registers OPS_ONLY_BACKEND (once) and makes it the current backend. */
export async function useOpsOnlyBackend(): Promise<void> {
  if (tf.findBackendFactory(OPS_ONLY_BACKEND) == null) {
    const cpu = tf.findBackendFactory('cpu');
    if (cpu == null) throw new Error('useOpsOnlyBackend: tfjs has no cpu backend');
    tf.registerBackend(OPS_ONLY_BACKEND, cpu, -1);
    for (const kernel of tf.getKernelsForBackend('cpu')) {
      if (!kernel.kernelName.startsWith('TfjsAttention'))
        tf.registerKernel({ ...kernel, backendName: OPS_ONLY_BACKEND });
    }
  }
  await tf.setBackend(OPS_ONLY_BACKEND);
}

/** The paths a test file checks: the fused kernels on cpu and wasm, the plain tfjs ops on OPS_ONLY_BACKEND. */
export type TestPath = TestBackend | typeof OPS_ONLY_BACKEND;

/** `describeEachBackend`, then the same tests on OPS_ONLY_BACKEND. */
export function describeEachPath(title: string, body: (path: TestPath) => void): void {
  describeEachBackend(title, body);
  describe(`${title} [${OPS_ONLY_BACKEND}]`, () => {
    beforeAll(useOpsOnlyBackend);
    body(OPS_ONLY_BACKEND);
  });
}
