/**
 * Takes the README's screenshots of the demo pages in headless Chromium (Debian's, through
 * playwright-core) and writes them to src/demo/screenshots/, the folder the package ships:
 *
 *     npm run screenshots
 *
 * demo.png: the heatmap demo on the reverse model with 314159; cross-weights.png and
 * cross-value-weighted.png: its cross-attention section in both views; train.png: the training
 * page after 300 steps of the tiny model on reverse, on the backend the page chooses.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { startDemoServer } from '../src/io/static_server';
import { buildBrowser } from './build_browser';
import { launchChromium, watchPage } from './chromium';

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(ROOT, 'src/demo/screenshots');

async function main(): Promise<void> {
  // --- Site and browser ------------------------------------------------------------------
  await buildBrowser({ outDir: path.join(ROOT, 'dist') });
  const server = await startDemoServer(ROOT, 0);
  const browser = await launchChromium();
  try {
    fs.mkdirSync(OUT, { recursive: true });
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 800, height: 900 });
    const watch = watchPage(page);

    // --- The heatmap demo, and its cross-attention in both views ----------------------------
    await page.goto(`${server.url}?backend=wasm&model=reverse&input=314159`);
    await page.waitForFunction(() => document.querySelectorAll('#cross canvas.heatmap').length > 0, undefined, {
      timeout: 60_000,
    });
    await page.screenshot({ path: path.join(OUT, 'demo.png'), fullPage: true });
    await page.locator('#cross').screenshot({ path: path.join(OUT, 'cross-weights.png') });
    await page.click('#cross .view input[value="value-weighted"]');
    await page.waitForFunction(() =>
      Array.from(document.querySelectorAll<HTMLElement>('#cross canvas.heatmap')).every(
        (c) => c.dataset.view === 'value-weighted',
      ),
    );
    await page.locator('#cross').screenshot({ path: path.join(OUT, 'cross-value-weighted.png') });

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
