/**
 * Reading the HDF5 files Keras writes (`model.weights.h5` inside a `.keras`, and full-model
 * `.h5`), through jsfive, a pure-JavaScript HDF5 reader that runs unchanged in Node and in
 * browser bundles (no WebAssembly, no file system).
 *
 * Only what a Keras file needs is exposed: groups and their members, attributes, and numeric
 * datasets as typed arrays. The file is untrusted, and jsfive allocates a dataset's whole shape
 * before reading it, so a dataset is read only after its declared size has been checked against
 * what the file can really hold (its byte length; Keras never compresses weights, and a
 * compressed dataset may claim at most deflate's 1032:1 ratio). jsfive throws plain strings on
 * malformed input; every failure here is an `Error` that names the file and the object.
 */
import * as jsfive from 'jsfive';

/** The part of jsfive's Group / Dataset that this module uses. */
interface Hdf5Node {
  name: string;
  attrs: Record<string, unknown>;
  keys?: string[];
  shape?: number[];
  dtype?: unknown;
  value?: unknown;
  filter_pipeline?: unknown;
  get?(path: string): Hdf5Node | null;
}

const MAX_COMPRESSION_RATIO = 1032;
const FLOAT_BYTES: Record<string, number> = { '<f4': 4, '<f8': 8, '>f4': 4, '>f8': 8 };
const INT_BYTES: Record<string, number> = { '<i4': 4, '<i8': 8, '<u1': 1, '<i1': 1, '<u4': 4, '<i2': 2, '<u2': 2 };

/** A numeric dataset read into memory. */
export interface Hdf5Array {
  shape: number[];
  values: Float32Array;
}

/** An opened HDF5 file. Paths are '/'-separated from the root ('model_weights/dense/dense/kernel:0'). */
export class Hdf5File {
  private readonly root: Hdf5Node;
  private readonly byteLength: number;

  constructor(
    bytes: Uint8Array,
    /** How errors name the file. */
    readonly source: string,
  ) {
    this.byteLength = bytes.byteLength;
    // jsfive reads from an ArrayBuffer of its own: copy out the view's range.
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    this.root = this.guard('the file', () => new jsfive.File(buffer, source) as unknown as Hdf5Node);
  }

  /** Whether `path` names a group or dataset. */
  has(path: string): boolean {
    return this.find(path) != null;
  }

  /** Member names of the group at `path` ('' for the root), in the file's order. */
  keys(path: string): string[] {
    const node = this.node(path);
    if (!Array.isArray(node.keys)) throw new Error(`${this.source}: '${path}' is a dataset, not a group`);
    return this.guard(`'${path}'`, () => node.keys!);
  }

  /** Whether the object at `path` is a group (has members) rather than a dataset. */
  isGroup(path: string): boolean {
    return this.node(path).shape === undefined;
  }

  /** Attributes of the object at `path` ('' for the root), strings decoded, arrays as arrays. */
  attrs(path: string): Record<string, unknown> {
    const node = this.node(path);
    return this.guard(`the attributes of '${path || '/'}'`, () => node.attrs ?? {});
  }

  /** The dataset at `path` as float32 values, after checking its size against the file's. */
  read(path: string): Hdf5Array {
    const node = this.node(path);
    if (node.shape === undefined) throw new Error(`${this.source}: '${path}' is a group, not a dataset`);
    const shape = this.guard(`the shape of '${path}'`, () => node.shape!);
    const dtype = String(this.guard(`the dtype of '${path}'`, () => node.dtype));
    const itemBytes = FLOAT_BYTES[dtype] ?? INT_BYTES[dtype];
    if (itemBytes == null) {
      throw new Error(
        `${this.source}: dataset '${path}' has dtype ${dtype}; expected float32/float64 or an integer type ` +
          '(float16 and bfloat16 weights are not supported; save the model in float32)',
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`${this.source}: dataset '${path}' has an invalid shape ${JSON.stringify(shape)}`);
    }
    const size = shape.reduce((a, b) => a * b, 1);
    const compressed = this.guard(`the filters of '${path}'`, () => node.filter_pipeline) != null;
    const limit = this.byteLength * (compressed ? MAX_COMPRESSION_RATIO : 1);
    if (size * itemBytes > limit) {
      throw new Error(
        `${this.source}: dataset '${path}' declares shape [${shape}] (${size * itemBytes} bytes of ${dtype}), ` +
          `more than the ${this.byteLength}-byte file can hold; the file is corrupt or crafted`,
      );
    }
    const raw = this.guard(`dataset '${path}'`, () => node.value);
    const values = ArrayBuffer.isView(raw) || Array.isArray(raw) ? Float32Array.from(raw as ArrayLike<number>) : null;
    if (values == null || values.length !== size) {
      throw new Error(
        `${this.source}: dataset '${path}' holds ${values?.length ?? 'no'} values; its shape needs ${size}`,
      );
    }
    return { shape, values };
  }

  /** jsfive parses an object's header again on every lookup: each path is looked up once. */
  private readonly cache = new Map<string, Hdf5Node | null>();

  private find(path: string): Hdf5Node | null {
    const key = path
      .split('/')
      .filter((p) => p !== '')
      .join('/');
    if (this.cache.has(key)) return this.cache.get(key)!;
    const slash = key.lastIndexOf('/');
    const parent = key === '' ? null : this.find(slash < 0 ? '' : key.slice(0, slash));
    const node = key === '' ? this.root : parent == null ? null : this.child(parent, key.slice(slash + 1), path);
    this.cache.set(key, node);
    return node;
  }

  private child(node: Hdf5Node, part: string, path: string): Hdf5Node | null {
    // Check membership by name first: jsfive looks names up with `in` on a plain object.
    if (!Array.isArray(node.keys) || !this.guard(`'${path}'`, () => node.keys!).includes(part)) return null;
    return this.guard(`'${path}'`, () => node.get!(part)) ?? null;
  }

  private node(path: string): Hdf5Node {
    const node = this.find(path);
    if (node == null) throw new Error(`${this.source}: the HDF5 file has no '${path}'`);
    return node;
  }

  private guard<T>(what: string, read: () => T): T {
    try {
      return read();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`${this.source}: cannot read ${what} of the HDF5 file (${message}); the file is corrupt`);
    }
  }
}
