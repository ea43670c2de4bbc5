/**
 * A strict reader of the HDF5 structures that h5py writes for Keras (`model.weights.h5` inside a
 * `.keras`, and full-model `.h5`), the same in Node and in browser bundles, in the manner of the zip
 * reader (zip.ts): the file is untrusted, so every address and size is checked against the file
 * before it is followed or allocated, every structure that links to another (B-tree nodes, object
 * header continuations) is visited at most once, and every failure is an `Error` that names the
 * file and the structure.
 *
 * The layout is The HDF Group's "HDF5 File Format Specification Version 3.0". What is read:
 * - superblock versions 0 to 3, with 8-byte addresses and lengths (h5py's only choice);
 * - object headers version 1 and 2 (with continuation blocks);
 * - groups as a symbol table (version 1 B-tree of type 0, symbol nodes, local heap: what h5py
 *   writes by default) or as link messages in the object header (compact new-style groups);
 * - attributes (message versions 1 to 3) of fixed-point, floating-point, fixed-length string and
 *   variable-length string or sequence types, with their data in the message and, for
 *   variable-length data, in global heap collections;
 * - datasets of fixed-point or floating-point type stored contiguous or compact (Keras never
 *   chunks or compresses a dataset: `h5py.Group.create_dataset(name, data=...)`).
 * What Keras never writes is refused with a sentence that says so: chunked or virtual storage,
 * dense (fractal-heap) link or attribute storage, shared messages, external links. Checksums of
 * version 2 structures are not verified: every field is bounds-checked instead.
 *
 * Addresses are relative to the superblock (the base address; a user block may precede it).
 */

/** An address field whose bytes are all 0xff: "undefined address". */
const UNDEFINED = -1;

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** Object header message types (specification section IV.A.2). */
const MSG = {
  dataspace: 0x01,
  linkInfo: 0x02,
  datatype: 0x03,
  link: 0x06,
  externalFiles: 0x07,
  layout: 0x08,
  filters: 0x0b,
  attribute: 0x0c,
  continuation: 0x10,
  symbolTable: 0x11,
  attributeInfo: 0x15,
} as const;

/** Datatype classes (IV.A.2.d). */
const CLASS = { fixed: 0, float: 1, string: 3, vlen: 9 } as const;
/**
 * `text` after "a" or "an", as it is spoken: an opaque type, an 8-byte integer, an 11-byte one, a
 * 16-bit float (the numbers that are said with a vowel first: 8, 11, 18, 80-89, 800-899, ...).
 */
export function withArticle(text: string): string {
  const vowelSound = /^[aeiou]/i.test(text) || /^(8|11|18)(?!\d)|^8\d/.test(text);
  return `${vowelSound ? 'an' : 'a'} ${text}`;
}

const CLASS_NAMES = [
  'fixed-point',
  'floating-point',
  'time',
  'string',
  'bitfield',
  'opaque',
  'compound',
  'reference',
  'enumerated',
  'variable-length',
  'array',
];

/** Deepest nesting of datatypes (a variable-length type's base type) that is followed. */
const MAX_TYPE_DEPTH = 4;
/** Deepest version 1 B-tree (a level-n node has children of level n-1); real groups have 1 or 2 levels. */
const MAX_BTREE_LEVEL = 32;

/** Called for each metadata field read: its offset in the file, size in bytes and what it is. */
export type Hdf5Trace = (at: number, size: number, what: string) => void;

/** A datatype as far as this reader understands it; `supported: false` for the classes it does not read. */
export type Hdf5Type =
  | { kind: 'number'; class: 'fixed' | 'float'; size: number; signed: boolean; bigEndian: boolean; bits: number }
  | { kind: 'string'; size: number; padding: number }
  | { kind: 'vlen-string'; size: number }
  | { kind: 'vlen-sequence'; size: number; base: Hdf5Type }
  | { kind: 'unsupported'; size: number; what: string };

/** A dataspace: `null` dims for the null dataspace (no elements), [] for a scalar. */
export interface Hdf5Space {
  dims: number[] | null;
}

interface Message {
  type: number;
  /** Offset of the message's data in the file. */
  at: number;
  size: number;
  flags: number;
}

/** What a dataset's layout message says about where its values are. */
export type Hdf5Storage =
  { kind: 'contiguous'; address: number; size: number } | { kind: 'compact'; at: number; size: number };

/** One object (group or dataset) of the file, its header parsed. */
export class Hdf5Object {
  constructor(
    readonly address: number,
    readonly messages: readonly Message[],
  ) {}

  has(type: number): boolean {
    return this.messages.some((m) => m.type === type);
  }

  first(type: number): Message | undefined {
    return this.messages.find((m) => m.type === type);
  }

  get isDataset(): boolean {
    return this.has(MSG.dataspace);
  }
}

/** A bounds-checked view of the file. */
export class Hdf5Reader {
  private readonly view: DataView;
  /** Offset of the superblock in `bytes`; addresses in the file are relative to it. */
  private readonly base: number;
  readonly rootAddress: number;
  private readonly objects = new Map<number, Hdf5Object>();
  private readonly globalHeaps = new Map<number, Map<number, [number, number]>>();
  private readonly groupLeafK: number;
  private readonly groupInternalK: number;

  constructor(
    readonly bytes: Uint8Array,
    /** How errors name the file. */
    readonly source: string,
    private readonly trace: Hdf5Trace | null = null,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.base = findSignature(bytes);
    if (this.base < 0) this.fail('has no HDF5 signature (at offset 0, 512, 1024, ...)');
    const s = this.base;
    const version = this.u8(s + 8, 'superblock version');
    if (version <= 1) {
      this.need(s, 24, 'the superblock');
      const offsets = this.u8(s + 13, 'size of offsets');
      const lengths = this.u8(s + 14, 'size of lengths');
      this.checkSizes(offsets, lengths);
      this.groupLeafK = this.u16(s + 16, 'group leaf node K');
      this.groupInternalK = this.u16(s + 18, 'group internal node K');
      if (this.groupLeafK === 0 || this.groupInternalK === 0) this.fail('has a group B-tree K of 0 in its superblock');
      const fields = s + (version === 0 ? 24 : 28);
      // base, free-space, end-of-file and driver addresses, then the root group's symbol table entry.
      this.rootAddress = this.address(fields + 32 + 8, 'root group object header address', true);
    } else if (version <= 3) {
      const offsets = this.u8(s + 9, 'size of offsets');
      const lengths = this.u8(s + 10, 'size of lengths');
      this.checkSizes(offsets, lengths);
      this.groupLeafK = 4;
      this.groupInternalK = 16;
      // base, superblock extension and end-of-file addresses, then the root group's object header.
      this.rootAddress = this.address(s + 12 + 24, 'root group object header address', true);
    } else {
      this.fail(`has superblock version ${version}; versions 0 to 3 are read`);
    }
  }

  /** The object whose header is at `address`, parsed once. */
  object(address: number): Hdf5Object {
    const known = this.objects.get(address);
    if (known != null) return known;
    const object = new Hdf5Object(address, this.messagesAt(address));
    this.objects.set(address, object);
    return object;
  }

  /** A group's members in the file's order: name -> object header address. */
  links(object: Hdf5Object, where: string): Map<string, number> {
    const links = new Map<string, number>();
    const symbolTable = object.first(MSG.symbolTable);
    if (symbolTable != null) {
      this.trace?.(symbolTable.at, symbolTable.size, `symbol table message of ${where}`);
      const btree = this.address(symbolTable.at, `B-tree address of ${where}`, true);
      const heap = this.localHeap(this.address(symbolTable.at + 8, `local heap address of ${where}`, true), where);
      this.groupNodes(btree, heap, where, links);
      return links;
    }
    const info = object.first(MSG.linkInfo);
    if (info != null) {
      const flags = this.u8(info.at + 1, 'link info flags');
      const heap = this.address(info.at + 2 + (flags & 1 ? 8 : 0), 'link info fractal heap address', false);
      if (heap !== UNDEFINED) {
        this.fail(
          `stores the members of ${where} densely (in a fractal heap), which Keras never writes; ` +
            're-save the model with Keras (h5py default settings)',
        );
      }
    }
    for (const message of object.messages) {
      if (message.type === MSG.link) this.link(message, where, links);
    }
    return links;
  }

  /** The object's attribute messages, name and message, in header order. */
  attributeMessages(object: Hdf5Object, where: string): { name: string; message: Message }[] {
    const info = object.first(MSG.attributeInfo);
    if (info != null) {
      const flags = this.u8(info.at + 1, 'attribute info flags');
      const heap = this.address(info.at + 2 + (flags & 1 ? 2 : 0), 'attribute info fractal heap address', false);
      if (heap !== UNDEFINED) {
        this.fail(`stores the attributes of ${where} densely (in a fractal heap), which Keras never writes`);
      }
    }
    return object.messages
      .filter((m) => m.type === MSG.attribute)
      .map((message) => ({ name: this.attributeHeader(message, where).name, message }));
  }

  /** Decodes one attribute: strings, numbers, or arrays of them; null for a type this reader does not read. */
  attributeValue(message: Message, where: string): unknown {
    const header = this.attributeHeader(message, where);
    const what = `attribute '${header.name}' of ${where}`;
    if (header.sharedType || header.sharedSpace) return null;
    const type = this.datatype(header.typeAt, header.typeSize, what, 0);
    const space = this.dataspace(header.spaceAt, header.spaceSize, what);
    if (type.kind === 'unsupported') return null;
    const count = elementCount(space);
    const end = message.at + message.size;
    if (count > (end - header.dataAt) / type.size) {
      this.fail(
        `${what} declares ${count} elements of ${type.size} bytes, more than its ${end - header.dataAt}-byte ` +
          'message holds; the file is corrupt or crafted',
      );
    }
    // Each variable-length element may point anywhere in the global heap: all of them together may
    // decode to no more than the file's own length.
    const budget = { left: this.bytes.byteLength };
    const values: unknown[] = [];
    for (let i = 0; i < count; i++) values.push(this.element(type, header.dataAt + i * type.size, what, budget));
    return space.dims != null && space.dims.length === 0 ? values[0] : values;
  }

  /** A dataset's type, space and storage. */
  dataset(object: Hdf5Object, where: string): { type: Hdf5Type; space: Hdf5Space; storage: Hdf5Storage } {
    const typeMsg = this.required(object, MSG.datatype, where, 'datatype');
    const spaceMsg = this.required(object, MSG.dataspace, where, 'dataspace');
    const layoutMsg = this.required(object, MSG.layout, where, 'data layout');
    for (const m of [typeMsg, spaceMsg, layoutMsg]) {
      if (m.flags & 2) this.fail(`${where} has a shared (committed) datatype or dataspace, which Keras never writes`);
    }
    if (object.has(MSG.externalFiles)) this.fail(`${where} keeps its data in external files; refusing to read them`);
    if (object.has(MSG.filters)) {
      this.fail(`${where} is compressed or filtered, which Keras never writes; re-save the model with Keras`);
    }
    this.trace?.(typeMsg.at, typeMsg.size, `datatype message of ${where}`);
    this.trace?.(spaceMsg.at, spaceMsg.size, `dataspace message of ${where}`);
    this.trace?.(layoutMsg.at, layoutMsg.size, `layout message of ${where}`);
    const type = this.datatype(typeMsg.at, typeMsg.size, where, 0);
    const space = this.dataspace(spaceMsg.at, spaceMsg.size, where);
    return { type, space, storage: this.layout(layoutMsg, where) };
  }

  /** Where a dataset's values are in the file: offset and byte length, checked to lie in the file. */
  storageRange(storage: Hdf5Storage, where: string): { at: number; size: number } {
    if (storage.kind === 'compact') return { at: storage.at, size: storage.size };
    if (storage.address === UNDEFINED) this.fail(`${where} has no data (it was never written)`);
    const at = this.base + storage.address;
    this.need(at, storage.size, `the data of ${where}`);
    return { at, size: storage.size };
  }

  /** `size` bytes at file offset `at` (absolute), after checking they lie in the file. */
  slice(at: number, size: number, what: string): Uint8Array {
    this.need(at, size, what);
    return this.bytes.subarray(at, at + size);
  }

  // ---------------------------------------------------------------------------------------------
  // Object headers.

  private messagesAt(address: number): Message[] {
    const at = this.absolute(address, 'an object header');
    const version = this.u8(at, 'object header version');
    if (version === 1) return this.messagesV1(at);
    if (version === 0x4f && this.signature(at, 'OHDR')) return this.messagesV2(at);
    return this.fail(`has no object header at address ${address} (version byte ${version}); the file is corrupt`);
  }

  private messagesV1(at: number): Message[] {
    const size = this.u32(at + 8, 'object header size');
    const blocks: [number, number][] = [[at + 16, size]];
    const seen = new Set<number>([at + 16]);
    const messages: Message[] = [];
    for (let b = 0; b < blocks.length; b++) {
      const [start, length] = blocks[b];
      this.need(start, length, 'an object header block');
      for (let m = start; m + 8 <= start + length;) {
        const type = this.u16(m, 'message type');
        const msgSize = this.u16(m + 2, 'message size');
        const flags = this.u8(m + 4, 'message flags');
        const data = m + 8;
        if (data + msgSize > start + length) this.fail(`has an object header message running past its block at ${m}`);
        messages.push({ type, at: data, size: msgSize, flags });
        if (type === MSG.continuation) this.continuation(data, msgSize, blocks, seen, 0);
        m = data + msgSize;
      }
    }
    return messages;
  }

  private messagesV2(at: number): Message[] {
    const flags = this.u8(at + 5, 'object header flags');
    let p = at + 6 + (flags & 0x20 ? 16 : 0) + (flags & 0x10 ? 4 : 0);
    const sizeBytes = 1 << (flags & 3);
    const size = this.uint(p, sizeBytes, 'object header chunk size');
    p += sizeBytes;
    const creationOrder = flags & 0x04 ? 2 : 0;
    const blocks: [number, number][] = [[p, size]];
    const seen = new Set<number>([p]);
    const messages: Message[] = [];
    for (let b = 0; b < blocks.length; b++) {
      const [start, length] = blocks[b];
      this.need(start, length, 'an object header block');
      for (let m = start; m + 4 + creationOrder <= start + length;) {
        const type = this.u8(m, 'message type');
        const msgSize = this.u16(m + 1, 'message size');
        const msgFlags = this.u8(m + 3, 'message flags');
        const data = m + 4 + creationOrder;
        if (data + msgSize > start + length) this.fail(`has an object header message running past its block at ${m}`);
        messages.push({ type, at: data, size: msgSize, flags: msgFlags });
        if (type === MSG.continuation) this.continuation(data, msgSize, blocks, seen, 4);
        m = data + msgSize;
      }
    }
    return messages;
  }

  /** Queues a continuation block; `prefix` is the "OCHK" signature of version 2 blocks (whose checksum ends them). */
  private continuation(at: number, size: number, blocks: [number, number][], seen: Set<number>, prefix: number): void {
    if (size < 16) this.fail(`has a continuation message of ${size} bytes`);
    const address = this.absolute(this.address(at, 'continuation address', true), 'a continuation block');
    const length = this.length(at + 8, 'continuation length');
    this.need(address, length, 'a continuation block');
    if (prefix > 0 && !this.signature(address, 'OCHK'))
      this.fail(`has a continuation block without its OCHK signature`);
    const start = address + prefix;
    if (seen.has(start)) this.fail('has an object header whose continuation blocks form a loop; the file is crafted');
    seen.add(start);
    blocks.push([start, Math.max(0, length - prefix - (prefix > 0 ? 4 : 0))]);
  }

  private required(object: Hdf5Object, type: number, where: string, what: string): Message {
    const message = object.first(type);
    if (message == null) this.fail(`${where} has no ${what} message`);
    return message!;
  }

  // ---------------------------------------------------------------------------------------------
  // Groups.

  /** Walks a group's version 1 B-tree (type 0), each node once, adding its symbols' names. */
  private groupNodes(root: number, heap: LocalHeap, where: string, links: Map<string, number>): void {
    const seen = new Set<number>();
    const queue: [number, number | null][] = [[root, null]];
    for (let q = 0; q < queue.length; q++) {
      const [address, level] = queue[q];
      if (seen.has(address))
        this.fail(`has a B-tree for ${where} that reaches node ${address} twice; the file is crafted`);
      seen.add(address);
      const at = this.absolute(address, 'a B-tree node');
      if (!this.signature(at, 'TREE')) this.fail(`has no B-tree node at address ${address} (for ${where})`);
      const type = this.u8(at + 4, 'B-tree node type');
      const nodeLevel = this.u8(at + 5, 'B-tree node level');
      const entries = this.u16(at + 6, 'B-tree entries used');
      if (type !== 0) this.fail(`has a B-tree of type ${type} for ${where}; a group's is type 0`);
      if (level != null && nodeLevel !== level) {
        this.fail(`has a B-tree for ${where} whose node at ${address} has level ${nodeLevel}, expected ${level}`);
      }
      if (nodeLevel > MAX_BTREE_LEVEL) this.fail(`has a B-tree of ${nodeLevel} levels for ${where}`);
      // Every node of a group's B-tree (leaves too) holds up to 2K children with K the superblock's
      // "group internal node K"; "group leaf node K" bounds the symbol nodes (2K symbols each).
      const capacity = 2 * this.groupInternalK;
      if (entries > capacity) {
        this.fail(`has a B-tree node for ${where} with ${entries} entries, more than its capacity ${capacity}`);
      }
      // Signature, type, level, entries, two sibling addresses; then key 0, child 0, key 1, ...
      const first = at + 24;
      this.need(first, entries * 16 + 8, 'a B-tree node');
      for (let i = 0; i < entries; i++) {
        const child = this.address(first + 8 + i * 16, 'B-tree child address', true);
        if (nodeLevel > 0) queue.push([child, nodeLevel - 1]);
        else this.symbolNode(child, heap, where, links, seen);
      }
    }
  }

  private symbolNode(
    address: number,
    heap: LocalHeap,
    where: string,
    links: Map<string, number>,
    seen: Set<number>,
  ): void {
    if (seen.has(address)) this.fail(`has a B-tree for ${where} that reaches symbol node ${address} twice`);
    seen.add(address);
    const at = this.absolute(address, 'a symbol table node');
    if (!this.signature(at, 'SNOD')) this.fail(`has no symbol table node at address ${address} (for ${where})`);
    const count = this.u16(at + 6, 'symbol count');
    if (count > 2 * this.groupLeafK) this.fail(`has a symbol table node for ${where} with ${count} symbols`);
    this.need(at + 8, count * 40, 'a symbol table node');
    for (let i = 0; i < count; i++) {
      const entry = at + 8 + i * 40;
      const name = heap.string(this.length(entry, 'link name offset'));
      const object = this.address(entry + 8, 'symbol object header address', false);
      const cacheType = this.u32(entry + 16, 'symbol cache type');
      if (cacheType === 2 || object === UNDEFINED) continue; // a soft link: not followed
      if (links.has(name)) this.fail(`has two members named '${clip(name)}' in ${where}`);
      links.set(name, object);
    }
  }

  private link(message: Message, where: string, links: Map<string, number>): void {
    const end = message.at + message.size;
    let p = message.at;
    const version = this.u8(p, 'link message version');
    if (version !== 1) this.fail(`has a link message of version ${version} in ${where}`);
    const flags = this.u8(p + 1, 'link message flags');
    p += 2;
    const linkType = flags & 0x08 ? this.u8(p++, 'link type') : 0;
    if (flags & 0x04) p += 8;
    if (flags & 0x10) p++; // character set: names are decoded as UTF-8 either way
    const lengthBytes = 1 << (flags & 3);
    const nameLength = this.uint(p, lengthBytes, 'link name length');
    p += lengthBytes;
    if (p + nameLength > end) this.fail(`has a link name running past its message in ${where}`);
    const name = decodeText(this.slice(p, nameLength, 'a link name'));
    p += nameLength;
    if (linkType === 1) return; // a soft link: not followed
    if (linkType !== 0)
      this.fail(`has an external or user-defined link '${clip(name)}' in ${where}; refusing to follow it`);
    if (p + 8 > end) this.fail(`has a link message without its address in ${where}`);
    if (links.has(name)) this.fail(`has two members named '${clip(name)}' in ${where}`);
    links.set(name, this.address(p, 'link address', true));
  }

  private localHeap(address: number, where: string): LocalHeap {
    const at = this.absolute(address, 'a local heap');
    if (!this.signature(at, 'HEAP')) this.fail(`has no local heap at address ${address} (for ${where})`);
    const size = this.length(at + 8, 'local heap data size');
    const data = this.absolute(this.address(at + 24, 'local heap data address', true), 'local heap data');
    this.need(data, size, 'local heap data');
    return new LocalHeap(this.bytes.subarray(data, data + size), (message) => this.fail(`${message} (for ${where})`));
  }

  // ---------------------------------------------------------------------------------------------
  // Attributes, datatypes, dataspaces, layouts.

  private attributeHeader(
    message: Message,
    where: string,
  ): {
    name: string;
    typeAt: number;
    typeSize: number;
    spaceAt: number;
    spaceSize: number;
    dataAt: number;
    sharedType: boolean;
    sharedSpace: boolean;
  } {
    const at = message.at;
    const end = at + message.size;
    const version = this.u8(at, 'attribute message version');
    if (version < 1 || version > 3) this.fail(`has an attribute message of version ${version} on ${where}`);
    const flags = version === 1 ? 0 : this.u8(at + 1, 'attribute flags');
    const nameSize = this.u16(at + 2, 'attribute name size');
    const typeSize = this.u16(at + 4, 'attribute datatype size');
    const spaceSize = this.u16(at + 6, 'attribute dataspace size');
    const pad = version === 1 ? (n: number) => Math.ceil(n / 8) * 8 : (n: number) => n;
    const nameAt = at + (version === 3 ? 9 : 8);
    const typeAt = nameAt + pad(nameSize);
    const spaceAt = typeAt + pad(typeSize);
    const dataAt = spaceAt + pad(spaceSize);
    if (nameSize === 0 || dataAt > end) this.fail(`has an attribute message on ${where} whose parts overrun it`);
    const name = decodeText(this.slice(nameAt, nameSize, 'an attribute name')).replace(/\0+$/, '');
    this.trace?.(at, message.size, `attribute '${name}' of ${where}`);
    return {
      name,
      typeAt,
      typeSize,
      spaceAt,
      spaceSize,
      dataAt,
      sharedType: (flags & 1) !== 0,
      sharedSpace: (flags & 2) !== 0,
    };
  }

  /** Parses a datatype message of at most `limit` bytes at `at`. */
  private datatype(at: number, limit: number, where: string, depth: number): Hdf5Type {
    if (depth > MAX_TYPE_DEPTH) this.fail(`${where} has datatypes nested more than ${MAX_TYPE_DEPTH} deep`);
    if (limit < 8) this.fail(`${where} has ${withArticle(`${limit}-byte`)} datatype message`);
    const classAndVersion = this.u8(at, 'datatype class and version');
    const typeClass = classAndVersion & 0x0f;
    const bits = this.u8(at + 1, 'datatype bit field') | (this.u8(at + 2, 'datatype bit field') << 8);
    const size = this.u32(at + 4, 'datatype size');
    if (size === 0) this.fail(`${where} has a datatype of size 0; the file is corrupt or crafted`);
    if (typeClass === CLASS.fixed || typeClass === CLASS.float) {
      if (limit < 12) this.fail(`${where} has a truncated numeric datatype`);
      const precision = this.u16(at + 10, 'datatype precision');
      const bigEndian = (bits & 1) === 1;
      if (typeClass === CLASS.fixed && ![1, 2, 4, 8].includes(size)) {
        return { kind: 'unsupported', size, what: withArticle(`${size}-byte integer`) };
      }
      if (typeClass === CLASS.float && size !== 4 && size !== 8) {
        return { kind: 'unsupported', size, what: withArticle(`${size * 8}-bit float`) };
      }
      const fixed = typeClass === CLASS.fixed;
      return {
        kind: 'number',
        class: fixed ? 'fixed' : 'float',
        size,
        signed: fixed && (bits & 8) !== 0,
        bigEndian,
        bits: precision,
      };
    }
    if (typeClass === CLASS.string) return { kind: 'string', size, padding: bits & 0x0f };
    if (typeClass === CLASS.vlen) {
      if ((bits & 0x0f) === 1) return { kind: 'vlen-string', size: 16 };
      const base = this.datatype(at + 8, limit - 8, where, depth + 1);
      return { kind: 'vlen-sequence', size: 16, base };
    }
    return { kind: 'unsupported', size, what: withArticle(`${CLASS_NAMES[typeClass] ?? `class ${typeClass}`} type`) };
  }

  private dataspace(at: number, limit: number, where: string): Hdf5Space {
    const version = this.u8(at, 'dataspace version');
    const rank = this.u8(at + 1, 'dataspace rank');
    const flags = this.u8(at + 2, 'dataspace flags');
    let dims: number[] | null;
    let first: number;
    if (version === 1) {
      first = at + 8;
      dims = [];
    } else if (version === 2) {
      const type = this.u8(at + 3, 'dataspace type');
      if (type > 2) this.fail(`${where} has a dataspace of type ${type}`);
      first = at + 4;
      dims = type === 2 ? null : [];
    } else {
      return this.fail(`${where} has a dataspace message of version ${version}; versions 1 and 2 are read`);
    }
    if (rank > 32) this.fail(`${where} has a dataspace of rank ${rank}; HDF5 allows at most 32`);
    const needed = first - at + rank * 8 * (flags & 1 ? 2 : 1);
    if (needed > limit) this.fail(`${where} has a dataspace message that its ${rank} dimensions overrun`);
    if (dims == null) return { dims };
    for (let i = 0; i < rank; i++) dims.push(this.length(first + i * 8, 'dimension size'));
    return { dims };
  }

  private layout(message: Message, where: string): Hdf5Storage {
    const at = message.at;
    const version = this.u8(at, 'layout version');
    if (version !== 3 && version !== 4) {
      this.fail(
        `${where} has a data layout message of version ${version}; versions 3 and 4 (HDF5 1.6.3 and later) are read`,
      );
    }
    const layoutClass = this.u8(at + 1, 'layout class');
    if (layoutClass === 0) {
      const size = this.u16(at + 2, 'compact data size');
      if (4 + size > message.size) this.fail(`${where} has compact data running past its message`);
      return { kind: 'compact', at: at + 4, size };
    }
    if (layoutClass === 1) {
      return {
        kind: 'contiguous',
        address: this.address(at + 2, 'contiguous data address', false),
        size: this.length(at + 10, 'contiguous data size'),
      };
    }
    const what = layoutClass === 2 ? 'chunked' : layoutClass === 3 ? 'virtual' : `class-${layoutClass}`;
    return this.fail(
      `${where} uses ${what} storage, which Keras never writes (its datasets are contiguous); ` +
        're-save the model with Keras',
    );
  }

  /** One element of an attribute's data. */
  private element(type: Hdf5Type, at: number, where: string, budget: { left: number }): unknown {
    switch (type.kind) {
      case 'number':
        return readNumber(this.view, at, type);
      case 'string': {
        const raw = this.slice(at, type.size, where);
        // Null-terminated (0) or null-padded (1): up to the first NUL; space-padded (2): trailing spaces.
        const end = type.padding === 2 ? raw.length : raw.indexOf(0) < 0 ? raw.length : raw.indexOf(0);
        const text = decodeText(raw.subarray(0, end));
        return type.padding === 2 ? text.replace(/ +$/, '') : text;
      }
      case 'vlen-string':
        return decodeText(this.vlenData(at, 1, where, budget));
      case 'vlen-sequence': {
        const count = this.u32(at, 'sequence length');
        const data = this.vlenData(at, type.base.size, where, budget);
        if (type.base.kind !== 'number') return null;
        const base = type.base;
        const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
        return Array.from({ length: count }, (_v, i) => readNumber(view, i * base.size, base));
      }
      default:
        return null;
    }
  }

  /** The bytes of a variable-length element: `count` items of `itemSize` bytes in a global heap object. */
  private vlenData(at: number, itemSize: number, where: string, budget: { left: number }): Uint8Array {
    const count = this.u32(at, `variable-length element count of ${where}`);
    const collection = this.address(at + 4, 'global heap collection address', false);
    const index = this.u32(at + 12, 'global heap object index');
    if (count === 0) return new Uint8Array(0);
    if (collection === UNDEFINED) this.fail(`${where} refers to no global heap`);
    const bytes = count * itemSize;
    budget.left -= bytes;
    if (budget.left < 0) {
      this.fail(`${where} decodes to more bytes than the file holds (variable-length data used over and over)`);
    }
    const objects = this.globalHeap(collection, where);
    const object = objects.get(index);
    if (object == null)
      this.fail(`${where} refers to global heap object ${index}, which collection ${collection} lacks`);
    const [start, size] = object!;
    if (bytes > size) this.fail(`${where} needs ${bytes} bytes from ${withArticle(`${size}-byte`)} global heap object`);
    return this.bytes.subarray(start, start + bytes);
  }

  /** A global heap collection's objects: index -> [offset, size], parsed once per collection. */
  private globalHeap(address: number, where: string): Map<number, [number, number]> {
    const known = this.globalHeaps.get(address);
    if (known != null) return known;
    const at = this.absolute(address, 'a global heap collection');
    if (!this.signature(at, 'GCOL')) this.fail(`has no global heap collection at address ${address} (for ${where})`);
    const size = this.length(at + 8, 'global heap collection size');
    this.need(at, size, 'a global heap collection');
    const objects = new Map<number, [number, number]>();
    for (let p = at + 16; p + 16 <= at + size;) {
      const index = this.u16(p, 'global heap object index');
      if (index === 0) break; // free space: the rest of the collection
      const objectSize = this.length(p + 8, 'global heap object size');
      const data = p + 16;
      if (data + objectSize > at + size)
        this.fail(`has a global heap object running past its collection at ${address}`);
      objects.set(index, [data, objectSize]);
      p = data + Math.ceil(objectSize / 8) * 8;
    }
    this.globalHeaps.set(address, objects);
    return objects;
  }

  // ---------------------------------------------------------------------------------------------
  // Fields.

  fail(problem: string): never {
    throw new Error(
      `${this.source}: ${problem.startsWith('has') || problem.startsWith('stores') ? 'the HDF5 file ' : ''}${problem}`,
    );
  }

  private checkSizes(offsets: number, lengths: number): void {
    if (offsets !== 8 || lengths !== 8) {
      this.fail(
        `has ${offsets}-byte addresses and ${lengths}-byte lengths; only 8-byte ones (what h5py writes) are read`,
      );
    }
  }

  private need(at: number, size: number, what: string): void {
    if (!(at >= 0 && size >= 0 && at + size <= this.bytes.byteLength)) {
      this.fail(
        `has ${what} at ${at} (${size} bytes) past the end of its ${this.bytes.byteLength} bytes ` +
          '(truncated or corrupt)',
      );
    }
  }

  private signature(at: number, text: string): boolean {
    this.need(at, 4, withArticle(`${text} signature`));
    this.trace?.(at, 4, `${text} signature`);
    for (let i = 0; i < 4; i++) if (this.bytes[at + i] !== text.charCodeAt(i)) return false;
    return true;
  }

  /** The file offset of an address (relative to the superblock), checked to lie in the file. */
  private absolute(address: number, what: string): number {
    const at = this.base + address;
    if (address < 0 || at >= this.bytes.byteLength)
      this.fail(`has ${what} at address ${address}, past the end of the file`);
    return at;
  }

  private u8(at: number, what: string): number {
    this.need(at, 1, what);
    this.trace?.(at, 1, what);
    return this.bytes[at];
  }

  private u16(at: number, what: string): number {
    this.need(at, 2, what);
    this.trace?.(at, 2, what);
    return this.view.getUint16(at, true);
  }

  private u32(at: number, what: string): number {
    this.need(at, 4, what);
    this.trace?.(at, 4, what);
    return this.view.getUint32(at, true);
  }

  private uint(at: number, size: number, what: string): number {
    if (size === 1) return this.u8(at, what);
    if (size === 2) return this.u16(at, what);
    if (size === 4) return this.u32(at, what);
    return this.length(at, what);
  }

  /** An 8-byte length, which must fit the file (no structure is longer than the file that holds it). */
  private length(at: number, what: string): number {
    this.need(at, 8, what);
    this.trace?.(at, 8, what);
    const value = this.view.getBigUint64(at, true);
    if (value > BigInt(this.bytes.byteLength) && !what.startsWith('dimension')) {
      this.fail(
        `has ${withArticle(what)} of ${value} at ${at}, more than the ${this.bytes.byteLength}-byte file holds ` +
          '(truncated or corrupt)',
      );
    }
    if (value > BigInt(Number.MAX_SAFE_INTEGER))
      this.fail(`has ${withArticle(what)} of ${value} at ${at}; the file is corrupt`);
    return Number(value);
  }

  /** An 8-byte address: UNDEFINED for all ones (refused when `required`), else checked to lie in the file. */
  private address(at: number, what: string, required: boolean): number {
    this.need(at, 8, what);
    this.trace?.(at, 8, what);
    const value = this.view.getBigUint64(at, true);
    if (value === 0xffffffffffffffffn) {
      if (required) this.fail(`has no ${what} at ${at} (the field is unset)`);
      return UNDEFINED;
    }
    if (value >= BigInt(this.bytes.byteLength - this.base)) {
      this.fail(
        `has ${withArticle(what)} of ${value} at ${at}, past the end of the ${this.bytes.byteLength}-byte file ` +
          '(truncated or corrupt)',
      );
    }
    return Number(value);
  }
}

/** A group's local heap: link names as NUL-terminated strings. */
class LocalHeap {
  constructor(
    private readonly data: Uint8Array,
    private readonly fail: (message: string) => never,
  ) {}

  string(offset: number): string {
    if (offset >= this.data.byteLength) this.fail(`has a link name at offset ${offset} past its local heap`);
    const end = this.data.indexOf(0, offset);
    if (end < 0) this.fail(`has a link name at offset ${offset} without its terminating NUL`);
    return decodeText(this.data.subarray(offset, end));
  }
}

/** Elements in a dataspace (0 for the null dataspace); dimensions multiply as floats, so no overflow goes unseen. */
export function elementCount(space: Hdf5Space): number {
  return space.dims == null ? 0 : space.dims.reduce((a, b) => a * b, 1);
}

/** Offset of the HDF5 signature: 0, 512, 1024, 2048, ... (-1 if none). */
export function findSignature(bytes: Uint8Array): number {
  for (let at = 0; at + 8 <= bytes.byteLength; at = at === 0 ? 512 : at * 2) {
    if (SIGNATURE.every((b, i) => bytes[at + i] === b)) return at;
  }
  return -1;
}

export function readNumber(view: DataView, at: number, type: Extract<Hdf5Type, { kind: 'number' }>): number {
  const little = !type.bigEndian;
  if (type.class === 'float') {
    return type.size === 4 ? view.getFloat32(at, little) : view.getFloat64(at, little);
  }
  switch (type.size) {
    case 1:
      return type.signed ? view.getInt8(at) : view.getUint8(at);
    case 2:
      return type.signed ? view.getInt16(at, little) : view.getUint16(at, little);
    case 4:
      return type.signed ? view.getInt32(at, little) : view.getUint32(at, little);
    default:
      return Number(type.signed ? view.getBigInt64(at, little) : view.getBigUint64(at, little));
  }
}

const UTF8 = new TextDecoder('utf-8');

/**
 * Text of a name or string value. h5py labels `str` values UTF-8 and `bytes` ones ASCII, and Keras 2
 * stored UTF-8-encoded names as bytes: both are decoded as UTF-8 (invalid bytes as U+FFFD).
 */
function decodeText(bytes: Uint8Array): string {
  return UTF8.decode(bytes);
}

/** A name as error messages show it: at most 200 characters. */
function clip(text: string): string {
  return text.length <= 200 ? text : `${text.slice(0, 200)}…`;
}
