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
