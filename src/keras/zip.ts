/**
 * A small, strict reader for the zip archives Keras 3 writes (`.keras`: `config.json`,
 * `metadata.json`, `model.weights.h5`, optionally `assets/`), for Node and browser bundles alike.
 *
 * The layout is PKWARE's APPNOTE: local headers, then a central directory found through the
 * end-of-central-directory record at the end of the file. Python's `zipfile`, which Keras's
 * saving_lib uses, stores entries uncompressed (method 0) by default and deflates (method 8)
 * when asked; both are read here, deflate through fflate's streaming `Inflate`.
 *
 * The archive is untrusted. Nothing is allocated from a size the archive declares: an entry is
 * inflated chunk by chunk into buffers of the size really produced, and reading stops with an
 * error as soon as it passes the declared size; a declared size that the data does not fill,
 * a CRC-32 that differs, an entry name that is absolute or climbs out of the archive (`..`),
 * an offset past the end of the file, or a truncated archive are each refused with an error that
 * names the archive and the entry.
 */
import { Inflate } from 'fflate';

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_EOCD_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
/** The end-of-central-directory record sits within the last 22 + 65535 (comment) bytes. */
const EOCD_SEARCH = EOCD_SIZE + 0xffff;
/** DEFLATE cannot expand data by more than about 1032:1; a larger declared ratio is not real. */
const MAX_DEFLATE_RATIO = 1032;
const INFLATE_CHUNK = 1 << 16;

/** One file of the archive's central directory. */
export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  crc32: number;
  localHeaderOffset: number;
}

/** An opened archive: its entries by name, each read (and checked) on demand. */
export class ZipArchive {
  readonly entries: ReadonlyMap<string, ZipEntry>;

  constructor(
    private readonly bytes: Uint8Array,
    /** How errors name the archive (a path, a URL, 'the given bytes'). */
    readonly source: string,
  ) {
    this.entries = readCentralDirectory(bytes, source);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The entry's uncompressed bytes, checked against its declared size and CRC-32. */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (entry == null) {
      const names = [...this.entries.keys()].join(', ') || 'no entries';
      throw new Error(`${this.source}: the archive has no entry '${name}' (it holds ${names})`);
    }
    return readEntry(this.bytes, entry, this.source);
  }

  /** The entry as UTF-8 text. */
  readText(name: string): string {
    return new TextDecoder('utf-8', { fatal: true }).decode(this.read(name));
  }
}

function readCentralDirectory(bytes: Uint8Array, source: string): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = findEndOfCentralDirectory(view);
  if (eocd < 0) {
    throw new Error(
      `${source}: not a complete zip archive (no end-of-central-directory record in its ${bytes.byteLength} bytes; ` +
        'the file is truncated or not a .keras file)',
    );
  }
  let count = view.getUint16(eocd + 10, true);
  let directorySize = view.getUint32(eocd + 12, true);
  let directoryOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) {
    // Zip64: the real figures are in the zip64 end-of-central-directory record.
    const locator = eocd - 20;
    if (locator < 0 || view.getUint32(locator, true) !== ZIP64_EOCD_LOCATOR_SIGNATURE) {
      throw new Error(`${source}: zip64 archive without a zip64 end-of-central-directory locator`);
    }
    const record = safeOffset(view.getBigUint64(locator + 8, true), source, 'zip64 record offset');
    if (record + 56 > bytes.byteLength || view.getUint32(record, true) !== ZIP64_EOCD_SIGNATURE) {
      throw new Error(`${source}: the zip64 end-of-central-directory record is missing or truncated`);
    }
    count = safeOffset(view.getBigUint64(record + 32, true), source, 'entry count');
    directorySize = safeOffset(view.getBigUint64(record + 40, true), source, 'central directory size');
    directoryOffset = safeOffset(view.getBigUint64(record + 48, true), source, 'central directory offset');
  }
  if (directoryOffset + directorySize > bytes.byteLength) {
    throw new Error(
      `${source}: the zip central directory (offset ${directoryOffset}, ${directorySize} bytes) ` +
        `lies past the end of the ${bytes.byteLength}-byte file (truncated archive)`,
    );
  }
  const entries = new Map<string, ZipEntry>();
  let at = directoryOffset;
  const end = directoryOffset + directorySize;
  for (let i = 0; i < count; i++) {
    if (at + 46 > end || view.getUint32(at, true) !== CENTRAL_SIGNATURE) {
      throw new Error(`${source}: zip central directory entry ${i} is malformed or truncated`);
    }
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const crc32 = view.getUint32(at + 16, true);
    let compressedSize = view.getUint32(at + 20, true);
    let uncompressedSize = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let localHeaderOffset = view.getUint32(at + 42, true);
    const next = at + 46 + nameLength + extraLength + commentLength;
    if (next > end) throw new Error(`${source}: zip central directory entry ${i} runs past the directory`);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    // Zip64 extra field (id 1): 64-bit values for the 32-bit fields that read 0xffffffff, in this order.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = view.getUint16(extra, true);
      const size = view.getUint16(extra + 2, true);
      if (id === 1) {
        let field = extra + 4;
        const take = (): number => {
          if (field + 8 > extra + 4 + size) throw new Error(`${source}: entry '${name}' has a short zip64 field`);
          const value = safeOffset(view.getBigUint64(field, true), source, `entry '${name}' size`);
          field += 8;
          return value;
        };
        if (uncompressedSize === 0xffffffff) uncompressedSize = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
      }
      extra += 4 + size;
    }
    at = next;
    checkEntryName(name, source);
    if (name.endsWith('/')) continue; // a folder
    if (flags & 1)
      throw new Error(`${source}: zip entry '${name}' is encrypted; Keras never writes encrypted archives`);
    if (method !== 0 && method !== 8) {
      throw new Error(
        `${source}: zip entry '${name}' uses compression method ${method}; expected 0 (stored) or 8 (deflate)`,
      );
    }
    if (method === 0 && compressedSize !== uncompressedSize) {
      throw new Error(
        `${source}: stored zip entry '${name}' declares ${uncompressedSize} bytes but holds ${compressedSize}`,
      );
    }
    if (method === 8 && uncompressedSize > Math.max(1024, compressedSize * MAX_DEFLATE_RATIO)) {
      throw new Error(
        `${source}: zip entry '${name}' declares ${uncompressedSize} uncompressed bytes from ${compressedSize} ` +
          `compressed ones, more than deflate can produce (${MAX_DEFLATE_RATIO}:1); the archive is corrupt or crafted`,
      );
    }
    if (entries.has(name)) throw new Error(`${source}: the zip archive holds '${name}' twice`);
    entries.set(name, { name, method, compressedSize, uncompressedSize, crc32, localHeaderOffset });
  }
  return entries;
}

/** Refuses names that would land outside the archive's folder if extracted (zip slip). */
function checkEntryName(name: string, source: string): void {
  const parts = name.split(/[/\\]/);
  if (name.startsWith('/') || name.startsWith('\\') || /^[a-zA-Z]:/.test(name) || parts.includes('..')) {
    throw new Error(
      `${source}: zip entry '${name}' has a path outside the archive (absolute or with '..'); refusing the archive`,
    );
  }
  if (name.includes('\0')) throw new Error(`${source}: zip entry name ${JSON.stringify(name)} contains a NUL byte`);
}

function findEndOfCentralDirectory(view: DataView): number {
  const stop = Math.max(0, view.byteLength - EOCD_SEARCH);
  for (let at = view.byteLength - EOCD_SIZE; at >= stop; at--) {
    if (view.getUint32(at, true) === EOCD_SIGNATURE) return at;
  }
  return -1;
}

function safeOffset(value: bigint, source: string, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${source}: zip ${what} ${value} is out of range`);
  return Number(value);
}

function readEntry(bytes: Uint8Array, entry: ZipEntry, source: string): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = entry.localHeaderOffset;
  if (at + 30 > bytes.byteLength || view.getUint32(at, true) !== LOCAL_SIGNATURE) {
    throw new Error(`${source}: zip entry '${entry.name}' has no local header at offset ${at} (truncated archive)`);
  }
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  const end = start + entry.compressedSize;
  if (end > bytes.byteLength) {
    throw new Error(
      `${source}: zip entry '${entry.name}' needs bytes ${start}..${end} but the file has ${bytes.byteLength} ` +
        '(truncated archive)',
    );
  }
  const data = entry.method === 0 ? bytes.subarray(start, end) : inflate(bytes.subarray(start, end), entry, source);
  if (data.byteLength !== entry.uncompressedSize) {
    throw new Error(
      `${source}: zip entry '${entry.name}' declares ${entry.uncompressedSize} uncompressed bytes but holds ` +
        `${data.byteLength}; the archive is corrupt or crafted`,
    );
  }
  const crc = crc32(data);
  if (crc !== entry.crc32) {
    throw new Error(
      `${source}: zip entry '${entry.name}' fails its CRC-32 check (stored ${hex(entry.crc32)}, computed ${hex(crc)})`,
    );
  }
  return data;
}

/** Inflates chunk by chunk, never holding more than the declared size, which the data must fill exactly. */
function inflate(compressed: Uint8Array, entry: ZipEntry, source: string): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let ended = false;
  const stream = new Inflate((chunk, final) => {
    total += chunk.byteLength;
    if (total > entry.uncompressedSize) {
      throw new Error(
        `${source}: zip entry '${entry.name}' inflates to more than its declared ${entry.uncompressedSize} bytes; ` +
          'the archive is corrupt or crafted',
      );
    }
    chunks.push(chunk.slice());
    if (final) ended = true;
  });
  try {
    for (let at = 0; at < compressed.byteLength; at += INFLATE_CHUNK) {
      const end = Math.min(compressed.byteLength, at + INFLATE_CHUNK);
      stream.push(compressed.subarray(at, end), end === compressed.byteLength);
    }
    if (compressed.byteLength === 0) stream.push(new Uint8Array(0), true);
  } catch (error) {
    const message = (error as Error).message;
    if (message.startsWith(source)) throw error;
    throw new Error(`${source}: zip entry '${entry.name}' is not valid deflate data (${message})`);
  }
  if (!ended) throw new Error(`${source}: zip entry '${entry.name}' ends before its deflate stream does (truncated)`);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

let crcTable: Uint32Array | null = null;

/** The CRC-32 (ISO 3309, zip's) of `data`; zip_writer.ts writes it too. */
export function crc32(data: Uint8Array): number {
  if (crcTable == null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
