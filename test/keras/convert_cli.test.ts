/**
 * `npm run convert -- <in> <out-dir>` as a user runs it (scripts/convert.ts in a child process, which
 * imports only the converter): the output folder reloads with plain tf.loadLayersModel once the
 * package is imported and predicts what the Keras file does.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import '../../src';

const ROOT = path.join(__dirname, '../..');
const DIR = path.join(__dirname, '../fixtures/keras');

it('converts a Keras 2 .h5 into model.json + weights.bin that plain tf.loadLayersModel loads', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'keras-cli-'));
  try {
    const printed = execFileSync(
      process.execPath,
      [
        require.resolve('ts-node/dist/bin.js'),
        '--transpile-only',
        'scripts/convert.ts',
        path.join(DIR, 'k2_attention.h5'),
        out,
      ],
      { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    expect(printed).toMatch(/k2_attention\.h5 -> .*model\.json \+ weights\.bin: 16 layers, 21 weights, \d+ ms/);
    expect(fs.readdirSync(out).sort()).toEqual(['model.json', 'weights.bin']);
    const reference = JSON.parse(fs.readFileSync(path.join(DIR, 'reference.json'), 'utf8'));
    const model = await tf.loadLayersModel(`file://${path.join(out, 'model.json')}`);
    const inputs = [tf.tensor2d(reference.inputs[0], undefined, 'int32'), tf.tensor3d(reference.inputs[1])];
    const y = model.predict(inputs) as tf.Tensor;
    const want = (reference.outputs['k2_attention.h5'] as number[][]).flat();
    expect(Math.max(...Array.from(y.dataSync(), (v, i) => Math.abs(v - want[i])))).toBeLessThan(1e-4);
    tf.dispose([y, ...inputs]);
    model.dispose();
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

it('a bad input is a clear error and a non-zero exit, nothing written', () => {
  const out = path.join(os.tmpdir(), `keras-cli-none-${process.pid}`);
  let error: { status: number; stderr: string } | null = null;
  try {
    execFileSync(
      process.execPath,
      [require.resolve('ts-node/dist/bin.js'), '--transpile-only', 'scripts/convert.ts', 'no-such.keras', out],
      {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  } catch (e) {
    error = e as { status: number; stderr: string };
  }
  expect(error?.status).toBe(1);
  expect(error?.stderr).toContain('loadKerasModel: no-such.keras does not exist');
  expect(fs.existsSync(out)).toBe(false);
});
