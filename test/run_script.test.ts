/**
 * scripts/run.cjs, which `npm run train`, `bench`, `evaluate` and `demo` go through: the script
 * runs with its arguments and exit code, and its SIMD kernels get relaxed SIMD (on Node 20 by
 * starting Node again with V8's flag), while this process, which never set the flag, has none.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { relaxedSimdKernels } from '../src/kernels/simd_kernels';

const ROOT = path.resolve(__dirname, '..');

test('a script run through scripts/run.cjs gets relaxed SIMD, its arguments and its exit code', () => {
  const run = spawnSync(
    process.execPath,
    ['scripts/run.cjs', 'test/fixtures/scripts/kernel_arithmetic.ts', '3', 'a b'],
    {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60000,
    },
  );
  expect(run.stderr).toBe('');
  expect(run.status).toBe(3);
  expect(JSON.parse(run.stdout)).toEqual({ args: ['a b'], relaxed: true });
  // The flag was the child's alone (jest.config.js's first project runs without it).
  expect(relaxedSimdKernels()).toBe(false);
});
