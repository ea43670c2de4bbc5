/**
 * The public API is a deliberate list: every name src/index.ts exports at runtime, pinned here, so
 * that adding or removing one is a reviewed change (update this list and the README together).
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
    'LAYER_NAMES',
    'PRESETS',
    'PRESET_NAMES',
    'REFERENCE_SIZE',
    'Seq2Seq',
    'attentionMaps',
    'createTransformer',
    'decode',
    'greedyDecode',
    'loadSeq2Seq',
    'presetConfig',
    'resolveConfig',
    'scoreTargets',
  ],
  tasks: [
    'BOS',
    'DEFAULT_DIGITS',
    'DEFAULT_MAX_LEN',
    'DEFAULT_MIN_LEN',
    'DEFAULT_NUM_SYMBOLS',
    'EOS',
    'FIRST_SYMBOL',
    'FRESH_TEST_SEED',
    'FRESH_TEST_SIZE',
    'HELD_OUT_SEED',
    'HELD_OUT_SIZE',
    'MAX_EXCLUDED_PROBABILITY',
    'MAX_NUM_SYMBOLS',
    'NUM_SPECIAL_TOKENS',
    'PAD',
    'Random',
    'RandomState',
    'SPECIAL_TOKEN_NAMES',
    'SYMBOL_ALPHABET',
    'TASK_NAMES',
    'TrainingStream',
    'createTask',
    'createTrainingStream',
    'encodeBatch',
    'freshTestSet',
    'generateSamples',
    'heldOutSet',
  ],
  training: [
    'Adam',
    'DECAYS',
    'DEFAULT_RECIPE',
    'TASK_RECIPES',
    'Trainer',
    'balancedShare',
    'evaluateSeq2Seq',
    'warmupSchedule',
  ],
  io: [
    'NodeFileSystem',
    'TASK_JSON',
    'fileSystem',
    'loadKerasModel',
    'parseTaskJson',
    'readTaskJson',
    'registerFileSystemRoutes',
    'taskInfoFor',
    'validateTaskJson',
    'writeTaskJson',
  ],
  backends: [
    'BACKEND_CHOICES',
    'BACKEND_ENV_VAR',
    'ensureBackend',
    'initBackend',
    'installGradientFixes',
    'installWasmExtras',
    'isTfjsNodeAvailable',
    'kernelThreads',
    'kernelThreadsReady',
    'relaxedSimdKernels',
    'setKernelThreads',
    'THREADS_ENV_VAR',
  ],
};

const sorted = (names: string[]) => [...names].sort();

describe('the public API', () => {
  test('src/index.ts exports exactly the pinned names', () => {
    expect(sorted(Object.keys(api))).toEqual(sorted(Object.values(PUBLIC_NAMES).flat()));
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
    ]) {
      expect(Object.keys(api)).not.toContain(name);
    }
  });
});
