/**
 * Seeded, structure-aware mutations of the repository's model fixtures: each case changes one to
 * three things in one layer of a file's structure (the zip around a `.keras`, the HDF5 of a weights
 * file, the JSON of a config, model.json or task.json, the bytes of a weights file, the files of a
 * model folder) or in its raw bytes, and says in a few words what it changed.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Random } from '../../src/tasks/random';
import { ZipArchive } from '../../src/keras/zip';
import { Fixture, fixtures, folderTarget, FuzzCase, writeCaseFolder } from './cases';
import {
  btreeChain,
  chunkedLayout,
  dataspaceVersion,
  Hdf5Field,
  hugeAttribute,
  mapHdf5,
  replaceRootString,
  rootString,
  setField,
} from './hdf5_craft';
import { zip, ZipInput } from './zip_writer';

/** A seeded source of choices. */
export class Chooser {
  private readonly random: Random;

  constructor(seed: number) {
    this.random = new Random(seed >>> 0);
  }

  int(min: number, max: number): number {
    return this.random.nextInt(min, max);
  }

  chance(p: number): boolean {
    return this.random.nextFloat() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)];
  }
}

/** A change to some bytes, and its description. */
type Change = { bytes: Uint8Array; how: string };

// ---------------------------------------------------------------------------------------------
// Bytes.

function mutateBytes(bytes: Uint8Array, c: Chooser): Change {
  const out = bytes.slice();
  switch (c.int(0, 4)) {
    case 0: {
      const count = c.int(1, 8);
      for (let i = 0; i < count; i++) out[c.int(0, out.length - 1)] ^= 1 << c.int(0, 7);
      return { bytes: out, how: `${count} bit(s) flipped` };
    }
    case 1: {
      const at = c.int(0, out.length - 1);
      out[at] = c.pick([0, 1, 0x7f, 0x80, 0xff]);
      return { bytes: out, how: `byte ${at} set to ${out[at]}` };
    }
    case 2: {
      const keep = c.int(0, bytes.length - 1);
      return { bytes: bytes.slice(0, keep), how: `cut to ${keep} of ${bytes.length} bytes` };
    }
    case 3: {
      const at = c.int(0, out.length - 1);
      const length = Math.min(out.length - at, c.int(1, 64));
      out.fill(c.pick([0, 0xff]), at, at + length);
      return { bytes: out, how: `${length} bytes at ${at} filled` };
    }
    default: {
      const extra = new Uint8Array(c.int(1, 4096)).map(() => c.int(0, 255));
      const joined = new Uint8Array(bytes.length + extra.length);
      joined.set(bytes);
      joined.set(extra, bytes.length);
      return { bytes: joined, how: `${extra.length} random bytes appended` };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// JSON.

/** Values a JSON mutation may write; `raw:` strings are written as bare tokens (1e999 parses to Infinity). */
const INTERESTING: unknown[] = [
  null,
  true,
  0,
  -1,
  1,
  2,
  0.5,
  3,
  1e6,
  5e7,
  1e9,
  2147483648,
  'raw:9007199254740993',
  'raw:1e999',
  'raw:-1e999',
  'raw:-0',
  '',
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  '.',
  '..',
  '../secret.bin',
  '/etc/passwd',
  'float16',
  'bfloat16',
  'int64',
  'string',
  'InputLayer',
  'Functional',
  'Sequential',
  'MultiHeadAttention',
  'Dense',
  [],
  {},
  [null],
  [0, 0, 0],
  { class_name: '__keras_tensor__', config: { keras_history: ['x', 0, 0] } },
];

type JsonPath = (string | number)[];

function allPaths(root: unknown): JsonPath[] {
  const paths: JsonPath[] = [];
  const stack: [unknown, JsonPath][] = [[root, []]];
  while (stack.length > 0) {
    const [value, at] = stack.pop()!;
    paths.push(at);
    if (Array.isArray(value)) value.forEach((v, i) => stack.push([v, [...at, i]]));
    else if (value != null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) stack.push([v, [...at, k]]);
    }
  }
  return paths;
}

function get(root: unknown, at: JsonPath): unknown {
  return at.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)?.[k], root);
}

function set(root: unknown, at: JsonPath, value: unknown): unknown {
  if (at.length === 0) return value;
  const parent = get(root, at.slice(0, -1)) as Record<string | number, unknown>;
  parent[at[at.length - 1]] = value;
  return root;
}

/** Arrays nested `depth` deep, as a raw token (JSON.stringify itself recurses, and fails at 10,000). */
function nested(depth: number): string {
  return `raw:${'['.repeat(depth)}0${']'.repeat(depth)}`;
}

function showPath(at: JsonPath): string {
  const text = at.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('') || '(root)';
  return text.length > 120 ? `…${text.slice(-120)}` : text;
}

function showValue(value: unknown): string {
  const text =
    typeof value === 'string' && value.length > 40
      ? `"${value.slice(0, 8)}…" (${value.length} chars)`
      : JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** One to three changes to a JSON document; returns its new text. */
export function mutateJson(text: string, c: Chooser): { text: string; how: string } {
  let root: unknown = JSON.parse(text);
  const hows: string[] = [];
  const count = c.int(1, 3);
  for (let n = 0; n < count; n++) {
    const paths = allPaths(root);
    const at = c.pick(paths);
    const current = get(root, at);
    const op = c.int(0, 9);
    if (op <= 2) {
      const value = c.pick(INTERESTING);
      root = set(root, at, structuredClone(value));
      hows.push(`${showPath(at)} = ${showValue(value)}`);
    } else if (op === 3 && at.length > 0) {
      const parent = get(root, at.slice(0, -1));
      const key = at[at.length - 1];
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete (parent as Record<string, unknown>)[key as string];
      hows.push(`${showPath(at)} removed`);
    } else if (op === 4 && Array.isArray(current) && current.length > 0) {
      const i = c.int(0, current.length - 1);
      current.splice(c.int(0, current.length), 0, structuredClone(current[i]));
      hows.push(`${showPath(at)}[${i}] duplicated`);
    } else if (op === 5) {
      const other = get(root, c.pick(paths));
      root = set(root, at, structuredClone(other));
      hows.push(`${showPath(at)} = a copy of another part (${showValue(other)})`);
    } else if (op === 6 && typeof current === 'number') {
      const value = c.pick([current + 1, current - 1, current * 1000, -current, current + 0.5, 2 ** 31 + current]);
      root = set(root, at, value);
      hows.push(`${showPath(at)}: ${current} -> ${value}`);
    } else if (op === 7 && typeof current === 'string') {
      // Another string of the document: rewires names (references, layer names, paths).
      const strings = paths.map((p) => get(root, p)).filter((v): v is string => typeof v === 'string');
      const value = c.chance(0.7) ? c.pick(strings) : 'x'.repeat(c.pick([300, 70_000, 1_100_000, 5_000_000]));
      root = set(root, at, value);
      hows.push(`${showPath(at)}: ${showValue(current)} -> ${showValue(value)}`);
    } else if (op === 8) {
      const depth = c.pick([50, 150, 10_000]);
      root = set(root, at, nested(depth));
      hows.push(`${showPath(at)} = nested ${depth} deep`);
    } else if (op === 9 && Array.isArray(current) && current.length > 1) {
      const i = c.int(0, current.length - 1);
      const j = c.int(0, current.length - 1);
      [current[i], current[j]] = [current[j], current[i]];
      hows.push(`${showPath(at)}[${i}] and [${j}] swapped`);
    }
  }
  const out = JSON.stringify(root).replace(/"raw:([^"]*)"/g, '$1');
  return { text: out, how: hows.join('; ') || 'unchanged' };
}

// ---------------------------------------------------------------------------------------------
// HDF5.

const fieldMaps = new Map<Uint8Array, Hdf5Field[]>();

function fieldsOf(bytes: Uint8Array): Hdf5Field[] {
  let fields = fieldMaps.get(bytes);
  if (fields == null) {
    fields = mapHdf5(bytes);
    fieldMaps.set(bytes, fields);
  }
  return fields;
}

function mutateHdf5(bytes: Uint8Array, c: Chooser): Change {
  const fields = fieldsOf(bytes);
  const scalars = fields.filter((f) => [1, 2, 4, 8].includes(f.size) && !f.what.endsWith('signature'));
  const op = c.int(0, 9);
  try {
    if (op === 0)
      return {
        bytes: hugeAttribute(bytes, fields, c.pick([1e9, 2 ** 32 - 1, 65536])),
        how: 'a root attribute: size-0 type, 1e9 elements',
      };
    if (op === 1)
      return { bytes: btreeChain(bytes, fields, c.pick([3, 40])), how: 'root group B-tree made a chain of nodes' };
    if (op === 2) {
      const chunk = c.pick([
        [2147483647, 1],
        [1, 1],
        [0, 5],
      ]);
      return {
        bytes: chunkedLayout(bytes, fields, /./, chunk),
        how: `a dataset made chunked ${JSON.stringify(chunk)}`,
      };
    }
    if (op === 3)
      return { bytes: dataspaceVersion(bytes, fields, c.pick([0, 2, 3, 255])), how: 'a dataspace version changed' };
  } catch {
    // The fixture lacks what this change needs: fall through to a field change.
  }
  const changes: string[] = [];
  let out = bytes;
  for (let n = c.int(1, 3); n > 0; n--) {
    const field = c.pick(scalars);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    const old =
      field.size === 8
        ? view.getBigUint64(field.at, true)
        : BigInt(
            field.size === 4
              ? view.getUint32(field.at, true)
              : field.size === 2
                ? view.getUint16(field.at, true)
                : view.getUint8(field.at),
          );
    const others = fields.filter((f) => f.what.endsWith('signature'));
    const value = c.pick<bigint>([
      0n,
      1n,
      old + 1n,
      old - 1n,
      old * 2n,
      old + 8n,
      -1n,
      (1n << BigInt(8 * field.size - 1)) - 1n,
      BigInt(out.byteLength),
      BigInt(out.byteLength - 1),
      1000000000n,
      BigInt(c.pick(others)?.at ?? 0),
      BigInt(field.at),
    ]);
    out = setField(out, field.at, field.size, value);
    changes.push(`${field.what} at ${field.at}: ${old} -> ${BigInt.asUintN(8 * field.size, value)}`);
  }
  return { bytes: out, how: changes.join('; ') };
}

/** A full-model .h5: a structure change, a byte change, or its model_config JSON changed. */
function mutateH5File(bytes: Uint8Array, c: Chooser): Change {
  const choice = c.int(0, 9);
  if (choice < 4) return prefixed('HDF5', mutateHdf5(bytes, c));
  if (choice < 6) return prefixed('bytes', mutateBytes(bytes, c));
  const fields = fieldsOf(bytes);
  const { text, how } = mutateJson(rootString(bytes, 'model_config'), c);
  return {
    bytes: replaceRootString(bytes, fields, 'model_config', new TextEncoder().encode(text)),
    how: `model_config: ${how}`,
  };
}

// ---------------------------------------------------------------------------------------------
// Zip (.keras).

const archives = new Map<Uint8Array, ZipInput[]>();

/** The entries of a fixture archive, read once (their bytes are shared: a change makes new bytes). */
function entriesOf(bytes: Uint8Array): ZipInput[] {
  let entries = archives.get(bytes);
  if (entries == null) {
    const archive = new ZipArchive(bytes, 'fixture');
    entries = [...archive.entries.values()].map((e) => ({
      name: e.name,
      data: archive.read(e.name),
      deflate: e.method === 8,
    }));
    archives.set(bytes, entries);
  }
  return entries.map((e) => ({ ...e }));
}

function mutateKeras(bytes: Uint8Array, c: Chooser): Change {
  const entries = entriesOf(bytes);
  const choice = c.int(0, 11);
  const entry = (name: string) => entries.find((e) => e.name === name)!;
  if (choice < 4) {
    const config = entry('config.json');
    const { text, how } = mutateJson(new TextDecoder().decode(config.data), c);
    config.data = new TextEncoder().encode(text);
    if (c.chance(0.3)) config.deflate = !config.deflate;
    return { bytes: zip(entries), how: `config.json: ${how}` };
  }
  if (choice < 7) {
    const weights = entry('model.weights.h5');
    const change = c.chance(0.8)
      ? prefixed('HDF5', mutateHdf5(weights.data!, c))
      : prefixed('bytes', mutateBytes(weights.data!, c));
    weights.data = change.bytes;
    return { bytes: zip(entries), how: `model.weights.h5: ${change.how}` };
  }
  if (choice < 9) return prefixed('zip bytes', mutateBytes(bytes, c));
  // The archive's own structure.
  const op = c.int(0, 5);
  if (op === 0) {
    const e = c.pick(entries);
    e.declaredSize = c.pick([0, 1, e.data!.byteLength + 1, e.data!.byteLength * 1000, 2 ** 32 - 1]);
    e.deflate = c.chance(0.5);
    return { bytes: zip(entries), how: `zip: ${e.name} declares ${e.declaredSize} bytes` };
  }
  if (op === 1) {
    const e = c.pick(entries);
    entries.push({ ...e });
    return { bytes: zip(entries), how: `zip: ${e.name} twice` };
  }
  if (op === 2) {
    const e = c.pick(entries);
    entries.splice(entries.indexOf(e), 1);
    return { bytes: zip(entries), how: `zip: ${e.name} left out` };
  }
  if (op === 3) {
    const e = c.pick(entries);
    e.name = c.pick([
      '../config.json',
      '/config.json',
      'config.json/',
      'CONFIG.JSON',
      'config.json\0',
      'model.weights.npz',
    ]);
    return { bytes: zip(entries), how: `zip: an entry renamed ${JSON.stringify(e.name)}` };
  }
  const e = c.pick(entries);
  e.deflate = !e.deflate;
  return { bytes: zip(entries), how: `zip: ${e.name} ${e.deflate ? 'deflated' : 'stored'}` };
}

function prefixed(prefix: string, change: Change): Change {
  return { bytes: change.bytes, how: `${prefix}: ${change.how}` };
}

// ---------------------------------------------------------------------------------------------
// Model folders (model.json, weight files, task.json).

function mutateWeights(bytes: Uint8Array, c: Chooser): Change {
  const floats = Math.floor(bytes.byteLength / 4);
  if (c.chance(0.5) && floats > 0) {
    const out = bytes.slice();
    const i = c.int(0, floats - 1);
    const value = c.pick([NaN, Infinity, -Infinity, 3.4e38, -0]);
    new DataView(out.buffer).setFloat32(i * 4, value, true);
    return { bytes: out, how: `float ${i} = ${value}` };
  }
  return mutateBytes(bytes, c);
}

/** A case made from `fixture`, written under `root`. */
export function makeCase(fixture: Fixture, c: Chooser, id: number, root: string): FuzzCase {
  const loader = c.pick(fixture.loaders);
  const base = { id, loader, fixture: fixture.name, dir: path.join(root, `case-${id}`) };
  if (fixture.kind !== 'folder') {
    const original = readOnce(fixture.path);
    const change = fixture.kind === 'keras' ? mutateKeras(original, c) : mutateH5File(original, c);
    const name = fixture.kind === 'keras' ? 'model.keras' : 'model.h5';
    const folder = path.join(root, `case-${id}`, 'model');
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(path.join(folder, name), change.bytes);
    return { ...base, target: path.join(folder, name), how: change.how };
  }
  const present = fixture.files;
  const files: Record<string, Uint8Array | null> = Object.fromEntries(present.map((f) => [f, null]));
  const which = c.pick(present);
  const original = readOnce(path.join(fixture.path, which));
  let how: string;
  const choice = c.int(0, 9);
  if (choice === 0) {
    // The folder's files themselves: a weights file outside the folder, a folder or a pipe in its place, a file
    // missing.
    const op = c.int(0, 3);
    const folder = writeCaseFolder(root, id, fixture, files);
    const file = path.join(folder, which);
    fs.rmSync(file);
    if (op === 0) {
      fs.copyFileSync(path.join(fixture.path, which), path.join(root, `case-${id}`, 'secret.bin'));
      fs.symlinkSync('../secret.bin', file);
      how = `${which} is a symbolic link to ../secret.bin`;
    } else if (op === 1) {
      fs.mkdirSync(file);
      how = `${which} is a folder`;
    } else if (op === 2 && spawnSync('mkfifo', [file]).status === 0) {
      how = `${which} is a named pipe (no writer: reading it would wait forever)`;
    } else {
      how = `${which} missing`;
    }
    return { ...base, target: folderTarget(folder, loader), how };
  }
  let change: Change;
  if (which.endsWith('.bin')) change = mutateWeights(original, c);
  else if (choice < 8) {
    const { text, how: what } = mutateJson(new TextDecoder().decode(original), c);
    change = { bytes: new TextEncoder().encode(text), how: what };
  } else change = mutateBytes(original, c);
  files[which] = change.bytes;
  const folder = writeCaseFolder(root, id, fixture, files);
  return { ...base, target: folderTarget(folder, loader), how: `${which}: ${change.how}` };
}

/**
 * The cases of a seeded campaign, made one at a time (`null` after `count`): each picks a fixture,
 * a loader and a mutation with the seed's generator, so a seed always gives the same cases.
 */
export function mutationCases(seed: number, root: string, firstId = 0, count = Infinity): () => FuzzCase | null {
  const choose = new Chooser(seed);
  const all = fixtures();
  let made = 0;
  return () => (made >= count ? null : makeCase(choose.pick(all), choose, firstId + made++, root));
}

const originals = new Map<string, Uint8Array>();

function readOnce(file: string): Uint8Array {
  let bytes = originals.get(file);
  if (bytes == null) {
    bytes = new Uint8Array(fs.readFileSync(file));
    originals.set(file, bytes);
  }
  return bytes;
}
