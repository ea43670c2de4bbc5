/**
 * loadKerasModel in headless Chromium on the script-tag bundle: the fixtures of test/fixtures/keras/
 * (see test/keras/fixtures.test.ts; the gated one with a mask input and the keras-hub blocks too) loaded by URL, and as
 * a File as a page's file input gives it,
 * predict what the NumPy reference computed (< 1e-4). The real Keras files are checked the same
 * way by npm run check:keras.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { predictInChromium } from '../../scripts/keras_browser';

const DIR = path.join(__dirname, '../fixtures/keras');
const reference = JSON.parse(fs.readFileSync(path.join(DIR, 'reference.json'), 'utf8')) as {
  inputs: [number[][], number[][][]];
  outputs: Record<string, number[][]>;
};
const inputs = [
  { values: reference.inputs[0], dtype: 'int32' as const },
  { values: reference.inputs[1], dtype: 'float32' as const },
];

it('loads each fixture by URL and as a File, predicting the NumPy reference (< 1e-4)', async () => {
  const files = ['k3_attention.keras', 'k3_attention.h5', 'k2_attention.h5', 'k3_nodes/model.json'];
  const results = await predictInChromium(DIR, [
    ...files.map((file) => ({ file, inputs })),
    { file: 'k3_attention.keras', inputs, asFile: true },
    { file: 'k2_attention.h5', inputs, asFile: true },
  ]);
  const expected = reference.outputs['k3_attention.keras'].flat();
  for (const result of results) {
    expect({ file: result.file, error: result.error }).toEqual({ file: result.file, error: undefined });
    expect(result.outputs).toHaveLength(expected.length);
    expect(Math.max(...expected.map((v, i) => Math.abs(v - result.outputs![i])))).toBeLessThan(1e-4);
    expect(result.backend).toBe('webgl');
  }
  expect(results).toHaveLength(6);

  const gate = JSON.parse(fs.readFileSync(path.join(DIR, 'reference_gate_mask.json'), 'utf8'));
  const hub = JSON.parse(fs.readFileSync(path.join(DIR, 'reference_keras_hub.json'), 'utf8'));
  const [gated, blocks] = await predictInChromium(DIR, [
    { file: 'k3_gate_mask.keras', inputs: gate.inputs.map((values: unknown) => ({ values, dtype: 'float32' })) },
    { file: 'k3_keras_hub.keras', inputs: hub.inputs.map((values: unknown) => ({ values, dtype: 'int32' })) },
  ]);
  expect(blocks.error).toBeUndefined();
  const hubWant = (hub.outputs as number[][]).flat();
  expect(Math.max(...hubWant.map((v, i) => Math.abs(v - blocks.outputs![i])))).toBeLessThan(1e-4);
  expect(gated.error).toBeUndefined();
  const want = (gate.outputs as number[][]).flat();
  expect(Math.max(...want.map((v, i) => Math.abs(v - gated.outputs![i])))).toBeLessThan(1e-4);
}, 240_000);
