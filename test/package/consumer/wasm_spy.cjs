// Counts every way of compiling, validating or allocating WebAssembly. Loaded before anything
// else (by the Node scripts and the browser pages alike), it wraps the constructors Module,
// Instance and Memory and the functions compile, instantiate, validate (and the streaming
// variants, where they exist) on the global WebAssembly object. `wasmCalls()` returns the counts
// so far by name; `mark(label)` keeps a snapshot under `label` (see after_tfjs.cjs), `marks()`
// returns them.
'use strict';

const counts = {};
const snapshots = {};
const wasm = globalThis.WebAssembly;

for (const name of ['Module', 'Instance', 'Memory']) {
  const original = wasm[name];
  counts[name] = 0;
  // A Proxy keeps `instanceof WebAssembly.Module` and the static methods working.
  wasm[name] = new Proxy(original, {
    construct(target, args, newTarget) {
      counts[name] += 1;
      return Reflect.construct(target, args, newTarget === wasm[name] ? target : newTarget);
    },
  });
}

for (const name of ['compile', 'instantiate', 'validate', 'compileStreaming', 'instantiateStreaming']) {
  const original = wasm[name];
  if (typeof original !== 'function') continue;
  counts[name] = 0;
  wasm[name] = function (...args) {
    counts[name] += 1;
    return original.apply(wasm, args);
  };
}

function wasmCalls() {
  return { ...counts };
}

function mark(label) {
  snapshots[label] = wasmCalls();
}

function marks() {
  return { ...snapshots };
}

module.exports = { wasmCalls, mark, marks };
