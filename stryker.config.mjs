// Mutation testing of the core (issue 31): `npm run mutation -- src/keras/zip.ts` mutates one module
// (or several, or a folder) and runs only its tests; `npm run mutation` mutates every module below.
// Slow (minutes per module), so it is not part of `npm test`. Equivalent mutants: test/MUTATION.md.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const jestConfig = require('./jest.config.js');

/**
 * src/ops's modules: each has test/ops/<name>.test.ts, which checks its values against plain loops
 * on cpu and wasm (the fused kernels) and on a backend without them (the tfjs-ops path), in seconds.
 */
const OPS = ['activations', 'attention', 'attention_cache', 'dense', 'embedding', 'gelu', 'layer_norm', 'rows'];

/**
 * The modules in scope, each with the test files that check it (run alone, in jest's main project).
 * Every mutant's run loads each listed file (tfjs and the package with it: about a second each),
 * so a list holds the files that check the module's values, not every file that reaches it.
 * Left out everywhere: test/errors/hostile_files.test.ts (it loads files in child processes, which
 * run the sandbox's code without the mutant switch, and does its work in beforeAll).
 */
const MODULES = {
  'src/keras/zip.ts': ['test/keras/zip.test.ts'],
  'src/train/losses.ts': ['test/train/losses.test.ts'],
  'src/keras/weights.ts': [
    'test/keras/weights.test.ts',
    'test/keras/bad_inputs.test.ts',
    'test/keras/fixtures.test.ts',
    'test/keras/nested_models.test.ts',
  ],
  'src/train/trainer.ts': ['test/train/trainer.test.ts'],
  'src/keras/hdf5.ts': ['test/keras/hdf5.test.ts', 'test/keras/bad_inputs.test.ts'],
  // hdf5.test.ts alone loads no tfjs: a mutant's run takes seconds (its sweep reaches every check).
  'src/keras/hdf5_reader.ts': ['test/keras/hdf5.test.ts'],
  // The writer's layout field by field, and its files read back: no tfjs (hdf5.test.ts, which reads
  // the writer's files too, would add its field sweeps' seconds to every mutant's run).
  'src/keras/hdf5_writer.ts': ['test/keras/hdf5_writer.test.ts'],
  ...Object.fromEntries(OPS.map((name) => [`src/ops/${name}.ts`, [`test/ops/${name}.test.ts`]])),
  'src/ops': OPS.map((name) => `test/ops/${name}.test.ts`),
  'src/kernels': null,
  'src/kernels/layer_norm.ts': ['test/kernels/layer_norm.test.ts'],
  // Against float64 loops on cpu, every part on a worker (attention.test.ts, against tfjs ops on
  // both backends: 14 s a run).
  'src/kernels/attention.ts': ['test/kernels/attention_unit.test.ts'],
  // matmul.test.ts calls matMulInto directly for the kept and joined weights and GELU that dense.ts's
  // layers use (dense.test.ts and kept.test.ts would add 17 s to every mutant's run).
  'src/kernels/matmul.ts': ['test/kernels/matmul.test.ts'],
  'src/kernels/dense.ts': ['test/kernels/dense.test.ts', 'test/kernels/kept.test.ts'],
  'src/kernels/concat.ts': ['test/kernels/concat.test.ts'],
  'src/kernels/transpose.ts': ['test/kernels/transpose.test.ts'],
  'src/kernels/tile.ts': ['test/kernels/tile.test.ts'],
  'src/kernels/tile_gradient.ts': ['test/kernels/tile_gradient.test.ts'],
  'src/kernels/cache_update.ts': ['test/ops/attention_cache.test.ts'],
  'src/kernels/gelu.ts': ['test/ops/gelu.test.ts'],
  'src/kernels/adam.ts': ['test/train/adam_kernel.test.ts'],
  'src/kernels/fused_kernel.ts': ['test/kernels/fused_kernel.test.ts'],
  // The encodings byte for byte and small modules run by the engine: no tfjs, under a second.
  'src/kernels/wasm_assembler.ts': ['test/kernels/wasm_assembler.test.ts'],
  // The protocol: parts claimed once each, on the workers alone where a test says so; the counts.
  'src/kernels/threads.ts': ['test/kernels/threads.test.ts'],
  // Each kernel called directly on the module's memory against plain loops: no tfjs. The kernels
  // are assembled once per test file, on first use, so their mutants are static (every test runs).
  'src/kernels/simd_kernels.ts': ['test/kernels/simd_kernels.test.ts'],
  // The searches and samplers alone have fast tests of their own; the folder's runners need models.
  'src/decode/search.ts': ['test/decode/search.test.ts', 'test/decode/samplers.test.ts'],
  'src/decode/samplers.ts': ['test/decode/search.test.ts', 'test/decode/samplers.test.ts'],
  // decode.ts on a width-8 encoder-decoder of one block a side, cpu only (decode.test.ts: 28 s).
  'src/decode/decode.ts': ['test/decode/decode_unit.test.ts'],
  // generate and its runners on width-8 models (a decoder-only stack, an encoder-decoder), cpu and
  // the plain-ops backend (generate.test.ts, which trains a model: 48 s).
  'src/decode/generate.ts': ['test/decode/generate_unit.test.ts', 'test/decode/decode_unit.test.ts'],
  'src/decode/runner.ts': ['test/decode/generate_unit.test.ts', 'test/decode/decode_unit.test.ts'],
  // The graph reading of a model (plans, refusals, runModel, head masks) on width-8 models, no generation.
  'src/decode/graph.ts': ['test/decode/graph_unit.test.ts'],
  // The typed-array runner and its steps: each step against the layer's own call, the runner
  // against predict, on width-8 models (array_runner.test.ts compares whole generations on two
  // backends: 30 s).
  'src/decode/array_runner.ts': ['test/decode/array_unit.test.ts'],
  'src/decode/array_steps.ts': ['test/decode/array_unit.test.ts'],
  // Fast modules outside the core (a planted-bug audit found boundary bugs surviving there): each
  // with the files that check its values, no model trained.
  'src/train/progress.ts': ['test/train/log.test.ts'],
  'src/train/log.ts': ['test/train/log.test.ts'],
  'src/train/schedule.ts': ['test/train/schedule.test.ts'],
  'src/train/checkpoint.ts': ['test/train/checkpoint.test.ts'],
  'src/train/options.ts': ['test/train/options.test.ts'],
  'src/tasks/samples.ts': ['test/tasks/samples.test.ts', 'test/tasks/encode.test.ts'],
  'src/tasks/tasks.ts': ['test/tasks/tasks.test.ts', 'test/tasks/samples.test.ts', 'test/tasks/encode.test.ts'],
  'src/io/topology.ts': ['test/io/limits.test.ts'],
  'src/decode': [
    'test/decode/search.test.ts',
    'test/decode/samplers.test.ts',
    'test/decode/decode.test.ts',
    'test/decode/array_runner.test.ts',
    'test/decode/generate.test.ts',
  ],
};

// scripts/mutation.cjs passes the modules asked for; a module without a list above (or any other
// path) runs the tests jest finds related to the mutated files.
const asked = (process.env.MUTATION_MODULES ?? '').split(',').filter(Boolean);
const modules = asked.length > 0 ? asked : Object.keys(MODULES);
// A module may carry a line range (src/keras/zip.ts:80-100: mutate those lines only).
const lists = modules.map((m) => MODULES[m.replace(/:[\d-]+$/, '').replace(/\/$/, '')] ?? null);
/** The report's name: the modules, e.g. reports/mutation/src-keras-zip.ts.json. */
const named = asked.length > 0 ? asked.join('+').replace(/[/\\:]/g, '-') : 'all';
const report = named.length > 100 ? `${named.slice(0, 80)}+more` : named;
const related = lists.some((list) => list === null);
const tests = [...new Set(lists.flat().filter(Boolean))];
/**
 * Tests each mutant would re-run for seconds without checking anything the others do not:
 * trainer.test.ts's 200 steps of memory accounting (10 s of every trainer mutant's run; the
 * non-finite-loss test checks the memory after a step too).
 */
const SLOW = ['keeps tf.memory() flat'];
/**
 * Tests that run the package in a child process, which loads the sandbox's code without the
 * mutant switch: they cannot see a mutant, and take tens of seconds (threads.test.ts's Node
 * processes; the thread count from the environment is checked in-process there too).
 */
const IN_CHILD_PROCESSES = ['kernel threads: a Node process'];
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** jest's main project (the second re-runs the kernel tests with relaxed SIMD: not needed here). */
const main = jestConfig.projects.find((p) => p.displayName === 'separate-simd');

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: modules.map((m) => (/\.ts(:[\d-]+)?$/.test(m) ? m : `${m.replace(/\/$/, '')}/**/*.ts`)),
  testRunner: 'jest',
  coverageAnalysis: 'perTest',
  concurrency: 1,
  timeoutMS: 10000,
  jest: {
    projectType: 'custom',
    enableFindRelatedTests: related,
    config: {
      ...main,
      testTimeout: jestConfig.testTimeout,
      projects: undefined,
      displayName: undefined,
      ...(related ? {} : { testMatch: tests.map((t) => `<rootDir>/${t}`) }),
      testNamePattern: `^(?!.*(${[...SLOW, ...IN_CHILD_PROCESSES].map(escape).join('|')}))`,
    },
  },
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${report}.html` },
  jsonReporter: { fileName: `reports/mutation/${report}.json` },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  ignorePatterns: ['dist', 'coverage', 'reports', 'models/runs', '.venv', '.train-tmp'],
};
