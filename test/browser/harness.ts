/**
 * What the browser end-to-end tests share: build the bundles and the demo into a temporary
 * folder, serve them with the demo's own static server, and drive Debian's Chromium headless
 * through playwright-core (never a downloaded browser; scripts/chromium.ts launches it).
 *
 * Each test file builds its own copy (esbuild takes about a second), so the tests always run the
 * current sources, need no `npm run build` first, and two files running in parallel never write
 * the same files. The models come from models/<task>, the ones the package ships.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';

import type { Mount } from '../../src/io/static_server';
import { ChromiumSession, launchChromium, watchPage } from '../../scripts/chromium';
import { type DemoSite, startDemoSite, waitForDemo } from '../../scripts/demo_page';

export {
  CHROMIUM_ARGS,
  CHROMIUM_PATH,
  launchChromium,
  missingChromiumMessage,
  watchPage,
} from '../../scripts/chromium';

export const ROOT = path.resolve(__dirname, '../..');

/**
 * The shipped models the tests use: models/. TFJS_ATTENTION_TEST_MODELS points the tests at
 * another folder of <task>/ models (e.g. freshly trained ones, before they replace models/).
 */
export const MODELS_DIR = process.env.TFJS_ATTENTION_TEST_MODELS
  ? path.resolve(process.env.TFJS_ATTENTION_TEST_MODELS)
  : path.join(ROOT, 'models');

/** Screenshots go here (git-ignored). */
export const OUTPUT_DIR = path.join(ROOT, 'test-output');

/** Throws (failing the suite, never skipping it) when a shipped model is missing. */
export function requireModel(task: string): string {
  const folder = path.join(MODELS_DIR, task);
  for (const file of ['model.json', 'weights.bin', 'task.json']) {
    if (!fs.existsSync(path.join(folder, file))) {
      throw new Error(
        `${path.join(folder, file)} is missing: the browser tests use the shipped models; ` +
          `train it with: npm run train -- --task ${task}`,
      );
    }
  }
  return folder;
}

export type TestSite = DemoSite;

/**
 * Builds into a temporary folder and serves it exactly as `npm run demo` does, with the test
 * models and extra mounts (test pages) on top; `crossOriginIsolated` adds the headers that give
 * pages SharedArrayBuffer.
 */
export function startTestSite(extraMounts: Mount[] = [], crossOriginIsolated = false): Promise<TestSite> {
  return startDemoSite(MODELS_DIR, extraMounts, crossOriginIsolated);
}

/** The browser the tests drive (launched by `launchChromium`). */
export type TestBrowser = ChromiumSession;

/**
 * Serves test page `file` of the folder `pagesDir` under /test/ on a site of its own (with
 * `startTestSite`'s cross-origin isolation or not), opens it in `browser`, and returns what its
 * `window.result` promise resolves to, with what went wrong in the page (`watchPage`).
 */
export async function testPageResult<T>(
  browser: TestBrowser,
  pagesDir: string,
  file: string,
  crossOriginIsolated: boolean,
): Promise<{ result: T; problems: string[] }> {
  const site = await startTestSite([{ prefix: '/test/', dir: pagesDir, files: [file] }], crossOriginIsolated);
  try {
    const page = await browser.context.newPage();
    const watch = watchPage(page);
    await page.goto(`${site.url}test/${file}`);
    const result = (await page.evaluate(() => (window as unknown as { result: Promise<unknown> }).result)) as T;
    await page.close();
    return { result, problems: watch.problems };
  } finally {
    await site.close();
  }
}

/** The demo open in Chromium on a site of its own: what the demo tests drive. */
export interface DemoSession {
  site: TestSite;
  browser: TestBrowser;
  page: Page;
  /** What went wrong in the page (`watchPage`). */
  watch: { problems: string[] };
  close(): Promise<void>;
}

/**
 * Builds and serves the demo, launches Chromium and opens the demo with `query`
 * ('?backend=wasm&model=reverse&input=12'), waiting until it has settled.
 */
export async function openDemo(query: string): Promise<DemoSession> {
  const browser = await launchChromium();
  let site: TestSite | undefined;
  try {
    site = await startTestSite();
    fs.mkdirSync(OUTPUT_DIR, { recursive: true });
    const page = await browser.context.newPage();
    const watch = watchPage(page);
    await page.goto(`${site.url}${query}`);
    await waitForDemo(page);
    const opened = site;
    return {
      site: opened,
      browser,
      page,
      watch,
      close: async () => {
        await browser.close();
        await opened.close();
      },
    };
  } catch (error) {
    await browser.close();
    await site?.close();
    throw error;
  }
}

/** One heatmap canvas as the page drew it (pixels, not the DOM): what the user actually sees. */
export interface DrawnHeatmap {
  /** The canvas's data-* fields (kind, layer, head, view, scale, grid). */
  dataset: Record<string, string>;
  rows: number;
  columns: number;
  /** Share of the canvas's pixels that are not transparent. */
  painted: number;
  /** Colours at the cell centres, row-major, as [r, g, b]. */
  cells: number[][];
}

/** Reads back every heatmap canvas matching `selector`, with its cells' colours (src/demo/heatmap.ts's grid). */
export function readHeatmapCanvases(p: Page, selector = 'canvas.heatmap'): Promise<DrawnHeatmap[]> {
  return p.$$eval(selector, (canvases) =>
    (canvases as HTMLCanvasElement[]).map((canvas) => {
      const grid = JSON.parse(canvas.dataset.grid!) as {
        left: number;
        top: number;
        cell: number;
        rows: number;
        columns: number;
      };
      const context = canvas.getContext('2d')!;
      const image = context.getImageData(0, 0, canvas.width, canvas.height);
      const scale = canvas.width / canvas.clientWidth;
      let painted = 0;
      for (let i = 3; i < image.data.length; i += 4) if (image.data[i] > 0) painted++;
      const cells: number[][] = [];
      for (let r = 0; r < grid.rows; r++) {
        for (let c = 0; c < grid.columns; c++) {
          const x = Math.floor((grid.left + (c + 0.5) * grid.cell) * scale);
          const y = Math.floor((grid.top + (r + 0.5) * grid.cell) * scale);
          const at = (y * image.width + x) * 4;
          cells.push([image.data[at], image.data[at + 1], image.data[at + 2]]);
        }
      }
      return {
        dataset: { ...canvas.dataset } as Record<string, string>,
        rows: grid.rows,
        columns: grid.columns,
        painted: painted / (image.width * image.height),
        cells,
      };
    }),
  );
}
