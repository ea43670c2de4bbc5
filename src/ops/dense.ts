/**
 * Dense products with gradients that run few kernels. Fewer kernels per training step matter as
 * much as faster ones: tfjs spends tens of microseconds of bookkeeping on each. On cpu and wasm a
 * dense layer is one SIMD kernel forward and one backward (src/kernels/dense.ts); elsewhere, and
 * for widths that are not whole SIMD vectors, it is composed of tfjs ops as below.
 *
 * Transposed products (`dy @ W^T`, `x^T @ dy`) are written as tfjs matmuls with transpose flags.
 * tfjs-backend-wasm 4.22 runs those in a naive loop ~10-20x slower than XNNPACK (XNNPACK only
 * takes untransposed, batch-1 products); `initBackend` replaces its BatchMatMul with one that
 * transposes first and stays on XNNPACK (src/backend.ts, `installWasmExtras`), the one remedy,
 * which also serves tfjs's own layers (our logits `tf.layers.dense`, users' models).
 */
import * as tf from '@tensorflow/tfjs';
import { fusedDense, hasFusedDense, type DenseActivation } from '../kernels/dense';
import { epilogueActivation } from '../kernels/matmul';
import { activate } from './activations';
import { gelu } from './gelu';

type Dense = (x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor) => tf.Tensor2D;

/**
 * `activation(x @ kernel + bias)` for 2-D x [N, D], kernel [D, E], bias of E values or null, the
 * activation linear, relu or exact GELU. On cpu and wasm one fused kernel each way
 * (src/kernels/dense.ts). Else one tfjs fused matmul forward (a bias stored 1-D: the wasm kernel
 * checks the storage's rank) and, under a gradient tape, one hand-written gradient (two matmuls and
 * `sumRows`), then GELU's own op.
 */
export function dense2d(
  x: tf.Tensor,
  kernel: tf.Tensor,
  bias: tf.Tensor | null,
  activation: DenseActivation = 'linear',
): tf.Tensor2D {
  if (x.rank === 2 && kernel.rank === 2 && hasFusedDense(x, kernel, bias))
    return fusedDense(x, kernel, bias, activation) as tf.Tensor2D;
  if (activation === 'gelu') return gelu(dense2d(x, kernel, bias)) as tf.Tensor2D;
  if (bias == null || !tf.engine().isTapeOn()) {
    return tf.fused.matMul({
      a: x as tf.Tensor2D,
      b: kernel as tf.Tensor2D,
      bias: bias ?? undefined,
      activation,
    }) as tf.Tensor2D;
  }
  return (activation === 'relu' ? denseRelu : denseLinear)(x, kernel, bias);
}

function makeDense(activation: 'linear' | 'relu'): Dense {
  return tf.customGrad(((x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor, save: tf.GradSaveFunc) => {
    const y = tf.fused.matMul({ a: x as tf.Tensor2D, b: kernel as tf.Tensor2D, bias, activation });
    save(activation === 'relu' ? [x, kernel, y] : [x, kernel]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedX, savedKernel, savedY] = saved as tf.Tensor2D[];
        // Through the activation: relu passes the gradient where its output is positive.
        const g = (savedY ? dy.mul(tf.step(savedY)) : dy) as tf.Tensor2D;
        // dx = g @ W^T, dW = x^T @ g, dbias = column sums of g.
        return [tf.matMul(g, savedKernel, false, true), tf.matMul(savedX, g, true, false), sumRows(g)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as Dense;
}

const denseLinear = makeDense('linear');
const denseRelu = makeDense('relu');

/**
 * `x @ kernel + bias` like `dense2d`, for a bias of E values in any storage (a [H, K] bias
 * reshaped to H*K keeps its 2-D storage, which tfjs-backend-wasm's own fused matmul rejects):
 * where the fused kernel does not run, a matmul and `addBias`. Call inside a tidy.
 */
export function denseWithAnyBias(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | null): tf.Tensor2D {
  if (bias == null || hasFusedDense(x, kernel, bias)) return dense2d(x, kernel, bias);
  return addBias(tf.matMul(x as tf.Tensor2D, kernel as tf.Tensor2D), bias);
}

/**
 * x @ [W_0 W_1 ...] + [b_0 b_1 ...] for x (..., D), kernels W_p (D, ...) of E_p columns (a (D, H, K)
 * kernel is (D, H*K)) and a bias b_p of E_p values each (any shape) or null: several dense layers'
 * products side by side, (..., sum of E_p). The fused kernel takes every tensor as it is (and keeps
 * the weights joined while they are unchanged); elsewhere they are reshaped and joined here and
 * `denseWithAnyBias` runs. Call inside a tidy.
 */
export function denseSideBySide(x: tf.Tensor, kernels: tf.Tensor[], biases: tf.Tensor[] | null): tf.Tensor {
  if (hasFusedDense(x, kernels, biases)) return fusedDense(x, kernels, biases, 'linear');
  const width = x.shape[x.rank - 1];
  const matrices = kernels.map((kernel) => (kernel.rank === 2 ? kernel : kernel.reshape([width, -1])));
  const vectors = biases && biases.map((bias) => (bias.rank === 1 ? bias : bias.reshape([-1])));
  const joined = (parts: tf.Tensor[], axis: number) => (parts.length === 1 ? parts[0] : tf.concat(parts, axis));
  return onRows(x, (rows) => denseWithAnyBias(rows, joined(matrices, 1), vectors && joined(vectors, 0)));
}

/**
 * x (..., A_1, ..., A_k) by a kernel (A_1, ..., A_k, E), summed over the k = `axes` shared axes,
 * plus a bias of E values or null: (..., E). Attention's output projection is (B, T, H, V) by
 * [H, V, Dout]. The fused kernel takes both as they are; elsewhere (N, A_1*...*A_k) rows by a
 * matrix. Call inside a tidy.
 */
export function denseOverLastAxes(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | null, axes: number): tf.Tensor {
  if (hasFusedDense(x, kernel, bias, axes)) return fusedDense(x, kernel, bias, 'linear', axes);
  const inner = tf.util.sizeFromShape(kernel.shape.slice(0, axes));
  return onRows(x, (rows) => dense2d(rows, kernel.reshape([inner, -1]), bias), axes);
}

/**
 * `product` of x (..., D) as rows (N, D), D its last `axes` axes, and its (N, E) result as
 * (..., E): the 2-D products that train on every backend. Call inside a tidy.
 */
function onRows(x: tf.Tensor, product: (rows: tf.Tensor2D) => tf.Tensor, axes = 1): tf.Tensor {
  if (x.rank === 2 && axes === 1) return product(x as tf.Tensor2D);
  const lead = x.shape.slice(0, x.rank - axes) as number[];
  const y = product(x.reshape([-1, tf.util.sizeFromShape(x.shape.slice(x.rank - axes))]));
  return y.reshape([...lead, y.shape[1] as number]);
}

/**
 * Column sums of a 2-D (N, E) tensor, (E): `ones(1, N) @ x`. The wasm backend sums over axis 0
 * by transposing first; the product runs in XNNPACK. Bias and layer-norm gradients are such
 * sums. Call inside a tidy.
 */
export function sumRows(x: tf.Tensor): tf.Tensor1D {
  const [rows, columns] = x.shape;
  return tf.matMul(tf.ones([1, rows]), x as tf.Tensor2D).reshape([columns]) as tf.Tensor1D;
}

/**
 * `x + bias` for 2-D x (N, E) and bias (E) whose bias gradient is `sumRows` (tfjs's broadcasting
 * gradient sums over axis 0). Call inside a tidy.
 */
export function addBias(x: tf.Tensor, bias: tf.Tensor): tf.Tensor2D {
  return (tf.engine().isTapeOn() ? addBiasWithGrad(x, bias) : x.add(bias)) as tf.Tensor2D;
}

const addBiasWithGrad = tf.customGrad(((x: tf.Tensor, bias: tf.Tensor) => ({
  value: x.add(bias),
  gradFunc: (dy: tf.Tensor) => [dy, sumRows(dy)],
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor, bias: tf.Tensor) => tf.Tensor;

/**
 * `activation(x W + b)` over the last axis of a sequence (B, T, Din) -> (B, T, Dout), as a Keras
 * Dense on rank-3 input: a 2-D product (it trains on every backend) with the activation fused
 * where `dense2d` takes it (linear, relu, exact GELU). Call inside a tidy.
 */
export function denseSequence(
  x: tf.Tensor,
  kernel: tf.Tensor,
  bias: tf.Tensor | null,
  activation: string,
): tf.Tensor3D {
  const fused = epilogueActivation(activation);
  // The fused kernel takes (B, T, Din) as it is; tfjs's products take (B*T, Din) rows.
  const y = hasFusedDense(x, kernel, bias)
    ? fusedDense(x, kernel, bias, fused)
    : onRows(x, (rows) => dense2d(rows, kernel, bias, fused));
  return (fused === activation ? y : activate(y, activation)) as tf.Tensor3D;
}
