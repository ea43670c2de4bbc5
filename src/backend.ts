/**
 * Backend choice: the one place in the library that picks a TensorFlow.js backend.
 *
 * In Node the order is tfjs-node's native TensorFlow ('tensorflow', when the optional
 * `@tensorflow/tfjs-node` is installed), then WebAssembly ('wasm', ~15x faster than 'cpu' for
 * matmul), then plain JavaScript ('cpu'). In a browser it is 'webgl', then 'wasm', then 'cpu', with
 * 'wasm' first where WebGL draws in software (SwiftShader, llvmpipe; see `chooseAutoBackend`).
 *
 * Importing this file changes nothing in tfjs: the wasm backend package is loaded only when a
 * backend is being chosen (`initBackend`, or `ensureBackend` from the library's async entry
 * points), because importing `@tensorflow/tfjs-backend-wasm` registers 'wasm' at priority 2 and
 * from then on every synchronous tfjs call throws until someone awaits its initialisation.
 *
 * The wasm backend of tfjs 4.22 cannot train everything out of the box, so choosing it with
 * `initBackend` also registers the kernel that training here needs and wasm lacks, and by default
 * replaces five slow ones (see `installWasmExtras`).
 *
 * This file is bundled for browsers with esbuild, so `@tensorflow/tfjs-node` is only ever loaded
 * through a Node-only `require` with a non-literal module name (see `requireInNode`): a bundler
 * cannot resolve it and therefore never tries to include libtensorflow's bindings.
 */
import * as tf from '@tensorflow/tfjs';
import { checkOptionNames, optionNames } from './options';
import { installGradientFixes } from './kernels/tile_gradient';
import { installLayerFixes } from './layers/tfjs_layers';
import { expOnWasm } from './kernels/exp';
import { matMulOnWasm } from './kernels/matmul';
import { sumLeadingOnWasm } from './kernels/sum';
import { concatOnWasm, splitVOnWasm } from './kernels/concat';
import { tileOnWasm } from './kernels/tile';
import { transposeLastTwoOnWasm } from './kernels/transpose';
import { installSharedHeap, shareThreadedHeap } from './kernels/shared_heap';
import { inSharedHeap } from './kernels/simd_kernels';
import { checkThreadCount, kernelThreadsReady, setKernelThreads } from './kernels/threads';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { isNodeRuntime } from './io/atomic';

/** A backend this library can run on. 'webgl' is only meaningful in a browser. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu' | 'webgl';

/** Every value `initBackend` accepts: 'auto' plus the backend names, in the order to show users. */
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu', 'webgl'] as const;

/** One of `BACKEND_CHOICES`. */
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** The environment variable that picks the backend when `initBackend` gets no name. */
export const BACKEND_ENV_VAR = 'TFJS_ATTENTION_BACKEND';

/** The environment variable that, set to 1, makes `initBackend`'s `sharedHeap` true by default (Node). */
export const SHARED_HEAP_ENV_VAR = 'TFJS_ATTENTION_SHARED_HEAP';

/** `initBackend`'s `sharedHeap` when not given: SHARED_HEAP_ENV_VAR is 1, in Node. */
export function sharedHeapByDefault(): boolean {
  return isNodeRuntime() && process.env[SHARED_HEAP_ENV_VAR] === '1';
}

/** Options of `initBackend`. */
export interface InitBackendOptions {
  /** Do not print the "using backend" line (nor an auto-choice fallback note). Default false. */
  quiet?: boolean;
  /**
   * Leave tfjs's own kernels, gradients and layer calls as they are (restoring them
   * if an earlier call replaced them): on wasm only the kernel tfjs lacks is added. Default false:
   * replace them, process-wide, with the faster equivalents of `installWasmExtras` (on wasm),
   * `installGradientFixes` (the `Tile` gradient) and `installLayerFixes` (`tf.layers.dense` and
   * `tf.layers.layerNormalization` through the fused kernels), the last two on every backend.
   */
  keepTfjsKernels?: boolean;
  /**
   * Threads for the library's SIMD kernels on wasm and cpu, the calling one included
   * (`setKernelThreads`; 1 keeps them on the calling thread). Default: the
   * TFJS_ATTENTION_THREADS environment variable in Node, else the machine's cores, up to 4.
   */
  threads?: number;
  /**
   * On wasm: tfjs's tensors and the SIMD kernels in one shared WebAssembly memory, so that a kernel
   * reads its inputs and writes its outputs where tfjs keeps them, instead of copying both ways
   * between two memories (src/kernels/shared_heap.ts). In Node, tfjs's threaded WebAssembly build
   * as the wasm backend, with tfjs's own kernels still on one thread: only when it is the first
   * choice of the wasm backend in the process. In a browser, the heap of the threaded build that
   * tfjs loads itself on a cross-origin isolated page. Either way only before the kernels have run;
   * otherwise, or where it cannot be, the backend starts as usual and a line says why, and
   * `sharedHeapKernels()` says whether it is in use. Default: true when the
   * TFJS_ATTENTION_SHARED_HEAP environment variable is 1 in Node, else false.
   */
  sharedHeap?: boolean;
}

/** What `chooseAutoBackend` needs to know about the running environment. */
export interface BackendAvailability {
  /** `@tensorflow/tfjs-node` can be required (only consulted in Node). */
  tensorflow: boolean;
  /** The wasm backend has not failed to load or initialise yet. */
  wasm: boolean;
  /** WebGL is usable (only consulted in a browser). */
  webgl: boolean;
  /** WebGL draws in software on the CPU (`softwareWebglRenderer`), where wasm is far faster. */
  softwareWebgl: boolean;
  /** Running in Node rather than a browser. */
  isNode: boolean;
}

// Kept in a variable, never written as a literal inside require(...), so that esbuild (and other
// bundlers) cannot resolve it statically and do not try to bundle the native bindings.
const TFJS_NODE_MODULE = '@tensorflow/tfjs-node';

const INSTALL_TFJS_NODE_HINT = 'npm i @tensorflow/tfjs-node; it downloads libtensorflow';

/**
 * The auto choice as a pure function, so its order can be tested without the backends:
 * Node: tensorflow > wasm > cpu; browser: webgl > wasm > cpu, except where WebGL draws in software
 * (SwiftShader, llvmpipe: headless browsers, machines without a GPU driver), where the order is
 * wasm > webgl > cpu, as webgl there trains about 15x slower than wasm. 'cpu' is always possible
 * because `@tensorflow/tfjs` bundles it.
 */
export function chooseAutoBackend(available: BackendAvailability): BackendName {
  if (available.isNode && available.tensorflow) return 'tensorflow';
  if (!available.isNode && available.webgl && !available.softwareWebgl) return 'webgl';
  if (available.wasm) return 'wasm';
  if (!available.isNode && available.webgl) return 'webgl';
  return 'cpu';
}

/** Renderers that draw WebGL in software on the CPU: SwiftShader (Chromium's), Mesa's llvmpipe and softpipe. */
const SOFTWARE_GL = /swiftshader|llvmpipe|softpipe/i;

/**
 * This page's WebGL renderer (the unmasked name where the browser gives it, e.g. "ANGLE (..., SwiftShader
 * Device ...)"), or undefined outside a browser page or without WebGL.
 */
export function webglRenderer(): string | undefined {
  if (typeof document === 'undefined') return undefined;
  const canvas = document.createElement('canvas');
  const gl = canvas.getContext('webgl2') ?? canvas.getContext('webgl');
  if (gl == null) return undefined;
  // Browsers mask gl.RENDERER (Chromium: "WebKit WebGL"); the extension still gives the real one.
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  // A page may hold only a few contexts at once: give this one back.
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return renderer;
}

/** Whether a WebGL renderer's name is one that draws in software (SOFTWARE_GL). */
export function isSoftwareRenderer(renderer: string): boolean {
  return SOFTWARE_GL.test(renderer);
}

/**
 * The renderer's name when this page's WebGL draws in software on the CPU (SwiftShader, llvmpipe),
 * else undefined (a GPU, no WebGL, or not a browser). There `initBackend('auto')` prefers wasm.
 */
export function softwareWebglRenderer(): string | undefined {
  const renderer = webglRenderer();
  return renderer !== undefined && isSoftwareRenderer(renderer) ? renderer : undefined;
}

/**
 * `require(id)` in Node's CommonJS; throws where there is no `require` (a browser bundle).
 * The id is a parameter on purpose: see TFJS_NODE_MODULE.
 */
function requireInNode(id: string): unknown {
  if (typeof require !== 'function') {
    throw new Error('require is not available (not running in Node.js)');
  }
  return require(id);
}

/** Result of the one attempt per process to load tfjs-node; `reason` says why it failed. */
let tfjsNodeProbe: { ok: true } | { ok: false; reason: string } | undefined;

function probeTfjsNode(): { ok: true } | { ok: false; reason: string } {
  if (tfjsNodeProbe !== undefined) return tfjsNodeProbe;
  if (!isNodeRuntime()) {
    tfjsNodeProbe = { ok: false, reason: 'it needs Node.js (tfjs-node is a native binding)' };
    return tfjsNodeProbe;
  }
  try {
    // Loading it registers the 'tensorflow' backend with tfjs-core as a side effect.
    requireInNode(TFJS_NODE_MODULE);
    tfjsNodeProbe = { ok: true };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const notInstalled = e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(TFJS_NODE_MODULE);
    tfjsNodeProbe = {
      ok: false,
      reason: notInstalled
        ? `it needs ${TFJS_NODE_MODULE}, which is not installed (${INSTALL_TFJS_NODE_HINT})`
        : `${TFJS_NODE_MODULE} is installed but failed to load: ${e.message}`,
    };
  }
  // tfjs-node registers its backend on the tfjs-core it imports; if npm gave it a different copy
  // (mismatched versions) our `tf` would never see it.
  if (tfjsNodeProbe.ok && tf.findBackendFactory('tensorflow') == null) {
    tfjsNodeProbe = {
      ok: false,
      reason:
        `${TFJS_NODE_MODULE} loaded but registered its backend with another copy of ` +
        `@tensorflow/tfjs-core; install the same version as @tensorflow/tfjs (${tf.version.tfjs})`,
    };
  }
  return tfjsNodeProbe;
}

/**
 * True when `@tensorflow/tfjs-node` can be required here (Node only). The first call tries to
 * load it and remembers the answer for the process; loading it registers the 'tensorflow' backend.
 */
export function isTfjsNodeAvailable(): boolean {
  return probeTfjsNode().ok;
}

/**
 * Initialises a backend and makes it current; returns its name.
 *
 * `name` defaults to the TFJS_ATTENTION_BACKEND environment variable when set, else 'auto'.
 * 'auto' takes the first backend that initialises in the order of `chooseAutoBackend`. An explicit
 * name that cannot be initialised, or a name not in `BACKEND_CHOICES`, is an Error that says why.
 * Prints `tfjs-attention: using backend <name>` to stderr (stdout stays clean for `--json`
 * output) when the backend differs from the last one announced, unless `opts.quiet`.
 * Calling it again with the same choice is cheap: the backend is already set up.
 *
 * ```ts
 * const backend = await initBackend(); // 'wasm' in Node without tfjs-node
 * ```
 */
export async function initBackend(name?: string, opts: InitBackendOptions = {}): Promise<BackendName> {
  checkOptionNames(
    'initBackend',
    opts,
    optionNames<InitBackendOptions>({ quiet: true, keepTfjsKernels: true, threads: true, sharedHeap: true }),
  );
  const choice = parseChoice(name);
  if (opts.threads !== undefined) checkThreadCount(opts.threads, 'initBackend: threads');
  const log = (line: string) => {
    if (!opts.quiet) console.error(`tfjs-attention: ${line}`);
  };

  let chosen: BackendName;
  const sharedHeap = opts.sharedHeap ?? sharedHeapByDefault();
  const setting: BackendSetting = { keepTfjsKernels: opts.keepTfjsKernels === true, sharedHeap, log };
  if (choice === 'auto') {
    chosen = await initAuto(setting);
  } else {
    const failure = await trySetBackend(choice, setting);
    if (failure !== undefined) throw new Error(`backend '${choice}' cannot be used: ${failure}`);
    chosen = choice;
  }

  installGradientFixes({ replaceTfjsGradients: opts.keepTfjsKernels !== true });
  installLayerFixes({ replaceTfjsCalls: opts.keepTfjsKernels !== true });
  if (opts.threads !== undefined) setKernelThreads(opts.threads);
  // The kernel threads start now rather than at the first kernel, which would run on one thread.
  if (chosen === 'wasm' || chosen === 'cpu') await kernelThreadsReady();

  if (!opts.quiet && announced !== chosen) {
    log(`using backend ${chosen}`);
    announced = chosen;
  }
  return chosen;
}

/** The backend named in the last "using backend" line, so that it is printed once per change. */
let announced: BackendName | undefined;

/** Resolves the requested name (argument, else environment variable, else 'auto') and checks it. */
function parseChoice(name: string | undefined): BackendChoice {
  let value = name;
  let source = 'the argument of initBackend';
  if (value === undefined) {
    const fromEnv = isNodeRuntime() ? process.env[BACKEND_ENV_VAR] : undefined;
    if (fromEnv !== undefined && fromEnv.trim() !== '') {
      value = fromEnv;
      source = `the ${BACKEND_ENV_VAR} environment variable`;
    } else {
      return 'auto';
    }
  }
  const normalized = value.trim().toLowerCase();
  if ((BACKEND_CHOICES as readonly string[]).includes(normalized)) return normalized as BackendChoice;
  throw new Error(`unknown backend '${value}' (from ${source}); valid names: ${BACKEND_CHOICES.join(', ')}`);
}

/** How `initBackend` sets a backend up: its options as `trySetBackend` takes them. */
interface BackendSetting {
  keepTfjsKernels: boolean;
  sharedHeap: boolean;
  log: (line: string) => void;
}

/** 'auto': walks `chooseAutoBackend`'s order, dropping each backend that fails to initialise. */
async function initAuto(setting: BackendSetting): Promise<BackendName> {
  const { log } = setting;
  const node = isNodeRuntime();
  const available: BackendAvailability = {
    isNode: node,
    tensorflow: node && isTfjsNodeAvailable(),
    // Loaded only when it is tried (trySetBackend): loading it registers 'wasm' with tfjs.
    wasm: true,
    webgl: !node && tf.findBackendFactory('webgl') != null,
    softwareWebgl: !node && softwareWebglRenderer() !== undefined,
  };
  // tfjs-node simply absent is the normal case here; installed but broken deserves a note.
  const probe = probeTfjsNode();
  if (node && !probe.ok && !probe.reason.includes('not installed')) {
    log(`backend tensorflow is unavailable (${probe.reason}); trying the next one`);
  }
  for (;;) {
    const candidate = chooseAutoBackend(available);
    const failure = await trySetBackend(candidate, setting);
    if (failure === undefined) return candidate;
    if (candidate === 'cpu') throw new Error(`no backend could be initialised; cpu: ${failure}`);
    log(`backend ${candidate} is unavailable (${failure}); trying the next one`);
    available[candidate as 'tensorflow' | 'wasm' | 'webgl'] = false;
  }
}

/** Makes `name` the current backend; returns why it could not, or undefined on success. */
async function trySetBackend(name: BackendName, setting: BackendSetting): Promise<string | undefined> {
  const { keepTfjsKernels } = setting;
  switch (name) {
    case 'tensorflow': {
      const probe = probeTfjsNode();
      if (!probe.ok) return probe.reason;
      break;
    }
    case 'webgl':
      // tfjs-backend-webgl only registers itself in a browser; in Node setBackend would throw
      // a bare "not found in registry".
      if (isNodeRuntime() || tf.findBackendFactory('webgl') == null) {
        return "it needs a browser with WebGL; in Node use 'tensorflow', 'wasm' or 'cpu'";
      }
      break;
    case 'wasm':
      if (!(await loadWasmBackend())) return WASM_MISSING;
      // In Node the threaded build is tfjs's backend only if it is there before tfjs starts 'wasm'.
      if (setting.sharedHeap && isNodeRuntime() && tf.engine().registry.wasm === undefined) {
        const reason = await installSharedHeap();
        if (reason !== undefined) setting.log(`the shared heap is not used: ${reason}`);
      }
      // Before setBackend, so the kernels are there from the first op.
      installWasmExtras({ replaceTfjsKernels: !keepTfjsKernels });
      break;
    case 'cpu':
      break;
  }

  // Already current and initialised: nothing to do (this keeps repeated calls cheap).
  if (tf.getBackend() === name) {
    await tf.ready();
    if (tf.getBackend() === name) return undefined;
  }

  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (err) {
    return `initialisation threw: ${(err as Error).message}`;
  }
  if (!ok) {
    // tfjs-core has already logged the underlying error as a warning.
    return name === 'wasm'
      ? 'the WebAssembly module failed to initialise (see the TensorFlow.js warning above; ' +
          'in a browser, serve the .wasm files and call setWasmPaths from @tensorflow/tfjs-backend-wasm)'
      : 'initialisation failed (see the TensorFlow.js warning above)';
  }
  // In a browser tfjs has chosen its build by now: a threaded one's heap is shared already.
  if (name === 'wasm' && setting.sharedHeap && !isNodeRuntime() && !inSharedHeap()) {
    const reason = shareThreadedHeap(tf.backend());
    if (reason !== undefined) setting.log(`the shared heap is not used: ${reason}`);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Kernels that training needs and tfjs-backend-wasm 4.22 lacks.
//
// Compared with the cpu backend, wasm 4.22 has no Complex, ComplexAbs, Conv2DBackpropFilter,
// DepthwiseConv2dNativeBackprop{Filter,Input}, Draw, Einsum, FFT, IFFT, Imag, Real, Ragged*,
// StaticRegexReplace and UnsortedSegmentSum kernels. Of these only UnsortedSegmentSum is reached
// by training an attention model: it is the gradient of `gather`, i.e. of every embedding lookup.
// Einsum has no gradient in tfjs-core anyway (the library avoids it), and the convolution filter
// gradients and FFT family are not used here. Every other op of a training step (Adam, softmax
// cross-entropy, layer normalization, erf-based gelu, Tile, Select/where, clipping by global norm,
// matmul with transposes) was compared against the cpu backend and agrees to 1e-5, except for
// the float32 oneHot defect that `oneHotFloat` works around.
// ---------------------------------------------------------------------------------------------

/**
 * UnsortedSegmentSum on the wasm heap: out[segmentIds[i], ...] += x[i, ...].
 *
 * Same contract as the cpu kernel: segmentIds (int32) has the shape of x's leading dimensions,
 * the output is [numSegments, ...x.shape.slice(segmentIds.rank)] of x's dtype, and ids outside
 * [0, numSegments) are dropped. Sums are accumulated in float64 and rounded once, like the cpu
 * backend's `sum`, so both agree to float32 rounding.
 */
function unsortedSegmentSumWasm(args: {
  inputs: { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  backend: BackendWasm;
  attrs: { numSegments: number };
}): tf.TensorInfo {
  const {
    inputs: { x, segmentIds },
    backend,
    attrs: { numSegments },
  } = args;

  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum (wasm): x must be float32 or int32, got ${x.dtype}`);
  }
  const idsRank = segmentIds.shape.length;
  const leading = x.shape.slice(0, idsRank);
  if (!tf.util.arraysEqual(leading, segmentIds.shape)) {
    throw new Error(
      `UnsortedSegmentSum (wasm): segmentIds shape [${segmentIds.shape}] must equal the leading ` +
        `dimensions of x shape [${x.shape}]`,
    );
  }
  const innerShape = x.shape.slice(idsRank);
  const inner = tf.util.sizeFromShape(innerShape);
  const numRows = tf.util.sizeFromShape(segmentIds.shape);

  const acc = new Float64Array(numSegments * inner);
  // Allocate the output before taking views of the inputs: allocating may grow the wasm memory,
  // which detaches every earlier view of the heap.
  const out = backend.makeOutput([numSegments, ...innerShape], x.dtype);
  const xVals = backend.typedArrayFromHeap(x);
  const ids = backend.typedArrayFromHeap(segmentIds);
  for (let row = 0; row < numRows; row++) {
    const segment = ids[row];
    if (segment < 0 || segment >= numSegments) continue;
    const src = row * inner;
    const dst = segment * inner;
    for (let j = 0; j < inner; j++) acc[dst + j] += xVals[src + j];
  }
  // The output memory comes from malloc and is not zeroed: every element is written here.
  backend.typedArrayFromHeap(out).set(acc);
  return out;
}

/** The kernels tfjs-backend-wasm 4.22 lacks that `installWasmExtras` registers. */
const WASM_TRAINING_KERNELS: tf.KernelConfig[] = [
  {
    kernelName: tf.UnsortedSegmentSum,
    backendName: 'wasm',
    // The engine passes the documented inputs/attrs of the op; KernelFunc types them loosely.
    kernelFunc: unsortedSegmentSumWasm as unknown as tf.KernelFunc,
  },
];

/** Adds the kernels of WASM_TRAINING_KERNELS that the wasm backend has none of. */
function registerMissingWasmKernels(): void {
  for (const config of WASM_TRAINING_KERNELS) {
    if (tf.getKernel(config.kernelName, config.backendName) === undefined) tf.registerKernel(config);
  }
}

/**
 * Identity without a copy. tfjs-backend-wasm 4.22's Identity copies the tensor's memory, and
 * autodiff clones (Identity) every tensor a gradient saves: ~320 copies per training step of
 * the reference model. Tensors are immutable (a variable's assign swaps its data id), so the
 * output can share the input's memory, counted by reference, as the wasm backend's own Reshape
 * and the cpu backend's Identity do.
 */
function identityWasm(args: { inputs: { x: tf.TensorInfo }; backend: BackendWasm }): tf.TensorInfo {
  const { x } = args.inputs;
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Kernels of tfjs-backend-wasm 4.22 that we replace with faster equivalents, given the originals. */
const WASM_KERNEL_REPLACEMENTS: Array<{ kernelName: string; replace: (original: tf.KernelFunc) => tf.KernelFunc }> = [
  { kernelName: tf.Identity, replace: () => identityWasm as unknown as tf.KernelFunc },
  { kernelName: tf.BatchMatMul, replace: matMulOnWasm },
  { kernelName: tf._FusedMatMul, replace: matMulOnWasm },
  { kernelName: tf.Transpose, replace: transposeLastTwoOnWasm },
  { kernelName: tf.Tile, replace: tileOnWasm },
  { kernelName: tf.Concat, replace: concatOnWasm },
  { kernelName: tf.SplitV, replace: splitVOnWasm },
  { kernelName: tf.Sum, replace: sumLeadingOnWasm },
  { kernelName: tf.Exp, replace: expOnWasm },
];

/** tfjs's own kernel configs that `installWasmExtras` replaced, by kernel name, to restore them. */
const replacedWasmKernels = new Map<string, tf.KernelConfig>();

/** Options of `installWasmExtras`. */
export interface WasmExtrasOptions {
  /**
   * Replace tfjs's Identity, BatchMatMul, _FusedMatMul, Transpose, Tile, Concat, SplitV, Sum and Exp on
   * wasm with faster equivalents (default true); false restores tfjs's own where an earlier call replaced them.
   */
  replaceTfjsKernels?: boolean;
}

/**
 * Installs on the wasm backend what training needs and tfjs-backend-wasm 4.22 lacks or does
 * slowly. Process-wide, for every tfjs user in the process, not only this library:
 * - registers UnsortedSegmentSum, the gradient of `gather`, so `tf.layers.embedding` trains
 *   (only where the wasm backend has none of its own);
 * - unless `replaceTfjsKernels` is false, replaces its copying Identity with a shared-memory one
 *   (`identityWasm`); its BatchMatMul and _FusedMatMul of single float32 matrices with
 *   register-blocked SIMD products that read transposed operands in place (`matMulOnWasm`,
 *   src/kernels/matmul.ts; 1.3-1.5x XNNPACK's speed on this library's shapes, and tfjs 4.22 sends
 *   transposed products to a naive loop); its Transpose of the last two axes of float32 tensors
 *   with a cache-blocked one (`transposeLastTwoOnWasm`, ~9x faster); its Tile with one that
 *   copies whole blocks (`tileOnWasm`); its Concat and SplitV with row copies inside the heap
 *   (`concatOnWasm`, `splitVOnWasm`, src/kernels/concat.ts); and its Sum over leading axes of
 *   float32 tensors (a dense layer's bias gradient) with column sums in one pass
 *   (`sumLeadingOnWasm`, src/kernels/sum.ts; tfjs 4.22 transposes first, 10-17x slower); and its
 *   Exp of float32 tensors with a SIMD one on the kernel threads (`expOnWasm`, src/kernels/exp.ts;
 *   tfjs 4.22 calls expf an element at a time). They compute the same values, up to float32
 *   rounding where a product's sums run in another order, and within 1 ulp of e^x for Exp.
 * Idempotent. `initBackend` calls it whenever it selects wasm (`keepTfjsKernels` is the option);
 * call it yourself only if you select wasm with `tf.setBackend`. Needs the wasm backend package
 * loaded (importing '@tensorflow/tfjs-backend-wasm', or `initBackend('wasm')`).
 */
export function installWasmExtras(options: WasmExtrasOptions = {}): void {
  checkOptionNames('installWasmExtras', options, optionNames<WasmExtrasOptions>({ replaceTfjsKernels: true }));
  registerMissingWasmKernels();
  const replace = options.replaceTfjsKernels ?? true;
  for (const { kernelName, replace: replacement } of WASM_KERNEL_REPLACEMENTS) {
    const original = replacedWasmKernels.get(kernelName);
    if (replace && original === undefined) {
      const tfjsOwn = tf.getKernel(kernelName, 'wasm');
      if (tfjsOwn === undefined) continue;
      replacedWasmKernels.set(kernelName, tfjsOwn);
      tf.unregisterKernel(kernelName, 'wasm');
      // Keep the original's setup (e.g. its cwrap of the wasm function), which it still uses.
      tf.registerKernel({ ...tfjsOwn, kernelFunc: replacement(tfjsOwn.kernelFunc) });
    } else if (!replace && original !== undefined) {
      tf.unregisterKernel(kernelName, 'wasm');
      tf.registerKernel(original);
      replacedWasmKernels.delete(kernelName);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Loading the wasm backend package, and the backend the library's async entry points run on.
// ---------------------------------------------------------------------------------------------

const WASM_MISSING =
  "the package '@tensorflow/tfjs-backend-wasm' could not be loaded (in a browser app, install it " +
  'and let the bundler include it; on a page, add tf-backend-wasm.min.js after tf.min.js)';

/**
 * Loads `@tensorflow/tfjs-backend-wasm` once, which registers the 'wasm' backend factory with
 * tfjs; true when 'wasm' is registered afterwards (or was already: the app imported it). A
 * dynamic import, so that a browser bundler puts the backend in a chunk of its own that is
 * fetched only when wasm is chosen.
 */
async function loadWasmBackend(): Promise<boolean> {
  if (tf.findBackendFactory('wasm') != null) return true;
  try {
    await import('@tensorflow/tfjs-backend-wasm');
  } catch {
    return false;
  }
  return tf.findBackendFactory('wasm') != null;
}

/**
 * Makes sure a backend is ready; the library's async entry points (`loadSeq2Seq`,
 * `loadKerasModel`, training, evaluation) call it first. When no backend has been chosen or used
 * yet, this is `initBackend()`'s choice (the TFJS_ATTENTION_BACKEND variable, else 'auto': in
 * Node tensorflow, else wasm, else cpu; in a browser webgl (wasm first where WebGL draws in software),
 * else wasm, else cpu), silently. When
 * one has (`tf.setBackend`, or tfjs's default picked by an earlier tfjs call), that one stays, and
 * on wasm only the kernel tfjs lacks is added (tfjs's own kernels are left alone). Returns the
 * backend's name.
 */
export async function ensureBackend(): Promise<string> {
  // tfjs sets `backendName` in setBackend and when its default is picked on first use.
  const current = (tf.engine() as unknown as { backendName?: string | null }).backendName;
  if (current == null) return initBackend(undefined, { quiet: true });
  await tf.ready();
  if (tf.getBackend() === 'wasm') registerMissingWasmKernels();
  return tf.getBackend();
}

/**
 * One-hot encoding as float32 that is correct on every backend: shape [...indices.shape, depth],
 * 1 at each index and 0 elsewhere. Non-int32 indices (e.g. float labels) are cast to int32.
 *
 * Why not `tf.oneHot(indices, depth, 1, 0, 'float32')`: on tfjs-backend-wasm 4.22 that returns
 * ~1.4e-45 instead of 1 (the kernel writes the integer bit pattern 1 into float32 memory), so we
 * one-hot in int32, where every backend is right, and cast.
 */
export function oneHotFloat(indices: tf.Tensor, depth: number): tf.Tensor {
  return tf.tidy(() => {
    const intIndices = indices.dtype === 'int32' ? indices : tf.cast(indices, 'int32');
    return tf.cast(tf.oneHot(intIndices, depth), 'float32');
  });
}
