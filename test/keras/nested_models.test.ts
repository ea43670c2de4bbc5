/**
 * Nested models inlined into the outer graph (nested_models.ts): calls resolved as tf.keras and
 * Keras 3 number them, shared layers, weight groups, and the errors. Loading real files with
 * nested models against Keras is in keras_written.test.ts (k3_nested, k2.15_nested, tfk2.21_nested).
 */
import { TensorRef } from '../../src/keras/graph';
import { parseKeras2Config } from '../../src/keras/keras2_config';
import { parseKeras3Config } from '../../src/keras/keras3_config';
import { inlineNestedModels, MAX_INLINED_CALLS } from '../../src/keras/nested_models';

const input = (name: string) => ({ class_name: 'InputLayer', config: { name, batch_input_shape: [null, 4] } });
const dense = (name: string, inbound: unknown[] = []) => ({
  class_name: 'Dense',
  name,
  config: { name, units: 4 },
  inbound_nodes: inbound,
});

/** A tf.keras Sequential `ffn` (InputLayer + dense) as a layer called on each of `calls`. */
const ffn = (calls: string[], inner = 'dense') => ({
  class_name: 'Sequential',
  name: 'ffn',
  config: { name: 'ffn', layers: [input('ffn_input'), dense(inner)] },
  inbound_nodes: calls.map((c) => [[c, 0, 0, {}]]),
});

/** A tf.keras functional model: x -> ffn -> ffn -> `tail`, outputs as given. */
function keras2Model(layers: unknown[], outputs: unknown[]) {
  return {
    class_name: 'Functional',
    config: {
      name: 'outer',
      layers: [{ ...input('x'), name: 'x', inbound_nodes: [] }, ...layers],
      input_layers: [['x', 0, 0]],
      output_layers: outputs,
    },
  };
}

const refs = (node: { args: unknown[] }) => (node.args as TensorRef[]).map((r) => r.toJSON());

describe('nested models', () => {
  it("tf.keras: a Sequential called twice shares its layers; its calls count from 1 (the model's own first)", () => {
    const config = keras2Model(
      [ffn(['x', 'x2']), dense('x2', [[['ffn', 1, 0, {}]]]), dense('out', [[['ffn', 2, 0, {}]]])],
      [
        ['out', 0, 0],
        ['ffn', 1, 0],
      ],
    );
    const flat = inlineNestedModels(parseKeras2Config(config, 'm.h5'), 'm.h5');
    const shared = flat.layers.find((l) => l.name === 'dense')!;
    expect(shared.nodes.map(refs)).toEqual([[['x', 0, 0]], [['x2', 0, 0]]]);
    expect(refs(flat.layers.find((l) => l.name === 'x2')!.nodes[0])).toEqual([['dense', 0, 0]]);
    expect(refs(flat.layers.find((l) => l.name === 'out')!.nodes[0])).toEqual([['dense', 1, 0]]);
    expect(flat.outputs.map((r) => r.toJSON())).toEqual([
      ['out', 0, 0],
      ['dense', 0, 0],
    ]);
    expect(flat.layers.map((l) => l.name)).toEqual(['x', 'dense', 'x2', 'out']);
    // .keras: the Sequential's group, its InputLayer not counted; .h5: the nested model's group.
    expect(flat.kerasGroups.get('dense')).toBe('sequential/layers/dense');
    expect(flat.kerasGroups.get('out')).toBe('dense_1');
    expect(flat.h5Groups).toEqual(new Map([['ffn', ['dense']]]));
  });

  it("an inner layer named as an outer one is renamed '<nested model>/<name>'", () => {
    const config = keras2Model([ffn(['x'], 'out'), dense('out', [[['ffn', 1, 0, {}]]])], [['out', 0, 0]]);
    const flat = inlineNestedModels(parseKeras2Config(config, 'm.h5'), 'm.h5');
    expect(flat.layers.map((l) => l.name)).toEqual(['x', 'ffn/out', 'out']);
    expect(refs(flat.layers[2].nodes[0])).toEqual([['ffn/out', 0, 0]]);
  });

  it('Keras 3: call arguments count from 0, the outputs of a nested functional model from 1', () => {
    const tensor = (layer: string, node = 0) => ({
      class_name: '__keras_tensor__',
      config: { keras_history: [layer, node, 0] },
    });
    const block = {
      module: 'keras.src.models.functional',
      class_name: 'Functional',
      name: 'block',
      config: {
        name: 'block',
        layers: [
          { class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_shape: [null, 4] }, inbound_nodes: [] },
          { ...dense('inner'), inbound_nodes: [{ args: [tensor('in')], kwargs: {} }] },
        ],
        input_layers: ['in', 0, 0],
        output_layers: ['inner', 0, 0],
      },
      inbound_nodes: [{ args: [tensor('x')], kwargs: { mask: null } }],
    };
    const config = {
      class_name: 'Functional',
      config: {
        name: 'outer',
        layers: [
          { class_name: 'InputLayer', name: 'x', config: { name: 'x', batch_shape: [null, 4] }, inbound_nodes: [] },
          block,
          { ...dense('out'), inbound_nodes: [{ args: [tensor('block', 0)], kwargs: {} }] },
        ],
        input_layers: [['x', 0, 0]],
        output_layers: [
          ['out', 0, 0],
          ['block', 1, 0],
        ],
      },
    };
    const flat = inlineNestedModels(parseKeras3Config(config, 'm.keras'), 'm.keras');
    expect(refs(flat.layers.find((l) => l.name === 'out')!.nodes[0])).toEqual([['inner', 0, 0]]);
    expect(flat.outputs.map((r) => r.toJSON())).toEqual([
      ['out', 0, 0],
      ['inner', 0, 0],
    ]);
    // A functional model's InputLayer is one of its layers (a group, no weights).
    expect(flat.kerasGroups.get('inner')).toBe('functional/layers/dense');
  });

  it('refuses calls it cannot inline, naming the nested model', () => {
    const load =
      (layers: unknown[], outputs: unknown[] = [['out', 0, 0]]) =>
      () =>
        inlineNestedModels(parseKeras2Config(keras2Model(layers, outputs), 'm.h5'), 'm.h5');
    expect(load([ffn(['x']), dense('out', [[['ffn', 3, 0, {}]]])])).toThrow(
      "m.h5: refers to call 3 of the nested model 'ffn', which is called 1 time(s) (counted from 1)",
    );
    const twoInputs = {
      ...ffn([]),
      inbound_nodes: [
        [
          ['x', 0, 0, {}],
          ['x', 0, 0, {}],
        ],
      ],
    };
    expect(load([twoInputs, dense('out', [[['ffn', 1, 0, {}]]])])).toThrow(
      "m.h5: layer 'ffn' (a nested Sequential) call 0: the nested model is called on 2 tensor(s); it has 1 input(s)",
    );
    const training = { ...ffn([]), inbound_nodes: [[['x', 0, 0, { training: true }]]] };
    expect(load([training, dense('out', [[['ffn', 1, 0, {}]]])])).toThrow(
      'call 0: training=true is not supported (it changes the result)',
    );
  });

  it(`refuses nesting that would make more than ${MAX_INLINED_CALLS} layer calls, at once`, () => {
    // Level k is a functional model calling level k - 1 twice (sub(sub(x))): 2^17 calls of the innermost Dense.
    let model: Record<string, unknown> = { ...ffn([]), name: 'level0' };
    for (let level = 1; level <= 17; level++) {
      const sub = { ...model, inbound_nodes: [[[`in${level}`, 0, 0, {}]], [[model.name, 1, 0, {}]]] };
      model = {
        class_name: 'Functional',
        name: `level${level}`,
        config: {
          name: `level${level}`,
          layers: [{ ...input(`in${level}`), name: `in${level}`, inbound_nodes: [] }, sub],
          input_layers: [[`in${level}`, 0, 0]],
          output_layers: [[model.name, 2, 0]],
        },
      };
    }
    const outer = keras2Model(
      [{ ...model, inbound_nodes: [[['x', 0, 0, {}]]] }, dense('out', [[['level17', 1, 0, {}]]])],
      [['out', 0, 0]],
    );
    const started = Date.now();
    expect(() => inlineNestedModels(parseKeras2Config(outer, 'm.h5'), 'm.h5')).toThrow(
      `inlining the nested models makes more than ${MAX_INLINED_CALLS} layer calls; a model this deep is not supported`,
    );
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
