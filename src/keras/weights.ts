/**
 * Putting the weights of a Keras file into the layers of the model built from its config.
 *
 * Keras 3 weights file (`model.weights.h5` in a `.keras`; keras/src/saving/saving_lib.py):
 * `_save_state` walks the model, and for a functional model's `layers` list
 * (`_save_container_state`) names each layer's group NOT by the layer's name but by its class:
 * `naming.to_snake_case(type(layer).__name__)`, the first of a class bare (`dense`), the next ones
 * with a counter (`dense_1`, `dense_2`), in the order of `model.layers`, which includes the
 * InputLayer (`input_layer`) and excludes Keras operations (`x + y` is an operation, not a layer,
 * and has no group). A layer's own variables are `layers/<group>/vars/0..n-1` in creation order;
 * sub-layers add their own groups below (MultiHeadAttention: `query_dense/vars/0`, ...), which
 * such a layer lists with `kerasWeightPaths()` (one path per element of `layer.weights`).
 * Layers without that method have `vars/<i>` for `layer.weights[i]` (Dense, LayerNormalization,
 * Conv1D, Embedding, BatchNormalization: Keras and tfjs create their weights in the same order).
 *
 * Full-model `.h5` (Keras 2: tf_keras/saving/legacy/hdf5_format.py; Keras 3:
 * keras/src/legacy/saving/legacy_h5_format.py): `model_weights/<layer name>` with a
 * `weight_names` attribute listing the layer's weights in `layer.weights` order
 * (trainable then non-trainable), each a dataset at `model_weights/<layer name>/<weight name>`
 * (Keras 2 names end in `:0`; Keras 3 writes the variable path without it).
 *
 * Every weight is checked (present, shape equal to the layer's, count equal, finite) before any
 * is assigned, so a model is either loaded whole or not at all.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelLoadOptions } from '../io/limits';
import { countNonFinite, reportNonFinite, writeWeight } from '../io/model_artifacts';
import type { Hdf5File } from './hdf5';

/** What `assign*Weights` take of the load options: `nonFiniteWeights`. */
export type AssignOptions = Pick<ModelLoadOptions, 'nonFiniteWeights'>;

/** Keras's naming.to_snake_case, used for weight group names. */
export function toSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/** Keras 3 weight group of each layer, by layer name, following `_save_container_state`'s rule. */
export function keras3GroupNames(
  layers: { name: string; kerasClass: string; isOperation: boolean }[],
): Map<string, string> {
  const used = new Map<string, number>();
  const groups = new Map<string, string>();
  for (const layer of layers) {
    if (layer.isOperation) continue;
    const base = toSnakeCase(layer.kerasClass);
    const count = used.get(base);
    used.set(base, count == null ? 0 : count + 1);
    groups.set(layer.name, count == null ? base : `${base}_${count + 1}`);
  }
  return groups;
}

interface Pending {
  variable: tf.LayerVariable;
  values: Float32Array;
}

type WithPaths = tf.layers.Layer & { kerasWeightPaths?: () => string[] };

/**
 * The datasets of a `.keras` weights file by their path with `/` separators. tf.keras 2.13-2.15
 * joins group names with `tf.io.gfile.join`, so a file saved on Windows has root groups literally
 * named `layers\\dense` (HDF5 splits paths on `/` only); both layouts read the same here.
 */
class WeightsIndex {
  /** Normalized dataset path -> the path in the file. */
  private readonly datasets = new Map<string, string>();

  constructor(readonly h5: Hdf5File) {
    for (const path of h5.datasetPaths()) this.datasets.set(path.replace(/\\/g, '/'), path);
  }

  /** Dataset paths under `root` (normalized), relative to it. */
  under(root: string): string[] {
    const prefix = `${root}/`;
    return [...this.datasets.keys()].filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length));
  }

  /**
   * The file's path of the weight at `root/path`. tf.keras 2.x saves sub-layers under their
   * attribute names, which for MultiHeadAttention are private (`_query_dense`, Keras 3: `query_dense`):
   * a sub-group missing under its Keras 3 name is looked up with a leading `_`.
   */
  find(root: string, path: string): string | null {
    const exact = this.datasets.get(`${root}/${path}`);
    if (exact != null) return exact;
    const parts = path.split('/');
    const privateParts = parts.map((p, i) => (i < parts.length - 2 && !p.startsWith('_') ? `_${p}` : p));
    return this.datasets.get(`${root}/${privateParts.join('/')}`) ?? null;
  }

  /** The top-level group names below `layers/`. */
  layerGroups(): string[] {
    return [...new Set([...this.datasets.keys()].filter((p) => p.startsWith('layers/')).map((p) => p.split('/')[1]))];
  }
}

/** Reads the weights of a `.keras` weights file into `model`; `groups` from keras3GroupNames (below `layers/`). */
export function assignKeras3Weights(
  model: tf.LayersModel,
  groups: Map<string, string>,
  h5: Hdf5File,
  options: AssignOptions,
): void {
  const where = h5.source;
  const index = new WeightsIndex(h5);
  const pending: Pending[] = [];
  const claimed = new Set<string>();
  for (const layer of model.layers as WithPaths[]) {
    const group = groups.get(layer.name);
    const weights = layer.weights;
    const root = `layers/${group}`;
    const stored = group != null ? index.under(root) : [];
    if (group != null) claimed.add(group.split('/')[0]);
    if (weights.length === 0) {
      if (stored.length > 0) {
        throw new Error(
          `${where}: layer '${layer.name}' has no weights in its config, but the file holds ${stored.length} for it ` +
            `under ${root} (${stored.join(', ')}); the file does not match the config`,
        );
      }
      continue;
    }
    if (group == null || stored.length === 0) {
      throw new Error(
        `${where}: the weights of layer '${layer.name}' are missing: no group ${root} in the weights file ` +
          '(Keras names the groups by class and counter; the file does not match the config)',
      );
    }
    const paths = layer.kerasWeightPaths ? layer.kerasWeightPaths() : weights.map((_w, i) => `vars/${i}`);
    // `stored` is not empty here (refused just above).
    if (paths.length !== weights.length || stored.length !== weights.length) {
      throw new Error(
        `${where}: layer '${layer.name}' (${layer.getClassName()}) has ${weights.length} weights, but ${root} holds ` +
          `${stored.length} (${stored.join(', ')}); the weight count does not match the config`,
      );
    }
    paths.forEach((path, i) => {
      const found = index.find(root, path);
      if (found == null) {
        throw new Error(
          `${where}: weight ${weights[i].originalName} of layer '${layer.name}' is missing (no ${root}/${path}); ` +
            `the group holds ${stored.join(', ')}`,
        );
      }
      pending.push(readWeight(h5, found, weights[i], `layer '${layer.name}'`, options));
    });
  }
  for (const group of index.layerGroups()) {
    if (!claimed.has(group)) {
      throw new Error(
        `${where}: the weights file holds weights for layers/${group}, which no layer of the config matches`,
      );
    }
  }
  write(pending, where);
}

/**
 * Reads a full-model `.h5`'s `model_weights` into `model`. `nested`: per nested model's group, the
 * layers inlined from it (nested_models.ts), whose weights that group lists.
 */
export function assignH5Weights(
  model: tf.LayersModel,
  h5: Hdf5File,
  options: AssignOptions,
  nested: Map<string, string[]> = new Map(),
): void {
  const where = h5.source;
  if (!h5.has('model_weights')) throw new Error(`${where}: the .h5 file has no model_weights group`);
  const pending: Pending[] = [];
  const inlined = new Set([...nested.values()].flat());
  const groups: { name: string; weights: tf.LayerVariable[]; owner: string }[] = model.layers
    .filter((l) => !inlined.has(l.name))
    .map((l) => ({ name: l.name, weights: l.weights, owner: `layer '${l.name}' (${l.getClassName()})` }));
  for (const [name, members] of nested) {
    // Keras's _legacy_weights order: the trainable weights of all its layers, then the non-trainable ones.
    const layers = members.map((member) => model.getLayer(member));
    const weights = [...layers.flatMap((l) => l.trainableWeights), ...layers.flatMap((l) => l.nonTrainableWeights)];
    groups.push({ name, weights, owner: `nested model '${name}'` });
  }
  const names = new Set(groups.map((g) => g.name));
  for (const { name, weights, owner } of groups) {
    const root = `model_weights/${name}`;
    const listed = h5.has(root) ? weightNames(h5, root) : [];
    if (weights.length === 0) {
      if (listed.length > 0) {
        throw new Error(`${where}: ${owner} has no weights in its config, but ${root} lists ${listed.length}`);
      }
      continue;
    }
    if (!h5.has(root)) {
      throw new Error(`${where}: the weights of ${owner} are missing: no group ${root} in the file`);
    }
    if (listed.length !== weights.length) {
      throw new Error(
        `${where}: ${owner} has ${weights.length} weights, but ${root} lists ` +
          `${listed.length} (${listed.join(', ') || 'none'}); the weight count does not match the config`,
      );
    }
    listed.forEach((weight, i) => pending.push(readWeight(h5, `${root}/${weight}`, weights[i], owner, options)));
  }
  for (const group of h5.keys('model_weights')) {
    if (!names.has(group) && group !== 'top_level_model_weights' && weightNames(h5, `model_weights/${group}`).length) {
      throw new Error(`${where}: model_weights/${group} holds weights, but the config has no layer '${group}'`);
    }
  }
  write(pending, where);
}

function weightNames(h5: Hdf5File, path: string): string[] {
  const names = h5.attrs(path).weight_names;
  if (names == null) return [];
  const list = Array.isArray(names) ? names : [names];
  if (!list.every((n) => typeof n === 'string')) {
    throw new Error(`${h5.source}: ${path} has a weight_names attribute that is not a list of strings`);
  }
  return list as string[];
}

function readWeight(
  h5: Hdf5File,
  path: string,
  variable: tf.LayerVariable,
  owner: string,
  options: AssignOptions,
): Pending {
  if (!h5.has(path)) {
    throw new Error(`${h5.source}: weight ${variable.originalName} of ${owner} is missing (no ${path})`);
  }
  // The declared shape first: a weight of the wrong shape is refused before its values are read.
  const shape = h5.shape(path);
  const expected = variable.shape;
  if (shape.length !== expected.length || shape.some((d, i) => d !== expected[i])) {
    throw new Error(
      `${h5.source}: ${path} has shape [${shape}] but ${owner} needs [${expected}] for ` +
        `${variable.originalName}; the weights do not match the config`,
    );
  }
  const { values } = h5.read(path);
  const what = `${path} (weight ${variable.originalName} of ${owner})`;
  reportNonFinite(countNonFinite(values), values.length, h5.source, what, options);
  return { variable, values };
}

function write(pending: Pending[], file: string): void {
  for (const { variable, values } of pending) {
    writeWeight(variable, tf.tensor(values, variable.shape as number[], variable.dtype), file);
  }
}
