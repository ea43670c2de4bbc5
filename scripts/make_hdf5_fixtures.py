"""Writes test/fixtures/hdf5/: small HDF5 files in the layouts h5py can produce, and what h5py reads back.

    /usr/bin/python3 scripts/make_hdf5_fixtures.py

The Keras fixtures (make_keras_fixtures.py) cover what Keras writes: superblock 0, version 1 object
headers, symbol-table groups, contiguous float32 datasets, variable-length string attributes. These
files cover the rest of what the strict HDF5 reader (src/keras/hdf5_reader.ts) claims to read, and
what it must refuse with a clear message, each written by h5py itself:

- layouts.h5 (h5py defaults, libver 'earliest'): a group of 300 members (a two-level group B-tree
  with many symbol nodes), compact and contiguous datasets of float64, big-endian float32, int8,
  uint16 and int64, attributes of every type Keras writes and some it does not (fixed-length and
  variable-length strings, scalars and arrays of numbers, a bool enum, a compound);
- latest.h5 (libver 'latest'): superblock 3, version 2 object headers, groups of link messages;
- ordered.h5 (track_order=True): new-style groups with creation order in version 1 headers;
- chunked.h5, compressed.h5, dense.h5 (a group of 20 members under libver 'latest', stored in a
  fractal heap): refused.

<name>.json holds, for each object, what h5py reads: group members, attributes (JSON values; null
for the types the reader leaves unread) and datasets (shape and values).
"""
import json
import os

import h5py
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "hdf5")


def attrs_of(obj):
    out = {}
    for key in obj.attrs:
        kind = obj.attrs.get_id(key).get_type().get_class()
        value = obj.attrs[key]
        if kind in (h5py.h5t.COMPOUND, h5py.h5t.ENUM, h5py.h5t.REFERENCE, h5py.h5t.ARRAY, h5py.h5t.OPAQUE):
            out[key] = None
        else:
            out[key] = plain(value)
    return out


def plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.reshape(-1)]
    if isinstance(value, np.generic):
        return value.item()
    return value


def describe(path):
    objects = {}
    with h5py.File(path, "r") as f:

        def visit(name, obj):
            entry = {"attrs": attrs_of(obj)}
            if isinstance(obj, h5py.Dataset):
                entry["shape"] = list(obj.shape)
                entry["values"] = [float(v) for v in np.asarray(obj[()]).reshape(-1)]
            else:
                entry["members"] = sorted(obj.keys())
            objects[name] = entry

        visit("", f)
        f.visititems(visit)
    with open(path[:-3] + ".json", "w") as out:
        json.dump(objects, out, sort_keys=True)
        out.write("\n")


def contents(f):
    many = f.create_group("many")
    for i in range(300):
        many.create_dataset(f"m{i:03d}", data=np.float32(i))
    f.create_dataset("f64", data=np.linspace(-1, 1, 6).reshape(2, 3))
    f.create_dataset("f32_big_endian", data=np.arange(4, dtype=">f4"))
    f.create_dataset("i8", data=np.array([-3, 0, 5], dtype=np.int8))
    f.create_dataset("u16", data=np.array([1, 65535], dtype=np.uint16))
    f.create_dataset("i64", data=np.array([-(2**40), 7], dtype=np.int64))
    space = h5py.h5s.create_simple((3,))
    plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    plist.set_layout(h5py.h5d.COMPACT)
    compact = h5py.h5d.create(f.id, b"compact", h5py.h5t.IEEE_F32LE, space, dcpl=plist)
    compact.write(h5py.h5s.ALL, h5py.h5s.ALL, np.array([1.5, -2.5, 3.5], dtype=np.float32))
    g = f.create_group("with_attrs")
    g.attrs["vlen_str"] = "model_config"
    g.attrs["vlen_list"] = ["dense/kernel:0", "dense/bias:0"]
    g.attrs["fixed"] = np.bytes_("keras")
    g.attrs["fixed_list"] = np.array([b"a", b"bcd"])
    g.attrs["f64"] = 0.25
    g.attrs["i32_list"] = np.array([1, -2, 3], dtype=np.int32)
    g.attrs["flag"] = True
    g.attrs["pair"] = np.array((1, 2.0), dtype=[("a", "i4"), ("b", "f8")])
    g.attrs["unicode"] = "dense_é"


def main():
    os.makedirs(OUT, exist_ok=True)
    with h5py.File(os.path.join(OUT, "layouts.h5"), "w") as f:
        contents(f)
    with h5py.File(os.path.join(OUT, "latest.h5"), "w", libver="latest") as f:
        g = f.create_group("model_weights/dense")
        g.attrs["weight_names"] = ["dense/kernel:0"]
        g.create_dataset("kernel", data=np.arange(6, dtype=np.float32).reshape(2, 3))
        f.attrs["keras_version"] = "2.11.0"
    with h5py.File(os.path.join(OUT, "ordered.h5"), "w", track_order=True) as f:
        g = f.create_group("z_first")
        g.create_dataset("b", data=np.float32([1, 2]))
        g.create_dataset("a", data=np.float32([3]))
        f.attrs["note"] = "creation order tracked"
    with h5py.File(os.path.join(OUT, "chunked.h5"), "w") as f:
        f.create_dataset("x", data=np.zeros((4, 4), np.float32), chunks=(2, 2))
    with h5py.File(os.path.join(OUT, "compressed.h5"), "w") as f:
        f.create_dataset("x", data=np.zeros((4, 4), np.float32), compression="gzip")
    with h5py.File(os.path.join(OUT, "dense.h5"), "w", libver="latest") as f:
        for i in range(20):
            f.create_group(f"g{i}")
    for name in ["layouts", "latest", "ordered"]:
        describe(os.path.join(OUT, name + ".h5"))


if __name__ == "__main__":
    main()
