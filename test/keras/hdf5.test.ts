/**
 * The strict HDF5 reader against h5py itself: files in the layouts h5py can write
 * (scripts/make_hdf5_fixtures.py), and what h5py reads back from them; its API on files of the
 * package's writer; crafted files refused (the fuzzer's crafts, scripts/fuzz/hdf5_craft.ts) and
 * every metadata field changed, each change read or refused with a sentence naming the file.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Hdf5File } from '../../src/keras/hdf5';
import { Hdf5Writer } from '../../src/keras/hdf5_writer';
import {
  btreeChain,
  chunkedLayout,
  dataspaceVersion,
  groupChain,
  hugeAttribute,
  mapHdf5,
  setField,
} from '../../scripts/fuzz/hdf5_craft';

const DIR = path.join(__dirname, '../fixtures/hdf5');
const open = (name: string) => new Hdf5File(new Uint8Array(fs.readFileSync(path.join(DIR, name))), name);

interface Expected {
  attrs: Record<string, unknown>;
  members?: string[];
  shape?: number[];
  values?: number[];
}

describe('the HDF5 reader reads what h5py writes', () => {
  it.each(['layouts', 'latest', 'ordered'])('%s.h5: every group, attribute and dataset as h5py reads it', (name) => {
    const expected: Record<string, Expected> = JSON.parse(fs.readFileSync(path.join(DIR, `${name}.json`), 'utf8'));
    const file = open(`${name}.h5`);
    for (const [objectPath, want] of Object.entries(expected)) {
      expect([objectPath, { ...file.attrs(objectPath) }]).toEqual([objectPath, want.attrs]);
      if (want.members != null) {
        expect(file.isGroup(objectPath)).toBe(true);
        expect([objectPath, [...file.keys(objectPath)].sort()]).toEqual([objectPath, want.members]);
      } else {
        const { shape, values } = file.read(objectPath);
        expect([objectPath, shape]).toEqual([objectPath, want.shape]);
        expect([objectPath, Array.from(values)]).toEqual([objectPath, want.values!.map(Math.fround)]);
      }
    }
  });

  it.each([
    ['chunked.h5', 'x', "chunked.h5: dataset 'x' uses chunked storage, which Keras never writes"],
    ['compressed.h5', 'x', "compressed.h5: dataset 'x' is compressed or filtered, which Keras never writes"],
    ['dense.h5', '', 'dense.h5: the HDF5 file stores the members of the root group densely (in a fractal heap)'],
  ])('%s is refused with a sentence that says why', (name, object, message) => {
    const file = open(name);
    expect(() => (object === '' ? file.keys(object) : file.read(object))).toThrow(message);
  });
});

/** A file of the package's own writer: nested groups, a string attribute, two datasets. */
function written(): Uint8Array {
  const w = new Hdf5Writer();
  w.dataset('a/b/x', [2, 3], Float32Array.from([1, 2, 3, 4, 5, 6]));
  w.attribute('a', 'name', 'hello');
  w.dataset('y', [1], Float32Array.from([7]));
  w.group('a/empty');
  return w.toBytes();
}

describe('Hdf5File', () => {
  it('finds groups, datasets and attributes by path, however the slashes fall', () => {
    const file = new Hdf5File(written(), 'w.h5');
    expect(file.keys('')).toEqual(['a', 'y']);
    expect(file.keys('/a/')).toEqual(['b', 'empty']);
    expect(file.datasetPaths()).toEqual(['a/b/x', 'y']);
    expect([file.has('a//b/x'), file.has('a/b/z'), file.has('y/z'), file.has('z/x')]).toEqual([
      true,
      false,
      false,
      false,
    ]);
    expect([file.isGroup('a'), file.isGroup('a/b/x'), file.isGroup('')]).toEqual([true, false, true]);
    expect({ ...file.attrs('a') }).toEqual({ name: 'hello' });
    expect(file.attrs('a')).toBe(file.attrs('/a')); // read once
    expect({ ...file.attrs('') }).toEqual({});
    expect(file.read('a/b/x')).toEqual({ shape: [2, 3], values: Float32Array.from([1, 2, 3, 4, 5, 6]) });
    expect(file.shape('/y')).toEqual([1]);
  });

  it('names the file and the path when a path is missing or of the other kind', () => {
    const file = new Hdf5File(written(), 'w.h5');
    expect(() => file.read('a/b/z')).toThrow("w.h5: the HDF5 file has no 'a/b/z'");
    expect(() => file.attrs('q')).toThrow("w.h5: the HDF5 file has no 'q'");
    expect(() => file.keys('y')).toThrow("w.h5: 'y' is a dataset, not a group");
    expect(() => file.read('a/b')).toThrow("w.h5: 'a/b' is a group, not a dataset");
    expect(() => file.shape('a')).toThrow("w.h5: 'a' is a group, not a dataset");
  });

  it('walks at most maxDepth groups deep', () => {
    const file = new Hdf5File(written(), 'w.h5');
    expect(file.datasetPaths(3)).toEqual(['a/b/x', 'y']);
    expect(() => new Hdf5File(written(), 'w.h5').datasetPaths(2)).toThrow(
      "w.h5: 'a/b' is nested more than 2 groups deep",
    );
  });

  it("copies a dataset's values out of the file's bytes", () => {
    for (const [bytes, dataset, values] of [
      [written(), 'a/b/x', [1, 2, 3, 4, 5, 6]], // float32 little-endian: the bytes as they are
      [new Uint8Array(fs.readFileSync(path.join(DIR, 'layouts.h5'))), 'f32_big_endian', [0, 1, 2, 3]], // converted
    ] as const) {
      const read = new Hdf5File(bytes, 'f.h5').read(dataset);
      bytes.fill(0xff);
      expect(Array.from(read.values)).toEqual(values);
    }
  });
});

/** A one-dataset file ('x': [1, 2] as float32, and a group 'g') with fields of it set by `edit`. */
function patched(edit: (set: (what: string, value: bigint) => void) => void): Uint8Array {
  const w = new Hdf5Writer();
  w.dataset('x', [2], Float32Array.from([1, 2]));
  w.group('g');
  let bytes = w.toBytes();
  const fields = mapHdf5(bytes);
  edit((what, value) => {
    const field = fields.find((f) => f.what === what)!;
    bytes = setField(bytes, field.at, field.size, value);
  });
  return bytes;
}

describe('Hdf5File on crafted datatypes, shapes and links', () => {
  const DATATYPE = 'datatype class and version'; // version 1 in the high nibble, the class in the low one
  const BITS = 'datatype bit field'; // the first: byte order (bit 0), signed (bit 3, fixed-point)

  it('reads 4-byte integers as integers, not as the float32 of their bits', () => {
    // The float32 bits of 1 and 2, read as unsigned 32-bit integers.
    const bytes = patched((set) => set(DATATYPE, 0x10n));
    expect(Array.from(new Hdf5File(bytes, 'w.h5').read('x').values)).toEqual([0x3f800000, 0x40000000]);
  });

  it("names the type numpy's way when a dataset declares more than its storage holds", () => {
    const message = (type: string) =>
      `w.h5: dataset 'x' declares shape [3] (12 bytes of ${type}), more than the 8 bytes that hold it; ` +
      'the file is corrupt or crafted';
    const cases: [number, number, string][] = [
      [0x11, 0x20, '<f4'],
      [0x11, 0x21, '>f4'],
      [0x10, 0x00, '<u4'],
      [0x10, 0x08, '<i4'],
    ];
    for (const [datatype, bits, type] of cases) {
      const bytes = patched((set) => {
        set(DATATYPE, BigInt(datatype));
        set(BITS, BigInt(bits));
        set('dimension size', 3n);
      });
      expect(() => new Hdf5File(bytes, 'w.h5').read('x')).toThrow(message(type));
    }
  });

  it('refuses a dataset of strings, saying so', () => {
    const strings = patched((set) => set(DATATYPE, 0x13n));
    expect(() => new Hdf5File(strings, 'w.h5').read('x')).toThrow(
      "w.h5: dataset 'x' holds string values; expected float32/float64 or an integer type (float16 and bfloat16 " +
        'weights are not supported; save the model in float32)',
    );
  });

  it("refuses an object header whose version byte is a v2 header's first byte without its signature", () => {
    const bytes = patched((set) => set('object header version', 0x4fn)); // 'O' of 'OHDR'
    expect(() => new Hdf5File(bytes, 'w.h5').keys('g')).toThrow(
      /^w\.h5: the HDF5 file has no object header at address \d+ \(version byte 79\); the file is corrupt$/,
    );
  });

  it('reads a group whose B-tree nodes are filled to their capacity (2K children)', () => {
    // 34 symbol nodes of 8 members: the writer takes K = 17, so the root B-tree node holds 34 = 2K.
    const w = new Hdf5Writer();
    for (let i = 0; i < 34 * 8; i++) w.dataset(`many/m${String(i).padStart(3, '0')}`, [1], Float32Array.from([i]));
    const file = new Hdf5File(w.toBytes(), 'w.h5');
    expect(file.keys('many')).toHaveLength(272);
    expect(Array.from(file.read('many/m271').values)).toEqual([271]);
  });

  it('refuses a member that links back to the root group', () => {
    const bytes = written();
    const view = new DataView(bytes.buffer);
    const fields = mapHdf5(bytes);
    const root = view.getBigUint64(fields.find((f) => f.what === 'root group object header address')!.at, true);
    const member = fields.find((f) => f.what === 'symbol object header address')!;
    const looped = setField(bytes, member.at, 8, root);
    expect(() => new Hdf5File(looped, 'w.h5').datasetPaths()).toThrow(
      "w.h5: 'a/b/x' links to the object already at '/' (a hard link, which Keras never writes); the file is crafted",
    );
  });
});

/** Opens `bytes` as `name` and reads everything in it: every group's members and attributes, every dataset. */
function readAll(bytes: Uint8Array, name: string): void {
  const file = new Hdf5File(bytes, name);
  for (const p of file.datasetPaths()) file.read(p);
  const visit = (p: string): void => {
    file.attrs(p);
    if (file.isGroup(p)) for (const key of file.keys(p)) visit(p === '' ? key : `${p}/${key}`);
  };
  visit('');
}

const keras2 = () => new Uint8Array(fs.readFileSync(path.join(__dirname, '../fixtures/keras/k2_attention.h5')));

describe("the reader refuses crafted files (issue 29's rows, in this process)", () => {
  it.each([
    [
      'a group B-tree made a chain of 40 nodes',
      (b: Uint8Array) => btreeChain(b, mapHdf5(b), 40),
      'k.h5: the HDF5 file has a B-tree of 39 levels for the root group',
    ],
    [
      'groups made a chain of hard links',
      (b: Uint8Array) => groupChain(b, mapHdf5(b), 30),
      new RegExp(
        "^k\\.h5: '[^']+' links to the object already at '[^']+' \\(a hard link, which Keras never writes\\); " +
          'the file is crafted$',
      ),
    ],
    [
      'an attribute of a billion size-0 strings',
      (b: Uint8Array) => hugeAttribute(b, mapHdf5(b), 1e9),
      "k.h5: attribute 'keras_version' of the root group has a datatype of size 0; the file is corrupt or crafted",
    ],
    [
      'a dataset made chunked',
      (b: Uint8Array) => chunkedLayout(b, mapHdf5(b), /kernel/, [2147483647, 1]),
      "k.h5: dataset 'model_weights/cross_attention/cross_attention/query/kernel:0' uses chunked storage, which " +
        'Keras never writes (its datasets are contiguous); re-save the model with Keras',
    ],
    [
      'a dataspace of version 0',
      (b: Uint8Array) => dataspaceVersion(b, mapHdf5(b), 0),
      "k.h5: dataset 'model_weights/cross_attention/cross_attention/query/kernel:0' has a dataspace message of " +
        'version 0; versions 1 and 2 are read',
    ],
  ])('%s', (_what, craft, message) => {
    const bytes = keras2();
    expect(() => readAll(bytes, 'k.h5')).not.toThrow();
    expect(() => readAll(craft(bytes), 'k.h5')).toThrow(message);
  });
});

describe('every metadata field set to 0, 1, all ones or the file length', () => {
  // The files: the package's writer (superblock 0, version 1 headers), h5py's latest format
  // (superblock 3, version 2 headers, link messages), and, one field of each kind, h5py's
  // defaults with every numeric type and a Keras 2 model.
  const files: [string, () => Uint8Array, boolean][] = [
    ['written', written, false],
    ['latest.h5', () => new Uint8Array(fs.readFileSync(path.join(DIR, 'latest.h5'))), false],
    ['layouts.h5', () => new Uint8Array(fs.readFileSync(path.join(DIR, 'layouts.h5'))), true],
    ['k2_attention.h5', keras2, true],
  ];
  /**
   * The refusals, as the distinct sentences they give (numbers as #), in a snapshot: a change to
   * it means the reader now accepts or refuses a change it did not before, or says so differently
   * (a check loosened, added, or overlapping another): look at which, and update the snapshot
   * (`npx jest test/keras/hdf5.test.ts -u`) only if the new outcome is right.
   */
  it.each(files)(
    '%s: each is read or refused with an Error naming the file and the structure',
    (name, bytes, oneOfEachKind) => {
      const original = bytes();
      const view = new DataView(original.buffer, original.byteOffset, original.byteLength);
      const fields = mapHdf5(original);
      const kinds = new Map<string, (typeof fields)[0]>();
      for (const f of fields) {
        const kind = oneOfEachKind ? f.what.replace(/'[^']*'/g, "'*'") : `${f.at}/${f.what}`;
        if (!kinds.has(kind)) kinds.set(kind, f);
      }
      let changes = 0;
      const refusals = new Set<string>();
      const strays: string[] = [];
      for (const field of kinds.values()) {
        if (field.size > 8) continue; // a whole message
        const was =
          field.size === 8
            ? view.getBigUint64(field.at, true)
            : BigInt(view.getUint32(field.at, true) % 2 ** (8 * Math.min(field.size, 4)));
        for (const value of [0n, 1n, -1n, BigInt(original.length), was + 1n, was - 1n]) {
          changes++;
          try {
            readAll(setField(original, field.at, field.size, value), 'f.h5');
          } catch (error) {
            const text = `${(error as Error).constructor.name}: ${(error as Error).message}`;
            if (!/^Error: f\.h5: \S/.test(text)) strays.push(`${field.what} = ${value}: ${text}`);
            refusals.add(
              (error as Error).message
                .slice('f.h5: '.length)
                .replace(/'[^']*'/g, "'*'")
                .replace(/\d+/g, '#'),
            );
          }
        }
      }
      expect(strays).toEqual([]);
      expect(changes).toBeGreaterThan(150);
      expect([...refusals].sort()).toMatchSnapshot();
    },
  );
});
