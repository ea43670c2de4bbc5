/**
 * Writing the HDF5 file that Keras 3 keeps a model's weights in (`model.weights.h5` inside a
 * `.keras` archive): groups, fixed-length string attributes and contiguous little-endian float32
 * datasets, nothing else. The layout is the one h5py writes by default (the HDF5 File Format
 * Specification, version 0 superblock): version 1 object headers, and groups as symbol tables (a
 * version 1 B-tree whose leaf points to symbol-table nodes of at most 2 * 4 sorted entries, the
 * member names in a local heap). Every HDF5 reader reads it: libhdf5 (h5py, Keras), jsfive (this
 * package's reader), pyfive.
 *
 * The file is laid out children first, so every address is known when it is written; the
 * superblock, at offset 0, is filled in last. Offsets and lengths are 8 bytes, all little-endian.
 */

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
/** Every address and length in the file is 8 bytes. */
const UNDEFINED = Number.MAX_SAFE_INTEGER; // written as all ones, see Writer.address
/** Entries per symbol-table node: 2 * "group leaf node K", h5py's default K = 4. */
const LEAF_K = 4;
/** Children per B-tree node: 2 * "group internal node K"; h5py's default K = 16, raised for larger groups. */
const DEFAULT_INTERNAL_K = 16;
/** libhdf5's marker for a local heap without free blocks (H5HL_FREE_NULL). */
const HEAP_FREE_NULL = 1;
const SUPERBLOCK_SIZE = 96;
const ENTRY_SIZE = 40;

/** Object header message types (HDF5 spec IV.A.2). */
const MESSAGE = { dataspace: 0x0001, datatype: 0x0003, layout: 0x0008, attribute: 0x000c, symbolTable: 0x0011 };

/** A float32 dataset: row-major values of `shape`. */
export interface Hdf5Dataset {
  shape: number[];
  values: Float32Array;
}

interface GroupNode {
  kind: 'group';
  members: Map<string, GroupNode | DatasetNode>;
  attributes: Map<string, string>;
}

interface DatasetNode extends Hdf5Dataset {
  kind: 'dataset';
}

/**
 * An HDF5 file being put together: groups made on demand along '/'-separated paths.
 *
 * ```ts
 * const file = new Hdf5Writer();
 * file.dataset('layers/dense/vars/0', [4, 2], new Float32Array(8));
 * file.attribute('layers/dense/vars', 'name', 'dense');
 * const bytes = file.toBytes();
 * ```
 */
export class Hdf5Writer {
  private readonly root: GroupNode = emptyGroup();

  /** Makes the group at `path` (and its parents) if it does not exist. */
  group(path: string): void {
    this.groupAt(path);
  }

  /** A float32 dataset at `path`; its parent groups are made as needed. */
  dataset(path: string, shape: number[], values: Float32Array): void {
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`Hdf5Writer: dataset '${path}' has shape [${shape}]; expected non-negative integers`);
    }
    const size = shape.reduce((a, b) => a * b, 1);
    if (values.length !== size) {
      throw new Error(`Hdf5Writer: dataset '${path}' has ${values.length} values; its shape [${shape}] needs ${size}`);
    }
    const { parent, name } = this.parentOf(path);
    if (parent.members.has(name)) throw new Error(`Hdf5Writer: '${path}' already exists`);
    parent.members.set(name, { kind: 'dataset', shape: [...shape], values });
  }

  /** A string attribute on the group at `path` (made as needed), stored as fixed-length UTF-8. */
  attribute(path: string, name: string, value: string): void {
    this.groupAt(path).attributes.set(name, value);
  }

  /** The file's bytes. */
  toBytes(): Uint8Array {
    const out = new Writer();
    out.skip(SUPERBLOCK_SIZE);
    const maxChildren = Math.max(1, ...groupsOf(this.root).map((g) => Math.ceil(g.members.size / (2 * LEAF_K))));
    const internalK = Math.max(DEFAULT_INTERNAL_K, Math.ceil(maxChildren / 2));
    const root = writeGroup(out, this.root, internalK);
    writeSuperblock(out, root, internalK);
    return out.bytes();
  }

  private groupAt(path: string, full = path): GroupNode {
    let group = this.root;
    for (const part of splitPath(path)) {
      let next = group.members.get(part);
      if (next == null) {
        next = emptyGroup();
        group.members.set(part, next);
      }
      if (next.kind !== 'group') throw new Error(`Hdf5Writer: '${full}' passes through dataset '${part}'`);
      group = next;
    }
    return group;
  }

  private parentOf(path: string): { parent: GroupNode; name: string } {
    const parts = splitPath(path);
    if (parts.length === 0) throw new Error(`Hdf5Writer: a dataset needs a name, got path '${path}'`);
    const name = parts.pop()!;
    return { parent: this.groupAt(parts.join('/'), path), name };
  }
}

function emptyGroup(): GroupNode {
  return { kind: 'group', members: new Map(), attributes: new Map() };
}

function splitPath(path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '');
  for (const part of parts) {
    if (part === '.' || part === '..') throw new Error(`Hdf5Writer: path '${path}' has a '${part}' part`);
  }
  return parts;
}

function groupsOf(group: GroupNode): GroupNode[] {
  return [group, ...[...group.members.values()].flatMap((m) => (m.kind === 'group' ? groupsOf(m) : []))];
}

/** A growing little-endian byte buffer; `at` is the next address. */
class Writer {
  private buffer = new Uint8Array(1 << 16);
  private view = new DataView(this.buffer.buffer);
  at = 0;

  /** Reserves `n` zero bytes, returns their address. */
  skip(n: number): number {
    this.ensure(this.at + n);
    const start = this.at;
    this.at += n;
    return start;
  }

  /** Pads with zeros to a multiple of 8. */
  align(): void {
    this.skip(pad8(this.at) - this.at);
  }

  u8(value: number, at = this.skip(1)): void {
    this.view.setUint8(at, value);
  }

  u16(value: number, at = this.skip(2)): void {
    this.view.setUint16(at, value, true);
  }

  u32(value: number, at = this.skip(4)): void {
    this.view.setUint32(at, value, true);
  }

  /** An 8-byte address or length; UNDEFINED is written as all ones. */
  address(value: number, at = this.skip(8)): void {
    if (value === UNDEFINED) {
      this.view.setUint32(at, 0xffffffff, true);
      this.view.setUint32(at + 4, 0xffffffff, true);
      return;
    }
    this.view.setUint32(at, value % 2 ** 32, true);
    this.view.setUint32(at + 4, Math.floor(value / 2 ** 32), true);
  }

  raw(bytes: ArrayLike<number>, at = this.skip(bytes.length)): void {
    this.buffer.set(bytes, at);
  }

  bytes(): Uint8Array {
    return this.buffer.slice(0, this.at);
  }

  private ensure(size: number): void {
    if (size <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(size, this.buffer.length * 2));
    grown.set(this.buffer);
    this.buffer = grown;
    this.view = new DataView(grown.buffer);
  }
}

function pad8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/** Where a group's symbol table lives, as its parent's entry and the superblock record it. */
interface GroupAddresses {
  header: number;
  btree: number;
  heap: number;
}

interface Written {
  header: number;
  /** Groups only: cached in the parent's symbol-table entry (cache type 1). */
  table?: { btree: number; heap: number };
}

/** Writes the group's members, then its local heap, symbol-table nodes, B-tree and object header. */
function writeGroup(out: Writer, group: GroupNode, internalK: number): GroupAddresses {
  // libhdf5 finds a member by binary search over the names in byte order.
  const names = [...group.members.keys()].sort(compareBytes);
  const written = new Map<string, Written>();
  for (const name of names) {
    const member = group.members.get(name)!;
    if (member.kind === 'group') {
      const { header, btree, heap } = writeGroup(out, member, internalK);
      written.set(name, { header, table: { btree, heap } });
    } else {
      written.set(name, { header: writeDataset(out, member) });
    }
  }
  // 1. Local heap: the empty name at offset 0, then each name, null-terminated, 8-byte aligned.
  const encoded = names.map((n) => new TextEncoder().encode(n));
  const offsets: number[] = [];
  let size = 8;
  for (const bytes of encoded) {
    offsets.push(size);
    size += pad8(bytes.length + 1);
  }
  out.align();
  const heap = out.at;
  out.raw([0x48, 0x45, 0x41, 0x50, 0, 0, 0, 0]); // "HEAP", version 0, reserved
  out.address(size); // data segment size
  out.address(HEAP_FREE_NULL); // no free block
  out.address(out.at + 8); // the data segment follows
  const data = out.skip(size);
  encoded.forEach((bytes, i) => out.raw(bytes, data + offsets[i]));
  // 2. Symbol-table nodes ("SNOD"), 2 * LEAF_K entries each, full size even when not full (an empty
  //    group has none, as libhdf5 writes it).
  const nodes: { address: number; last: number }[] = [];
  for (let first = 0; first < names.length; first += 2 * LEAF_K) {
    const chunk = names.slice(first, first + 2 * LEAF_K);
    out.align();
    const address = out.at;
    out.raw([0x53, 0x4e, 0x4f, 0x44, 1, 0]); // "SNOD", version 1, reserved
    out.u16(chunk.length);
    const entries = out.skip(2 * LEAF_K * ENTRY_SIZE);
    chunk.forEach((name, i) => writeEntry(out, entries + i * ENTRY_SIZE, offsets[first + i], written.get(name)!));
    nodes.push({ address, last: offsets[first + chunk.length - 1] });
  }
  // 3. One leaf B-tree node ("TREE", type 0: group nodes) over the symbol-table nodes: key i is the
  //    heap offset of the greatest name left of child i (key 0 the empty name).
  out.align();
  const btree = out.at;
  out.raw([0x54, 0x52, 0x45, 0x45, 0, 0]); // "TREE", node type 0, level 0
  out.u16(nodes.length);
  out.address(UNDEFINED); // left sibling
  out.address(UNDEFINED); // right sibling
  const keys = out.skip((2 * internalK + 1) * 8 + 2 * internalK * 8);
  out.address(0, keys);
  nodes.forEach((node, i) => {
    out.address(node.address, keys + 8 + i * 16);
    out.address(node.last, keys + 16 + i * 16);
  });
  // 4. The object header: the symbol table message, then the attributes.
  const messages: Message[] = [{ type: MESSAGE.symbolTable, body: addresses(btree, heap) }];
  for (const [name, value] of group.attributes) messages.push(stringAttribute(name, value));
  return { header: writeObjectHeader(out, messages), btree, heap };
}

/** A symbol-table entry: name offset, object header address, and for a group its cached table. */
function writeEntry(out: Writer, at: number, nameOffset: number, object: Written): void {
  out.address(nameOffset, at);
  out.address(object.header, at + 8);
  out.u32(object.table ? 1 : 0, at + 16); // cache type
  if (object.table) {
    out.address(object.table.btree, at + 24);
    out.address(object.table.heap, at + 32);
  }
}

function writeDataset(out: Writer, dataset: DatasetNode): number {
  out.align();
  const bytes = dataset.values.length * 4;
  const data = bytes === 0 ? UNDEFINED : out.at;
  if (bytes > 0) {
    const start = out.skip(bytes);
    const view = new DataView(new ArrayBuffer(bytes));
    dataset.values.forEach((v, i) => view.setFloat32(i * 4, v, true));
    out.raw(new Uint8Array(view.buffer), start);
  }
  const layout = new Writer(); // version 3, class 1 (contiguous), address, size
  layout.u8(3);
  layout.u8(1);
  layout.address(data);
  layout.address(bytes);
  return writeObjectHeader(out, [
    { type: MESSAGE.dataspace, body: dataspace(dataset.shape) },
    { type: MESSAGE.datatype, body: FLOAT32 },
    { type: MESSAGE.layout, body: layout.bytes() },
  ]);
}

interface Message {
  type: number;
  body: Uint8Array;
}

/** A version 1 object header: 16-byte prefix, then each message with an 8-byte header, 8-byte aligned. */
function writeObjectHeader(out: Writer, messages: Message[]): number {
  out.align();
  const header = out.at;
  const size = messages.reduce((total, m) => total + 8 + pad8(m.body.length), 0);
  out.u8(1); // version
  out.u8(0);
  out.u16(messages.length);
  out.u32(1); // reference count
  out.u32(size);
  out.skip(4); // the messages start 8-byte aligned
  for (const message of messages) {
    out.u16(message.type);
    out.u16(pad8(message.body.length));
    out.u8(0); // flags
    out.skip(3);
    out.raw(message.body);
    out.align();
  }
  return header;
}

function addresses(...values: number[]): Uint8Array {
  const w = new Writer();
  values.forEach((v) => w.address(v));
  return w.bytes();
}

/** Dataspace message, version 1: rank, no maximum dimensions, then each dimension. */
function dataspace(shape: number[]): Uint8Array {
  const w = new Writer();
  w.u8(1);
  w.u8(shape.length);
  w.skip(6); // flags, reserved
  shape.forEach((d) => w.address(d));
  return w.bytes();
}

/**
 * Datatype message, version 1, class 1 (floating point): little-endian IEEE 754 binary32, sign at
 * bit 31, exponent bits 23-30 with bias 127, mantissa bits 0-22 with an implied leading 1.
 */
const FLOAT32 = (() => {
  const w = new Writer();
  w.u8(0x11); // version 1, class 1
  w.raw([0x20, 31, 0]); // byte order LE, mantissa normalization "implied", sign bit 31
  w.u32(4); // size in bytes
  w.u16(0); // bit offset
  w.u16(32); // bit precision
  w.raw([23, 8, 0, 23]); // exponent location, exponent size, mantissa location, mantissa size
  w.u32(127); // exponent bias
  return w.bytes();
})();

/**
 * Attribute message, version 1: a scalar fixed-length UTF-8 string, null-padded to its own length
 * (readers return it without a terminator; an empty string is one null byte).
 */
function stringAttribute(name: string, value: string): Message {
  const nameBytes = new TextEncoder().encode(`${name}\0`);
  const valueBytes = value === '' ? new Uint8Array(1) : new TextEncoder().encode(value);
  const type = new Writer();
  type.u8(0x13); // version 1, class 3 (string)
  type.raw([0x11, 0, 0]); // null-padded, UTF-8
  type.u32(valueBytes.length);
  const space = dataspace([]);
  const w = new Writer();
  w.u8(1); // version
  w.u8(0);
  w.u16(nameBytes.length);
  w.u16(type.at);
  w.u16(space.length);
  w.raw(nameBytes);
  w.align();
  w.raw(type.bytes());
  w.align();
  w.raw(space);
  w.align();
  w.raw(valueBytes);
  return { type: MESSAGE.attribute, body: w.bytes() };
}

function writeSuperblock(out: Writer, root: GroupAddresses, internalK: number): void {
  out.raw(SIGNATURE, 0);
  // Versions (superblock, free space, root entry, reserved, shared header), offsets and lengths 8 bytes.
  out.raw([0, 0, 0, 0, 0, 8, 8, 0], 8);
  out.u16(LEAF_K, 16);
  out.u16(internalK, 18);
  out.u32(0, 20); // consistency flags
  out.address(0, 24); // base address
  out.address(UNDEFINED, 32); // free-space info
  out.address(out.at, 40); // end of file
  out.address(UNDEFINED, 48); // driver information
  writeEntry(out, 56, 0, { header: root.header, table: { btree: root.btree, heap: root.heap } });
}

function compareBytes(a: string, b: string): number {
  const [x, y] = [new TextEncoder().encode(a), new TextEncoder().encode(b)];
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}
