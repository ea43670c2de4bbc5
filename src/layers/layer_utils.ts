/**
 * Helpers shared by the layers: argument validation, initializer
 * (de)serialization, shape checks, masks, and a matmul whose gradient stays on
 * the fast path of the wasm backend.
 *
 * Shape letters used across src/layers: B batch, T query length, S key length,
 * D model width, H heads, K key dim, V value dim.
 */
import * as tf from '@tensorflow/tfjs';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';
import { fusedLayerNorm, hasFusedLayerNorm, layerNormGradients } from '../kernels/layer_norm';

export type Shape = Array<number | null>;
export type Kwargs = { [key: string]: unknown };

/** A tensor as tfjs-layers hands it around: masks travel on `kerasMask`. */
type MaskedTensor = tf.Tensor & { kerasMask?: tf.Tensor | null };

// ---------------------------------------------------------------------------
// Argument validation: every error names the argument, the value and the rule.
// ---------------------------------------------------------------------------

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number') return String(value); // JSON would print NaN and Infinity as null
  if (value === undefined) return 'undefined (missing)';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Throws unless `value` is an integer >= 1. */
export function checkPositiveInt(layer: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new Error(`${layer}: ${name} must be a positive integer, got ${describe(value)}`);
  }
  return value;
}

/** Throws unless `value` is a rate in [0, 1). */
export function checkRate(layer: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value >= 1) {
    throw new Error(`${layer}: ${name} must be a number in [0, 1), got ${describe(value)}`);
  }
  return value;
}

/** Throws unless `value` is a finite number > 0. */
export function checkPositiveNumber(layer: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`${layer}: ${name} must be a positive number, got ${describe(value)}`);
  }
  return value;
}

/** Throws unless `value` is a boolean. */
export function checkBoolean(layer: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new Error(`${layer}: ${name} must be true or false, got ${describe(value)}`);
  }
  return value;
}

/** Throws unless `value` is one of `choices`. */
export function checkChoice<T extends string>(
  layer: string,
  name: string,
  value: unknown,
  choices: readonly T[],
): T {
  if (typeof value !== 'string' || !choices.includes(value as T)) {
    throw new Error(
      `${layer}: ${name} must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${describe(value)}`,
    );
  }
  return value as T;
}

// ---------------------------------------------------------------------------
// Initializers. tfjs keeps its own getInitializer/serializeInitializer private,
// so these mirror them on the public serialization registry.
// ---------------------------------------------------------------------------

/** What a layer argument may hold for an initializer. */
export type InitializerIdentifier = string | Initializer | tf.serialization.ConfigDict;

/** Keras/tfjs string identifiers, e.g. 'glorot_uniform' or 'glorotUniform'. */
function initializerFromString(layer: string, name: string, id: string): Initializer {
  const camel = id.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  const factory = (tf.initializers as unknown as Record<string, unknown>)[camel];
  if (typeof factory !== 'function') {
    throw new Error(`${layer}: ${name} '${id}' is not a known initializer (e.g. 'glorotUniform', 'zeros')`);
  }
  return (factory as (args: object) => Initializer)({});
}

function isInitializer(value: unknown): value is Initializer {
  const v = value as Partial<Initializer>;
  return typeof v.apply === 'function' && typeof v.getClassName === 'function';
}

/** Resolves an initializer given as a string, an instance or a `{className, config}` dict. */
export function resolveInitializer(
  layer: string,
  name: string,
  id: InitializerIdentifier | undefined,
  fallback: string,
): Initializer {
  if (id == null) return initializerFromString(layer, name, fallback);
  if (typeof id === 'string') return initializerFromString(layer, name, id);
  if (isInitializer(id)) return id;
  const { className, config } = id as { className?: string; config?: tf.serialization.ConfigDict };
  const entry = className ? tf.serialization.SerializationMap.getMap().classNameMap[className] : undefined;
  if (!entry) {
    throw new Error(`${layer}: ${name} ${describe(id)} is not a registered initializer class`);
  }
  const [cls, fromConfig] = entry;
  return fromConfig(cls, config ?? {}) as Initializer;
}

/** The `{className, config}` form tfjs writes into model.json. */
export function serializeInitializer(init: Initializer): tf.serialization.ConfigDict {
  return { className: init.getClassName(), config: init.getConfig() };
}

// ---------------------------------------------------------------------------
// Shapes.
// ---------------------------------------------------------------------------

/** The list of input shapes, whether `build` got one shape or several. */
export function shapeList(inputShape: Shape | Shape[]): Shape[] {
  return Array.isArray(inputShape[0]) ? (inputShape as Shape[]) : [inputShape as Shape];
}

export function formatShape(shape: ReadonlyArray<number | null>): string {
  return `[${shape.map((d) => (d == null ? 'null' : d)).join(', ')}]`;
}

/** Throws unless `shape` has `rank` dimensions and a known last dimension. */
export function checkRank(layer: string, name: string, shape: Shape | number[], rank: number): void {
  if (shape.length !== rank) {
    throw new Error(
      `${layer}: ${name} must have rank ${rank}, got shape ${formatShape(shape)} (rank ${shape.length})`,
    );
  }
  if (shape[rank - 1] == null) {
    throw new Error(`${layer}: ${name} needs a known last dimension, got shape ${formatShape(shape)}`);
  }
}

/**
 * Throws unless `x` is (B, L, width) with a known width equal to `width` (when
 * given) and batch `batch` (when given); messages name the layer and shapes.
 */
export function checkSequence(layer: string, name: string, x: tf.Tensor, width?: number, batch?: number): void {
  checkRank(layer, name, x.shape, 3);
  if (width != null && x.shape[2] !== width) {
    throw new Error(`${layer}: ${name} has width ${x.shape[2]} (shape ${formatShape(x.shape)}) but the layer was built for width ${width}`);
  }
  if (batch != null && x.shape[0] !== batch) {
    throw new Error(`${layer}: ${name} has batch size ${x.shape[0]} (shape ${formatShape(x.shape)}), expected ${batch}`);
  }
}

/** Throws unless each padding mask is null or (B, L) for its sequence (B, L, ...). */
export function checkPaddingMasks(layer: string, masks: Array<[string, tf.Tensor | null, tf.Tensor]>): void {
  for (const [name, mask, sequence] of masks) {
    if (mask == null) continue;
    const want = sequence.shape.slice(0, 2);
    if (mask.rank !== 2 || mask.shape[0] !== want[0] || mask.shape[1] !== want[1]) {
      throw new Error(
        `${layer}: the padding mask of ${name} must have shape (B, L) = ${formatShape(want)}, got ${formatShape(mask.shape)}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------
// Masks. tfjs hands a layer its input masks in `kwargs.mask`, but the model
// executor (predict/fit/evaluate) passes only the FIRST input's mask for a
// multi-input layer (tfjs-layers executor.ts: `kwargs['mask'] = inputMasks[0]`),
// and eager calls pass none. Every tensor produced by a mask-aware layer also
// carries its mask as `kerasMask`, so fall back to that.
// ---------------------------------------------------------------------------

/**
 * The padding mask of each input, (B, L) with 1 = real token, or null: from
 * the `mask` argument, else the tensor's own `kerasMask`.
 *
 * tfjs 4.22's model executor (predict/fit/evaluate) hands every layer of a run
 * the same kwargs object and sets `kwargs.mask` only for layers that have a
 * masked input, so a layer whose inputs carry no mask receives the mask of an
 * earlier layer (tfjs-layers executor.ts `execute`). The executor always passes
 * the inputs as a list and one mask tensor; such a mask that does not fit the
 * first input's (B, L) cannot be that input's and is dropped. A mask given with
 * a single (unlisted) input, or as a list, is kept (and checked by the caller).
 */
export function resolveInputMasks(
  inputs: tf.Tensor | tf.Tensor[],
  mask: unknown,
): Array<tf.Tensor | null> {
  const list = Array.isArray(inputs) ? inputs : [inputs];
  let given = mask as tf.Tensor | Array<tf.Tensor | null | undefined> | null | undefined;
  if (given instanceof tf.Tensor && Array.isArray(inputs) && list.length > 0) {
    const [batch, length] = list[0].shape;
    if (given.rank !== 2 || given.shape[0] !== batch || given.shape[1] !== length) given = null;
  }
  const perInput: Array<tf.Tensor | null | undefined> = Array.isArray(given) ? given : [given];
  return list.map((input, i) => perInput[i] ?? (input as MaskedTensor).kerasMask ?? null);
}

/**
 * The mask a pass-through layer gives its output: a clone of its input's, so
 * each tensor owns its `kerasMask`. tfjs 4.x's `Tensor.dispose()` also
 * disposes the tensor's `kerasMask`; shared mask objects would be disposed with
 * the first tensor that the model executor frees while later layers still need it.
 */
export function passMask(
  input: tf.Tensor,
  mask: tf.Tensor | Array<tf.Tensor | null | undefined> | null | undefined,
): tf.Tensor | null {
  const resolved = resolveInputMasks(input, mask)[0];
  return resolved ? resolved.clone() : null;
}

/**
 * Lower-triangular (T, S) mask, 1 = may attend: query t sees keys s <= t.
 * Matches Keras's `causal_mask` for the same T and S.
 */
export function causalMask(queryLength: number, keyLength: number): tf.Tensor2D {
  // Written in JavaScript and uploaded once: no kernels (it was six per attention call).
  const data = new Float32Array(queryLength * keyLength);
  for (let t = 0; t < queryLength; t++) data.fill(1, t * keyLength, t * keyLength + Math.min(t + 1, keyLength));
  return tf.tensor2d(data, [queryLength, keyLength]);
}

// ---------------------------------------------------------------------------
// Matmul with a wasm-friendly gradient.
// ---------------------------------------------------------------------------

/**
 * `a @ b` for 2-D `a` [N, D] and `b` [D, E], whose gradient transposes its
 * operands explicitly. tfjs's own matMul gradient calls matMul with
 * transposeA/transposeB set, which the wasm backend runs in a naive loop
 * (XNNPACK is used only for untransposed, batch-1 products: ~20x slower, see
 * ../shared/TFJS_NOTES.md). The values are identical either way.
 */
export function matMul2d(a: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  // Without a gradient tape (inference) the custom gradient is pure overhead.
  return tf.engine().isTapeOn() ? matMul2dWithGrad(a, b) : tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);
}

const matMul2dWithGrad = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [savedA, savedB] = saved as tf.Tensor2D[];
      const dy2 = dy as tf.Tensor2D;
      // d(a) = dy @ b^T ; d(b) = a^T @ dy, each with a materialised transpose.
      return [tf.matMul(dy2, tf.transpose(savedB)), tf.matMul(tf.transpose(savedA), dy2)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;

/**
 * `activation(x @ kernel + bias)` for 2-D x [N, D], kernel [D, E], bias [E]
 * (a bias stored 1-D: the wasm fused kernel checks the storage's rank):
 * one fused kernel forward (XNNPACK on wasm), and a hand-written gradient
 * whose matmuls are untransposed (see `matMul2d`). Fewer kernels per step
 * matter as much as faster ones: tfjs spends tens of microseconds on each.
 */
export function dense2d(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | null, activation: 'linear' | 'relu' = 'linear'): tf.Tensor2D {
  if (!tf.engine().isTapeOn()) {
    return tf.fused.matMul({ a: x as tf.Tensor2D, b: kernel as tf.Tensor2D, bias: bias ?? undefined, activation }) as tf.Tensor2D;
  }
  if (bias == null) {
    const product = matMul2d(x, kernel);
    return (activation === 'relu' ? tf.relu(product) : product) as tf.Tensor2D;
  }
  return (activation === 'relu' ? denseRelu : denseLinear)(x, kernel, bias);
}

function makeDense(activation: 'linear' | 'relu'): (x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor) => tf.Tensor2D {
  return tf.customGrad(((x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor, save: tf.GradSaveFunc) => {
    const y = tf.fused.matMul({ a: x as tf.Tensor2D, b: kernel as tf.Tensor2D, bias, activation });
    save(activation === 'relu' ? [x, kernel, y] : [x, kernel]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedX, savedKernel, savedY] = saved as tf.Tensor2D[];
        // Through the activation: relu passes the gradient where its output is positive.
        const g = (savedY ? dy.mul(tf.step(savedY)) : dy) as tf.Tensor2D;
        return [tf.matMul(g, tf.transpose(savedKernel)), tf.matMul(tf.transpose(savedX), g), sumRows(g)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor) => tf.Tensor2D;
}
/**
 * Column sums of a 2-D (N, E) tensor, (E): `ones(1, N) @ x`. The wasm backend
 * sums over axis 0 by transposing first; the product runs in XNNPACK. Bias and
 * layer-norm gradients are such sums. Call inside a tidy.
 */
export function sumRows(x: tf.Tensor): tf.Tensor1D {
  const [rows, columns] = x.shape;
  return tf.matMul(tf.ones([1, rows]), x as tf.Tensor2D).reshape([columns]) as tf.Tensor1D;
}

/**
 * `x + bias` for 2-D x (N, E) and bias (E) whose bias gradient is `sumRows`
 * (tfjs's broadcasting gradient sums over axis 0). Call inside a tidy.
 */
export function addBias(x: tf.Tensor, bias: tf.Tensor): tf.Tensor2D {
  return (tf.engine().isTapeOn() ? addBiasWithGrad(x, bias) : x.add(bias)) as tf.Tensor2D;
}

const addBiasWithGrad = tf.customGrad(((x: tf.Tensor, bias: tf.Tensor) => ({
  value: x.add(bias),
  gradFunc: (dy: tf.Tensor) => [dy, sumRows(dy)],
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor, bias: tf.Tensor) => tf.Tensor;

const denseLinear = makeDense('linear');
const denseRelu = makeDense('relu');

/**
 * Layer normalization over the last axis (Ba et al. 2016):
 * `(x - mean) / sqrt(var + epsilon) * gamma + beta`, with the closed-form
 * gradient (about a third of the kernels tfjs's autodiff of `moments` runs).
 * Call inside a tidy.
 */
export function layerNormalize(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor {
  if (!tf.engine().isTapeOn()) {
    const { value, normalized, inverseStd } = normalizeForward(x, gamma, beta, epsilon);
    tf.dispose([normalized, inverseStd]);
    return value;
  }
  return layerNormWithGrad(epsilon)(x, gamma, beta);
}

/**
 * The forward pass, also keeping what the gradient needs: on cpu and wasm one
 * fused kernel (kernels/layer_norm.ts), elsewhere tfjs ops. Call inside a tidy.
 */
function normalizeForward(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): { value: tf.Tensor; normalized: tf.Tensor; inverseStd: tf.Tensor } {
  if (hasFusedLayerNorm(gamma.size)) return fusedLayerNorm(x, gamma, beta, epsilon);
  const mean = x.mean(-1, true);
  const centered = x.sub(mean);
  const inverseStd = tf.rsqrt(centered.square().mean(-1, true).add(epsilon));
  const normalized = centered.mul(inverseStd);
  return { value: normalized.mul(gamma).add(beta), normalized, inverseStd };
}

/**
 * The differentiable layer norm for one epsilon (customGrad takes only tensors,
 * and epsilon is a constant of the layer): made once per value.
 */
const layerNormWithGradFor = new Map<number, (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor>();

function layerNormWithGrad(epsilon: number): (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor {
  let fn = layerNormWithGradFor.get(epsilon);
  if (fn == null) {
    fn = tf.customGrad(((x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
      const { value, normalized, inverseStd } = normalizeForward(x, gamma, beta, epsilon);
      save([normalized, inverseStd, gamma]);
      return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => normalizeBackward(dy, saved[0], saved[1], saved[2]) };
    }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;
    layerNormWithGradFor.set(epsilon, fn);
  }
  return fn;
}

/** The gradients of x, gamma and beta, from normalizeForward's xHat and inverseStd. Call inside a tidy. */
function normalizeBackward(dy: tf.Tensor, xHat: tf.Tensor, invStd: tf.Tensor, gamma: tf.Tensor): tf.Tensor[] {
  if (hasFusedLayerNorm(gamma.size)) return layerNormGradients(dy, xHat, invStd, gamma);
  const width = xHat.shape[xHat.rank - 1];
  // gamma's and beta's gradients sum over every position: (..., D) -> (N, D) -> (D).
  const rowsOf = (t: tf.Tensor) => t.reshape([-1, width]);
  // dxHat = dy * gamma; dx = invStd * (dxHat - mean(dxHat) - xHat * mean(dxHat * xHat))
  const dxHat = dy.mul(gamma);
  const meanDxHat = dxHat.sum(-1, true).div(width);
  const meanDxHatXHat = dxHat.mul(xHat).sum(-1, true).div(width);
  const dx = dxHat.sub(meanDxHat).sub(xHat.mul(meanDxHatXHat)).mul(invStd);
  return [dx, sumRows(rowsOf(dy.mul(xHat))), sumRows(rowsOf(dy))];
}
