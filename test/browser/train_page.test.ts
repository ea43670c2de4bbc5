/**
 * Training in the browser (the demo's train.html) in headless Chromium: 100 steps of the tiny
 * model on reverse lower the loss, the fixed example's heatmaps change as it learns, the page
 * answers a click while it trains, and the trained model decodes, saves to IndexedDB and loads
 * back decoding the same. It runs the library's own Trainer, tasks and evaluation from the
 * script-tag bundle, on the backend the page reports (wasm here: software WebGL compiles shaders
 * for seconds).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';

import { launchChromium, OUTPUT_DIR, startTestSite, TestBrowser, TestSite, watchPage } from './harness';

let site: TestSite;
let browser: TestBrowser;
let page: Page;
let watch: { problems: string[] };

beforeAll(async () => {
  browser = await launchChromium();
  site = await startTestSite();
  fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  page = await browser.context.newPage();
  watch = watchPage(page);
  await page.goto(`${site.url}train.html?backend=wasm&task=reverse&size=tiny&steps=100&seed=3`);
  await page.waitForFunction(() => document.getElementById('status')?.dataset.phase === 'ready', undefined, {
    timeout: 60_000,
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
});

/** A hash of each heatmap canvas of the fixed example (computed in the page: the pixels are many). */
function heatmapHashes(p: Page): Promise<number[]> {
  return p.$$eval('#example-maps canvas', (canvases) =>
    (canvases as HTMLCanvasElement[]).map((canvas) => {
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let hash = 7;
      for (let i = 0; i < data.length; i++) hash = (Math.imul(hash, 31) + data[i]) >>> 0;
      return hash;
    }),
  );
}

const step = (p: Page) => p.evaluate(() => Number(document.getElementById('status')!.dataset.step ?? 0));

test('100 steps of the tiny model lower the loss and change the heatmaps, and the page answers clicks', async () => {
  expect(await page.textContent('#backend')).toBe('wasm');
  await page.click('#train');
  // Polling on a timer: the page is busy training, and waits on animation frames would lag.
  const poll = { polling: 50, timeout: 60_000 };
  await page.waitForFunction(() => Number(document.getElementById('status')!.dataset.step ?? 0) >= 1, undefined, poll);
  const before = await heatmapHashes(page);
  expect(before.length).toBe(2); // the tiny preset's two heads

  // While it trains: a click is answered within a second, and training goes on after it.
  await page.waitForFunction(() => Number(document.getElementById('status')!.dataset.step ?? 0) >= 5, undefined, poll);
  const atClick = await step(page);
  const started = Date.now();
  await page.click('#ping');
  await page.waitForFunction(() => document.getElementById('pings')!.textContent === '1', undefined, {
    polling: 20,
    timeout: 10_000,
  });
  // Handled while the training still ran (a page blocked by the loop would answer after its end),
  // and soon: a generous bound, as the test machine is shared.
  const handledAt = Number(await page.getAttribute('#pings', 'data-at-step'));
  expect(handledAt).toBeGreaterThanOrEqual(atClick);
  expect(handledAt).toBeLessThan(100);
  expect(Date.now() - started).toBeLessThan(5000);

  await page.waitForFunction(() => document.getElementById('status')?.dataset.phase === 'done', undefined, {
    ...poll,
    timeout: 100_000,
  });
  expect(await page.textContent('#status')).toMatch(/^done after 100 steps: exact match \d\.\d{3}$/);
  const losses = JSON.parse((await page.getAttribute('#curve', 'data-losses'))!) as number[];
  expect(losses.length).toBe(100);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  expect(mean(losses.slice(-10))).toBeLessThan(0.8 * mean(losses.slice(0, 10)));

  const after = await heatmapHashes(page);
  expect(after.length).toBe(before.length);
  const changed = after.filter((hash, i) => hash !== before[i]).length;
  expect(changed).toBe(before.length);
  await page.screenshot({ path: path.join(OUTPUT_DIR, 'train-page.png'), fullPage: true });
}, 150_000);

test('the trained model decodes an input, saves to IndexedDB and loads back decoding the same', async () => {
  await page.fill('#source', '3141');
  await page.click('#decode');
  await page.waitForFunction(() => document.getElementById('output')!.textContent !== '–');
  const decoded = await page.textContent('#output');
  expect(decoded).toMatch(/^[0-9]*$|^\(empty\)$/);

  await page.click('#save');
  await page.waitForFunction(() => document.getElementById('save-status')!.dataset.saved !== undefined);
  const url = await page.getAttribute('#save-status', 'data-saved');
  expect(url).toBe('indexeddb://tfjs-attention-trained-reverse');
  const again = await page.evaluate(async (storeUrl) => {
    const api = (window as unknown as { tfAttention: any }).tfAttention;
    const model = await api.loadSeq2Seq(storeUrl);
    const [out] = await model.generate([model.stringToTokens('3141')]);
    return {
      text: model.tokensToString(out) || '(empty)',
      task: model.info.task.name,
      steps: model.info.training.steps,
    };
  }, url!);
  expect(again).toEqual({ text: decoded, task: 'reverse', steps: 100 });
});

test('nothing failed in the page', () => {
  expect(watch.problems).toEqual([]);
});
