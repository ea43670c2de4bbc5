/**
 * The browser bundles in headless Chromium: the script-tag bundle on a page that includes only
 * tf.min.js and tfjs-attention.min.js, and the ES module bundle inside an app built by a bundler.
 * Both load the shipped reverse model over HTTP and must reverse correctly.
 */
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';

import { BUNDLES } from '../../scripts/build_browser';
import { demoMounts, startStaticServer } from '../../src/io/static_server';
import {
  launchChromium,
  MODELS_DIR,
  requireModel,
  ROOT,
  startTestSite,
  TestBrowser,
  TestSite,
  watchPage,
} from './harness';

const PAGES = path.join(__dirname, 'pages');

let site: TestSite;
let browser: TestBrowser;

beforeAll(async () => {
  requireModel('reverse');
  browser = await launchChromium();
  site = await startTestSite([{ prefix: '/test/', dir: PAGES, files: ['script_tag.html', 'no_tf.html'] }]);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
});

const reversed = (text: string) => [...text].reverse().join('');

async function open(page: Page, url: string): Promise<{ problems: string[] }> {
  const watch = watchPage(page);
  await page.goto(url);
  return watch;
}

describe('a page with only tf.min.js and tfjs-attention.min.js', () => {
  // One page for these tests: tf.min.js picks webgl (the harness gives Chromium SwiftShader's
  // WebGL), and compiling its shaders in software takes seconds, so they are compiled once.
  let page: Page;
  let watch: { problems: string[] };
  const requests: string[] = [];

  beforeAll(async () => {
    page = await browser.context.newPage();
    page.on('request', (request) => requests.push(new URL(request.url()).pathname));
    watch = await open(page, `${site.url}test/script_tag.html`);
  });

  afterAll(() => page?.close());

  test('loads /models/reverse and generates correct reversals, on webgl', async () => {
    const result = await page.evaluate(
      () => (window as unknown as { result: Promise<{ backend: string; inputs: string[]; decoded: string[] }> }).result,
    );
    expect(result.decoded).toEqual(result.inputs.map(reversed));
    // tfjs's own choice on a page with only tf.min.js: webgl, the backend the decoding ran on.
    expect(result.backend).toBe('webgl');
    expect(await page.evaluate(() => (window as unknown as { tf: { getBackend(): string } }).tf.getBackend())).toBe(
      'webgl',
    );
    expect(await page.textContent('#log')).toContain('314 -> 413');

    // Nothing but the two scripts and the model's three files was fetched: no CDN, no wasm.
    expect([...requests].sort()).toEqual(
      [
        '/test/script_tag.html',
        '/vendor/tfjs/tf.min.js',
        `/dist/browser/${BUNDLES.script}`,
        '/models/reverse/task.json',
        '/models/reverse/model.json',
        '/models/reverse/weights.bin',
      ].sort(),
    );
  });

  test("registers every layer in the page's tf, so plain tf.loadLayersModel rebuilds the model", async () => {
    const check = await page.evaluate(async () => {
      const w = window as unknown as { tf: any; tfAttention: Record<string, any> };
      const { tf, tfAttention } = w;
      // Every concrete layer (the abstract TransformerBlockBase has no className of its own).
      const layerClasses = Object.entries(tfAttention).filter(
        ([, value]) =>
          typeof value === 'function' &&
          value.prototype instanceof tf.layers.Layer &&
          Object.prototype.hasOwnProperty.call(value, 'className'),
      );
      const classNameMap = tf.serialization.SerializationMap.getMap().classNameMap;
      const registered = layerClasses.map(([name, cls]) => ({ name, same: classNameMap[cls.className]?.[0] === cls }));

      const plain = await tf.loadLayersModel('/models/reverse/model.json');
      const layerTypes = plain.layers.map((layer: any) => layer.getClassName());
      const encoderIsOurs = plain.getLayer('encoder_block_0') instanceof tfAttention.TransformerEncoderBlock;
      // The plain model computes the same logits as the one loadSeq2Seq wraps.
      const wrapped = await tfAttention.loadSeq2Seq('/models/reverse');
      const source = tf.tensor2d([[6, 4, 7]], [1, 3], 'int32');
      const decoderInput = tf.tensor2d([[1, 7, 4]], [1, 3], 'int32');
      const a = plain.predict([source, decoderInput]);
      const b = wrapped.model.predict([source, decoderInput]);
      const maxDiff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
      return { registered, layerTypes, encoderIsOurs, maxDiff, shape: a.shape };
    });

    expect(check.registered.length).toBeGreaterThanOrEqual(8);
    expect(check.registered.filter((r) => !r.same)).toEqual([]);
    expect(check.layerTypes).toEqual(
      expect.arrayContaining(['TransformerEncoderBlock', 'TransformerDecoderBlock', 'TokenAndPositionEmbedding']),
    );
    expect(check.encoderIsOurs).toBe(true);
    expect(check.shape).toEqual([1, 3, 13]);
    expect(check.maxDiff).toBe(0);
  });

  test('a Node-only function says so instead of failing obscurely', async () => {
    const message = await page.evaluate(async () => {
      try {
        await (window as unknown as { tfAttention: any }).tfAttention.fileSystem('/tmp/model').load();
        return 'no error';
      } catch (error) {
        return (error as Error).message;
      }
    });
    expect(message).toMatch(
      /fileSystem\("\/tmp\/model"\) is Node-only .*in a browser, load models from a URL or indexeddb:\/\//,
    );
  });

  test('nothing failed in the page', () => {
    expect(watch.problems).toEqual([]);
  });
});

test('the script-tag bundle without tf.min.js says what to add', async () => {
  const page = await browser.context.newPage();
  const [error] = await Promise.all([page.waitForEvent('pageerror'), page.goto(`${site.url}test/no_tf.html`)]);
  expect(error.message).toMatch(
    /tfjs-attention\.min\.js needs TensorFlow\.js on the page first: add <script src=.*tf\.min\.js/,
  );
  await page.close();
});

test('an app bundled from tfjs-attention.esm.js has one tfjs, loads the model and reverses', async () => {
  // What an app's bundler does: resolve the package to the ES module bundle and
  // @tensorflow/tfjs (+ the wasm backend) to the app's node_modules.
  const appDir = path.join(site.outDir, 'app');
  const esmBundle = path.join(site.outDir, 'browser', BUNDLES.esm);
  const result = await esbuild.build({
    entryPoints: [path.join(PAGES, 'esm_app.ts')],
    outfile: path.join(appDir, 'esm_app.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: ROOT,
    nodePaths: [path.join(ROOT, 'node_modules')], // the bundle sits in a temporary folder
    plugins: [
      {
        name: 'package-to-esm-bundle',
        setup(build) {
          build.onResolve({ filter: /src\/browser$/ }, () => ({ path: esmBundle }));
        },
      },
    ],
  });
  fs.copyFileSync(path.join(PAGES, 'esm_app.html'), path.join(appDir, 'esm_app.html'));
  const inputs = Object.keys(result.metafile.inputs);
  expect(inputs.filter((input) => input.startsWith('src/'))).toEqual([]); // the package came from the bundle
  expect(inputs.filter((input) => /tfjs-core\/dist\/index\.js$/.test(input))).toHaveLength(1);

  // Served on its own origin, with only the wasm binaries and the models beside it.
  const server = await startStaticServer(
    {
      mounts: [
        { prefix: '/', dir: appDir, index: 'esm_app.html' },
        ...demoMounts(ROOT).filter((m) => m.prefix === '/vendor/tfjs-backend-wasm/'),
        { prefix: '/models/', dir: MODELS_DIR },
      ],
    },
    0,
  );
  try {
    const page = await browser.context.newPage();
    const watch = await open(page, server.url);
    const out = await page.evaluate(
      () =>
        (
          window as unknown as {
            result: Promise<{
              backend: string;
              tfBackend: string;
              inputs: string[];
              decoded: string[];
              plainLoadUsesOurClass: boolean;
            }>;
          }
        ).result,
    );
    expect(out.decoded).toEqual(out.inputs.map(reversed));
    expect(out.plainLoadUsesOurClass).toBe(true);
    expect(out.backend).toBe('wasm');
    expect(out.tfBackend).toBe('wasm');
    expect(watch.problems).toEqual([]);
    await page.close();
  } finally {
    await server.close();
  }
});
