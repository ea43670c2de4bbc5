/**
 * loadKerasModel in headless Chromium on the script-tag bundle, one page for every file:
 * - the Keras-written fixtures of test/fixtures/keras_written/ (every format and Keras version;
 *   see test/keras/keras_written.test.ts) predict what Keras itself predicted (< 1e-5; the known
 *   gaps of KNOWN_GAPS excepted);
 * - the fixtures of test/fixtures/keras/ (see test/keras/fixtures.test.ts; the gated one with a
 *   mask input and the keras-hub blocks too), loaded by URL and as a File as a page's file input
 *   gives it, predict what the NumPy reference computed (< 1e-4);
 * - saveKerasModel in the page: Keras-written fixtures loaded, saved to bytes, loaded again from a
 *   Blob, predict what Keras predicted (< 1e-5).
 * The real Keras files are checked the same way by npm run check:keras.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BrowserRun, predictInChromium } from '../../scripts/keras_browser';
import { KNOWN_GAPS, readManifest } from '../helpers/keras_written';

const FIXTURES = path.join(__dirname, '../fixtures');
const read = (file: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, 'keras', file), 'utf8'));
const flat = (values: unknown): number[] => (Array.isArray(values) ? values.flatMap(flat) : [values as number]);

/** The NumPy-checked fixtures of test/fixtures/keras/: file -> inputs and expected outputs. */
function numpyRuns(): { run: BrowserRun; want: number[] }[] {
  const reference = read('reference.json');
  const inputs = [
    { values: reference.inputs[0], dtype: 'int32' as const },
    { values: reference.inputs[1], dtype: 'float32' as const },
  ];
  // Each file's outputs as the Keras version it names computes them (model.json: the .keras's model).
  const want = (file: string) => flat(reference.outputs[file.startsWith('k3_nodes') ? 'k3_attention.keras' : file]);
  const files = ['k3_attention.keras', 'k3_attention.h5', 'k2_attention.h5', 'k3_nodes/model.json'];
  const gate = read('reference_gate_mask.json');
  const hub = read('reference_keras_hub.json');
  return [
    ...files.map((file) => ({ run: { file: `keras/${file}`, inputs }, want: want(file) })),
    { run: { file: 'keras/k3_attention.keras', inputs, asFile: true }, want: want('k3_attention.keras') },
    { run: { file: 'keras/k2_attention.h5', inputs, asFile: true }, want: want('k2_attention.h5') },
    {
      run: {
        file: 'keras/k3_gate_mask.keras',
        inputs: gate.inputs.map((values: unknown) => ({ values, dtype: 'float32' })),
      },
      want: flat(gate.outputs),
    },
    {
      run: {
        file: 'keras/k3_keras_hub.keras',
        inputs: hub.inputs.map((values: unknown) => ({ values, dtype: 'int32' })),
      },
      want: flat(hub.outputs),
    },
  ];
}

it("loads every fixture in one page: the Keras-written ones predict Keras's outputs (< 1e-5)", async () => {
  const written = readManifest().entries.filter((e) => e.refused == null && !(e.file in KNOWN_GAPS));
  const numpy = numpyRuns();
  const resaved = written.filter((e) => ['k3_graph_ops.keras', 'k2.15_nested.keras'].includes(e.file));
  const results = await predictInChromium(FIXTURES, [
    ...written.map((e) => ({
      file: `keras_written/${e.file}`,
      inputs: e.inputs!,
      kerasIoLayers: (e.customObjects ?? []).length > 0,
    })),
    ...numpy.map((n) => n.run),
    ...resaved.map((e) => ({ file: `keras_written/${e.file}`, inputs: e.inputs!, resave: true })),
  ]);
  expect(resaved).toHaveLength(2);
  expect(results).toHaveLength(written.length + numpy.length + resaved.length);
  const wants = [
    ...written.map((e) => flat(e.outputs)),
    ...numpy.map((n) => n.want),
    ...resaved.map((e) => flat(e.outputs)),
  ];
  const tolerances = [...written.map(() => 1e-5), ...numpy.map(() => 1e-4), ...resaved.map(() => 1e-5)];
  results.forEach((result, i) => {
    expect({ file: result.file, error: result.error }).toEqual({ file: result.file, error: undefined });
    expect({ file: result.file, outputs: result.outputs!.length }).toEqual({
      file: result.file,
      outputs: wants[i].length,
    });
    const maxDiff = Math.max(...wants[i].map((v, j) => Math.abs(v - result.outputs![j])));
    expect({ file: result.file, maxDiff: maxDiff < tolerances[i] ? 'within' : maxDiff }).toEqual({
      file: result.file,
      maxDiff: 'within',
    });
    expect(result.backend).toBe('webgl');
  });
}, 240_000);
