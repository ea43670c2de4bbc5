/**
 * Opening a model the user brings: a `.keras` or `.h5` file, or a model folder (model.json, its
 * weight files, and optionally the task.json and study.json that `npm run train` and `npm run study`
 * write beside them), chosen with a file input or dropped onto the page (a dropped folder is read
 * through the File and Directory Entries API). Loading goes through the library's
 * `loadKerasModel`, which tells the format by content.
 */
import * as tf from '@tensorflow/tfjs';
import type { AttentionStudy, Seq2SeqTaskInfo } from '../browser';
import type { Api } from './globals';

/** A model the user opened, with what came with it. */
export interface OpenedModel {
  /** The file's or the folder's name. */
  name: string;
  model: tf.LayersModel;
  /** task.json, when the folder had one (a seq2seq model of this library). */
  info: Seq2SeqTaskInfo | null;
  /** study.json, when the folder had one (`npm run study`). */
  study: AttentionStudy | null;
}

/** The files of a drop: dropped files as they are, a dropped folder's files (and its subfolders'). */
export async function filesFromDrop(transfer: DataTransfer): Promise<File[]> {
  const entries = Array.from(transfer.items)
    .map((item) => item.webkitGetAsEntry?.() ?? null)
    .filter((entry): entry is FileSystemEntry => entry !== null);
  if (entries.length === 0) return Array.from(transfer.files);
  const files: File[] = [];
  const visit = async (entry: FileSystemEntry): Promise<void> => {
    if (entry.isFile) {
      files.push(await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject)));
      return;
    }
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    // readEntries returns a folder's entries in batches, until an empty one.
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) await visit(child);
    }
  };
  for (const entry of entries) await visit(entry);
  return files;
}

/** The folder a set of files came from (a folder input's relative paths), else the model file's name. */
function nameOf(files: File[], main: File): string {
  const relative = (main as File & { webkitRelativePath?: string }).webkitRelativePath ?? '';
  return relative.includes('/')
    ? relative.split('/')[0]
    : files.length === 1
      ? main.name
      : main.name.replace(/\.json$/, '');
}

/**
 * Loads the model in `files`: one `.keras` or `.h5` file, or a model.json with its weight files
 * (and task.json, study.json when present). Errors name the files and what is missing.
 */
export async function openFiles(api: Api, files: File[]): Promise<OpenedModel> {
  if (files.length === 0) throw new Error('No files: choose or drop a .keras or .h5 file, or a model folder');
  const byName = (name: string) => files.find((f) => f.name === name);
  const keras = files.filter((f) => /\.(keras|h5|hdf5)$/i.test(f.name));
  const taskFile = byName('task.json');
  const studyFile = byName('study.json');
  const json = byName('model.json') ?? files.find((f) => f.name.endsWith('.json') && f !== taskFile && f !== studyFile);
  let model: tf.LayersModel;
  let main: File;
  if (json !== undefined) {
    main = json;
    const weights = files.filter((f) => !f.name.endsWith('.json') && !keras.includes(f));
    model = await api.loadKerasModel(tf.io.browserFiles([json, ...weights]));
  } else if (keras.length === 1) {
    main = keras[0];
    model = await api.loadKerasModel(main);
  } else {
    throw new Error(
      `${files.map((f) => f.name).join(', ')}: expected one .keras or .h5 file, or a model folder ` +
        '(model.json with its weight files)',
    );
  }
  try {
    const info = taskFile === undefined ? null : api.parseTaskJson(await taskFile.text(), taskFile.name);
    const study = studyFile === undefined ? null : api.checkStudy(JSON.parse(await studyFile.text()), studyFile.name);
    return { name: nameOf(files, main), model, info, study };
  } catch (error) {
    model.dispose();
    throw error;
  }
}
