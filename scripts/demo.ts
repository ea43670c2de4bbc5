/**
 * Builds the browser bundles and the attention-heatmap demo, then serves them on 127.0.0.1.
 *
 *     npm run demo                    # http://127.0.0.1:8080/
 *     npm run demo -- --port 9000
 *
 * The server (src/io/static_server.ts) serves only the demo, the bundles, the tfjs files the page
 * loads and models/; models/index.json lists the trained models found there. Ctrl-C stops it.
 * Exit codes: 0 stopped; 1 build or server error; 2 bad command line.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { modelsIndex, startDemoServer } from '../src/io/static_server';
import { buildBrowser } from './build_browser';
import { checkFlagNames } from '../src/train/options';
import { runMain, UsageError } from './cli';

const USAGE = `Usage: npm run demo -- [--port N] [--no-build]

Builds dist/browser and dist/demo, then serves the demo on http://127.0.0.1:<port>/.

  --port N     port on 127.0.0.1, 0 for any free one (default 8080)
  --no-build   serve what is already in dist/
  --help       this text`;

const ROOT = path.resolve(__dirname, '..');

function parsePort(text: string | undefined): number {
  if (text === undefined) return 8080;
  const port = Number(text);
  if (!/^\d+$/.test(text) || !Number.isInteger(port) || port > 65535) {
    throw new UsageError(`--port must be an integer in [0, 65535], got ${JSON.stringify(text)}`);
  }
  return port;
}

async function main(argv: string[]): Promise<number> {
  // --- Arguments --------------------------------------------------------------------
  const flags = { port: { type: 'string' }, 'no-build': { type: 'boolean' }, help: { type: 'boolean' } } as const;
  checkFlagNames(argv, flags);
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: flags,
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const port = parsePort(values.port);

  // --- Build --------------------------------------------------------------------------
  if (!values['no-build']) {
    const started = Date.now();
    await buildBrowser({ outDir: path.join(ROOT, 'dist') });
    console.log(`built dist/browser and dist/demo in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } else if (!fs.existsSync(path.join(ROOT, 'dist', 'demo', 'index.html'))) {
    throw new Error('dist/demo/index.html does not exist; run without --no-build (or npm run build) first');
  }
  const modelsDir = path.join(ROOT, 'models');
  const models = modelsIndex(modelsDir).models;
  if (models.length === 0) {
    console.warn(`warning: no trained models in ${modelsDir}; train one with: npm run train -- --task reverse`);
  } else {
    console.log(`models: ${models.map((m) => m.name).join(', ')}`);
  }

  // --- Serve --------------------------------------------------------------------------
  const running = await startDemoServer(ROOT, port);
  console.log(`demo: ${running.url}  (Ctrl-C to stop)`);
  await new Promise<void>((resolve) => process.once('SIGINT', resolve));
  await running.close();
  return 0;
}

runMain(main, 'npm run demo -- --help');
