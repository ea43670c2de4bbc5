/**
 * buildWithinBudget: a model built from an untrusted config allocates no weight beyond the budget,
 * leaves nothing replaced or allocated behind when it refuses, and names the layer at fault.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fileSystem } from '../../src/io/file_system';
import { ModelLoadError } from '../../src/io/load_error';
import { buildWithinBudget } from '../../src/io/weight_budget';
import { KERAS_WRITTEN } from '../helpers/keras_written';

/** A tfjs functional topology: input (B, 4) -> each layer in turn. */
function chain(...layers: { class_name: string; name: string; config: Record<string, unknown> }[]): object {
  const all = [
    { class_name: 'InputLayer', name: 'x', config: { name: 'x', batch_input_shape: [null, 4], dtype: 'float32' } },
    ...layers,
  ];
  return {
    class_name: 'Functional',
    config: {
      name: 'm',
      layers: all.map((layer, i) => ({
        ...layer,
        config: { ...layer.config, name: layer.name },
        inbound_nodes: i === 0 ? [] : [[[all[i - 1].name, 0, 0, {}]]],
      })),
      input_layers: [['x', 0, 0]],
      output_layers: [[all[all.length - 1].name, 0, 0]],
    },
  };
}
const dense = (name: string, units: number) => ({ class_name: 'Dense', name, config: { units } });
const budget = (limitBytes: number) => ({ file: 'model.json', limitBytes, holds: 'the weights it lists' });

describe('buildWithinBudget', () => {
  it('builds within the budget, every weight zeros (the file fills them)', async () => {
    const model = await buildWithinBudget(chain(dense('a', 3), dense('b', 2)), budget(4 * (12 + 3 + 6 + 2)));
    expect(model.weights.map((w) => w.shape)).toEqual([[4, 3], [3], [3, 2], [2]]);
    expect(
      model.weights.every((w) =>
        w
          .read()
          .dataSync()
          .every((v) => v === 0),
      ),
    ).toBe(true);
    model.dispose();
  });

  it('refuses the weight that passes the budget before allocating it, naming the layer and weight', async () => {
    const before = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    const build = buildWithinBudget(chain(dense('a', 3), dense('huge', 5e8)), budget(100));
    await expect(build).rejects.toThrow(ModelLoadError);
    await expect(buildWithinBudget(chain(dense('a', 3), dense('huge', 5e8)), budget(100))).rejects.toThrow(
      "model.json: its config gives layer 'huge' a weight 'kernel' of shape [3,500000000], which brings the " +
        "model's weights to 6.0 GB, more than the weights it lists; the config does not match its weights",
    );
    // Layer 'a's weights, made before the refusal, are disposed too.
    expect([tf.memory().numTensors, tf.memory().numBytes]).toEqual([before, bytes]);
  });

  it('restores what it replaced, refused or not (only replaced while tfjs deserializes, synchronously)', async () => {
    const prototype = tf.layers.Layer.prototype as unknown as Record<'addWeight' | 'apply', unknown>;
    const { addWeight, apply } = prototype;
    const classes = tf.serialization.SerializationMap.getMap().classNameMap;
    const refused = buildWithinBudget(chain(dense('huge', 5e8)), budget(100));
    // tfjs deserialized (and the budget refused) inside the call: nothing is replaced once it returns.
    expect([prototype.addWeight, prototype.apply]).toEqual([addWeight, apply]);
    expect(tf.serialization.SerializationMap.getMap().classNameMap).toBe(classes);
    await expect(refused).rejects.toThrow("layer 'huge'");
    (await buildWithinBudget(chain(dense('a', 3)), budget(1000))).dispose();
    expect(prototype.addWeight).toBe(addWeight);
    expect(tf.serialization.SerializationMap.getMap().classNameMap).toBe(classes);
  });

  it("names the layer whose config tfjs cannot build, keeping tfjs's text", async () => {
    const before = tf.memory().numTensors;
    // A regularizer given as a model class: tfjs fails deep inside with "undefined is not iterable".
    const odd = { class_name: 'Dense', name: 'odd', config: { units: 2, bias_regularizer: 'Functional' } };
    await expect(buildWithinBudget(chain(dense('a', 3), odd), budget(1000))).rejects.toThrow(
      /^model\.json: layer 'odd' \(Dense\): tfjs cannot build it from its config \(tfjs: .+\)$/,
    );
    await expect(buildWithinBudget(chain(dense('negative', -2)), budget(1000))).rejects.toThrow(
      "model.json: layer 'negative' (Dense): tfjs cannot build it from its config " +
        '(tfjs: Expected units to be a positive integer, but got -2.)',
    );
    // tfjs makes the weight's initial value, then fails on its name (and would leave that value behind).
    await expect(buildWithinBudget(chain(dense('/etc/passwd', 2)), budget(1000))).rejects.toThrow(
      "model.json: layer '/etc/passwd' (Dense): tfjs cannot build it from its config (tfjs: Not a valid tensor name",
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it("frees a shared layer's weights on dispose (tfjs counts one reference per call)", async () => {
    const topology = chain(dense('a', 4), dense('b', 4)) as { config: { layers: { inbound_nodes: unknown[] }[] } };
    // Layer 'a' called a second time, on its own output: 'b' reads that second call.
    topology.config.layers[1].inbound_nodes.push([['a', 0, 0, {}]]);
    topology.config.layers[2].inbound_nodes = [[['a', 1, 0, {}]]];
    const before = tf.memory().numTensors;
    const model = await buildWithinBudget(topology, budget(1000));
    expect(model.weights).toHaveLength(4);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("the file:// route: tfjs's own build, under the same budget and checks", () => {
  let folder: string;
  const json = () => path.join(folder, 'model.json');
  /** The saved model.json with layer `name`'s units set to `units` (its weights manifest unchanged). */
  const withUnits = (name: string, units: number) => {
    const model = JSON.parse(fs.readFileSync(json(), 'utf8'));
    model.modelTopology.config.layers.find((l: { name: string }) => l.name === name).config.units = units;
    fs.writeFileSync(json(), JSON.stringify(model));
  };
  const prototype = tf.layers.Layer.prototype as unknown as Record<'addWeight' | 'apply', unknown>;
  const { addWeight, apply } = prototype;

  beforeEach(async () => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'armed-'));
    const model = await buildWithinBudget(chain(dense('a', 3), dense('b', 2)), budget(1000));
    await model.save(`file://${folder}`);
    model.dispose();
  });
  afterEach(() => fs.rmSync(folder, { recursive: true, force: true }));

  it('loads, with nothing left replaced', async () => {
    const model = await tf.loadLayersModel(`file://${json()}`);
    expect(model.weights.map((w) => w.shape)).toEqual([[4, 3], [3], [3, 2], [2]]);
    model.dispose();
    expect([prototype.addWeight, prototype.apply]).toEqual([addWeight, apply]);
  });

  it("refuses, inside tfjs's build, a weight beyond what the manifest lists, leaving nothing behind", async () => {
    withUnits('b', 30);
    const before = tf.memory().numTensors;
    // Were tfjs's build outside the checks, tfjs would build it and fail later with "Shape mismatch".
    await expect(tf.loadLayersModel(`file://${json()}`)).rejects.toThrow(
      `${json()}: its config gives layer 'b' a weight 'kernel' of shape [3,30], which brings the model's weights to ` +
        '420 bytes, more than the 92 bytes its weightsManifest lists; the config does not match its weights',
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(tf.memory().numTensors).toBe(before);
    expect([prototype.addWeight, prototype.apply]).toEqual([addWeight, apply]);
  });

  it('names the layer tfjs cannot build, and a weight of another shape', async () => {
    withUnits('b', -2);
    const before = tf.memory().numTensors;
    await expect(tf.loadLayersModel(`file://${json()}`)).rejects.toThrow(
      `${json()}: layer 'b' (Dense): tfjs cannot build it from its config (tfjs: Expected units to be a positive`,
    );
    withUnits('b', 1);
    await expect(tf.loadLayersModel(`file://${json()}`)).rejects.toThrow(
      `${json()}: weight 'b/kernel' has shape [3,2] in its weightsManifest but [3,1] in the model its config builds`,
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(tf.memory().numTensors).toBe(before);
  });

  it("frees a shared layer's weights on dispose, tfjs's build too", async () => {
    const topology = chain(dense('a', 4), dense('b', 4)) as { config: { layers: { inbound_nodes: unknown[] }[] } };
    topology.config.layers[1].inbound_nodes.push([['a', 0, 0, {}]]);
    topology.config.layers[2].inbound_nodes = [[['a', 1, 0, {}]]];
    const shared = await buildWithinBudget(topology, budget(1000));
    await shared.save(`file://${folder}`);
    shared.dispose();
    const before = tf.memory().numTensors;
    (await tf.loadLayersModel(`file://${json()}`)).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('compiles a trainingConfig, and refuses one tfjs cannot compile naming the file', async () => {
    const model = JSON.parse(fs.readFileSync(json(), 'utf8'));
    const training = {
      loss: 'mean_squared_error',
      metrics: ['mae'],
      optimizer_config: { class_name: 'Adam', config: { learning_rate: 0.001, beta1: 0.9, beta2: 0.999 } },
    };
    fs.writeFileSync(json(), JSON.stringify({ ...model, trainingConfig: training }));
    const compiled = await tf.loadLayersModel(`file://${json()}`);
    expect(compiled.optimizer?.getClassName()).toBe('Adam');
    compiled.dispose();
    const before = tf.memory().numTensors;
    fs.writeFileSync(json(), JSON.stringify({ ...model, trainingConfig: { ...training, loss: 'no_such_loss' } }));
    await expect(tf.loadLayersModel(`file://${json()}`)).rejects.toThrow(
      `${json()}: its trainingConfig is not one tfjs can compile (tfjs: Unknown loss noSuchLoss`,
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a model that leaves out a layer its config builds, leaving nothing behind', async () => {
    // tensorflowjs_converter's model.json of a tf.keras 2.15 model: `attention(query, value=norm_2)`,
    // where tfjs's loader drops the keyword argument's tensor and so the layer that makes it.
    const file = path.join(KERAS_WRITTEN, 'k2.15_mask_tfjs', 'model.json');
    const before = tf.memory().numTensors;
    await expect(tf.loadLayersModel(`file://${file}`)).rejects.toThrow(
      `${file}: no output of the model tfjs builds depends on layer 'layer_normalization_2' (LayerNormalization) ` +
        "of its config (tfjs's loader drops a tensor passed as a keyword argument",
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(tf.memory().numTensors).toBe(before);
    expect([prototype.addWeight, prototype.apply]).toEqual([addWeight, apply]);
  });

  it("wraps tfjs's errors about the model as a whole, naming the file", async () => {
    const model = JSON.parse(fs.readFileSync(json(), 'utf8'));
    model.modelTopology.config.output_layers = [['b', 0, 3]]; // 'b' has one output tensor
    fs.writeFileSync(json(), JSON.stringify(model));
    await expect(tf.loadLayersModel(`file://${json()}`)).rejects.toThrow(
      `${json()}: tfjs could not build the model from its config (tfjs: `,
    );
  });

  it('hands other readers of the artifacts what the folder holds, and replaces nothing for long', async () => {
    const artifacts = await fileSystem(json()).load();
    expect((artifacts.modelTopology as { class_name: string }).class_name).toBe('Functional');
    expect(artifacts.weightSpecs).toHaveLength(4);
    await new Promise((resolve) => queueMicrotask(() => resolve(undefined)));
    expect([prototype.addWeight, prototype.apply]).toEqual([addWeight, apply]);
  });
});
