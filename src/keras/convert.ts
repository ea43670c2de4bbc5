/**
 * `npm run convert`'s work, both ways (Node only):
 * - a Keras file loaded with `loadKerasModel` and saved as a tfjs layers-model folder (model.json +
 *   weights.bin, atomically, by io/file_system.ts), which plain `tf.loadLayersModel` loads once
 *   this package is imported (its layer classes are registered on import);
 * - a model (a tfjs model.json, or a Keras file) saved as a Keras 3 `.keras` file by
 *   `saveKerasModel`, which `keras.saving.load_model` opens.
 */
import * as tf from '@tensorflow/tfjs';
import { ensureBackend } from '../backend';
import { fileSystem } from '../io/file_system';
import { loadKerasModel, LoadKerasModelOptions } from './load';
import { saveKerasModel } from './save';
// The classes a tfjs model.json of this package's models names (load.ts registers the Keras ones).
import '../layers/masked_layer_normalization';
import '../layers/sinusoidal_position_encoding';
import '../layers/token_and_position_embedding';
import '../layers/transformer_decoder_block';
import '../layers/transformer_encoder_block';

/** Converts `input` (.keras, .h5 or model.json) into the folder `outDir`; returns the number of weights written. */
export async function convertKerasModel(
  input: string,
  outDir: string,
  options: LoadKerasModelOptions = {},
): Promise<{ layers: number; weights: number }> {
  const model = await loadKerasModel(input, options);
  try {
    await model.save(fileSystem(outDir));
    return { layers: model.layers.length, weights: model.weights.length };
  } finally {
    model.dispose();
  }
}

/**
 * Converts `input` into the Keras 3 file `output` (ending in .keras): a tfjs model.json (read by
 * tfjs itself, this package's layers registered), or a Keras `.h5` or `.keras` (read by
 * `loadKerasModel`: a legacy file becomes a Keras 3 one).
 */
export async function convertToKeras(
  input: string,
  output: string,
  options: LoadKerasModelOptions = {},
): Promise<{ layers: number; weights: number; bytes: number }> {
  if (!output.endsWith('.keras')) {
    throw new Error(`convert: the output ${output} must end in .keras (Keras's load_model tells the format by it)`);
  }
  await ensureBackend();
  const model = input.endsWith('.json')
    ? await tf.loadLayersModel(`file://${input.replace(/^file:\/\//, '')}`)
    : await loadKerasModel(input, options);
  try {
    const bytes = await saveKerasModel(model, output);
    return { layers: model.layers.length, weights: model.weights.length, bytes: bytes.length };
  } finally {
    model.dispose();
  }
}
