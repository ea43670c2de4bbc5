/**
 * MultiHeadAttention at Keras 3 parity: use_gate, sliding_window, attention masks of shape (T, S),
 * (B, T, S) and (B, H, T, S), callArguments (tensors passed as Keras keyword arguments), the
 * regularizers and constraints, and every Keras config key. Golden values come from
 * scripts/keras_layer_references.py (plain numpy from Keras's source), stored in
 * test/fixtures/keras_layers.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { MultiHeadAttention, type MultiHeadAttentionArgs } from '../../src/layers/multi_head_attention';
import { slidingWindowMask } from '../../src/layers/masks';
import { describeEachBackend } from '../helpers/backends';
import { FUSED_ATTENTION, profiled } from '../helpers/kernel_paths';
import { expectLayerContract } from '../helpers/layer_contract';
import { seededValues } from './attention_reference';

const FIXTURES = path.join(__dirname, '../fixtures/keras_layers');

interface MhaFixture {
  args: MultiHeadAttentionArgs;
  query: number[][][];
  value?: number[][][];
  key?: number[][][];
  attentionMask?: number[][] | number[][][] | number[][][][];
  valuePadding?: number[][];
  weights: number[][];
  weightNames: string[];
  output: number[][][];
  scores: number[][][][];
}

function fixture(name: string): MhaFixture {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as MhaFixture;
}

function tensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(
    seededValues(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
  );
}

function maxAbsDiff(a: tf.Tensor, b: number[] | number[][] | number[][][] | number[][][][]): number {
  return tf.tidy(() => tf.max(tf.abs(a.sub(tf.tensor(b as number[])))).dataSync()[0]);
}

/** The fixture's inputs, the layer built on them with the fixture's weights, and its outputs. */
function runFixture(
  f: MhaFixture,
  withScores: boolean,
): { output: tf.Tensor; scores: tf.Tensor; layer: MultiHeadAttention } {
  const layer = new MultiHeadAttention({ ...f.args, returnAttentionScores: withScores });
  const outputs = tf.tidy(() => {
    const inputs = [tf.tensor(f.query), ...(f.value ? [tf.tensor(f.value)] : []), ...(f.key ? [tf.tensor(f.key)] : [])];
    const kwargs: Record<string, unknown> = {};
    if (f.attentionMask) kwargs.attentionMask = tf.tensor(f.attentionMask as unknown as number[]);
    if (f.valuePadding) kwargs.mask = [null, tf.tensor(f.valuePadding)];
    tf.dispose(layer.apply(inputs, kwargs) as tf.Tensor);
    layer.setWeights(f.weights.map((w) => tf.tensor(w)));
    const result = layer.apply(inputs, kwargs) as tf.Tensor | tf.Tensor[];
    const [output, scores] = Array.isArray(result) ? result : [result, tf.zeros([1])];
    return { output, scores };
  });
  return { ...outputs, layer };
}

const FIXTURE_CASES: Array<[string, 'fused' | 'plain']> = [
  ['mha_gate_self', 'plain'],
  ['mha_gate_cross_kv', 'fused'],
  ['mha_gate_no_bias_value_dim', 'plain'],
  ['mha_sliding_window', 'plain'],
  ['mha_sliding_window_causal', 'fused'],
  ['mha_sliding_window_cross', 'fused'],
  ['mha_mask_ts', 'fused'],
  ['mha_mask_bts', 'fused'],
  ['mha_mask_b1ts', 'fused'],
  ['mha_mask_bhts', 'plain'],
  ['mha_mask_bhts_padding_causal', 'plain'],
];

describeEachBackend('MultiHeadAttention (Keras 3 parity)', () => {
  expectLayerContract('MultiHeadAttention useGate + slidingWindow', {
    make: () => new MultiHeadAttention({ numHeads: 2, keyDim: 3, valueDim: 2, useGate: true, slidingWindow: 2 }),
    inputs: () => tensor([2, 5, 6], 1),
    outputShape: [2, 5, 6],
    weightShapes: [[6, 2, 3], [2, 3], [6, 2, 3], [2, 3], [6, 2, 2], [2, 2], [6, 2, 2], [2, 2], [2, 2, 6], [6]],
  });
  expectLayerContract('MultiHeadAttention callArguments [query, value, attention_mask]', {
    make: () => new MultiHeadAttention({ numHeads: 2, keyDim: 2, callArguments: ['query', 'value', 'attention_mask'] }),
    inputs: () => [tensor([2, 3, 4], 2), tensor([2, 5, 4], 3), tf.ones([2, 3, 5])],
    outputShape: [2, 3, 4],
    weightShapes: [[4, 2, 2], [2, 2], [4, 2, 2], [2, 2], [4, 2, 2], [2, 2], [2, 2, 4], [4]],
  });

  describe('golden values from the numpy reference of Keras (1e-5)', () => {
    for (const [name, path_] of FIXTURE_CASES) {
      it(`${name} [${path_}]`, async () => {
        const f = fixture(name);
        const { output, scores, layer } = runFixture(f, false);
        expect(output.shape).toEqual([f.query.length, f.query[0].length, f.output[0][0].length]);
        expect(maxAbsDiff(output, f.output)).toBeLessThan(1e-5);
        // The path, named from the kernels that ran (tf.profile): new features the fused kernel
        // does not have (a per-head mask) take the plain ops; the rest stays fused.
        const { kernels, result } = await profiled(() => {
          const again = runFixture(f, false);
          again.layer.dispose();
          return again.output;
        });
        expect(kernels.includes(FUSED_ATTENTION)).toBe(path_ === 'fused');
        tf.dispose([output, scores, result]);
        layer.dispose();
        // The scores too (setWeights checked each weight's shape against the reference's).
        const withScores = runFixture(f, true);
        expect(maxAbsDiff(withScores.scores, f.scores)).toBeLessThan(1e-5);
        tf.dispose([withScores.output, withScores.scores]);
        withScores.layer.dispose();
      });
    }
  });

  describe('use_gate', () => {
    it('a hand-computed case: 1 head, 1 key, gate sigmoid(0) = 1/2 (1e-6)', () => {
      // query = value = [[2]]; value kernel 0.5 -> v = 1; one key -> context = v = 1;
      // gate sigmoid(2 * 1 - 2) = 0.5; output 1 * 0.5 * 3 + 0.25 = 1.75.
      const layer = new MultiHeadAttention({ numHeads: 1, keyDim: 1, useGate: true });
      const x = tf.tensor3d([[[2]]]);
      tf.dispose(layer.apply(x) as tf.Tensor);
      const w = (v: number, shape: number[]) => tf.fill(shape, v);
      // query, key, gate (kernel [1, 1, 1], bias [1, 1]), value, output (kernel [1, 1, 1], bias [1]).
      layer.setWeights([
        w(1, [1, 1, 1]),
        w(0, [1, 1]),
        w(1, [1, 1, 1]),
        w(0, [1, 1]),
        w(1, [1, 1, 1]),
        w(-2, [1, 1]),
        w(0.5, [1, 1, 1]),
        w(0, [1, 1]),
        w(3, [1, 1, 1]),
        w(0.25, [1]),
      ]);
      const y = layer.apply(x) as tf.Tensor;
      expect(Math.abs(y.dataSync()[0] - 1.75)).toBeLessThan(1e-6);
      tf.dispose([x, y]);
      layer.dispose();
    });

    it('the gate weights come between key and value (Keras 3.14+), with Keras paths', () => {
      const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 3, valueDim: 5, useGate: true });
      layer.apply([tf.input({ shape: [4, 6] }), tf.input({ shape: [7, 8] })]);
      expect(layer.weights.map((w) => w.originalName)).toEqual([
        `${layer.name}/query/kernel`,
        `${layer.name}/query/bias`,
        `${layer.name}/key/kernel`,
        `${layer.name}/key/bias`,
        `${layer.name}/gate/kernel`,
        `${layer.name}/gate/bias`,
        `${layer.name}/value/kernel`,
        `${layer.name}/value/bias`,
        `${layer.name}/attention_output/kernel`,
        `${layer.name}/attention_output/bias`,
      ]);
      // The gate projects the query input [Dq, H, V].
      expect(layer.weights[4].shape).toEqual([6, 2, 5]);
      expect(layer.kerasWeightPaths()).toEqual([
        'query_dense/vars/0',
        'query_dense/vars/1',
        'key_dense/vars/0',
        'key_dense/vars/1',
        '_gate_dense/vars/0',
        '_gate_dense/vars/1',
        'value_dense/vars/0',
        'value_dense/vars/1',
        'output_dense/vars/0',
        'output_dense/vars/1',
      ]);
    });

    it('attentionContributions refuses a gated layer', () => {
      const layer = new MultiHeadAttention({ numHeads: 1, keyDim: 2, useGate: true });
      const x = tensor([1, 3, 2], 4);
      tf.dispose(layer.apply(x) as tf.Tensor);
      expect(() => layer.attentionContributions(x)).toThrow(
        `MultiHeadAttention '${layer.name}': attentionContributions is not defined with useGate`,
      );
      x.dispose();
      layer.dispose();
    });
  });

  describe('sliding_window', () => {
    it('is the band |t - s| < w (hand-written for T = 4, S = 5, w = 2)', () => {
      const mask = slidingWindowMask(4, 5, 2);
      expect(mask.arraySync()).toEqual([
        [1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0],
        [0, 1, 1, 1, 0],
        [0, 0, 1, 1, 1],
      ]);
      mask.dispose();
    });

    for (const causal of [false, true]) {
      it(`a key outside the window changes nothing; one inside does (causal ${causal})`, () => {
        const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 4, slidingWindow: 2, causal });
        const x = tensor([1, 6, 8], 5);
        const y = layer.apply(x) as tf.Tensor;
        // Change position 5: query 2 (|2 - 5| >= 2) must not change; query 4 (|4 - 5| < 2) does
        // without causal, and with causal (5 > 4) does not.
        const changed = tf.tidy(() => x.add(tf.oneHot([5], 6).reshape([1, 6, 1]).mul(3)));
        const z = layer.apply(changed) as tf.Tensor;
        const diff = tf.tidy(() => tf.abs(y.sub(z)).max(-1).dataSync());
        expect(diff[2]).toBe(0);
        expect(diff[4] > 1e-4).toBe(!causal);
        expect(diff[5] > 1e-4).toBe(true);
        tf.dispose([x, y, changed, z]);
        layer.dispose();
      });
    }
  });

  describe('callArguments', () => {
    const q = () => tensor([2, 3, 4], 6);
    const v = () => tensor([2, 5, 4], 7);
    const k = () => tensor([2, 5, 6], 8);

    /**
     * A layer with `callArguments` on `namedInputs` against one without, with the same weights, on
     * `plainInputs` and `attentionMask` (what the named masks mean): the largest difference of their
     * outputs, and of the named one's and the plain one's without the mask (the named mask mattered).
     */
    function namedAgainstPlain(
      callArguments: string[],
      namedInputs: tf.Tensor[],
      plainInputs: tf.Tensor[],
      attentionMask: tf.Tensor,
    ): { same: number; unmasked: number } {
      const plain = new MultiHeadAttention({ numHeads: 2, keyDim: 2 });
      const named = new MultiHeadAttention({ numHeads: 2, keyDim: 2, callArguments });
      const call = (layer: MultiHeadAttention, inputs: tf.Tensor[], kwargs = {}) =>
        layer.apply(inputs.length === 1 ? inputs[0] : inputs, kwargs) as tf.Tensor;
      tf.dispose([call(plain, plainInputs, { attentionMask }), call(named, namedInputs)]);
      named.setWeights(plain.getWeights());
      const outputs = [call(named, namedInputs), call(plain, plainInputs, { attentionMask }), call(plain, plainInputs)];
      const [b, a, c] = outputs;
      const result = {
        same: maxAbsDiff(b, a.arraySync() as number[][][]),
        unmasked: maxAbsDiff(b, c.arraySync() as number[][][]),
      };
      tf.dispose(outputs);
      plain.dispose();
      named.dispose();
      return result;
    }

    it('names the inputs: [query, value, key, attention_mask] equals the keyword form', () => {
      const [query, value, key] = [q(), v(), k()];
      const mask = tf.tensor3d(
        seededValues(30, 9).map((x) => (x > -0.3 ? 1 : 0)),
        [2, 3, 5],
      );
      const { same, unmasked } = namedAgainstPlain(
        ['query', 'attention_mask', 'key', 'value'],
        [query, mask, key, value],
        [query, value, key],
        mask,
      );
      expect(same).toBeLessThan(1e-6);
      // Without the mask the output differs: the mask input was used.
      expect(unmasked).toBeGreaterThan(1e-3);
      tf.dispose([query, value, key, mask]);
    });

    it('value_mask and key_mask inputs are padding masks of the keys (B, S)', () => {
      const [query, value] = [q(), v()];
      const valueMask = tf.tensor2d([1, 1, 1, 1, 0, 1, 1, 1, 1, 1], [2, 5]);
      const keyMask = tf.tensor2d([1, 1, 1, 1, 1, 1, 1, 0, 0, 1], [2, 5]);
      const combined = tf.tidy(() => valueMask.mul(keyMask).expandDims(1).tile([1, 3, 1]));
      const { same, unmasked } = namedAgainstPlain(
        ['query', 'value', 'value_mask', 'key_mask'],
        [query, value, valueMask, keyMask],
        [query, value],
        combined,
      );
      expect(same).toBeLessThan(1e-6);
      expect(unmasked).toBeGreaterThan(1e-3);
      tf.dispose([query, value, valueMask, keyMask, combined]);
    });

    it("a query_mask input masks the queries (B, T), in place of the query's own mask", () => {
      // Keras 3.8+ reads the query's mask from the query itself (multi_head_attention.py `call`);
      // loadKerasModel passes that mask here, explicitly (src/keras/keras_masks.ts).
      const [query, value] = [q(), v()];
      const queryMask = tf.tensor2d([1, 0, 1, 1, 1, 0], [2, 3]);
      const rows = tf.tidy(() => queryMask.expandDims(2).tile([1, 1, 5]));
      const { same, unmasked } = namedAgainstPlain(
        ['query', 'value', 'query_mask'],
        [query, value, queryMask],
        [query, value],
        rows,
      );
      expect(same).toBeLessThan(1e-6);
      // Not vacuous: a masked query row attends uniformly, unlike the unmasked call.
      expect(unmasked).toBeGreaterThan(1e-3);
      tf.dispose([query, value, queryMask, rows]);
    });

    it('without a value input, attends over the query (self-attention) with the query_mask on the keys too', () => {
      const query = q();
      const queryMask = tf.tensor2d([1, 1, 0, 1, 0, 1], [2, 3]);
      const pair = tf.tidy(() => queryMask.expandDims(2).mul(queryMask.expandDims(1)));
      const { same, unmasked } = namedAgainstPlain(['query', 'query_mask'], [query, queryMask], [query], pair);
      expect(same).toBeLessThan(1e-6);
      expect(unmasked).toBeGreaterThan(1e-3);
      tf.dispose([query, queryMask, pair]);
    });

    it('works in a functional model with the mask as a model input, and round-trips', async () => {
      const query = tf.input({ shape: [3, 4] });
      const value = tf.input({ shape: [5, 4] });
      const mask = tf.input({ shape: [3, 5] });
      const layer = new MultiHeadAttention({
        numHeads: 2,
        keyDim: 2,
        callArguments: ['query', 'value', 'attention_mask'],
      });
      const out = layer.apply([query, value, mask]) as tf.SymbolicTensor;
      expect(out.shape).toEqual([null, 3, 4]);
      const model = tf.model({ inputs: [query, value, mask], outputs: out });
      const xs = [
        q(),
        v(),
        tf.tensor3d(
          seededValues(30, 10).map((x) => (x > 0 ? 1 : 0)),
          [2, 3, 5],
        ),
      ];
      const before = model.predict(xs) as tf.Tensor;
      const saved: tf.io.ModelArtifacts[] = [];
      await model.save(tf.io.withSaveHandler(async (a) => (saved.push(a), { modelArtifactsInfo: {} as never })));
      const copy = await tf.loadLayersModel(tf.io.fromMemory(saved[0]));
      const after = copy.predict(xs) as tf.Tensor;
      expect(maxAbsDiff(after, before.arraySync() as number[][][])).toBe(0);
      // tfjs camelCases string values on load ('attentionMask'); the layer keeps Keras's names.
      expect((copy.layers[3] as MultiHeadAttention).callArguments).toEqual(['query', 'value', 'attention_mask']);
      tf.dispose([...xs, before, after]);
      model.dispose();
      copy.dispose();
    });
  });

  describe('Keras config keys', () => {
    it('accepts every key Keras 3.15 writes, keeps the inference-neutral ones in getConfig', () => {
      const layer = new MultiHeadAttention({
        numHeads: 2,
        keyDim: 4,
        valueDim: 4,
        dropout: 0,
        useBias: true,
        outputShape: [6],
        attentionAxes: [1],
        slidingWindow: null,
        flashAttention: null,
        kernelInitializer: { className: 'GlorotUniform', config: { seed: null } },
        biasInitializer: { className: 'Zeros', config: {} },
        kernelRegularizer: null,
        biasRegularizer: null,
        activityRegularizer: null,
        kernelConstraint: null,
        biasConstraint: null,
        useGate: false,
        seed: 7,
      } as MultiHeadAttentionArgs);
      const config = layer.getConfig();
      expect(config).toMatchObject({ outputDim: 6, seed: 7, flashAttention: null, useGate: false });
      expect(config.slidingWindow).toBeNull();
    });

    it('honours kernelRegularizer and biasRegularizer (Keras L2 and L1 forms): losses of every projection', () => {
      const layer = new MultiHeadAttention({
        numHeads: 2,
        keyDim: 2,
        useGate: true,
        kernelRegularizer: { className: 'L2', config: { l2: 0.03 } },
        biasRegularizer: { className: 'L1', config: { l1: 0.02 } },
      });
      const x = tensor([1, 3, 4], 11);
      tf.dispose(layer.apply(x) as tf.Tensor);
      layer.setWeights(layer.getWeights().map((w, i) => tensor(w.shape, 20 + i)));
      const losses = layer.calculateLosses();
      // Five projections (query, key, value, gate, output), each a kernel and a bias penalty.
      expect(losses).toHaveLength(10);
      const total = tf.tidy(() => tf.addN(losses).dataSync()[0]);
      const expected = layer.weights
        .map((w) => {
          const values = Array.from(w.read().dataSync());
          return w.originalName.endsWith('kernel')
            ? 0.03 * values.reduce((a, b) => a + b * b, 0)
            : 0.02 * values.reduce((a, b) => a + Math.abs(b), 0);
        })
        .reduce((a, b) => a + b, 0);
      expect(Math.abs(total - expected)).toBeLessThan(1e-5);
      // A model's regularization losses include them (Container.calculateLosses asks each layer).
      const input = tf.input({ shape: [3, 4] });
      const model = tf.model({ inputs: input, outputs: layer.apply(input) as tf.SymbolicTensor });
      const modelLosses = model.calculateLosses();
      expect(tf.tidy(() => tf.addN(modelLosses).dataSync()[0])).toBeCloseTo(total, 5);
      tf.dispose([x, ...losses, ...modelLosses]);
      model.dispose();
    });

    it('keeps constraints on the weights (tfjs applies them when weights are written)', () => {
      const layer = new MultiHeadAttention({
        numHeads: 1,
        keyDim: 2,
        kernelConstraint: { className: 'NonNeg', config: {} },
      });
      const x = tensor([1, 2, 3], 12);
      tf.dispose(layer.apply(x) as tf.Tensor);
      const kernels = layer.weights.filter((w) => w.originalName.endsWith('kernel'));
      expect(kernels.map((w) => w.constraint?.getClassName())).toEqual(['NonNeg', 'NonNeg', 'NonNeg', 'NonNeg']);
      expect(layer.getConfig().kernelConstraint).toEqual({ className: 'NonNeg', config: {} });
      tf.dispose(x);
      layer.dispose();
    });
  });

  describe('invalid arguments', () => {
    const make = (args: Partial<MultiHeadAttentionArgs> & Record<string, unknown>) => () =>
      new MultiHeadAttention({ numHeads: 2, keyDim: 2, name: 'mha', ...args } as MultiHeadAttentionArgs);
    const cases: Array<[string, () => unknown, string]> = [
      [
        'slidingWindow 0',
        make({ slidingWindow: 0 }),
        "MultiHeadAttention 'mha': slidingWindow must be a positive integer, got 0",
      ],
      [
        'slidingWindow 1.5',
        make({ slidingWindow: 1.5 }),
        "MultiHeadAttention 'mha': slidingWindow must be a positive integer, got 1.5",
      ],
      [
        'useGate "yes"',
        make({ useGate: 'yes' as never }),
        "MultiHeadAttention 'mha': useGate must be true or false, got 'yes'",
      ],
      [
        'flashAttention with dropout',
        make({ flashAttention: true, dropout: 0.1 }),
        "MultiHeadAttention 'mha': flashAttention true does not allow dropout (got dropout 0.1), as in Keras",
      ],
      [
        'flashAttention 1',
        make({ flashAttention: 1 as never }),
        "MultiHeadAttention 'mha': flashAttention must be true, false or null, got 1",
      ],
      ['seed 1.5', make({ seed: 1.5 }), "MultiHeadAttention 'mha': seed must be an integer or null, got 1.5"],
      [
        'activityRegularizer',
        make({ activityRegularizer: { className: 'L2', config: { l2: 0.1 } } as never }),
        'MultiHeadAttention \'mha\': activityRegularizer {"className":"L2","config":{"l2":0.1}} is not supported ' +
          '(tfjs 4.22 cannot run a layer with an activity regularizer); only null is accepted',
      ],
      [
        'kernelRegularizer of an unknown class',
        make({ kernelRegularizer: { className: 'Orthogonal', config: {} } }),
        'MultiHeadAttention \'mha\': kernelRegularizer {"className":"Orthogonal","config":{}} ' +
          'is not a known regularizer class (L1L2)',
      ],
      [
        'kernelConstraint of an unknown class',
        make({ kernelConstraint: { className: 'Clip', config: {} } }),
        'MultiHeadAttention \'mha\': kernelConstraint {"className":"Clip","config":{}} is not a known constraint class',
      ],
      [
        'outputShape of two dimensions',
        make({ outputShape: [4, 16] }),
        "MultiHeadAttention 'mha': outputShape [4,16] has 2 dimensions; only one output width (e.g. 64 or [64]) " +
          "is supported, as the layer's output is (B, T, Dout)",
      ],
      [
        'callArguments with an unknown name',
        make({ callArguments: ['query', 'value', 'mask'] }),
        "MultiHeadAttention 'mha': callArguments names 'mask', which is not a call argument; expected a list of " +
          "distinct names from 'query', 'value', 'key', 'query_mask', 'value_mask', 'key_mask', 'attention_mask'",
      ],
      [
        'callArguments naming one twice',
        make({ callArguments: ['query', 'value', 'value'] }),
        'MultiHeadAttention \'mha\': callArguments ["query","value","value"] names an argument twice',
      ],
      [
        'callArguments without query',
        make({ callArguments: ['value', 'attention_mask'] }),
        'MultiHeadAttention \'mha\': callArguments ["value","attention_mask"] must include \'query\'',
      ],
      [
        'callArguments not a list',
        make({ callArguments: 'query' as never }),
        "MultiHeadAttention 'mha': callArguments must be a list of distinct names from 'query', 'value'",
      ],
    ];
    for (const [title, build, message] of cases) {
      it(title, () => expect(build).toThrow(message));
    }

    it('an input count that callArguments does not name', () => {
      const layer = make({ callArguments: ['query', 'value', 'attention_mask'] })();
      const x = tensor([1, 2, 4], 13);
      expect(() => layer.apply([x, x])).toThrow(
        'MultiHeadAttention \'mha\': callArguments ["query","value","attention_mask"] names 3 inputs, ' +
          'but the layer got 2',
      );
      x.dispose();
    });

    it('attention_mask both as an input and as the attentionMask argument', () => {
      const layer = make({ callArguments: ['query', 'value', 'attention_mask'] })();
      const x = tensor([1, 2, 4], 14);
      const m = tf.ones([1, 2, 2]);
      expect(() => layer.apply([x, x, m], { attentionMask: m })).toThrow(
        "MultiHeadAttention 'mha': attention_mask is an input (callArguments), " +
          'so the attentionMask argument must be unset',
      );
      tf.dispose([x, m]);
    });

    it('an attention mask of a shape Keras does not accept', () => {
      const layer = make({})();
      const x = tensor([2, 3, 4], 15);
      for (const shape of [
        [2, 3, 4],
        [3, 3, 3],
        [2, 3],
        [2, 3, 3, 3],
        [1, 2, 3, 3, 1],
      ]) {
        const m = tf.ones(shape);
        const got = `[${shape.join(', ')}]`;
        expect(() => layer.apply(x, { attentionMask: m })).toThrow(
          "MultiHeadAttention 'mha': attentionMask must have shape (T, S) = [3, 3], (B, T, S) = [2, 3, 3], " +
            `(B, H, T, S) = [2, 2, 3, 3] (an axis may also be 1), got ${got}`,
        );
        m.dispose();
      }
      x.dispose();
    });
  });
});
