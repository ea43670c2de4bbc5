/**
 * Crash-safe file replacement for Node, shared by everything in this package
 * that writes to disk (models, task.json, training logs, checkpoints).
 *
 * `atomicWriteFile(target, data)` never lets a reader, or a process that starts
 * after a crash, see a half-written `target`: the bytes go to a temporary file
 * in the same folder (`.<name>.tmp-<pid>-<random>`), are flushed to the disk
 * with fsync, and only then is the temporary file renamed over `target`. A
 * rename within one folder replaces the directory entry in a single step
 * (POSIX rename(2); MoveFileEx with REPLACE_EXISTING on Windows), so `target`
 * holds either all of its old bytes or all of its new ones. The folder itself
 * is fsynced afterwards where the platform allows it, so that the rename
 * survives a power cut too.
 *
 * `fs` and `path` are required inside the functions rather than imported at the
 * top, so that a browser bundle can mark them external and never load them.
 */
import type * as FsModule from 'fs';
import type * as PathModule from 'path';

/** Whether we run under Node.js (as opposed to a browser or a web worker). */
export function isNodeRuntime(): boolean {
  return typeof process !== 'undefined' && process.versions?.node != null;
}

/** Node's `fs`, loaded on first use (see the module comment). */
export function nodeFs(): typeof FsModule {
  return require('fs');
}

/** Node's `path`, loaded on first use (see the module comment). */
export function nodePath(): typeof PathModule {
  return require('path');
}

// ---------------------------------------------------------------------------
// Fault points: named places in a multi-step write where a test can make the
// write fail (by throwing) or look at the disk, without patching `fs`.

/** Called with the name of each step of a write; may throw to fail the write there. */
export type FaultHook = (step: string) => void | Promise<void>;

let faultHook: FaultHook | null = null;

/**
 * Test-only: installs `hook` to be called at every fault point of
 * `atomicWriteFile` and of the model file system handler (pass `null` to
 * remove it). A hook that throws makes the write fail exactly there, which is
 * how the tests check that every intermediate state keeps the earlier file or
 * model intact. Not part of the public API.
 */
export function setFaultHookForTesting(hook: FaultHook | null): void {
  faultHook = hook;
}

/** Marks a named step of a write; runs the test hook if one is installed. */
export async function faultPoint(step: string): Promise<void> {
  if (faultHook != null) {
    await faultHook(step);
  }
}

// ---------------------------------------------------------------------------
// Temporary names.

const TEMP_NAME = /^\.(.+)\.tmp-(\d+)-[a-z0-9]+$/;

/** A fresh temporary path next to `target`: `<dir>/.<name>.tmp-<pid>-<random>`. */
export function tempPathFor(target: string): string {
  const { dirname, basename, join } = nodePath();
  const random = Math.random().toString(36).slice(2, 10) || '0';
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${random}`);
}

/**
 * If `fileName` (a bare name, no folder) is a temporary name made by
 * `tempPathFor`, returns the name of the file it stands in for and the id of
 * the process that made it; otherwise `null`.
 */
export function parseTempName(fileName: string): { target: string; pid: number } | null {
  const match = TEMP_NAME.exec(fileName);
  return match == null ? null : { target: match[1], pid: Number(match[2]) };
}

// ---------------------------------------------------------------------------
// Writing.

/**
 * Replaces `target` with `data` (a string is written as UTF-8) so that
 * `target` always holds either its complete old content or its complete new
 * content, even if the process dies or the machine loses power midway. Creates
 * the folder if it is missing. On failure the temporary file is removed and
 * `target` is untouched.
 */
export async function atomicWriteFile(target: string, data: string | Uint8Array): Promise<void> {
  const fs = nodeFs();
  const { dirname, basename } = nodePath();
  const folder = dirname(target);
  const name = basename(target);
  await fs.promises.mkdir(folder, { recursive: true });
  const temp = tempPathFor(target);
  try {
    // 'wx': fail rather than share a temporary file with another writer.
    const handle = await fs.promises.open(temp, 'wx');
    try {
      await faultPoint(`${name}: temporary file created`);
      await handle.writeFile(data);
      await faultPoint(`${name}: temporary file written`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await faultPoint(`${name}: temporary file synced, not yet renamed`);
    await fs.promises.rename(temp, target);
  } catch (error) {
    await fs.promises.rm(temp, { force: true });
    throw error;
  }
  await fsyncFolder(folder);
}

/**
 * Gives `source`'s current content a second name `target` (which must not
 * exist) without copying when the file system allows it. A hard link shares
 * the bytes; since nothing in this package ever writes into an existing file
 * (only renames new files over old names), the linked content can never
 * change. File systems without hard links (FAT, some network shares) get a
 * flushed copy instead.
 */
export async function linkOrCopy(source: string, target: string): Promise<void> {
  const fs = nodeFs();
  try {
    await fs.promises.link(source, target);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw error;
    }
  }
  await fs.promises.copyFile(source, target, fs.constants.COPYFILE_EXCL);
  const handle = await fs.promises.open(target, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Flushes a folder's entries (the result of a rename) to the disk. Best
 * effort: Windows and some file systems cannot open or fsync a folder, and
 * there is nothing better to do there.
 */
export async function fsyncFolder(folder: string): Promise<void> {
  const fs = nodeFs();
  try {
    const handle = await fs.promises.open(folder, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Not supported on this platform; the rename itself has still happened.
  }
}
