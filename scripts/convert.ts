/**
 * Converts models between Keras files and tfjs layers-model folders, either way:
 *
 *     npm run convert -- model.keras web_model/          # a Keras file -> model.json + weights.bin
 *     npm run convert -- model.h5 web_model/             # Keras 2 or Keras 3 full-model .h5
 *     npm run convert -- model.json web_model/           # a tfjs model.json (Keras 2 or Keras 3 nodes)
 *     npm run convert -- web_model/model.json model.keras   # -> Keras 3 (the output ends in .keras)
 *     npm run convert -- models/reverse model.keras          # a folder: its model.json
 *
 * Then, in an app: `import 'tfjs-attention'; await tf.loadLayersModel('web_model/model.json')`; in
 * Python: `keras.saving.load_model('model.keras')` (with keras-hub installed for its layers).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { convertKerasModel, convertToKeras } from '../src/keras/convert';

async function main(): Promise<void> {
  const [given, output, ...rest] = process.argv.slice(2);
  const warn = rest.includes('--allow-non-finite');
  if (given == null || output == null || rest.some((a) => a !== '--allow-non-finite')) {
    throw new Error(
      'usage: npm run convert -- <model.keras|model.h5|model.json> <out-dir> [--allow-non-finite]\n' +
        '       npm run convert -- <model.json|folder|model.h5|model.keras> <out.keras>',
    );
  }
  const input = fs.existsSync(given) && fs.statSync(given).isDirectory() ? path.join(given, 'model.json') : given;
  const options = warn ? ({ nonFiniteWeights: 'warn' } as const) : {};
  const started = Date.now();
  if (output.endsWith('.keras')) {
    const { layers, weights, bytes } = await convertToKeras(input, output, options);
    console.log(
      `${input} -> ${output} (Keras 3): ${layers} layers, ${weights} weights, ${bytes} bytes, ` +
        `${Date.now() - started} ms`,
    );
    return;
  }
  const { layers, weights } = await convertKerasModel(input, output, options);
  console.log(
    `${input} -> ${output}/model.json + weights.bin: ${layers} layers, ${weights} weights, ${Date.now() - started} ms`,
  );
}

main().catch((error) => {
  console.error((error as Error).message);
  process.exit(1);
});
