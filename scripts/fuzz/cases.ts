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
  /** A folder's files that a load reads (model.json, its weight files, task.json). */
  files: readonly string[];
}

/**
 * Every fixture of the repository the fuzzer mutates: test/fixtures/keras, the files Keras itself
 * wrote (test/fixtures/keras_written: Keras 3, tf-keras and tf.keras 2.15 in every format, nested
 * models, keras-hub and keras.io layers) and the trained models/.
 */
export function fixtures(): Fixture[] {
  const found: Fixture[] = [];
  for (const folder of ['test/fixtures/keras', 'test/fixtures/keras_written']) {
    const dir = path.join(ROOT, folder);
    for (const name of fs.readdirSync(dir).sort()) {
      const file = path.join(dir, name);
      const label = folder.endsWith('written') ? `keras_written/${name}` : name;
      if (name.endsWith('.keras'))
        found.push({ name: label, kind: 'keras', path: file, loaders: ['keras'], files: [] });
      if (name.endsWith('.h5')) found.push({ name: label, kind: 'h5', path: file, loaders: ['keras'], files: [] });
      if (fs.existsSync(path.join(file, 'model.json'))) {
        const files = ['model.json', ...weightFiles(path.join(file, 'model.json'))];
        found.push({ name: label, kind: 'folder', path: file, loaders: ['keras', 'file'], files });
      }
    }
  }
  const models = path.join(ROOT, 'models');
  for (const name of fs.readdirSync(models).sort()) {
    if (fs.existsSync(path.join(models, name, 'task.json'))) {
      const files = ['model.json', 'weights.bin', 'task.json'];
      found.push({ name: `models/${name}`, kind: 'folder', path: path.join(models, name), loaders: LOADERS, files });
    }
  }
  return found;
}

/** The weight files a model.json's manifest names. */
function weightFiles(modelJson: string): string[] {
  const json = JSON.parse(fs.readFileSync(modelJson, 'utf8')) as { weightsManifest?: { paths: string[] }[] };
  return (json.weightsManifest ?? []).flatMap((group) => group.paths);
}

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
