/**
 * What the browser builds hold in place of file_system.ts (scripts/build_browser.ts swaps it in):
 * the same names, each an error that says it is Node-only. Folders and `file://` need Node's file
 * system; a page loads models from a URL or `indexeddb://` and saves to `indexeddb://` or
 * `downloads://`, all of them tfjs's own routes.
 */
import type * as tf from '@tensorflow/tfjs';

function nodeOnly(what: string): Error {
  return new Error(
    `tfjs-attention: ${what} is Node-only (it reads and writes folders); in a browser, load models from ` +
      'a URL or indexeddb:// and save them to indexeddb:// or downloads://',
  );
}

/** Node-only: see file_system.ts. */
export class NodeFileSystem implements tf.io.IOHandler {
  constructor(path: string, _options?: unknown) {
    throw nodeOnly(`NodeFileSystem(${JSON.stringify(path)})`);
  }
}

/** Node-only: see file_system.ts. */
export function fileSystem(path: string, _options?: unknown): NodeFileSystem {
  throw nodeOnly(`fileSystem(${JSON.stringify(path)})`);
}

/** Node-only: see file_system.ts. */
export function registerFileSystemRoutes(): void {
  throw nodeOnly('registerFileSystemRoutes()');
}
