/**
 * Converts a Keras model file into a tfjs layers-model folder that apps can ship without the Keras reader.
 *
 *     npm run convert -- model.keras web_model/
 *     npm run convert -- model.h5 web_model/        # Keras 2 or Keras 3 full-model .h5
 *     npm run convert -- model.json web_model/      # a tfjs model.json (Keras 2 or Keras 3 nodes)
 *
 * Then, in the app: `import 'tfjs-attention'; await tf.loadLayersModel('web_model/model.json')`.
 */
import { convertKerasModel } from '../src/keras/convert';

async function main(): Promise<void> {
  const [input, outDir, ...rest] = process.argv.slice(2);
  const warn = rest.includes('--allow-non-finite');
  if (input == null || outDir == null || rest.some((a) => a !== '--allow-non-finite')) {
    throw new Error('usage: npm run convert -- <model.keras|model.h5|model.json> <out-dir> [--allow-non-finite]');
  }
  const started = Date.now();
  const { layers, weights } = await convertKerasModel(input, outDir, warn ? { nonFiniteWeights: 'warn' } : {});
  console.log(
    `${input} -> ${outDir}/model.json + weights.bin: ${layers} layers, ${weights} weights, ${Date.now() - started} ms`,
  );
}

main().catch((error) => {
  console.error((error as Error).message);
  process.exit(1);
});
