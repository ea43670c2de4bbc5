/**
 * Unknown options are errors with the nearest known name (src/options.ts), for every layer and
 * every function of the public API that takes an options object. The API is enumerated from
 * src/index.ts: a class or function exported without an entry here fails the last test, so a new
 * export either gets its check and a case below, or a reason it takes no options object.
 */
import * as tf from '@tensorflow/tfjs';
import * as api from '../src';
import { initBackend } from '../src/backend';
import { checkOptionNames, nearestName, unknownNameMessage } from '../src/options';

beforeAll(() => initBackend('cpu', { quiet: true }));

describe('nearestName', () => {
  const attention = ['numHeads', 'keyDim', 'causal', 'useBias', 'returnAttentionScores', 'name', 'trainable'];

  test.each([
    ['casual', 'causal'], // two letters swapped
    ['useCausalMask', 'causal'], // Keras's call argument, which our layer takes as `causal`
    ['use_causal_mask', 'causal'],
    ['num_heads', 'numHeads'], // snake_case
    ['numHead', 'numHeads'],
    ['trainble', 'trainable'],
    ['returnScores', 'returnAttentionScores'],
  ])('%s -> %s', (typo, known) => {
    expect(nearestName(typo, attention)).toBe(known);
  });

  test('no suggestion when nothing is near', () => {
    for (const name of ['units', 'x', 'mask', 'activation']) expect(nearestName(name, attention)).toBeUndefined();
    expect(nearestName('vocabSize', ['vocabularySize', 'embeddingDim'])).toBe('vocabularySize');
    expect(nearestName('dModel', ['vocabularySize', 'embeddingDim'])).toBeUndefined();
  });

  test('messages: the suggestion, or the known names (a command line points to its --help instead)', () => {
    expect(unknownNameMessage('option', 'casual', ['causal'])).toBe("unknown option 'casual' (did you mean 'causal'?)");
    expect(unknownNameMessage('option', 'units', ['causal', 'numHeads'])).toBe(
      "unknown option 'units'; known options: 'causal', 'numHeads'",
    );
    const quote = (n: string) => `--${n}`;
    expect(unknownNameMessage('option', 'taks', ['task'], { quote, listKnown: false })).toBe(
      'unknown option --taks (did you mean --task?)',
    );
    expect(unknownNameMessage('option', 'zzz', ['task'], { quote, listKnown: false })).toBe('unknown option --zzz');
  });

  test('checkOptionNames: an undefined value counts as absent; anything but a plain object is left alone', () => {
    expect(() => checkOptionNames('f', { causal: true, casual: undefined }, ['causal'])).not.toThrow();
    for (const value of [undefined, null, 3, 'x', [1, 2]]) expect(() => checkOptionNames('f', value, [])).not.toThrow();
    expect(() => checkOptionNames('f', { casual: false }, ['causal'])).toThrow(
      "f: unknown option 'casual' (did you mean 'causal'?)",
    );
  });
});

// ---------------------------------------------------------------------------
// Every class and function of the API.

type Call = () => unknown;
/** A call with one mistyped option, and the message (the unknown name, the nearest) it must fail with. */
type Case = [Call, string];

const TASK = { vocabularySize: 13, maxSourceLength: 12, maxTargetLength: 13 };
const unknown = (name: string, nearest: string) => `unknown option '${name}' (did you mean '${nearest}'?)`;

/** Keyed by the export's name (`tasks.x` inside the namespace); methods as `Class.method`. */
/** A model to save (built once, outside the tensor count of each case). */
const denseModel = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });

const CASES: Record<string, Case> = {
  MultiHeadAttention: [
    () => new api.MultiHeadAttention({ numHeads: 2, keyDim: 8, useCausalMask: true } as never),
    unknown('useCausalMask', 'causal'),
  ],
  'MultiHeadAttention.attentionContributions': [
    () => new api.MultiHeadAttention({ numHeads: 1, keyDim: 2 }).attentionContributions([], { attnMask: 1 } as never),
    unknown('attnMask', 'attentionMask'),
  ],
  multiHeadAttention: [
    () => api.multiHeadAttention({ numHeads: 2, keyDim: 8, valueDims: 4 } as never),
    unknown('valueDims', 'valueDim'),
  ],
  AttentionProjection: [
    () => new api.AttentionProjection({ numHeads: 2, headDim: 4, usebias: false } as never),
    unknown('usebias', 'useBias'),
  ],
  AttentionOutputProjection: [
    () => new api.AttentionOutputProjection({ outputDim: 8, kernelInitialiser: 'zeros' } as never),
    unknown('kernelInitialiser', 'kernelInitializer'),
  ],
  TransformerEncoderBlock: [
    () => new api.TransformerEncoderBlock({ numHeads: 2, intermediateDim: 8, casual: true } as never),
    unknown('casual', 'causal'),
  ],
  TransformerDecoderBlock: [
    () => new api.TransformerDecoderBlock({ numHeads: 2, intermediateDim: 8, normaliseFirst: true } as never),
    unknown('normaliseFirst', 'normalizeFirst'),
  ],
  TokenAndPositionEmbedding: [
    () =>
      new api.TokenAndPositionEmbedding({
        vocabularySize: 9,
        sequenceLength: 8,
        embeddingDim: 8,
        vocabSize: 9,
      } as never),
    unknown('vocabSize', 'vocabularySize'),
  ],
  SinusoidalPositionEncoding: [
    () => new api.SinusoidalPositionEncoding({ max_wavelength: 100 } as never),
    unknown('max_wavelength', 'maxWavelength'),
  ],
  MaskedLayerNormalization: [
    () => new api.MaskedLayerNormalization({ epsilon: 1e-3, center: true } as never),
    "unknown option 'center'; known options: 'epsilon'",
  ],
  KerasHubTransformerEncoder: [
    () => new api.KerasHubTransformerEncoder({ intermediateDim: 8, numHeads: 2, layer_norm_epsilon: 1e-5 } as never),
    unknown('layer_norm_epsilon', 'layerNormEpsilon'),
  ],
  KerasHubTransformerDecoder: [
    () => new api.KerasHubTransformerDecoder({ intermediateDim: 8, numHeads: 2, causal: true } as never),
    unknown('causal', 'useCausalMask'),
  ],
  KerasHubTokenAndPositionEmbedding: [
    () =>
      new api.KerasHubTokenAndPositionEmbedding({
        vocabularySize: 10,
        sequenceLength: 4,
        embeddingDim: 8,
        tieWeight: true,
      } as never),
    unknown('tieWeight', 'tieWeights'),
  ],
  KerasHubPositionEmbedding: [
    () => new api.KerasHubPositionEmbedding({ sequenceLength: 4, hierarchicalAlfa: 0.4 } as never),
    unknown('hierarchicalAlfa', 'hierarchicalAlpha'),
  ],
  KerasHubSinePositionEncoding: [
    () => new api.KerasHubSinePositionEncoding({ maxWavelength: 100, max: 1 } as never),
    "unknown option 'max'",
  ],
  ElementwiseOperation: [
    () => new api.ElementwiseOperation({ operation: 'add', constantFirs: true } as never),
    unknown('constantFirs', 'constantFirst'),
  ],
  ReduceOperation: [
    () => new api.ReduceOperation({ operation: 'mean', keepDims: true } as never),
    unknown('keepDims', 'keepdims'),
  ],
  KerasGlobalAveragePooling1D: [
    () => new api.KerasGlobalAveragePooling1D({ data_format: 'channels_last' } as never),
    unknown('data_format', 'dataFormat'),
  ],
  createTransformer: [() => api.createTransformer({ ...TASK, numHead: 2 } as never), unknown('numHead', 'numHeads')],
  resolveConfig: [() => api.resolveConfig({ ...TASK, dropOut: 0.1 } as never), unknown('dropOut', 'dropout')],
  presetConfig: [() => api.presetConfig('tiny', TASK, { ffDim: 64 } as never), "unknown option 'ffDim'"],
  decode: [() => api.decode(null as never, [], { maxLenght: 3 } as never), unknown('maxLenght', 'maxLength')],
  explainAttention: [
    () => api.explainAttention(null as never, [], { headMask: {} } as never),
    unknown('headMask', 'headMasks'),
  ],
  KerasSoftmax: [() => new api.KerasSoftmax({ axes: [1] } as never), unknown('axes', 'axis')],
  ActivationOperation: [
    () => new api.ActivationOperation({ activation: 'elu', alph: 1 } as never),
    unknown('alph', 'alpha'),
  ],
  SliceOperation: [() => new api.SliceOperation({ keys: [] } as never), unknown('keys', 'key')],
  KerasNormalization: [() => new api.KerasNormalization({ invertt: true } as never), unknown('invertt', 'invert')],
  KerasIoTransformerBlock: [
    () => new api.KerasIoTransformerBlock({ embedDim: 8, numHeads: 2, ffDim: 8, dropout: 0.1 } as never),
    "it has dropout; the example's arguments are embed_dim, num_heads, ff_dim, rate",
  ],
  KerasIoTransformerEncoder: [
    () => new api.KerasIoTransformerEncoder({ embedDim: 8, numHeads: 2, denseDim: 8, rate: 0.1 } as never),
    'it has rate',
  ],
  KerasIoTokenAndPositionEmbedding: [
    () => new api.KerasIoTokenAndPositionEmbedding({ maxlen: 8, vocabSize: 10, embedDim: 4, maskZero: true } as never),
    'it has mask_zero',
  ],
  KerasIoPositionalEmbedding: [
    () => new api.KerasIoPositionalEmbedding({ sequenceLength: 8, vocabSize: 10, embedDim: 4, scale: 2 } as never),
    'it has scale',
  ],
  studyAttention: [
    () =>
      api.studyAttention(
        null as never,
        {
          example: [],
          evaluate: async () => ({ exactMatch: 1, loss: 0 }),
          onscore: () => undefined,
        } as never,
      ),
    unknown('onscore', 'onScore'),
  ],
  studySeq2Seq: [() => api.studySeq2Seq(null as never, { model: 'm', counts: 3 } as never), unknown('counts', 'count')],
  generate: [() => api.generate(null as never, [[1]], { topk: 3 } as never), unknown('topk', 'topK')],
  'Seq2Seq.generate': [
    () => api.Seq2Seq.prototype.generate.call(null as never, [[3]], { beamwidth: 2 } as never),
    unknown('beamwidth', 'beamWidth'),
  ],
  Trainer: [
    () => new api.Trainer({ model: null as never, learning_rate: 1e-3 } as never),
    unknown('learning_rate', 'learningRate'),
  ],
  Adam: [() => new api.Adam({ learningRate: 1e-3, beta_2: 0.99 } as never), unknown('beta_2', 'beta2')],
  warmupSchedule: [() => api.warmupSchedule({ peak: 1e-3, warmup: 10 } as never), unknown('warmup', 'warmupSteps')],
  evaluateSeq2Seq: [
    () => api.evaluateSeq2Seq(null as never, [], null as never, { maxLength: 3, batch: 8 } as never),
    unknown('batch', 'batchSize'),
  ],
  loadKerasModel: [
    () => api.loadKerasModel('model.keras', { nonFinite: 'warn' } as never),
    unknown('nonFinite', 'nonFiniteWeights'),
  ],
  loadSeq2Seq: [
    () => api.loadSeq2Seq('models/reverse', { maxWeightByte: 1 } as never),
    unknown('maxWeightByte', 'maxWeightBytes'),
  ],
  fileSystem: [
    () => api.fileSystem('models/reverse', { nonFinite: 'warn' } as never),
    unknown('nonFinite', 'nonFiniteWeights'),
  ],
  NodeFileSystem: [
    () => new api.NodeFileSystem('models/reverse', { maxWeights: 1 } as never),
    unknown('maxWeights', 'maxWeightBytes'),
  ],
  saveKerasModel: [
    () => api.saveKerasModel(denseModel, null, { dateSave: new Date(0) } as never),
    unknown('dateSave', 'dateSaved'),
  ],
  initBackend: [() => api.initBackend('cpu', { thread: 2 } as never), unknown('thread', 'threads')],
  installWasmExtras: [
    () => api.installWasmExtras({ replaceTfjsKernel: false } as never),
    unknown('replaceTfjsKernel', 'replaceTfjsKernels'),
  ],
  installGradientFixes: [
    () => api.installGradientFixes({ replaceGradients: true } as never),
    unknown('replaceGradients', 'replaceTfjsGradients'),
  ],
  installLayerFixes: [
    () => api.installLayerFixes({ replaceCalls: true } as never),
    unknown('replaceCalls', 'replaceTfjsCalls'),
  ],
  'tasks.createTask': [() => api.tasks.createTask('copy', { maxlen: 5 } as never), unknown('maxlen', 'maxLen')],
};

/** Exports that take no options object, and what they take instead. */
const NO_OPTIONS: Record<string, string> = {
  causalMask: 'two lengths',
  CharTokenizer: 'a list of characters (CharTokenizer.fromText builds one from a text)',
  sinusoidalEncoding: 'a length, a width and a wavelength',
  attentionMaps: 'a model, a source and a target',
  predictWithHeadMasks: 'a model, its inputs and the head masks by attention path (each path and mask checked)',
  withMeanValues: 'an attention layer, head indices and the work to run meanwhile',
  ovSpectra: 'an attention layer',
  studySvg: 'a study',
  checkStudy: 'the parsed study.json and its file name',
  greedyDecode: 'a model, sources and a length',
  scoreTargets: 'a model, sources and targets',
  Seq2Seq: 'a model and its task.json record (parseTaskJson checks one read from a file)',
  balancedShare: "a recipe (TASK_RECIPES' entries) and a step",
  trainingCurveSvg: 'log entries and a title',
  parseTaskJson: 'the text and its file name; the record is checked field by field',
  readTaskJson: 'a folder',
  writeTaskJson: 'a folder and a record',
  taskInfoFor: 'the task, the config and two records that become task.json',
  ModelLoadError: 'a file name and what is wrong with it',
  registerFileSystemRoutes: 'nothing',
  ensureBackend: 'nothing',
  isTfjsNodeAvailable: 'nothing',
  softwareWebglRenderer: 'nothing',
  kernelThreads: 'nothing',
  kernelThreadsReady: 'a timeout',
  setKernelThreads: 'a count',
  relaxedSimdKernels: 'nothing',
  sharedHeapKernels: 'nothing',
  'tasks.Random': 'a seed',
  'tasks.TrainingStream': 'a task and a generator (createTrainingStream makes one)',
  'tasks.createTrainingStream': 'a task and a seed',
  'tasks.generateSamples': 'a task, a count and a seed',
  'tasks.heldOutSet': 'a task',
  'tasks.freshTestSet': 'a task',
  'tasks.encodeBatch': 'a task and samples',
};

/** Every function (classes included) the package exports, as `name` or `tasks.name`. */
function exportedFunctions(): string[] {
  const named = (prefix: string, module: object) =>
    Object.entries(module)
      .filter(([, value]) => typeof value === 'function')
      .map(([name]) => `${prefix}${name}`);
  return [...named('', api), ...named('tasks.', api.tasks)];
}

describe('every layer and every options-taking function refuses an unknown option, naming the nearest', () => {
  test.each(Object.entries(CASES))('%s', async (_name, [call, message]) => {
    const before = tf.memory().numTensors;
    let error: unknown;
    try {
      await call();
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain(message);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('the same layers take every name of their own config back (tfjs deserializing them)', () => {
    const layers = [
      new api.MultiHeadAttention({ numHeads: 2, keyDim: 4, causal: true }),
      new api.TransformerEncoderBlock({ numHeads: 2, intermediateDim: 8, causal: true }),
      new api.KerasHubTransformerDecoder({ intermediateDim: 8, numHeads: 2 }),
      new api.TokenAndPositionEmbedding({ vocabularySize: 10, sequenceLength: 4, embeddingDim: 8 }),
    ];
    for (const layer of layers) {
      const config = { ...layer.getConfig(), customObjects: {} };
      const cls = layer.constructor as unknown as new (args: unknown) => tf.layers.Layer;
      expect(new cls(config).getConfig()).toEqual(layer.getConfig());
    }
  });

  test('every exported class and function is covered: a case above, or a reason it takes no options', () => {
    const exported = exportedFunctions();
    const missing = exported.filter((name) => !(name in CASES) && !(name in NO_OPTIONS));
    expect({ missing }).toEqual({ missing: [] });
    // And no entry names something the package no longer exports.
    const entries = [...Object.keys(CASES), ...Object.keys(NO_OPTIONS)].map((key) =>
      key.split('.').length === 2 && !key.startsWith('tasks.') ? key.split('.')[0] : key,
    );
    expect(entries.filter((name) => !exported.includes(name))).toEqual([]);
  });
});
