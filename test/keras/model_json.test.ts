/**
 * loadKerasModel on a Keras 2 functional model in tensorflowjs_converter's
 * layers format, where MultiHeadAttention got `value` (and `key`) as call
 * keyword arguments. The fixture (test/fixtures/keras_mha/model.json) was
 * written by hand following the converter's documented format, not produced by
 * the converter; its weights are generated here, and the model's output is
 * checked against a plain-math forward pass of the same weights.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadKerasModel, MultiHeadAttention } from '../../src';
import { convertModelJsonTopology } from '../../src/keras/load';
import { describeEachBackend } from '../helpers/backends';
import { Matrix, referenceAttention, seededValues } from '../layers/attention_reference';

const FIXTURE = path.join(__dirname, '../fixtures/keras_mha/model.json');

interface WeightSpec {
  name: string;
  shape: number[];
}

function readFixture(): {
  modelTopology: Record<string, unknown>;
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
} {
  return JSON.parse(fs.readFileSync(FIXTURE, 'utf8'));
}

/** Writes the fixture with seeded weights into a fresh folder; returns the folder and the weights by name. */
function writeFixtureModel(topology?: Record<string, unknown>): { folder: string; weights: Map<string, Float32Array> } {
  const fixture = readFixture();
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-attention-keras-'));
  const weights = new Map<string, Float32Array>();
  const [group] = fixture.weightsManifest;
  const chunks = group.weights.map((spec, i) => {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const values = Float32Array.from(seededValues(size, 100 + i), (v) => v * 0.5);
    weights.set(spec.name, values);
    return Buffer.from(values.buffer);
  });
  fs.writeFileSync(path.join(folder, group.paths[0]), Buffer.concat(chunks));
  const json = { ...fixture, modelTopology: topology ?? fixture.modelTopology };
  fs.writeFileSync(path.join(folder, 'model.json'), JSON.stringify(json));
  return { folder, weights };
}

// ---------------------------------------------------------------------------
// The plain-math forward pass of the fixture: Keras's semantics, no tfjs.

function reshape(values: Float32Array, shape: number[]): any {
  if (shape.length === 1) return Array.from(values);
  const stride = values.length / shape[0];
  return Array.from({ length: shape[0] }, (_x, i) =>
    reshape(values.subarray(i * stride, (i + 1) * stride), shape.slice(1)),
  );
}

function dense(x: Matrix, kernel: Matrix, bias: number[] | null): Matrix {
  return x.map((row) =>
    kernel[0].map((_u, o) => row.reduce((sum, v, d) => sum + v * kernel[d][o], bias ? bias[o] : 0)),
  );
}

function layerNorm(x: Matrix, gamma: number[], beta: number[], epsilon: number): Matrix {
  return x.map((row) => {
    const mean = row.reduce((a, b) => a + b, 0) / row.length;
    const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / row.length;
    return row.map((v, i) => ((v - mean) / Math.sqrt(variance + epsilon)) * gamma[i] + beta[i]);
  });
}

function referenceForward(w: (name: string) => any, tokens: number[], context: number[], useMask = true): number[] {
  const embedded: Matrix = tokens.map((id) => w('embedding/embeddings')[id]);
  const normalized = layerNorm(embedded, w('layer_norm/gamma'), w('layer_norm/beta'), 1e-6);
  const self = referenceAttention(
    {
      queryKernel: w('self_attention/query/kernel'),
      queryBias: w('self_attention/query/bias'),
      keyKernel: w('self_attention/key/kernel'),
      keyBias: w('self_attention/key/bias'),
      valueKernel: w('self_attention/value/kernel'),
      valueBias: w('self_attention/value/bias'),
      outputKernel: w('self_attention/attention_output/kernel'),
      outputBias: w('self_attention/attention_output/bias'),
    },
    normalized,
    normalized,
    normalized,
    null,
  ).output; // the dropout after it is inactive at inference
  const residual = embedded.map((row, t) => row.map((v, d) => v + self[t][d]));
  const contextEmbedded: Matrix = context.map((id) => w('context_embedding/embeddings')[id]);
  const keys = dense(contextEmbedded, w('key_projection/kernel'), w('key_projection/bias'));
  // context_embedding has mask_zero: padded context positions are never attended.
  const mask = useMask ? tokens.map(() => context.map((id) => (id === 0 ? 0 : 1))) : null;
  const cross = referenceAttention(
    {
      queryKernel: w('cross_attention/query/kernel'),
      queryBias: null,
      keyKernel: w('cross_attention/key/kernel'),
      keyBias: null,
      valueKernel: w('cross_attention/value/kernel'),
      valueBias: null,
      outputKernel: w('cross_attention/attention_output/kernel'),
      outputBias: null,
    },
    residual,
    contextEmbedded,
    keys,
    mask,
  ).output;
  const pooled = cross[0].map((_x, d) => cross.reduce((sum, row) => sum + row[d], 0) / cross.length);
  const [logits] = dense([pooled], w('classifier/kernel'), w('classifier/bias'));
  const max = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

const TOKENS = [
  [3, 1, 4, 1, 5, 9],
  [2, 6, 5, 3, 5, 8],
  [19, 0, 7, 7, 12, 1],
];
const CONTEXT = [
  [4, 9, 2, 0, 0],
  [11, 3, 3, 8, 17],
  [6, 0, 0, 0, 0],
];

describeEachBackend('loadKerasModel: Keras 2 MultiHeadAttention with value/key keyword arguments', () => {
  let folder: string;
  let weights: Map<string, Float32Array>;
  beforeAll(() => ({ folder, weights } = writeFixtureModel()));
  afterAll(() => fs.rmSync(folder, { recursive: true, force: true }));

  it(
    'plain tf.loadLayersModel loses the layers reached only through ' + 'keyword arguments (the problem this solves)',
    async () => {
      // tfjs ignores the value/key keyword arguments: the context branch is not part of the model it builds, so
      // the weights it creates differ from the file's (the file:// route refuses the first that differs, where
      // tfjs would go on to find "no target variable" for the context embedding's weights).
      await expect(tf.loadLayersModel(`file://${path.join(folder, 'model.json')}`)).rejects.toThrow(
        "model.json: weight 'cross_attention/key/kernel' has shape [7,2,3] in its weightsManifest but [8,2,3] " +
          'in the model its config builds',
      );
    },
  );

  it(
    'loads the layers with Keras config keys, and predicts ' + 'what the plain-math reference computes (< 1e-5)',
    async () => {
      const model = await loadKerasModel(path.join(folder, 'model.json'));
      const self = model.getLayer('self_attention') as MultiHeadAttention;
      const cross = model.getLayer('cross_attention') as MultiHeadAttention;
      expect(self).toBeInstanceOf(MultiHeadAttention);
      expect(self.getConfig()).toMatchObject({
        numHeads: 2,
        keyDim: 4,
        valueDim: 3,
        dropout: 0.1,
        useBias: true,
        outputDim: null,
      });
      expect(cross.getConfig()).toMatchObject({ numHeads: 2, keyDim: 3, valueDim: 3, useBias: false, outputDim: 5 });
      // The value's padding mask (its embedding's, ids != 0), which Keras 2 reads from the value: an input.
      expect(cross.inboundNodes[0].inboundLayers.map((layer) => layer.name)).toEqual([
        'residual',
        'context_embedding',
        'key_projection',
        'context_padding_mask',
      ]);

      // Weights loaded unchanged, in Keras's order.
      const fixtureNames = readFixture().weightsManifest[0].weights.map((spec) => spec.name);
      expect(model.weights.map((w) => w.originalName).sort()).toEqual([...fixtureNames].sort());
      const queryKernel = model.weights.find((w) => w.originalName === 'cross_attention/query/kernel')!;
      expect(Array.from(queryKernel.read().dataSync())).toEqual(
        Array.from(weights.get('cross_attention/query/kernel')!),
      );

      const shapes = new Map(readFixture().weightsManifest[0].weights.map((spec) => [spec.name, spec.shape]));
      const w = (name: string) => reshape(weights.get(name)!, shapes.get(name)!);
      const expected = TOKENS.map((tokens, b) => referenceForward(w, tokens, CONTEXT[b]));

      const before = tf.memory().numTensors;
      const inputs = [tf.tensor2d(TOKENS, undefined, 'int32'), tf.tensor2d(CONTEXT, undefined, 'int32')];
      const output = model.predict(inputs) as tf.Tensor;
      const got = (await output.array()) as number[][];
      tf.dispose([output, ...inputs]);
      expect(tf.memory().numTensors).toBe(before);

      let maxDiff = 0;
      got.forEach((row, b) => row.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - expected[b][i])))));
      expect(maxDiff).toBeLessThan(1e-5);
      // The context mask is in effect: without it the reference differs on the padded rows (0 and 2)...
      const unmasked = TOKENS.map((tokens, b) => referenceForward(w, tokens, CONTEXT[b], false));
      for (const b of [0, 2])
        expect(Math.max(...got[b].map((v, i) => Math.abs(v - unmasked[b][i])))).toBeGreaterThan(1e-3);
      // ...changing what sits at the masked positions (the PAD embedding, id 0 in the context only there) changes
      // nothing, and changing a real context token does change its row.
      const predict = (context: number[][]) => {
        const ins = [tf.tensor2d(TOKENS, undefined, 'int32'), tf.tensor2d(context, undefined, 'int32')];
        const y = model.predict(ins) as tf.Tensor;
        const rows = y.arraySync() as number[][];
        tf.dispose([y, ...ins]);
        return rows;
      };
      const contextEmbedding = model.getLayer('context_embedding');
      const [table] = contextEmbedding.getWeights();
      const shifted = tf.tidy(() => table.add(tf.oneHot([0], table.shape[0]).reshape([-1, 1]).mul(4)));
      contextEmbedding.setWeights([shifted]);
      tf.dispose(shifted);
      expect(predict(CONTEXT)).toEqual(got);
      const changed = CONTEXT.map((row) => [...row]);
      changed[2][0] = 7; // was 6: the only real token of row 2
      const afterChange = predict(changed);
      expect(afterChange.slice(0, 2)).toEqual(got.slice(0, 2));
      expect(Math.max(...afterChange[2].map((v, i) => Math.abs(v - got[2][i])))).toBeGreaterThan(1e-3);
      model.dispose();
    },
  );

  it('accepts a file:// URL and an IOHandler too', async () => {
    const fromUrl = await loadKerasModel(`file://${path.join(folder, 'model.json')}`);
    const json = JSON.parse(fs.readFileSync(path.join(folder, 'model.json'), 'utf8'));
    const weightData = fs.readFileSync(path.join(folder, json.weightsManifest[0].paths[0]));
    const fromMemory = await loadKerasModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest[0].weights,
        weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
      }),
    );
    const inputs = [tf.tensor2d(TOKENS, undefined, 'int32'), tf.tensor2d(CONTEXT, undefined, 'int32')];
    const a = fromUrl.predict(inputs) as tf.Tensor;
    const b = fromMemory.predict(inputs) as tf.Tensor;
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([a, b, ...inputs]);
    fromUrl.dispose();
    fromMemory.dispose();
  });
});

describe('convertModelJsonTopology', () => {
  const topology = () => readFixture().modelTopology as any;
  const layer = (t: any, name: string) => t.model_config.config.layers.find((l: any) => l.name === name);

  it(
    'turns value/key keyword arguments into inputs [query, value, key] (and the padding mask Keras ' +
      'applies) and leaves the original untouched',
    () => {
      const original = topology();
      const rewritten = convertModelJsonTopology(original, 'model.json') as any;
      expect(layer(rewritten, 'cross_attention').inbound_nodes).toEqual([
        [
          ['residual', 0, 0, {}],
          ['context_embedding', 0, 0, {}],
          ['key_projection', 0, 0, {}],
          ['context_padding_mask', 0, 0, {}],
        ],
      ]);
      expect(layer(rewritten, 'cross_attention').config.callArguments).toEqual(['query', 'value', 'key', 'value_mask']);
      // value = query: one input, self-attention (tfjs frees a tensor given twice to one call too early).
      expect(layer(rewritten, 'self_attention').inbound_nodes).toEqual([[['layer_norm', 0, 0, {}]]]);
      expect(layer(original, 'cross_attention').inbound_nodes[0]).toHaveLength(1);
      expect(layer(rewritten, 'embedding').inbound_nodes).toEqual(layer(original, 'embedding').inbound_nodes);
    },
  );

  it('maps use_causal_mask to causal and drops training=false', () => {
    const t = topology();
    layer(t, 'self_attention').inbound_nodes[0][0][3] = {
      value: ['layer_norm', 0, 0],
      use_causal_mask: true,
      training: false,
    };
    const rewritten = convertModelJsonTopology(t, 'model.json') as any;
    expect(layer(rewritten, 'self_attention').config.causal).toBe(true);
    expect(layer(rewritten, 'self_attention').inbound_nodes[0]).toEqual([['layer_norm', 0, 0, {}]]);
    layer(t, 'self_attention').inbound_nodes[0][0][3].training = true;
    expect(() => convertModelJsonTopology(t, 'model.json')).toThrow(
      "model.json (modelTopology): layer 'self_attention' (MultiHeadAttention) call 0: call argument " +
        'training=true is not supported by loadKerasModel (it would change the result, and tfjs cannot pass it on)',
    );
  });

  it('passes tensor call arguments as inputs named by callArguments; a malformed value is an error', () => {
    const withMask = topology();
    layer(withMask, 'cross_attention').inbound_nodes[0][0][3].attention_mask = ['context_embedding', 0, 0];
    layer(withMask, 'cross_attention').inbound_nodes[0][0][3].key_mask = ['context_embedding', 0, 0];
    const converted = layer(convertModelJsonTopology(withMask, 'fixture/model.json'), 'cross_attention');
    // Not the plain leading query, value, key: every tensor is an input, callArguments names each.
    // (and the value's padding mask, which Keras applies: value_mask).
    expect(converted.config.callArguments).toEqual([
      'query',
      'value',
      'key',
      'value_mask',
      'key_mask',
      'attention_mask',
    ]);
    expect(converted.inbound_nodes[0].map((entry: unknown[]) => entry[0])).toEqual([
      'residual',
      'context_embedding',
      'key_projection',
      'context_padding_mask',
      'cross_attention_call0_input4_copy', // context_embedding again: routed through a copy (copyRepeatedInputs)
      'cross_attention_call0_input5_copy',
    ]);
    withMask.model_config.config.layers.find((l: any) => l.name === 'cross_attention').inbound_nodes[0][0][3].bogus = [
      'context_embedding',
      0,
      0,
    ];
    expect(() => convertModelJsonTopology(withMask, 'fixture/model.json')).toThrow(
      "fixture/model.json (modelTopology): layer 'cross_attention' (MultiHeadAttention) call 0: passes a tensor " +
        "as 'bogus', which is not one of its tensor call arguments (query, value, key, query_mask, value_mask, " +
        'key_mask, attention_mask)',
    );
    const malformed = topology();
    layer(malformed, 'self_attention').inbound_nodes[0][0][3].value = 'layer_norm';
    expect(() => convertModelJsonTopology(malformed, 'model.json')).toThrow(
      "model.json (modelTopology): layer 'self_attention' (MultiHeadAttention) call 0: call argument " +
        'value="layer_norm" is not supported by loadKerasModel ' +
        '(it would change the result, and tfjs cannot pass it on)',
    );
  });

  it('a non-default attention_axes is a clear error at load', async () => {
    const t = topology();
    layer(t, 'self_attention').config.attention_axes = [1, 2];
    const { folder } = writeFixtureModel(t);
    try {
      await expect(loadKerasModel(path.join(folder, 'model.json'))).rejects.toThrow(
        "MultiHeadAttention 'self_attention': attentionAxes [1,2] is not supported; " +
          'only attention over the sequence axis of rank-3 inputs',
      );
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });

  it('a missing model.json names the file', async () => {
    await expect(loadKerasModel(path.join(os.tmpdir(), 'no-such-keras-model', 'model.json'))).rejects.toThrow(
      /no-such-keras-model/,
    );
  });
});
