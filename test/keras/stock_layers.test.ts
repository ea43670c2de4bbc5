/**
 * Stock Keras layers: each argument is checked against what tfjs computes, and converted or
 * refused with an error naming the layer, the argument, its value and why (stock_layers.ts,
 * graph.ts's class resolution).
 */
import { convertGraph, KerasGraph, LayerJson, TensorRef } from '../../src/keras/graph';
import { convertStockLayer } from '../../src/keras/stock_layers';

const layer = (class_name: string, config: Record<string, unknown>, extra: Partial<LayerJson> = {}): LayerJson => ({
  class_name,
  name: 'l',
  config: { name: 'l', ...config },
  nodes: [],
  ...extra,
});

/** input -> the layer -> output. */
function graphOf(l: LayerJson): KerasGraph {
  return {
    name: 'm',
    layers: [
      { class_name: 'InputLayer', name: 'in', config: { batch_input_shape: [null, 4, 3] }, nodes: [] },
      { ...l, nodes: [{ args: [new TensorRef('in', 0, 0)], kwargs: {} }] },
    ],
    inputs: [new TensorRef('in', 0, 0)],
    outputs: [new TensorRef(l.name, 0, 0)],
  };
}

describe('stock layers', () => {
  it("LeakyReLU's slope: Keras 3's negative_slope, Keras 2's alpha, else Keras's default 0.3", () => {
    const slope = (config: Record<string, unknown>) => convertStockLayer(layer('LeakyReLU', config), 'm').config.alpha;
    expect([slope({ negative_slope: 0.1 }), slope({ alpha: 0.05 }), slope({})]).toEqual([0.1, 0.05, 0.3]);
  });

  it('GlobalAveragePooling1D keeps keepdims as given', () => {
    expect(convertStockLayer(layer('GlobalAveragePooling1D', { keepdims: true }), 'm').config).toEqual({
      name: 'l',
      data_format: 'channels_last',
      keepdims: true,
    });
  });

  it('GlobalAveragePooling1D loads as KerasGlobalAveragePooling1D with its data_format and keepdims', () => {
    expect(convertStockLayer(layer('GlobalAveragePooling1D', { data_format: 'channels_first' }), 'm')).toEqual({
      className: 'KerasGlobalAveragePooling1D',
      config: { name: 'l', data_format: 'channels_first', keepdims: false },
    });
  });

  it('Keras 3 silu is tfjs swish; InputLayer batch_shape becomes batch_input_shape; LoRA off is dropped', () => {
    expect(convertStockLayer(layer('Dense', { units: 2, activation: 'silu', lora_rank: null }), 'm').config).toEqual({
      name: 'l',
      units: 2,
      activation: 'swish',
    });
    expect(convertStockLayer(layer('InputLayer', { batch_shape: [null, 3], optional: false }), 'm').config).toEqual({
      name: 'l',
      batch_input_shape: [null, 3],
      optional: false,
    });
  });

  it.each([
    ['Conv1D', { filters: 2, kernel_size: [1], data_format: 'channels_first' }, 'data_format="channels_first"'],
    ['Conv1D', { filters: 2, kernel_size: [1], groups: 2 }, 'groups=2'],
    ['Dense', { units: 2, lora_rank: 4 }, 'lora_rank=4'],
    ['Dense', { units: 2, activation: 'hard_sigmoid' }, 'activation="hard_sigmoid"'],
    ['LayerNormalization', { epsilon: 1e-3, rms_scaling: true }, 'rms_scaling=true'],
    ['InputLayer', { batch_shape: [null, 3], optional: true }, 'optional=true'],
    ['Embedding', { input_dim: 3, output_dim: 2, sparse: true }, 'sparse=true'],
    ['GlobalMaxPooling1D', { keepdims: true }, 'keepdims=true'],
  ])('%s with %j is refused', (cls, config, shown) => {
    expect(() => convertStockLayer(layer(cls, config), 'm.keras')).toThrow(
      `m.keras: layer 'l' (${cls}) has ${shown}, which tfjs does not compute as Keras does: `,
    );
  });

  it('an argument the table does not know is refused, naming it', () => {
    expect(() => convertStockLayer(layer('Dense', { units: 2, fancy: 1 }), 'm.keras')).toThrow(
      "m.keras: layer 'l' (Dense) has argument fancy=1, which loadKerasModel does not know and cannot check; " +
        're-save without it, or open an issue with the file',
    );
  });

  it.each([
    ['LSTM', {}, 'tfjs has a LSTM layer, but loadKerasModel does not check its Keras arguments yet'],
    ['EinsumDense', {}, 'EinsumDense) is not supported by loadKerasModel: tfjs has no einsum layer'],
    ['Functional', {}, 'a nested Functional without a layers list (a subclassed model) has no graph to load'],
    ['Frobnicate', {}, 'unknown layer class Frobnicate from module keras.layers'],
  ])('class %s is refused', (cls, config, message) => {
    expect(() => convertGraph(graphOf(layer(cls, config, { module: 'keras.layers' })), 'm.keras')).toThrow(message);
  });

  it("a class from the user's module is refused with the customObjects line, even with a stock name", () => {
    expect(() => convertGraph(graphOf(layer('Dense', {}, { module: 'my.module' })), 'm.keras')).toThrow(
      'Dense from module my.module is a class of your own, which Keras itself loads only when given custom_objects; ' +
        'pass its tfjs equal: loadKerasModel(source, {customObjects: {Dense: MyLayer}})',
    );
  });

  it('a keras-hub class not registered names what to do; keras_nlp> is read as keras_hub>', () => {
    const hub = layer('TransformerEncoder', {}, { registered_name: 'keras_nlp>TransformerEncoder' });
    expect(() => convertGraph(graphOf({ ...hub, registered_name: 'keras_nlp>NoSuchLayer' }), 'm.keras')).toThrow(
      "class 'keras_nlp>NoSuchLayer' is not known to tfjs; this keras-hub layer is not supported yet",
    );
    expect(() => convertGraph(graphOf({ ...hub, registered_name: 'my_pkg>Thing' }), 'm.keras')).toThrow(
      "class 'my_pkg>Thing' is not known to tfjs; pass a tfjs layer class for it: " +
        "loadKerasModel(source, {customObjects: {'my_pkg>Thing': MyLayer}})",
    );
  });

  it('call arguments that would change the result are refused; neutral ones dropped', () => {
    const g = graphOf(layer('Dense', { units: 2 }));
    g.layers[1].nodes[0].kwargs = { training: false, mask: null };
    expect(convertGraph(g, 'm').topology.config.layers[1].inbound_nodes).toEqual([[['in', 0, 0, {}]]]);
    g.layers[1].nodes[0].kwargs = { training: true };
    expect(() => convertGraph(g, 'm')).toThrow(
      "m: layer 'l' (Dense) call 0: call argument training=true is not supported by loadKerasModel",
    );
  });
});
