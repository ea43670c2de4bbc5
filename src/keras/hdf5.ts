/**
 * The HDF5 files Keras writes (`model.weights.h5` inside a `.keras`, and full-model `.h5`), by path:
 * groups and their members, attributes, and numeric datasets as typed arrays. The bytes are read by
 * this package's own strict reader (hdf5_reader.ts; the README's "Untrusted model files" says why it
 * is not a general HDF5 library). A dataset's declared size is checked against the bytes that
 * really hold it before anything is allocated; every failure is an `Error` that names the file and
 * the object.
 */
import { elementCount, Hdf5Object, Hdf5Reader, Hdf5Trace, Hdf5Type, readNumber } from './hdf5_reader';

/** A numeric dataset read into memory. */
export interface Hdf5Array {
  shape: number[];
  values: Float32Array;
}

/** A dataset's declared shape, element type and where its values are, checked against the file. */
interface DatasetInfo {
  shape: number[];
  type: Extract<Hdf5Type, { kind: 'number' }>;
  /** File offset and byte length of the values. */
  at: number;
  bytes: number;
}

/** An opened HDF5 file. Paths are '/'-separated from the root ('model_weights/dense/dense/kernel:0'). */
export class Hdf5File {
  private readonly reader: Hdf5Reader;
  private readonly nodes = new Map<string, Hdf5Object | null>();
  private readonly members = new Map<Hdf5Object, Map<string, number>>();
  private readonly attributes = new Map<Hdf5Object, Record<string, unknown>>();

  constructor(
    bytes: Uint8Array,
    /** How errors name the file. */
    readonly source: string,
    /** Called for each metadata field read (the fuzzer's map of the file's structure). */
    trace: Hdf5Trace | null = null,
  ) {
    this.reader = new Hdf5Reader(bytes, source, trace);
  }

  /** Whether `path` names a group or dataset. */
  has(path: string): boolean {
    return this.find(path) != null;
  }

  /** Member names of the group at `path` ('' for the root), in the file's order. */
  keys(path: string): string[] {
    const node = this.node(path);
    if (node.isDataset) throw new Error(`${this.source}: '${path}' is a dataset, not a group`);
    return [...this.links(node, path).keys()];
  }

  /**
   * Every dataset's path ('layers/dense/vars/0'), walking the groups from the root in the file's
   * order. Each object is reached once: a second link to one (an HDF5 hard link, which Keras never
   * writes, and which lets a crafted file reach a group by 2^n paths through n groups) is an error,
   * as is nesting deeper than `maxDepth`, so the walk takes time linear in the file's objects.
   */
  datasetPaths(maxDepth = 32): string[] {
    const paths: string[] = [];
    const reached = new Map<Hdf5Object, string>();
    const walk = (path: string, depth: number): void => {
      const node = this.node(path);
      const earlier = reached.get(node);
      if (earlier != null) {
        throw new Error(
          `${this.source}: '${path}' links to the object already at '${earlier || '/'}' (a hard link, which Keras ` +
            'never writes); the file is crafted',
        );
      }
      reached.set(node, path);
      if (node.isDataset) {
        paths.push(path);
        return;
      }
      if (depth === maxDepth) throw new Error(`${this.source}: '${path}' is nested more than ${maxDepth} groups deep`);
      for (const key of this.keys(path)) walk(path === '' ? key : `${path}/${key}`, depth + 1);
    };
    walk('', 0);
    return paths;
  }

  /** Whether the object at `path` is a group (has members) rather than a dataset. */
  isGroup(path: string): boolean {
    return !this.node(path).isDataset;
  }

  /**
   * Attributes of the object at `path` ('' for the root): strings decoded, arrays as arrays, null for
   * a type that Keras never writes (references, compounds, ...).
   */
  attrs(path: string): Record<string, unknown> {
    const node = this.node(path);
    const known = this.attributes.get(node);
    if (known != null) return known;
    const where = path === '' ? 'the root group' : `'${path}'`;
    const attrs: Record<string, unknown> = Object.create(null);
    for (const { name, message } of this.reader.attributeMessages(node, where)) {
      attrs[name] = this.reader.attributeValue(message, where);
    }
    this.attributes.set(node, attrs);
    return attrs;
  }

  /** The declared shape of the dataset at `path`, after checking that the file holds its values. */
  shape(path: string): number[] {
    return this.info(path).shape;
  }

  /** The dataset at `path` as float32 values, after checking its size against the file's. */
  read(path: string): Hdf5Array {
    const { shape, type, at, bytes } = this.info(path);
    const count = bytes / type.size;
    const data = this.reader.slice(at, bytes, `dataset '${path}'`);
    let values: Float32Array;
    if (type.class === 'float' && type.size === 4 && !type.bigEndian) {
      // The common case: a copy of the bytes as they are (a view when aligned would pin the whole file).
      values = new Float32Array(data.slice().buffer);
    } else {
      values = new Float32Array(count);
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      for (let i = 0; i < count; i++) values[i] = readNumber(view, i * type.size, type);
    }
    return { shape, values };
  }

  private info(path: string): DatasetInfo {
    const node = this.node(path);
    if (!node.isDataset) throw new Error(`${this.source}: '${path}' is a group, not a dataset`);
    const where = `dataset '${path}'`;
    const { type, space, storage } = this.reader.dataset(node, where);
    if (type.kind !== 'number') {
      const name = type.kind === 'unsupported' ? type.what : type.kind.replace('vlen', 'variable-length');
      throw new Error(
        `${this.source}: ${where} holds ${name} values; expected float32/float64 or an integer type ` +
          '(float16 and bfloat16 weights are not supported; save the model in float32)',
      );
    }
    const shape = space.dims ?? [];
    if (!shape.every((d) => Number.isSafeInteger(d))) {
      throw new Error(`${this.source}: ${where} has an invalid shape [${shape.join(',')}]`);
    }
    const bytes = elementCount(space) * type.size;
    const { at, size } = this.reader.storageRange(storage, where);
    if (bytes > size) {
      throw new Error(
        `${this.source}: ${where} declares shape [${shape}] (${bytes} bytes of ${describeType(type)}), ` +
          `more than the ${size} bytes that hold it; the file is corrupt or crafted`,
      );
    }
    if (bytes !== size) {
      throw new Error(`${this.source}: ${where} declares ${bytes} bytes of values but its storage holds ${size}`);
    }
    return { shape, type, at, bytes };
  }

  private links(node: Hdf5Object, path: string): Map<string, number> {
    let links = this.members.get(node);
    if (links == null) {
      links = this.reader.links(node, path === '' ? 'the root group' : `group '${path}'`);
      this.members.set(node, links);
    }
    return links;
  }

  /** Each path is looked up once. */
  private find(path: string): Hdf5Object | null {
    const key = path
      .split('/')
      .filter((p) => p !== '')
      .join('/');
    const known = this.nodes.get(key);
    if (known !== undefined) return known;
    let node: Hdf5Object | null;
    if (key === '') {
      node = this.reader.object(this.reader.rootAddress);
    } else {
      const slash = key.lastIndexOf('/');
      const parentPath = slash < 0 ? '' : key.slice(0, slash);
      const parent = this.find(parentPath);
      const address =
        parent == null || parent.isDataset ? undefined : this.links(parent, parentPath).get(key.slice(slash + 1));
      node = address == null ? null : this.reader.object(address);
    }
    this.nodes.set(key, node);
    return node;
  }

  private node(path: string): Hdf5Object {
    const node = this.find(path);
    if (node == null) throw new Error(`${this.source}: the HDF5 file has no '${path}'`);
    return node;
  }
}

/** numpy's name of a type ('<f4'), as h5py users know it. */
function describeType(type: Extract<Hdf5Type, { kind: 'number' }>): string {
  const kind = type.class === 'float' ? 'f' : type.signed ? 'i' : 'u';
  return `${type.bigEndian ? '>' : '<'}${kind}${type.size}`;
}
