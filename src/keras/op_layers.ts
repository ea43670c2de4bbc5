/**
 * Small layers for what Keras graphs hold that tfjs has no layer for, or computes differently:
 *
 * - Keras 3 operation layers: `x + y` in a functional model is serialized as an operation node
 *   (`"module": "keras.src.ops.numpy", "class_name": "Add"`), `keras.ops.mean(x, axis=1)` as
 *   `Mean` (keras/src/ops/numpy.py); Keras 2 writes the same things as `TFOpLambda` layers
 *   (`"function": "__operators__.add"`, `"math.reduce_mean"`). Both become `ElementwiseOperation`
 *   or `ReduceOperation`.
 * - `GlobalAveragePooling1D`: tfjs 4.22's layer ignores `data_format` (it always averages axis 1)
 *   and ignores the padding mask (it averages padded steps too); Keras does neither
 *   (keras/src/layers/pooling/global_average_pooling1d.py). `KerasGlobalAveragePooling1D`
 *   computes what Keras computes.
 *
 * Masks: Keras operations (and TFOpLambda) do not pass a mask on, so these layers return none;
 * the pooling layer consumes it.
 */
import * as tf from '@tensorflow/tfjs';
import { checkLayerArgNames, layerArgNames } from '../layers/args';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { IncrementalRole } from '../layers/incremental';
import { softmaxOver } from './activations';
import { axesOf, positionWiseUnless } from './positions';

export const ELEMENTWISE_OPERATIONS = [
  'add',
  'subtract',
  'multiply',
  'divide',
  'maximum',
  'minimum',
  'power',
  'average',
  'equal',
  'not_equal',
  'logical_and',
  'logical_or',
] as const;

/** A constant operand: a number, or a tensor as nested lists (Keras's `__numpy__`/`__tensor__` values). */
export type Constant = number | Constant[];

/** The most values a constant tensor in a graph may hold (a positional table of 2048 x 512 fits). */
export const MAX_CONSTANT_VALUES = 1 << 20;

/** The shape of a nested-list constant, checking that it is rectangular, finite and within MAX_CONSTANT_VALUES. */
export function constantShape(value: Constant, where: string): number[] {
  const shape: number[] = [];
  for (let v: Constant = value; Array.isArray(v); v = v[0]) shape.push(v.length);
  const size = shape.reduce((a, b) => a * b, 1);
  if (size > MAX_CONSTANT_VALUES) {
    throw new Error(
      `${where}: a constant tensor of shape [${shape}] holds ${size} values, ` +
        `more than the ${MAX_CONSTANT_VALUES} allowed`,
    );
  }
  const check = (v: Constant, depth: number): void => {
    if (depth === shape.length) {
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new Error(`${where}: a constant tensor holds ${JSON.stringify(v)}; expected finite numbers`);
      }
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      throw new Error(`${where}: a constant tensor is not rectangular (expected shape [${shape}])`);
    }
    v.forEach((x) => check(x, depth + 1));
  };
  check(value, 0);
  return shape;
}
export type ElementwiseOperationName = (typeof ELEMENTWISE_OPERATIONS)[number];

/** The arguments of `ElementwiseOperation`, and tfjs's `LayerArgs`. */
export interface ElementwiseOperationArgs extends LayerArgs {
  /** The operation, applied as `x op y` with broadcasting. */
  operation: ElementwiseOperationName;
  /**
   * A constant operand, when the graph has one (`x + 1.0`); null (the default) when both
   * operands are inputs.
   */
  constant?: Constant | null;
  /** Whether the constant is the left operand (`1.0 - x`). Default false. */
  constantFirst?: boolean;
  /**
   * Whether the output's mask is the AND of the inputs' masks, as Keras's merge layers (Add,
   * Multiply, ...) compute it. Default false: operations pass no mask on.
   */
  mergeMasks?: boolean;
}

/** Every argument name, for the unknown-argument check. */
const ELEMENTWISE_ARG_NAMES = layerArgNames<ElementwiseOperationArgs>({
  operation: true,
  constant: true,
  constantFirst: true,
  mergeMasks: true,
});

/** `x op y` (or `x op c`, `c op x`) for the elementwise operations of Keras graphs. */
export class ElementwiseOperation extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'ElementwiseOperation';
  readonly operation: ElementwiseOperationName;
  readonly constant: Constant | null;
  private readonly constantDims: number[];
  readonly constantFirst: boolean;
  readonly mergeMasks: boolean;

  constructor(args: ElementwiseOperationArgs) {
    super(args);
    checkLayerArgNames(this, ElementwiseOperation, args, ELEMENTWISE_ARG_NAMES);
    // tfjs's deserializer camel-cases string values of a config ('not_equal' arrives as 'notEqual').
    args = {
      ...args,
      operation: String(args.operation).replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) as ElementwiseOperationName,
    };
    if (!ELEMENTWISE_OPERATIONS.includes(args.operation)) {
      throw new Error(
        `ElementwiseOperation: operation is ${JSON.stringify(args.operation)}; expected one of ` +
          ELEMENTWISE_OPERATIONS.join(', '),
      );
    }
    this.operation = args.operation;
    this.constant = args.constant ?? null;
    this.constantFirst = args.constantFirst ?? false;
    this.mergeMasks = args.mergeMasks ?? false;
    this.supportsMasking = true;
    this.constantDims =
      this.constant == null ? [] : constantShape(this.constant, `ElementwiseOperation '${this.name}'`);
  }

  private operands(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const ok = this.constant == null ? list.length >= 2 : list.length === 1;
    if (!ok) {
      throw new Error(
        `ElementwiseOperation '${this.name}': got ${list.length} inputs; expected ` +
          (this.constant == null ? 'two or more' : 'one (the other operand is the constant)'),
      );
    }
    if (this.constant == null) return list;
    const c = tf.tensor(
      this.constant as number,
      this.constantDims,
      list[0].dtype === 'bool' ? 'float32' : list[0].dtype,
    );
    return this.constantFirst ? [c, list[0]] : [list[0], c];
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const operands = this.operands(inputs);
      if (this.operation === 'average') return tf.div(tf.addN(operands), operands.length);
      return operands.slice(1).reduce((x, y) => this.apply2(x, y), operands[0]);
    });
  }

  private apply2(x: tf.Tensor, y: tf.Tensor): tf.Tensor {
    {
      switch (this.operation) {
        case 'add':
          return tf.add(x, y);
        case 'subtract':
          return tf.sub(x, y);
        case 'multiply':
          return tf.mul(x, y);
        case 'divide':
          return tf.div(x, y);
        case 'maximum':
          return tf.maximum(x, y);
        case 'minimum':
          return tf.minimum(x, y);
        case 'power':
          return tf.pow(x, y);
        case 'equal':
          return tf.equal(x, y);
        case 'not_equal':
          return tf.notEqual(x, y);
        case 'logical_and':
          return tf.logicalAnd(tf.cast(x, 'bool'), tf.cast(y, 'bool'));
        case 'logical_or':
          return tf.logicalOr(tf.cast(x, 'bool'), tf.cast(y, 'bool'));
        default:
          throw new Error(`ElementwiseOperation: ${this.operation} takes more than two operands`);
      }
    }
  }

  computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shapes = (Array.isArray(inputShape[0]) ? inputShape : [inputShape]) as tf.Shape[];
    if (this.constant != null) shapes.push(this.constantDims);
    return shapes.slice(1).reduce((a, b) => broadcastShapes(a, b, this.name), shapes[0]);
  }

  /**
   * With mergeMasks, the AND of the inputs' masks (Keras's Merge.compute_mask). tfjs 4.22's own
   * merge layers return the first mask with an extra leading axis and never look at the last one
   * (tfjs-layers layers/merge.js), which is why Keras's Add etc. load as this layer.
   */
  override computeMask(_inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    // tfjs types computeMask as never null, but null is how it says "no mask".
    const masks = (Array.isArray(mask) ? mask : [mask]).filter((m): m is tf.Tensor => m != null);
    if (!this.mergeMasks || masks.length === 0) return null as unknown as tf.Tensor;
    return tf.tidy(() => masks.slice(1).reduce((a, b) => tf.logicalAnd(a, b), tf.cast(masks[0], 'bool')));
  }

  /**
   * Whether this computes `ids != 0`, the padding mask of token ids (an Embedding's `mask_zero`, made
   * explicit by the loader: keras_masks.ts): `generate` then never generates id 0, as for an
   * embedding that masks it.
   */
  get isPaddingMask(): boolean {
    return this.operation === 'not_equal' && this.constant === 0;
  }

  /**
   * Position-wise (see positions.ts), unless a constant operand holds rows that differ along the
   * positions (`x + table`, table (T, D)): the new position would need its own row.
   */
  incrementalRole(): IncrementalRole | null {
    return positionWiseUnless(this, ({ output }) => {
      const offset = output.length - this.constantDims.length; // the constant is aligned to the right
      return this.constantDims.flatMap((size, axis) => (size > 1 ? [axis + offset] : []));
    });
  }

  getConfig(): tf.serialization.ConfigDict {
    return {
      operation: this.operation,
      constant: this.constant,
      constantFirst: this.constantFirst,
      mergeMasks: this.mergeMasks,
      ...super.getConfig(),
    };
  }
}
tf.serialization.registerClass(ElementwiseOperation);

export const REDUCE_OPERATIONS = ['mean', 'sum', 'max', 'min', 'prod'] as const;
export type ReduceOperationName = (typeof REDUCE_OPERATIONS)[number];

/** The arguments of `ReduceOperation`, and tfjs's `LayerArgs`. */
export interface ReduceOperationArgs extends LayerArgs {
  /** The reduction. */
  operation: ReduceOperationName;
  /** Axis or axes to reduce (negative counts from the end); null (the default) reduces all of them. */
  axis?: number | number[] | null;
  /** Whether reduced axes stay as size 1. Default false. */
  keepdims?: boolean;
}

/** Every argument name, for the unknown-argument check. */
const REDUCE_ARG_NAMES = layerArgNames<ReduceOperationArgs>({
  operation: true,
  axis: true,
  keepdims: true,
});

/** A reduction over axes, as Keras's `ops.mean/sum/max/min/prod` and `tf.math.reduce_*` compute it. */
export class ReduceOperation extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'ReduceOperation';
  readonly operation: ReduceOperationName;
  readonly axis: number | number[] | null;
  readonly keepdims: boolean;

  constructor(args: ReduceOperationArgs) {
    super(args);
    checkLayerArgNames(this, ReduceOperation, args, REDUCE_ARG_NAMES);
    if (!REDUCE_OPERATIONS.includes(args.operation)) {
      throw new Error(
        `ReduceOperation: operation is ${JSON.stringify(args.operation)}; ` +
          `expected one of ${REDUCE_OPERATIONS.join(', ')}`,
      );
    }
    const axis = args.axis ?? null;
    const axes = axis == null ? [] : Array.isArray(axis) ? axis : [axis];
    if (!axes.every((a) => Number.isInteger(a))) {
      throw new Error(`ReduceOperation: axis is ${JSON.stringify(axis)}; expected an integer, a list of them or null`);
    }
    this.operation = args.operation;
    this.axis = axis;
    this.keepdims = args.keepdims ?? false;
  }

  private axes(rank: number): number[] {
    if (this.axis == null) return Array.from({ length: rank }, (_x, i) => i);
    const axes = axesOf(Array.isArray(this.axis) ? this.axis : [this.axis], rank);
    for (const a of axes) {
      if (a < 0 || a >= rank) {
        throw new Error(
          `ReduceOperation '${this.name}': axis ${JSON.stringify(this.axis)} is out of range for rank ${rank}`,
        );
      }
    }
    return axes;
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const axes = this.axes(x.rank);
      switch (this.operation) {
        case 'mean':
          return tf.mean(x, axes, this.keepdims);
        case 'sum':
          return tf.sum(x, axes, this.keepdims);
        case 'max':
          return tf.max(x, axes, this.keepdims);
        case 'min':
          return tf.min(x, axes, this.keepdims);
        case 'prod':
          return tf.prod(x, axes, this.keepdims);
      }
    });
  }

  computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const axes = this.axes(shape.length);
    if (this.keepdims) return shape.map((d, i) => (axes.includes(i) ? 1 : d));
    return shape.filter((_d, i) => !axes.includes(i));
  }

  override computeMask(): tf.Tensor {
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return null as unknown as tf.Tensor;
  }

  /** Position-wise (see positions.ts) when it reduces neither the batch nor the positions' axis. */
  incrementalRole(): IncrementalRole | null {
    return positionWiseUnless(this, ({ input }) => this.axes(input.length));
  }

  getConfig(): tf.serialization.ConfigDict {
    return { operation: this.operation, axis: this.axis, keepdims: this.keepdims, ...super.getConfig() };
  }
}
tf.serialization.registerClass(ReduceOperation);

/** The arguments of `KerasGlobalAveragePooling1D`: Keras's `GlobalAveragePooling1D`'s, in camelCase. */
export interface KerasGlobalAveragePooling1DArgs extends LayerArgs {
  /** 'channels_last' (the default): inputs (B, T, D), average over T. 'channels_first': (B, D, T). */
  dataFormat?: 'channels_last' | 'channels_first';
  /** Whether the averaged axis stays as size 1. Default false. */
  keepdims?: boolean;
}

/** Every argument name, for the unknown-argument check. */
const POOLING_ARG_NAMES = layerArgNames<KerasGlobalAveragePooling1DArgs>({
  dataFormat: true,
  keepdims: true,
});

/**
 * Keras's `GlobalAveragePooling1D`: the mean over the steps axis, over the unmasked steps only
 * when a padding mask (B, T), 1 = real step, comes with the input:
 * `sum(x * m) / sum(m)` (keras/src/layers/pooling/global_average_pooling1d.py).
 */
export class KerasGlobalAveragePooling1D extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'KerasGlobalAveragePooling1D';
  readonly dataFormat: 'channels_last' | 'channels_first';
  readonly keepdims: boolean;

  constructor(args: KerasGlobalAveragePooling1DArgs = {}) {
    super(args);
    checkLayerArgNames(this, KerasGlobalAveragePooling1D, args, POOLING_ARG_NAMES);
    // tfjs's deserialization turns the config's 'channels_last' into 'channelsLast': accept both spellings.
    const format = String(args.dataFormat ?? 'channels_last')
      .replace(/([a-z])([A-Z])/, '$1_$2')
      .toLowerCase();
    this.dataFormat = format as 'channels_last' | 'channels_first';
    if (this.dataFormat !== 'channels_last' && this.dataFormat !== 'channels_first') {
      throw new Error(
        `KerasGlobalAveragePooling1D: dataFormat is ${JSON.stringify(args.dataFormat)}; ` +
          "expected 'channels_last' or 'channels_first'",
      );
    }
    this.keepdims = args.keepdims ?? false;
    this.supportsMasking = true;
  }

  call(inputs: tf.Tensor | tf.Tensor[], kwargs: { mask?: tf.Tensor | null }): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (x.rank !== 3) {
        throw new Error(`KerasGlobalAveragePooling1D '${this.name}': input has rank ${x.rank}; expected 3`);
      }
      const steps = this.dataFormat === 'channels_last' ? 1 : 2;
      // Keras 3.15+ writes the mask into the graph as a second input; older files leave it to propagation.
      const given = Array.isArray(inputs) && inputs.length > 1 ? inputs[1] : (kwargs?.mask ?? null);
      if (given == null) return tf.mean(x, steps, this.keepdims);
      // (B, T) -> (B, T, 1) channels_last, (B, 1, T) channels_first.
      const mask = tf.expandDims(tf.cast(given as tf.Tensor, x.dtype), steps === 1 ? 2 : 1);
      return tf.div(tf.sum(tf.mul(x, mask), steps, this.keepdims), tf.sum(mask, steps, this.keepdims));
    });
  }

  computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const steps = this.dataFormat === 'channels_last' ? 1 : 2;
    return this.keepdims ? shape.map((d, i) => (i === steps ? 1 : d)) : shape.filter((_d, i) => i !== steps);
  }

  override computeMask(): tf.Tensor {
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return null as unknown as tf.Tensor;
  }

  getConfig(): tf.serialization.ConfigDict {
    return { dataFormat: this.dataFormat, keepdims: this.keepdims, ...super.getConfig() };
  }
}
tf.serialization.registerClass(KerasGlobalAveragePooling1D);

/** NumPy broadcasting of two static shapes (null = unknown size). */
function broadcastShapes(a: tf.Shape, b: tf.Shape, name: string): tf.Shape {
  const rank = Math.max(a.length, b.length);
  const out: tf.Shape = [];
  for (let i = 0; i < rank; i++) {
    // A missing leading axis broadcasts as 1; a null size (unknown, e.g. the batch) stays unknown
    // unless the other operand gives it.
    const x = i < rank - a.length ? 1 : a[a.length - rank + i];
    const y = i < rank - b.length ? 1 : b[b.length - rank + i];
    if (x === 1) out.push(y);
    else if (y === 1 || y === x) out.push(x);
    else if (x == null || y == null) out.push(x ?? y);
    else throw new Error(`ElementwiseOperation '${name}': shapes [${a}] and [${b}] do not broadcast`);
  }
  return out;
}

/** The arguments of `KerasSoftmax` (Keras's `Softmax` layer). */
export interface KerasSoftmaxArgs extends LayerArgs {
  /** Axis or axes of the softmax (negative counts from the end). Default -1. */
  axis?: number | number[];
}

/** Every argument name, for the unknown-argument check. */
const SOFTMAX_ARG_NAMES = layerArgNames<KerasSoftmaxArgs>({ axis: true });

/**
 * Keras's `Softmax` layer (keras/src/layers/activations/softmax.py): softmax over `axis` (over
 * several axes: `exp(x - logsumexp(x, axes))`); with a mask (a second input, or the propagated
 * padding mask), masked positions get -1e9 added before and 0 after.
 */
export class KerasSoftmax extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'KerasSoftmax';
  readonly axis: number | number[];

  constructor(args: KerasSoftmaxArgs = {}) {
    super(args);
    checkLayerArgNames(this, KerasSoftmax, args, SOFTMAX_ARG_NAMES);
    const axis = args.axis ?? -1;
    const axes = Array.isArray(axis) ? axis : [axis];
    if (axes.length === 0 || !axes.every((a) => Number.isInteger(a))) {
      throw new Error(`KerasSoftmax: axis is ${JSON.stringify(axis)}; expected an integer or a list of them`);
    }
    this.axis = axis;
    this.supportsMasking = true;
  }

  call(inputs: tf.Tensor | tf.Tensor[], kwargs: { mask?: tf.Tensor | null }): tf.Tensor {
    return tf.tidy(() => {
      let x = Array.isArray(inputs) ? inputs[0] : inputs;
      // The mask: a second input (Keras 3.15+ writes it into the graph), or a propagated one of x's
      // own shape (tfjs hands every layer of a run the same mask kwarg, see TFJS_NOTES).
      const propagated = kwargs?.mask ?? null;
      const given =
        Array.isArray(inputs) && inputs.length > 1
          ? inputs[1]
          : propagated != null && propagated.shape.join() === x.shape.join()
            ? propagated
            : null;
      const mask = given != null ? tf.cast(given, x.dtype) : null;
      if (mask != null) x = tf.add(x, tf.mul(tf.sub(1, mask), -1e9));
      const out = softmaxOver(x, Array.isArray(this.axis) ? this.axis : [this.axis]);
      return mask != null ? tf.mul(out, mask) : out;
    });
  }

  computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
  }

  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return ((Array.isArray(mask) ? mask[0] : mask) ?? null) as tf.Tensor;
  }

  /** Position-wise (see positions.ts) when its softmax is over neither the batch nor the positions' axis. */
  incrementalRole(): IncrementalRole | null {
    return positionWiseUnless(this, ({ input }) =>
      axesOf(Array.isArray(this.axis) ? this.axis : [this.axis], input.length),
    );
  }

  getConfig(): tf.serialization.ConfigDict {
    return { axis: this.axis, ...super.getConfig() };
  }
}
tf.serialization.registerClass(KerasSoftmax);
