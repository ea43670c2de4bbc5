/**
 * The strict HDF5 reader against h5py itself: files in the layouts h5py can write
 * (scripts/make_hdf5_fixtures.py), and what h5py reads back from them.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Hdf5File } from '../../src/keras/hdf5';

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
