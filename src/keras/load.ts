/**
 * `loadKerasModel`: a Keras model file, whatever Keras wrote it, into a plain `tf.LayersModel`.
 *
 * The format is told from the content (source.ts), then:
 * - `.keras` zip (Keras 3): config.json (graph in Keras 3's node format) + model.weights.h5
 *   (weights by class-and-counter groups, weights.ts);
 * - full-model `.h5` (Keras 2 or Keras 3): the `model_config` attribute (either node format) +
 *   `model_weights/<layer>` with `weight_names`;
 * - tfjs layers-model model.json (tensorflowjs_converter's, or in Keras 3's node format): its
 *   topology converted the same way, its weights read by tfjs by name from the manifest.
 * The graph is checked and converted in graph.ts, the model built by tfjs's own
 * `tf.models.modelFromJSON`, and the weights checked in full before any is assigned: any error
 * disposes what was built, so a call either returns a whole model or throws, leaking no tensor.
 */
import * as tf from '@tensorflow/tfjs';
import { checkOptionNames, optionNames } from '../options';
import { ensureBackend } from '../backend';
import { isNodeRuntime } from '../io/atomic';
import { checkWeightPath } from '../io/weight_paths';
import { ClassContext, convertGraph, ConvertedGraph } from './graph';
import { Hdf5File } from './hdf5';
import { parseKeras2Config } from './keras2_config';
import { asObject, isKeras3Config, parseKeras3Config } from './keras3_config';
import { inlineNestedModels } from './nested_models';
import { describeValue, detectFormat, isUrl, KerasModelSource, readSource } from './source';
import { AssignOptions, assignH5Weights, assignKeras3Weights } from './weights';
import { ZipArchive } from './zip';
// The classes a Keras file can name, registered with tfjs whoever imports only this module (npm run convert).
import './op_layers';
import '../layers/multi_head_attention';
import '../layers/keras_hub/position_embedding';
import '../layers/keras_hub/sine_position_encoding';
import '../layers/keras_hub/token_and_position_embedding';
import '../layers/keras_hub/transformer_decoder';
import '../layers/keras_hub/transformer_encoder';
import '../layers/keras_io';

/** Options of `loadKerasModel`. */
export interface LoadKerasModelOptions extends AssignOptions {
  /**
   * Keras's `custom_objects`: the file's class name (or registered name, `'Custom>MyLayer'`) -> the
   * tfjs layer class that computes what the user's Keras class computes. Takes priority over this
   * package's classes of the same name. The class receives the file's config (camelCase keys) and
   * must create its weights in Keras's order; for `.keras` files, its `kerasWeightPaths()` says
   * where each weight sits under the layer's group. This package ships the keras.io examples'
   * classes: `{customObjects: KERAS_IO_LAYERS}`.
   */
  customObjects?: Record<string, tf.serialization.SerializableConstructor<tf.layers.Layer>>;
}

/**
 * Loads a Keras model, recognizing by content:
 * - a Keras 3 `.keras` file (zip of config.json, metadata.json, model.weights.h5);
 * - a full-model `.h5` written by Keras 2 (tf-keras) or Keras 3 (`model.save('m.h5')`);
 * - a tfjs layers-model `model.json` (tensorflowjs_converter's Keras 2 format, or Keras 3's node format).
 *
 * `source` is a path (Node), a URL (`https://...`, or a relative URL in a browser), the file's
 * bytes (`ArrayBuffer`, `Uint8Array`), a `Blob`/`File` (from an `<input type="file">`), or a tfjs
 * `IOHandler` of a model.json. Keras's `MultiHeadAttention` loads as this package's layer; what
 * cannot load exactly is an error naming the layer, its class and what to do (see the README's
 * "Bring a Keras model").
 *
 * ```ts
 * import { loadKerasModel } from 'tfjs-attention';
 * const model = await loadKerasModel('models/classifier.keras');
 * const probabilities = model.predict(tf.zeros([1, 32, 40])) as tf.Tensor;
 * ```
 */
export async function loadKerasModel(
  source: KerasModelSource | tf.io.IOHandler,
  options: LoadKerasModelOptions = {},
): Promise<tf.LayersModel> {
  checkOptions(options);
  await ensureBackend();
  if (isIOHandler(source)) return loadModelJson(source, 'the given IOHandler', options);
  const name = describeSource(source);
  const bytes = await readSource(source, name);
  switch (detectFormat(bytes, name)) {
    case 'zip':
      return loadKerasArchive(bytes, name, options);
    case 'hdf5':
      return loadH5(bytes, name, options);
    case 'json':
      if (typeof source !== 'string') {
        throw new Error(
          `${name}: holds a model.json, whose weight files are named relative to its location; ` +
            'pass its path or URL (or a tfjs IOHandler such as tf.io.browserFiles([json, ...weights]))',
        );
      }
      if (isUrl(source) || !isNodeRuntime()) return loadModelJson(urlHandler(bytes, source), name, options);
      return loadModelJson(handlerFor(source), name, options);
  }
}

function checkOptions(options: LoadKerasModelOptions): void {
  if (options == null || typeof options !== 'object') {
    throw new Error(`loadKerasModel: options is ${String(options)}; expected an object`);
  }
  checkOptionNames(
    'loadKerasModel',
    options,
    optionNames<LoadKerasModelOptions>({ nonFiniteWeights: true, customObjects: true }),
  );
  const mode = options.nonFiniteWeights;
  if (mode != null && mode !== 'refuse' && mode !== 'warn') {
    throw new Error(`loadKerasModel: nonFiniteWeights is ${JSON.stringify(mode)}; expected 'refuse' or 'warn'`);
  }
  const custom = options.customObjects;
  if (custom != null) {
    if (typeof custom !== 'object' || Array.isArray(custom)) {
      throw new Error(
        `loadKerasModel: customObjects is ${describeValue(custom)}; expected {KerasClassName: TfjsLayerClass}`,
      );
    }
    for (const [name, cls] of Object.entries(custom)) {
      if (typeof cls !== 'function' || typeof (cls as { className?: unknown }).className !== 'string') {
        throw new Error(
          `loadKerasModel: customObjects.${name} is ${describeValue(cls)}; ` +
            'expected a tfjs layer class with a static className',
        );
      }
    }
  }
}

function classContext(options: LoadKerasModelOptions, bareNames: boolean): ClassContext {
  return { customObjects: options.customObjects as ClassContext['customObjects'], bareNames };
}

function isIOHandler(source: unknown): source is tf.io.IOHandler {
  return (
    source != null &&
    typeof source === 'object' &&
    !(source instanceof ArrayBuffer) &&
    !ArrayBuffer.isView(source) &&
    typeof (source as tf.io.IOHandler).load === 'function'
  );
}

function describeSource(source: KerasModelSource): string {
  if (typeof source === 'string') return source;
  if (typeof File !== 'undefined' && source instanceof File) return source.name;
  if (typeof Blob !== 'undefined' && source instanceof Blob) return 'the given Blob';
  return 'the given bytes';
}

async function loadKerasArchive(bytes: Uint8Array, name: string, options: AssignOptions): Promise<tf.LayersModel> {
  const archive = new ZipArchive(bytes, name);
  if (!archive.has('config.json')) {
    throw new Error(
      `${name}: a zip without config.json is not a .keras file (it holds ${[...archive.entries.keys()]})`,
    );
  }
  const config = parseJson(archive.readText('config.json'), `${name}!config.json`);
  if (!archive.has('model.weights.h5')) {
    const npz = archive.has('model.weights.npz') ? ' (its weights are in .npz form, which is not supported)' : '';
    throw new Error(`${name}: the .keras archive has no model.weights.h5${npz}`);
  }
  const where = `${name}!config.json`;
  // Keras 3 writes its node format; tf.keras 2.13-2.15 (and tf-keras) write Keras 2 nodes in the same zip.
  const graph = inlineNestedModels(
    isKeras3Config(config) ? parseKeras3Config(config, where) : parseKeras2Config(config, where, true),
    where,
  );
  const converted = convertGraph(graph, where, classContext(options, false));
  const h5 = new Hdf5File(archive.read('model.weights.h5'), `${name}!model.weights.h5`);
  return build(converted, name, (model) => assignKeras3Weights(model, graph.kerasGroups, h5, options));
}

async function loadH5(bytes: Uint8Array, name: string, options: AssignOptions): Promise<tf.LayersModel> {
  const h5 = new Hdf5File(bytes, name);
  const attrs = h5.attrs('');
  if (attrs.model_config == null) {
    throw new Error(
      `${name}: an HDF5 file without a model_config attribute holds weights only (model.save_weights); ` +
        'load the full model (.keras, or .h5 from model.save)',
    );
  }
  const config = parseJson(String(attrs.model_config), `${name} (model_config)`);
  const where = `${name} (model_config)`;
  const graph = inlineNestedModels(
    isKeras3Config(config) ? parseKeras3Config(config, where) : parseKeras2Config(config, where),
    where,
  );
  const converted = convertGraph(graph, where, classContext(options, false));
  return build(converted, name, (model) => assignH5Weights(model, h5, options, graph.h5Groups));
}

/** Builds the model with tfjs and fills its weights; disposes it if anything fails. */
async function build(
  converted: ConvertedGraph,
  name: string,
  assign: (model: tf.LayersModel) => void,
): Promise<tf.LayersModel> {
  let model: tf.LayersModel;
  // tfjs 4.22's deserializer finds nested layer classes only in its registry: the customObjects
  // classes that are not registered are registered for this build and removed after it.
  const registry = tf.serialization.SerializationMap.getMap().classNameMap;
  const added = Object.entries(converted.customObjects).filter(([name]) => !(name in registry));
  for (const [name, cls] of added)
    registry[name] = [cls as never, (cls as unknown as { fromConfig: never }).fromConfig];
  try {
    model = await tf.models.modelFromJSON({
      modelTopology: converted.topology as unknown as tf.io.ModelJSON['modelTopology'],
    });
  } catch (error) {
    throw new Error(`${name}: tfjs could not build the model from its config (${(error as Error).message})`);
  } finally {
    for (const [name] of added) delete registry[name];
  }
  try {
    assign(model);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

/** Loads a tfjs model.json through `handler`, its topology converted. */
async function loadModelJson(
  handler: tf.io.IOHandler,
  name: string,
  options: LoadKerasModelOptions,
): Promise<tf.LayersModel> {
  if (handler.load == null) throw new Error(`loadKerasModel: the handler for ${name} cannot load`);
  const artifacts = await handler.load();
  if (artifacts.modelTopology == null) {
    throw new Error(`loadKerasModel: ${name} has no modelTopology; expected a tfjs layers-model model.json`);
  }
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    throw new Error(`loadKerasModel: ${name} holds a graph model (binary topology); expected a layers model`);
  }
  const modelTopology = convertModelJsonTopology(artifacts.modelTopology as Record<string, unknown>, name, options);
  const model = await tf.loadLayersModel(tf.io.fromMemory({ ...artifacts, modelTopology }));
  try {
    checkFinite(model, name, options);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

/**
 * A model.json's `modelTopology` (`{model_config, keras_version, ...}` or the model config
 * itself) with its model config converted by graph.ts (Keras 2 or Keras 3 node format).
 */
export function convertModelJsonTopology(
  topology: Record<string, unknown>,
  name: string,
  options: LoadKerasModelOptions = {},
): Record<string, unknown> {
  const wrapped = topology.model_config != null;
  const modelConfig = wrapped ? topology.model_config : topology;
  const where = `${name} (modelTopology)`;
  asObject(modelConfig, where, 'model_config');
  const graph = inlineNestedModels(
    isKeras3Config(modelConfig) ? parseKeras3Config(modelConfig, where) : parseKeras2Config(modelConfig, where),
    where,
  );
  // A model.json names tfjs classes (tfjs wrote it) or Keras 2 ones (tensorflowjs_converter did).
  const converted = convertGraph(graph, where, classContext(options, true)).topology as unknown as Record<
    string,
    unknown
  >;
  return wrapped ? { ...topology, model_config: converted } : converted;
}

function checkFinite(model: tf.LayersModel, name: string, options: AssignOptions): void {
  for (const weight of model.weights) {
    const values = weight.read().dataSync();
    let bad = 0;
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) bad++;
    if (bad === 0) continue;
    const message = `${name}: weight ${weight.originalName} holds ${bad} non-finite value(s) (NaN or ±Infinity)`;
    if ((options.nonFiniteWeights ?? 'refuse') === 'refuse') {
      throw new Error(`${message}; pass {nonFiniteWeights: 'warn'} to load it anyway`);
    }
    console.warn(`${message}; loaded anyway (nonFiniteWeights: 'warn')`);
  }
}

/**
 * The model.json already fetched from `url`, its weight files fetched relative to it; a weight path
 * that leaves the model's folder is refused (io/weight_paths.ts).
 */
function urlHandler(bytes: Uint8Array, url: string): tf.io.IOHandler {
  const json = parseJson(new TextDecoder().decode(bytes), url) as tf.io.ModelJSON;
  const base = url.slice(0, url.lastIndexOf('/') + 1);
  return {
    load: () =>
      tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const paths = manifest.flatMap((group) => group.paths);
        paths.forEach((p) => checkWeightPath(p, url));
        const buffers = await Promise.all(
          paths.map(async (p) => {
            const response = await fetch(new URL(p, base).toString());
            if (!response.ok)
              throw new Error(`${url}: weights file ${p} could not be fetched (HTTP ${response.status})`);
            return response.arrayBuffer();
          }),
        );
        return [manifest.flatMap((group) => group.weights), tf.io.concatenateArrayBuffers(buffers)];
      }),
  };
}

function handlerFor(location: string): tf.io.IOHandler {
  const url = isNodeRuntime() && !isUrl(location) && !location.startsWith('file://') ? `file://${location}` : location;
  const handlers = tf.io.getLoadHandlers(url);
  if (handlers.length === 0) return tf.io.http(url); // relative and absolute URLs in a browser
  if (handlers.length > 1) throw new Error(`loadKerasModel: more than one load handler matches ${url}`);
  return handlers[0];
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${where}: is not valid JSON (${(error as Error).message})`);
  }
}
