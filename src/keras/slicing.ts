/**
 * Slicing in Keras graphs: `x[:, -1, :]` and every other basic NumPy index, as Keras writes it.
 *
 * - Keras 3: an operation node `{"module": "keras.src.ops.numpy", "class_name": "GetItem"}` called
 *   with args `[x, key]`, the key a list of `{"class_name": "__slice__", "config": {start, stop, step}}`,
 *   integers, `null` (`np.newaxis`) and `{"class_name": "__ellipsis__"}` (keras/src/ops/numpy.py
 *   `GetItem`, keras/src/saving/serialization_lib.py);
 * - Keras 2: a `SlicingOpLambda` layer (`"function": "__operators__.getitem"`) whose call has
 *   `{"slice_spec": [...]}` in its kwargs, slices as plain `{start, stop, step}` dicts
 *   (tf_keras/layers/core/tf_op_layer.py `_slice_to_dict`), Ellipsis as `{"class_name": "__ellipsis__"}`.
 * - `Cropping1D((a, b))` is `x[:, a:T-b, :]`.
 *
 * All load as `SliceOperation`, which computes NumPy's basic indexing (what JAX and TensorFlow
 * compute for these keys): slices follow Python's `slice.indices` (negative bounds count from the
 * end, out-of-range bounds are clipped, negative steps walk backwards), an integer picks one
 * position and removes the axis (out of range is an error, as in NumPy), `null` inserts an axis of
 * size 1, the ellipsis stands for as many full slices as the rank needs, and axes after the key
 * are kept whole.
 */
import * as tf from '@tensorflow/tfjs';
import { checkLayerArgNames, layerArgNames } from '../layers/args';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { IncrementalRole } from '../layers/incremental';
import { positionWiseUnless } from './positions';

/** One entry of a key: a slice, an integer index, `null` (new axis of size 1) or `'ellipsis'`. */
export type SliceKeyItem =
  { start: number | null; stop: number | null; step: number | null } | number | null | 'ellipsis';

/** A key as Keras writes it (either Keras), in this module's form; throws naming what is not a static basic index. */
export function parseSliceKey(value: unknown, where: string): SliceKeyItem[] {
  const bound = (v: unknown, what: string): number | null => {
    if (v == null) return null;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      throw new Error(
        `${where}: a slice ${what} of ${JSON.stringify(v)}; only integer (static) bounds are supported, ` +
          'not tensors',
      );
    }
    return v;
  };
  const item = (v: unknown): SliceKeyItem => {
    if (v == null) return null;
    if (v === 'ellipsis') return 'ellipsis';
    if (typeof v === 'number') return bound(v, 'index');
    if (typeof v === 'object' && !Array.isArray(v)) {
      const object = v as Record<string, unknown>;
      if (object.class_name === '__ellipsis__') return 'ellipsis';
      const slice = (object.class_name === '__slice__' ? object.config : object) as Record<string, unknown> | null;
      if (slice != null && 'start' in slice && 'stop' in slice) {
        const step = bound(slice.step, 'step');
        if (step === 0) throw new Error(`${where}: a slice step of 0`);
        return { start: bound(slice.start, 'start'), stop: bound(slice.stop, 'stop'), step };
      }
    }
    throw new Error(
      `${where}: index ${JSON.stringify(v)} is not supported; loadKerasModel supports slices, integers, ` +
        'None (newaxis) and Ellipsis (a tensor or a list used as an index is not)',
    );
  };
  const items = Array.isArray(value) ? value.map(item) : [item(value)];
  if (items.filter((i) => i === 'ellipsis').length > 1) throw new Error(`${where}: an index with two ellipses`);
  return items;
}

/** Python's `slice(start, stop, step).indices(length)`: the positions a slice takes from an axis. */
function sliceRange(item: { start: number | null; stop: number | null; step: number | null }, length: number) {
  const step = item.step ?? 1;
  const [lower, upper] = step > 0 ? [0, length] : [-1, length - 1];
  const clip = (v: number | null, fallback: number) =>
    v == null ? fallback : v < 0 ? Math.max(v + length, lower) : Math.min(v, upper);
  const start = clip(item.start, step > 0 ? lower : upper);
  const stop = clip(item.stop, step > 0 ? upper : lower);
  const size = Math.max(0, Math.ceil((stop - start) / step));
  return { start, step, size };
}

/** The key with the ellipsis (or the implicit one at the end) replaced by full slices, for an input of `rank`. */
function expandKey(key: SliceKeyItem[], rank: number, where: string): SliceKeyItem[] {
  const consuming = key.filter((i) => i !== null && i !== 'ellipsis').length;
  if (consuming > rank) throw new Error(`${where}: an index of ${consuming} axes for an input of rank ${rank}`);
  const full = Array.from({ length: rank - consuming }, () => ({ start: null, stop: null, step: null }));
  const at = key.indexOf('ellipsis');
  return at < 0 ? [...key, ...full] : [...key.slice(0, at), ...full, ...key.slice(at + 1)];
}

/** The arguments of `SliceOperation`: the key of a Keras `GetItem` (`x[key]`). */
export interface SliceOperationArgs extends LayerArgs {
  /** The index, in parseSliceKey's form. */
  key: SliceKeyItem[];
}

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<SliceOperationArgs>({ key: true });

/** `x[key]` with NumPy's basic indexing (see the module's comment). Passes no mask on, as Keras's operations. */
export class SliceOperation extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'SliceOperation';
  readonly key: SliceKeyItem[];

  constructor(args: SliceOperationArgs) {
    super(args);
    checkLayerArgNames(this, SliceOperation, args, ARG_NAMES);
    // tfjs's deserializer camel-cases strings; 'ellipsis' has no underscore and stays.
    this.key = parseSliceKey(args.key, `SliceOperation '${this.name}'`);
    this.supportsMasking = true;
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const where = `SliceOperation '${this.name}'`;
      const key = expandKey(this.key, x.rank, where);
      let y = x;
      const shape: number[] = [];
      let axis = 0;
      for (const item of key) {
        if (item === null) {
          shape.push(1);
          continue;
        }
        const length = x.shape[axis];
        if (typeof item === 'number') {
          const index = item < 0 ? item + length : item;
          if (index < 0 || index >= length) {
            throw new Error(`${where}: index ${item} is out of range for axis ${axis} of size ${length}`);
          }
          y = tf.slice(y, sliceBegin(y.rank, axis, index), sliceSize(y.shape, axis, 1));
        } else if (item !== 'ellipsis') {
          const { start, step, size } = sliceRange(item, length);
          if (step === 1) y = tf.slice(y, sliceBegin(y.rank, axis, start), sliceSize(y.shape, axis, size));
          else y = tf.gather(y, tf.range(start, start + size * step, step, 'int32'), axis);
          shape.push(size);
        }
        axis++;
      }
      return tf.reshape(y, shape);
    });
  }

  computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const input = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const shape: tf.Shape = [];
    let axis = 0;
    for (const item of expandKey(this.key, input.length, `SliceOperation '${this.name}'`)) {
      if (item === null) shape.push(1);
      else if (item !== 'ellipsis') {
        const length = input[axis];
        if (typeof item !== 'number') shape.push(length == null ? null : sliceRange(item, length).size);
        axis++;
      }
    }
    return shape;
  }

  override computeMask(_inputs: tf.Tensor | tf.Tensor[], _mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return null as unknown as tf.Tensor;
  }

  /**
   * Position-wise (see positions.ts) when the key takes the batch and the positions' axes whole and
   * leaves them first (`mask[:, :, None]`, `x[..., :4]`), not when it slices them or puts an axis
   * before them (`x[:, -1]`, `mask[:, None, :]`).
   */
  incrementalRole(): IncrementalRole | null {
    const whole = (item: SliceKeyItem) =>
      item != null && typeof item === 'object' && item.start == null && item.stop == null && (item.step ?? 1) === 1;
    return positionWiseUnless(this, ({ input }) => {
      const key = expandKey(this.key, input.length, `SliceOperation '${this.name}'`);
      return [0, 1].filter((axis) => !whole(key[axis]));
    });
  }

  getConfig(): tf.serialization.ConfigDict {
    return { key: this.key as unknown as tf.serialization.ConfigDictValue, ...super.getConfig() };
  }
}
tf.serialization.registerClass(SliceOperation);

function sliceBegin(rank: number, axis: number, start: number): number[] {
  return Array.from({ length: rank }, (_v, i) => (i === axis ? start : 0));
}

function sliceSize(shape: number[], axis: number, size: number): number[] {
  return shape.map((d, i) => (i === axis ? size : d));
}
