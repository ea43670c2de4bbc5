"""Reads what scripts/bench/batch_file.ts writes: int32 arrays back to back, in the machine's byte order.

Shared by the peers that train or decode on the bench's own data, so both sides time the same batches.
"""

import math

import numpy as np


def read_int32_steps(path, steps, shapes):
    """`steps` groups of arrays of `shapes` from `path`, as a list (one tuple of int64 arrays per step).

    Exits with a message naming the file, the expected layout and what it holds when the size differs:
    a bench and a peer that disagree on the batch layout must not train on misread data.
    """
    data = np.fromfile(path, dtype=np.int32)
    per_step = sum(math.prod(shape) for shape in shapes)
    layout = " + ".join("x".join(str(n) for n in shape) for shape in shapes)
    if data.size != steps * per_step:
        raise SystemExit(f"{path} holds {data.size} int32 values; expected {steps} steps x ({layout}) = "
                         f"{steps * per_step}: the bench and the peer disagree on the batches")
    out, offset = [], 0
    for _ in range(steps):
        arrays = []
        for shape in shapes:
            size = math.prod(shape)
            arrays.append(data[offset:offset + size].reshape(shape).astype(np.int64))
            offset += size
        out.append(tuple(arrays))
    return out
