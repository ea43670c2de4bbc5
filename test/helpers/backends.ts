/**
 * Runs a block of tests once per backend that this library supports in Node
 * without native bindings. Every layer test goes through here so that the cpu
 * and wasm backends are both exercised in CI.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';

export const TEST_BACKENDS = ['cpu', 'wasm'] as const;
export type TestBackend = (typeof TEST_BACKENDS)[number];

export function describeEachBackend(title: string, body: (backend: TestBackend) => void): void {
  for (const backend of TEST_BACKENDS) {
    describe(`${title} [${backend}]`, () => {
      beforeAll(async () => {
        await initBackend(backend, { quiet: true });
        expect(tf.getBackend()).toBe(backend);
      });
      body(backend);
    });
  }
}
