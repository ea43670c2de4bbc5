/**
 * Drops every .keras / .h5 file of a folder onto the demo page in headless Chromium (Debian's,
 * through playwright-core), as test/browser/demo_open.test.ts does with the repository's
 * fixtures, and checks that the page shows every attention call `explainAttention` finds in Node
 * for the same model and the inputs the page ran, and that in Node each head's contributions
 * (`headOutputs`) are its share of the layer's output, measured by switching the other heads off:
 *
 *     npm run check:demo -- ../shared/keras_real
 *
 * Prints one line per file (its attention layers, the page's answer) and exits non-zero when a
 * file does not open or the page shows other layers than Node finds. The files are read from
 * their folder, never copied into the repository.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/backend';
import { type AttentionExplanation, explainAttention, predictWithHeadMasks } from '../src/explain/explain';
import { loadKerasModel } from '../src/keras/load';
import { launchChromium, watchPage } from './chromium';
import { dropFiles, shownInputs, shownLayers, startDemoSite, waitForDemo } from './demo_page';

async function main(): Promise<number> {
  const [folder, ...rest] = process.argv.slice(2);
  if (folder == null || rest.length > 0) {
    console.error('usage: npm run check:demo -- <folder with .keras / .h5 files>');
    return 2;
  }
  const files = fs
    .readdirSync(folder)
    .filter((f) => /\.(keras|h5)$/.test(f))
    .sort();
  if (files.length === 0) throw new Error(`check:demo: ${folder} holds no .keras or .h5 file`);
  await initBackend('wasm', { quiet: true });
  const site = await startDemoSite(path.resolve(__dirname, '..', 'models'));
  const browser = await launchChromium();
  let failures = 0;
  try {
    const page = await browser.context.newPage();
    const watch = watchPage(page);
    await page.goto(`${site.url}?backend=wasm&model=reverse&input=12`);
    await waitForDemo(page);
    for (const file of files) {
      const full = path.join(folder, file);
      await dropFiles(page, [full]);
      const status = await waitForDemo(page, 120_000);
      if (status !== 'ready') {
        failures++;
        console.log(`${file}: FAILED, the page says: ${await page.textContent('#error')}`);
        continue;
      }
      const shown = (await shownLayers(page)).map((l) => `${l.path} (${l.kind}, ${l.heads} heads)`);
      const model = await loadKerasModel(full);
      const inputs = (await shownInputs(page)).map(({ dtype, values }) =>
        tf.tidy(() =>
          tf
            .tensor(values as number[])
            .expandDims(0)
            .cast(dtype),
        ),
      );
      const explained = explainAttention(model, inputs, { headOutputs: true });
      const expected = explained.map((c) => `${c.path} (${c.kind}, ${c.numHeads} heads)`);
      const shareDiff = Math.max(...explained.map((call) => shareDifference(model, inputs, call)));
      tf.dispose(inputs);
      model.dispose();
      const same = shown.join() === expected.join() && shown.length > 0 && shareDiff < 1e-5;
      if (!same) failures++;
      console.log(
        `${file}: ${same ? 'ok' : 'FAILED'}, ${shown.length} attention layer(s) shown: ${shown.join(', ') || 'none'}` +
          (shown.join() === expected.join() ? '' : `; Node finds ${expected.join(', ') || 'none'}`) +
          `; heads' contributions = their shares within ${shareDiff.toExponential(1)}` +
          `; the page's answer: ${await page.textContent('#output')}`,
      );
    }
    if (watch.problems.length > 0) {
      failures++;
      console.log(`the page reported: ${watch.problems.join('; ')}`);
    }
  } finally {
    await browser.close();
    await site.close();
  }
  return failures === 0 ? 0 : 1;
}

/**
 * The largest difference between each head's `headOutputs` and its share of the layer's output as
 * the model computes it with the other heads switched off (`predictWithHeadMasks` on a model that
 * ends at the layer), the output bias taken away.
 */
function shareDifference(model: tf.LayersModel, inputs: tf.Tensor[], call: AttentionExplanation): number {
  const upTo = tf.model({ inputs: model.inputs, outputs: call.layer.output as tf.SymbolicTensor });
  const bias = call.layer.outputDense!.bias?.read();
  let largest = 0;
  for (let h = 0; h < call.numHeads; h++) {
    const only = Array.from({ length: call.numHeads }, (_x, i) => (i === h ? 1 : 0));
    const share = tf.tidy(() => {
      const output = predictWithHeadMasks(upTo, inputs, { [call.path]: only }) as tf.Tensor;
      return (bias ? output.sub(bias) : output).arraySync() as number[][][];
    });
    share.forEach((rows, b) =>
      rows.forEach((row, t) =>
        row.forEach((value, d) => (largest = Math.max(largest, Math.abs(value - call.headOutputs![b][h][t][d])))),
      ),
    );
  }
  return largest;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`check:demo: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
