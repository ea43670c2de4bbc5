import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { atomicWriteFile, setFaultHookForTesting } from '../../src/io/atomic';
import { NodeFileSystem, fileSystem, registerFileSystemRoutes } from '../../src/io/file_system';

/** Inputs every model here is probed with: (3, 4). */
const PROBE = [
  [0.5, -1, 2, 0.25],
  [-0.75, 0.1, 0, 1.5],
  [3, -2, 0.3, -0.6],
];

let root: string;
let folderCount = 0;

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-attention-file-system-'));
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

afterEach(() => {
  setFaultHookForTesting(null);
  jest.restoreAllMocks();
});

function freshFolder(): string {
  return path.join(root, `case-${folderCount++}`);
}

/** A (B, 4) -> (B, 3) MLP whose weights depend only on `seed`. */
function denseModel(seed: number): tf.Sequential {
  const model = tf.sequential();
  model.add(
    tf.layers.dense({
      inputShape: [4],
      units: 8,
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
      biasInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: seed + 1 }),
    }),
  );
  model.add(tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }) }));
  return model;
}

async function predict(model: tf.LayersModel): Promise<Float32Array> {
  const x = tf.tensor2d(PROBE);
  const y = model.predict(x) as tf.Tensor;
  const values = (await y.data()) as Float32Array;
  tf.dispose([x, y]);
  return values;
}

async function loadAndPredict(folder: string): Promise<Float32Array> {
  const model = await tf.loadLayersModel(`file://${folder}/model.json`);
  const values = await predict(model);
  model.dispose();
  return values;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((max, v, i) => Math.max(max, Math.abs(v - b[i])), 0);
}

function readModelJSON(folder: string): tf.io.ModelJSON {
  return JSON.parse(fs.readFileSync(path.join(folder, 'model.json'), 'utf8'));
}

function listFolder(folder: string): string[] {
  return fs.readdirSync(folder).sort();
}

/** Two models whose predictions differ, saved in turn over each other below. */
let modelA: tf.Sequential;
let modelB: tf.Sequential;
let predictionsA: Float32Array;
let predictionsB: Float32Array;

beforeAll(async () => {
  modelA = denseModel(1);
  modelB = denseModel(100);
  modelB.setUserDefinedMetadata({ tag: 'B' });
  predictionsA = await predict(modelA);
  predictionsB = await predict(modelB);
  expect(maxAbsDiff(predictionsA, predictionsB)).toBeGreaterThan(1e-3);
});

describe('round trip', () => {
  it('saves the tfjs-node layout and loads identical predictions', async () => {
    const folder = freshFolder();
    const result = await modelA.save(`file://${folder}`);

    expect(listFolder(folder)).toEqual(['model.json', 'weights.bin']);
    const json = readModelJSON(folder);
    expect(Object.keys(json).sort()).toEqual(
      ['convertedBy', 'format', 'generatedBy', 'modelTopology', 'weightsManifest'].sort(),
    );
    expect(json.format).toBe('layers-model');
    expect(json.generatedBy).toMatch(/^TensorFlow\.js tfjs-layers v/);
    expect(json.weightsManifest).toHaveLength(1);
    expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
    expect(json.weightsManifest[0].weights.map((w) => [w.name, w.shape, w.dtype])).toEqual(
      modelA.weights.map((w) => [w.originalName, w.shape, 'float32']),
    );

    // weights.bin is the weight values back to back, in manifest order.
    const bytes = fs.readFileSync(path.join(folder, 'weights.bin'));
    const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const expected = Float32Array.from(modelA.getWeights().flatMap((w) => Array.from(w.dataSync())));
    expect(floats).toEqual(expected);
    expect(result.modelArtifactsInfo.weightDataBytes).toBe((4 * 8 + 8 + 8 * 3 + 3) * 4);

    expect(maxAbsDiff(await loadAndPredict(folder), predictionsA)).toBe(0);
  });

  it('keeps trainingConfig, optimizer weights and user metadata of a compiled model', async () => {
    const model = denseModel(7);
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
    const xs = tf.tensor2d(PROBE);
    const ys = tf.tensor2d([
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ]);
    await model.fit(xs, ys, { epochs: 1, batchSize: 3, verbose: 0 });
    model.setUserDefinedMetadata({ vocabulary: ['a', 'b'] });
    const before = await predict(model);
    const folder = freshFolder();

    await model.save(`file://${folder}`, { includeOptimizer: true });

    const json = readModelJSON(folder);
    expect(json.trainingConfig?.loss).toBe('mean_squared_error');
    expect((json.trainingConfig?.optimizer_config as { class_name: string }).class_name).toBe('Adam');
    expect(json.userDefinedMetadata).toEqual({ vocabulary: ['a', 'b'] });
    const groups = json.weightsManifest[0].weights.map((w) => w.group ?? 'model');
    expect(groups.filter((g) => g === 'optimizer').length).toBeGreaterThan(0);

    const loaded = await tf.loadLayersModel(`file://${folder}/model.json`);
    expect(loaded.optimizer).toBeInstanceOf(tf.AdamOptimizer);
    expect(loaded.getUserDefinedMetadata()).toEqual({ vocabulary: ['a', 'b'] });
    expect(maxAbsDiff(await predict(loaded), before)).toBe(0);
    loaded.dispose();
    model.dispose();
    tf.dispose([xs, ys]);
  });

  it('leaves trainingConfig out when tfjs does (no includeOptimizer)', async () => {
    const folder = freshFolder();
    const model = denseModel(8);
    model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    await model.save(`file://${folder}`);
    expect(readModelJSON(folder).trainingConfig).toBeUndefined();
    model.dispose();
  });

  it('loads weights split over several shards, concatenated in manifest order', async () => {
    const folder = freshFolder();
    await modelA.save(`file://${folder}`);
    const bytes = fs.readFileSync(path.join(folder, 'weights.bin'));
    const cut = 100; // falls inside the first kernel: decoding must join the shards
    fs.writeFileSync(path.join(folder, 'group1-shard1of2.bin'), bytes.subarray(0, cut));
    fs.writeFileSync(path.join(folder, 'group1-shard2of2.bin'), bytes.subarray(cut));
    fs.rmSync(path.join(folder, 'weights.bin'));
    const json = readModelJSON(folder);
    json.weightsManifest[0].paths = ['group1-shard1of2.bin', 'group1-shard2of2.bin'];
    fs.writeFileSync(path.join(folder, 'model.json'), JSON.stringify(json));

    expect(maxAbsDiff(await loadAndPredict(folder), predictionsA)).toBe(0);
  });

  it('replaces an earlier model, leaving only model.json and weights.bin', async () => {
    const folder = freshFolder();
    await modelA.save(`file://${folder}`);
    await modelB.save(`file://${folder}`);
    expect(listFolder(folder)).toEqual(['model.json', 'weights.bin']);
    expect(readModelJSON(folder).weightsManifest[0].paths).toEqual(['weights.bin']);
    expect(maxAbsDiff(await loadAndPredict(folder), predictionsB)).toBe(0);
  });

  it('runs concurrent saves to one folder one after another', async () => {
    const folder = freshFolder();
    await Promise.all([modelA.save(`file://${folder}`), modelB.save(`file://${folder}`)]);
    expect(listFolder(folder)).toEqual(['model.json', 'weights.bin']);
    expect(maxAbsDiff(await loadAndPredict(folder), predictionsB)).toBe(0);
  });

  it('leaves the number of tensors unchanged across save and load', async () => {
    const folder = freshFolder();
    const before = tf.memory().numTensors;
    await modelA.save(`file://${folder}`);
    expect(tf.memory().numTensors).toBe(before);
    const loaded = await tf.loadLayersModel(`file://${folder}/model.json`);
    expect(tf.memory().numTensors).toBe(before + loaded.weights.length);
    loaded.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('atomic saving', () => {
  /** Every fault point a save of B over A passes, in order. */
  async function stepsOfSavingBOverA(): Promise<string[]> {
    const folder = freshFolder();
    await modelA.save(`file://${folder}`);
    const steps: string[] = [];
    setFaultHookForTesting((step) => {
      steps.push(step);
    });
    await modelB.save(`file://${folder}`);
    setFaultHookForTesting(null);
    return steps;
  }

  it('passes the steps named in its design, committing with the model.json rename', async () => {
    const steps = await stepsOfSavingBOverA();
    expect(steps).toEqual([
      'pin: old weights.bin linked',
      'model.json: temporary file created',
      'model.json: temporary file written',
      'model.json: temporary file synced, not yet renamed',
      'pin: old model.json points at the pin',
      'weights.bin: temporary file created',
      'weights.bin: temporary file written',
      'weights.bin: temporary file synced, not yet renamed',
      'new weights.bin in place, model.json not yet',
      'model.json: temporary file created',
      'model.json: temporary file written',
      'model.json: temporary file synced, not yet renamed',
    ]);
  });

  it('keeps model A loadable, exactly, when saving B fails at any step', async () => {
    const steps = await stepsOfSavingBOverA();
    for (let failAt = 0; failAt < steps.length; failAt++) {
      const folder = freshFolder();
      await modelA.save(`file://${folder}`);
      let calls = 0;
      setFaultHookForTesting((step) => {
        if (calls++ === failAt) {
          throw new Error(`injected failure at ${step}`);
        }
      });

      await expect(modelB.save(`file://${folder}`)).rejects.toThrow(`injected failure at ${steps[failAt]}`);
      setFaultHookForTesting(null);

      expect([failAt, listFolder(folder)]).toEqual([failAt, ['model.json', 'weights.bin']]);
      expect(readModelJSON(folder).weightsManifest[0].paths).toEqual(['weights.bin']);
      expect([failAt, maxAbsDiff(await loadAndPredict(folder), predictionsA)]).toEqual([failAt, 0]);
    }
  });

  it('keeps model A loadable when the file system itself fails the weights.bin rename', async () => {
    const folder = freshFolder();
    await modelA.save(`file://${folder}`);
    const rename = fs.promises.rename;
    let failed = false;
    jest.spyOn(fs.promises, 'rename').mockImplementation(async (from, to) => {
      if (!failed && String(to).endsWith('weights.bin')) {
        failed = true;
        throw Object.assign(new Error(`EIO: i/o error, rename '${from}' -> '${to}'`), { code: 'EIO' });
      }
      return rename(from, to);
    });

    await expect(modelB.save(`file://${folder}`)).rejects.toThrow('EIO');

    expect(failed).toBe(true);
    expect(listFolder(folder)).toEqual(['model.json', 'weights.bin']);
    expect(maxAbsDiff(await loadAndPredict(folder), predictionsA)).toBe(0);
  });

  it("keeps model A loadable when the file system fails the new model.json's rename", async () => {
    const folder = freshFolder();
    await modelA.save(`file://${folder}`);
    const rename = fs.promises.rename;
    let failed = false;
    jest.spyOn(fs.promises, 'rename').mockImplementation(async (from, to) => {
      const isModelB = String(to).endsWith('model.json') && fs.readFileSync(from, 'utf8').includes('"tag":"B"');
      if (!failed && isModelB) {
        failed = true;
        throw Object.assign(new Error(`ENOSPC: no space left on device, rename '${from}'`), { code: 'ENOSPC' });
      }
      return rename(from, to);
    });

    await expect(modelB.save(`file://${folder}`)).rejects.toThrow('ENOSPC');

    expect(failed).toBe(true);
    expect(listFolder(folder)).toEqual(['model.json', 'weights.bin']);
    expect(maxAbsDiff(await loadAndPredict(folder), predictionsA)).toBe(0);
  });

  it('leaves a loadable model A at every step if the process dies, and the next save cleans up', async () => {
    const folder = freshFolder();
    await modelA.save(`file://${folder}`);
    // A crash runs no restore code: copy the folder as it is at each step.
    const snapshots: string[] = [];
    setFaultHookForTesting(() => {
      const snapshot = `${folder}-crash-${snapshots.length}`;
      fs.cpSync(folder, snapshot, { recursive: true });
      snapshots.push(snapshot);
    });
    await modelB.save(`file://${folder}`);
    setFaultHookForTesting(null);

    expect(snapshots.length).toBe(12);
    for (const snapshot of snapshots) {
      expect([snapshot, maxAbsDiff(await loadAndPredict(snapshot), predictionsA)]).toEqual([snapshot, 0]);
    }
    expect(maxAbsDiff(await loadAndPredict(folder), predictionsB)).toBe(0);

    // After a crash just before the commit (model.json pointing at the pin,
    // the new model.json still a temporary file), the next save leaves the
    // plain layout again. The snapshot's files must look like those of a dead
    // process, not of this one.
    const crashed = snapshots[snapshots.length - 1];
    const deadPid = findUnusedPid();
    const ours = `.tmp-${process.pid}-`;
    for (const name of fs.readdirSync(crashed).filter((n) => n.includes(ours))) {
      fs.renameSync(path.join(crashed, name), path.join(crashed, name.replace(ours, `.tmp-${deadPid}-`)));
    }
    const pinned = fs.readFileSync(path.join(crashed, 'model.json'), 'utf8').split(ours).join(`.tmp-${deadPid}-`);
    fs.writeFileSync(path.join(crashed, 'model.json'), pinned);
    fs.writeFileSync(path.join(crashed, `.weights.bin.tmp-${deadPid}-abc123`), 'partial');
    expect(readModelJSON(crashed).weightsManifest[0].paths[0]).toMatch(
      new RegExp(`^\\.weights\\.bin\\.tmp-${deadPid}-`),
    );
    expect(listFolder(crashed).filter((n) => n.startsWith('.')).length).toBe(3);
    expect(maxAbsDiff(await loadAndPredict(crashed), predictionsA)).toBe(0);
    await modelB.save(`file://${crashed}`);
    expect(listFolder(crashed)).toEqual(['model.json', 'weights.bin']);
    expect(maxAbsDiff(await loadAndPredict(crashed), predictionsB)).toBe(0);
  });
});

function findUnusedPid(): number {
  for (let pid = 4_000_000; pid > 1000; pid--) {
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') {
        return pid;
      }
    }
  }
  throw new Error('no unused pid found');
}

describe('errors', () => {
  it('names the missing model.json and its missing folder', async () => {
    const folder = path.join(root, 'no-such-folder');
    await expect(tf.loadLayersModel(`file://${folder}/model.json`)).rejects.toThrow(
      `Cannot load model: ${folder}/model.json does not exist (nor does the folder ${folder})`,
    );
  });

  it('says when model.json is not JSON', async () => {
    const folder = freshFolder();
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'model.json'), '{"modelTopology": ');
    await expect(tf.loadLayersModel(`file://${folder}/model.json`)).rejects.toThrow(
      `Cannot load model: ${folder}/model.json is not valid JSON`,
    );
  });

  it('says when the weights file is truncated, with both sizes', async () => {
    const folder = freshFolder();
    await modelA.save(`file://${folder}`);
    fs.truncateSync(path.join(folder, 'weights.bin'), 40);
    await expect(tf.loadLayersModel(`file://${folder}/model.json`)).rejects.toThrow(
      `weights file ${folder}/weights.bin has 40 bytes but model.json's weightsManifest needs 268`,
    );
  });

  it('says when the weights file is longer than model.json needs', async () => {
    const folder = freshFolder();
    await modelA.save(`file://${folder}`);
    fs.appendFileSync(path.join(folder, 'weights.bin'), new Uint8Array(4));
    await expect(tf.loadLayersModel(`file://${folder}/model.json`)).rejects.toThrow(
      `weights file ${folder}/weights.bin has 272 bytes but model.json's weightsManifest needs 268 ` +
        '(not the weights of this model.json)',
    );
  });

  it('says when the weights file shrinks or grows between its size check and its read', async () => {
    const folder = freshFolder();
    await modelA.save(`file://${folder}`);
    const weights = path.join(folder, 'weights.bin');
    // The module object itself (the `import * as` namespace's properties cannot be redefined).
    const nodeFs = jest.requireActual<typeof fs>('fs');
    const statSync = nodeFs.statSync;
    for (const change of [-4, 4]) {
      // The size the loader checks is 268 (what model.json needs); the file it then opens is not.
      fs.truncateSync(weights, 268 + change);
      jest.spyOn(nodeFs, 'statSync').mockImplementation(((file: fs.PathLike, options?: fs.StatSyncOptions) => {
        const stat = statSync(file, options) as fs.Stats;
        return String(file).endsWith('weights.bin') ? Object.assign(stat, { size: 268 }) : stat;
      }) as typeof fs.statSync);
      await expect(tf.loadLayersModel(`file://${folder}/model.json`)).rejects.toThrow(
        `Cannot load model: weights file ${folder}/weights.bin changed while being read`,
      );
      jest.restoreAllMocks();
    }
  });

  it('names a missing weights file', async () => {
    const folder = freshFolder();
    await modelA.save(`file://${folder}`);
    fs.rmSync(path.join(folder, 'weights.bin'));
    await expect(tf.loadLayersModel(`file://${folder}/model.json`)).rejects.toThrow(
      `Cannot load model: weights file ${folder}/weights.bin does not exist (listed in ${folder}/model.json)`,
    );
  });

  it('points at model.json when given the folder to load', async () => {
    const folder = freshFolder();
    await modelA.save(`file://${folder}`);
    await expect(tf.loadLayersModel(`file://${folder}`)).rejects.toThrow(
      `Cannot load model: ${folder} is a folder; load the model.json inside it (file://${folder}/model.json)`,
    );
  });

  it('refuses to save over a file', async () => {
    const file = path.join(root, 'a-file');
    fs.writeFileSync(file, 'not a folder');
    await expect(modelA.save(`file://${file}`)).rejects.toThrow(
      `Cannot save model to ${file}: it exists and is a file`,
    );
    expect(fs.readFileSync(file, 'utf8')).toBe('not a folder');
  });
});

describe('atomicWriteFile', () => {
  it('creates the folder, replaces the content and leaves no temporary file', async () => {
    const folder = path.join(freshFolder(), 'nested');
    const file = path.join(folder, 'task.json');
    await atomicWriteFile(file, '{"step": 1}');
    await atomicWriteFile(file, '{"step": 2}');
    expect(fs.readFileSync(file, 'utf8')).toBe('{"step": 2}');
    await atomicWriteFile(path.join(folder, 'log.bin'), new Uint8Array([1, 2, 255]));
    expect([...fs.readFileSync(path.join(folder, 'log.bin'))]).toEqual([1, 2, 255]);
    expect(listFolder(folder)).toEqual(['log.bin', 'task.json']);
  });

  it('keeps the old content when the write fails midway', async () => {
    const folder = freshFolder();
    const file = path.join(folder, 'task.json');
    await atomicWriteFile(file, 'old');
    setFaultHookForTesting((step) => {
      if (step === 'task.json: temporary file written') {
        throw new Error('disk full');
      }
    });
    await expect(atomicWriteFile(file, 'new')).rejects.toThrow('disk full');
    expect(fs.readFileSync(file, 'utf8')).toBe('old');
    expect(listFolder(folder)).toEqual(['task.json']);
  });
});

describe('registerFileSystemRoutes', () => {
  it('routes file:// to this handler once, however often it is called', () => {
    registerFileSystemRoutes();
    registerFileSystemRoutes();
    const savers = tf.io.getSaveHandlers('file:///some/folder');
    const loaders = tf.io.getLoadHandlers('file:///some/folder/model.json');
    expect(savers).toHaveLength(1);
    expect(loaders).toHaveLength(1);
    expect(savers[0]).toBeInstanceOf(NodeFileSystem);
    expect((loaders[0] as NodeFileSystem).path).toBe('/some/folder/model.json');
    expect(fileSystem('relative/x').path).toBe(path.resolve('relative/x'));
    expect(tf.io.getSaveHandlers('indexeddb://x').some((h) => h instanceof NodeFileSystem)).toBe(false);
  });

  it('steps aside for a file:// handler registered later (tfjs-node imported after this package)', () => {
    // Only claims one prefix, so that the other tests keep this package's handler.
    const other: tf.io.IOHandler = { save: async () => ({ modelArtifactsInfo: {} as tf.io.ModelArtifactsInfo }) };
    const otherRouter = (url: string | string[]) =>
      typeof url === 'string' && url.startsWith('file:///tfjs-node-owned/') ? other : null;
    tf.io.registerSaveRouter(otherRouter as Parameters<typeof tf.io.registerSaveRouter>[0]);

    expect(tf.io.getSaveHandlers('file:///tfjs-node-owned/model')).toEqual([other]);
    const elsewhere = tf.io.getSaveHandlers('file:///somewhere-else/model');
    expect(elsewhere).toHaveLength(1);
    expect(elsewhere[0]).toBeInstanceOf(NodeFileSystem);
  });
});
