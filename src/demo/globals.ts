/**
 * The two libraries the demo page loads with script tags before demo.js: TensorFlow.js
 * (`tf.min.js`, the global `tf`) and this package's script-tag bundle
 * (`tfjs-attention.min.js`, the global `tfAttention`). The demo imports the package only for its
 * types, so it runs on exactly the bundle that users include (scripts/build_browser.ts enforces it).
 */
import type * as TfAttention from '../browser';

/** This package's API, as `tfjs-attention.min.js` exposes it. */
export type Api = typeof TfAttention;

/** The global `tfAttention`; a readable error when the page forgot the script. */
export function library(): Api {
  const api = (globalThis as unknown as { tfAttention?: Api }).tfAttention;
  if (api === undefined) {
    throw new Error('tfAttention is not defined: the page must load tfjs-attention.min.js before demo.js');
  }
  return api;
}

/** The wasm backend's setWasmPaths when the page included tf-backend-wasm.min.js (it sets `tf.wasm`). */
export function wasmSetPaths(): ((prefix: string) => void) | undefined {
  const wasm = (globalThis as unknown as { tf?: { wasm?: { setWasmPaths?: (prefix: string) => void } } }).tf?.wasm;
  return wasm?.setWasmPaths;
}

/** The page's element with this id; a readable error naming the page when it has none. */
export function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`${location.pathname}: the page has no element #${id}`);
  return found as T;
}

/**
 * What runs a backend, for the page's header: the GPU through WebGL (or the CPU, where WebGL draws
 * in software), the CPU through WebAssembly (saying when 'auto' took it over a software WebGL), or
 * plain JavaScript.
 */
export function backendNote(api: Api, backend: string, choice = 'auto'): string {
  const software = api.softwareWebglRenderer();
  switch (backend) {
    case 'webgl':
      return software === undefined ? 'GPU, through WebGL' : `WebGL drawn in software on the CPU: ${software}`;
    case 'wasm':
      return choice === 'auto' && software !== undefined
        ? `CPU, through WebAssembly: this WebGL draws in software (${software}), where wasm is far faster`
        : 'CPU, through WebAssembly';
    case 'cpu':
      return 'plain JavaScript';
    default:
      return backend;
  }
}
