/**
 * Tests run TypeScript directly through ts-jest. Type checking happens in
 * `npm run build` (tsc) and `npm run typecheck`; ts-jest only transpiles so the
 * suite stays within its time budget on a 2-core machine.
 */
// Colours only on a terminal (or with FORCE_COLOR): jest's code frames colour themselves whenever
// CI is set (picocolors), which leaves raw escape codes in a CI log or a file.
if (!process.stdout.isTTY && process.env.FORCE_COLOR === undefined) process.env.NO_COLOR = '1';

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  setupFiles: ['<rootDir>/test/setup.ts'],
  transform: {
    // isolatedModules (in that tsconfig): ts-jest transpiles each file on its own, without type checking.
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/tsconfig.jest.json' }],
  },
  testTimeout: 120000,
  maxWorkers: 2,
};
