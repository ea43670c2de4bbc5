/**
 * The typed-array ops: what a decode step computes, on Float32Arrays of row-major rows instead of
 * tensors. At batch 1 a step of a small model is a few hundred thousand multiply-adds spread over
 * a couple of hundred tfjs kernels, each costing more in tfjs's bookkeeping than in arithmetic;
 * the typed-array runner (src/decode/array_runner.ts) runs the same layers through these instead.
 *
 * No math is written twice: the products, layer normalization, exact GELU and attention are the
 * fused kernels' own code (src/kernels, WebAssembly SIMD), called on arrays (`computeOnArrays`,
 * `matMulInto`) without tfjs. What is left here is elementwise: adds, and the activations other
 * than relu and GELU (Keras's definitions, as src/ops/activations.ts applies them in tfjs ops).
 *
 * Available where WebAssembly SIMD is (`hasRowOps`), whatever the tfjs backend.
 */
// The kernels' modules define the fused kernels computeOnArrays runs (attention, layer norm, GELU).
import { ATTENTION_FORWARD, attentionAttrs } from '../kernels/attention';
import '../kernels/gelu';
import '../kernels/layer_norm';
import { computeOnArrays } from '../kernels/fused_kernel';
import { epilogueActivation, matMulInto } from '../kernels/matmul';
import { simdKernels } from '../kernels/simd_kernels';

/** Whether the typed-array ops can run: WebAssembly SIMD is available. */
export function hasRowOps(): boolean {
  return simdKernels() != null;
}

/** Elementwise activations on arrays, in place, by their Keras names. */
const IN_PLACE: Record<string, (x: Float32Array) => void> = {
  linear: () => undefined,
  relu: (x) => map(x, (v) => (v > 0 ? v : 0)),
  gelu: (x) => x.set(computeOnArrays('TfjsAttentionGelu', { x }, {}, { x: [x.length] })[0]),
  tanh: (x) => map(x, Math.tanh),
  sigmoid: (x) => map(x, sigmoid),
  silu: (x) => map(x, (v) => v * sigmoid(v)),
  swish: (x) => map(x, (v) => v * sigmoid(v)),
  // log(1 + e^v) without overflow for large v.
  softplus: (x) => map(x, (v) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)))),
  elu: (x) => map(x, (v) => (v > 0 ? v : Math.expm1(v))),
  selu: (x) => map(x, (v) => SELU_SCALE * (v > 0 ? v : SELU_ALPHA * Math.expm1(v))),
};

// Keras's (and tfjs's) SELU constants (Klambauer et al. 2017).
const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;

function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

function map(x: Float32Array, f: (v: number) => number): void {
  for (let i = 0; i < x.length; i++) x[i] = f(x[i]);
}

/** The activations `activateRows` applies: the elementwise ones, and 'softmax' over each row. */
export const ROW_ACTIVATIONS: readonly string[] = [...Object.keys(IN_PLACE), 'softmax'];

/** `activation` (one of ROW_ACTIVATIONS) of rows of `width` floats, in place; returns x. */
export function activateRows(x: Float32Array, width: number, activation: string): Float32Array {
  if (activation === 'softmax') return softmaxRows(x, width);
  // Only the table's own names: `IN_PLACE.toString` is Object's.
  const f = ROW_ACTIVATIONS.includes(activation) ? IN_PLACE[activation] : undefined;
  if (f === undefined)
    throw new Error(`activateRows: unknown activation '${activation}'; expected one of ${ROW_ACTIVATIONS}`);
  f(x);
  return x;
}

/** Softmax of each row of `width` floats, in place (the maximum subtracted first); returns x. */
export function softmaxRows(x: Float32Array, width: number): Float32Array {
  for (let start = 0; start < x.length; start += width) {
    const row = x.subarray(start, start + width);
    let max = -Infinity;
    for (let i = 0; i < width; i++) max = Math.max(max, row[i]);
    let sum = 0;
    for (let i = 0; i < width; i++) sum += row[i] = Math.exp(row[i] - max);
    for (let i = 0; i < width; i++) row[i] /= sum;
  }
  return x;
}

/** A dense layer's weights as arrays: kernel (Din, Dout) row-major, bias (Dout) or null. */
export interface DenseArrays {
  kernel: Float32Array;
  bias: Float32Array | null;
  inputDim: number;
  outputDim: number;
}

/**
 * `activation(x kernel + bias)` for x of rows of `inputDim` floats: rows of `outputDim` floats.
 * Linear, relu and exact GELU in the product's epilogue, as the fused dense kernel applies them.
 */
export function denseRows(x: Float32Array, dense: DenseArrays, activation = 'linear'): Float32Array {
  const { kernel, bias, inputDim: K, outputDim: N } = dense;
  const M = x.length / K;
  const out = new Float32Array(M * N);
  const fused = epilogueActivation(activation);
  matMulInto({ a: x, b: kernel, bias, M, K, N, transposeA: false, transposeB: false, activation: fused }, out);
  return fused === activation ? out : activateRows(out, N, activation);
}

/**
 * Layer normalization of each row of gamma's width, the fused kernel's (Keras's):
 * (x - mean) / sqrt(var + epsilon) * gamma + beta.
 */
export function layerNormRows(x: Float32Array, gamma: Float32Array, beta: Float32Array, epsilon: number): Float32Array {
  const width = gamma.length;
  return computeOnArrays(
    'TfjsAttentionLayerNorm',
    { x, gamma, beta },
    { epsilon },
    { x: [x.length / width, width] },
  )[0];
}

/** a + b elementwise, into a new array. */
export function addRows(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

/** Where the attention reads a role: source `source` (0 or 1), heads from column `offset`. */
export interface RowsSlice {
  source: 0 | 1;
  offset: number;
}

export interface AttentionRowsArgs {
  /** Up to two sources of (B, L, W) rows: the queries' (L = T) and the keys' and values' (L >= keyLength). */
  sources: Float32Array[];
  shapes: Array<[number, number, number]>;
  query: RowsSlice;
  key: RowsSlice;
  value: RowsSlice;
  numHeads: number;
  keyDim: number;
  valueDim: number;
  scale: number;
  /** Keys read: the first keyLength positions of the keys' source. */
  keyLength: number;
  /** 1 = may attend, (B or 1, T or 1, keyLength or 1) rows, or null (attend to all). */
  mask: { values: Float32Array; shape: [number, number, number] } | null;
}

/** Scaled dot-product attention, the fused kernel's: the context (B, T, H, V) rows. */
export function attentionRows(args: AttentionRowsArgs): Float32Array {
  const inputs: Record<string, Float32Array> = {};
  const shapes: Record<string, number[]> = {};
  args.sources.forEach((source, i) => {
    inputs[`x${i}`] = source;
    shapes[`x${i}`] = args.shapes[i];
  });
  if (args.mask) {
    inputs.mask = args.mask.values;
    shapes.mask = args.mask.shape;
  }
  const attrs = attentionAttrs(args, args.keyLength, false);
  return computeOnArrays(ATTENTION_FORWARD, inputs, attrs, shapes)[0];
}
