/**
 * The Keras fixtures of test/fixtures/keras/, written by scripts/make_keras_fixtures.py with h5py
 * in the layouts Keras writes (not by Keras), against the outputs that script's NumPy reference
 * (scripts/keras_reference.py) computed from each file: Embedding mask_zero feeding causal
 * self-attention, cross-attention with key != value and value_dim != key_dim (no biases), a
 * masked GlobalAveragePooling1D, and Keras 3 operations / Keras 2 TFOpLambdas (mean, subtract,
 * add a constant), as a Keras 3 .keras, a Keras 3 .h5, a Keras 2 .h5 and a model.json in
 * Keras 3's node format. Each also converts (convertKerasModel) to a folder that plain
 * tf.loadLayersModel loads and that predicts the same.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadKerasModel, MultiHeadAttention } from '../../src';
import { convertKerasModel } from '../../src/keras/convert';

const DIR = path.join(__dirname, '../fixtures/keras');
const reference = JSON.parse(fs.readFileSync(path.join(DIR, 'reference.json'), 'utf8')) as {
  inputs: [number[][], number[][][]];
  outputs: Record<string, number[][]>;
};

function predict(model: tf.LayersModel, tokens = reference.inputs[0]): number[][] {
  const inputs = [tf.tensor2d(tokens, undefined, 'int32'), tf.tensor3d(reference.inputs[1])];
  const before = tf.memory().numTensors;
  const y = model.predict(inputs) as tf.Tensor;
  const rows = y.arraySync() as number[][];
  tf.dispose([y, ...inputs]);
  expect(tf.memory().numTensors).toBe(before - 2);
  return rows;
}

function maxDiff(a: number[][], b: number[][]): number {
  return Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i][j]))));
}

const FILES = ['k3_attention.keras', 'k3_attention.h5', 'k2_attention.h5', 'k3_nodes/model.json'];

describe.each(FILES)('loadKerasModel(%s)', (file) => {
  // Loaded by the first test that runs, not in beforeAll: a mutation run (test/MUTATION.md) counts
  // what runs outside a test as every test's, which makes each mutant of the loader re-run every test.
  let model: tf.LayersModel | undefined;
  const load = async () => (model ??= await loadKerasModel(path.join(DIR, file)));
  afterAll(() => model?.dispose());

  it('predicts what the NumPy reference computes from the file (< 1e-4)', async () => {
    const model = await load();
    const got = predict(model);
    // k3_nodes/model.json is the Keras 3 .keras's model in Keras 3's node format, saying the same Keras version.
    expect(maxDiff(got, reference.outputs[file.startsWith('k3_nodes') ? 'k3_attention.keras' : file])).toBeLessThan(
      1e-4,
    );
    // The padding mask is in effect: changing a padded token (row 0 ends in two 0s) changes nothing...
    expect(maxDiff(predict(model, [[8, 1, 2, 3, 0, 0], reference.inputs[0][1]]), got)).toBe(0);
    // ...and a real token does.
    expect(maxDiff(predict(model, [[8, 1, 2, 4, 0, 0], reference.inputs[0][1]]), got)).toBeGreaterThan(1e-4);
  });

  it('loads the attention layers with their Keras arguments and call arguments', async () => {
    const model = await load();
    const self = model.getLayer('self_attention') as MultiHeadAttention;
    const cross = model.getLayer('cross_attention') as MultiHeadAttention;
    expect(self.getConfig()).toMatchObject({ numHeads: 2, keyDim: 4, valueDim: 4, useBias: true, causal: true });
    expect(cross.getConfig()).toMatchObject({ numHeads: 2, keyDim: 3, valueDim: 5, useBias: false });
    // The query's padding mask, ids != 0, as an input where Keras applies it: Keras 2 keeps it through
    // the Add; Keras 3.9's self-attention clears the embedding's mask, so the Add has none.
    expect(cross.inboundNodes[0].inboundLayers.map((l) => l.name)).toEqual([
      'layer_normalization',
      'context',
      'key_projection',
      ...(file === 'k2_attention.h5' ? ['tokens_padding_mask'] : []),
    ]);
  });

  it('converts to a folder that plain tf.loadLayersModel loads and that predicts the same', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'keras-convert-'));
    try {
      await convertKerasModel(path.join(DIR, file), folder);
      expect(fs.readdirSync(folder).sort()).toEqual(['model.json', 'weights.bin']);
      const reloaded = await tf.loadLayersModel(`file://${path.join(folder, 'model.json')}`);
      expect(maxDiff(predict(reloaded), predict(await load()))).toBe(0);
      reloaded.dispose();
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });
});

it('a causal self-attention: a later token changes nothing in the attention output at earlier positions', async () => {
  const model = await loadKerasModel(path.join(DIR, 'k3_attention.keras'));
  const self = tf.model({
    inputs: model.inputs[0],
    outputs: model.getLayer('self_attention').output as tf.SymbolicTensor,
  });
  const a = self.predict(tf.tensor2d([[8, 1, 2, 3, 5, 6]], undefined, 'int32')) as tf.Tensor;
  const b = self.predict(tf.tensor2d([[8, 1, 2, 3, 5, 9]], undefined, 'int32')) as tf.Tensor;
  const [ra, rb] = [a.arraySync() as number[][][], b.arraySync() as number[][][]];
  expect(maxDiff(ra[0].slice(0, 5), rb[0].slice(0, 5))).toBe(0);
  expect(maxDiff(ra[0].slice(5), rb[0].slice(5))).toBeGreaterThan(1e-4);
  tf.dispose([a, b]);
  model.dispose();
});

describe('loadKerasModel(k3_gate_mask.keras): use_gate and an attention_mask model input', () => {
  const gate = JSON.parse(fs.readFileSync(path.join(DIR, 'reference_gate_mask.json'), 'utf8')) as {
    inputs: [number[][][], number[][][], number[][][]];
    outputs: number[][];
  };
  const run = (model: tf.LayersModel, mask = gate.inputs[2]) => {
    const inputs = [tf.tensor3d(gate.inputs[0]), tf.tensor3d(gate.inputs[1]), tf.tensor3d(mask)];
    const y = model.predict(inputs) as tf.Tensor;
    const rows = y.arraySync() as number[][];
    tf.dispose([y, ...inputs]);
    return rows;
  };

  it('predicts the NumPy reference (< 1e-4), gate weights from _gate_dense, mask in effect; converts', async () => {
    const model = await loadKerasModel(path.join(DIR, 'k3_gate_mask.keras'));
    const layer = model.getLayer('gated_attention') as MultiHeadAttention;
    expect(layer.getConfig()).toMatchObject({ useGate: true, callArguments: ['query', 'value', 'attention_mask'] });
    expect(layer.inboundNodes[0].inboundLayers.map((l) => l.name)).toEqual(['x', 'context', 'mask']);
    const got = run(model);
    expect(maxDiff(got, gate.outputs)).toBeLessThan(1e-4);
    const allOnes = gate.inputs[2].map((rows) => rows.map((row) => row.map(() => 1)));
    expect(maxDiff(run(model, allOnes), got)).toBeGreaterThan(1e-4);
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'keras-convert-'));
    try {
      await convertKerasModel(path.join(DIR, 'k3_gate_mask.keras'), folder);
      const reloaded = await tf.loadLayersModel(`file://${path.join(folder, 'model.json')}`);
      expect(maxDiff(run(reloaded), got)).toBe(0);
      reloaded.dispose();
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
    model.dispose();
  });
});

describe.each(['k3_sequential.keras', 'k2_sequential.h5'])('loadKerasModel(%s): a Sequential model', (file) => {
  const seq = JSON.parse(fs.readFileSync(path.join(DIR, 'reference_sequential.json'), 'utf8')) as {
    inputs: [number[][]];
    outputs: number[][];
  };

  it('loads as the functional chain it is, the masked pooling included, and predicts the NumPy reference', async () => {
    const model = await loadKerasModel(path.join(DIR, file));
    // The pooling's mask is the embedding's, ids != 0, computed in the graph.
    expect(model.layers.map((l) => l.getClassName())).toEqual([
      'InputLayer',
      'Embedding',
      'ElementwiseOperation',
      'KerasGlobalAveragePooling1D',
      'Dense',
    ]);
    const x = tf.tensor2d(seq.inputs[0], undefined, 'int32');
    const y = model.predict(x) as tf.Tensor;
    expect(maxDiff(y.arraySync() as number[][], seq.outputs)).toBeLessThan(1e-4);
    tf.dispose([x, y]);
    model.dispose();
  });
});

describe('loadKerasModel(k3_keras_hub.keras): keras-hub TransformerEncoder and TransformerDecoder', () => {
  const hub = JSON.parse(fs.readFileSync(path.join(DIR, 'reference_keras_hub.json'), 'utf8')) as {
    inputs: [number[][], number[][]];
    outputs: number[][];
  };
  const run = (model: tf.LayersModel, source = hub.inputs[0]) => {
    const inputs = [tf.tensor2d(source, undefined, 'int32'), tf.tensor2d(hub.inputs[1], undefined, 'int32')];
    const y = model.predict(inputs) as tf.Tensor;
    const rows = y.arraySync() as number[][];
    tf.dispose([y, ...inputs]);
    return rows;
  };

  it('loads the blocks as keras_hub> classes and predicts the NumPy reference (< 1e-4); converts', async () => {
    const model = await loadKerasModel(path.join(DIR, 'k3_keras_hub.keras'));
    expect(model.getLayer('encoder').getClassName()).toBe('keras_hub>TransformerEncoder');
    expect(model.getLayer('decoder').getClassName()).toBe('keras_hub>TransformerDecoder');
    // The sequences' padding masks as keras-hub's padding-mask arguments.
    expect(model.getLayer('decoder').inboundNodes[0].inboundLayers.map((l) => l.name)).toEqual([
      'dec_embedding',
      'encoder',
      'target_padding_mask',
      'source_padding_mask',
    ]);
    const got = run(model);
    expect(maxDiff(got, hub.outputs)).toBeLessThan(1e-4);
    // The encoder's padding is in effect: a padded source token changes nothing, a real one does.
    expect(maxDiff(run(model, [[3, 7, 1, 4, 0, 0], hub.inputs[0][1]]), got)).toBe(0);
    expect(maxDiff(run(model, [[3, 7, 1, 5, 0, 0], hub.inputs[0][1]]), got)).toBeGreaterThan(1e-4);
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'keras-convert-'));
    try {
      await convertKerasModel(path.join(DIR, 'k3_keras_hub.keras'), folder);
      const reloaded = await tf.loadLayersModel(`file://${path.join(folder, 'model.json')}`);
      expect(maxDiff(run(reloaded), got)).toBe(0);
      reloaded.dispose();
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
    model.dispose();
  });
});
