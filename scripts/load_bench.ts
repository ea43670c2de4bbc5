/**
 * Times model loads in one process: each Keras file (`--keras`, loadKerasModel), model folder
 * (`--seq2seq`, loadSeq2Seq) and model.json (`--file`, tf.loadLayersModel('file://...')) `--runs`
 * times after one warm-up, printing one JSON line each with the median and fastest load in ms.
 *
 *     npx ts-node --transpile-only scripts/load_bench.ts --keras ../shared/keras_real/x.h5 \
 *       --seq2seq models/reverse --file models/reverse/model.json --runs 20
 *
 * `--lib <module>` times another build of the library (e.g. another checkout's src bundled with
 * esbuild, tfjs external), so two versions can be compared process by process:
 *
 *     npx esbuild ../other/src/index.ts --bundle --platform=node --external:@tensorflow/* --ignore-annotations \
 *       --outfile=/tmp/other.js
 *     npx esbuild scripts/load_bench.ts --bundle --platform=node --external:@tensorflow/* --outfile=/tmp/bench.js
 *     NODE_PATH=$PWD/node_modules node /tmp/bench.js --lib /tmp/other.js --keras model.h5 --runs 20
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';

type Library = Pick<typeof import('../src'), 'loadKerasModel' | 'loadSeq2Seq' | 'ensureBackend'>;

const { values } = parseArgs({
  options: {
    keras: { type: 'string', multiple: true, default: [] },
    seq2seq: { type: 'string', multiple: true, default: [] },
    file: { type: 'string', multiple: true, default: [] },
    runs: { type: 'string', default: '10' },
    lib: { type: 'string' },
  },
});

const runs = Number(values.runs);

/** The library timed: loaded by a computed name, so that a bundle of this script leaves it out. */
function library(): Library {
  return require(values.lib ? path.resolve(values.lib) : path.join(__dirname, '../src'));
}

async function time(what: string, input: string, load: () => Promise<{ dispose(): void }>): Promise<void> {
  (await load()).dispose(); // warm-up: backend, kernels, first-use compilation
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const loaded = await load();
    ms.push(performance.now() - started);
    loaded.dispose();
  }
  ms.sort((a, b) => a - b);
  const median = ms[Math.floor(ms.length / 2)];
  console.log(JSON.stringify({ what, input, runs, medianMs: +median.toFixed(1), minMs: +ms[0].toFixed(1) }));
}

void (async () => {
  const lib = library();
  await lib.ensureBackend(); // the backend the loaders would pick, for tf.loadLayersModel too
  for (const file of values.keras!) await time('loadKerasModel', file, () => lib.loadKerasModel(file));
  for (const folder of values.seq2seq!) await time('loadSeq2Seq', folder, () => lib.loadSeq2Seq(folder));
  for (const json of values.file!)
    await time('file://', json, () => tf.loadLayersModel(`file://${path.resolve(json)}`));
})();
