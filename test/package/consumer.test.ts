/**
 * A real consumer: the package as npm ships it, installed into an empty project next to the
 * exact tfjs, typescript and esbuild versions of this repository's package-lock.json, and used
 * only by its name, 'tfjs-attention', the way users do:
 *
 * - Node, CommonJS and ES modules, with no setup call: the README's first example (padding masked
 *   inside attention) and the shipped reverse model (`loadSeq2Seq` on the package's models/);
 * - importing the package changes nothing in tfjs, in Node (CommonJS and ES modules) and in
 *   Chromium: a plain-tfjs computation gives identical results, backend, kernels and backend
 *   registry with and without the import, and the import compiles, validates or allocates no
 *   WebAssembly;
 * - TypeScript sees real types (not `any`) through the exports map under node16 (both the
 *   `import` and the `require` declarations) and bundler resolution, and the declarations
 *   themselves pass --strict (skipLibCheck off, in the bundler run);
 * - an app bundled by the consumer's esbuild gets the ES module bundle, one tfjs, no Node
 *   built-in, the wasm backend as a lazy chunk, and decodes /models/reverse in headless Chromium;
 * - the tarball has the ES module entry, its declarations, the script-tag subpath and the models
 *   without optimizer checkpoints.
 *
 * `npm pack` runs the package's prepack (`npm run build`) in this checkout, so the tarball is the
 * current sources. The scripts and pages the project runs are in test/package/consumer/. The
 * backends and timings seen are written to test-output/consumer.json.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Metafile } from 'esbuild';

import { RunningServer, startStaticServer } from '../../src/io/static_server';
import { launchChromium, OUTPUT_DIR, ROOT, TestBrowser, watchPage } from '../browser/harness';
import { LAYER_CLASS_NAMES } from '../helpers/registered_classes';

const FIXTURES = path.join(__dirname, 'consumer');
const execFileAsync = promisify(execFile);

/** What the project installs besides the tarball, at the versions of the repository's lock file. */
const PINNED = ['@tensorflow/tfjs', 'typescript', 'esbuild'];

/** The layers importing the package registers with tfjs's serialization. */
const LAYER_CLASSES = LAYER_CLASS_NAMES;

let tmp: string;
/** The consumer project. */
let project: string;
/** node_modules/tfjs-attention inside it. */
let installed: string;
/** The two typechecks of the TypeScript tests, started by beforeAll (see `startTypechecks`). */
let typechecks: Promise<Record<'node16' | 'bundler', Checked>>;
/** The pages built, served and a browser to open them, started by beforeAll (see `startWeb`). */
let web: Promise<Web>;
/** What test-output/consumer.json records. */
const record: {
  seconds: Record<string, number>;
  backends: Record<string, string>;
  tfjsDeclarationErrors?: number;
  tarballBytes?: number;
} = {
  seconds: {},
  backends: {},
};

function lockVersion(name: string): string {
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
  const version = lock.packages[`node_modules/${name}`]?.version;
  if (typeof version !== 'string') throw new Error(`package-lock.json has no node_modules/${name}`);
  return version;
}

/**
 * The environment of every command: this process's, without the variables an enclosing `npm test`
 * sets for its own run (npm_*) and without the library's backend override, so the consumer's npm
 * and scripts behave as they would in a fresh shell.
 */
function consumerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) && key !== 'TFJS_ATTENTION_BACKEND' && key !== 'INIT_CWD') env[key] = value;
  }
  return env;
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; never throws for a non-zero exit (see `run`). */
async function runAllowingFailure(command: string, args: string[], cwd: string): Promise<Ran> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, { cwd, env: consumerEnv(), maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== 'number') throw error; // could not start it at all
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Runs a command; a non-zero exit is an error that shows the end of its output. */
async function run(command: string, args: string[], cwd: string): Promise<Ran> {
  const ran = await runAllowingFailure(command, args, cwd);
  if (ran.code !== 0) {
    const tail = (text: string) => text.split('\n').slice(-40).join('\n');
    throw new Error(
      `${command} ${args.join(' ')} (in ${cwd}) exited with ${ran.code}\n${tail(ran.stdout)}\n${tail(ran.stderr)}`,
    );
  }
  return ran;
}

/** Runs `node <script> ...args` in the project; returns the JSON of its `RESULT <json>` line. */
async function runScript<T = any>(script: string, ...args: string[]): Promise<T> {
  const { stdout } = await run(process.execPath, [script, ...args], project);
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (line === undefined) throw new Error(`${script} printed no RESULT line:\n${stdout}`);
  return JSON.parse(line.slice('RESULT '.length));
}

async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const start = Date.now();
  try {
    return await work();
  } finally {
    record.seconds[label] = (Date.now() - start) / 1000;
  }
}

interface Checked {
  /** Diagnostics as `file: error TSxxxx: message`. */
  errors: string[];
  /** --explainFiles: why each file is in the program, by file. */
  reasons: Map<string, string[]>;
}

function parseTsc(stdout: string): Checked {
  const errors: string[] = [];
  const reasons = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of stdout.split('\n')) {
    const error = /^(\S.*?)\(\d+,\d+\): (error TS\d+: .*)$/.exec(line);
    if (error) {
      errors.push(`${error[1]}: ${error[2]}`);
      current = undefined;
    } else if (/^\S/.test(line)) {
      current = [];
      reasons.set(line.trim(), current);
    } else if (current !== undefined && line.trim() !== '') {
      current.push(line.trim());
    }
  }
  return { errors, reasons };
}

/**
 * typed_consumer.ts.txt typechecked (--strict) by the project's typescript, both runs at once:
 * node16 as typed.mts and typed.cts, bundler resolution as typed.ts. The bundler run also checks
 * every declaration file (skipLibCheck off: ours are all in that program, since dist/index.d.mts
 * re-exports dist/index.d.ts); the node16 run skips that second, slow pass over the same files.
 */
async function startTypechecks(): Promise<Record<'node16' | 'bundler', Checked>> {
  const source = path.join(project, 'typed_consumer.ts.txt');
  for (const name of ['typed.mts', 'typed.cts', 'typed.ts']) fs.copyFileSync(source, path.join(project, name));
  const tsc = async (args: string[]) => {
    const ran = await runAllowingFailure(
      process.execPath,
      [
        'node_modules/typescript/bin/tsc',
        '--noEmit',
        '--strict',
        '--target',
        'es2022',
        '--pretty',
        'false',
        '--explainFiles',
        ...args,
      ],
      project,
    );
    return parseTsc(ran.stdout);
  };
  const [node16, bundler] = await Promise.all([
    tsc(['--skipLibCheck', 'true', '--module', 'node16', '--moduleResolution', 'node16', 'typed.mts', 'typed.cts']),
    tsc(['--skipLibCheck', 'false', '--module', 'esnext', '--moduleResolution', 'bundler', 'typed.ts']),
  ]);
  return { node16, bundler };
}

interface Web {
  browser: TestBrowser;
  server: RunningServer;
  /** esbuild's metafile of each page. */
  meta: Record<string, Metafile>;
}

/**
 * Bundles the pages with the project's esbuild (build.mjs), serves them with the installed models,
 * launches Chromium.
 */
async function startWeb(): Promise<Web> {
  const [, browser] = await Promise.all([runScript('build.mjs'), launchChromium()]);
  const meta: Record<string, Metafile> = {};
  for (const page of ['app', 'plain-without', 'plain-with']) {
    meta[page] = JSON.parse(fs.readFileSync(path.join(project, 'web', `${page}.meta.json`), 'utf8'));
  }
  const mount = (page: string) => ({ prefix: `/${page}/`, dir: path.join(project, 'web', page), index: 'index.html' });
  try {
    const server = await startStaticServer(
      {
        mounts: [mount('app'), mount('plain-without'), mount('plain-with')],
      },
      0,
    );
    return { browser, server, meta };
  } catch (error) {
    await browser.close();
    throw error;
  }
}

beforeAll(async () => {
  const start = Date.now();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-attention-consumer-'));
  const packDir = path.join(tmp, 'pack');
  project = path.join(tmp, 'project');
  fs.mkdirSync(packDir);
  fs.mkdirSync(project);

  await timed('npmPack', () => run('npm', ['pack', '--pack-destination', packDir], ROOT));
  const tarballs = fs.readdirSync(packDir).filter((file) => file.endsWith('.tgz'));
  expect(tarballs).toHaveLength(1);

  fs.writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }, null, 2),
  );
  for (const file of fs.readdirSync(FIXTURES)) fs.copyFileSync(path.join(FIXTURES, file), path.join(project, file));
  await timed('npmInstall', () =>
    run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        path.join(packDir, tarballs[0]),
        ...PINNED.map((name) => `${name}@${lockVersion(name)}`),
      ],
      project,
    ),
  );
  installed = path.join(project, 'node_modules', 'tfjs-attention');
  record.seconds.beforeAll = (Date.now() - start) / 1000;
  record.tarballBytes = fs.statSync(path.join(packDir, tarballs[0])).size;

  // The slowest steps start now and run beside the Node tests (two cores); the describes below
  // wait for them. A handler marks each as handled, so a failure surfaces there, not as an
  // unhandled rejection.
  typechecks = timed('tsc', startTypechecks);
  web = timed('esbuildAndChromium', startWeb);
  typechecks.catch(() => undefined);
  web.catch(() => undefined);
}, 300_000);

afterAll(async () => {
  const site = await web?.catch(() => undefined);
  await site?.browser.close();
  await site?.server.close();
  if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  fs.writeFileSync(path.join(OUTPUT_DIR, 'consumer.json'), JSON.stringify(record, null, 2) + '\n');
});

/** Every number of a nested array, flattened. */
const flat = (value: unknown): number[] => (Array.isArray(value) ? value.flatMap(flat) : [value as number]);

function expectClose(actual: unknown, expected: unknown, tolerance = 1e-5): void {
  const a = flat(actual);
  const e = flat(expected);
  expect(a).toHaveLength(e.length);
  expect(Math.max(0, ...a.map((x, i) => Math.abs(x - e[i])))).toBeLessThan(tolerance);
}

function expectRowsSumToOne(rows: number[][]): void {
  for (const row of rows) {
    expect(Math.abs(row.reduce((sum, p) => sum + p, 0) - 1)).toBeLessThan(1e-5);
    for (const p of row) expect(p > 0 && p < 1).toBe(true);
  }
}

/** The counters of wasm_spy.cjs that anything but tfjs's own bundled long.js would move. */
function expectNoWasmWork(counts: Record<string, number>): void {
  const { Module, Instance, ...rest } = counts;
  expect(rest).toEqual({
    Memory: 0,
    compile: 0,
    instantiate: 0,
    validate: 0,
    compileStreaming: 0,
    instantiateStreaming: 0,
  });
  // tfjs-core, -layers and -converter each bundle long.js, which builds one tiny module at load.
  expect(Module).toBe(Instance);
}

describe('Node', () => {
  test(
    'CommonJS: the README example masks padding inside ' + 'attention, and loadSeq2Seq decodes with the shipped model',
    async () => {
      const out = await runScript('readme.cjs');
      expect(out.resolved).toBe(path.join(installed, 'dist', 'index.js'));
      expect(out.reverseFolder).toBe(path.join(installed, 'models', 'reverse'));
      expect(out.backendChosenAtImport).toBeNull();

      expect(out.layerClass).toBe('MultiHeadAttention');
      expect(out.probabilitiesShape).toEqual([3, 2]);
      expectRowsSumToOne(out.probabilities);
      expect(out.probeMatchesModel).toBe(true);
      expect(out.attendedShape).toEqual([3, 6, 64]);
      // Three more padding positions leave every real position's attention output unchanged; the
      // same attention without the mask changes them.
      expect(out.maskedDiff).toBeLessThan(1e-6);
      expect(out.unmaskedDiff).toBeGreaterThan(1e-4);

      // Synchronous code after a bare require runs on tfjs's own default, and loadSeq2Seq keeps it.
      expect(out.backendAfterModel).toBe('cpu');
      expect(out.backendAfterLoad).toBe('cpu');
      expect(out.backendAtEnd).toBe('cpu');
      expect(out.seq2seqClass).toBe('Seq2Seq');
      expect(out.reversed).toEqual([[6, 5, 4, 3]]);
      expect(out.decoded314).toBe('413');
      record.backends.nodeCommonJs = out.backendAtEnd;
    },
  );

  test('ES module: loadSeq2Seq first chooses the backend, then the README example runs on it', async () => {
    const out = await runScript('readme.mjs');
    // wasm: installing the package brings no native TensorFlow (see 'installing it fetched no ...').
    const backend = 'wasm';
    expect(out.resolved).toBe(path.join(installed, 'dist', 'index.mjs'));
    expect(out.reverseFolder).toBe(path.join(installed, 'models', 'reverse'));
    expect(out.sameClassAsRequire).toBe(true);
    expect(out.backendChosenAtImport).toBeNull();
    expectNoWasmWork(out.wasmAtImport);

    expect(out.backendAfterLoad).toBe(backend);
    expect(out.seq2seqClass).toBe('Seq2Seq');
    expect(out.reversed).toEqual([[6, 5, 4, 3]]);
    expect(out.decoded314).toBe('413');

    expect(out.layerClass).toBe('MultiHeadAttention');
    expect(out.probabilitiesShape).toEqual([3, 2]);
    expectRowsSumToOne(out.probabilities);
    expect(out.probeMatchesModel).toBe(true);
    expect(out.attendedShape).toEqual([3, 6, 64]);
    expect(out.maskedDiff).toBeLessThan(1e-6);
    expect(out.unmaskedDiff).toBeGreaterThan(1e-4);
    expect(out.backendAtEnd).toBe(backend);
    // The counters do see WebAssembly work: the wasm backend instantiates its module when chosen.
    expect(out.wasmAtEnd.instantiate + out.wasmAtEnd.instantiateStreaming > 0).toBe(backend === 'wasm');
    record.backends.nodeEsModule = out.backendAtEnd;
  });
});

interface PlainReport {
  compared: {
    atImport: { backendChosen: string | null; initializedBackends: string[]; numTensors: number };
    wasmAfterTfjs: Record<string, number>;
    wasmAtImport: Record<string, number>;
    results: Record<string, number[][]>;
    after: { backend: string; numTensors: number; kernels: Record<string, string[]>; registryFactory: string[] };
    wasmAtEnd: Record<string, number>;
  };
  layerClasses: string[];
  packageModule?: string | null;
}

/** Checks of plain_compute.cjs's report that hold with or without the package, anywhere. */
function expectPlainReport(report: PlainReport): void {
  const { atImport, wasmAtImport, results, after } = report.compared;
  expect(atImport).toEqual({ backendChosen: null, initializedBackends: [], numTensors: 0 });
  expectNoWasmWork(wasmAtImport);
  expectClose(results.product, [
    [2.25, 4],
    [7.5, 6.25],
  ]);
  expectClose(results.transposed, [
    [14, 32],
    [32, 77],
  ]);
  expectClose(results.batched, [
    [
      [2.25, 4],
      [7.5, 6.25],
    ],
  ]);
  expectClose(results.gradient, [
    [-5.75, 11, 8.625],
    [-5, 33.125, 7.5],
  ]);
  expectClose(results.gathered, [
    [-3, 4],
    [0.25, 0.5],
    [-3, 4],
  ]);
  expectRowsSumToOne(results.softmax);
  expectClose(results.softmax[0], [1 / (1 + Math.exp(1.75)), 1 / (1 + Math.exp(-1.75))]);
  expectRowsSumToOne(results.predicted);
  expect(after.numTensors).toBeGreaterThan(0);
  expect(after.kernels.cpu.length).toBeGreaterThan(100);
  // Nothing loaded the wasm backend, and there is no tfjs-node.
  expect(after.kernels.wasm).toEqual([]);
  expect(after.kernels.tensorflow).toEqual([]);
}

/** With and without the package: identical except for the layer classes the package registers. */
function expectSameWithAndWithout(withPackage: PlainReport, without: PlainReport): void {
  expectPlainReport(without);
  expectPlainReport(withPackage);
  expect(withPackage.compared).toEqual(without.compared);
  expect(without.layerClasses).not.toContain('MultiHeadAttention');
  expect(withPackage.layerClasses).toEqual(expect.arrayContaining([...without.layerClasses, ...LAYER_CLASSES]));
}

describe(
  'a plain-tfjs script in Node gives identical results, ' +
    'backend, kernels and backends with and without the package',
  () => {
    test('CommonJS, the package required before tfjs', async () => {
      const [without, withPackage] = await Promise.all([
        runScript<PlainReport>('plain.cjs'),
        runScript<PlainReport>('plain.cjs', '--with-package'),
      ]);
      expect(withPackage.packageModule).toBe(path.join(installed, 'dist', 'index.js'));
      expect(without.packageModule).toBeNull();
      expectSameWithAndWithout(withPackage, without);
      expect(withPackage.compared.after.backend).toBe('cpu');
      expect(withPackage.compared.after.registryFactory).toEqual(['cpu']);
      expect(withPackage.compared.wasmAtEnd).toEqual(withPackage.compared.wasmAtImport);
    });

    test('ES modules, `import "tfjs-attention"` after tfjs adds no WebAssembly work', async () => {
      const [without, withPackage] = await Promise.all([
        runScript<PlainReport>('plain_without.mjs'),
        runScript<PlainReport>('plain_with.mjs'),
      ]);
      expect(withPackage.packageModule).toBe('file://' + path.join(installed, 'dist', 'index.mjs'));
      expectSameWithAndWithout(withPackage, without);
      // What the package's import did: the difference between these two.
      expect(withPackage.compared.wasmAtImport).toEqual(withPackage.compared.wasmAfterTfjs);
      expect(withPackage.compared.after.backend).toBe('cpu');
      expect(withPackage.compared.after.registryFactory).toEqual(['cpu']);
    });
  },
);

describe('TypeScript', () => {
  let checked: Record<'node16' | 'bundler', Checked>;

  beforeAll(async () => {
    checked = await typechecks;
  });

  test(
    'node16: typed.mts gets the import declarations ' +
      '(dist/index.d.mts), typed.cts the require ones, both fully typed',
    () => {
      const { errors, reasons } = checked.node16;
      // Every @ts-expect-error met its error, and nothing else failed.
      expect(errors).toEqual([]);
      expect(reasons.get('node_modules/tfjs-attention/dist/index.d.mts')).toEqual(
        expect.arrayContaining([expect.stringMatching(/^Imported via 'tfjs-attention' from file 'typed\.mts'/)]),
      );
      expect(reasons.get('node_modules/tfjs-attention/dist/index.d.ts')).toEqual(
        expect.arrayContaining([expect.stringMatching(/^Imported via 'tfjs-attention' from file 'typed\.cts'/)]),
      );
    },
  );

  test('bundler resolution: typed.ts gets dist/index.d.mts, fully typed, and our declarations pass --strict', () => {
    const { errors, reasons } = checked.bundler;
    expect(reasons.get('node_modules/tfjs-attention/dist/index.d.mts')).toEqual(
      expect.arrayContaining([expect.stringMatching(/^Imported via 'tfjs-attention' from file 'typed\.ts'/)]),
    );
    const ours = [...reasons.keys()].filter((file) => file.startsWith('node_modules/tfjs-attention/dist/'));
    // Both entries and the modules behind them (layers, model, tasks, ...), all checked below.
    expect(ours).toEqual(
      expect.arrayContaining([
        'node_modules/tfjs-attention/dist/index.d.ts',
        'node_modules/tfjs-attention/dist/index.d.mts',
      ]),
    );
    expect(ours.length).toBeGreaterThan(20);
    // The library check did run: tfjs-layers 4.22's own .d.ts files fail --strict. Nothing else
    // may fail: not our declarations, not the consumer's code.
    expect(errors.some((error) => error.startsWith('node_modules/@tensorflow/tfjs-layers/'))).toBe(true);
    expect(errors.filter((error) => !error.startsWith('node_modules/@tensorflow/'))).toEqual([]);
    record.tfjsDeclarationErrors = errors.length;
  });
});

describe("in Chromium, bundled by the consumer's esbuild", () => {
  let browser: TestBrowser;
  let server: RunningServer;
  let meta: Record<string, Metafile>;

  beforeAll(async () => {
    ({ browser, server, meta } = await web);
  });

  /** Opens a page, waits for its `window.result`, and returns it with what the page fetched and any problem. */
  async function openPage<T>(page: string): Promise<{ result: T; requests: string[]; problems: string[] }> {
    const tab = await browser.context.newPage();
    const requests: string[] = [];
    tab.on('request', (request) => requests.push(new URL(request.url()).pathname));
    const watch = watchPage(tab);
    try {
      await tab.goto(`${server.url}${page}/`);
      const result = await tab.evaluate(() => (window as unknown as { result: Promise<unknown> }).result);
      if (result === undefined)
        throw new Error(`${page}/ set no window.result; the page saw: ${JSON.stringify(watch.problems)}`);
      return { result: result as T, requests, problems: watch.problems };
    } finally {
      await tab.close();
    }
  }

  const inputsOf = (metafile: Metafile, pattern: RegExp) =>
    Object.keys(metafile.inputs).filter((input) => pattern.test(input));

  /** The bundle has one tfjs, and neither the page nor the package pulled in a Node built-in. */
  function expectOneTfjsNoNodeBuiltins(metafile: Metafile): void {
    expect(inputsOf(metafile, /tfjs-core\/dist\/index\.js$/)).toEqual([
      'node_modules/@tensorflow/tfjs-core/dist/index.js',
    ]);
    const fromOurs = Object.entries(metafile.inputs)
      .filter(([input]) => !input.startsWith('node_modules/') || input.startsWith('node_modules/tfjs-attention/'))
      .flatMap(([input, { imports }]) => imports.map((i) => `${input} -> ${i.path}${i.external ? ' (external)' : ''}`))
      .filter(
        (edge) =>
          /\(disabled\)|\(external\)|-> (node:)?(fs|path|os|crypto|util)$/.test(edge) &&
          !edge.endsWith('-> <runtime> (external)'),
      );
    expect(fromOurs).toEqual([]);
  }

  test(
    'the app resolves the package to dist/browser/tfjs-attention.esm.js, ' +
      'with one tfjs and the wasm backend in a lazy chunk',
    () => {
      const metafile = meta.app;
      expect(inputsOf(metafile, /(^|\/)tfjs-attention\//)).toEqual([
        'node_modules/tfjs-attention/dist/browser/tfjs-attention.esm.js',
      ]);
      expectOneTfjsNoNodeBuiltins(metafile);
      // The package imports exactly tfjs and, dynamically, the wasm backend.
      const packageImports = metafile.inputs['node_modules/tfjs-attention/dist/browser/tfjs-attention.esm.js'].imports
        .filter((i) => i.path !== '<runtime>')
        .map((i) => `${i.original} ${i.kind}`);
      expect([...new Set(packageImports)].sort()).toEqual([
        '@tensorflow/tfjs import-statement',
        '@tensorflow/tfjs-backend-wasm dynamic-import',
      ]);

      const outputs = Object.entries(metafile.outputs);
      const [main] = outputs.filter(([, output]) => output.entryPoint === 'app.js');
      const [wasmChunk] = outputs.filter(
        ([, output]) => output.entryPoint === 'node_modules/@tensorflow/tfjs-backend-wasm/dist/index.js',
      );
      expect(
        main[1].inputs['node_modules/tfjs-attention/dist/browser/tfjs-attention.esm.js'].bytesInOutput,
      ).toBeGreaterThan(0);
      expect(main[1].imports).toEqual(expect.arrayContaining([{ path: wasmChunk[0], kind: 'dynamic-import' }]));
      // The wasm backend's code is in its chunk only.
      const wasmCodeIn = outputs
        .filter(([, output]) =>
          Object.entries(output.inputs).some(
            ([input, { bytesInOutput }]) => input.includes('/tfjs-backend-wasm/') && bytesInOutput > 0,
          ),
        )
        .map(([file]) => file);
      expect(wasmCodeIn).toEqual([wasmChunk[0]]);
    },
  );

  test("the app decodes the shipped reverse model its build copied next to it, on the library's backend", async () => {
    const { result, requests, problems } = await openPage<{
      inputs: string[];
      decoded: string[];
      reversed: number[][];
      shownBackend: string;
      tfBackend: string;
    }>('app');
    expect(result.inputs).toEqual(['314', '0123456789', '98']);
    expect(result.decoded).toEqual(['413', '9876543210', '89']);
    expect(result.reversed).toEqual([[6, 5, 4, 3]]);
    expect(result.shownBackend).toBe(result.tfBackend);
    expect(['webgl', 'wasm', 'cpu']).toContain(result.tfBackend);
    record.backends.browserApp = result.tfBackend;
    expect(problems).toEqual([]);
    expect(requests).toEqual(
      expect.arrayContaining([
        '/app/',
        '/app/main.js',
        '/app/models/reverse/model.json',
        '/app/models/reverse/weights.bin',
        '/app/models/reverse/task.json',
      ]),
    );
    // The wasm backend's chunk is fetched only when webgl is not used.
    const wasmChunk = Object.entries(meta.app.outputs).find(
      ([, output]) => output.entryPoint === 'node_modules/@tensorflow/tfjs-backend-wasm/dist/index.js',
    )![0];
    expect(requests.includes('/' + path.posix.relative('web', wasmChunk))).toBe(result.tfBackend !== 'webgl');
  });

  test(
    'a plain-tfjs page gives identical results, backend, ' + 'kernels and backends with and without the package',
    async () => {
      expect(inputsOf(meta['plain-without'], /tfjs-attention/)).toEqual([]);
      expect(inputsOf(meta['plain-with'], /tfjs-attention/)).toEqual([
        'node_modules/tfjs-attention/dist/browser/tfjs-attention.esm.js',
      ]);
      for (const page of ['plain-without', 'plain-with']) expectOneTfjsNoNodeBuiltins(meta[page]);
      // The bare import was not tree-shaken away.
      const withMain = Object.values(meta['plain-with'].outputs).find(
        (output) => output.entryPoint === 'plain_page_with.js',
      )!;
      expect(
        withMain.inputs['node_modules/tfjs-attention/dist/browser/tfjs-attention.esm.js'].bytesInOutput,
      ).toBeGreaterThan(0);

      const without = await openPage<PlainReport>('plain-without');
      const withPackage = await openPage<PlainReport>('plain-with');
      expect(without.problems).toEqual([]);
      expect(withPackage.problems).toEqual([]);
      expectSameWithAndWithout(withPackage.result, without.result);
      expect(withPackage.result.compared.wasmAtImport).toEqual(withPackage.result.compared.wasmAfterTfjs);
      const { backend, registryFactory } = withPackage.result.compared.after;
      expect(['webgl', 'cpu']).toContain(backend); // tfjs's own default; the wasm backend is not registered
      expect(registryFactory).toEqual(expect.arrayContaining(['cpu', backend]));
      expect(registryFactory).not.toContain('wasm');
      record.backends.browserPlain = backend;
    },
  );
});

describe('the installed package', () => {
  test('installing it fetched no @tensorflow/tfjs-node: an optional peer dependency, the app chooses it', () => {
    expect(fs.existsSync(path.join(project, 'node_modules', '@tensorflow', 'tfjs-node'))).toBe(false);
    const lock = JSON.parse(fs.readFileSync(path.join(project, 'package-lock.json'), 'utf8'));
    expect(Object.keys(lock.packages).filter((key) => key.includes('tfjs-node'))).toEqual([]);
    const manifest = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
    expect(manifest.peerDependenciesMeta).toEqual({ '@tensorflow/tfjs-node': { optional: true } });
    expect(manifest.optionalDependencies).toBeUndefined();
    expect(manifest.dependencies?.['@tensorflow/tfjs-node']).toBeUndefined();
  });

  test('has its LICENSE, CHANGELOG and the README images, no source maps and no training runs', () => {
    const license = fs.readFileSync(path.join(installed, 'LICENSE'), 'utf8');
    expect(license).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004\s/);
    expect(JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')).license).toBe('Apache-2.0');
    expect(fs.readFileSync(path.join(installed, 'CHANGELOG.md'), 'utf8')).toMatch(/^# Changelog/);
    // Every image the README shows is in the package, at the path the README gives.
    const readme = fs.readFileSync(path.join(installed, 'README.md'), 'utf8');
    const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]);
    expect(images.length).toBeGreaterThan(0);
    expect(images.filter((image) => !fs.existsSync(path.join(installed, image)))).toEqual([]);
    const all = (dir: string): string[] =>
      fs
        .readdirSync(path.join(installed, dir), { withFileTypes: true })
        .flatMap((entry) =>
          entry.isDirectory() ? all(path.posix.join(dir, entry.name)) : [path.posix.join(dir, entry.name)],
        );
    expect(all('dist').filter((file) => file.endsWith('.map'))).toEqual([]);
    // No dangling source-map comments either.
    for (const file of ['dist/index.js', 'dist/browser/tfjs-attention.esm.js', 'dist/browser/tfjs-attention.min.js']) {
      expect(fs.readFileSync(path.join(installed, file), 'utf8')).not.toContain('sourceMappingURL');
    }
    expect(all('models').filter((file) => file.startsWith('models/runs/'))).toEqual([]);
  });

  test('has the ES module entry, its declarations, both bundles and the models without checkpoints', () => {
    const files = (dir: string): string[] =>
      fs
        .readdirSync(path.join(installed, dir), { withFileTypes: true })
        .flatMap((entry) =>
          entry.isDirectory() ? files(path.posix.join(dir, entry.name)) : [path.posix.join(dir, entry.name)],
        );
    const all = [...files('dist'), ...files('models')];
    expect(all).toEqual(
      expect.arrayContaining([
        'dist/index.js',
        'dist/index.d.ts',
        'dist/index.mjs',
        'dist/index.d.mts',
        'dist/browser/tfjs-attention.esm.js',
        'dist/browser/tfjs-attention.min.js',
        'models/reverse/model.json',
        'models/reverse/weights.bin',
        'models/reverse/task.json',
      ]),
    );
    expect(all.filter((file) => /^models\/[^/]+\/checkpoint\.bin$/.test(file))).toEqual([]);
    expect(all.filter((file) => file.startsWith('dist/demo/'))).toEqual([]);
    expect(JSON.parse(fs.readFileSync(path.join(installed, 'models/reverse/task.json'), 'utf8')).task.name).toBe(
      'reverse',
    );
  });

  test('every file its exports map names exists, and the script-tag subpath resolves into the package', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
    const targets = (value: unknown): string[] =>
      typeof value === 'string' ? [value] : Object.values(value as Record<string, unknown>).flatMap(targets);
    const missing = targets(manifest.exports)
      .filter((target) => !target.includes('*'))
      .filter((target) => !fs.existsSync(path.join(installed, target)));
    expect(missing).toEqual([]);

    const consumerRequire = createRequire(path.join(project, 'package.json'));
    const script = consumerRequire.resolve('tfjs-attention/tfjs-attention.min.js');
    expect(script).toBe(path.join(installed, 'dist', 'browser', 'tfjs-attention.min.js'));
    expect(fs.statSync(script).size).toBeGreaterThan(10_000);
    expect(require.resolve('tfjs-attention/tfjs-attention.min.js', { paths: [project] })).toBe(script);
    expect(consumerRequire.resolve('tfjs-attention/models/reverse/weights.bin')).toBe(
      path.join(installed, 'models', 'reverse', 'weights.bin'),
    );
  });

  test("every 'tfjs-attention…' module its README imports resolves in the consumer project", () => {
    const readme = fs.readFileSync(path.join(installed, 'README.md'), 'utf8');
    const specifiers = [...new Set([...readme.matchAll(/from '(tfjs-attention(?:\/[^']*)?)'/g)].map((m) => m[1]))];
    expect(specifiers).toContain('tfjs-attention');
    const consumerRequire = createRequire(path.join(project, 'package.json'));
    const unresolved = specifiers.filter((specifier) => {
      try {
        consumerRequire.resolve(specifier);
        return false;
      } catch {
        return true;
      }
    });
    expect(unresolved).toEqual([]);
  });
});
