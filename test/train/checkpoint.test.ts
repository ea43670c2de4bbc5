import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  Checkpoint,
  CHECKPOINT_FILE,
  decodeCheckpoint,
  encodeCheckpoint,
  readCheckpoint,
  writeCheckpoint,
} from '../../src/train/checkpoint';

const checkpoint: Checkpoint = {
  state: {
    step: 7,
    weights: [Float32Array.from([1, -2.5, 3e-8, NaN]), Float32Array.from([0.25])],
    firstMoments: [Float32Array.from([0.1, 0.2, 0.3, 0.4]), Float32Array.from([5])],
    secondMoments: [Float32Array.from([1, 2, 3, 4]), Float32Array.from([6])],
  },
  weightSpecs: [
    { name: 'dense/kernel', shape: [2, 2] },
    { name: 'dense/bias', shape: [1] },
  ],
  extra: { stream: [1, 2, 3, 4], note: 'héllo' },
};

describe('checkpoint file', () => {
  it('round-trips state and extra exactly (NaN included), at any header length', () => {
    for (const note of ['', 'a', 'ab', 'abc']) {
      const c = { ...checkpoint, extra: { note } };
      const back = decodeCheckpoint(encodeCheckpoint(c), 'x');
      expect(back.extra).toEqual({ note });
      expect(back.state.step).toBe(7);
      expect(back.weightSpecs).toEqual(checkpoint.weightSpecs);
      expect(back.state.weights.map((w) => Array.from(w))).toEqual(checkpoint.state.weights.map((w) => Array.from(w)));
      expect(back.state.secondMoments.map((w) => Array.from(w))).toEqual([[1, 2, 3, 4], [6]]);
    }
  });

  it('names the file and the problem for a truncated, overlong or foreign file', () => {
    const bytes = encodeCheckpoint(checkpoint);
    expect(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 4), '/m/checkpoint.bin')).toThrow(
      /^\/m\/checkpoint.bin is not a usable training checkpoint: \d+ bytes, but its header lists 15 float32 values/,
    );
    // Bytes after the last value: another file's tail, or two checkpoints run together.
    const longer = new Uint8Array(bytes.length + 4);
    longer.set(bytes);
    expect(() => decodeCheckpoint(longer, 'c.bin')).toThrow(
      /^c.bin is not a usable training checkpoint: \d+ bytes, but its header lists 15 float32 values/,
    );
    expect(() => decodeCheckpoint(new TextEncoder().encode('{"format": 1}'), 'c.bin')).toThrow(
      'c.bin is not a usable training checkpoint: it does not start with "TFACKPT1"',
    );
  });

  it('writes atomically and reads back; a missing file says how to make one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-'));
    const file = path.join(dir, 'checkpoint.bin');
    await writeCheckpoint(file, checkpoint);
    await writeCheckpoint(file, { ...checkpoint, extra: { second: true } });
    expect(fs.readdirSync(dir)).toEqual(['checkpoint.bin']); // no temporary files left
    expect((await readCheckpoint(file)).extra).toEqual({ second: true });
    await expect(readCheckpoint(path.join(dir, 'none.bin'))).rejects.toThrow(
      `no training checkpoint at ${path.join(dir, 'none.bin')}; train without --resume first`,
    );
    fs.rmSync(dir, { recursive: true });
  });
});

describe('checkpoint from a Node Buffer', () => {
  it('decodes bytes that are a view into a larger buffer (as fs.readFile returns)', () => {
    const bytes = encodeCheckpoint(checkpoint);
    const pool = Buffer.alloc(bytes.length + 13);
    pool.set(bytes, 13);
    const back = decodeCheckpoint(pool.subarray(13), 'x');
    expect(back.state.weights.map((w) => Array.from(w))).toEqual(checkpoint.state.weights.map((w) => Array.from(w)));
  });
});

describe('checkpoint layout and checks at their edges', () => {
  const parts = (bytes: Uint8Array) => {
    const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
    return {
      magic: new TextDecoder().decode(bytes.subarray(0, 8)),
      length,
      header: JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length))),
    };
  };
  /** A file of the magic, a header of `header` and `tail` bytes after it. */
  const file = (header: string, tail = 0) => {
    const text = new TextEncoder().encode(header);
    const bytes = new Uint8Array(12 + text.length + tail);
    bytes.set(new TextEncoder().encode('TFACKPT1'));
    new DataView(bytes.buffer).setUint32(8, text.length, true);
    bytes.set(text, 12);
    return bytes;
  };

  it('is the magic, the header length, the header, zeros to a multiple of 4, then every float32', () => {
    expect(CHECKPOINT_FILE).toBe('checkpoint.bin'); // the name --resume reads in a run's folder
    const bytes = encodeCheckpoint({ ...checkpoint, extra: null });
    const { magic, length, header } = parts(bytes);
    expect(magic).toBe('TFACKPT1');
    expect(header).toEqual({
      format: 'tfjs-attention-checkpoint',
      version: 1,
      step: 7,
      weights: checkpoint.weightSpecs,
      firstMoments: [
        { name: 'moment0/m', shape: [4] },
        { name: 'moment1/m', shape: [1] },
      ],
      secondMoments: [
        { name: 'moment0/v', shape: [4] },
        { name: 'moment1/v', shape: [1] },
      ],
      extra: null,
    });
    const dataStart = Math.ceil((12 + length) / 4) * 4;
    expect(Array.from(bytes.subarray(12 + length, dataStart))).toEqual(new Array(dataStart - 12 - length).fill(0));
    expect(bytes.length).toBe(dataStart + 4 * 15);
    const floats = new Float32Array(bytes.slice(dataStart).buffer);
    expect(Array.from(floats)).toEqual(
      [...checkpoint.state.weights, ...checkpoint.state.firstMoments, ...checkpoint.state.secondMoments].flatMap((a) =>
        Array.from(a),
      ),
    );
    const back = decodeCheckpoint(bytes, 'x');
    expect(back.state.firstMoments).toEqual([Float32Array.from([0.1, 0.2, 0.3, 0.4]), Float32Array.from([5])]);
    expect(back.state.secondMoments).toEqual([Float32Array.from([1, 2, 3, 4]), Float32Array.from([6])]);
  });

  it('round-trips a state without moments, and one without weights whose header ends the file', () => {
    const noMoments = { ...checkpoint, state: { ...checkpoint.state, firstMoments: [], secondMoments: [] } };
    const back = decodeCheckpoint(encodeCheckpoint(noMoments), 'x');
    expect(back.state.weights.map((w) => Array.from(w))).toEqual([[1, -2.5, Math.fround(3e-8), NaN], [0.25]]);
    expect([back.state.firstMoments, back.state.secondMoments]).toEqual([[], []]);
    for (const note of ['', 'a', 'ab', 'abc']) {
      const empty = {
        state: { step: 0, weights: [], firstMoments: [], secondMoments: [] },
        weightSpecs: [],
        extra: note,
      };
      const bytes = encodeCheckpoint(empty);
      expect(decodeCheckpoint(bytes, 'x')).toEqual({ ...empty, state: { ...empty.state } });
    }
  });

  it('refuses specs that do not match the weights, and a short, broken or foreign header, naming the file', () => {
    expect(() => encodeCheckpoint({ ...checkpoint, weightSpecs: checkpoint.weightSpecs.slice(1) })).toThrow(
      'encodeCheckpoint: 1 weight specs for 2 weights',
    );
    const bad = 'f.bin is not a usable training checkpoint: ';
    expect(() => decodeCheckpoint(file('').subarray(0, 11), 'f.bin')).toThrow(
      `${bad}it does not start with "TFACKPT1"`,
    );
    // 12 bytes: the magic and an empty header, which is not JSON.
    expect(() => decodeCheckpoint(file(''), 'f.bin')).toThrow(`${bad}its header is not JSON (`);
    const cut = file('{"format": "x"}').subarray(0, 20);
    expect(() => decodeCheckpoint(cut, 'f.bin')).toThrow(`${bad}the header needs 15 bytes, the file is too short`);
    expect(() => decodeCheckpoint(file('{"format": "x", "version": 1}'), 'f.bin')).toThrow(
      `${bad}format "x" version 1; expected tfjs-attention-checkpoint version 1`,
    );
    expect(() => decodeCheckpoint(file('{"format": "tfjs-attention-checkpoint", "version": 2}'), 'f.bin')).toThrow(
      `${bad}format "tfjs-attention-checkpoint" version 2; expected tfjs-attention-checkpoint version 1`,
    );
    // The header lists 6 floats: 24 bytes from 164, after the header's 12 + 150 bytes and 2 of padding.
    const listed = JSON.stringify({
      format: 'tfjs-attention-checkpoint',
      version: 1,
      step: 1,
      weights: [{ name: 'w', shape: [2, 3] }],
      firstMoments: [],
      secondMoments: [],
      extra: 'abcd',
    });
    expect(listed.length).toBe(150);
    expect(Array.from(decodeCheckpoint(file(listed, 26), 'f.bin').state.weights[0])).toEqual([0, 0, 0, 0, 0, 0]);
    expect(() => decodeCheckpoint(file(listed, 22), 'f.bin')).toThrow(
      `${bad}184 bytes, but its header lists 6 float32 values (188 bytes)`,
    );
  });

  it('passes on an error reading the file other than a missing one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-'));
    try {
      await expect(readCheckpoint(dir)).rejects.toThrow(expect.objectContaining({ code: 'EISDIR' }));
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});
