/**
 * Data the bench hands to a PyTorch peer so that both sides time the same batches: int32 arrays
 * written one after another in the machine's byte order (the peer runs on the same machine), read
 * back by scripts/peers/batch_file.py, which checks the file's size against the shapes it expects.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const files: string[] = [];
process.on('exit', () => files.forEach((file) => rmSync(file, { force: true })));

/** A path in the temporary folder, unique to this process, removed when the process exits. */
export function benchTempFile(name: string): string {
  const file = join(tmpdir(), `tfjs-attention-${name}-${process.pid}.bin`);
  files.push(file);
  return file;
}

/** Writes `arrays` to `file` back to back. */
export function writeInt32File(file: string, arrays: readonly Int32Array[]): void {
  writeFileSync(file, Buffer.concat(arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))));
}
