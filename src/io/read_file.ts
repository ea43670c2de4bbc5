/**
 * Reading a file of a model folder in Node, which is a file from outside: only a plain file (a
 * named pipe would wait for a writer forever, a device would never end), its size checked before a
 * byte is read. Synchronous, on purpose: a folder is a handful of reads of known size, and each step
 * of the promise API is a trip through libuv's thread pool that costs more than the read itself.
 */
import { nodeFs } from './atomic';

/** The error code of a path that exists but is neither a plain file nor a folder. */
export const NOT_PLAIN_FILE = 'ENOTPLAIN';

/**
 * The bytes of the plain file at `path`, after `checkSize(size)` (which throws to refuse it); read
 * into `into` at `offset` when given (and then returned as that part of it). Errors carry Node's
 * codes: ENOENT, EISDIR for a folder, NOT_PLAIN_FILE for anything else that is not a plain file.
 */
export function readPlainFile(
  path: string,
  checkSize: (size: number) => void,
  into?: Uint8Array,
  offset = 0,
): Uint8Array {
  const fs = nodeFs();
  const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const stat = fs.fstatSync(fd);
    if (stat.isDirectory()) throw Object.assign(new Error(`${path} is a folder`), { code: 'EISDIR' });
    if (!stat.isFile()) throw Object.assign(new Error(`${path} is not a plain file`), { code: NOT_PLAIN_FILE });
    checkSize(stat.size);
    const target = into ?? new Uint8Array(stat.size);
    let done = 0;
    while (done < stat.size) {
      const read = fs.readSync(fd, target, into ? offset + done : done, stat.size - done, done);
      if (read === 0) throw new Error(`${path} ended at ${done} of its ${stat.size} bytes while being read`);
      done += read;
    }
    return into ? target.subarray(offset, offset + stat.size) : target;
  } finally {
    fs.closeSync(fd);
  }
}
