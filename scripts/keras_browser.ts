/**
 * Runs `loadKerasModel(url)` in headless Chromium (Debian's /usr/bin/chromium through playwright-core,
 * never a downloaded browser) on the script-tag bundle, for scripts/check_keras.ts and the browser
 * tests: builds the bundles into a temporary folder, serves them, the page and the model files with
 * the demo's static server, and returns each model's prediction for the given inputs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { demoMounts, startStaticServer } from '../src/io/static_server';
import { buildBrowser } from './build_browser';

const ROOT = path.resolve(__dirname, '..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface BrowserRun {
  /** The file's name inside `folder`. */
  file: string;
  /** Pass the file as a File (fetched, then wrapped as a page's file input would give it) instead of its URL. */
  asFile?: boolean;
  /** One nested array per model input, and each input's dtype. */
  inputs: { values: unknown; dtype: 'float32' | 'int32' }[];
  /** Load with `{customObjects: tfAttention.KERAS_IO_LAYERS}` (the keras.io example classes). */
  kerasIoLayers?: boolean;
  /** Then `saveKerasModel(model)` in the page, and predict with the model loaded from those bytes as a Blob. */
  resave?: boolean;
}

export interface BrowserResult {
  file: string;
  /** Every output of the model, flattened and concatenated in output order. */
  outputs?: number[];
  error?: string;
  backend?: string;
  ms?: number;
}

/** Loads each file from `folder` over HTTP in Chromium with `tfAttention.loadKerasModel(url)` and predicts. */
export async function predictInChromium(folder: string, runs: BrowserRun[]): Promise<BrowserResult[]> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium is needed at ${CHROMIUM} (apt-get install chromium)`);
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-attention-keras-web-'));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-attention-keras-chromium-'));
  await buildBrowser({ outDir });
  const mounts = demoMounts(ROOT).map((m) =>
    m.prefix === '/dist/browser/' ? { ...m, dir: path.join(outDir, 'browser') } : m,
  );
  const server = await startStaticServer(
    {
      mounts: [
        ...mounts,
        { prefix: '/test/', dir: path.join(ROOT, 'test/browser/pages'), files: ['keras.html'] },
        { prefix: '/keras/', dir: path.resolve(folder) },
      ],
    },
    0,
  );
  const { chromium } = await import('playwright-core');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--no-first-run'],
    timeout: 60_000,
  });
  try {
    const page = await context.newPage();
    await page.goto(`${server.url}test/keras.html`);
    const results: BrowserResult[] = [];
    for (const run of runs) {
      results.push(
        await page.evaluate(
          async ({ url, file, inputs, asFile, kerasIoLayers, resave }) => {
            // The page's globals (tf.min.js's tf, the bundle's tfAttention), typed as far as used here.
            type PageTensor = { data(): Promise<Float32Array> };
            const w = window as unknown as {
              tf: {
                tensor(values: unknown, shape: undefined, dtype: string): PageTensor;
                dispose(tensors: PageTensor[]): void;
                getBackend(): string;
              };
              tfAttention: {
                KERAS_IO_LAYERS: Record<string, unknown>;
                loadKerasModel(
                  source: string | Blob,
                  options?: { customObjects?: Record<string, unknown> },
                ): Promise<PageModel>;
                saveKerasModel(model: PageModel): Promise<Uint8Array>;
              };
            };
            type PageModel = {
              predict(x: PageTensor | PageTensor[]): PageTensor | PageTensor[];
              dispose(): void;
            };
            const started = performance.now();
            try {
              const source = asFile ? new File([await (await fetch(url)).blob()], file) : url;
              const options = kerasIoLayers ? { customObjects: w.tfAttention.KERAS_IO_LAYERS } : {};
              let model = await w.tfAttention.loadKerasModel(source, options);
              const ms = performance.now() - started;
              if (resave) {
                const bytes = await w.tfAttention.saveKerasModel(model);
                model.dispose();
                model = await w.tfAttention.loadKerasModel(new Blob([bytes as BlobPart]));
              }
              const xs = inputs.map((x: { values: unknown; dtype: string }) =>
                w.tf.tensor(x.values, undefined, x.dtype),
              );
              const predicted = model.predict(xs.length === 1 ? xs[0] : xs);
              const ys = Array.isArray(predicted) ? predicted : [predicted];
              const outputs: number[] = [];
              for (const y of ys) outputs.push(...Array.from(await y.data()));
              w.tf.dispose([...ys, ...xs]);
              model.dispose();
              return { file, outputs, backend: w.tf.getBackend(), ms };
            } catch (error) {
              return { file, error: (error as Error).message };
            }
          },
          {
            url: `${server.url}keras/${run.file}`,
            file: run.file,
            inputs: run.inputs,
            asFile: run.asFile ?? false,
            kerasIoLayers: run.kerasIoLayers ?? false,
            resave: run.resave ?? false,
          },
        ),
      );
    }
    return results;
  } finally {
    await context.close();
    await server.close();
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.rmSync(profile, { recursive: true, force: true });
  }
}
