/**
 * Every kind of source loadKerasModel takes (source.ts), each told apart by content: a path, a
 * file:// URL, an http URL (served here by the demo's static server), an ArrayBuffer, a Uint8Array
 * view into a larger buffer, a Blob, and an IOHandler; all load the same model.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadKerasModel, loadSeq2Seq } from '../../src';
import { RunningServer, startStaticServer } from '../../src/io/static_server';
import { detectFormat } from '../../src/keras/source';

const DIR = path.join(__dirname, '../fixtures/keras');
const reference = JSON.parse(fs.readFileSync(path.join(DIR, 'reference.json'), 'utf8'));

/** The largest |prediction - the NumPy reference's| (`expected`: the file it computed, as its Keras version does). */
async function prediction(
  source: Parameters<typeof loadKerasModel>[0],
  expected = 'k3_attention.keras',
): Promise<number> {
  const EXPECTED = (reference.outputs[expected] as number[][]).flat();
  const model = await loadKerasModel(source);
  const inputs = [tf.tensor2d(reference.inputs[0], undefined, 'int32'), tf.tensor3d(reference.inputs[1])];
  const y = model.predict(inputs) as tf.Tensor;
  const got = Array.from(y.dataSync());
  tf.dispose([y, ...inputs]);
  model.dispose();
  return Math.max(...got.map((v, i) => Math.abs(v - EXPECTED[i])));
}

let server: RunningServer;
let tmp: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'keras-source-'));
  server = await startStaticServer(
    {
      mounts: [
        { prefix: '/k/', dir: DIR },
        { prefix: '/t/', dir: tmp },
      ],
    },
    0,
  );
});
afterAll(async () => {
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('loadKerasModel sources', () => {
  const file = (name: string) => new Uint8Array(fs.readFileSync(path.join(DIR, name)));

  it.each([
    ['a path', () => path.join(DIR, 'k3_attention.keras')],
    ['a file:// URL', () => `file://${path.join(DIR, 'k3_attention.h5')}`],
    ['an http URL of a .keras', () => `${server.url}k/k3_attention.keras`],
    ['an http URL of a model.json', () => `${server.url}k/k3_nodes/model.json`],
    ['an ArrayBuffer (of the Keras 2 file)', () => file('k2_attention.h5').slice().buffer],
    [
      'a Uint8Array view into a larger buffer',
      () => {
        const bytes = file('k3_attention.keras');
        const big = new Uint8Array(bytes.byteLength + 100);
        big.set(bytes, 37);
        return big.subarray(37, 37 + bytes.byteLength);
      },
    ],
    ['a Blob', () => new Blob([file('k3_attention.keras')])],
    [
      'an IOHandler',
      () => {
        const json = JSON.parse(fs.readFileSync(path.join(DIR, 'k3_nodes/model.json'), 'utf8'));
        const weights = file('k3_nodes/weights.bin');
        return tf.io.fromMemory({
          modelTopology: json.modelTopology,
          weightSpecs: json.weightsManifest[0].weights,
          weightData: weights.slice().buffer,
        });
      },
    ],
  ])('%s', async (name, source) => {
    const expected = name.includes('Keras 2') ? 'k2_attention.h5' : 'k3_attention.keras';
    expect(await prediction(source() as Parameters<typeof loadKerasModel>[0], expected)).toBeLessThan(1e-4);
  });

  it('model.json as bytes cannot find its weights: the error says what to pass', async () => {
    await expect(loadKerasModel(file('k3_nodes/model.json'))).rejects.toThrow(
      'the given bytes: holds a model.json, whose weight files are named relative to its location; pass its path ' +
        'or URL (or a tfjs IOHandler such as tf.io.browserFiles([json, ...weights]))',
    );
  });

  it('names a missing file, a folder, and an HTTP error', async () => {
    await expect(loadKerasModel(path.join(tmp, 'nope.keras'))).rejects.toThrow(
      `loadKerasModel: ${path.join(tmp, 'nope.keras')} does not exist`,
    );
    await expect(loadKerasModel(tmp)).rejects.toThrow(`loadKerasModel: ${tmp} is a folder; pass the model file`);
    await expect(loadKerasModel(`${server.url}k/nope.keras`)).rejects.toThrow(
      `${server.url}k/nope.keras: could not be fetched (HTTP 404)`,
    );
  });

  it('tells formats by content, whatever the name', () => {
    expect(detectFormat(file('k2_attention.h5'), 'x')).toBe('hdf5');
    expect(detectFormat(file('k3_attention.keras'), 'x')).toBe('zip');
    expect(detectFormat(new TextEncoder().encode('\ufeff \n{"a":1}'), 'x')).toBe('json');
  });

  it('loadSeq2Seq over http refuses a weights path outside the model folder', async () => {
    const reverse = path.join(__dirname, '../../models/reverse');
    fs.mkdirSync(path.join(tmp, 'reverse'));
    fs.copyFileSync(path.join(reverse, 'task.json'), path.join(tmp, 'reverse/task.json'));
    const json = JSON.parse(fs.readFileSync(path.join(reverse, 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = ['../weights.bin'];
    fs.writeFileSync(path.join(tmp, 'reverse/model.json'), JSON.stringify(json));
    fs.copyFileSync(path.join(reverse, 'weights.bin'), path.join(tmp, 'weights.bin'));
    await expect(loadSeq2Seq(`${server.url}t/reverse`)).rejects.toThrow(
      `lists the weights file '../weights.bin', which is outside the model's folder`,
    );
  });
});
