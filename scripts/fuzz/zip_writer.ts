/**
 * Zip archives written byte by byte (APPNOTE layout, as Python's zipfile writes them), broken ones
 * too: for the tests of the zip reader and for the fuzzer's `.keras` cases.
 */
import { deflateSync } from 'fflate';
import { crc32 } from '../../src/keras/zip';

/** One entry: `data` stored or deflated, or `raw` (already compressed, with its CRC and size). */
export interface ZipInput {
  name: string;
  data?: Uint8Array;
  deflate?: boolean;
  /** An uncompressed size to declare instead of the real one. */
  declaredSize?: number;
  raw?: { body: Uint8Array; crc: number; size: number; method: 0 | 8 };
}

/** A zip of the given entries, as Python's zipfile writes. */
export function zip(entries: ZipInput[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = new TextEncoder().encode(e.name);
    const data = e.data ?? new Uint8Array(0);
    const raw = e.raw ?? {
      body: e.deflate ? deflateSync(data, { level: 1 }) : data,
      crc: crc32(data),
      size: data.byteLength,
      method: e.deflate ? 8 : 0,
    };
    const size = e.declaredSize ?? raw.size;
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(8, raw.method, true);
    local.setUint32(14, raw.crc, true);
    local.setUint32(18, raw.body.byteLength, true);
    local.setUint32(22, size, true);
    local.setUint16(26, name.byteLength, true);
    const dir = new DataView(new ArrayBuffer(46));
    dir.setUint32(0, 0x02014b50, true);
    dir.setUint16(10, raw.method, true);
    dir.setUint32(16, raw.crc, true);
    dir.setUint32(20, raw.body.byteLength, true);
    dir.setUint32(24, size, true);
    dir.setUint16(28, name.byteLength, true);
    dir.setUint32(42, offset, true);
    chunks.push(new Uint8Array(local.buffer), name, raw.body);
    central.push(new Uint8Array(dir.buffer), name);
    offset += 30 + name.byteLength + raw.body.byteLength;
  }
  const dirSize = central.reduce((s, c) => s + c.byteLength, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, dirSize, true);
  end.setUint32(16, offset, true);
  return concat([...chunks, ...central, new Uint8Array(end.buffer)]);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * `size` zero bytes as a raw deflate stream, built directly (one fixed-Huffman block: a literal 0,
 * then copies of 258 bytes at distance 1, 13 bits each), with the CRC-32 of the zeros: 1 GiB
 * becomes 6.8 MB in milliseconds, where deflating it would take seconds.
 */
export function deflatedZeros(size: number): { body: Uint8Array; crc: number; size: number; method: 8 } {
  const bits: number[] = [];
  const put = (value: number, count: number, msbFirst = false) => {
    for (let i = 0; i < count; i++) bits.push(msbFirst ? (value >> (count - 1 - i)) & 1 : (value >> i) & 1);
  };
  const copies = size > 0 ? Math.floor((size - 1) / 258) : 0;
  const literals = size > 0 ? size - copies * 258 : 0;
  const copy = () => {
    put(0xc5, 8, true); // length 258: code 285
    put(0, 5, true); // distance 1: code 0
  };
  put(1, 1); // BFINAL
  put(1, 2); // BTYPE 01: fixed Huffman codes
  if (literals > 0) put(0x30, 8, true); // the literal 0
  // Write copies until the stream is byte-aligned, then repeat 8 copies (104 bits = 13 bytes) as bytes.
  let written = 0;
  while (written < copies && bits.length % 8 !== 0) {
    copy();
    written++;
  }
  const aligned = bits.length % 8 === 0;
  const repeats = aligned ? Math.floor((copies - written) / 8) : 0;
  const head = packBits(bits.splice(0, aligned ? bits.length : 0));
  let pattern: Uint8Array = new Uint8Array(0);
  if (repeats > 0) {
    for (let i = 0; i < 8; i++) copy();
    pattern = packBits(bits.splice(0, bits.length));
  }
  for (let i = written + repeats * 8; i < copies; i++) copy();
  for (let i = 1; i < literals; i++) put(0x30, 8, true);
  put(0, 7, true); // end of block: code 256
  const tail = packBits(bits);
  const middle = new Uint8Array(repeats * pattern.byteLength);
  for (let i = 0; i < repeats; i++) middle.set(pattern, i * pattern.byteLength);
  return { body: concat([head, middle, tail]), crc: crc32OfZeros(size), size, method: 8 };
}

function packBits(bits: number[]): Uint8Array {
  const out = new Uint8Array(Math.ceil(bits.length / 8));
  bits.forEach((bit, i) => (out[i >> 3] |= bit << (i & 7)));
  return out;
}

/** CRC-32 of `n` zero bytes by GF(2) matrix powers, as zlib's crc32_combine appends zeros. */
export function crc32OfZeros(n: number): number {
  const times = (mat: Uint32Array, vec: number) => {
    let sum = 0;
    for (let i = 0; vec !== 0; i++, vec >>>= 1) if (vec & 1) sum ^= mat[i];
    return sum >>> 0;
  };
  const square = (out: Uint32Array, mat: Uint32Array) => {
    for (let i = 0; i < 32; i++) out[i] = times(mat, mat[i]);
  };
  const odd = new Uint32Array(32); // one zero bit
  odd[0] = 0xedb88320;
  for (let i = 1; i < 32; i++) odd[i] = 1 << (i - 1);
  const even = new Uint32Array(32);
  square(even, odd); // two zero bits
  square(odd, even); // four
  let register = 0xffffffff;
  for (let left = n; left > 0;) {
    square(even, odd); // 8, 32, 128, ... bits
    if (left % 2 === 1) register = times(even, register);
    left = Math.floor(left / 2);
    if (left === 0) break;
    square(odd, even);
    if (left % 2 === 1) register = times(odd, register);
    left = Math.floor(left / 2);
  }
  return (register ^ 0xffffffff) >>> 0;
}
