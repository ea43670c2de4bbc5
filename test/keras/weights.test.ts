/**
 * Putting a weights file's values into a model (src/keras/weights.ts), on small files written here
 * with the package's HDF5 writer: Keras 3's group names, the values each weight gets, the layouts
 * tf.keras 2 writes (Windows separators, private sub-layer names), and every refusal's message.
 * Loading real Keras files is in fixtures.test.ts and keras_written.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { Hdf5File } from '../../src/keras/hdf5';
import { Hdf5Writer } from '../../src/keras/hdf5_writer';
import { assignH5Weights, assignKeras3Weights, keras3GroupNames, toSnakeCase } from '../../src/keras/weights';

/** x (3) -> hidden: Dense(2) -> drop: Dropout -> out: Dense(2, no bias). */
function smallModel(hiddenBias = true): tf.LayersModel {
  const x = tf.input({ shape: [3], name: 'x' });
  const hidden = tf.layers.dense({ units: 2, useBias: hiddenBias, name: 'hidden' }).apply(x);
  const drop = tf.layers.dropout({ rate: 0.5, name: 'drop' }).apply(hidden);
  const out = tf.layers.dense({ units: 2, useBias: false, name: 'out' }).apply(drop) as tf.SymbolicTensor;
  return tf.model({ inputs: x, outputs: out });
}

/** Distinct values, so that a weight given another's values (or transposed ones) shows. */
const KERNEL = Float32Array.from([1, 2, 3, 4, 5, 6]); // (3, 2)
const BIAS = Float32Array.from([7, 8]);
const OUT = Float32Array.from([9, 10, 11, 12]); // (2, 2)

/** Keras 3's group of each layer of smallModel. */
const GROUPS = new Map([
  ['x', 'input_layer'],
  ['hidden', 'dense'],
  ['drop', 'dropout'],
  ['out', 'dense_1'],
]);

function file(build: (w: Hdf5Writer) => void, name = 'model.weights.h5'): Hdf5File {
  const writer = new Hdf5Writer();
  build(writer);
  return new Hdf5File(writer.toBytes(), name);
}

/** A Keras 3 weights file of smallModel; `skip` leaves datasets out, `root` replaces `layers/`. */
function keras3File(edit: (w: Hdf5Writer) => void = () => undefined, skip: string[] = [], root = 'layers/'): Hdf5File {
  return file((w) => {
    const put = (path: string, shape: number[], values: Float32Array) => {
      if (!skip.includes(path)) w.dataset(`${root}${path}`, shape, values);
    };
    put('dense/vars/0', [3, 2], KERNEL);
    put('dense/vars/1', [2], BIAS);
    put('dense_1/vars/0', [2, 2], OUT);
    edit(w);
  });
}

const values = (model: tf.LayersModel, layer: string) =>
  model
    .getLayer(layer)
    .getWeights()
    .map((w) => Array.from(w.dataSync()));

/** Runs `load` on a new model, expects `message`, and checks that no weight was changed. */
function expectRefused(load: (model: tf.LayersModel) => void, message: string, model = smallModel()): void {
  const before = ['hidden', 'out'].map((l) => values(model, l));
  expect(() => load(model)).toThrow(message);
  expect(['hidden', 'out'].map((l) => values(model, l))).toEqual(before);
  model.dispose();
}

describe('Keras 3 group names', () => {
  it.each([
    // Each expected name is Keras's naming.to_snake_case of the class (keras/src/utils/naming.py).
    ['Dense', 'dense'],
    ['MultiHeadAttention', 'multi_head_attention'],
    ['Conv1D', 'conv1d'],
    ['ReLU', 're_lu'],
    ['TFOpLambda', 'tf_op_lambda'],
    ['HTTPServerLayer', 'http_server_layer'],
    ['getHTTPResponse2Code', 'get_http_response2_code'],
    ['My-Layer.v2', 'my_layerv2'],
  ])('toSnakeCase(%s) is %s', (name, snake) => {
    expect(toSnakeCase(name)).toBe(snake);
  });

  it('numbers the layers of a class in order, the first bare, and skips operations', () => {
    const groups = keras3GroupNames([
      { name: 'in', kerasClass: 'InputLayer', isOperation: false },
      { name: 'a', kerasClass: 'Dense', isOperation: false },
      { name: 'plus', kerasClass: 'Add', isOperation: true },
      { name: 'norm', kerasClass: 'LayerNormalization', isOperation: false },
      { name: 'b', kerasClass: 'Dense', isOperation: false },
      { name: 'c', kerasClass: 'Dense', isOperation: false },
    ]);
    expect([...groups]).toEqual([
      ['in', 'input_layer'],
      ['a', 'dense'],
      ['norm', 'layer_normalization'],
      ['b', 'dense_1'],
      ['c', 'dense_2'],
    ]);
  });
});

describe('assignKeras3Weights', () => {
  it('gives each weight its dataset, in its shape', () => {
    const model = smallModel();
    assignKeras3Weights(model, GROUPS, keras3File(), {});
    expect(values(model, 'hidden')).toEqual([Array.from(KERNEL), Array.from(BIAS)]);
    expect(values(model, 'out')).toEqual([Array.from(OUT)]);
    expect(model.getLayer('hidden').getWeights()[0].shape).toEqual([3, 2]);
    model.dispose();
  });

  it("reads a file saved on Windows by tf.keras 2.13-2.15 (root groups named 'layers\\\\dense')", () => {
    const model = smallModel();
    assignKeras3Weights(model, GROUPS, keras3File(undefined, [], 'layers\\'), {});
    expect(values(model, 'hidden')).toEqual([Array.from(KERNEL), Array.from(BIAS)]);
    expect(values(model, 'out')).toEqual([Array.from(OUT)]);
    model.dispose();
  });

  it("finds a sub-layer's weights under tf.keras 2's private names (a leading '_' on the groups, not on vars)", () => {
    const model = smallModel();
    const paths = ['attention/query/vars/0', '_attention/key/vars/0'];
    Object.assign(model.getLayer('hidden'), { kerasWeightPaths: () => paths });
    const h5 = keras3File(
      (w) => {
        w.dataset('layers/dense/_attention/_query/vars/0', [3, 2], KERNEL);
        w.dataset('layers/dense/_attention/_key/vars/0', [2], BIAS);
      },
      ['dense/vars/0', 'dense/vars/1'],
    );
    assignKeras3Weights(model, GROUPS, h5, {});
    expect(values(model, 'hidden')).toEqual([Array.from(KERNEL), Array.from(BIAS)]);
    model.dispose();
  });

  it("ignores what the file holds outside layers/ (a compiled model's optimizer variables)", () => {
    const model = smallModel();
    const h5 = keras3File((w) => {
      w.dataset('optimizer/vars/0', [1], BIAS.subarray(0, 1));
      w.dataset('vars/0', [1], BIAS.subarray(0, 1));
    });
    assignKeras3Weights(model, GROUPS, h5, {});
    expect(values(model, 'out')).toEqual([Array.from(OUT)]);
    model.dispose();
  });

  it("reads nothing for a layer without a group (not a group named 'undefined')", () => {
    const noDropGroup = new Map([...GROUPS].filter(([name]) => name !== 'drop'));
    expectRefused(
      (model) =>
        assignKeras3Weights(
          model,
          noDropGroup,
          keras3File((w) => w.dataset('layers/undefined/vars/0', [1], new Float32Array(1))),
          {},
        ),
      'model.weights.h5: the weights file holds weights for layers/undefined, which no layer of the config matches',
    );
  });

  it('refuses weights for a layer that has none', () => {
    expectRefused(
      (model) =>
        assignKeras3Weights(
          model,
          GROUPS,
          keras3File((w) => {
            w.dataset('layers/dropout/vars/0', [1], new Float32Array(1));
            w.dataset('layers/dropout/vars/1', [1], new Float32Array(1));
          }),
          {},
        ),
      "model.weights.h5: layer 'drop' has no weights in its config, but the file holds 2 for it under " +
        'layers/dropout (vars/0, vars/1); the file does not match the config',
    );
  });

  it('refuses a layer whose group is missing, or that has no group', () => {
    expectRefused(
      (model) => assignKeras3Weights(model, GROUPS, keras3File(undefined, ['dense_1/vars/0']), {}),
      "model.weights.h5: the weights of layer 'out' are missing: no group layers/dense_1 in the weights file " +
        '(Keras names the groups by class and counter; the file does not match the config)',
    );
    const noGroup = new Map([...GROUPS].filter(([name]) => name !== 'out'));
    expectRefused(
      (model) => assignKeras3Weights(model, noGroup, keras3File(undefined, ['dense_1/vars/0']), {}),
      "model.weights.h5: the weights of layer 'out' are missing: no group layers/undefined in the weights file",
    );
  });

  it('refuses a group holding more or fewer weights than the layer has, listing them', () => {
    expectRefused(
      (model) =>
        assignKeras3Weights(
          model,
          GROUPS,
          keras3File((w) => w.dataset('layers/dense/vars/2', [2], BIAS)),
          {},
        ),
      "model.weights.h5: layer 'hidden' (Dense) has 2 weights, but layers/dense holds 3 (vars/0, vars/1, vars/2); " +
        'the weight count does not match the config',
    );
    expectRefused(
      (model) => assignKeras3Weights(model, GROUPS, keras3File(undefined, ['dense/vars/1']), {}),
      "model.weights.h5: layer 'hidden' (Dense) has 2 weights, but layers/dense holds 1 (vars/0); the weight count",
    );
  });

  it('refuses a layer whose own weight paths are more or fewer than its weights', () => {
    const model = smallModel();
    Object.assign(model.getLayer('hidden'), { kerasWeightPaths: () => ['vars/0'] });
    expectRefused(
      (m) => assignKeras3Weights(m, GROUPS, keras3File(), {}),
      "model.weights.h5: layer 'hidden' (Dense) has 2 weights, but layers/dense holds 2 (vars/0, vars/1)",
      model,
    );
  });

  it('refuses a weight missing from its group, naming what the group holds', () => {
    expectRefused(
      (model) =>
        assignKeras3Weights(
          model,
          GROUPS,
          keras3File((w) => w.dataset('layers/dense/vars/7', [2], BIAS), ['dense/vars/1']),
          {},
        ),
      "model.weights.h5: weight hidden/bias of layer 'hidden' is missing (no layers/dense/vars/1); " +
        'the group holds vars/0, vars/7',
    );
  });

  it('refuses a group that no layer claims', () => {
    expectRefused(
      (model) =>
        assignKeras3Weights(
          model,
          GROUPS,
          keras3File((w) => w.dataset('layers/extra/vars/0', [1], BIAS.subarray(1))),
          {},
        ),
      'model.weights.h5: the weights file holds weights for layers/extra, which no layer of the config matches',
    );
  });

  it('refuses a weight of another shape, even with the same size or the same leading dimensions', () => {
    const transposed = keras3File((w) => w.dataset('layers/dense/vars/0', [2, 3], KERNEL), ['dense/vars/0']);
    expectRefused(
      (model) => assignKeras3Weights(model, GROUPS, transposed, {}),
      "model.weights.h5: layers/dense/vars/0 has shape [2,3] but layer 'hidden' needs [3,2] for hidden/kernel; " +
        'the weights do not match the config',
    );
    const flat = keras3File((w) => w.dataset('layers/dense/vars/0', [3], KERNEL.subarray(0, 3)), ['dense/vars/0']);
    expectRefused(
      (model) => assignKeras3Weights(model, GROUPS, flat, {}),
      "model.weights.h5: layers/dense/vars/0 has shape [3] but layer 'hidden' needs [3,2] for hidden/kernel",
    );
  });

  it('refuses non-finite values unless told to warn, and then loads them', () => {
    const nan = keras3File((w) => w.dataset('layers/dense/vars/1', [2], Float32Array.from([NaN, 1])), ['dense/vars/1']);
    expectRefused(
      (model) => assignKeras3Weights(model, GROUPS, nan, {}),
      "model.weights.h5: layers/dense/vars/1 (weight hidden/bias of layer 'hidden') holds 1 non-finite value(s)",
    );
    const model = smallModel();
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    assignKeras3Weights(model, GROUPS, nan, { nonFiniteWeights: 'warn' });
    expect(warn).toHaveBeenCalledTimes(1);
    warn.mockRestore();
    expect(values(model, 'hidden')[1]).toEqual([NaN, 1]);
    model.dispose();
  });
});

/** A full-model .h5 of smallModel(false): one weight per layer, so `weight_names` is one string. */
function h5File(edit: (w: Hdf5Writer) => void = () => undefined, skip: string[] = []): Hdf5File {
  return file((w) => {
    for (const [layer, name, shape, data] of [
      ['hidden', 'hidden/kernel:0', [3, 2], KERNEL],
      ['out', 'out/kernel:0', [2, 2], OUT],
    ] as const) {
      if (skip.includes(layer)) continue;
      w.attribute(`model_weights/${layer}`, 'weight_names', name);
      w.dataset(`model_weights/${layer}/${name}`, [...shape], data);
    }
    w.group('model_weights/x');
    w.group('model_weights/drop');
    edit(w);
  }, 'model.h5');
}

/** `h5` with the weight_names attribute of some groups replaced (the writer writes one string, not lists). */
function withWeightNames(h5: Hdf5File, names: Record<string, unknown>): Hdf5File {
  const attrs = (p: string) => (p in names ? { weight_names: names[p] } : h5.attrs(p));
  return Object.assign(Object.create(h5) as Hdf5File, { attrs });
}

/** A full-model .h5 of smallModel(true) whose 'hidden' lists its kernel and bias. */
function h5WithBias(): Hdf5File {
  const h5 = h5File((w) => w.dataset('model_weights/hidden/hidden/bias:0', [2], BIAS));
  return withWeightNames(h5, { 'model_weights/hidden': ['hidden/kernel:0', 'hidden/bias:0'] });
}

describe('assignH5Weights', () => {
  it('gives each listed weight its dataset, in the order listed', () => {
    const model = smallModel(true);
    assignH5Weights(model, h5WithBias(), {});
    expect(values(model, 'hidden')).toEqual([Array.from(KERNEL), Array.from(BIAS)]);
    expect(values(model, 'out')).toEqual([Array.from(OUT)]);
    model.dispose();
  });

  it('refuses a list of weights of another length, naming them, and weight_names that are not strings', () => {
    expectRefused(
      (model) => assignH5Weights(model, h5WithBias(), {}),
      "model.h5: layer 'hidden' (Dense) has 1 weights, but model_weights/hidden lists 2 (hidden/kernel:0, " +
        'hidden/bias:0); the weight count does not match the config',
      smallModel(false),
    );
    expectRefused(
      (model) =>
        assignH5Weights(model, withWeightNames(h5File(), { 'model_weights/hidden': ['hidden/kernel:0', 3] }), {}),
      'model.h5: model_weights/hidden has a weight_names attribute that is not a list of strings',
      smallModel(false),
    );
  });

  it("reads a nested model's group in Keras's order: its layers' trainable weights, then the non-trainable", () => {
    const model = smallModel(true);
    model.getLayer('hidden').trainable = false;
    const h5 = file((w) => {
      w.group('model_weights/x');
      w.dataset('model_weights/inner/hidden/kernel:0', [3, 2], KERNEL);
      w.dataset('model_weights/inner/hidden/bias:0', [2], BIAS);
      w.dataset('model_weights/inner/out/kernel:0', [2, 2], OUT);
    }, 'model.h5');
    const names = { 'model_weights/inner': ['out/kernel:0', 'hidden/kernel:0', 'hidden/bias:0'] };
    assignH5Weights(model, withWeightNames(h5, names), {}, new Map([['inner', ['hidden', 'drop', 'out']]]));
    expect(values(model, 'hidden')).toEqual([Array.from(KERNEL), Array.from(BIAS)]);
    expect(values(model, 'out')).toEqual([Array.from(OUT)]);
    model.dispose();
    expectRefused(
      (m) => assignH5Weights(m, h5File(undefined, ['hidden', 'out']), {}, new Map([['inner', ['hidden', 'out']]])),
      "model.h5: the weights of nested model 'inner' are missing: no group model_weights/inner in the file",
      smallModel(false),
    );
  });

  it('gives each weight the dataset its weight_names lists', () => {
    const model = smallModel(false);
    // Groups without weight_names and top_level_model_weights hold nothing of a layer's.
    const h5 = h5File((w) => {
      w.group('model_weights/unused');
      w.attribute('model_weights/top_level_model_weights', 'weight_names', 'step:0');
    });
    assignH5Weights(model, h5, {});
    expect(values(model, 'hidden')).toEqual([Array.from(KERNEL)]);
    expect(values(model, 'out')).toEqual([Array.from(OUT)]);
    model.dispose();
  });

  it('refuses a file without model_weights', () => {
    expectRefused(
      (model) =>
        assignH5Weights(
          model,
          file((w) => w.group('other'), 'model.h5'),
          {},
        ),
      'model.h5: the .h5 file has no model_weights group',
      smallModel(false),
    );
  });

  it('refuses weights listed for a layer that has none', () => {
    expectRefused(
      (model) =>
        assignH5Weights(
          model,
          h5File((w) => w.attribute('model_weights/drop', 'weight_names', 'drop/x:0')),
          {},
        ),
      "model.h5: layer 'drop' (Dropout) has no weights in its config, but model_weights/drop lists 1",
      smallModel(false),
    );
  });

  it('refuses a layer whose group is missing, or lists another count of weights', () => {
    expectRefused(
      (model) => assignH5Weights(model, h5File(undefined, ['out']), {}),
      "model.h5: the weights of layer 'out' (Dense) are missing: no group model_weights/out in the file",
      smallModel(false),
    );
    expectRefused(
      (model) => assignH5Weights(model, h5File(), {}),
      "model.h5: layer 'hidden' (Dense) has 2 weights, but model_weights/hidden lists 1 (hidden/kernel:0); the " +
        'weight count does not match the config',
      smallModel(true),
    );
    expectRefused(
      (model) =>
        assignH5Weights(
          model,
          h5File((w) => w.group('model_weights/out'), ['out']),
          {},
        ),
      "model.h5: layer 'out' (Dense) has 1 weights, but model_weights/out lists 0 (none)",
      smallModel(false),
    );
  });

  it('refuses a listed weight without its dataset', () => {
    const h5 = file((w) => {
      w.attribute('model_weights/hidden', 'weight_names', 'hidden/kernel:0');
      w.attribute('model_weights/out', 'weight_names', 'out/kernel:0');
      w.dataset('model_weights/hidden/hidden/kernel:0', [3, 2], KERNEL);
    }, 'model.h5');
    expectRefused(
      (model) => assignH5Weights(model, h5, {}),
      "model.h5: weight out/kernel of layer 'out' (Dense) is missing (no model_weights/out/out/kernel:0)",
      smallModel(false),
    );
  });

  it('refuses weights for a layer the config does not have', () => {
    const extra = h5File((w) => {
      w.attribute('model_weights/ghost', 'weight_names', 'ghost/kernel:0');
      w.dataset('model_weights/ghost/ghost/kernel:0', [1], BIAS.subarray(0, 1));
    });
    expectRefused(
      (model) => assignH5Weights(model, extra, {}),
      "model.h5: model_weights/ghost holds weights, but the config has no layer 'ghost'",
      smallModel(false),
    );
  });

  it("reads a nested model's weights from the nested model's group, not its layers'", () => {
    const model = smallModel(false);
    const h5 = file((w) => {
      w.group('model_weights/x');
      w.group('model_weights/drop');
      // weight_names is one string here (the writer writes string attributes): the nested group
      // lists one weight, so the nested model is 'out' alone; 'hidden' stays a layer of its own.
      w.attribute('model_weights/hidden', 'weight_names', 'hidden/kernel:0');
      w.dataset('model_weights/hidden/hidden/kernel:0', [3, 2], KERNEL);
      w.attribute('model_weights/inner', 'weight_names', 'out/kernel:0');
      w.dataset('model_weights/inner/out/kernel:0', [2, 2], OUT);
    }, 'model.h5');
    assignH5Weights(model, h5, {}, new Map([['inner', ['out']]]));
    expect(values(model, 'out')).toEqual([Array.from(OUT)]);
    expect(values(model, 'hidden')).toEqual([Array.from(KERNEL)]);
    model.dispose();
  });
});
