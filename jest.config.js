/**
 * Tests run TypeScript directly through ts-jest. Type checking happens in
 * `npm run build` (tsc) and `npm run typecheck`; ts-jest only transpiles so the
 * suite stays within its time budget on a 2-core machine.
 */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { isolatedModules: true, tsconfig: '<rootDir>/test/tsconfig.json' }],
  },
  testTimeout: 120000,
  maxWorkers: 2,
};
