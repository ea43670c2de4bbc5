import * as tf from '@tensorflow/tfjs';
import { KerasHubTransformerEncoder } from '../../../src/layers/keras_hub/transformer_encoder';
import { describeEachBackend } from '../../helpers/backends';
import { expectLayerContract } from '../../helpers/layer_contract';
import { paddingMask, seededTensor, withMask } from '../../helpers/tensors';
import { hubFixture, maxDiff, t } from './fixtures';

interface EncoderFixture {
  config: { width: number; numHeads: number; intermediateDim: number } & Record<string, unknown>;
  inputs: number[][][];
  weights: unknown[];
  output: number[][][];
  ownMask?: number[][];
  paddingMask?: number[][];
  attentionMask?: number[][][];
}

const MHA = (d: number, h: number) => {
  const k = Math.floor(d / h);
  return [[d, h, k], [h, k], [d, h, k], [h, k], [d, h, k], [h, k], [h, k, d], [d]];
};

/** Runs a fixture: as keyword arguments, or with the masks as inputs named by callArguments. */
function run(f: EncoderFixture, asInputs: boolean): tf.Tensor {
  const { width: _width, ...config } = f.config;
  const names = ['inputs', ...(f.paddingMask ? ['padding_mask'] : []), ...(f.attentionMask ? ['attention_mask'] : [])];
  const layer = new KerasHubTransformerEncoder({
    ...(config as { numHeads: number; intermediateDim: number }),
    callArguments: asInputs ? names : null,
  });
  const x = withMask(t(f.inputs), f.ownMask ? t(f.ownMask) : null);
  const masks = [f.paddingMask, f.attentionMask].filter((m) => m != null).map((m) => t(m));
  const inputs = asInputs ? [x, ...masks] : x;
  const kwargs = asInputs
    ? {}
    : {
        paddingMask: f.paddingMask ? masks[0] : undefined,
        attentionMask: f.attentionMask ? masks[masks.length - 1] : undefined,
      };
  tf.dispose(layer.apply(inputs, kwargs) as tf.Tensor);
  layer.setWeights(f.weights.map((w) => t(w)));
  const y = layer.apply(inputs, kwargs) as tf.Tensor;
  tf.dispose([x, ...masks, x.kerasMask ?? []]);
  layer.dispose();
  return y;
}

describeEachBackend('keras_hub TransformerEncoder', () => {
  const weightShapes = (d: number, h: number, i: number) => [
    ...MHA(d, h),
    [d],
    [d],
    [d],
    [d],
    [d, i],
    [i],
    [i, d],
    [d],
  ];
  expectLayerContract('keras_hub TransformerEncoder post-LN', {
    make: () => new KerasHubTransformerEncoder({ intermediateDim: 6, numHeads: 2, dropout: 0.1 }),
    inputs: () => withMask(seededTensor([2, 4, 8], 1), paddingMask([4, 2], 4)),
    outputShape: [2, 4, 8],
    weightShapes: weightShapes(8, 2, 6),
  });
  expectLayerContract('keras_hub TransformerEncoder pre-LN gelu, padding_mask as an input', {
    make: () =>
      new KerasHubTransformerEncoder({
        intermediateDim: 5,
        numHeads: 3,
        normalizeFirst: true,
        activation: 'gelu',
        callArguments: ['inputs', 'padding_mask'],
      }),
    inputs: () => [seededTensor([2, 4, 6], 2), paddingMask([4, 3], 4)],
    outputShape: [2, 4, 6],
    weightShapes: weightShapes(6, 3, 5),
  });

  describe('golden values from the numpy reference of keras-hub (1e-5)', () => {
    for (const name of [
      'hub_encoder_post_ln',
      'hub_encoder_pre_ln_gelu',
      'hub_encoder_own_mask',
      'hub_encoder_padding_and_attention_mask',
    ]) {
      for (const asInputs of [false, true]) {
        it(`${name} (masks ${asInputs ? 'as inputs, callArguments' : 'as keyword arguments'})`, () => {
          const f = hubFixture<EncoderFixture>(name);
          const y = run(f, asInputs);
          expect(maxDiff(y, f.output)).toBeLessThan(1e-5);
          y.dispose();
        });
      }
    }

    it('the padding mask keeps every query from attending to padded positions', () => {
      // Changing a padded position (masked by padding_mask) changes no real position's output.
      const layer = new KerasHubTransformerEncoder({ intermediateDim: 4, numHeads: 2 });
      const x = seededTensor([1, 4, 4], 3);
      const mask = paddingMask([2], 4);
      const y = layer.apply(x, { paddingMask: mask }) as tf.Tensor;
      const changed = tf.tidy(() => x.add(tf.oneHot([3], 4).reshape([1, 4, 1]).mul(5)));
      const z = layer.apply(changed, { paddingMask: mask }) as tf.Tensor;
      const diff = tf.tidy(() => tf.abs(y.sub(z)).max(-1).dataSync());
      expect([diff[0], diff[1]]).toEqual([0, 0]);
      expect(diff[3]).toBeGreaterThan(1e-3);
      tf.dispose([x, mask, y, changed, z]);
    });
  });

  it("fullyMaskedQueries 'zero' (Keras 3.10+'s attention with dropout): a padded query attends to nothing", () => {
    // With the input's own mask on the queries, padded positions are fully masked rows of the attention.
    const make = (fullyMaskedQueries: 'uniform' | 'zero') =>
      new KerasHubTransformerEncoder({ intermediateDim: 4, numHeads: 2, fullyMaskedQueries });
    const [uniform, zero] = [make('uniform'), make('zero')];
    const x = withMask(seededTensor([1, 4, 4], 5), paddingMask([2], 4));
    tf.dispose([uniform.apply(x) as tf.Tensor, zero.apply(x) as tf.Tensor]);
    zero.setWeights(uniform.getWeights());
    const [a, b] = [uniform.apply(x) as tf.Tensor, zero.apply(x) as tf.Tensor];
    const diff = tf.tidy(() => tf.abs(a.sub(b)).max(-1).dataSync());
    expect([diff[0], diff[1]]).toEqual([0, 0]);
    expect(Math.min(diff[2], diff[3])).toBeGreaterThan(1e-3);
    expect(zero.selfAttention!.fullyMaskedQueries).toBe('zero');
    expect(zero.getConfig().fullyMaskedQueries).toBe('zero');
    expect('fullyMaskedQueries' in uniform.getConfig()).toBe(false);
    expect(() => make('none' as never)).toThrow("fullyMaskedQueries must be one of 'uniform', 'zero', got 'none'");
    tf.dispose([x, x.kerasMask ?? [], a, b]);
    uniform.dispose();
    zero.dispose();
  });

  describe('Keras weights', () => {
    it('lists the weights in Keras order with their paths in a Keras 3 weights file', () => {
      const layer = new KerasHubTransformerEncoder({ intermediateDim: 6, numHeads: 2 });
      layer.apply(tf.input({ shape: [5, 8] }));
      const mha = ['query_dense', 'key_dense', 'value_dense', 'output_dense'].flatMap((g) => [
        `_self_attention_layer/${g}/vars/0`,
        `_self_attention_layer/${g}/vars/1`,
      ]);
      expect(layer.kerasWeightPaths()).toEqual([
        ...mha,
        '_self_attention_layer_norm/vars/0',
        '_self_attention_layer_norm/vars/1',
        '_feedforward_layer_norm/vars/0',
        '_feedforward_layer_norm/vars/1',
        '_feedforward_intermediate_dense/vars/0',
        '_feedforward_intermediate_dense/vars/1',
        '_feedforward_output_dense/vars/0',
        '_feedforward_output_dense/vars/1',
      ]);
      expect(layer.weights.map((w) => w.shape)).toEqual(weightShapes(8, 2, 6));
      expect(layer.weights.slice(8).map((w) => w.originalName.split('/').slice(1).join('/'))).toEqual([
        'self_attention_layer_norm/gamma',
        'self_attention_layer_norm/beta',
        'feedforward_layer_norm/gamma',
        'feedforward_layer_norm/beta',
        'feedforward_intermediate_dense/kernel',
        'feedforward_intermediate_dense/bias',
        'feedforward_output_dense/kernel',
        'feedforward_output_dense/bias',
      ]);
    });

    it('honours kernelRegularizer and biasRegularizer on the attention and the feed-forward', () => {
      const layer = new KerasHubTransformerEncoder({
        intermediateDim: 4,
        numHeads: 2,
        kernelRegularizer: { className: 'L2', config: { l2: 0.01 } },
        biasRegularizer: { className: 'L1', config: { l1: 0.01 } },
      });
      layer.apply(tf.input({ shape: [3, 4] }));
      const losses = layer.calculateLosses();
      // 2 dense + 4 attention projections, a kernel and a bias penalty each.
      expect(losses).toHaveLength(12);
      tf.dispose(losses);
    });

    it('a functional model with the encoder reloads through model.json with the same predictions', async () => {
      const input = tf.input({ shape: [4, 8] });
      const layer = new KerasHubTransformerEncoder({ intermediateDim: 6, numHeads: 2, normalizeFirst: true });
      const model = tf.model({ inputs: input, outputs: layer.apply(input) as tf.SymbolicTensor });
      const x = seededTensor([2, 4, 8], 4);
      const before = model.predict(x) as tf.Tensor;
      const saved: tf.io.ModelArtifacts[] = [];
      await model.save(tf.io.withSaveHandler(async (a) => (saved.push(a), { modelArtifactsInfo: {} as never })));
      expect(JSON.stringify(saved[0].modelTopology)).toContain('"class_name":"keras_hub>TransformerEncoder"');
      const copy = await tf.loadLayersModel(tf.io.fromMemory(saved[0]));
      const after = copy.predict(x) as tf.Tensor;
      expect(maxDiff(after, before.arraySync())).toBe(0);
      tf.dispose([x, before, after]);
      model.dispose();
      copy.dispose();
    });
  });

  describe('invalid arguments', () => {
    const make = (args: Record<string, unknown>) => () =>
      new KerasHubTransformerEncoder({ intermediateDim: 4, numHeads: 2, name: 'enc', ...args });
    const label = "keras_hub TransformerEncoder 'enc'";
    const cases: Array<[string, () => unknown, string]> = [
      [
        'intermediateDim 0',
        make({ intermediateDim: 0 }),
        `${label}: intermediateDim must be a positive integer, got 0`,
      ],
      ['dropout 1', make({ dropout: 1 }), `${label}: dropout must be a number in [0, 1), got 1`],
      [
        'activation unknown',
        make({ activation: 'mish' }),
        `${label}: activation must be one of 'linear', 'relu', 'gelu', 'tanh', 'sigmoid', 'silu', 'swish', ` +
          "'softplus', 'elu', 'selu', got 'mish'",
      ],
      ['normalizeFirst 1', make({ normalizeFirst: 1 }), `${label}: normalizeFirst must be true or false, got 1`],
      [
        'activityRegularizer',
        make({ activityRegularizer: 'l2' }),
        `${label}: activityRegularizer 'l2' is not supported (tfjs 4.22 cannot run a layer with an activity ` +
          'regularizer); only null is accepted',
      ],
      [
        'callArguments without inputs',
        make({ callArguments: ['padding_mask'] }),
        `${label}: callArguments ["padding_mask"] must include 'inputs'`,
      ],
    ];
    for (const [title, build, message] of cases) it(title, () => expect(build).toThrow(message));

    it('more heads than the width', () => {
      const layer = make({ numHeads: 5 })();
      expect(() => layer.apply(tf.input({ shape: [3, 4] }))).toThrow(
        `${label}: the attention key dim floor(D / numHeads) is 0: the width 4 must be at least numHeads 5`,
      );
    });

    it('an attention mask that is not (B, T, T)', () => {
      const layer = make({})();
      const x = seededTensor([2, 3, 4], 5);
      const m = tf.ones([3, 3]);
      expect(() => layer.apply(x, { attentionMask: m })).toThrow(
        `${label}: attention_mask must have shape (B, T, S) = [2, 3, 3], got [3, 3]`,
      );
      tf.dispose([x, m]);
    });
  });
});
