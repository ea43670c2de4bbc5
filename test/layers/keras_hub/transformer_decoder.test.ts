import * as tf from '@tensorflow/tfjs';
import { KerasHubTransformerDecoder } from '../../../src/layers/keras_hub/transformer_decoder';
import { describeEachBackend } from '../../helpers/backends';
import { expectLayerContract } from '../../helpers/layer_contract';
import { paddingMask, seededTensor, withMask } from '../../helpers/tensors';
import { hubFixture, maxDiff, t } from './fixtures';

interface DecoderFixture {
  config: { width: number; numHeads: number; intermediateDim: number; encoderWidth?: number } & Record<string, unknown>;
  inputs: number[][][];
  encoder?: number[][][];
  weights: unknown[];
  output: number[][][];
  ownMask?: number[][];
  encoderPaddingMask?: number[][];
}

const MHA = (d: number, h: number, de = d) => {
  const k = Math.floor(d / h);
  return [[d, h, k], [h, k], [de, h, k], [h, k], [de, h, k], [h, k], [h, k, d], [d]];
};

/** Runs a fixture: masks as keyword arguments, or as inputs named by callArguments. */
function run(f: DecoderFixture, asInputs: boolean): tf.Tensor {
  const { width: _w, encoderWidth: _e, ...config } = f.config;
  const names = [
    'decoder_sequence',
    ...(f.encoder ? ['encoder_sequence'] : []),
    ...(f.encoderPaddingMask ? ['encoder_padding_mask'] : []),
  ];
  const layer = new KerasHubTransformerDecoder({
    ...(config as { numHeads: number; intermediateDim: number }),
    callArguments: asInputs ? names : null,
  });
  const x = withMask(t(f.inputs), f.ownMask ? t(f.ownMask) : null);
  const encoder = f.encoder ? [t(f.encoder)] : [];
  const padding = f.encoderPaddingMask ? t(f.encoderPaddingMask) : null;
  const inputs = asInputs ? [x, ...encoder, ...(padding ? [padding] : [])] : [x, ...encoder];
  const kwargs = asInputs ? {} : { encoderPaddingMask: padding ?? undefined };
  tf.dispose(layer.apply(inputs, kwargs) as tf.Tensor);
  layer.setWeights(f.weights.map((w) => t(w)));
  const y = layer.apply(inputs, kwargs) as tf.Tensor;
  tf.dispose([x, ...encoder, padding ?? [], x.kerasMask ?? []]);
  layer.dispose();
  return y;
}

describeEachBackend('keras_hub TransformerDecoder', () => {
  const own = (d: number, i: number) => [[d, i], [i], [i, d], [d], [d], [d]];
  expectLayerContract('keras_hub TransformerDecoder decoder-only', {
    make: () => new KerasHubTransformerDecoder({ intermediateDim: 6, numHeads: 2, dropout: 0.1 }),
    inputs: () => withMask(seededTensor([2, 4, 8], 1), paddingMask([4, 3], 4)),
    outputShape: [2, 4, 8],
    weightShapes: [...MHA(8, 2), [8], [8], ...own(8, 6)],
  });
  expectLayerContract('keras_hub TransformerDecoder with cross-attention, pre-LN', {
    make: () => new KerasHubTransformerDecoder({ intermediateDim: 5, numHeads: 2, normalizeFirst: true }),
    inputs: () => [seededTensor([2, 3, 6], 2), withMask(seededTensor([2, 5, 4], 3), paddingMask([5, 2], 5))],
    outputShape: [2, 3, 6],
    weightShapes: [...MHA(6, 2), [6], [6], ...MHA(6, 2, 4), [6], [6], ...own(6, 5)],
  });

  describe('golden values from the numpy reference of keras-hub (1e-5)', () => {
    for (const name of [
      'hub_decoder_only_pre_ln',
      'hub_decoder_cross_post_ln',
      'hub_decoder_cross_masks',
      'hub_decoder_no_causal',
    ]) {
      for (const asInputs of [false, true]) {
        it(`${name} (masks ${asInputs ? 'as inputs, callArguments' : 'as keyword arguments'})`, () => {
          const f = hubFixture<DecoderFixture>(name);
          const y = run(f, asInputs);
          expect(maxDiff(y, f.output)).toBeLessThan(1e-5);
          y.dispose();
        });
      }
    }

    it('the self-attention is causal: a future position changes nothing before it', () => {
      const layer = new KerasHubTransformerDecoder({ intermediateDim: 4, numHeads: 2 });
      const x = seededTensor([1, 5, 4], 4);
      const y = layer.apply(x) as tf.Tensor;
      const changed = tf.tidy(() => x.add(tf.oneHot([3], 5).reshape([1, 5, 1]).mul(5)));
      const z = layer.apply(changed) as tf.Tensor;
      const diff = tf.tidy(() => tf.abs(y.sub(z)).max(-1).dataSync());
      expect([diff[0], diff[1], diff[2]]).toEqual([0, 0, 0]);
      expect(diff[3]).toBeGreaterThan(1e-3);
      tf.dispose([x, y, changed, z]);
    });
  });

  describe('Keras weights', () => {
    const mhaPaths = (group: string) =>
      ['query_dense', 'key_dense', 'value_dense', 'output_dense'].flatMap((g) => [
        `${group}/${g}/vars/0`,
        `${group}/${g}/vars/1`,
      ]);
    const tail = [
      '_feedforward_intermediate_dense/vars/0',
      '_feedforward_intermediate_dense/vars/1',
      '_feedforward_output_dense/vars/0',
      '_feedforward_output_dense/vars/1',
      '_feedforward_layer_norm/vars/0',
      '_feedforward_layer_norm/vars/1',
    ];

    it('with cross-attention: self, self norm, cross, cross norm, feed-forward, feed-forward norm', () => {
      const layer = new KerasHubTransformerDecoder({ intermediateDim: 6, numHeads: 2 });
      layer.apply([tf.input({ shape: [4, 8] }), tf.input({ shape: [5, 4] })]);
      expect(layer.kerasWeightPaths()).toEqual([
        ...mhaPaths('_self_attention_layer'),
        '_self_attention_layer_norm/vars/0',
        '_self_attention_layer_norm/vars/1',
        ...mhaPaths('_cross_attention_layer'),
        '_cross_attention_layer_norm/vars/0',
        '_cross_attention_layer_norm/vars/1',
        ...tail,
      ]);
      expect(layer.weights.map((w) => w.shape)).toEqual([
        ...MHA(8, 2),
        [8],
        [8],
        ...MHA(8, 2, 4),
        [8],
        [8],
        ...own(8, 6),
      ]);
    });

    it('decoder-only: no cross-attention weights', () => {
      const layer = new KerasHubTransformerDecoder({ intermediateDim: 6, numHeads: 2 });
      layer.apply(tf.input({ shape: [4, 8] }));
      expect(layer.kerasWeightPaths()).toEqual([
        ...mhaPaths('_self_attention_layer'),
        '_self_attention_layer_norm/vars/0',
        '_self_attention_layer_norm/vars/1',
        ...tail,
      ]);
      expect(layer.crossAttention).toBeNull();
    });

    it('a functional model with the decoder reloads through model.json with the same predictions', async () => {
      const decoder = tf.input({ shape: [3, 6] });
      const encoder = tf.input({ shape: [4, 6] });
      const layer = new KerasHubTransformerDecoder({ intermediateDim: 5, numHeads: 2 });
      const model = tf.model({
        inputs: [decoder, encoder],
        outputs: layer.apply([decoder, encoder]) as tf.SymbolicTensor,
      });
      const xs = [seededTensor([2, 3, 6], 5), seededTensor([2, 4, 6], 6)];
      const before = model.predict(xs) as tf.Tensor;
      const saved: tf.io.ModelArtifacts[] = [];
      await model.save(tf.io.withSaveHandler(async (a) => (saved.push(a), { modelArtifactsInfo: {} as never })));
      const copy = await tf.loadLayersModel(tf.io.fromMemory(saved[0]));
      const after = copy.predict(xs) as tf.Tensor;
      expect(maxDiff(after, before.arraySync())).toBe(0);
      tf.dispose([...xs, before, after]);
      model.dispose();
      copy.dispose();
    });
  });

  describe('invalid arguments', () => {
    const label = "keras_hub TransformerDecoder 'dec'";
    const make = (args: Record<string, unknown>) => () =>
      new KerasHubTransformerDecoder({ intermediateDim: 4, numHeads: 2, name: 'dec', ...args });
    const cases: Array<[string, () => unknown, string]> = [
      ['numHeads 0', make({ numHeads: 0 }), `${label}: numHeads must be a positive integer, got 0`],
      ['useCausalMask "no"', make({ useCausalMask: 'no' }), `${label}: useCausalMask must be true or false, got 'no'`],
      [
        'decoderSequenceShape not a shape',
        make({ decoderSequenceShape: 'x' }),
        `${label}: decoderSequenceShape must be a shape such as [null, 10, 64], got "x"`,
      ],
      [
        'callArguments without decoder_sequence',
        make({ callArguments: ['encoder_sequence'] }),
        `${label}: callArguments ["encoder_sequence"] must include 'decoder_sequence'`,
      ],
    ];
    for (const [title, build, message] of cases) it(title, () => expect(build).toThrow(message));

    it('built with an encoder sequence, called without one', () => {
      const layer = make({})();
      const x = seededTensor([1, 3, 4], 7);
      tf.dispose(layer.apply([x, x]) as tf.Tensor);
      expect(() => layer.apply(x)).toThrow(
        `${label}: built with an encoder sequence (cross-attention), called without one; ` +
          'the number of inputs must not change',
      );
      x.dispose();
    });

    it('an encoderSequenceShape in the config but no encoder input', () => {
      const layer = make({ encoderSequenceShape: [null, 5, 4] })();
      expect(() => layer.apply(tf.input({ shape: [3, 4] }))).toThrow(
        `${label}: the config has an encoderSequenceShape, but the layer got no encoder sequence`,
      );
    });

    it('an encoder padding mask of the wrong shape', () => {
      const layer = make({})();
      const x = seededTensor([2, 3, 4], 8);
      const e = seededTensor([2, 5, 4], 9);
      const m = tf.ones([2, 4]);
      expect(() => layer.apply([x, e], { encoderPaddingMask: m })).toThrow(
        `${label}: the padding mask of encoder_padding_mask must have shape (B, L) = [2, 5], got [2, 4]`,
      );
      tf.dispose([x, e, m]);
    });
  });
});
