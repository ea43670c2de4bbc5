/**
 * `file://` saving and loading of LayersModels in Node without tfjs-node.
 *
 * The folder layout is exactly the one tfjs-node's `NodeFileSystem` writes
 * (tensorflow/tfjs, tfjs-node/src/io/file_system.ts), so a model saved here
 * loads with tfjs-node, with `tf.loadLayersModel('http://...')` in a browser,
 * and vice versa:
 *
 *     <folder>/model.json   {modelTopology, format, generatedBy, convertedBy,
 *                            weightsManifest: [{paths: ['weights.bin'], weights}],
 *                            trainingConfig?, signature?, userDefinedMetadata?}
 *     <folder>/weights.bin  all weight values, in weightsManifest order
 *
 * Unlike tfjs-node, which overwrites both files in place, a save here is
 * atomic: see `NodeFileSystem.save`.
 */
import * as tf from '@tensorflow/tfjs';

import { describeValue } from '../describe';

import {
  atomicWriteFile,
  faultPoint,
  isNodeRuntime,
  fsyncFolder,
  linkOrCopy,
  nodeFs,
  nodePath,
  parseTempName,
  tempPathFor,
} from './atomic';
import { checkJsonBytes, checkJsonText, checkLoadOptions, ModelLoadOptions } from './limits';
import { ModelLoadError } from './load_error';
import { checkedForTfjs, checkWeightSpecs } from './model_artifacts';
import { NOT_PLAIN_FILE, readPlainFile } from './read_file';
import { checkWeightPath } from './weight_paths';

const FILE_SCHEME = 'file://';
const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

/**
 * An `IOHandler` that saves a model into a folder and loads it from the
 * `model.json` in a folder, in the layout tfjs-node uses (see the module
 * comment).
 *
 * ## Why a save is atomic, and how
 *
 * Training saves checkpoints over the previous ones; a crash, a full disk or
 * Ctrl-C in the middle of a save must not destroy the last good model. The
 * naive order (write weights.bin, then model.json) has a window in which the
 * new weights sit next to the old model.json: the topology may still load, but
 * with the wrong weights, or fail to decode. Renaming two files is never one
 * step, and keeping the final layout (model.json pointing at 'weights.bin')
 * means the old and the new model.json both point at the same name. (A fresh
 * weights file name per save would avoid that, but would no longer be the
 * layout tfjs-node writes.) So the save first moves the old model's reference
 * off that name:
 *
 * 1. Pin: hard-link the old weights.bin to `.weights.bin.tmp-<pid>-<random>`
 *    and atomically rewrite the old model.json to point at that pin. Same
 *    model, same bytes, only the file name in its manifest differs.
 * 2. Atomically replace weights.bin with the new weights. Nothing that is
 *    referenced changes: the live model.json reads the pin.
 * 3. Commit: atomically replace model.json with the new one, which points at
 *    weights.bin. This rename is the single commit point of the save.
 * 4. Remove the pin (and any temporary file of an earlier save that crashed).
 *
 * Each file is replaced with `atomicWriteFile` (temporary file, fsync,
 * rename), so at every instant model.json names weight files that match it:
 * the folder holds the old model before step 3's rename and the new one after
 * it. If a step throws, the save restores the old layout (weights.bin from the
 * pin, the old model.json text) and removes its temporary files, then
 * rethrows; after a crash instead, the folder may keep a pinned model.json,
 * which still loads the old model, and the next save cleans it up. When the
 * folder holds no model yet, or its model.json does not use 'weights.bin',
 * step 1 is skipped.
 *
 * Concurrent saves to one folder from this process run one after another,
 * in the order they were called.
 * Saving to one folder from several processes at once is not supported.
 *
 * ## Loading an untrusted folder
 *
 * `load` reads model.json and its weight files as files from outside
 * (src/io/model_artifacts.ts): within the JSON limits, weight files that
 * resolve (symbolic links followed) inside the model's folder and are plain
 * files of exactly the size the manifest needs, no NaN or infinity in the
 * weights (`options.nonFiniteWeights`), and a build of the model within the
 * weights the manifest lists, before tfjs builds it again from what `load`
 * returns (tfjs checks nothing before it allocates every weight, and never
 * returns from a graph with a cycle). Every failure is a `ModelLoadError`
 * naming the file.
 */
export class NodeFileSystem implements tf.io.IOHandler {
  /** Absolute path: the folder for `save`, the model.json for `load`. */
  readonly path: string;
  private readonly options: Required<ModelLoadOptions>;

  /**
   * @param path For `save`, a folder (created if missing). For `load`, the
   *   model.json file; the weight files it lists are read relative to its
   *   folder. Relative paths are resolved against the working directory.
   * @param options For `load`: see `ModelLoadOptions`.
   */
  constructor(path: string, options: ModelLoadOptions = {}) {
    this.path = nodePath().resolve(path);
    this.options = checkLoadOptions('fileSystem', options);
  }

  /** Writes the model folder, each file atomically (tfjs's `IOHandler.save`). */
  async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
    if (artifacts.modelTopology instanceof ArrayBuffer) {
      throw new Error('NodeFileSystem.save() supports JSON model topologies only, not binary (GraphDef) ones');
    }
    // Join the folder's queue before anything is awaited: saves then run in
    // the order they were called, not in the order their first I/O returns.
    await oneSaveAtATime(this.path, async () => {
      await createOrVerifyFolder(this.path);
      await saveIntoFolder(this.path, artifacts);
    });
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  }

  /** Reads the model folder (tfjs's `IOHandler.load`). */
  async load(): Promise<tf.io.ModelArtifacts> {
    const artifacts = await this.readArtifacts();
    try {
      // tfjs builds the model from these with no check of its own: armed, its build runs under ours.
      return checkedForTfjs(artifacts, this.path, this.options);
    } catch (error) {
      throw ModelLoadError.wrap(error, this.path);
    }
  }

  /**
   * model.json and its weights read and checked as files, not yet as a model (for loaders that
   * build the model themselves with `buildFromArtifacts`, once).
   */
  async readArtifacts(): Promise<tf.io.ModelArtifacts> {
    try {
      const modelJSON = await readModelJSON(this.path);
      // tfjs's own model.json -> artifacts mapping (as its http loader uses), with our weights reader.
      return await tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
        const { specs, data } = await readWeights(manifest, this.path, this.options);
        return [specs, data];
      });
    } catch (error) {
      throw ModelLoadError.wrap(error, this.path);
    }
  }

  /** The options `load` applies. */
  get loadOptions(): Required<ModelLoadOptions> {
    return this.options;
  }
}

/**
 * Returns an IOHandler for `model.save(fileSystem(folder))` and
 * `tf.loadLayersModel(fileSystem(folder + '/model.json'))`; the same handler
 * that `file://` URLs route to once `registerFileSystemRoutes` has run. Use it
 * directly when tfjs-node's own `file://` handler is registered but this
 * package's atomic saving is wanted.
 */
export function fileSystem(path: string, options: ModelLoadOptions = {}): NodeFileSystem {
  return new NodeFileSystem(path, options);
}

// ---------------------------------------------------------------------------
// file:// routing.

type Router = Parameters<typeof tf.io.registerSaveRouter>[0];

let routesRegistered = false;
let askingOtherRouters = false;

/**
 * Routes `file://` URLs to `fileSystem`, so that `model.save('file://dir')`
 * and `tf.loadLayersModel('file://dir/model.json')` work in plain Node, where
 * only tfjs-node would otherwise provide them. Runs on import in Node; calling
 * it again does nothing.
 *
 * If a `file://` handler already exists (tfjs-node imported first), nothing is
 * registered. If tfjs-node is imported later, its handler would make tfjs find
 * two handlers and throw "Found more than one ... handlers", so the router
 * also steps aside at lookup time whenever another router claims the URL.
 */
export function registerFileSystemRoutes(): void {
  if (routesRegistered) {
    return;
  }
  routesRegistered = true;
  if (tf.io.getSaveHandlers(`${FILE_SCHEME}x`).length === 0) {
    tf.io.registerSaveRouter(fileRouter(tf.io.getSaveHandlers));
  }
  if (tf.io.getLoadHandlers(`${FILE_SCHEME}x`).length === 0) {
    tf.io.registerLoadRouter(fileRouter(tf.io.getLoadHandlers));
  }
}

function fileRouter(lookUp: (url: string) => tf.io.IOHandler[]): Router {
  const router = (url: string | string[]): tf.io.IOHandler | null => {
    if (askingOtherRouters || typeof url !== 'string' || !url.startsWith(FILE_SCHEME)) {
      return null;
    }
    // Ask every router again, this one answering null meanwhile: if any other
    // claims the URL, let it have it.
    askingOtherRouters = true;
    let othersClaimIt: boolean;
    try {
      othersClaimIt = lookUp(url).length > 0;
    } finally {
      askingOtherRouters = false;
    }
    return othersClaimIt ? null : fileSystem(url.slice(FILE_SCHEME.length));
  };
  // tfjs types routers as never returning null, yet its registry skips null.
  return router as Router;
}

// ---------------------------------------------------------------------------
// Saving.

/** Creates `folder` if missing; fails clearly if it exists as something else. */
async function createOrVerifyFolder(folder: string): Promise<void> {
  const fs = nodeFs();
  try {
    await fs.promises.mkdir(folder, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new Error(
        `Cannot save model to ${folder}: it exists and is a file; the path must be a folder or not exist yet`,
      );
    }
    if (code === 'ENOTDIR') {
      throw new Error(`Cannot save model to ${folder}: a parent of it is a file, not a folder`);
    }
    throw error;
  }
}

const saveQueues = new Map<string, Promise<unknown>>();

/** Runs `task` after every earlier save into `folder` from this process has settled. */
function oneSaveAtATime<T>(folder: string, task: () => Promise<T>): Promise<T> {
  const previous = saveQueues.get(folder) ?? Promise.resolve();
  const run = previous.then(task);
  const settled = run.catch(() => undefined);
  saveQueues.set(folder, settled);
  void settled.then(() => {
    if (saveQueues.get(folder) === settled) {
      saveQueues.delete(folder);
    }
  });
  return run;
}

/** The model.json currently in the folder, as text and parsed, if it parses. */
interface CommittedModel {
  text: string;
  json: tf.io.ModelJSON;
  weightPaths: string[];
}

/** The steps of `NodeFileSystem.save` (see its doc comment). */
async function saveIntoFolder(folder: string, artifacts: tf.io.ModelArtifacts): Promise<void> {
  const { join, basename } = nodePath();
  const fs = nodeFs();
  const modelJSONPath = join(folder, MODEL_JSON);
  const weightsPath = join(folder, WEIGHTS_BIN);
  const newModelJSON = JSON.stringify(toModelJSON(artifacts));
  const newWeights = weightBytes(artifacts.weightData);

  const committed = await readCommittedModel(modelJSONPath);
  const pin = { path: tempPathFor(weightsPath), referenced: false };
  try {
    if (committed != null && committed.weightPaths.includes(WEIGHTS_BIN) && (await exists(weightsPath))) {
      // 1. Pin the old weights under a name of their own.
      await linkOrCopy(weightsPath, pin.path);
      await fsyncFolder(folder);
      await faultPoint('pin: old weights.bin linked');
      const pinnedModelJSON = withWeightPathRenamed(committed.json, WEIGHTS_BIN, basename(pin.path));
      await atomicWriteFile(modelJSONPath, JSON.stringify(pinnedModelJSON));
      pin.referenced = true;
      await faultPoint('pin: old model.json points at the pin');
    }
    // 2. New weights; nothing live refers to weights.bin at this point.
    await atomicWriteFile(weightsPath, newWeights);
    await faultPoint('new weights.bin in place, model.json not yet');
    // 3. Commit.
    await atomicWriteFile(modelJSONPath, newModelJSON);
  } catch (error) {
    throw await restoreAfterFailedSave(error, folder, committed, pin);
  }
  // 4. Tidy up; the save has succeeded whatever happens here.
  // The old model.json may have pointed at the pin of a save that crashed.
  const oldPins = (committed?.weightPaths ?? []).filter((p) => p === basename(p) && parseTempName(p) != null);
  for (const file of [pin.path, ...oldPins.map((p) => join(folder, p))]) {
    await fs.promises.rm(file, { force: true }).catch(() => undefined);
  }
  await removeTempFilesOfDeadProcesses(folder);
}

/**
 * Puts the folder back as it was before a failed save: the old weights.bin
 * (from the pin) and the old model.json text. Every step of this is itself
 * atomic, so if restoring fails too, model.json still points at the pin and
 * loads the old model. Returns the error to throw.
 */
async function restoreAfterFailedSave(
  error: unknown,
  folder: string,
  committed: CommittedModel | null,
  pin: { path: string; referenced: boolean },
): Promise<unknown> {
  const fs = nodeFs();
  const { join } = nodePath();
  try {
    if (pin.referenced && committed != null) {
      const weightsPath = join(folder, WEIGHTS_BIN);
      const temp = tempPathFor(weightsPath);
      try {
        await linkOrCopy(pin.path, temp);
        await fs.promises.rename(temp, weightsPath);
      } finally {
        await fs.promises.rm(temp, { force: true });
      }
      await fsyncFolder(folder);
      await atomicWriteFile(join(folder, MODEL_JSON), committed.text);
    }
    // Also when the pin was only half made (a copy that failed midway).
    await fs.promises.rm(pin.path, { force: true });
    return error;
  } catch (restoreError) {
    const message = error instanceof Error ? error.message : String(error);
    const wrapped = new Error(
      `${message} (restoring the earlier model's layout in ${folder} failed too: ` +
        `${(restoreError as Error).message}; its model.json still loads the earlier model)`,
    );
    (wrapped as Error & { cause?: unknown }).cause = error;
    return wrapped;
  }
}

/** The folder's model.json, or null if there is none or it is not a model (nothing to protect). */
async function readCommittedModel(modelJSONPath: string): Promise<CommittedModel | null> {
  let text: string;
  try {
    text = await nodeFs().promises.readFile(modelJSONPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return null;
    }
    throw error;
  }
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  if (json == null || typeof json !== 'object' || !Array.isArray(json.weightsManifest)) {
    return null;
  }
  const weightPaths = json.weightsManifest.flatMap((group) =>
    Array.isArray(group?.paths) ? group.paths.filter((p) => typeof p === 'string') : [],
  );
  return { text, json, weightPaths };
}

function withWeightPathRenamed(json: tf.io.ModelJSON, from: string, to: string): tf.io.ModelJSON {
  return {
    ...json,
    weightsManifest: json.weightsManifest.map((group) =>
      Array.isArray(group?.paths) ? { ...group, paths: group.paths.map((p) => (p === from ? to : p)) } : group,
    ),
  };
}

/** The model.json content, field for field as tfjs-node writes it. */
function toModelJSON(artifacts: tf.io.ModelArtifacts): tf.io.ModelJSON {
  const modelJSON: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology as object,
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
  };
  if (artifacts.trainingConfig != null) {
    modelJSON.trainingConfig = artifacts.trainingConfig;
  }
  if (artifacts.signature != null) {
    modelJSON.signature = artifacts.signature;
  }
  if (artifacts.userDefinedMetadata != null) {
    modelJSON.userDefinedMetadata = artifacts.userDefinedMetadata;
  }
  return modelJSON;
}

function weightBytes(weightData: tf.io.WeightData | undefined): Uint8Array {
  if (weightData == null) {
    return new Uint8Array(0);
  }
  return new Uint8Array(tf.io.CompositeArrayBuffer.join(weightData));
}

async function exists(path: string): Promise<boolean> {
  try {
    await nodeFs().promises.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes `.model.json.tmp-*` and `.weights.bin.tmp-*` files left by a save
 * that crashed. Only files of processes that no longer exist are touched, so
 * a save running in another process is left alone; the committed model.json
 * never refers to such files once a save has succeeded.
 */
async function removeTempFilesOfDeadProcesses(folder: string): Promise<void> {
  const fs = nodeFs();
  const { join } = nodePath();
  const names = await fs.promises.readdir(folder).catch(() => [] as string[]);
  for (const name of names) {
    const temp = parseTempName(name);
    if (temp != null && (temp.target === MODEL_JSON || temp.target === WEIGHTS_BIN) && !processExists(temp.pid)) {
      await fs.promises.rm(join(folder, name), { force: true }).catch(() => undefined);
    }
  }
}

function processExists(pid: number): boolean {
  if (pid === process.pid) {
    return true;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------
// Loading.

async function readModelJSON(path: string): Promise<tf.io.ModelJSON> {
  const { dirname, join } = nodePath();
  let text: string;
  try {
    text = new TextDecoder().decode(readPlainFile(path, (size) => checkJsonBytes(size, path)));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      const folder = dirname(path);
      const why = (await exists(folder)) ? 'does not exist' : `does not exist (nor does the folder ${folder})`;
      throw ModelLoadError.withMessage(path, `Cannot load model: ${path} ${why}`);
    }
    if (code === 'EISDIR') {
      throw ModelLoadError.withMessage(
        path,
        `Cannot load model: ${path} is a folder; load the model.json inside it (file://${join(path, MODEL_JSON)})`,
      );
    }
    if (code === NOT_PLAIN_FILE)
      throw ModelLoadError.withMessage(path, `Cannot load model: ${path} is not a plain file`);
    throw error;
  }
  checkJsonText(text, path);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw ModelLoadError.withMessage(
      path,
      `Cannot load model: ${path} is not valid JSON (${(error as Error).message})`,
    );
  }
  if (json == null || typeof json !== 'object' || Array.isArray(json)) {
    throw ModelLoadError.withMessage(
      path,
      `Cannot load model: ${path} is not a model.json (expected a JSON object with modelTopology)`,
    );
  }
  return json as tf.io.ModelJSON;
}

/**
 * Reads the weight files listed in `manifest` (relative to model.json's
 * folder) and concatenates them in manifest order. Before reading anything:
 * each path must resolve, symbolic links followed, to a plain file inside
 * the model's folder, and together the files must hold exactly the bytes
 * the manifest's weights need.
 */
async function readWeights(
  manifest: tf.io.WeightsManifestConfig,
  modelJSONPath: string,
  options: Required<ModelLoadOptions>,
): Promise<{ specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer }> {
  const fs = nodeFs();
  const { dirname, join, basename, sep } = nodePath();
  const jsonName = basename(modelJSONPath);
  const isGroup = (g: tf.io.WeightsManifestConfig[number]) =>
    g != null && Array.isArray(g.paths) && g.paths.every((p) => typeof p === 'string') && Array.isArray(g.weights);
  if (!Array.isArray(manifest) || !manifest.every(isGroup)) {
    throw ModelLoadError.withMessage(
      modelJSONPath,
      `Cannot load model: ${modelJSONPath} has a malformed weightsManifest (expected [{paths, weights}])`,
    );
  }
  const specs = manifest.flatMap((group) => group.weights);
  const needBytes = checkWeightSpecs(specs, modelJSONPath, options.maxWeightBytes).reduce((sum, w) => sum + w.bytes, 0);

  const folder = dirname(modelJSONPath);
  const realFolder = fs.realpathSync(folder);
  const files: string[] = [];
  const reals: string[] = [];
  const sizes: number[] = [];
  for (const p of manifest.flatMap((group) => group.paths)) {
    checkWeightPath(p, modelJSONPath);
    const file = join(folder, p);
    let real: string;
    try {
      real = fs.realpathSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw ModelLoadError.withMessage(
          file,
          `Cannot load model: weights file ${file} does not exist (listed in ${modelJSONPath})`,
        );
      }
      throw error;
    }
    if (real === realFolder) {
      throw ModelLoadError.withMessage(
        file,
        `Cannot load model: ${modelJSONPath} lists the weights file ${describeValue(p)}, which is its folder, ` +
          'not a file',
      );
    }
    if (!real.startsWith(realFolder + sep)) {
      throw ModelLoadError.withMessage(
        file,
        `Cannot load model: weights file ${file} resolves to ${real}, outside the model's folder ${realFolder} ` +
          '(a symbolic link?); refusing to read it',
      );
    }
    const stat = fs.statSync(real);
    if (!stat.isFile()) {
      throw ModelLoadError.withMessage(
        file,
        `Cannot load model: weights file ${file} (listed in ${modelJSONPath}) is not a plain file`,
      );
    }
    files.push(file);
    reals.push(real);
    sizes.push(stat.size);
  }

  const haveBytes = sizes.reduce((sum, size) => sum + size, 0);
  if (files.length === 0 && needBytes > 0) {
    throw ModelLoadError.withMessage(
      modelJSONPath,
      `Cannot load model: ${modelJSONPath} lists no weights file, but its weightsManifest needs ${needBytes} bytes`,
    );
  }
  if (haveBytes !== needBytes) {
    const what = files.length === 1 ? `weights file ${files[0]} has` : `weights files ${files.join(', ')} have`;
    throw ModelLoadError.withMessage(
      files[0] ?? modelJSONPath,
      `Cannot load model: ${what} ${haveBytes} bytes but ${jsonName}'s weightsManifest needs ${needBytes} ` +
        (haveBytes < needBytes
          ? '(truncated, or not the weights of this model.json)'
          : '(not the weights of this model.json)'),
    );
  }

  // One buffer made here, filled file by file: a Node Buffer's ArrayBuffer may come from another realm
  // (as under jest), which tfjs' instanceof checks reject.
  const data = new Uint8Array(haveBytes);
  let offset = 0;
  for (const [i, file] of files.entries()) {
    readPlainFile(
      reals[i],
      (size) => {
        if (size !== sizes[i]) {
          throw ModelLoadError.withMessage(file, `Cannot load model: weights file ${file} changed while being read`);
        }
      },
      data,
      offset,
    );
    offset += sizes[i];
  }
  return { specs, data: data.buffer };
}

if (isNodeRuntime()) {
  registerFileSystemRoutes();
}
