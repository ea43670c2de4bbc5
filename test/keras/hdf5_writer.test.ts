/**
 * The HDF5 writer: what it writes read back by this package's reader, and, field by field, the
 * parts that libhdf5 (h5py, Keras) relies on and this package's reader does not read (the
 * superblock's end-of-file address, the cached symbol tables, B-tree keys and siblings, the local
 * heap's free list, reference counts), as the HDF5 File Format Specification (version 0
 * superblock, version 1 object headers) lays them out. Keras itself opens the writer's files in
 * `npm run check:keras-export` (.ci/run); these checks are the fast ones. No tfjs.
 */
import { Hdf5File } from '../../src/keras/hdf5';
import { Hdf5Writer } from '../../src/keras/hdf5_writer';

const NONE = 0xffffffffffffffffn; // an undefined address: all ones

describe('Hdf5Writer', () => {
  it('writes groups, string attributes and float32 datasets that the HDF5 reader reads back', () => {
    const file = new Hdf5Writer();
    // 300 members: symbol-table nodes hold 8, so the group's B-tree needs more than its default 32 children.
    for (let i = 0; i < 300; i++) file.dataset(`many/d${i}`, [2], Float32Array.from([i, -i]));
    file.dataset('layers/dense/vars/0', [2, 3], Float32Array.from([1, 2, 3, 4, 5, 6]));
    file.dataset('scalar', [], Float32Array.from([0.25]));
    file.attribute('layers/dense/vars', 'name', 'dense é');
    file.group('layers/dropout/vars');
    const h5 = new Hdf5File(file.toBytes(), 'written');
    expect(h5.keys('')).toEqual(['layers', 'many', 'scalar']);
    expect(h5.keys('many')).toHaveLength(300);
    expect(Array.from(h5.read('many/d299').values)).toEqual([299, -299]);
    expect(h5.read('layers/dense/vars/0')).toEqual({ shape: [2, 3], values: Float32Array.from([1, 2, 3, 4, 5, 6]) });
    expect(h5.read('scalar')).toEqual({ shape: [], values: Float32Array.from([0.25]) });
    expect(h5.attrs('layers/dense/vars')).toEqual({ name: 'dense é' });
    expect(h5.keys('layers/dropout/vars')).toEqual([]);
  });

  it('refuses a dataset whose values do not fill its shape, and a path through a dataset', () => {
    const file = new Hdf5Writer();
    expect(() => file.dataset('x', [2, 2], new Float32Array(3))).toThrow(
      "dataset 'x' has 3 values; its shape [2,2] needs 4",
    );
    file.dataset('x', [1], new Float32Array(1));
    expect(() => file.dataset('x/y', [1], new Float32Array(1))).toThrow("'x/y' passes through dataset 'x'");
  });

  it('refuses a shape of negative or fractional sizes, a path taken, a path without a name, . and ..', () => {
    const file = new Hdf5Writer();
    for (const shape of [[-1], [1.5], [2 ** 53]]) {
      expect(() => file.dataset('x', shape, new Float32Array(1))).toThrow(
        `Hdf5Writer: dataset 'x' has shape [${shape}]; expected non-negative integers`,
      );
    }
    file.dataset('x', [1], new Float32Array(1));
    expect(() => file.dataset('/x/', [1], new Float32Array(1))).toThrow("Hdf5Writer: '/x/' already exists");
    expect(() => file.dataset('//', [1], new Float32Array(1))).toThrow(
      "Hdf5Writer: a dataset needs a name, got path '//'",
    );
    for (const part of ['.', '..']) {
      expect(() => file.dataset(`a/${part}/y`, [1], new Float32Array(1))).toThrow(
        `Hdf5Writer: path 'a/${part}/y' has a '${part}' part`,
      );
    }
  });

  it('writes a file larger than its first 64 KiB buffer', () => {
    const file = new Hdf5Writer();
    const values = Float32Array.from({ length: 40000 }, (_v, i) => i);
    file.dataset('big', [40000], values);
    expect(new Hdf5File(file.toBytes(), 'w.h5').read('big').values).toEqual(values);
  });
});

/** The writer's file, parsed by offsets as the specification lays it out (no checks of its own). */
class Layout {
  readonly view: DataView;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u64(at: number): bigint {
    return this.view.getBigUint64(at, true);
  }

  n(at: number): number {
    return Number(this.u64(at));
  }

  text(at: number, length: number): string {
    return new TextDecoder().decode(this.bytes.subarray(at, at + length));
  }

  /** A version 1 object header: its prefix fields and messages (type, flags, data offset and size). */
  header(at: number) {
    const v = this.view;
    const prefix = { version: v.getUint8(at), reserved: v.getUint8(at + 1), refCount: v.getUint32(at + 4, true) };
    const size = v.getUint32(at + 8, true);
    const messages: { type: number; flags: number; at: number; size: number; reserved: number[] }[] = [];
    for (let m = at + 16; m < at + 16 + size; m += 8 + v.getUint16(m + 2, true)) {
      const reserved = Array.from(this.bytes.subarray(m + 5, m + 8));
      messages.push({
        type: v.getUint16(m, true),
        flags: v.getUint8(m + 4),
        at: m + 8,
        size: v.getUint16(m + 2, true),
        reserved,
      });
    }
    return { ...prefix, count: v.getUint16(at + 2, true), size, messages };
  }

  /** A group's symbol table: its B-tree node, local heap and symbol-table entries. */
  group(btree: number, heap: number) {
    const v = this.view;
    const entriesUsed = v.getUint16(btree + 6, true);
    const tree = {
      head: this.text(btree, 4),
      type: v.getUint8(btree + 4),
      level: v.getUint8(btree + 5),
      siblings: [this.u64(btree + 8), this.u64(btree + 16)],
      keys: Array.from({ length: entriesUsed + 1 }, (_k, i) => this.n(btree + 24 + i * 16)),
      children: Array.from({ length: entriesUsed }, (_c, i) => this.n(btree + 32 + i * 16)),
    };
    const data = this.n(heap + 24);
    const local = {
      head: Array.from(this.bytes.subarray(heap, heap + 8)),
      size: this.n(heap + 8),
      freeList: this.u64(heap + 16),
      data,
      name: (offset: number) => this.text(data + offset, this.bytes.indexOf(0, data + offset) - data - offset),
    };
    const nodes = tree.children.map((node) => ({
      head: Array.from(this.bytes.subarray(node, node + 6)),
      entries: Array.from({ length: v.getUint16(node + 6, true) }, (_e, i) => {
        const e = node + 8 + i * 40;
        return {
          name: local.name(this.n(e)),
          nameOffset: this.n(e),
          header: this.n(e + 8),
          cacheType: v.getUint32(e + 16, true),
          reserved: v.getUint32(e + 20, true),
          scratch: [this.u64(e + 24), this.u64(e + 32)],
        };
      }),
    }));
    return { tree, local, nodes, entries: nodes.flatMap((n) => n.entries) };
  }
}

/** The file the layout tests look at, made in each test (a writer that throws fails that test). */
function sample(): Layout {
  const file = new Hdf5Writer();
  file.dataset('b/x', [2, 3], Float32Array.from([1, 2, 3, 4, 5, 6]));
  file.dataset('B', [1], Float32Array.from([7]));
  file.dataset('é', [0], new Float32Array(0));
  file.attribute('b', 'name', 'hello');
  file.attribute('b', 'none', '');
  return new Layout(file.toBytes());
}

describe('Hdf5Writer lays out what libhdf5 reads', () => {
  it('a version 0 superblock: 8-byte addresses, K = 4 and 16, the end of the file, the root entry', () => {
    const f = sample();
    const signature = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
    expect(Array.from(f.bytes.subarray(0, 24))).toEqual([
      ...signature,
      0,
      0,
      0,
      0,
      0,
      8,
      8,
      0,
      4,
      0,
      16,
      0,
      0,
      0,
      0,
      0,
    ]);
    // Base address, free-space info, end of file, driver information.
    expect([f.u64(24), f.u64(32), f.u64(40), f.u64(48)]).toEqual([0n, NONE, BigInt(f.bytes.byteLength), NONE]);
    // The root's symbol-table entry: name offset 0, object header, cache type 1 with its B-tree and heap.
    const root = f.header(f.n(64));
    expect(root.messages[0].type).toBe(0x11);
    const table = [f.u64(root.messages[0].at), f.u64(root.messages[0].at + 8)];
    expect([f.u64(56), f.view.getUint32(72, true), f.view.getUint32(76, true), f.u64(80), f.u64(88)]).toEqual([
      0n,
      1,
      0,
      ...table,
    ]);
  });

  it("a group: members in byte order, a group's entry caching its symbol table, B-tree keys, a local heap", () => {
    const f = sample();
    const root = f.header(f.n(64));
    const g = f.group(f.n(80), f.n(88));
    expect(g.tree).toEqual({
      head: 'TREE',
      type: 0,
      level: 0,
      siblings: [NONE, NONE],
      keys: [0, g.entries[2].nameOffset], // key 0 the empty name, key 1 the node's greatest name
      children: [g.tree.children[0]],
    });
    expect(root.count).toBe(1);
    // "HEAP", version 0; its data follows its 32-byte header; no free block (H5HL_FREE_NULL = 1).
    expect(g.local).toMatchObject({ head: [0x48, 0x45, 0x41, 0x50, 0, 0, 0, 0], freeList: 1n });
    expect(g.local.data).toBe(f.n(88) + 32);
    expect(f.bytes[g.local.data]).toBe(0); // the empty name at offset 0
    expect(g.nodes.map((n) => n.head)).toEqual([[0x53, 0x4e, 0x4f, 0x44, 1, 0]]); // "SNOD", version 1
    expect(g.entries.map((e) => [e.name, e.nameOffset % 8, e.cacheType, e.reserved])).toEqual([
      ['B', 0, 0, 0],
      ['b', 0, 1, 0],
      ['é', 0, 0, 0],
    ]);
    expect(g.local.size).toBe(8 + 8 + 8 + 8);
    const b = f.header(g.entries[1].header);
    expect(g.entries[1].scratch).toEqual([f.u64(b.messages[0].at), f.u64(b.messages[0].at + 8)]);
    expect([g.entries[0].scratch, g.entries[2].scratch]).toEqual([
      [0n, 0n],
      [0n, 0n],
    ]);
  });

  it('sorts members in byte order (libhdf5 searches them so): a prefix first, UTF-8 not UTF-16 order', () => {
    const sorted = new Hdf5Writer();
    for (const name of ['😀', 'ab', 'ｚ', 'a']) sorted.dataset(name, [1], Float32Array.from([1]));
    const s = new Layout(sorted.toBytes());
    expect(s.group(s.n(80), s.n(88)).entries.map((e) => e.name)).toEqual(['a', 'ab', 'ｚ', '😀']);
  });

  it('object headers: version 1, reference count 1, each message 8-byte aligned with flags 0', () => {
    const f = sample();
    const g = f.group(f.n(80), f.n(88));
    for (const entry of g.entries) {
      const h = f.header(entry.header);
      expect([h.version, h.reserved, h.refCount, h.count]).toEqual([1, 0, 1, h.messages.length]);
      expect(h.size).toBe(h.messages.reduce((s, m) => s + 8 + m.size, 0));
      for (const m of h.messages) expect([m.flags, m.size % 8, m.reserved]).toEqual([0, 0, [0, 0, 0]]);
    }
  });

  it('a float32 dataset: dataspace version 1, the IEEE binary32 datatype, contiguous layout (none when empty)', () => {
    const f = sample();
    const g = f.group(f.n(80), f.n(88));
    const [one, , empty] = g.entries.map((e) => f.header(e.header));
    expect(one.messages.map((m) => m.type)).toEqual([0x01, 0x03, 0x08]);
    const [space, type, layout] = one.messages.map((m) => Array.from(f.bytes.subarray(m.at, m.at + m.size)));
    expect(space).toEqual([1, 1, 0, 0, 0, 0, 0, 0, ...[1, 0, 0, 0, 0, 0, 0, 0]]); // version 1, rank 1, no maximum
    expect(type).toEqual([
      ...[0x11, 0x20, 31, 0], // version 1, class 1; little-endian, implied mantissa bit; sign at bit 31
      ...[4, 0, 0, 0, 0, 0, 32, 0], // 4 bytes; bit offset 0, precision 32
      ...[23, 8, 0, 23, 127, 0, 0, 0], // exponent at 23, 8 bits; mantissa at 0, 23 bits; bias 127
      ...[0, 0, 0, 0], // padding to 8 bytes
    ]);
    expect(layout.slice(0, 2)).toEqual([3, 1]); // version 3, contiguous
    const data = f.n(one.messages[2].at + 2);
    expect([f.view.getFloat32(data, true), f.n(one.messages[2].at + 10)]).toEqual([7, 4]);
    expect([f.u64(empty.messages[2].at + 2), f.u64(empty.messages[2].at + 10)]).toEqual([NONE, 0n]);
  });

  it('a string attribute: version 1, a NUL-terminated name, null-padded UTF-8 of its own length, scalar', () => {
    const f = sample();
    const g = f.group(f.n(80), f.n(88));
    const b = f.header(g.entries[1].header);
    const attributes = b.messages
      .filter((m) => m.type === 0x0c)
      .map((m) => Array.from(f.bytes.subarray(m.at, m.at + m.size)));
    const scalar = [1, 0, 0, 0, 0, 0, 0, 0];
    expect(attributes).toEqual([
      [
        ...[1, 0, 5, 0, 8, 0, 8, 0], // version 1, name, datatype and dataspace sizes
        ...[...Buffer.from('name\0'), 0, 0, 0],
        ...[0x13, 0x11, 0, 0, 5, 0, 0, 0], // string, null-padded, UTF-8, 5 bytes
        ...scalar,
        ...[...Buffer.from('hello'), 0, 0, 0],
      ],
      [
        ...[1, 0, 5, 0, 8, 0, 8, 0],
        ...[...Buffer.from('none\0'), 0, 0, 0],
        ...[0x13, 0x11, 0, 0, 1, 0, 0, 0],
        ...scalar,
        ...[0, 0, 0, 0, 0, 0, 0, 0],
      ],
    ]);
  });

  it('a symbol node for every 8 members, none for an empty group (as libhdf5 writes them)', () => {
    const file = new Hdf5Writer();
    for (let i = 0; i < 8; i++) file.dataset(`eight/d${i}`, [1], Float32Array.from([i]));
    file.group('empty');
    const l = new Layout(file.toBytes());
    const root = l.group(l.n(80), l.n(88));
    const groups = root.entries.map((e) => l.group(Number(e.scratch[0]), Number(e.scratch[1])));
    expect(groups.map((g) => [g.tree.children.length, g.entries.length])).toEqual([
      [1, 8], // eight
      [0, 0], // empty
    ]);
  });

  it('a group of 296 members: K raised to 19 for its 37 symbol nodes (2K children at least)', () => {
    const many = new Hdf5Writer();
    for (let i = 0; i < 296; i++) many.dataset(`many/d${i}`, [1], Float32Array.from([i]));
    const m = new Layout(many.toBytes());
    expect(m.view.getUint16(18, true)).toBe(19);
    expect(new Hdf5File(m.bytes, 'w.h5').keys('many')).toHaveLength(296);
  });

  it("a group of 300 members: K raised to 19 for its 38 symbol nodes, each B-tree key its node's greatest name", () => {
    const many = new Hdf5Writer();
    const names = Array.from({ length: 300 }, (_n, i) => `d${String(i).padStart(3, '0')}`);
    for (const name of names) many.dataset(`many/${name}`, [1], Float32Array.from([1]));
    const m = new Layout(many.toBytes());
    expect([m.view.getUint16(16, true), m.view.getUint16(18, true)]).toEqual([4, 19]);
    const root = m.group(m.n(80), m.n(88));
    const table = m.header(root.entries[0].header).messages[0];
    const g = m.group(m.n(table.at), m.n(table.at + 8));
    expect(g.entries.map((e) => e.name)).toEqual(names);
    expect(g.nodes.map((n) => n.entries.length)).toEqual([...new Array(37).fill(8), 4]);
    expect(g.tree.keys.map((k) => g.local.name(k))).toEqual(['', ...g.nodes.map((n) => n.entries.at(-1)!.name)]);
  });
});
