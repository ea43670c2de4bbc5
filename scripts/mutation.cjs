#!/usr/bin/env node
// `npm run mutation -- src/keras/zip.ts [more modules or folders]`: StrykerJS over those modules
// (default: every module listed in stryker.config.mjs), with only their tests. Run it under
// `nice -n 19` on a shared machine; it uses one test process. Options for Stryker itself pass
// through (`--concurrency 2`).
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const args = process.argv.slice(2);
const options = args.flatMap((a, i) => (a.startsWith('--') ? [a, args[i + 1]] : []));
const modules = args
  .filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')))
  .map((m) => path.relative(process.cwd(), path.resolve(m)).split(path.sep).join('/'));
const core = require.resolve('@stryker-mutator/core/package.json');
const stryker = path.join(path.dirname(core), require(core).bin.stryker);
const result = spawnSync(process.execPath, [stryker, 'run', 'stryker.config.mjs', ...options], {
  stdio: 'inherit',
  env: { ...process.env, MUTATION_MODULES: modules.join(',') },
});
process.exit(result.status ?? 1);
