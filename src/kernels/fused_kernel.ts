/**
 * Fused kernels written once over Float32Arrays (the ones here stage them into the WebAssembly
 * SIMD kernels of simd_kernels.ts), registered for the two backends whose tensors live in
 * JavaScript-visible memory: 'cpu' (JS arrays) and 'wasm' (views of the WebAssembly heap).
 * Other backends (webgl, tensorflow) have no such kernel, and the ops that use one fall back to
 * their composite of tfjs ops (`hasFusedKernel`).
 *
 * The kernels are registered with tfjs on first use, for the backend in use then: importing the
 * library registers nothing, and a tfjs program that never calls our layers sees no new kernel.
 *
 * Why: a tfjs training step is dominated by per-kernel overhead and by the wasm backend's slow
 * paths (batched matmuls outside XNNPACK, transposes, splits). One kernel that does a whole
 * attention or layer normalization in a single pass replaces tens of small ones.
 */
import * as tf from '@tensorflow/tfjs';
import { heapFloats, identify } from './simd_kernels';

/** The backends that get the fused kernels. */
export const FUSED_KERNEL_BACKENDS = ['cpu', 'wasm'] as const;

/** Inputs by name as Float32Arrays (absent optional inputs are missing). */
export type FloatInputs = Record<string, Float32Array>;

export interface FusedKernelSpec<Attrs> {
  kernelName: string;
  /** The output shapes, from the input shapes by name and the attributes. */
  outputShapes(inputs: Record<string, number[]>, attrs: Attrs): number[][];
  /** Writes every element of `outputs` (they arrive with arbitrary contents). Must not allocate tensors. */
  compute(inputs: FloatInputs, outputs: Float32Array[], attrs: Attrs, shapes: Record<string, number[]>): void;
}

/** What this file uses of tfjs-backend-wasm's BackendWasm. */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/** What this file uses of tfjs-backend-cpu's MathBackendCPU. */
interface CpuBackend {
  data: { get(dataId: tf.DataId): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): tf.TensorInfo;
}

function checkFloat(kernelName: string, name: string, info: tf.TensorInfo): void {
  if (info.dtype !== 'float32') {
    throw new Error(`${kernelName}: input '${name}' must be float32, got ${info.dtype}`);
  }
}

function kernelFuncFor<Attrs>(spec: FusedKernelSpec<Attrs>, backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const given = Object.entries(inputs).filter((entry): entry is [string, tf.TensorInfo] => entry[1] != null);
    for (const [name, info] of given) checkFloat(spec.kernelName, name, info);
    const shapes: Record<string, number[]> = {};
    for (const [name, info] of given) shapes[name] = info.shape;
    const outShapes = spec.outputShapes(shapes, attrs as unknown as Attrs);

    if (backendName === 'wasm') {
      const wasm = backend as unknown as WasmHeapBackend;
      // Allocate every output before taking views: an allocation may grow the heap, which
      // detaches the views taken before it.
      const outInfos = outShapes.map((shape) => wasm.makeOutput(shape, 'float32'));
      const views: FloatInputs = {};
      // Identified by data id: the SIMD kernels' staging need not copy a tensor in twice.
      for (const [name, info] of given) views[name] = heapFloats(wasm, info);
      const outViews = outInfos.map((info) => heapFloats(wasm, info));
      spec.compute(views, outViews, attrs as unknown as Attrs, shapes);
      return outInfos;
    }

    const cpu = backend as unknown as CpuBackend;
    const views: FloatInputs = {};
    for (const [name, info] of given)
      views[name] = identify(cpu.data.get(info.dataId).values as Float32Array, info.dataId);
    const outArrays = outShapes.map((shape) => new Float32Array(tf.util.sizeFromShape(shape)));
    spec.compute(views, outArrays, attrs as unknown as Attrs, shapes);
    return outArrays.map((values, i) => cpu.makeTensorInfo(outShapes[i], 'float32', values));
  };
}

/** Every kernel defined with `defineFusedKernel`, registered with tfjs by `hasFusedKernel`. */
const definedKernels: Array<FusedKernelSpec<never>> = [];

/** Defines the fused kernel `spec` for the cpu and wasm backends; registered on first use. */
export function defineFusedKernel<Attrs>(spec: FusedKernelSpec<Attrs>): void {
  definedKernels.push(spec as unknown as FusedKernelSpec<never>);
}

/**
 * Whether the current backend has the fused kernel `kernelName`: true on cpu and wasm once it is
 * defined. Registers every defined kernel for the current backend on the first call there.
 */
export function hasFusedKernel(kernelName: string): boolean {
  const backendName = tf.getBackend();
  if (!(FUSED_KERNEL_BACKENDS as readonly string[]).includes(backendName)) return false;
  registerDefinedKernels(backendName);
  return tf.getKernel(kernelName, backendName) !== undefined;
}

/** How many of `definedKernels` are registered, per backend: the check on the hot path is one lookup. */
const registeredCount = new Map<string, number>();

function registerDefinedKernels(backendName: string): void {
  if (registeredCount.get(backendName) === definedKernels.length) return;
  for (const spec of definedKernels) {
    if (tf.getKernel(spec.kernelName, backendName) !== undefined) continue;
    tf.registerKernel({ kernelName: spec.kernelName, backendName, kernelFunc: kernelFuncFor(spec, backendName) });
  }
  registeredCount.set(backendName, definedKernels.length);
}

/**
 * Runs the fused kernel `kernelName` on Float32Arrays, outside tfjs (no tensors, no backend): the
 * same computation as its tensor kernel, for the typed-array decode step (src/ops/rows.ts).
 * `shapes` gives each input's shape. Returns the outputs, newly allocated.
 */
export function computeOnArrays(
  kernelName: string,
  inputs: FloatInputs,
  attrs: object,
  shapes: Record<string, number[]>,
): Float32Array[] {
  const spec = definedKernels.find((s) => s.kernelName === kernelName) as FusedKernelSpec<object> | undefined;
  if (spec == null) throw new Error(`${kernelName}: no such fused kernel`);
  const outputs = spec.outputShapes(shapes, attrs).map((shape) => new Float32Array(tf.util.sizeFromShape(shape)));
  spec.compute(inputs, outputs, attrs, shapes);
  return outputs;
}

/** Runs a fused kernel (check `hasFusedKernel` first); always returns the list of outputs. */
export function runFusedKernel(kernelName: string, inputs: Record<string, tf.Tensor>, attrs: object): tf.Tensor[] {
  if (!hasFusedKernel(kernelName)) throw new Error(`${kernelName}: no fused kernel on backend '${tf.getBackend()}'`);
  const result = tf.engine().runKernel(kernelName, inputs as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap);
  return Array.isArray(result) ? (result as tf.Tensor[]) : [result as tf.Tensor];
}
