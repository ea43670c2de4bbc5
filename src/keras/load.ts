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
import { optionNames } from '../options';
import { ensureBackend } from '../backend';
import { isNodeRuntime } from '../io/atomic';
import { fileSystem } from '../io/file_system';
import {
  checkJsonBytes,
  checkJsonValue,
  checkLoadOptions,
  decodeUtf8,
  JSON_LIMITS,
  ModelLoadOptions,
  parseJson,
} from '../io/limits';
import { ModelLoadError } from '../io/load_error';
import { buildFromArtifacts } from '../io/model_artifacts';
import { checkTopology } from '../io/topology';
import { budgetOf, buildWithinBudget, formatBytes, WeightBudget, weightBytes } from '../io/weight_budget';
import { checkWeightPath } from '../io/weight_paths';
import { ClassContext, convertGraph, ConvertedGraph, GraphRewrite, LayerClass } from './graph';
import { explicitMasks, maskSemantics } from './keras_masks';
import { Hdf5File } from './hdf5';
import { parseKeras2Config } from './keras2_config';
import { asObject, isKeras3Config, parseKeras3Config } from './keras3_config';
import { inlineNestedModels } from './nested_models';
import { describeValue, detectFormat, isJsonFile, isUrl, KerasModelSource, readSource } from './source';
import { assignH5Weights, assignKeras3Weights } from './weights';
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

/** Options of `loadKerasModel`: those of every loader (`ModelLoadOptions`), and `customObjects`. */
export interface LoadKerasModelOptions extends ModelLoadOptions {
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

/** `loadKerasModel`'s options checked, the defaults filled in. */
type CheckedOptions = Required<ModelLoadOptions> & Pick<LoadKerasModelOptions, 'customObjects'>;

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
 * "Bring a Keras model"). The file is untrusted (README, "Untrusted model files"): whatever is wrong
 * with it is a `ModelLoadError` naming it, within bounded time and memory.
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
  const checked = checkOptions(options);
  await ensureBackend();
  if (isIOHandler(source))
    return load('the given IOHandler', () => loadModelJson(source, 'the given IOHandler', checked));
  const name = describeSource(source);
  // A model.json file in Node goes to this package's reader (files checked and read within the limits,
  // no build of the raw topology, which may be in Keras 3's format), not read whole here.
  const localJson = async (path: string) => {
    const handler = fileSystem(path.replace(/^file:\/\//, ''), checked);
    return loadModelJson({ load: () => handler.readArtifacts() }, name, checked);
  };
  const isLocal = typeof source === 'string' && !isUrl(source) && isNodeRuntime();
  return load(name, async () => {
    if (isLocal && (await isJsonFile(source as string))) return localJson(source as string);
    // A file may hold up to 4 copies of the weights (an optimizer's state), and a config.
    const bytes = await readSource(source, name, 4 * checked.maxWeightBytes + JSON_LIMITS.maxBytes);
    switch (detectFormat(bytes, name)) {
      case 'zip':
        return loadKerasArchive(bytes, name, checked);
      case 'hdf5':
        return loadH5(bytes, name, checked);
      case 'json':
        if (typeof source !== 'string') {
          throw new Error(
            `${name}: holds a model.json, whose weight files are named relative to its location; ` +
              'pass its path or URL (or a tfjs IOHandler such as tf.io.browserFiles([json, ...weights]))',
          );
        }
        return isLocal ? localJson(source) : loadModelJson(urlHandler(bytes, source), name, checked);
    }
  });
}

/** Runs one load, every failure a `ModelLoadError` naming `name`. */
async function load(name: string, run: () => Promise<tf.LayersModel>): Promise<tf.LayersModel> {
  try {
    return await run();
  } catch (error) {
    throw ModelLoadError.wrap(error, name);
  }
}

function checkOptions(options: LoadKerasModelOptions): CheckedOptions {
  const checked = checkLoadOptions(
    'loadKerasModel',
    options,
    optionNames<LoadKerasModelOptions>({ nonFiniteWeights: true, maxWeightBytes: true, customObjects: true }),
  );
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
  return { ...checked, customObjects: custom };
}

function classContext(options: LoadKerasModelOptions, bareNames: boolean): ClassContext {
  return { customObjects: options.customObjects as ClassContext['customObjects'], bareNames };
}

/** The rewrite that makes a Keras file's masks explicit, as the Keras `version` that wrote it applies them. */
function kerasMasks(version: string | null, keras3: boolean): GraphRewrite {
  const semantics = maskSemantics(version, keras3);
  return (graph, classOf) => explicitMasks(graph, semantics, classOf);
}

/** The `keras_version` of a `.keras` archive's metadata.json, or null without one. */
function archiveKerasVersion(archive: ZipArchive, name: string): string | null {
  const entry = archive.entries.get('metadata.json');
  if (entry == null) return null;
  const where = `${name}!metadata.json`;
  checkJsonBytes(entry.uncompressedSize, where);
  const metadata = parseJson(decodeUtf8(archive.read('metadata.json'), where), where) as { keras_version?: unknown };
  return typeof metadata?.keras_version === 'string' ? metadata.keras_version : null;
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

async function loadKerasArchive(bytes: Uint8Array, name: string, options: CheckedOptions): Promise<tf.LayersModel> {
  const archive = new ZipArchive(bytes, name);
  if (!archive.has('config.json')) {
    throw new Error(
      `${name}: a zip without config.json is not a .keras file (it holds ${[...archive.entries.keys()]})`,
    );
  }
  const where = `${name}!config.json`;
  checkJsonBytes(archive.entries.get('config.json')!.uncompressedSize, where);
  const config = parseJson(decodeUtf8(archive.read('config.json'), where), where);
  const weightsEntry = archive.entries.get('model.weights.h5');
  if (weightsEntry == null) {
    const npz = archive.has('model.weights.npz') ? ' (its weights are in .npz form, which is not supported)' : '';
    throw new Error(`${name}: the .keras archive has no model.weights.h5${npz}`);
  }
  checkTopology(config, where, 'keras');
  // Keras 3 writes its node format; tf.keras 2.13-2.15 (and tf-keras) write Keras 2 nodes in the same zip.
  const graph = inlineNestedModels(
    isKeras3Config(config) ? parseKeras3Config(config, where) : parseKeras2Config(config, where, true),
    where,
  );
  const converted = convertGraph(
    graph,
    where,
    classContext(options, false),
    kerasMasks(archiveKerasVersion(archive, name), isKeras3Config(config)),
  );
  const weightsFile = `${name}!model.weights.h5`;
  const stored = weightsEntry.uncompressedSize;
  return build(converted, budgetOf(name, stored, `of ${weightsFile}`, options.maxWeightBytes), (model) => {
    // The weights file may hold the weights, an optimizer's state (up to 3 copies) and the groups' metadata;
    // more than that is refused before a byte of it is inflated.
    const needed = weightBytes(model);
    const allowed = 4 * needed + 65536 + 16384 * (model.weights.length + model.layers.length);
    if (stored > allowed) {
      throw new ModelLoadError(
        weightsFile,
        `is ${formatBytes(stored)}, far more than the ${formatBytes(needed)} of weights its config needs (with an ` +
          `optimizer's state and the groups' metadata, at most ${formatBytes(allowed)}); ` +
          'the file is corrupt or crafted',
      );
    }
    const h5 = new Hdf5File(archive.read('model.weights.h5'), weightsFile);
    assignKeras3Weights(model, graph.kerasGroups, h5, options);
  });
}

async function loadH5(bytes: Uint8Array, name: string, options: CheckedOptions): Promise<tf.LayersModel> {
  const h5 = new Hdf5File(bytes, name);
  const attrs = h5.attrs('');
  if (attrs.model_config == null) {
    throw new Error(
      `${name}: an HDF5 file without a model_config attribute holds weights only (model.save_weights); ` +
        'load the full model (.keras, or .h5 from model.save)',
    );
  }
  const where = `${name} (model_config)`;
  if (typeof attrs.model_config !== 'string') {
    throw new ModelLoadError(name, 'has a model_config attribute that is not a string of JSON');
  }
  const config = parseJson(attrs.model_config, where);
  checkTopology(config, where, 'keras');
  const graph = inlineNestedModels(
    isKeras3Config(config) ? parseKeras3Config(config, where) : parseKeras2Config(config, where),
    where,
  );
  const version = typeof attrs.keras_version === 'string' ? attrs.keras_version : null;
  const converted = convertGraph(
    graph,
    where,
    classContext(options, false),
    kerasMasks(version, isKeras3Config(config)),
  );
  const budget = budgetOf(name, bytes.byteLength, 'of the file', options.maxWeightBytes);
  return build(converted, budget, (model) => assignH5Weights(model, h5, options, graph.h5Groups));
}

/**
 * Builds the model with tfjs, its weights within what the file holds (io/weight_budget.ts), and
 * fills them; disposes it if anything fails.
 */
async function build(
  converted: ConvertedGraph,
  budget: WeightBudget,
  assign: (model: tf.LayersModel) => void,
): Promise<tf.LayersModel> {
  // What tfjs builds, checked as tfjs reads it (the file's own graph was checked as Keras numbers it).
  checkTopology(converted.topology, budget.file);
  const model = await withCustomClasses(converted.customObjects, () => buildWithinBudget(converted.topology, budget));
  try {
    assign(model);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

/**
 * Runs `build` with the customObjects classes that tfjs's registry lacks registered: tfjs 4.22's
 * deserializer finds nested layer classes only in its registry. They are removed when it settles.
 */
async function withCustomClasses<T>(classes: Record<string, LayerClass>, build: () => Promise<T>): Promise<T> {
  const registry = tf.serialization.SerializationMap.getMap().classNameMap;
  const added = Object.entries(classes).filter(([name]) => !(name in registry));
  for (const [name, cls] of added)
    registry[name] = [cls as never, (cls as unknown as { fromConfig: never }).fromConfig];
  try {
    return await build();
  } finally {
    for (const [name] of added) delete registry[name];
  }
}

/** Loads a tfjs model.json through `handler`, its topology converted, its weights checked (io/model_artifacts.ts). */
async function loadModelJson(handler: tf.io.IOHandler, name: string, options: CheckedOptions): Promise<tf.LayersModel> {
  if (handler.load == null) throw new Error(`loadKerasModel: the handler for ${name} cannot load`);
  const artifacts = await handler.load();
  if (artifacts.modelTopology == null) {
    throw new Error(`loadKerasModel: ${name} has no modelTopology; expected a tfjs layers-model model.json`);
  }
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    throw new Error(`loadKerasModel: ${name} holds a graph model (binary topology); expected a layers model`);
  }
  checkJsonValue(artifacts.modelTopology, name);
  checkTopology(artifacts.modelTopology, name, 'keras');
  const { modelTopology, customObjects } = convertModelJson(
    artifacts.modelTopology as Record<string, unknown>,
    name,
    options,
  );
  return withCustomClasses(customObjects, () => buildFromArtifacts({ ...artifacts, modelTopology }, name, options));
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
  return convertModelJson(topology, name, options).modelTopology;
}

/** `convertModelJsonTopology`'s result, and the customObjects classes it uses (graph.ts's `ConvertedGraph`). */
function convertModelJson(
  topology: Record<string, unknown>,
  name: string,
  options: LoadKerasModelOptions,
): { modelTopology: Record<string, unknown>; customObjects: Record<string, LayerClass> } {
  const wrapped = topology.model_config != null;
  const modelConfig = wrapped ? topology.model_config : topology;
  const where = `${name} (modelTopology)`;
  asObject(modelConfig, where, 'model_config');
  const graph = inlineNestedModels(
    isKeras3Config(modelConfig) ? parseKeras3Config(modelConfig, where) : parseKeras2Config(modelConfig, where),
    where,
  );
  // A model.json names tfjs classes (tfjs wrote it) or Keras 2 ones (tensorflowjs_converter did);
  // the masks are Keras's unless tfjs wrote it (then they follow tfjs, as when it was saved).
  const version = typeof topology.keras_version === 'string' ? topology.keras_version : null;
  const masks = version?.startsWith('tfjs') ? null : kerasMasks(version, isKeras3Config(modelConfig));
  const converted = convertGraph(graph, where, classContext(options, true), masks);
  const config = converted.topology as unknown as Record<string, unknown>;
  return {
    modelTopology: wrapped ? { ...topology, model_config: config } : config,
    customObjects: converted.customObjects,
  };
}

/**
 * The model.json already fetched from `url`, its weight files fetched relative to it; a weight path
 * that leaves the model's folder is refused (io/weight_paths.ts).
 */
function urlHandler(bytes: Uint8Array, url: string): tf.io.IOHandler {
  const json = parseJson(decodeUtf8(bytes, url), url) as tf.io.ModelJSON;
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
