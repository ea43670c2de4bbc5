/**
 * Files from outside are untrusted: each row of this table is a broken or crafted Keras file, made
 * from the fixtures of test/fixtures/keras/, and must give a clear error (the message asserted),
 * no crash, no hang, no tensor left behind.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadKerasModel, loadSeq2Seq } from '../../src';
import { Hdf5File } from '../../src/keras/hdf5';
import { ZipArchive } from '../../src/keras/zip';
import { mapHdf5, replaceRootString, rootString } from '../../scripts/fuzz/hdf5_craft';
import { zip } from '../../scripts/fuzz/zip_writer';

const DIR = path.join(__dirname, '../fixtures/keras');
const KERAS = new Uint8Array(fs.readFileSync(path.join(DIR, 'k3_attention.keras')));
const H5 = new Uint8Array(fs.readFileSync(path.join(DIR, 'k2_attention.h5')));

/**
 * The .keras fixture's entries, read by the first test that needs them rather than at module scope or
 * in beforeAll: a mutation run (test/MUTATION.md) counts what runs outside a test as every test's,
 * which makes each mutant of the zip reader re-run every test.
 */
let entries: { config: any; weights: Uint8Array; metadata: Uint8Array } | undefined;
function fixture(): { config: any; weights: Uint8Array; metadata: Uint8Array } {
  if (entries == null) {
    const archive = new ZipArchive(KERAS, 'fixture');
    entries = {
      config: JSON.parse(archive.readText('config.json')),
      weights: archive.read('model.weights.h5'),
      metadata: archive.read('metadata.json'),
    };
  }
  return entries;
}

/** The .keras fixture with its config edited. */
function withConfig(edit: (config: any) => void, weights: Uint8Array = fixture().weights): Uint8Array {
  const config = JSON.parse(JSON.stringify(fixture().config));
  edit(config);
  return zip([
    { name: 'metadata.json', data: fixture().metadata },
    { name: 'config.json', data: new TextEncoder().encode(JSON.stringify(config)) },
    { name: 'model.weights.h5', data: weights },
  ]);
}
const layer = (config: any, name: string) => config.config.layers.find((l: any) => l.name === name);

/** The Keras 2 .h5 fixture with its model_config edited (the new text appended in an HDF5 heap of its own). */
function withModelConfig(edit: (config: any) => void): Uint8Array {
  const config = JSON.parse(rootString(H5, 'model_config'));
  edit(config);
  return replaceRootString(H5, mapHdf5(H5), 'model_config', new TextEncoder().encode(JSON.stringify(config)));
}

/** The weights file with the first value of a float32 dataset replaced (h5py writes data contiguous). */
function patchFirstValue(dataset: string, value: number): Uint8Array {
  const copy = fixture().weights.slice();
  const needle = new Uint8Array(new Hdf5File(fixture().weights, 'weights').read(dataset).values.slice(0, 2).buffer);
  for (let at = 0; at + needle.length <= copy.length; at++) {
    if (needle.every((b, i) => copy[at + i] === b)) {
      new DataView(copy.buffer).setFloat32(at, value, true);
      return copy;
    }
  }
  throw new Error(`the values of ${dataset} were not found`);
}

/**
 * The weights file with the dataspace that declares `from` declaring `to` instead (a dataspace
 * message holds each dimension as 8 little-endian bytes, then the maximum dimensions alike).
 */
function patchDims(from: bigint[], to: bigint[]): Uint8Array {
  const copy = fixture().weights.slice();
  const pattern = (dims: bigint[]) => {
    const bytes = new Uint8Array(8 * dims.length);
    dims.forEach((d, i) => new DataView(bytes.buffer).setBigUint64(8 * i, d, true));
    return bytes;
  };
  const needle = pattern(from);
  const found: number[] = [];
  for (let at = 0; at + needle.length <= copy.length; at++) {
    if (needle.every((b, i) => copy[at + i] === b)) found.push(at);
  }
  if (found.length === 0) throw new Error(`no dataspace declares [${from}]`);
  for (const at of found) copy.set(pattern(to), at);
  return copy;
}

const ROWS: [string, () => Uint8Array, string | RegExp][] = [
  [
    'a truncated zip',
    () => KERAS.subarray(0, KERAS.byteLength - 300),
    new RegExp(
      'the zip central directory .* lies past the end of the \\d+-byte file \\(truncated archive\\)' +
        '|not a complete zip archive',
    ),
  ],
  [
    'a zip entry whose path leaves the archive',
    () => zip([{ name: '../../etc/evil.json', data: new Uint8Array([1]) }]),
    "zip entry '../../etc/evil.json' has a path outside the archive (absolute or with '..'); refusing the archive",
  ],
  [
    'one byte of the weights entry changed',
    () => {
      const bytes = withConfig(() => undefined);
      // The entry is stored (not deflated): find its middle in the archive and change one value's byte.
      const middle = fixture().weights.subarray(fixture().weights.length >> 1, (fixture().weights.length >> 1) + 32);
      const at = bytes.findIndex((_b, i) => middle.every((m, j) => bytes[i + j] === m));
      bytes[at + 16] ^= 0x10;
      return bytes;
    },
    /zip entry 'model\.weights\.h5' fails its CRC-32 check \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)/,
  ],
  [
    'a declared uncompressed size far over the real one',
    () =>
      zip([{ name: 'config.json', data: new TextEncoder().encode('{"a": 1}'), deflate: true, declaredSize: 1 << 30 }]),
    "zip entry 'config.json' declares 1073741824 uncompressed bytes from 10 compressed ones, more than deflate " +
      'can produce (1032:1); the archive is corrupt or crafted',
  ],
  [
    'a declared size a little over the real one',
    () => zip([{ name: 'config.json', data: new TextEncoder().encode('{"a": 1}'), deflate: true, declaredSize: 20 }]),
    "zip entry 'config.json' declares 20 uncompressed bytes but holds 8; the archive is corrupt or crafted",
  ],
  [
    'an HDF5 dataset with an absurd shape',
    () => withConfig(() => undefined, patchDims([20n, 8n], [1n << 31n, 8n])),
    new RegExp(
      "model\\.weights\\.h5: dataset 'layers/embedding/vars/0' declares shape \\[2147483648,8\\] " +
        '\\(68719476736 bytes of <f4\\), more than the 640 bytes that hold it; the file is corrupt or crafted',
    ),
  ],
  [
    'a weight shape that does not match the config',
    () => withConfig((c) => (layer(c, 'hidden').config.units = 5)),
    "layers/dense_1/vars/0 has shape [8,4] but layer 'hidden' needs [8,5] for hidden/kernel; the weights do not " +
      'match the config',
  ],
  [
    // Same element count, so only the shape tells: loaded, it would predict wrong values.
    'a Dense kernel stored transposed',
    () => withConfig(() => undefined, patchDims([8n, 4n], [4n, 8n])),
    "layers/dense_1/vars/0 has shape [4,8] but layer 'hidden' needs [8,4] for hidden/kernel; the weights do not " +
      'match the config',
  ],
  [
    'a weight count that does not match the config',
    () => withConfig((c) => (layer(c, 'hidden').config.use_bias = false)),
    "layer 'hidden' (Dense) has 1 weights, but layers/dense_1 holds 2 (vars/0, vars/1); the weight count does not " +
      'match the config',
  ],
  [
    'a missing weight group',
    () =>
      withConfig((c) => {
        // One more Dense after 'out': it is dense_3 by Keras's counter, a group the file does not have.
        const extra = JSON.parse(JSON.stringify(layer(c, 'out')));
        extra.name = extra.config.name = 'extra';
        extra.inbound_nodes[0].args[0].config.keras_history = ['out', 0, 0];
        c.config.layers.push(extra);
        c.config.output_layers = [['extra', 0, 0]];
      }),
    "the weights of layer 'extra' are missing: no group layers/dense_3 in the weights file (Keras names the groups " +
      'by class and counter; the file does not match the config)',
  ],
  [
    'an unknown layer class',
    () => withConfig((c) => (layer(c, 'pool').class_name = 'FancyPooling')),
    "layer 'pool' (FancyPooling): unknown layer class FancyPooling from module keras.layers",
  ],
  [
    'a cycle in the graph',
    () => withConfig((c) => (layer(c, 'add').inbound_nodes[0].args[0][0].config.keras_history = ['add_1', 0, 0])),
    'config.json: the model has a cycle (add call 0 -> add_1 call 0 -> ',
  ],
  [
    'a negative node index in a tensor reference',
    () =>
      withConfig((c) => {
        const history = layer(c, 'hidden').inbound_nodes[0].args[0].config.keras_history;
        history[1] = -1;
      }),
    `config.json: layer 'hidden' call 0 has the tensor reference ["pool",-1,0]; expected [layer name, call, tensor]`,
  ],
  [
    'a layer referring to a missing layer',
    () => withConfig((c) => (layer(c, 'hidden').inbound_nodes[0].args[0].config.keras_history = ['nowhere', 0, 0])),
    "config.json: layer 'hidden' call 0 reads layer 'nowhere', which the model does not have",
  ],
  [
    'non-finite weights',
    () => withConfig(() => undefined, patchFirstValue('layers/dense_1/vars/1', NaN)),
    "model.weights.h5: layers/dense_1/vars/1 (weight hidden/bias of layer 'hidden') holds 1 non-finite value(s) " +
      "(NaN or ±Infinity) of 4; pass {nonFiniteWeights: 'warn'} to load it anyway",
  ],
  [
    "a constraint tfjs cannot apply (an initializer's class)",
    () =>
      withConfig(
        (c) => (layer(c, 'embedding').config.embeddings_constraint = { class_name: 'GlorotUniform', config: {} }),
      ),
    "weight 'embedding/embeddings' cannot be set: tfjs fails applying its config's constraint to it (tfjs: ",
  ],
  [
    'a constraint that is a layer (which builds weights of its own as it fails)',
    () => withConfig((c) => (layer(c, 'hidden').config.kernel_constraint = layer(c, 'embedding'))),
    "weight 'hidden/kernel' cannot be set: tfjs fails applying its config's constraint to it (tfjs: ",
  ],
  [
    'a TFOpLambda without its function name',
    () => withModelConfig((c) => delete layer(c, 'tf.math.reduce_mean').config.function),
    "layer 'tf.math.reduce_mean' (TFOpLambda): a TFOpLambda whose config.function is undefined (missing); " +
      'expected a tf function name',
  ],
  [
    'a TFOpLambda named after an Object member',
    () => withModelConfig((c) => (layer(c, 'tf.math.reduce_mean').config.function = 'constructor')),
    "layer 'tf.math.reduce_mean' (TFOpLambda): the operation tf.constructor is not supported by loadKerasModel",
  ],
  [
    'a Keras 2 .h5 cut short',
    () => H5.subarray(0, 4000),
    'the given bytes: the HDF5 file has a global heap collection size of 8192 at 2056, more than the 4000-byte file ' +
      'holds (truncated or corrupt)',
  ],
];

describe('bad Keras files: a clear error each, nothing leaked', () => {
  it.each(ROWS)('%s', async (_name, make, message) => {
    const bytes = make();
    const before = tf.memory().numTensors;
    const started = Date.now();
    const load = loadKerasModel(bytes);
    await expect(load).rejects.toThrow(message);
    expect(Date.now() - started).toBeLessThan(10000);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("a weights file past its config's allowance (4x, optimizer state, metadata) is refused unread", async () => {
    const model = await loadKerasModel(KERAS);
    const needed = model.weights.reduce((sum, w) => sum + 4 * tf.util.sizeFromShape(w.shape as number[]), 0);
    const allowed = 4 * needed + 65536 + 16384 * (model.weights.length + model.layers.length);
    model.dispose();
    const padded = (size: number) => {
      const weights = new Uint8Array(size);
      weights.set(fixture().weights);
      return withConfig(() => undefined, weights);
    };
    // At the allowance it loads (HDF5 ignores bytes past its end); one byte more is refused.
    (await loadKerasModel(padded(allowed))).dispose();
    await expect(loadKerasModel(padded(allowed + 1))).rejects.toThrow(
      /model\.weights\.h5: is .+, far more than the .+ of weights its config needs \(with an optimizer's state/,
    );
  });

  it("non-finite weights load with {nonFiniteWeights: 'warn'}, with a warning", async () => {
    const bytes = ROWS.find(([name]) => name === 'non-finite weights')![1]();
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const model = await loadKerasModel(bytes, { nonFiniteWeights: 'warn' });
    expect(warn).toHaveBeenCalledWith(expect.stringContaining("loaded anyway (nonFiniteWeights: 'warn')"));
    expect(Number.isNaN(model.getLayer('hidden').getWeights()[1].dataSync()[0])).toBe(true);
    warn.mockRestore();
    model.dispose();
  });

  it('a weights manifest path leaving the model folder is refused by the file:// loader and loadSeq2Seq', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'keras-escape-'));
    try {
      const expected = "lists the weights file '../secret.bin', which is outside the model's folder";
      // A Keras model.json...
      const json = JSON.parse(fs.readFileSync(path.join(DIR, 'k3_nodes/model.json'), 'utf8'));
      json.weightsManifest[0].paths = ['../secret.bin'];
      fs.mkdirSync(path.join(folder, 'keras'));
      fs.writeFileSync(path.join(folder, 'keras/model.json'), JSON.stringify(json));
      fs.copyFileSync(path.join(DIR, 'k3_nodes/weights.bin'), path.join(folder, 'secret.bin'));
      // ...and a shipped Seq2Seq model whose manifest points outside its folder.
      const reverse = path.join(__dirname, '../../models/reverse');
      fs.mkdirSync(path.join(folder, 'reverse'));
      fs.copyFileSync(path.join(reverse, 'task.json'), path.join(folder, 'reverse/task.json'));
      const seq = JSON.parse(fs.readFileSync(path.join(reverse, 'model.json'), 'utf8'));
      seq.weightsManifest[0].paths = ['../secret.bin'];
      fs.writeFileSync(path.join(folder, 'reverse/model.json'), JSON.stringify(seq));
      const before = tf.memory().numTensors;
      await expect(loadKerasModel(path.join(folder, 'keras/model.json'))).rejects.toThrow(expected);
      await expect(tf.loadLayersModel(`file://${path.join(folder, 'keras/model.json')}`)).rejects.toThrow(expected);
      await expect(loadSeq2Seq(path.join(folder, 'reverse'))).rejects.toThrow(expected);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });

  it('bad arguments name the argument', async () => {
    await expect(loadKerasModel(42 as never)).rejects.toThrow(
      'loadKerasModel: source is number 42; expected a path, a URL, an ArrayBuffer, a Uint8Array, a Blob/File or a ' +
        'tfjs IOHandler',
    );
    await expect(loadKerasModel(KERAS, { nonFiniteWeights: 'maybe' as never })).rejects.toThrow(
      `loadKerasModel: nonFiniteWeights is 'maybe'; expected 'refuse' or 'warn'`,
    );
    await expect(loadKerasModel(new Uint8Array([1, 2, 3]))).rejects.toThrow(
      'the given bytes: not a Keras model file (3 bytes starting 01 02 03); expected a .keras zip, a full-model .h5 ' +
        '(HDF5) or a tfjs model.json',
    );
  });
});
