/**
 * One WebAssembly memory for tfjs's tensors and the SIMD kernels (`initBackend`'s `sharedHeap`).
 *
 * tfjs-backend-wasm keeps its tensors in the heap of its own module. Unless that heap is shared
 * with other threads, the SIMD kernels run on worker threads over a shared memory of their own, and
 * every kernel call copies its inputs from tfjs's heap into that memory and its outputs back, on the
 * calling thread: 16 ms of a 150 ms gpt-char step (README, Speed). Here the kernels' module takes
 * tfjs's heap instead (simd_kernels.ts `placeInHeap`): a kernel reads its inputs where tfjs keeps
 * them and writes its outputs into tfjs's tensors, in place or by a copy inside the module (`stage`,
 * `unstage`). Two ways to a shared heap:
 *
 * - In a browser, tfjs loads its threaded SIMD build itself on a cross-origin isolated page, and
 *   that build's heap is a shared memory (its Emscripten module's `wasmMemory`):
 *   `shareThreadedHeap` only hands it to the kernels.
 * - In Node, tfjs loads its single-threaded build, so `installSharedHeap` loads the threaded one
 *   and makes it tfjs's 'wasm' backend, with tfjs's own thread count at 1. What it relies on, all of
 *   tfjs-backend-wasm 4.22.0 (any other version is left alone): the threaded build's Emscripten
 *   loader (wasm-out/tfjs-backend-wasm-threaded-simd.js), which accepts a memory (`wasmMemory`),
 *   asks `locateFile` for its worker script right before each `new Worker`, and exports `_malloc`;
 *   and `BackendWasm`'s use of the module's `tfjs` functions, which tfjs's own loader (`init` in
 *   dist/tf-backend-wasm.node.js) makes with `cwrap` as below. The loader starts a pool of 8
 *   pthread workers; with one tfjs thread none of them is ever used, so each is a stand-in that only
 *   answers the loader's 'load' message. Loading it sets `global.Worker` and adds two process
 *   listeners that rethrow; both are undone here.
 *
 * Either way, anything that grows the memory other than tfjs's allocator breaks tfjs's views of it
 * (its next upload throws), so the kernels take their memory from `_malloc`.
 */
import * as tf from '@tensorflow/tfjs';
import type * as TfjsWasm from '@tensorflow/tfjs-backend-wasm';
import { isNodeRuntime } from '../io/atomic';
import { heapRefused, placeInHeap } from './simd_kernels';

/** The tfjs-backend-wasm whose loader and module this file knows (see above); any other is left alone. */
const BUILT_FOR = '4.22.0';

/**
 * The threaded build's memory: it imports a shared memory of at least 256 pages and at most 65536,
 * and makes one of 65536 at most itself (4 GB, all that 32-bit addresses reach; the kernels' module
 * declares that maximum, which any wasm32 memory's fits).
 */
const INITIAL_PAGES = 256;
const MAXIMUM_PAGES = 65536;

/** What this file uses of the Emscripten module. */
interface ThreadedModule {
  cwrap(name: string, returns: string | null, args: string[]): (...args: number[]) => number;
  _malloc(bytes: number): number;
  PThread: { unusedWorkers: Array<{ standIn?: boolean }> };
  tfjs?: Record<string, unknown>;
}

/** A pthread worker that is never started: it answers the loader's 'load' as a loaded worker would. */
function standInWorker(): object {
  const worker = {
    standIn: true,
    onmessage: null as null | ((event: { data: unknown }) => void),
    onerror: null,
    on() {},
    ref() {},
    unref() {},
    terminate() {},
    postMessage(message: { cmd?: string }) {
      if (message?.cmd === 'load') setImmediate(() => worker.onmessage?.({ data: { cmd: 'loaded' } }));
    },
  };
  return worker;
}

/** `require` for Node only, with a module name a browser bundler does not follow. */
function nodeRequire(id: string): unknown {
  return (require as (id: string) => unknown)(id);
}

/** The threaded build's module on `memory`, its process-wide side effects undone. */
async function loadThreadedModule(memory: WebAssembly.Memory): Promise<ThreadedModule> {
  const resolve = (file: string) =>
    (require as unknown as { resolve(id: string): string }).resolve(`@tensorflow/tfjs-backend-wasm/wasm-out/${file}`);
  const global = globalThis as { Worker?: unknown };
  const hadWorker = Object.prototype.hasOwnProperty.call(global, 'Worker');
  const formerWorker = global.Worker;
  const events = ['uncaughtException', 'unhandledRejection'];
  const listenersOf = (event: string) => process.listeners(event as 'uncaughtException') as unknown[];
  const listenersBefore = events.map(listenersOf);
  const config = {
    wasmMemory: memory,
    locateFile(file: string, prefix: string): string {
      if (file.endsWith('.worker.js')) {
        // Called right before each `new Worker(...)` of the pool: that Worker is a stand-in.
        global.Worker = standInWorker;
        return file;
      }
      if (file.endsWith('.wasm')) return resolve(file);
      return prefix + file;
    },
  };
  let ready: Promise<ThreadedModule>;
  try {
    const factory = nodeRequire(resolve('tfjs-backend-wasm-threaded-simd.js')) as (
      config: object,
    ) => Promise<ThreadedModule>;
    ready = factory(config);
  } finally {
    if (hadWorker) global.Worker = formerWorker;
    else delete global.Worker;
    events.forEach((event, i) => {
      for (const listener of listenersOf(event))
        if (!listenersBefore[i].includes(listener)) process.removeListener(event, listener as () => void);
    });
  }
  const module = await ready;
  // A later pthread (none with one thread) would then get a real worker.
  module.PThread.unusedWorkers = module.PThread.unusedWorkers.filter((worker) => worker.standIn !== true);
  // As tfjs's own loader does: the functions BackendWasm calls.
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  return module;
}

/**
 * Makes tfjs's 'wasm' backend the threaded build on a shared memory that the SIMD kernels take
 * too. Node only; before the 'wasm' backend and the SIMD kernels have started. Returns why it did
 * nothing, or undefined once done.
 */
export async function installSharedHeap(): Promise<string | undefined> {
  if (!isNodeRuntime()) return 'it needs Node';
  if (tf.engine().registry.wasm !== undefined) return "the 'wasm' backend has started already";
  // Before loading anything, as placeInHeap checks again at the end.
  const refused = heapRefused();
  if (refused !== undefined) return refused;
  const wasm = nodeRequire('@tensorflow/tfjs-backend-wasm') as typeof TfjsWasm;
  if (wasm.version_wasm !== BUILT_FOR)
    return `it relies on tfjs-backend-wasm ${BUILT_FOR}'s loader and finds version ${wasm.version_wasm}`;
  const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES, shared: true });
  let backend: TfjsWasm.BackendWasm;
  let module: ThreadedModule;
  try {
    module = await loadThreadedModule(memory);
    // Read by BackendWasm's constructor: tfjs's own kernels on the calling thread, as in Node before.
    wasm.setThreadsCount(1);
    backend = new wasm.BackendWasm(module as unknown as ConstructorParameters<typeof wasm.BackendWasm>[0]);
  } catch (error) {
    return `tfjs's threaded WebAssembly build did not start: ${(error as Error).message}`;
  }
  // Last, once nothing can fail: the kernels' memory, then tfjs's backend.
  const placed = placeInHeap({ memory, maximumPages: MAXIMUM_PAGES, malloc: (bytes) => module._malloc(bytes) });
  if (placed !== undefined) return placed;
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', () => backend, 2);
  return undefined;
}

/** What `shareThreadedHeap` uses of a wasm backend's Emscripten module (`BackendWasm.wasm`). */
interface HeapOfBackend {
  wasmMemory?: WebAssembly.Memory;
  _malloc?(bytes: number): number;
}

/**
 * In a browser: when tfjs's 'wasm' backend `backend` runs tfjs's threaded build (which tfjs loads on
 * a cross-origin isolated page), the SIMD kernels take its heap, a shared memory already. Before
 * the SIMD kernels have started. Returns why it did nothing, or undefined once done.
 */
export function shareThreadedHeap(backend: tf.KernelBackend): string | undefined {
  const module = (backend as { wasm?: HeapOfBackend }).wasm;
  const memory = module?.wasmMemory;
  // Without cross-origin isolation a page has no SharedArrayBuffer at all.
  const shared = typeof SharedArrayBuffer === 'function' && memory?.buffer instanceof SharedArrayBuffer;
  if (memory === undefined || !shared || module?._malloc === undefined)
    return (
      'tfjs runs its single-threaded build here, whose heap is not shared (tfjs loads the threaded one ' +
      'on a cross-origin isolated page)'
    );
  const malloc = module._malloc.bind(module);
  return placeInHeap({ memory, maximumPages: MAXIMUM_PAGES, malloc });
}
