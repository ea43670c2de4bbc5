/**
 * The public API is a deliberate list: every name src/index.ts exports at runtime, pinned here, so
 * that adding or removing one is a reviewed change (update this list, the README and CHANGELOG.md
 * together).
 * Shared helpers of the modules (argument checks, mask and matmul helpers, kernels) are internal.
 * The browser entry (src/browser.ts, behind the package's `browser` condition) exports the same.
 */
import * as api from '../src';
import * as browserApi from '../src/browser';
import { LAYER_EXPORT_NAMES } from './helpers/registered_classes';

const PUBLIC_NAMES = {
  layers: [
    ...LAYER_EXPORT_NAMES,
    'multiHeadAttention',
    'sinusoidalEncoding',
    'causalMask',
    'ACTIVATIONS',
    'POSITION_ENCODINGS',
  ],
  model: [
    'PRESETS',
    'PRESET_NAMES',
    'Seq2Seq',
    'attentionMaps',
    'createTransformer',
    'decode',
    'explainAttention',
    'predictWithHeadMasks',
    'studyAttention',
    'withMeanValues',
    'ovSpectra',
    'studySvg',
    'checkStudy',
    'generate',
    'greedyDecode',
    'SAMPLERS',
    'loadSeq2Seq',
    'presetConfig',
    'resolveConfig',
    'scoreTargets',
  ],
  tasks: ['tasks', 'CharTokenizer'],
  training: [
    'Adam',
    'DECAYS',
    'DEFAULT_RECIPE',
    'TASK_RECIPES',
    'Trainer',
    'balancedShare',
    'evaluateSeq2Seq',
    'studySeq2Seq',
    'trainingCurveSvg',
    'warmupSchedule',
  ],
  io: [
    'DEFAULT_MAX_WEIGHT_BYTES',
    'ModelLoadError',
    'NodeFileSystem',
    'fileSystem',
    'loadKerasModel',
    'KERAS_ACTIVATIONS',
    'saveKerasModel',
    'KERAS_IO_LAYERS',
    'parseTaskJson',
    'readTaskJson',
    'registerFileSystemRoutes',
    'taskInfoFor',
    'writeTaskJson',
  ],
  backends: [
    'BACKEND_CHOICES',
    'ensureBackend',
    'initBackend',
    'installGradientFixes',
    'installLayerFixes',
    'installWasmExtras',
    'isTfjsNodeAvailable',
    'kernelThreads',
    'kernelThreadsReady',
    'relaxedSimdKernels',
    'setKernelThreads',
    'sharedHeapKernels',
    'softwareWebglRenderer',
  ],
};

/** The `tasks` namespace: the toy tasks, without the seeds and limits behind their sets. */
const TASKS_NAMES = [
  'BOS',
  'EOS',
  'FIRST_SYMBOL',
  'FRESH_TEST_SIZE',
  'HELD_OUT_SIZE',
  'PAD',
  'Random',
  'SPECIAL_TOKEN_NAMES',
  'TASK_NAMES',
  'TrainingStream',
  'createTask',
  'createTrainingStream',
  'encodeBatch',
  'freshTestSet',
  'generateSamples',
  'heldOutSet',
];

const sorted = (names: string[]) => [...names].sort();

describe('the public API', () => {
  test('src/index.ts exports exactly the pinned names', () => {
    expect(sorted(Object.keys(api))).toEqual(sorted(Object.values(PUBLIC_NAMES).flat()));
  });

  test('the toy tasks are one namespace, without their seeds and limits', () => {
    expect(sorted(Object.keys(api.tasks))).toEqual(sorted(TASKS_NAMES));
  });

  test('the browser entry exports the same names', () => {
    expect(sorted(Object.keys(browserApi))).toEqual(sorted(Object.keys(api)));
  });

  test('internal helpers stay internal', () => {
    for (const name of [
      'checkPositiveInt',
      'matMul2d',
      'sumRows',
      'dense2d',
      'projectHeads',
      'combineMasks',
      'oneHotFloat',
      'atomicWriteFile',
      'transformerParts',
      'convertKerasModel',
      'ZipArchive',
      'Hdf5File',
      'convertGraph',
      'inParallel',
      // Internal constants, and the aliases of before 0.1.0 (CHANGELOG.md).
      'MAX_EXCLUDED_PROBABILITY',
      'FRESH_TEST_SEED',
      'HELD_OUT_SEED',
      'LAYER_NAMES',
      'REFERENCE_SIZE',
      'withCurrentConfigNames',
    ]) {
      expect(Object.keys(api)).not.toContain(name);
      expect(Object.keys(api.tasks)).not.toContain(name);
    }
  });
});
