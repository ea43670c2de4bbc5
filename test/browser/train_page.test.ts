/**
 * Training in the browser (the demo's train.html) in headless Chromium, whose WebGL is SwiftShader
 * (software): the page starts on wasm and says why, offers the backend choice, and has no test
 * hooks on show; 100 steps of the tiny model on reverse lower the loss, the chart has axes, ticks
 * and a legend, the speed and ETA show, the fixed example's heatmaps change as it learns (with a
 * colour legend), the page answers while it trains, and the trained model decodes, saves to
 * IndexedDB, loads back decoding the same, and decodes the same on another backend. It runs the
 * library's own Trainer, tasks, evaluation and chart from the script-tag bundle.
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
  // The page's timers under the test's control (they run in real time until paused).
  await page.clock.install();
  // No backend asked for: the page's (the library's) automatic choice.
  await page.goto(`${site.url}train.html?task=reverse&size=tiny&steps=100&seed=3`);
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

test('on a software WebGL (SwiftShader) it starts on wasm and says why; the page offers the backends', async () => {
  const renderer = await page.evaluate(() => {
    const gl = document.createElement('canvas').getContext('webgl2');
    const info = gl?.getExtension('WEBGL_debug_renderer_info');
    return gl && info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : null;
  });
  expect(renderer).toMatch(/SwiftShader/);
  expect(await page.getAttribute('#backend', 'data-backend')).toBe('wasm');
  expect(await page.evaluate(() => (window as unknown as { tf: { getBackend(): string } }).tf.getBackend())).toBe(
    'wasm',
  );
  expect(await page.textContent('#backend-note')).toBe(
    `(CPU, through WebAssembly: this WebGL draws in software (${renderer}), where wasm is far faster)`,
  );
  const choice = await page.$eval('#backend-choice', (select) => ({
    options: Array.from((select as HTMLSelectElement).options, (option) => option.value),
    value: (select as HTMLSelectElement).value,
    disabled: (select as HTMLSelectElement).disabled,
  }));
  expect(choice).toEqual({ options: ['auto', 'webgl', 'wasm', 'cpu'], value: 'auto', disabled: false });
  // Nothing on show is a test hook: every button is one a user needs.
  const buttons = await page.$$eval('button', (all) => all.map((b) => b.id));
  expect(buttons.sort()).toEqual(['decode', 'download', 'save', 'stop', 'train']);
});

test('100 tiny steps: the loss falls on a chart with axes and legends; speed, ETA; the maps change', async () => {
  await page.click('#train');
  // Polling on a timer: the page is busy training, and waits on animation frames would lag.
  const poll = { polling: 50, timeout: 60_000 };
  await page.waitForFunction(() => Number(document.getElementById('status')!.dataset.step ?? 0) >= 1, undefined, poll);
  const before = await heatmapHashes(page);
  expect(before.length).toBe(2); // the tiny preset's two heads
  expect(await page.$eval('#backend-choice', (select) => (select as HTMLSelectElement).disabled)).toBe(true);

  // While it trains, it yields to the page between steps (input is handled there), on timers: with
  // the page's clock paused, the training waits at a step short of the end and the page still
  // answers. No race with the training's speed: the steps stand still until the clock resumes.
  await page.waitForFunction(() => Number(document.getElementById('status')!.dataset.step ?? 0) >= 5, undefined, poll);
  await page.clock.pauseAt(Date.now() + 1000);
  const paused = await step(page);
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(await step(page)).toBe(paused);
  expect(paused).toBeGreaterThanOrEqual(5);
  expect(paused).toBeLessThan(100);
  expect(await page.$eval('#stop', (button) => (button as HTMLButtonElement).disabled)).toBe(false);
  await page.clock.resume();
  const progress = await page.$eval('#progress', (p) => ({
    text: p.textContent,
    stepsPerSecond: (p as HTMLElement).dataset.stepsPerSecond,
    etaSeconds: (p as HTMLElement).dataset.etaSeconds,
  }));
  expect(progress.text).toMatch(/^\d+\.\d steps\/s, ETA \d+(m\d\d)?s$/);
  expect(Number(progress.stepsPerSecond)).toBeGreaterThan(0);
  expect(Number(progress.etaSeconds)).toBeGreaterThan(0);

  await page.waitForFunction(() => document.getElementById('status')?.dataset.phase === 'done', undefined, {
    ...poll,
    timeout: 100_000,
  });
  expect(await page.textContent('#status')).toMatch(/^done after 100 steps: exact match \d\.\d{3}$/);
  const losses = JSON.parse((await page.getAttribute('#curve', 'data-losses'))!) as number[];
  expect(losses.length).toBe(100);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  expect(mean(losses.slice(-10))).toBeLessThan(0.8 * mean(losses.slice(0, 10)));
  expect(await page.$eval('#progress', (p) => (p as HTMLElement).dataset.etaSeconds)).toBe('0');

  // The chart: two panels, each with its axis names, tick labels on both axes and a legend, drawn.
  const chart = await page.$eval('#curve svg', (svg) => {
    const texts = (cls: string) => Array.from(svg.querySelectorAll(`text.${cls}`), (t) => t.textContent);
    return {
      axes: texts('axis-label'),
      ticks: texts('tick'),
      legend: texts('legend'),
      lines: svg.querySelectorAll('polyline').length,
      width: svg.getBoundingClientRect().width,
    };
  });
  expect(chart.axes).toEqual(['loss (log scale)', 'step', 'accuracy', 'step']);
  expect(chart.legend).toEqual(['train', 'held-out', 'train token acc', 'held-out token acc', 'held-out exact match']);
  expect(chart.ticks).toEqual(expect.arrayContaining(['20', '40', '100', '0.0', '0.2', '1.0', '1', '10']));
  expect(chart.lines).toBe(5);
  expect(chart.width).toBeGreaterThan(400);

  const after = await heatmapHashes(page);
  expect(after.length).toBe(before.length);
  const changed = after.filter((hash, i) => hash !== before[i]).length;
  expect(changed).toBe(before.length);
  // The heatmaps' colour scale, from 0 to 1, next to them.
  const legend = await page.$eval('#heatmap-legend', (p) => {
    const ramp = p.querySelector('.ramp')!.getBoundingClientRect();
    return { text: p.textContent!.replace(/\s+/g, ' '), rampWidth: ramp.width, visible: ramp.height > 0 };
  });
  expect(legend.text).toMatch(/^attention weight 0 ?1 /);
  expect(legend).toMatchObject({ visible: true });
  expect(legend.rampWidth).toBeGreaterThan(50);
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

  // Another backend, chosen on the page: the model decodes the same there.
  await page.selectOption('#backend-choice', 'cpu');
  await page.waitForFunction(() => document.getElementById('backend')?.dataset.backend === 'cpu');
  expect(await page.textContent('#backend-note')).toBe('(plain JavaScript)');
  await page.fill('#source', '3141');
  await page.click('#decode');
  await page.waitForFunction((before) => document.getElementById('output')!.textContent === before, decoded, {
    timeout: 30_000,
  });
});

test('nothing failed in the page', () => {
  expect(watch.problems).toEqual([]);
});
