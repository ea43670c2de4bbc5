/**
 * Tests run TypeScript directly through ts-jest. Type checking happens in
 * `npm run build` (tsc) and `npm run typecheck`; ts-jest only transpiles so the
 * suite stays within its time budget on a 2-core machine.
 *
 * Two projects: every test with the SIMD kernels assembled from separate multiplies and adds, and
 * the kernels' own tests again with relaxed SIMD's fused multiply-add (src/kernels/simd_kernels.ts
 * picks it where the engine validates it), so that both arithmetics are tested on every run.
 */
const shared = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['ts-jest', { isolatedModules: true, tsconfig: '<rootDir>/test/tsconfig.json' }],
  },
};

/** The tests of the kernels whose arithmetic relaxed SIMD changes. */
const KERNEL_TESTS = [
  'kernels/attention',
  'kernels/dense',
  'kernels/layer_norm',
  'kernels/matmul',
  'kernels/simd_kernels',
  'kernels/thread_results',
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
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.test.ts'],
      setupFiles: ['<rootDir>/test/helpers/separate_simd.ts'],
    },
    {
      ...shared,
      displayName: 'relaxed-simd',
      roots: ['<rootDir>/test'],
      testMatch: KERNEL_TESTS,
      setupFiles: ['<rootDir>/test/helpers/relaxed_simd.ts'],
    },
  ],
};
