/**
 * The zip reader (src/keras/zip.ts) on archives built byte by byte here, valid and broken: each
 * field it reads and each check it makes, with the exact error. Found missing by mutation testing
 * (test/MUTATION.md): the .keras tests read well-formed archives only.
 */
import { deflateSync } from 'fflate';

import { crc32, ZipArchive } from '../../src/keras/zip';
import { concat } from '../../scripts/fuzz/zip_writer';

interface Entry {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
  /** Overrides of what the central directory declares. */
  method?: number;
  flags?: number;
  crc?: number;
  compressedSize?: number;
  uncompressedSize?: number;
  localHeaderOffset?: number;
  /** Central directory extra field and comment. */
  extra?: Uint8Array;
  comment?: Uint8Array;
  /** Bytes of local header extra field (skipped when reading the data). */
  localExtra?: number;
}

interface Layout {
  /** An archive comment after the end record. */
  comment?: number;
  /** Overrides of the end record. */
  count?: number;
  directorySize?: number;
  directoryOffset?: number;
  /** Bytes written before the archive (the reader gets a subarray with a byteOffset). */
  prefix?: number;
}

const text = (s: string) => new TextEncoder().encode(s);

/** The archive's bytes: local headers and data, the central directory, the end record. */
function build(entries: Entry[], layout: Layout = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = text(e.name);
    const body = e.deflate ? deflateSync(e.data) : e.data;
    const local = new DataView(new ArrayBuffer(30 + (e.localExtra ?? 0)));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(26, name.byteLength, true);
    local.setUint16(28, e.localExtra ?? 0, true);
    const extra = e.extra ?? new Uint8Array(0);
    const comment = e.comment ?? new Uint8Array(0);
    const dir = new DataView(new ArrayBuffer(46));
    dir.setUint32(0, 0x02014b50, true);
    dir.setUint16(8, e.flags ?? 0, true);
    dir.setUint16(10, e.method ?? (e.deflate ? 8 : 0), true);
    dir.setUint32(16, e.crc ?? crc32(e.data), true);
    dir.setUint32(20, e.compressedSize ?? body.byteLength, true);
    dir.setUint32(24, e.uncompressedSize ?? e.data.byteLength, true);
    dir.setUint16(28, name.byteLength, true);
    dir.setUint16(30, extra.byteLength, true);
    dir.setUint16(32, comment.byteLength, true);
    dir.setUint32(42, e.localHeaderOffset ?? offset, true);
    parts.push(new Uint8Array(local.buffer), name, body);
    central.push(new Uint8Array(dir.buffer), name, extra, comment);
    offset += local.byteLength + name.byteLength + body.byteLength;
  }
  const directorySize = central.reduce((s, c) => s + c.byteLength, 0);
  const end = new DataView(new ArrayBuffer(22 + (layout.comment ?? 0)));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, layout.count ?? entries.length, true);
  end.setUint16(10, layout.count ?? entries.length, true);
  end.setUint32(12, layout.directorySize ?? directorySize, true);
  end.setUint32(16, layout.directoryOffset ?? offset, true);
  end.setUint16(20, layout.comment ?? 0, true);
  return concat([new Uint8Array(layout.prefix ?? 0), ...parts, ...central, new Uint8Array(end.buffer)]).subarray(
    layout.prefix ?? 0,
  );
}

/** A zip64 extra field (id 1) holding `values` as 64-bit little-endian numbers, after `before` other bytes. */
function zip64Extra(values: bigint[], { before = 0, size }: { before?: number; size?: number } = {}): Uint8Array {
  const view = new DataView(new ArrayBuffer(before + 4 + values.length * 8));
  if (before > 0) {
    view.setUint16(0, 0x5455, true); // an extended-timestamp field, skipped
    view.setUint16(2, before - 4, true);
  }
  view.setUint16(before, 1, true);
  view.setUint16(before + 2, size ?? values.length * 8, true);
  values.forEach((v, i) => view.setBigUint64(before + 4 + 8 * i, v, true));
  return new Uint8Array(view.buffer);
}

/**
 * `archive` with its end record marked zip64 (count 0xffff) and preceded by a zip64 end record and
 * its locator that give `count`, the directory size and offset (or the overrides).
 */
function asZip64(
  archive: Uint8Array,
  over: {
    count?: bigint;
    directorySize?: bigint;
    directoryOffset?: bigint;
    locatorSignature?: number;
    recordOffset?: bigint;
    /** Which end record fields read 0xffff(ffff). Default all. */
    marked?: ('count' | 'size' | 'offset')[];
  } = {},
): Uint8Array {
  const eocd = archive.byteLength - 22;
  const old = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  const count = old.getUint16(eocd + 10, true);
  const directorySize = old.getUint32(eocd + 12, true);
  const directoryOffset = old.getUint32(eocd + 16, true);
  const record = new DataView(new ArrayBuffer(56));
  record.setUint32(0, 0x06064b50, true);
  record.setBigUint64(32, over.count ?? BigInt(count), true);
  record.setBigUint64(40, over.directorySize ?? BigInt(directorySize), true);
  record.setBigUint64(48, over.directoryOffset ?? BigInt(directoryOffset), true);
  const locator = new DataView(new ArrayBuffer(20));
  locator.setUint32(0, over.locatorSignature ?? 0x07064b50, true);
  locator.setBigUint64(8, over.recordOffset ?? BigInt(eocd), true);
  const end = new Uint8Array(archive.subarray(eocd));
  const marked = over.marked ?? ['count', 'size', 'offset'];
  const view = new DataView(end.buffer);
  if (marked.includes('count')) view.setUint16(8, 0xffff, true);
  if (marked.includes('count')) view.setUint16(10, 0xffff, true);
  if (marked.includes('size')) view.setUint32(12, 0xffffffff, true);
  if (marked.includes('offset')) view.setUint32(16, 0xffffffff, true);
  return concat([archive.subarray(0, eocd), new Uint8Array(record.buffer), new Uint8Array(locator.buffer), end]);
}

const open = (bytes: Uint8Array) => new ZipArchive(bytes, 'x.keras');
const HELLO = text('hello, zip');
/** Two chunks' worth of bytes that deflate well but not trivially. */
const BIG = Uint8Array.from({ length: 150000 }, (_, i) => (i * 7 + (i >> 9)) & 0xff);
/** 150 kB that deflate hardly shrinks (a fixed pseudo-random sequence): more than one inflate chunk in and out. */
const NOISE = (() => {
  let x = 12345;
  return Uint8Array.from({ length: 150000 }, () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24);
})();

describe('ZipArchive', () => {
  it('crc32 is zip\'s CRC-32: the check value of "123456789" and of nothing', () => {
    expect(crc32(text('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(HELLO)).toBe(crc32(text('hello, zip')));
  });

  it('reads stored and deflated entries (one longer than the inflate chunk) with what the directory declares', () => {
    const bytes = build(
      [
        { name: 'config.json', data: text('{"a": 1}'), extra: text('abcd'), comment: text('cc') },
        { name: 'assets/', data: new Uint8Array(0) },
        { name: 'big.bin', data: BIG, deflate: true, localExtra: 5, comment: text('c'), extra: text('abcd') },
      ],
      { prefix: 7, comment: 3 },
    );
    const archive = open(bytes);
    expect([...archive.entries.keys()]).toEqual(['config.json', 'big.bin']);
    expect(archive.entries.get('config.json')).toEqual({
      name: 'config.json',
      method: 0,
      compressedSize: 8,
      uncompressedSize: 8,
      crc32: crc32(text('{"a": 1}')),
      localHeaderOffset: 0,
    });
    const big = archive.entries.get('big.bin')!;
    expect([big.method, big.uncompressedSize, big.localHeaderOffset]).toEqual([
      8,
      BIG.byteLength,
      30 + 11 + 8 + 30 + 7,
    ]);
    expect(big.compressedSize).toBeLessThan(BIG.byteLength);
    expect(archive.has('config.json')).toBe(true);
    expect(archive.has('assets/')).toBe(false);
    expect(archive.readText('config.json')).toBe('{"a": 1}');
    expect(archive.read('big.bin')).toEqual(BIG);
    expect(open(build([{ name: 'n', data: NOISE, deflate: true }])).read('n')).toEqual(NOISE);
    expect(deflateSync(NOISE).byteLength).toBeGreaterThan(1 << 16);
  });

  it('follows zip64 when any one end record field is marked, with the record at the file edges', () => {
    const one = build([{ name: 'a', data: HELLO }]);
    for (const field of ['count', 'size', 'offset'] as const) {
      expect(open(asZip64(one, { marked: [field] })).readText('a')).toBe('hello, zip');
    }
    expect(() => open(asZip64(one, { directoryOffset: 1n << 60n }))).toThrow(
      `x.keras: zip central directory offset ${1n << 60n} is out of range`,
    );
    // A locator at offset 0, its record the last 56 bytes of the file (in the archive comment): an empty archive.
    const edges = new DataView(new ArrayBuffer(20 + 22 + 56));
    edges.setUint32(0, 0x07064b50, true);
    edges.setBigUint64(8, 42n, true);
    edges.setUint32(20, 0x06054b50, true);
    edges.setUint16(30, 0xffff, true);
    edges.setUint16(20 + 20, 56, true);
    edges.setUint32(42, 0x06064b50, true);
    expect(open(new Uint8Array(edges.buffer)).entries.size).toBe(0);
    // The record's signature with fewer than 56 bytes after it.
    edges.setBigUint64(8, 43n, true);
    edges.setUint32(43, 0x06064b50, true);
    expect(() => open(new Uint8Array(edges.buffer))).toThrow(
      'x.keras: the zip64 end-of-central-directory record is missing or truncated',
    );
  });

  it('reads an extra field to its last byte and no further', () => {
    const big = 0xffffffff;
    const sizes = { name: 'a', data: HELLO, uncompressedSize: big, compressedSize: big };
    expect(() => open(build([{ ...sizes, extra: zip64Extra([], { size: 0 }) }]))).toThrow(
      "x.keras: entry 'a' has a short zip64 field",
    );
    // A comment shaped like a zip64 field is not one.
    expect(() => open(build([{ name: 'a', data: HELLO, uncompressedSize: big, comment: zip64Extra([10n]) }]))).toThrow(
      "x.keras: stored zip entry 'a' declares 4294967295 bytes but holds 10",
    );
  });

  it('reads a local header that ends the file exactly, and refuses one cut short', () => {
    // An empty stored entry whose local header is the last 30 bytes of the file (in the archive comment).
    const header = new DataView(new ArrayBuffer(30));
    header.setUint32(0, 0x04034b50, true);
    const base = build([{ name: 'e', data: new Uint8Array(0), localHeaderOffset: 0 }], { comment: 30 });
    const offset = base.byteLength - 30;
    const bytes = build([{ name: 'e', data: new Uint8Array(0), localHeaderOffset: offset }], { comment: 30 });
    bytes.set(new Uint8Array(header.buffer), offset);
    expect(open(bytes).read('e')).toEqual(new Uint8Array(0));
    // Only the signature, 4 bytes before the end.
    const cut = build([{ name: 'e', data: new Uint8Array(0), localHeaderOffset: base.byteLength - 4 }], {
      comment: 30,
    });
    cut.set(new Uint8Array(header.buffer, 0, 4), base.byteLength - 4);
    expect(() => open(cut).read('e')).toThrow(
      `x.keras: zip entry 'e' has no local header at offset ${base.byteLength - 4} (truncated archive)`,
    );
  });

  it('an empty archive (the end record alone, at offset 0) has no entries, and says so', () => {
    const archive = open(build([]));
    expect(archive.entries.size).toBe(0);
    expect(() => archive.read('config.json')).toThrow(
      "x.keras: the archive has no entry 'config.json' (it holds no entries)",
    );
    expect(() =>
      open(
        build([
          { name: 'a', data: HELLO },
          { name: 'b', data: HELLO },
        ]),
      ).read('c'),
    ).toThrow("x.keras: the archive has no entry 'c' (it holds a, b)");
  });

  it('finds the end record behind the longest archive comment, and not further back', () => {
    const comment = 0xffff;
    expect(open(build([{ name: 'a', data: HELLO }], { comment })).readText('a')).toBe('hello, zip');
    const tooFar = concat([build([{ name: 'a', data: HELLO }], { comment: 0 }), new Uint8Array(comment + 1)]);
    expect(() => open(tooFar)).toThrow(
      `x.keras: not a complete zip archive (no end-of-central-directory record in its ${tooFar.byteLength} bytes; ` +
        'the file is truncated or not a .keras file)',
    );
    expect(() => open(new Uint8Array(21))).toThrow('no end-of-central-directory record in its 21 bytes');
  });

  it('reads zip64: the figures of the zip64 end record and the 64-bit sizes and offset of an entry', () => {
    const big = 0xffffffff;
    const extra = zip64Extra([BigInt(HELLO.byteLength), BigInt(HELLO.byteLength), 0n], { before: 9 });
    const entries = [
      { name: 'a', data: HELLO, compressedSize: big, uncompressedSize: big, localHeaderOffset: big, extra },
    ];
    const archive = open(asZip64(build(entries)));
    expect(archive.entries.get('a')).toMatchObject({ compressedSize: 10, uncompressedSize: 10, localHeaderOffset: 0 });
    expect(archive.readText('a')).toBe('hello, zip');
    // Only the fields that read 0xffffffff are in the extra field, in order: here the offset alone.
    const onlyOffset = [{ name: 'a', data: HELLO, localHeaderOffset: big, extra: zip64Extra([0n]) }];
    expect(open(build(onlyOffset)).readText('a')).toBe('hello, zip');
    const onlyCompressed = [{ name: 'a', data: HELLO, compressedSize: big, extra: zip64Extra([10n]) }];
    expect(open(build(onlyCompressed)).entries.get('a')!.compressedSize).toBe(10);
    // An extra field of another id is skipped even when it holds the same bytes.
    const otherId = zip64Extra([7n]);
    otherId[0] = 2;
    expect(open(build([{ name: 'a', data: HELLO, extra: otherId }])).entries.get('a')!.uncompressedSize).toBe(10);
  });

  it('refuses broken zip64 records and fields', () => {
    const one = build([{ name: 'a', data: HELLO }]);
    expect(() => open(asZip64(one, { locatorSignature: 0 }))).toThrow(
      'x.keras: zip64 archive without a zip64 end-of-central-directory locator',
    );
    // A marked end record at the very start: no room for a locator before it.
    const marked = new Uint8Array(build([]));
    new DataView(marked.buffer).setUint16(10, 0xffff, true);
    expect(() => open(marked)).toThrow('zip64 archive without a zip64 end-of-central-directory locator');
    const eocd = asZip64(one).byteLength - 22;
    expect(() => open(asZip64(one, { recordOffset: BigInt(eocd - 20 - 55) }))).toThrow(
      'x.keras: the zip64 end-of-central-directory record is missing or truncated',
    );
    expect(() => open(asZip64(one, { recordOffset: 0n }))).toThrow('zip64 end-of-central-directory record is missing');
    expect(() => open(asZip64(one, { recordOffset: 1n << 60n }))).toThrow(
      `x.keras: zip zip64 record offset ${1n << 60n} is out of range`,
    );
    expect(() => open(asZip64(one, { count: 1n << 60n }))).toThrow(
      `x.keras: zip entry count ${1n << 60n} is out of range`,
    );
    expect(() => open(asZip64(one, { directorySize: BigInt(Number.MAX_SAFE_INTEGER) + 1n }))).toThrow(
      'zip central directory size 9007199254740992 is out of range',
    );
    const short = [{ name: 'a', data: HELLO, uncompressedSize: 0xffffffff, compressedSize: 0xffffffff }];
    expect(() => open(build([{ ...short[0], extra: zip64Extra([10n, 10n], { size: 15 }) }]))).toThrow(
      "x.keras: entry 'a' has a short zip64 field",
    );
    expect(() => open(build([{ ...short[0], extra: zip64Extra([1n << 60n, 10n]) }]))).toThrow(
      `x.keras: zip entry 'a' size ${1n << 60n} is out of range`,
    );
    // The largest safe size is taken (then refused as more than the file holds, not as out of range).
    const safe = BigInt(Number.MAX_SAFE_INTEGER);
    expect(() => open(build([{ ...short[0], extra: zip64Extra([safe, safe]) }])).read('a')).toThrow(
      `x.keras: zip entry 'a' needs bytes 31..${31 + Number.MAX_SAFE_INTEGER} but the file has`,
    );
  });

  it('refuses a central directory past the end of the file or with a broken entry', () => {
    const one = build([{ name: 'a', data: HELLO }]);
    const end = one.byteLength - 22;
    const directory = end - 47;
    expect(() => open(build([{ name: 'a', data: HELLO }], { directorySize: 70 }))).toThrow(
      `x.keras: the zip central directory (offset ${directory}, 70 bytes) lies past the end of the ` +
        `${one.byteLength}-byte file (truncated archive)`,
    );
    // Exactly up to the end of the file is allowed (then the entry runs past the 69 bytes it is given).
    expect(() => open(build([{ name: 'a', data: HELLO }], { directorySize: 69 }))).not.toThrow();
    expect(() => open(build([{ name: 'a', data: HELLO }], { directorySize: 46 }))).toThrow(
      'x.keras: zip central directory entry 0 runs past the directory',
    );
    expect(() => open(build([{ name: 'a', data: HELLO }], { directorySize: 45 }))).toThrow(
      'x.keras: zip central directory entry 0 is malformed or truncated',
    );
    expect(() => open(build([{ name: 'a', data: HELLO }], { count: 2 }))).toThrow(
      'x.keras: zip central directory entry 1 is malformed or truncated',
    );
    expect(() => open(build([{ name: 'a', data: HELLO }], { directoryOffset: directory - 1 }))).toThrow(
      'zip central directory entry 0 is malformed or truncated',
    );
  });

  it.each([
    ['/etc/passwd'],
    ['\\windows\\evil'],
    ['C:evil'],
    ['z:/evil'],
    ['assets/../../evil'],
    ['assets\\..\\evil'],
    ['..'],
  ])('refuses the entry name %j as outside the archive', (name) => {
    expect(() => open(build([{ name, data: HELLO }]))).toThrow(
      `x.keras: zip entry '${name}' has a path outside the archive (absolute or with '..'); refusing the archive`,
    );
  });

  it('accepts names that only look like a climb, and refuses a NUL', () => {
    expect(open(build([{ name: 'a..b/..c/d:x', data: HELLO }])).has('a..b/..c/d:x')).toBe(true);
    expect(() => open(build([{ name: 'a\0b', data: HELLO }]))).toThrow(
      'x.keras: zip entry name "a\\u0000b" contains a NUL byte',
    );
  });

  it('refuses encrypted entries, other methods, stored size mismatches, absurd ratios and duplicates', () => {
    expect(() => open(build([{ name: 'a', data: HELLO, flags: 1 }]))).toThrow(
      "x.keras: zip entry 'a' is encrypted; Keras never writes encrypted archives",
    );
    expect(open(build([{ name: 'a', data: HELLO, flags: 0x808 }])).readText('a')).toBe('hello, zip');
    expect(() => open(build([{ name: 'a', data: HELLO, method: 12 }]))).toThrow(
      "x.keras: zip entry 'a' uses compression method 12; expected 0 (stored) or 8 (deflate)",
    );
    expect(() => open(build([{ name: 'a', data: HELLO, method: 1 }]))).toThrow('uses compression method 1');
    expect(() => open(build([{ name: 'a', data: HELLO, uncompressedSize: 11 }]))).toThrow(
      "x.keras: stored zip entry 'a' declares 11 bytes but holds 10",
    );
    // Deflate: up to max(1024, 1032 x compressed) declared bytes is believed (then checked against the data).
    const deflated = deflateSync(HELLO).byteLength;
    const nothing = { name: 'a', data: new Uint8Array(0), method: 8 };
    expect(() => open(build([{ ...nothing, uncompressedSize: 1024 }]))).not.toThrow();
    expect(() => open(build([{ ...nothing, uncompressedSize: 1025 }]))).toThrow(
      "x.keras: zip entry 'a' declares 1025 uncompressed bytes from 0 compressed ones, more than deflate " +
        'can produce (1032:1); the archive is corrupt or crafted',
    );
    expect(() =>
      open(build([{ name: 'a', data: HELLO, deflate: true, uncompressedSize: deflated * 1032 + 1 }])),
    ).toThrow(`declares ${deflated * 1032 + 1} uncompressed bytes from ${deflated} compressed ones`);
    const ratio = { name: 'a', data: BIG, deflate: true };
    const compressed = deflateSync(BIG).byteLength;
    expect(() => open(build([{ ...ratio, uncompressedSize: compressed * 1032 }]))).not.toThrow();
    expect(() => open(build([{ ...ratio, uncompressedSize: compressed * 1032 + 1 }]))).toThrow('(1032:1)');
    expect(() =>
      open(
        build([
          { name: 'a', data: HELLO },
          { name: 'a', data: HELLO },
        ]),
      ),
    ).toThrow("x.keras: the zip archive holds 'a' twice");
  });

  it('refuses an entry without its local header, with data past the end, or with a wrong CRC-32', () => {
    const one = build([{ name: 'a', data: HELLO }]);
    const atEnd = one.byteLength - 22 - 47;
    expect(() => open(build([{ name: 'a', data: HELLO, localHeaderOffset: 1 }])).read('a')).toThrow(
      "x.keras: zip entry 'a' has no local header at offset 1 (truncated archive)",
    );
    expect(() => open(build([{ name: 'a', data: HELLO, localHeaderOffset: one.byteLength - 29 }])).read('a')).toThrow(
      `x.keras: zip entry 'a' has no local header at offset ${one.byteLength - 29} (truncated archive)`,
    );
    expect(() => open(build([{ name: 'a', data: HELLO, compressedSize: 80, uncompressedSize: 80 }])).read('a')).toThrow(
      `x.keras: zip entry 'a' needs bytes 31..111 but the file has ${one.byteLength} (truncated archive)`,
    );
    // Stored data running exactly to the end of the file is read (then fails the CRC of the 10 bytes).
    const toEnd = one.byteLength - 31;
    expect(() =>
      open(build([{ name: 'a', data: HELLO, compressedSize: toEnd, uncompressedSize: toEnd }])).read('a'),
    ).toThrow('fails its CRC-32 check');
    expect(atEnd).toBe(41);
    const wrong = (crc32(HELLO) ^ 0x80000000) >>> 0;
    expect(() => open(build([{ name: 'a', data: HELLO, crc: wrong }])).read('a')).toThrow(
      `x.keras: zip entry 'a' fails its CRC-32 check ` +
        `(stored 0x${wrong.toString(16)}, computed 0x${crc32(HELLO).toString(16)})`,
    );
    expect(() => open(build([{ name: 'a', data: HELLO, crc: 0x1f }])).read('a')).toThrow(
      '(stored 0x0000001f, computed',
    );
  });

  it('refuses deflate data that is not deflate, stops early, or inflates past or short of its declared size', () => {
    expect(() =>
      open(build([{ name: 'a', data: text('\xff\xff\xff'), method: 8, uncompressedSize: 3 }])).read('a'),
    ).toThrow(/^x\.keras: zip entry 'a' is not valid deflate data \(.+\)$/);
    // The first half of a deflate stream: it ends before the stream does.
    const whole = deflateSync(BIG);
    const half = whole.subarray(0, whole.byteLength >> 1);
    const bytes = build([{ name: 'a', data: half, method: 8, uncompressedSize: BIG.byteLength }]);
    expect(() => open(bytes).read('a')).toThrow("x.keras: zip entry 'a' is not valid deflate data (unexpected EOF)");
    // Our own error from inside the inflate callback passes through unwrapped: the whole message.
    expect(() => open(build([{ name: 'a', data: BIG, deflate: true, uncompressedSize: 1000 }])).read('a')).toThrow(
      /^x\.keras: zip entry 'a' inflates to more than its declared 1000 bytes; the archive is corrupt or crafted$/,
    );
    expect(() => open(build([{ name: 'a', data: HELLO, deflate: true, uncompressedSize: 11 }])).read('a')).toThrow(
      "x.keras: zip entry 'a' declares 11 uncompressed bytes but holds 10; the archive is corrupt or crafted",
    );
    // Exactly the declared size inflated is accepted, and an empty deflated entry (no bytes at all) too.
    expect(open(build([{ name: 'a', data: HELLO, deflate: true }])).read('a')).toEqual(HELLO);
    const empty = build([{ name: 'e', data: new Uint8Array(0), method: 8, compressedSize: 0, uncompressedSize: 0 }]);
    expect(open(empty).read('e')).toEqual(new Uint8Array(0));
  });

  it('readText refuses bytes that are not UTF-8', () => {
    expect(() => open(build([{ name: 'a', data: new Uint8Array([0xc3, 0x28]) }])).readText('a')).toThrow(
      'The encoded data was not valid for encoding utf-8',
    );
    expect(open(build([{ name: 'ü', data: text('é') }])).readText('ü')).toBe('é');
  });
});
