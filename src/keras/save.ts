/**
 * `saveKerasModel`: a tfjs model (functional or `tf.sequential`, built from tfjs's layers and this
 * package's) as a Keras 3 `.keras` archive that `keras.saving.load_model` opens with no custom
 * code, Keras 3 and keras-hub being installed:
 * - `config.json`: the model as a Keras functional graph (keras_graph_writer.ts), each layer the
 *   Keras or keras-hub class that computes what the tfjs layer computes (export_layers.ts), the
 *   padding masks tfjs applied written out explicitly (export_masks.ts);
 * - `model.weights.h5`: each layer's weights where Keras looks for them (`layers/<group>/vars/0`,
 *   ...), written by hdf5_writer.ts;
 * - `metadata.json`: the Keras version whose format this is.
 * The archive is built in memory; in Node a path destination is written atomically (a crash leaves
 * the old file or none, never half of one).
 */
import * as tf from '@tensorflow/tfjs';
import { atomicWriteFile, isNodeRuntime } from '../io/atomic';
import { checkOptionNames, optionNames } from '../options';
import { describeValue } from './source';
import { effectiveMasks, MaskTensors } from './export_masks';
import { EXPORTERS } from './export_layers';
import { Hdf5Writer } from './hdf5_writer';
import { KerasGraphWriter, type KerasTensor } from './keras_graph_writer';
import { executionOrder, readTfjsGraph } from './tfjs_graph';
import { writeZip } from './zip_writer';

/** The Keras release whose `.keras` format is written (and that scripts/keras_export/ checks it with). */
export const KERAS_FORMAT_VERSION = '3.15.1';

/** Options of `saveKerasModel`. */
export interface SaveKerasModelOptions {
  /** The time written into metadata.json's `date_saved`. Default: now (the same time gives the same bytes). */
  dateSaved?: Date;
}

/**
 * Writes `model` as a Keras 3 `.keras` file: in Node to the path `destination` (atomically; it must
 * end in `.keras`, which Keras's `load_model` goes by), and resolves to the archive's bytes in any
 * case, so that in a browser `saveKerasModel(model)` gives the bytes to offer as a download
 * (`new Blob([bytes])`).
 *
 * Each layer becomes the Keras or keras-hub class that computes the same (README "Take a model to
 * Keras"); a layer with no exact equal, or an option Keras lacks, is an error naming the layer and
 * what differs. Keras loads the file with `keras.saving.load_model('model.keras')` (keras-hub
 * imported when the model holds its layers) and predicts what tfjs predicts; `loadKerasModel` reads
 * it back.
 *
 * ```ts
 * import { saveKerasModel } from 'tfjs-attention';
 * await saveKerasModel(model, 'gpt.keras');          // Node
 * const bytes = await saveKerasModel(model);          // anywhere
 * ```
 */
export async function saveKerasModel(
  model: tf.LayersModel,
  destination?: string | null,
  options: SaveKerasModelOptions = {},
): Promise<Uint8Array> {
  if (!(model instanceof tf.LayersModel)) {
    throw new Error(
      `saveKerasModel: model is ${describeValue(model)}; expected a tf.LayersModel (tf.model or tf.sequential)`,
    );
  }
  if (destination != null) {
    if (typeof destination !== 'string' || !destination.endsWith('.keras')) {
      throw new Error(
        `saveKerasModel: destination is ${describeValue(destination)}; expected a path ending in .keras ` +
          "(Keras's load_model tells the format by the extension), or none for the bytes",
      );
    }
    if (!isNodeRuntime()) {
      throw new Error(
        `saveKerasModel: a path (${destination}) can only be written in Node; in a browser call ` +
          'saveKerasModel(model) and offer the bytes as a download',
      );
    }
  }
  const bytes = kerasArchive(model, options);
  if (destination != null) await atomicWriteFile(destination.replace(/^file:\/\//, ''), bytes);
  return bytes;
}

/** The `.keras` archive of `model` (what `saveKerasModel` writes). */
export function kerasArchive(model: tf.LayersModel, options: SaveKerasModelOptions = {}): Uint8Array {
  if (options == null || typeof options !== 'object') {
    throw new Error(`saveKerasModel: options is ${describeValue(options)}; expected an object`);
  }
  checkOptionNames('saveKerasModel', options, optionNames<SaveKerasModelOptions>({ dateSaved: true }));
  const date = options.dateSaved ?? new Date();
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw new Error(`saveKerasModel: dateSaved is ${describeValue(options.dateSaved)}; expected a valid Date`);
  }
  const where = `saveKerasModel: model '${model.name}'`;
  const { config, weights, groups } = kerasGraph(model, where);
  const h5 = new Hdf5Writer();
  // Keras's own layout: a `vars` group per layer named by its `name` attribute, and the model's.
  h5.attribute('vars', 'name', String((config.config as { name: string }).name));
  for (const [group, name] of groups) h5.attribute(`layers/${group}/vars`, 'name', name);
  for (const { path, variable } of weights) h5.dataset(path, variable.shape as number[], weightValues(variable, where));
  const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  return writeZip([
    { name: 'metadata.json', data: json({ keras_version: KERAS_FORMAT_VERSION, date_saved: kerasDate(date) }) },
    { name: 'config.json', data: json(config) },
    { name: 'model.weights.h5', data: h5.toBytes() },
  ]);
}

/** The Keras graph of the model: every call written by its class's exporter, in execution order. */
function kerasGraph(model: tf.LayersModel, where: string): ReturnType<KerasGraphWriter['finish']> {
  const graph = readTfjsGraph(model, where);
  const masks = effectiveMasks(graph, where);
  const names = [...graph.inputs.map((i) => i.layer.name), ...graph.calls.map((c) => c.layer.name)];
  for (const name of names) {
    if (name.includes('/')) {
      throw new Error(
        `${where}: layer name '${name}' has a '/', which Keras 3 does not allow in a name; rename the layer`,
      );
    }
  }
  const writer = new KerasGraphWriter(new Set(names));
  const tensors = new Map<string, KerasTensor>();
  for (const { layer, key } of graph.inputs) {
    const { shape, dtype } = graph.specs.get(key)!;
    tensors.set(key, writer.input(layer.name, shape, dtype));
  }
  const maskTensors = new MaskTensors(writer, (key) => tensors.get(key)!);
  for (const call of executionOrder(graph)) {
    const className = call.layer.getClassName();
    const at = `${where}: layer '${call.layer.name}' (${className})`;
    const exporter = EXPORTERS[className];
    if (exporter == null) {
      throw new Error(
        `${at} has no Keras 3 or keras-hub class that computes the same, so saveKerasModel does not write it; ` +
          `it writes ${Object.keys(EXPORTERS).join(', ')}`,
      );
    }
    const kwargs = Object.entries(call.kwargs).filter(([, v]) => v !== undefined);
    if (kwargs.length > 0) {
      throw new Error(
        `${at}: the call has arguments ${JSON.stringify(Object.fromEntries(kwargs))}, which are not written`,
      );
    }
    const outputs = exporter(call.layer, {
      graph: writer,
      masks: maskTensors,
      inputs: call.inputs.map((key) => tensors.get(key)!),
      inputMasks: masks.get(call)!,
      outputs: call.outputs.map((key) => graph.specs.get(key)!),
      where: at,
    });
    call.outputs.forEach((key, i) => tensors.set(key, outputs[i]));
  }
  return writer.finish(
    graph.name,
    graph.outputs.map((key) => tensors.get(key)!),
  );
}

function weightValues(variable: tf.LayerVariable, where: string): Float32Array {
  if (variable.dtype !== 'float32') {
    throw new Error(
      `${where}: weight ${variable.originalName} is ${variable.dtype}; Keras files hold float32 weights here`,
    );
  }
  const values = variable.read().dataSync() as Float32Array;
  const bad = values.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    throw new Error(
      `${where}: weight ${variable.originalName} holds ${values[bad]} at index ${bad}; only finite weights are written`,
    );
  }
  return values;
}

/** Keras's `date_saved` format, `%Y-%m-%d@%H:%M:%S` in local time. */
function kerasDate(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}@` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`
  );
}
