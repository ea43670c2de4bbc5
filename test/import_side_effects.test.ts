/**
 * Importing the package changes nothing that a plain tfjs program relies on: it registers its
 * layer classes with tfjs serialization and, in Node, the `file://` routes, and nothing else. No
 * backend factory, no kernel, no layer's call replaced, no WebAssembly module compiled or memory
 * allocated, no tensor, and tfjs's backend is still unchosen. (test/package/consumer.test.ts checks
 * the same for the packed package in Node CJS, Node ESM and Chromium, against a plain tfjs script's
 * results.)
 *
 * Jest gives each test file its own module registry, so the tfjs imported here starts clean.
 */
import * as tf from '@tensorflow/tfjs';

import { REGISTERED_NAMES } from './helpers/registered_classes';

const BACKEND_NAMES = ['cpu', 'wasm', 'webgl', 'tensorflow'];

/** Everything of tfjs's global state that an import could change, as plain data. */
function tfjsState() {
  const engine = tf.engine() as unknown as {
    backendName?: string | null;
    registryFactory: Record<string, unknown>;
    state: { numTensors: number };
  };
  return {
    backendName: engine.backendName ?? null,
    backendFactories: Object.keys(engine.registryFactory).sort(),
    kernels: Object.fromEntries(
      BACKEND_NAMES.map((name) => [
        name,
        tf
          .getKernelsForBackend(name)
          .map((k) => k.kernelName)
          .sort(),
      ]),
    ),
    // The gradient of every op (the configs themselves, compared by identity).
    gradients: Object.fromEntries(
      tf.getKernelsForBackend('cpu').map((k) => [k.kernelName, tf.getGradient(k.kernelName)]),
    ),
    // The calls of tfjs-layers' Dense and LayerNormalization (initBackend replaces them: installLayerFixes).
    layerCalls: ['Dense', 'LayerNormalization'].map(
      (name) =>
        (
          tf.serialization.SerializationMap.getMap().classNameMap[name][0] as unknown as {
            prototype: { call: unknown };
          }
        ).prototype.call,
    ),
    // Not tf.memory(): it would initialise a backend.
    numTensors: engine.state.numTensors,
    saveRoutesForFile: tf.io.getSaveHandlers('file://x').length,
  };
}

/** Counts calls of the WebAssembly constructors and compile functions while `run` runs. */
function countWebAssembly(run: () => void): number {
  const wasm = WebAssembly as unknown as Record<string, unknown>;
  const names = ['Module', 'Instance', 'Memory', 'compile', 'instantiate', 'compileStreaming', 'instantiateStreaming'];
  const originals = names.map((name) => wasm[name]);
  let calls = 0;
  for (const name of names) {
    const original = wasm[name] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof original !== 'function') continue;
    wasm[name] = new Proxy(original, {
      apply: (target, self, args) => ((calls += 1), Reflect.apply(target, self, args)),
      construct: (target, args) => ((calls += 1), Reflect.construct(target, args)),
    });
  }
  try {
    run();
  } finally {
    names.forEach((name, i) => (wasm[name] = originals[i]));
  }
  return calls;
}

test('importing the package registers its classes and the file:// routes, and nothing else', () => {
  const before = tfjsState();
  const classesBefore = Object.keys(tf.serialization.SerializationMap.getMap().classNameMap);
  expect(before.backendName).toBeNull();

  const webAssemblyCalls = countWebAssembly(() => require('../src'));

  const after = tfjsState();
  expect(webAssemblyCalls).toBe(0);
  expect(after).toEqual({ ...before, saveRoutesForFile: 1 });
  const added = Object.keys(tf.serialization.SerializationMap.getMap().classNameMap).filter(
    (name) => !classesBefore.includes(name),
  );
  // ... and the Trainer's optimizer, registered like tfjs's own optimizers.
  expect(added.sort()).toEqual([...REGISTERED_NAMES, 'TfjsAttentionAdam'].sort());
  // Synchronous tfjs after the import runs on tfjs's own default, as without it.
  expect(tf.tidy(() => tf.add(1, 2).arraySync())).toBe(3);
  expect(tf.getBackend()).toBe('cpu');
});
