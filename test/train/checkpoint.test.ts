import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  Checkpoint,
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
