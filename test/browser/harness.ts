/**
 * What the browser end-to-end tests share: build the bundles and the demo into a temporary
 * folder, serve them with the demo's own static server, and drive Debian's Chromium headless
 * through playwright-core (never a downloaded browser).
 *
 * Each test file builds its own copy (esbuild takes about a second), so the tests always run the
 * current sources, need no `npm run build` first, and two files running in parallel never write
 * the same files. The models come from models/<task>, the ones the package ships.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';

import { demoMounts, modelsIndex, Mount, RunningServer, startStaticServer } from '../../src/io/static_server';
import { buildBrowser } from '../../scripts/build_browser';

export const ROOT = path.resolve(__dirname, '../..');

/** Debian's Chromium; CHROMIUM_PATH overrides it for other systems. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless, nothing phoning home, and WebGL always there: SwiftShader (Chromium's software GPU,
 * through ANGLE), asked for explicitly instead of left to Chromium's automatic fallback to it
 * (which Chromium is removing) or to the machine's GPU and driver. The tests assert that the
 * pages that choose a backend themselves pick webgl.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/**
 * The shipped models the tests use: models/. TFJS_ATTENTION_TEST_MODELS points the tests at
 * another folder of <task>/ models (e.g. freshly trained ones, before they replace models/).
 */
export const MODELS_DIR = process.env.TFJS_ATTENTION_TEST_MODELS
  ? path.resolve(process.env.TFJS_ATTENTION_TEST_MODELS)
  : path.join(ROOT, 'models');

/** Screenshots go here (git-ignored). */
export const OUTPUT_DIR = path.join(ROOT, 'test-output');

/** The error that fails the suite when there is no Chromium: it says how to get one. */
export function missingChromiumMessage(executable: string): string {
  return (
    `the browser tests need Chromium at ${executable}, which does not exist.\n` +
    `Install Debian's package:  apt-get update && apt-get install -y chromium\n` +
    `(or point CHROMIUM_PATH at a Chromium binary). These tests never download a browser.`
  );
}

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

export interface TestSite {
  /** Base URL, e.g. 'http://127.0.0.1:41234/'. */
  url: string;
  /** The temporary build folder (browser/ and demo/). */
  outDir: string;
  close(): Promise<void>;
}

/**
 * Builds into a temporary folder and serves it exactly as `npm run demo` does, with extra mounts
 * (test pages) on top.
 */
export async function startTestSite(extraMounts: Mount[] = []): Promise<TestSite> {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-attention-web-'));
  await buildBrowser({ outDir });
  const mounts = demoMounts(ROOT).map((mount) => {
    if (mount.prefix === '/') return { ...mount, dir: path.join(outDir, 'demo') };
    if (mount.prefix === '/dist/browser/') return { ...mount, dir: path.join(outDir, 'browser') };
    if (mount.prefix === '/models/') return { ...mount, dir: MODELS_DIR };
    return mount;
  });
  let running: RunningServer;
  try {
    running = await startStaticServer(
      { mounts: [...mounts, ...extraMounts], generated: { '/models/index.json': () => modelsIndex(MODELS_DIR) } },
      0,
    );
  } catch (error) {
    fs.rmSync(outDir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: running.url,
    outDir,
    close: async () => {
      await running.close();
      fs.rmSync(outDir, { recursive: true, force: true });
    },
  };
}

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Chromium with a new, empty profile; fails with install instructions when it is missing. */
export async function launchChromium(): Promise<TestBrowser> {
  if (!fs.existsSync(CHROMIUM_PATH)) throw new Error(missingChromiumMessage(CHROMIUM_PATH));
  const { chromium } = await import('playwright-core');
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-attention-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1100, height: 900 },
      timeout: 60_000,
    });
  } catch (error) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Collects what would otherwise pass unnoticed in a page: uncaught errors, failed requests, 4xx/5xx. */
export function watchPage(page: Page): { problems: string[] } {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`uncaught error: ${error.message}`));
  page.on('requestfailed', (request) =>
    problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`),
  );
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  return { problems };
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
