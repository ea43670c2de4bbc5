/**
 * What `loadKerasModel` is given, read into bytes, and what those bytes are, told by content
 * rather than by file name:
 *
 * - `PK\x03\x04` (or an empty archive's `PK\x05\x06`): a zip, i.e. a Keras 3 `.keras` file;
 * - `\x89HDF\r\n\x1a\n` at offset 0 (HDF5 also allows the signature at 512, 1024, 2048...):
 *   an HDF5 file, a full-model `.h5` from Keras 2 or Keras 3;
 * - `{` after optional whitespace or a UTF-8 byte-order mark: JSON, a tfjs layers-model model.json.
 */
import type * as FsPromises from 'node:fs/promises';
import { isNodeRuntime, nodeFs } from '../io/atomic';

/** What a model can be loaded from (see `loadKerasModel`). */
export type KerasModelSource = string | ArrayBuffer | Uint8Array | Blob;

export type KerasFormat = 'zip' | 'hdf5' | 'json';

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** Which of the three formats `bytes` holds; an error naming the source and its first bytes otherwise. */
export function detectFormat(bytes: Uint8Array, source: string): KerasFormat {
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 3 || bytes[2] === 5)) return 'zip';
  for (let at = 0; at + 8 <= bytes.byteLength && at <= 1 << 20; at = at === 0 ? 512 : at * 2) {
    if (HDF5_SIGNATURE.every((b, i) => bytes[at + i] === b)) return 'hdf5';
  }
  if (findJsonStart(bytes)) return 'json';
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new Error(
    `${source}: not a Keras model file (${bytes.byteLength} bytes starting ${head || '(empty)'}); expected a ` +
      '.keras zip, a full-model .h5 (HDF5) or a tfjs model.json',
  );
}

/**
 * Whether the file at `path` (Node) holds a model.json, told from its first 64 kB (the JSON
 * loader reads the file itself, within the JSON limits, so it is not read whole here).
 */
export async function isJsonFile(path: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof FsPromises.open>>;
  try {
    // Non-blocking: opening a pipe would otherwise wait for a writer, forever.
    const { O_RDONLY, O_NONBLOCK } = nodeFs().constants;
    handle = await nodeFs().promises.open(path.replace(/^file:\/\//, ''), O_RDONLY | O_NONBLOCK);
  } catch {
    return false; // readSource says why
  }
  try {
    if (!(await handle.stat()).isFile()) return false;
    const head = new Uint8Array(65536);
    const { bytesRead } = await handle.read(head, 0, head.byteLength, 0);
    const start = head.subarray(0, bytesRead);
    return start[0] !== 0x50 && findJsonStart(start);
  } finally {
    await handle.close();
  }
}

function findJsonStart(bytes: Uint8Array): boolean {
  let at = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (at < bytes.byteLength && (bytes[at] === 0x20 || bytes[at] === 0x0a || bytes[at] === 0x0d || bytes[at] === 9))
    at++;
  return bytes[at] === 0x7b;
}

/** Whether a string names a URL rather than a file (any scheme://, or a relative URL in a browser). */
export function isUrl(location: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(location) && !location.startsWith('file://');
}

/**
 * Reads a path (Node), a URL (fetch), bytes or a Blob into one Uint8Array. A path must be a plain
 * file (not a pipe, which would never end) of at most `maxBytes`.
 */
export async function readSource(source: KerasModelSource, name: string, maxBytes = Infinity): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (typeof Blob !== 'undefined' && source instanceof Blob) return new Uint8Array(await source.arrayBuffer());
  if (typeof source !== 'string') {
    throw new Error(
      `loadKerasModel: source is ${describeValue(source)}; expected a path, a URL, an ArrayBuffer, a Uint8Array, ` +
        'a Blob/File or a tfjs IOHandler',
    );
  }
  if (source === '') throw new Error("loadKerasModel: source is ''; expected a path or URL of a Keras model");
  if (isUrl(source) || !isNodeRuntime()) {
    let response: Response;
    try {
      response = await fetch(source);
    } catch (error) {
      throw new Error(`${name}: could not be fetched (${(error as Error).message})`);
    }
    if (!response.ok) throw new Error(`${name}: could not be fetched (HTTP ${response.status})`);
    return new Uint8Array(await response.arrayBuffer());
  }
  const path = source.replace(/^file:\/\//, '');
  try {
    const stat = await nodeFs().promises.stat(path);
    if (stat.isFile() && stat.size > maxBytes) {
      throw new Error(
        `loadKerasModel: ${path} is ${stat.size} bytes, more than a model within the maxWeightBytes option can be`,
      );
    }
    if (!stat.isFile() && !stat.isDirectory()) throw new Error(`loadKerasModel: ${path} is not a plain file`);
    const buffer = await nodeFs().promises.readFile(path);
    // A Node Buffer may come from another realm (jest) or a shared pool: copy into our own array.
    return new Uint8Array(buffer);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`loadKerasModel: ${path} does not exist`);
    if (code === 'EISDIR') {
      throw new Error(`loadKerasModel: ${path} is a folder; pass the model file (.keras, .h5 or model.json) in it`);
    }
    throw error;
  }
}

/** A value as these messages show it: its type, then the value ('string "x"', cut at 200 characters). */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined (missing)';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'Object'})`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string') {
    return `string ${JSON.stringify(value.length <= 200 ? value : `${value.slice(0, 200)}…`)}`;
  }
  return `${typeof value} ${String(value)}`;
}
