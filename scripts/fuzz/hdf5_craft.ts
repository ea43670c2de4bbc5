/**
 * The structure of an HDF5 fixture, as the library's own reader sees it (every metadata field it
 * reads, through its trace), and crafted changes to it: a field set to a chosen value, an attribute
 * that declares a billion elements, a group B-tree made a chain, groups made a chain of hard links,
 * a dataset made chunked, an attribute's string replaced (the new value appended in a
 * global heap collection of its own).
 */
import { Hdf5File } from '../../src/keras/hdf5';
import { Hdf5Reader } from '../../src/keras/hdf5_reader';
import { concat } from './zip_writer';

/** A metadata field (or, for labels ending in "of <object>", a whole message) the reader read. */
export interface Hdf5Field {
  at: number;
  size: number;
  what: string;
}

/** Every field the reader reads when it walks the whole file (groups, attributes, datasets). */
export function mapHdf5(bytes: Uint8Array): Hdf5Field[] {
  const seen = new Map<string, Hdf5Field>();
  const file = new Hdf5File(bytes, 'fixture', (at, size, what) => seen.set(`${at}/${what}`, { at, size, what }));
  const walk = (path: string, depth: number): void => {
    if (depth > 12) return;
    tryTo(() => file.attrs(path));
    if (tryTo(() => file.isGroup(path)) === false) {
      tryTo(() => file.read(path));
      return;
    }
    for (const key of tryTo(() => file.keys(path)) ?? []) walk(path === '' ? key : `${path}/${key}`, depth + 1);
  };
  walk('', 0);
  return [...seen.values()].sort((a, b) => a.at - b.at);
}

function tryTo<T>(run: () => T): T | undefined {
  try {
    return run();
  } catch {
    return undefined;
  }
}

/** A copy of `bytes` with the little-endian field at `at` (1, 2, 4 or 8 bytes) set to `value`. */
export function setField(bytes: Uint8Array, at: number, size: number, value: bigint): Uint8Array {
  const out = bytes.slice();
  const mask = (1n << BigInt(8 * size)) - 1n;
  let v = BigInt.asUintN(64, value) & mask;
  for (let i = 0; i < size; i++, v >>= 8n) out[at + i] = Number(v & 0xffn);
  return out;
}

function find(fields: Hdf5Field[], what: RegExp): Hdf5Field {
  const field = fields.find((f) => what.test(f.what));
  if (field == null) throw new Error(`the fixture has no field matching ${what}`);
  return field;
}

function within(fields: Hdf5Field[], region: Hdf5Field, what: string): Hdf5Field {
  const field = fields.find((f) => f.what === what && f.at >= region.at && f.at < region.at + region.size);
  if (field == null) throw new Error(`no ${what} in ${region.what}`);
  return field;
}

/**
 * The root's attribute `name` made to declare `count` elements of a size-0 string type (class byte
 * 0x13): the "process abort" row (jsfive built a billion-element array and looped on it).
 */
export function hugeAttribute(bytes: Uint8Array, fields: Hdf5Field[], count: number): Uint8Array {
  const attribute = find(fields, /^attribute '.*' of the root group$/);
  let out = setField(bytes, within(fields, attribute, 'datatype class and version').at, 1, 0x13n);
  out = setField(out, within(fields, attribute, 'datatype size').at, 4, 0n);
  const rank = within(fields, attribute, 'dataspace rank');
  out = setField(out, rank.at, 1, 1n);
  // A version 1 dataspace: its first dimension 8 bytes after its version byte (rank - 1).
  out = setField(out, rank.at - 1 + 8, 8, BigInt(count));
  return setField(out, attribute.at + 6, 2, 16n); // the attribute's dataspace size, now with one dimension
}

/**
 * The root group's B-tree replaced by a chain of `length` nodes, each with two child pointers to the
 * next (levels length-1 .. 0, the last pointing twice at the root's first symbol node): 2^length
 * visits for a reader without a visited set. The nodes are appended to the file.
 */
export function btreeChain(bytes: Uint8Array, fields: Hdf5Field[], length: number): Uint8Array {
  const table = find(fields, /^symbol table message of the root group$/);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rootTree = Number(view.getBigUint64(table.at, true));
  const firstSymbols = view.getBigUint64(rootTree + 24 + 8, true); // child 0 of the root's B-tree node
  const NODE = 24 + 5 * 8; // header, then key, child, key, child, key
  const chain = new Uint8Array(length * NODE);
  const out = new DataView(chain.buffer);
  for (let i = 0; i < length; i++) {
    const at = i * NODE;
    chain.set([0x54, 0x52, 0x45, 0x45], at); // TREE
    out.setUint8(at + 4, 0); // group node
    out.setUint8(at + 5, length - 1 - i); // level
    out.setUint16(at + 6, 2, true); // entries used
    out.setBigUint64(at + 8, 0xffffffffffffffffn, true);
    out.setBigUint64(at + 16, 0xffffffffffffffffn, true);
    const child = i === length - 1 ? firstSymbols : BigInt(bytes.byteLength + (i + 1) * NODE);
    out.setBigUint64(at + 24 + 8, child, true);
    out.setBigUint64(at + 24 + 24, child, true);
  }
  return setField(concat([bytes, chain]), table.at, 8, BigInt(bytes.byteLength));
}

/**
 * The file's groups made a chain of hard links, at most `length` long: the root, then the groups
 * with two members or more, each with every member (symbol table entry) pointed at the next group.
 * The product of their member counts is the number of paths through the chain (2^38 in
 * k3_keras_hub.keras), for a reader that walks paths without noticing an object met before.
 */
export function groupChain(bytes: Uint8Array, fields: Hdf5Field[], length: number): Uint8Array {
  const reader = new Hdf5Reader(bytes, 'fixture');
  const parent = new Map<number, number>(); // member's address -> its group's
  const branching: number[] = [];
  const walk = (address: number): void => {
    const object = reader.object(address);
    if (object.isDataset) return;
    const members = reader.links(object, 'a group');
    if (members.size >= 2 && address !== reader.rootAddress) branching.push(address);
    for (const member of members.values()) {
      parent.set(member, address);
      walk(member);
    }
  };
  walk(reader.rootAddress);
  const chain = [reader.rootAddress, ...branching].slice(0, length);
  const next = new Map(chain.slice(0, -1).map((group, i) => [group, chain[i + 1]]));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = bytes;
  for (const field of fields) {
    if (field.what !== 'symbol object header address') continue;
    const to = next.get(parent.get(Number(view.getBigUint64(field.at, true)))!);
    if (to != null) out = setField(out, field.at, 8, BigInt(to));
  }
  return out;
}

/**
 * The layout of the first dataset whose path matches `dataset` made chunked, with chunk dimensions
 * `chunk` (and the element size): the "hang" row (jsfive looped per element of a chunk).
 */
export function chunkedLayout(bytes: Uint8Array, fields: Hdf5Field[], dataset: RegExp, chunk: number[]): Uint8Array {
  const layout = fields.find((f) => /^layout message of dataset '/.test(f.what) && dataset.test(f.what));
  if (layout == null) throw new Error(`no dataset matching ${dataset}`);
  const needed = 2 + 1 + 8 + 4 * (chunk.length + 1);
  if (layout.size < needed) throw new Error(`the layout message of ${layout.what} has ${layout.size} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const address = view.getBigUint64(layout.at + 2, true);
  const out = bytes.slice();
  const v = new DataView(out.buffer);
  v.setUint8(layout.at, 3);
  v.setUint8(layout.at + 1, 2); // chunked
  v.setUint8(layout.at + 2, chunk.length + 1);
  v.setBigUint64(layout.at + 3, address, true);
  [...chunk, 4].forEach((d, i) => v.setUint32(layout.at + 11 + 4 * i, d, true));
  return out;
}

/** The first dataset's dataspace message version set to `version` (the "non-Error rejection" row: 0). */
export function dataspaceVersion(bytes: Uint8Array, fields: Hdf5Field[], version: number): Uint8Array {
  const space = find(fields, /^dataspace message of dataset '/);
  return setField(bytes, space.at, 1, BigInt(version));
}

/**
 * The variable-length string attribute `name` of the root group given the value `text`: a global
 * heap collection holding it is appended and the attribute's heap ID pointed at it.
 */
export function replaceRootString(bytes: Uint8Array, fields: Hdf5Field[], name: string, text: Uint8Array): Uint8Array {
  const element = find(fields, new RegExp(`^variable-length element count of attribute '${name}' of the root group$`));
  const padded = Math.ceil(text.byteLength / 8) * 8;
  const collection = new Uint8Array(16 + 16 + padded);
  const view = new DataView(collection.buffer);
  collection.set([0x47, 0x43, 0x4f, 0x4c], 0); // GCOL
  view.setUint8(4, 1);
  view.setBigUint64(8, BigInt(collection.byteLength), true);
  view.setUint16(16, 1, true); // object 1
  view.setUint16(18, 1, true); // one reference
  view.setBigUint64(24, BigInt(text.byteLength), true);
  collection.set(text, 32);
  let out = concat([bytes, collection]);
  out = setField(out, element.at, 4, BigInt(text.byteLength));
  out = setField(out, element.at + 4, 8, BigInt(bytes.byteLength));
  return setField(out, element.at + 12, 4, 1n);
}

/** The root group's string attribute `name`, as the reader decodes it. */
export function rootString(bytes: Uint8Array, name: string): string {
  return String(new Hdf5File(bytes, 'fixture').attrs('')[name]);
}
