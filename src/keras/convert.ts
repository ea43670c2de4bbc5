/**
 * `npm run convert`'s work: a Keras file loaded with `loadKerasModel` and saved as a tfjs
 * layers-model folder (model.json + weights.bin, atomically, by io/file_system.ts), which plain
 * `tf.loadLayersModel` loads once this package is imported (its layer classes are registered on
 * import). Node only.
 */
import { fileSystem } from '../io/file_system';
import { loadKerasModel, LoadKerasModelOptions } from './load';

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
