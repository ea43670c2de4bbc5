/**
 * Tests run TypeScript directly through ts-jest. Type checking happens in
 * `npm run build` (tsc) and `npm run typecheck`; ts-jest only transpiles so the
 * suite stays within its time budget on a 2-core machine.
 *
 * Three projects: every test with the SIMD kernels assembled from separate multiplies and adds, and
 * the kernels' own tests again with relaxed SIMD's fused multiply-add (src/kernels/simd_kernels.ts
 * picks it where the engine validates it), so that both arithmetics are tested on every run; and
 * those tests a third time with relaxed SIMD on initBackend's shared heap (src/kernels/shared_heap.ts),
 * where every kernel reads and writes tfjs's tensors in place.
 */
// Colours only on a terminal (or with FORCE_COLOR): jest's code frames colour themselves whenever
// CI is set (picocolors), which leaves raw escape codes in a CI log or a file.
if (!process.stdout.isTTY && process.env.FORCE_COLOR === undefined) process.env.NO_COLOR = '1';

const shared = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: {
    // isolatedModules (in that tsconfig): ts-jest transpiles each file on its own, without type checking.
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/tsconfig.jest.json' }],
  },
};

/** The tests of the kernels whose arithmetic relaxed SIMD changes. */
const KERNEL_TESTS = [
  'kernels/attention',
  'kernels/dense',
  'kernels/exp',
  'kernels/layer_norm',
  'kernels/matmul',
  'kernels/simd_kernels',
  'kernels/simd_peak',
  'kernels/thread_results',
  'train/adam_kernel',
].map((name) => `<rootDir>/test/${name}.test.ts`);

/**
 * The tests of the kernels that read and write tensors (`stage` and `unstage`), run again with the
 * tensors in the kernels' memory. The other kernel tests call the kernels on the module's memory
 * directly, from its start, which is tfjs's there.
 */
const SHARED_HEAP_TESTS = [
  'kernels/attention',
  'kernels/dense',
  'kernels/layer_norm',
  'kernels/thread_results',
  'layers/tfjs_layers',
  'train/adam_kernel',
].map((name) => `<rootDir>/test/${name}.test.ts`);

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 120000,
  maxWorkers: 2,
  projects: [
    {
      ...shared,
      displayName: 'separate-simd',
      testMatch: ['**/*.test.ts'],
      setupFiles: ['<rootDir>/test/setup.ts', '<rootDir>/test/helpers/separate_simd.ts'],
    },
    {
      ...shared,
      displayName: 'relaxed-simd',
      testMatch: KERNEL_TESTS,
      setupFiles: ['<rootDir>/test/setup.ts', '<rootDir>/test/helpers/relaxed_simd.ts'],
    },
    {
      ...shared,
      displayName: 'shared-heap',
      testMatch: SHARED_HEAP_TESTS,
      setupFiles: [
        '<rootDir>/test/setup.ts',
        '<rootDir>/test/helpers/relaxed_simd.ts',
        '<rootDir>/test/helpers/shared_heap.ts',
      ],
      setupFilesAfterEnv: ['<rootDir>/test/helpers/shared_heap_check.ts'],
    },
  ],
};
