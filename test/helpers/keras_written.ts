/**
 * The Keras-written fixtures (test/fixtures/keras_written/, made by scripts/keras_fixtures/ with
 * Keras itself): their manifest, and loading one with `loadKerasModel` to compare its prediction
 * with what Keras predicted. Used by test/keras/keras_written.test.ts and by
 * `npm run fixtures:keras -- --check` (scripts/keras_fixtures.ts) on freshly written files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { KERAS_IO_LAYERS, loadKerasModel, type LoadKerasModelOptions } from '../../src';

export const KERAS_WRITTEN = path.join(__dirname, '../fixtures/keras_written');

/**
 * Files that do not load or match Keras yet, and what is missing (the test checks that they still
 * fail). None today.
 */
export const KNOWN_GAPS: Record<string, string> = {};

/** One fixture file: the inputs Keras predicted on and its outputs, or the reason it must be refused. */
export interface KerasWrittenEntry {
  file: string;
  /** Which Keras wrote it, e.g. 'keras 3.15.1 (jax backend)'. */
  keras: string;
  note?: string;
  /** keras.io example classes the file needs, by class name (loaded with this package's classes). */
  customObjects?: string[];
  inputs?: { dtype: 'float32' | 'int32'; values: unknown }[];
  outputs?: unknown[];
  /** Set for files that must be refused: a part of the expected error message. */
  refused?: string;
  /**
   * Keras 3 models without nested models: the layers and operations in the order Keras runs them
   * (which decides the masks Keras 3.8+ has cleared; src/keras/keras_masks.ts `kerasRunOrder`).
   */
  runOrder?: string[];
}

export interface KerasWrittenManifest {
  /** The Keras versions that wrote the files. */
  writers: string[];
  entries: KerasWrittenEntry[];
}

export function readManifest(dir = KERAS_WRITTEN): KerasWrittenManifest {
  return JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as KerasWrittenManifest;
}

/** The `customObjects` option an entry needs, from this package's keras.io classes. */
export function customObjectsFor(entry: KerasWrittenEntry): Record<string, unknown> | undefined {
  if (entry.customObjects == null || entry.customObjects.length === 0) return undefined;
  return Object.fromEntries(
    entry.customObjects.map((name) => {
      const cls = (KERAS_IO_LAYERS as Record<string, unknown>)[name];
      if (cls == null) throw new Error(`no keras.io class ${name} in KERAS_IO_LAYERS`);
      return [name, cls];
    }),
  );
}

/** Loads the entry's file, predicts its inputs and returns the largest |tfjs - Keras| over all outputs. */
export async function compareWithKeras(
  entry: KerasWrittenEntry,
  dir = KERAS_WRITTEN,
): Promise<{ maxDiff: number; leaked: number; outputShapes: (number | null)[][] }> {
  const model = await loadKerasModel(path.join(dir, entry.file), { customObjects: customObjectsFor(entry) as never });
  try {
    const inputs = entry.inputs!.map((x) => tf.tensor(x.values as number[], undefined, x.dtype));
    const before = tf.memory().numTensors;
    const predicted = model.predict(inputs.length === 1 ? inputs[0] : inputs);
    const outputs = Array.isArray(predicted) ? predicted : [predicted];
    if (outputs.length !== entry.outputs!.length) {
      throw new Error(`${entry.file}: ${outputs.length} outputs; Keras gave ${entry.outputs!.length}`);
    }
    let maxDiff = 0;
    outputs.forEach((y, i) => {
      const want = tf.tensor(entry.outputs![i] as number[]);
      if (want.shape.join() !== y.shape.join()) {
        throw new Error(`${entry.file}: output ${i} has shape [${y.shape}]; Keras gave [${want.shape}]`);
      }
      const got = y.dataSync();
      want.dataSync().forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - got[j]))));
      want.dispose();
    });
    tf.dispose(outputs);
    const leaked = tf.memory().numTensors - before;
    tf.dispose(inputs);
    return { maxDiff, leaked, outputShapes: model.outputs.map((o) => o.shape) };
  } finally {
    model.dispose();
  }
}

/**
 * The options a refused entry is loaded with: the keras.io classes as customObjects (so that a
 * variant of an example class is refused for what differs), except for the entry that checks the
 * refusal without customObjects.
 */
export function refusalOptions(entry: KerasWrittenEntry): LoadKerasModelOptions {
  return entry.refused === 'customObjects' ? {} : { customObjects: KERAS_IO_LAYERS as never };
}
