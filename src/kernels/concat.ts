/**
 * Concat and SplitV for tfjs-backend-wasm as row copies inside the wasm heap: each input (or
 * output) is a run of `outer` rows along the axis, and each row moves with one `copyWithin` (a
 * memmove within the heap's buffer).
 *
 * Why: tfjs-backend-wasm 4.22 copies each row through `subarray` and `set`, which makes a typed
 * array object per row, and its SplitV goes through Slice, the same way. MultiHeadAttention joins
 * its query, key and value kernels with a Concat on every call and its gradient splits them back:
 * at B1 T128 D256 H8 a Concat of three (256, 256) kernels took about 0.3 ms and a SplitV 0.4 ms, by
 * tfjs's own profile, over a tenth of the layer's forward and backward. Strings and complex
 * numbers stay with tfjs's kernels.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type HeapView = Float32Array | Int32Array | Uint8Array;

/** The dtypes copied here: their heap views are plain typed arrays. */
const COPIED_DTYPES = new Set<tf.DataType>(['float32', 'int32', 'bool']);

/** Rows shorter than this are copied element by element: a `copyWithin` call costs more. */
const SHORT_ROW = 8;

/** The whole heap as `view`'s element type, and where `view` starts in it (in elements). */
function inHeap(view: HeapView): { heap: HeapView; at: number } {
  const Type = view.constructor as new (buffer: ArrayBufferLike) => HeapView;
  return { heap: new Type(view.buffer), at: view.byteOffset / view.BYTES_PER_ELEMENT };
}

/** Copies `rows` rows of `length` elements within `heap`, rows `fromStride` and `toStride` apart. */
function copyRows(
  heap: HeapView,
  from: number,
  fromStride: number,
  to: number,
  toStride: number,
  rows: number,
  length: number,
): void {
  if (fromStride === length && toStride === length) {
    heap.copyWithin(to, from, from + rows * length);
    return;
  }
  for (let r = 0; r < rows; r++) {
    const [source, target] = [from + r * fromStride, to + r * toStride];
    if (length < SHORT_ROW) for (let e = 0; e < length; e++) heap[target + e] = heap[source + e];
    else heap.copyWithin(target, source, source + length);
  }
}

/** tfjs's wasm Concat, `original`, with non-empty numeric inputs copied row by row in the heap. */
export function concatOnWasm(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const inputs = args.inputs as unknown as tf.TensorInfo[];
    const { axis: axisAttr } = args.attrs as unknown as { axis: number | number[] };
    const first = inputs[0];
    const nonEmpty = inputs.filter((input) => tf.util.sizeFromShape(input.shape) > 0);
    if (
      first == null ||
      nonEmpty.length < 2 ||
      !COPIED_DTYPES.has(first.dtype) ||
      inputs.some((input) => input.dtype !== first.dtype)
    ) {
      return original(args);
    }
    const axis = tf.util.parseAxisParam(axisAttr, first.shape)[0];
    const shapes = inputs.map((input) => input.shape);
    tf.backend_util.assertParamsConsistent(shapes, axis);
    const outShape = tf.backend_util.computeOutShape(shapes, axis);
    const backend = args.backend as unknown as BackendWasm;
    const out = backend.makeOutput(outShape, first.dtype);
    // Views taken after the allocation, which may grow (and detach) the heap.
    const { heap, at: outAt } = inHeap(backend.typedArrayFromHeap(out) as HeapView);
    const outer = tf.util.sizeFromShape(first.shape.slice(0, axis));
    const outRow = tf.util.sizeFromShape(outShape.slice(axis));
    let column = 0;
    for (const input of nonEmpty) {
      const row = tf.util.sizeFromShape(input.shape.slice(axis));
      const { at } = inHeap(backend.typedArrayFromHeap(input) as HeapView);
      copyRows(heap, at, row, outAt + column, outRow, outer, row);
      column += row;
    }
    return out;
  };
}

/** tfjs's wasm SplitV, `original`, with numeric tensors copied row by row in the heap. */
export function splitVOnWasm(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as unknown as { x: tf.TensorInfo };
    const { numOrSizeSplits, axis: axisAttr } = args.attrs as unknown as {
      numOrSizeSplits: number | number[];
      axis: number;
    };
    if (!COPIED_DTYPES.has(x.dtype) || tf.util.sizeFromShape(x.shape) === 0) return original(args);
    const axis = tf.util.parseAxisParam(axisAttr, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, axis);
    const backend = args.backend as unknown as BackendWasm;
    const outs = sizes.map((size) =>
      backend.makeOutput(
        x.shape.map((d, k) => (k === axis ? size : d)),
        x.dtype,
      ),
    );
    // Views taken after every allocation, which may grow (and detach) the heap.
    const { heap, at: xAt } = inHeap(backend.typedArrayFromHeap(x) as HeapView);
    const outer = tf.util.sizeFromShape(x.shape.slice(0, axis));
    const inner = tf.util.sizeFromShape(x.shape.slice(axis + 1));
    const xRow = x.shape[axis] * inner;
    let begin = 0;
    sizes.forEach((size, i) => {
      if (size > 0) {
        const { at } = inHeap(backend.typedArrayFromHeap(outs[i]) as HeapView);
        copyRows(heap, xAt + begin * inner, xRow, at, size * inner, outer, size * inner);
      }
      begin += size;
    });
    return outs;
  };
}
