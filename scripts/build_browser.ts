/**
 * Builds the browser bundles and the demo with esbuild (`npm run build` runs it after tsc):
 *
 *     npx ts-node --transpile-only scripts/build_browser.ts            # into dist/
 *     npx ts-node --transpile-only scripts/build_browser.ts --out /tmp/web
 *
 * Writes
 *   <out>/browser/tfjs-attention.esm.js   ES module for bundlers; imports @tensorflow/tfjs (+ -backend-wasm),
 *                                         with a .d.ts that re-exports tsc's dist/browser.d.ts
 *   <out>/browser/tfjs-attention.min.js   script tag; uses the page's global `tf`, defines `tfAttention`
 *   <out>/demo/                           index.html, style.css, demo.js; train.html, train.js (both use the
 *                                         two globals)
 * the demo's .js with source maps; the two bundles the package ships without (maps of the whole
 * library's source would be half the tarball). TensorFlow.js is never inside a bundle: the page or the app's
 * bundler provides exactly one copy, so the layers register in the same `tf` that loads models.
 * Node's `fs`/`path` and `@tensorflow/tfjs-node` are never bundled either (see NODE_ONLY).
 *
 * `buildBrowser` is exported for the browser tests, which build into a temporary folder, and
 * `browserOnly` for the page of `npm run bench -- --browser` (scripts/bench/browser.ts).
 */
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

/** File names of the outputs under <out>/browser and <out>/demo. */
export const BUNDLES = {
  esm: 'tfjs-attention.esm.js',
  script: 'tfjs-attention.min.js',
  demo: 'demo.js',
  train: 'train.js',
} as const;

/** The demo's static files, copied unchanged from src/demo. */
const DEMO_STATIC_FILES = ['index.html', 'train.html', 'style.css'];

/**
 * Module ids the browser bundles must not contain. Node's built-ins are only used lazily by
 * Node-only functions (src/io/atomic.ts), so they become a stub that throws a clear error if a
 * page calls one. tfjs-node is only ever loaded through a non-literal require (src/backend.ts);
 * a literal import of it would be a bug, so it fails the build.
 */
const NODE_ONLY = /^(node:)?(fs|path|os|crypto|util|child_process|worker_threads|perf_hooks)$/;
const TFJS_NODE = /^@tensorflow\/tfjs-node(-gpu)?(\/|$)/;

/** What the script-tag bundle reads from the page instead of bundling it. */
const PAGE_GLOBAL_TF = `
var tf = globalThis.tf;
if (!tf || !tf.layers || !tf.serialization) {
  throw new Error(
    'tfjs-attention.min.js needs TensorFlow.js on the page first: add ' +
    '<script src="https://cdn.jsdelivr.net/npm/@tensorflow/tfjs@4.22.0/dist/tf.min.js"></script> before it');
}
if (tf.version && tf.version.tfjs && tf.version.tfjs.split('.')[0] !== '4') {
  console.warn('tfjs-attention was built for TensorFlow.js 4.x; this page has ' + tf.version.tfjs);
}
module.exports = tf;
`;

/**
 * The wasm backend in the script-tag bundle: the page's `tf.wasm` when it included
 * tf-backend-wasm.min.js (after tf.min.js), else nothing, and initBackend's auto choice skips
 * wasm (webgl, else cpu). The wasm backend registers itself on the global `tf` when its script runs.
 */
const PAGE_GLOBAL_WASM = `module.exports = (globalThis.tf && globalThis.tf.wasm) || {};`;

function nodeOnlyStub(id: string): string {
  return `throw new Error(${JSON.stringify(
    `tfjs-attention: Node's '${id}' is not available in a browser; this function is Node-only ` +
      `(in a browser, load models from a URL or indexeddb:// and save them to indexeddb:// or downloads://)`,
  )});`;
}

/**
 * Modules of src/ with a browser version beside them (`<name>.browser.ts`): the folder and
 * `file://` code of file_system.ts becomes errors that say it is Node-only.
 */
const BROWSER_VARIANTS = /(^|\/)io\/file_system$/;

/** esbuild plugin: src/ modules with a browser variant use it; Node's built-ins become stubs; tfjs-node is an error. */
export const browserOnly: esbuild.Plugin = {
  name: 'browser-only',
  setup(build) {
    build.onResolve({ filter: BROWSER_VARIANTS }, (args) => ({
      path: path.resolve(args.resolveDir, `${args.path}.browser.ts`),
    }));
    build.onResolve({ filter: NODE_ONLY }, (args) => ({ path: args.path, namespace: 'node-only' }));
    build.onLoad({ filter: /.*/, namespace: 'node-only' }, (args) => ({
      contents: nodeOnlyStub(args.path),
      loader: 'js',
    }));
    build.onResolve({ filter: TFJS_NODE }, (args) => ({
      errors: [{ text: `${args.importer} imports ${args.path}; browser bundles must never include tfjs-node` }],
    }));
  },
};

/**
 * esbuild plugin for script-tag bundles: `@tensorflow/tfjs` is the page's global `tf` and the
 * wasm backend the page's `tf.wasm`. Any other @tensorflow import is an error, because it would
 * bundle a second tfjs-core whose registries (kernels, layer classes) the page's `tf` never sees.
 */
const pageGlobalTf: esbuild.Plugin = {
  name: 'page-global-tf',
  setup(build) {
    build.onResolve({ filter: /^@tensorflow\// }, (args) => {
      if (args.path === '@tensorflow/tfjs') return { path: 'tf', namespace: 'page-global' };
      if (args.path === '@tensorflow/tfjs-backend-wasm') return { path: 'tf.wasm', namespace: 'page-global' };
      return {
        errors: [
          {
            text:
              `${args.importer} imports ${args.path}; the script-tag bundle can only use the page's ` +
              `global tf (import from '@tensorflow/tfjs', or use 'import type' for types)`,
          },
        ],
      };
    });
    build.onLoad({ filter: /.*/, namespace: 'page-global' }, (args) => ({
      contents: args.path === 'tf' ? PAGE_GLOBAL_TF : PAGE_GLOBAL_WASM,
      loader: 'js',
    }));
  },
};

/** esbuild plugin for the demo: it uses the library only through the global `tfAttention`. */
const demoOnlyImportsDemo: esbuild.Plugin = {
  name: 'demo-imports',
  setup(build) {
    const demoDir = path.join(ROOT, 'src', 'demo');
    build.onResolve({ filter: /^\./ }, (args) => {
      const target = path.resolve(args.resolveDir, args.path);
      if (!target.startsWith(demoDir + path.sep)) {
        return {
          errors: [
            {
              text:
                `${args.importer} imports ${args.path}; the demo uses the library through the global ` +
                `tfAttention of tfjs-attention.min.js (import type only, see src/demo/globals.ts)`,
            },
          ],
        };
      }
      return undefined;
    });
  },
};

export interface BuildBrowserOptions {
  /** Output root; bundles go to <outDir>/browser, the demo to <outDir>/demo. Default <repo>/dist. */
  outDir?: string;
  /** Print what was written. Default false. */
  verbose?: boolean;
}

export interface BuildBrowserResult {
  /** Absolute paths of the files written, with their sizes in bytes. */
  files: Array<{ path: string; bytes: number }>;
}

/** Builds both bundles and the demo (see the file comment). Throws with esbuild's messages on failure. */
export async function buildBrowser(options: BuildBrowserOptions = {}): Promise<BuildBrowserResult> {
  const outDir = path.resolve(options.outDir ?? path.join(ROOT, 'dist'));
  const browserDir = path.join(outDir, 'browser');
  const demoDir = path.join(outDir, 'demo');
  // tsc also compiles src/demo into dist/demo as CommonJS, which no page can use: start clean.
  fs.rmSync(demoDir, { recursive: true, force: true });
  fs.rmSync(browserDir, { recursive: true, force: true });

  const common: esbuild.BuildOptions = {
    bundle: true,
    platform: 'browser',
    target: 'es2018',
    metafile: true,
    logLevel: 'silent',
    legalComments: 'none',
    absWorkingDir: ROOT,
  };
  const builds = await Promise.all([
    esbuild.build({
      ...common,
      entryPoints: [path.join(ROOT, 'src/browser.ts')],
      outfile: path.join(browserDir, BUNDLES.esm),
      format: 'esm',
      // The app's bundler resolves these to the app's single copy of tfjs.
      external: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm'],
      plugins: [browserOnly],
    }),
    esbuild.build({
      ...common,
      entryPoints: [path.join(ROOT, 'src/browser.ts')],
      outfile: path.join(browserDir, BUNDLES.script),
      format: 'iife',
      globalName: 'tfAttention',
      minify: true,
      plugins: [browserOnly, pageGlobalTf],
    }),
    esbuild.build({
      ...common,
      entryPoints: [path.join(ROOT, 'src/demo/main.ts')],
      outfile: path.join(demoDir, BUNDLES.demo),
      sourcemap: 'linked',
      format: 'iife',
      minify: true,
      plugins: [browserOnly, pageGlobalTf, demoOnlyImportsDemo],
    }),
    esbuild.build({
      ...common,
      entryPoints: [path.join(ROOT, 'src/demo/train.ts')],
      outfile: path.join(demoDir, BUNDLES.train),
      sourcemap: 'linked',
      format: 'iife',
      minify: true,
      plugins: [browserOnly, pageGlobalTf, demoOnlyImportsDemo],
    }),
  ]);
  for (const result of builds) checkNoTfjsInside(result.metafile!);

  // Types for `import ... from 'tfjs-attention/dist/browser/tfjs-attention.esm.js'`: tsc's
  // declarations of src/browser.ts (dist/browser.d.ts, written by `npm run build` before this step).
  fs.writeFileSync(path.join(browserDir, BUNDLES.esm.replace(/\.js$/, '.d.ts')), "export * from '../browser';\n");

  for (const name of DEMO_STATIC_FILES) {
    fs.copyFileSync(path.join(ROOT, 'src/demo', name), path.join(demoDir, name));
  }

  const files = builds
    .flatMap((result) => Object.keys(result.metafile!.outputs))
    .map((output) => path.resolve(ROOT, output))
    .concat(path.join(browserDir, BUNDLES.esm.replace(/\.js$/, '.d.ts')))
    .concat(DEMO_STATIC_FILES.map((name) => path.join(demoDir, name)))
    .map((file) => ({ path: file, bytes: fs.statSync(file).size }));
  if (options.verbose) {
    for (const file of files)
      console.log(`${path.relative(process.cwd(), file.path)}  ${(file.bytes / 1024).toFixed(1)} KiB`);
  }
  return { files };
}

/** A second copy of tfjs inside a bundle would register the layers where the page's tf never looks. */
function checkNoTfjsInside(metafile: esbuild.Metafile): void {
  const tfjsInputs = Object.keys(metafile.inputs).filter((input) => input.includes('node_modules/@tensorflow/'));
  if (tfjsInputs.length > 0) {
    throw new Error(`a browser bundle includes TensorFlow.js itself (${tfjsInputs.slice(0, 3).join(', ')}, ...)`);
  }
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const outFlag = args.indexOf('--out');
  if (args.some((a, i) => a !== '--out' && i !== outFlag + 1) || (outFlag >= 0 && args[outFlag + 1] === undefined)) {
    console.error('usage: ts-node scripts/build_browser.ts [--out DIR]');
    process.exit(2);
  }
  buildBrowser({ outDir: outFlag >= 0 ? args[outFlag + 1] : undefined, verbose: true }).catch((error: unknown) => {
    // esbuild's own message lists every error with its file and line.
    console.error(`build_browser: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
