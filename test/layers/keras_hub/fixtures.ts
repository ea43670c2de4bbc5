/**
 * The keras-hub golden cases of scripts/keras_layer_references.py (plain numpy from keras-hub's
 * source), stored in test/fixtures/keras_layers.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';

const FIXTURES = path.join(__dirname, '../../fixtures/keras_layers');

export function hubFixture<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as T;
}

/** A nested array as a tensor (float32 unless told). */
export function t(values: unknown, dtype: 'float32' | 'int32' = 'float32'): tf.Tensor {
  return tf.tensor(values as number[], undefined, dtype);
}

/** max |a - b| of a tensor against a nested array. */
export function maxDiff(a: tf.Tensor, b: unknown): number {
  return tf.tidy(() => tf.max(tf.abs(a.sub(t(b)))).dataSync()[0]);
}
