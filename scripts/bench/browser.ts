/**
 * `npm run bench -- --browser`: the benchmarks of cases.ts in headless Chromium (Debian's, through
 * playwright-core: scripts/chromium.ts), once per backend, on a fresh page each.
 *
 * The page is one esbuild bundle of page.ts with the library's sources built as for the library's
 * browser bundle (build_browser.ts's browserOnly plugin: the browser variants of src/, Node's
 * built-ins stubbed), TensorFlow.js 4.22 and its wasm backend; the .wasm files are served beside
 * it. On 'wasm' the page's `initBackend` installs the same kernels as in Node (fused SIMD
 * attention, the matmul and gradient replacements). The page is served cross-origin isolated, so
 * it has SharedArrayBuffer: our kernels run on as many threads as in Node (src/kernels/threads.ts),
 * and tfjs loads its threaded wasm build (`wasmThreads`). On 'webgl'
 * it is SwiftShader, Chromium's software GL, on the CPU: its figures say nothing about a GPU, and
 * every webgl line carries the renderer (`glRenderer`) and `softwareGl`.
 */
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { isSoftwareRenderer } from '../../src/backend';
import { demoMounts, startStaticServer } from '../../src/io/static_server';
import { browserOnly } from '../build_browser';
import { launchChromium, watchPage } from '../chromium';
import type { BenchName, BenchSettings, Result } from './cases';
import type { PageBench, PageEnvironment } from './page';

const ROOT = path.resolve(__dirname, '../..');

/** The backends a browser run measures, in this order, unless told otherwise. */
export const PAGE_BACKENDS = ['wasm', 'webgl'] as const;

/**
 * A figure is skipped when its calls would take longer than this: on SwiftShader here a training
 * step of the reference model took ~5 s, one of train-gpt-char 12 to 23 s, and attention forward +
 * backward at T = 1024 7 to 23 s (as the other work on the machine varied).
 */
const MAX_SECONDS = 60;

const WASM_PATH = '/vendor/tfjs-backend-wasm/';

const PAGE_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <link rel="icon" href="data:," />
    <title>tfjs-attention bench</title>
    <script src="bench.js"></script>
  </head>
  <body></body>
</html>
`;

export interface BrowserBenchOptions {
  only: readonly BenchName[];
  /** Default PAGE_BACKENDS. */
  backends?: readonly string[];
  /** maxSeconds defaults to MAX_SECONDS here. */
  settings: BenchSettings;
  /** initBackend's `sharedHeap` on the page (tfjs's heap is shared there: the page is cross-origin isolated). */
  sharedHeap: boolean;
}

/** What a page ran on: the page's own report and Chromium's full version (the user agent has only the major). */
export type BrowserEnvironment = PageEnvironment & { chromium: string };

/** A line from the page: cases.ts's result with where it ran. */
export type BrowserResult = Result & { runtime: 'chromium'; glRenderer?: string; softwareGl?: boolean };

/**
 * Runs `options.only` in Chromium on each backend; `onLines` gets each benchmark's lines as it
 * finishes (Chromium is idle until it returns, so a peer run there does not share the cores) and
 * the page's environment. Throws when a page fails.
 */
export async function benchInChromium(
  options: BrowserBenchOptions,
  onLines: (lines: BrowserResult[], environment: BrowserEnvironment) => void | Promise<void>,
): Promise<void> {
  const settings = { maxSeconds: MAX_SECONDS, ...options.settings };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-attention-bench-web-'));
  try {
    await esbuild.build({
      entryPoints: [path.join(__dirname, 'page.ts')],
      outfile: path.join(dir, 'bench.js'),
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: 'es2018',
      // Named, so esbuild keeps tfjs's ES modules even for packages that some file require()s
      // (src/train/benchmark.ts, for Node): by default it would then take their Node builds.
      mainFields: ['browser', 'module', 'main'],
      logLevel: 'silent',
      absWorkingDir: ROOT,
      plugins: [browserOnly],
    });
    fs.writeFileSync(path.join(dir, 'bench.html'), PAGE_HTML);
    const server = await startStaticServer(
      {
        mounts: [
          { prefix: '/', dir, index: 'bench.html' },
          ...demoMounts(ROOT).filter((mount) => mount.prefix === WASM_PATH),
        ],
        crossOriginIsolated: true,
      },
      0,
    );
    const browser = await launchChromium().catch(async (error: unknown) => {
      await server.close();
      throw error;
    });
    try {
      for (const backend of options.backends ?? PAGE_BACKENDS) {
        const page = await browser.context.newPage();
        const watch = watchPage(page);
        await page.goto(server.url);
        if (watch.problems.length > 0) throw new Error(`the bench page failed to load: ${watch.problems.join('; ')}`);
        const pageEnvironment = await page.evaluate(
          ([name, wasmPath, sharedHeap]) =>
            (globalThis as unknown as { bench: PageBench }).bench.start(name, wasmPath, sharedHeap),
          [backend, WASM_PATH, options.sharedHeap] as const,
        );
        const cdp = await browser.context.newCDPSession(page);
        const { product } = await cdp.send('Browser.getVersion'); // 'HeadlessChrome/156.0.8078.114'
        const environment = { ...pageEnvironment, chromium: product.replace(/^\D*\//, '') };
        const where =
          backend === 'webgl'
            ? { glRenderer: environment.glRenderer, softwareGl: isSoftwareRenderer(environment.glRenderer) }
            : {};
        for (const name of options.only) {
          const lines = await page.evaluate(
            ([bench, pageSettings]) => (globalThis as unknown as { bench: PageBench }).bench.run(bench, pageSettings),
            [name, settings] as const,
          );
          if (watch.problems.length > 0) {
            throw new Error(`the bench page (${backend}, ${name}) failed: ${watch.problems.join('; ')}`);
          }
          await onLines(
            lines.map((line) => ({ ...line, runtime: 'chromium' as const, ...where })),
            environment,
          );
        }
        await page.close();
      }
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
