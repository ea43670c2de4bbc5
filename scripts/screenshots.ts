/**
 * Takes the README's screenshots of the demo pages in headless Chromium (Debian's, through
 * playwright-core) and writes them to src/demo/screenshots/, the folder the package ships:
 *
 *     npm run screenshots
 *
 * At 1280 px, on the reverse model with 314159: cross-weights.png and cross-value-weighted.png,
 * its cross-attention with every head in both views (the value norms under the columns);
 * head-off.png, the same after switching off the head its study finds it needs most
 * (decoder_block_0/cross_attention head 1); demo.png, the page above the maps then (the answer
 * and what changed, the explanation, the legend); open-keras.png, the page after
 * test/fixtures/keras/k3_keras_hub.keras was dropped on it, down to its first maps; train.png, the
 * training page after 300 steps of the tiny model on reverse, on the backend the page chooses.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Page } from 'playwright-core';

import { startDemoServer } from '../src/io/static_server';
import { buildBrowser } from './build_browser';
import { launchChromium, watchPage } from './chromium';
import { dropFiles, waitForDemo } from './demo_page';

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(ROOT, 'src/demo/screenshots');

/** The page from its top to where `selector` starts, as a screenshot clip. */
async function above(page: Page, selector: string): Promise<{ x: number; y: number; width: number; height: number }> {
  const top = await page.$eval(selector, (element) => element.getBoundingClientRect().top + window.scrollY);
  return { x: 0, y: 0, width: page.viewportSize()!.width, height: Math.ceil(top) };
}

async function main(): Promise<void> {
  // --- Site and browser ------------------------------------------------------------------
  await buildBrowser({ outDir: path.join(ROOT, 'dist') });
  const server = await startDemoServer(ROOT, 0);
  const browser = await launchChromium();
  try {
    fs.mkdirSync(OUT, { recursive: true });
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    const watch = watchPage(page);

    // --- The demo: the cross-attention in both views, then a head switched off ----------------
    await page.goto(`${server.url}?backend=wasm&model=reverse&input=314159&seed=1`);
    await waitForDemo(page);
    await page.locator('#maps-cross').screenshot({ path: path.join(OUT, 'cross-weights.png') });
    await page.check('input[name="view"][value="value-weighted"]');
    await page.locator('#maps-cross').screenshot({ path: path.join(OUT, 'cross-value-weighted.png') });
    await page.check('input[name="view"][value="weights"]');
    await page.click('figure.head[data-path="decoder_block_0/cross_attention"][data-head="0"] .head-toggle');
    await waitForDemo(page);
    await page.locator('#maps-cross').screenshot({ path: path.join(OUT, 'head-off.png') });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(OUT, 'demo.png'), clip: await above(page, '#heatmaps') });

    // --- Any model: a Keras file dropped on the page ----------------------------------------------
    await dropFiles(page, [path.join(ROOT, 'test/fixtures/keras/k3_keras_hub.keras')]);
    await waitForDemo(page);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(OUT, 'open-keras.png'), clip: await above(page, '#maps-causal') });

    // --- The training page -------------------------------------------------------------------
    await page.goto(`${server.url}train.html?task=reverse&size=tiny&steps=300&seed=3`);
    await page.waitForFunction(() => document.getElementById('status')?.dataset.phase === 'ready');
    await page.click('#train');
    await page.waitForFunction(() => document.getElementById('status')?.dataset.phase === 'done', undefined, {
      polling: 200,
      timeout: 300_000,
    });
    await page.screenshot({ path: path.join(OUT, 'train.png'), fullPage: true });
    if (watch.problems.length > 0) throw new Error(`the pages reported: ${watch.problems.join('; ')}`);
  } finally {
    await browser.close();
    await server.close();
  }
  for (const file of fs.readdirSync(OUT).sort()) {
    console.log(
      `${path.relative(ROOT, path.join(OUT, file))}  ${(fs.statSync(path.join(OUT, file)).size / 1024).toFixed(1)} KiB`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(`screenshots: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
