/**
 * Driving the demo page (src/demo/) from Node through playwright-core, for the browser tests
 * (test/browser/demo_open.test.ts) and `npm run check:demo`: drop files on it as a user drops them
 * from a file manager, wait until it has settled, and read back the attention layers it shows and
 * the inputs it ran.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Page } from 'playwright-core';

import { demoMounts, modelsIndex, type Mount, type RunningServer, startStaticServer } from '../src/io/static_server';
import { buildBrowser } from './build_browser';

const ROOT = path.resolve(__dirname, '..');

/** A built and served copy of the demo. */
export interface DemoSite {
  /** Base URL, e.g. 'http://127.0.0.1:41234/'. */
  url: string;
  /** The temporary build folder (browser/ and demo/). */
  outDir: string;
  close(): Promise<void>;
}

/**
 * Builds the bundles and the demo into a temporary folder and serves them exactly as `npm run demo`
 * does, with the models of `modelsDir` and `extraMounts` on top; `crossOriginIsolated` adds the
 * headers that give pages SharedArrayBuffer.
 */
export async function startDemoSite(
  modelsDir: string,
  extraMounts: Mount[] = [],
  crossOriginIsolated = false,
): Promise<DemoSite> {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-attention-web-'));
  await buildBrowser({ outDir });
  const mounts = demoMounts(ROOT).map((mount) => {
    if (mount.prefix === '/') return { ...mount, dir: path.join(outDir, 'demo') };
    if (mount.prefix === '/dist/browser/') return { ...mount, dir: path.join(outDir, 'browser') };
    if (mount.prefix === '/models/') return { ...mount, dir: modelsDir };
    return mount;
  });
  let running: RunningServer;
  try {
    running = await startStaticServer(
      {
        mounts: [...mounts, ...extraMounts],
        generated: { '/models/index.json': () => modelsIndex(modelsDir) },
        crossOriginIsolated,
      },
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

/** Waits until the demo has finished what it is doing; returns its status, 'ready' or 'error'. */
export async function waitForDemo(page: Page, timeout = 60_000): Promise<string> {
  await page.waitForFunction(
    () => {
      const status = document.getElementById('status');
      const model = document.getElementById('model') as HTMLSelectElement | null;
      return status !== null && model !== null && !model.disabled && ['ready', 'error'].includes(status.dataset.state!);
    },
    undefined,
    { timeout },
  );
  return (await page.getAttribute('#status', 'data-state'))!;
}

/**
 * Drops `files` (paths) onto the page, as one drop of several files, the way a file manager's drag
 * delivers them: a `drop` event whose DataTransfer holds the files, under the names they have on disk.
 */
export async function dropFiles(page: Page, files: string[]): Promise<void> {
  const payload = files.map((file) => ({
    name: path.basename(file),
    base64: fs.readFileSync(file).toString('base64'),
  }));
  const transfer = await page.evaluateHandle((list) => {
    const data = new DataTransfer();
    for (const { name, base64 } of list) {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      data.items.add(new File([bytes], name));
    }
    return data;
  }, payload);
  await page.dispatchEvent('body', 'drop', { dataTransfer: transfer });
  await transfer.dispose();
}

/** One attention layer as the page shows it. */
export interface ShownLayer {
  path: string;
  kind: string;
  /** Maps drawn for it (one per head). */
  heads: number;
}

/** The attention layers the page shows, in page order. */
export function shownLayers(page: Page): Promise<ShownLayer[]> {
  return page.$$eval('.attention-layer', (layers) =>
    layers.map((layer) => ({
      path: (layer as HTMLElement).dataset.path!,
      kind: (layer.closest('section.kind') as HTMLElement).dataset.kind!,
      heads: layer.querySelectorAll('canvas.heatmap').length,
    })),
  );
}

/** The inputs the page ran a model on (its JSON fields), with each one's dtype. */
export function shownInputs(page: Page): Promise<Array<{ name: string; dtype: 'int32' | 'float32'; values: unknown }>> {
  return page.$$eval('#tensor-fields textarea', (fields) =>
    fields.map((field) => ({
      name: (field as HTMLTextAreaElement).dataset.input!,
      dtype: (field as HTMLTextAreaElement).dataset.dtype as 'int32' | 'float32',
      values: JSON.parse((field as HTMLTextAreaElement).value),
    })),
  );
}
