// The consumer project's bundling, with its own esbuild: each page becomes web/<page>/main.js
// beside a copy of index.html, and its metafile web/<page>.meta.json. Prints one line:
// RESULT <json> (the outputs written, by page).
//
// - app: app.js as an ES module with code splitting, as apps ship: tfjs-attention's dynamic
//   import of the wasm backend becomes a chunk of its own, fetched only if wasm is chosen. The
//   wasm backend's binaries are copied beside it (where the backend looks for them by default),
//   and the shipped reverse model into its models/ folder, as the README says an app does:
//   found through the package's `models/*` export, copied next to the page, loaded by URL.
// - plain-without, plain-with: one IIFE each, so that the modules evaluate in source order and
//   wasm_spy.cjs runs before tfjs (with splitting, the chunk shared with the wasm backend, which
//   holds tfjs, would be evaluated before the entry's own first import).
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

const PAGES = {
  app: { entry: 'app.js', format: 'esm', splitting: true },
  'plain-without': { entry: 'plain_page_without.js', format: 'iife', splitting: false },
  'plain-with': { entry: 'plain_page_with.js', format: 'iife', splitting: false },
};
const require = createRequire(import.meta.url);
const wasmDist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));

const written = {};
await Promise.all(
  Object.entries(PAGES).map(async ([page, { entry, format, splitting }]) => {
    const result = await esbuild.build({
      entryPoints: [{ in: entry, out: 'main' }],
      outdir: `web/${page}`,
      bundle: true,
      format,
      splitting,
      platform: 'browser',
      metafile: true,
      logLevel: 'silent',
    });
    fs.copyFileSync('index.html', `web/${page}/index.html`);
    if (page === 'app') {
      for (const file of fs.readdirSync(wasmDist).filter((name) => name.endsWith('.wasm'))) {
        fs.copyFileSync(path.join(wasmDist, file), `web/${page}/${file}`);
      }
      const reverse = path.dirname(require.resolve('tfjs-attention/models/reverse/model.json'));
      fs.cpSync(reverse, `web/${page}/models/reverse`, { recursive: true });
    }
    fs.writeFileSync(`web/${page}.meta.json`, JSON.stringify(result.metafile));
    written[page] = Object.keys(result.metafile.outputs);
  }),
);
console.log('RESULT ' + JSON.stringify(written));
