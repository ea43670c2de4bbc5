/**
 * What the model-file fuzzer loads: the loaders, the repository's own fixtures it starts from, and
 * a case (one file or model folder on disk, the loader to try it with, and how it was made).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** `loadKerasModel(path)`, `loadSeq2Seq(folder)`, `tf.loadLayersModel('file://' + path)`. */
export type Loader = 'keras' | 'seq2seq' | 'file';
export const LOADERS: readonly Loader[] = ['keras', 'seq2seq', 'file'];

const ROOT = path.resolve(__dirname, '../..');

/** A fixture: a `.keras`, a full-model `.h5`, or a folder with model.json (and task.json for a Seq2Seq). */
export interface Fixture {
  name: string;
  kind: 'keras' | 'h5' | 'folder';
  /** The file, or the folder. */
  path: string;
  loaders: readonly Loader[];
}

/** Every fixture of the repository the fuzzer mutates: test/fixtures/keras and the trained models/. */
export function fixtures(): Fixture[] {
  const keras = path.join(ROOT, 'test/fixtures/keras');
  const found: Fixture[] = [];
  for (const name of fs.readdirSync(keras).sort()) {
    const file = path.join(keras, name);
    if (name.endsWith('.keras')) found.push({ name, kind: 'keras', path: file, loaders: ['keras'] });
    if (name.endsWith('.h5')) found.push({ name, kind: 'h5', path: file, loaders: ['keras'] });
    if (fs.existsSync(path.join(file, 'weights.bin'))) {
      found.push({ name, kind: 'folder', path: file, loaders: ['keras', 'file'] });
    }
  }
  const models = path.join(ROOT, 'models');
  for (const name of fs.readdirSync(models).sort()) {
    if (fs.existsSync(path.join(models, name, 'task.json'))) {
      found.push({ name: `models/${name}`, kind: 'folder', path: path.join(models, name), loaders: LOADERS });
    }
  }
  return found;
}

/** The files of a model folder that a load reads. */
export const FOLDER_FILES = ['model.json', 'weights.bin', 'task.json'];

/** One load to try. */
export interface FuzzCase {
  id: number;
  loader: Loader;
  /** The file (keras, file) or folder (seq2seq) given to the loader. */
  target: string;
  /** The case's own folder, removed after the load. */
  dir: string;
  /** The fixture it was made from. */
  fixture: string;
  /** How it was made, in a few words ("config.json: layers[3].config.units = 1e9"). */
  how: string;
  /** For a regression case: a part of the message the refusal must have. */
  expect?: string;
}

/**
 * Writes a case's files into `<root>/case-<id>/model/`: `files` maps a file name to its bytes, or
 * to null for "copy it unchanged from the fixture folder". Returns the folder.
 */
export function writeCaseFolder(
  root: string,
  id: number,
  fixture: Fixture,
  files: Record<string, Uint8Array | null>,
): string {
  const folder = path.join(root, `case-${id}`, 'model');
  fs.mkdirSync(folder, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) {
    const target = path.join(folder, name);
    // Copies, never hard links: a mutation written through a link would change the fixture.
    if (bytes == null) fs.copyFileSync(path.join(fixture.path, name), target);
    else fs.writeFileSync(target, bytes);
  }
  return folder;
}

/** Where the loader looks: the folder for loadSeq2Seq, its model.json otherwise. */
export function folderTarget(folder: string, loader: Loader): string {
  return loader === 'seq2seq' ? folder : path.join(folder, 'model.json');
}
