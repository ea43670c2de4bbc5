/**
 * Checks loadKerasModel on every .keras / .h5 file of a folder against the independent NumPy
 * reference (scripts/keras_reference.py, run with Debian's /usr/bin/python3: numpy + h5py).
 *
 *     npm run check:keras -- ../shared/keras_real
 *
 * For each file: the reference's seeded inputs and outputs, the loaded model's prediction on the
 * same inputs, and the largest absolute difference, which must stay below 1e-4, in Node
 * (`loadKerasModel(path)`) and in headless Chromium (`loadKerasModel(url)`, the script-tag bundle,
 * scripts/keras_browser.ts; `--node-only` skips it). Exits non-zero when any file fails to load or
 * differs more. The files are served from their folder, never copied.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadKerasModel } from '../src';
import { predictInChromium } from './keras_browser';

const TOLERANCE = 1e-4;
const PYTHON = process.env.KERAS_REFERENCE_PYTHON ?? '/usr/bin/python3';

async function main(): Promise<void> {
  const [folder, ...flags] = process.argv.slice(2);
  if (folder == null || flags.some((f) => f !== '--node-only')) {
    throw new Error('usage: npm run check:keras -- <folder with .keras / .h5 files> [--node-only]');
  }
  const files = fs
    .readdirSync(folder)
    .filter((f) => /\.(keras|h5)$/.test(f))
    .sort();
  if (files.length === 0) throw new Error(`check:keras: ${folder} holds no .keras or .h5 file`);
  let failures = 0;
  const references = new Map<string, { inputs: number[][][]; outputs: number[][][] }>();
  for (const file of files) {
    const full = path.join(folder, file);
    const reference = JSON.parse(
      execFileSync(PYTHON, [path.join(__dirname, 'keras_reference.py'), full], { maxBuffer: 1 << 28 }).toString(),
    ) as { inputs: number[][][]; outputs: number[][][] };
    references.set(file, reference);
    const started = Date.now();
    try {
      const model = await loadKerasModel(full);
      const loadMs = Date.now() - started;
      const inputs = reference.inputs.map((x, i) => tf.tensor(x, undefined, model.inputs[i].dtype));
      const before = tf.memory().numTensors;
      const output = model.predict(inputs.length === 1 ? inputs[0] : inputs);
      const outputs = Array.isArray(output) ? output : [output];
      let maxDiff = 0;
      outputs.forEach((y, i) => {
        const got = y.dataSync();
        const want = (reference.outputs[i] as unknown as number[]).flat(Infinity as 1) as number[];
        want.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - got[j]))));
      });
      tf.dispose([...outputs, ...inputs]);
      const leaked = tf.memory().numTensors - before + inputs.length;
      model.dispose();
      const ok = maxDiff < TOLERANCE;
      if (!ok) failures++;
      console.log(
        `${ok ? 'ok  ' : 'FAIL'} node ${file}: loaded in ${loadMs} ms, ` +
          `max |tfjs - numpy| = ${maxDiff.toExponential(2)}` +
          ` (tolerance ${TOLERANCE}), tensors after predict ${leaked <= 0 ? 'all freed' : `${leaked} leaked`}`,
      );
    } catch (error) {
      failures++;
      console.log(`FAIL node ${file}: ${(error as Error).message}`);
    }
  }
  let checks = files.length;
  if (!flags.includes('--node-only')) {
    checks += files.length;
    const runs = files.map((file) => ({
      file,
      inputs: references.get(file)!.inputs.map((values) => ({
        values,
        dtype: (JSON.stringify(values).includes('.') ? 'float32' : 'int32') as 'float32' | 'int32',
      })),
    }));
    for (const result of await predictInChromium(folder, runs)) {
      if (result.error != null) {
        failures++;
        console.log(`FAIL chromium ${result.file}: ${result.error}`);
        continue;
      }
      const want = (references.get(result.file)!.outputs as unknown as number[]).flat(Infinity as 1) as number[];
      const maxDiff = Math.max(...want.map((v, j) => Math.abs(v - result.outputs![j])));
      const ok = maxDiff < TOLERANCE && want.length === result.outputs!.length;
      if (!ok) failures++;
      console.log(
        `${ok ? 'ok  ' : 'FAIL'} chromium ${result.file}: loadKerasModel(url) in ${Math.round(result.ms!)} ms on ` +
          `${result.backend}, max |tfjs - numpy| = ${maxDiff.toExponential(2)} (tolerance ${TOLERANCE})`,
      );
    }
  }
  console.log(`${checks - failures} passed, ${failures} failed`);
  if (failures > 0) process.exit(1);
}

main().catch((error) => {
  console.error((error as Error).message);
  process.exit(1);
});
