/**
 * The demo's two views of every attention map, in headless Chromium: "attention weights" and
 * "value-weighted" (each cell the weight times the length of what the key sends through the
 * head's value and output matrices, Kobayashi et al. 2020, scaled to the section's largest cell).
 * The value-weighted cells must be the colour map applied to `Seq2Seq.attention`'s contributions
 * computed in Node from the same model, so a wrong head, layer or scale fails; they must differ
 * from the weights where the value norms differ; the tooltip shows weight, value norm and
 * contribution; the most important head of each layer is marked. Screenshots of both views go
 * to test-output/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';

import { initBackend } from '../../src/backend';
import { weightColor } from '../../src/demo/heatmap';
import { loadSeq2Seq } from '../../src/model/seq2seq';
import type { LabelledAttentionMaps } from '../../src/model/seq2seq';
import {
  launchChromium,
  OUTPUT_DIR,
  readHeatmapCanvases,
  requireModel,
  startTestSite,
  TestBrowser,
  TestSite,
  watchPage,
} from './harness';

const INPUT = '314159';
const KINDS = [
  { id: 'encoder-self', key: 'encoderSelf' },
  { id: 'decoder-self', key: 'decoderSelf' },
  { id: 'cross', key: 'cross' },
] as const;

let site: TestSite;
let browser: TestBrowser;
let page: Page;
let watch: { problems: string[] };
/** The maps computed in Node from the shipped model, for the input and the target the page decodes. */
let expected: LabelledAttentionMaps;

beforeAll(async () => {
  const folder = requireModel('reverse');
  await initBackend('cpu', { quiet: true });
  const reverse = await loadSeq2Seq(folder);
  const source = reverse.stringToTokens(INPUT);
  expected = await reverse.attention(source, [...source].reverse());
  reverse.model.dispose();

  browser = await launchChromium();
  site = await startTestSite();
  fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  page = await browser.context.newPage();
  watch = watchPage(page);
  await page.goto(`${site.url}?backend=wasm&model=reverse&input=${INPUT}`);
  await page.waitForFunction(() => document.querySelectorAll('canvas.heatmap').length > 0, undefined, {
    timeout: 60_000,
  });
  await page.waitForFunction(() => document.getElementById('output')?.textContent === '951413');
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
});

/** Every canvas of one section: its fields and the RGB at each cell's centre, [row][column]. */
async function readSection(p: Page, kind: string) {
  return (await readHeatmapCanvases(p, `#${kind} canvas.heatmap`)).map((drawn) => ({
    layer: Number(drawn.dataset.layer),
    head: Number(drawn.dataset.head),
    view: drawn.dataset.view,
    scale: Number(drawn.dataset.scale),
    cells: Array.from({ length: drawn.rows }, (_r, r) => drawn.cells.slice(r * drawn.columns, (r + 1) * drawn.columns)),
  }));
}

const rgb = (css: string) => css.match(/\d+/g)!.map(Number);

/** Largest per-channel difference between a drawn cell and the colour of `value`. */
const colourError = (cell: number[], value: number) =>
  Math.max(...rgb(weightColor(value)).map((v, k) => Math.abs(v - cell[k])));

describe.each(KINDS)('$id', ({ id, key }) => {
  test('value-weighted: every cell is the colour of its contribution / the section maximum', async () => {
    await page.click(`#${id} .view input[value="value-weighted"]`);
    expect(await page.getAttribute(`#${id}`, 'data-view')).toBe('value-weighted');
    expect(await page.textContent(`#${id} .view-about`)).toMatch(/Kobayashi et al\. 2020/);
    const canvases = await readSection(page, id);
    const contributions = expected.contributions[key];
    const largest = Math.max(...contributions.flat(3));
    expect(canvases.length).toBe(contributions.length * contributions[0].length);
    let worst = 0;
    for (const canvas of canvases) {
      expect(canvas.view).toBe('value-weighted');
      expect(Math.abs(canvas.scale - largest) / largest).toBeLessThan(1e-3);
      canvas.cells.forEach((row, t) =>
        row.forEach((cell, s) => {
          worst = Math.max(worst, colourError(cell, contributions[canvas.layer][canvas.head][t][s] / largest));
        }),
      );
    }
    // Rounding of the colour and of float32 across backends: a channel may be off by a few units.
    expect(worst).toBeLessThanOrEqual(3);
    await page.screenshot({ path: path.join(OUTPUT_DIR, `demo-value-weighted-${id}.png`), fullPage: true });
  });

  test('the two views differ where the value norms differ, and switching back restores the weights', async () => {
    const valueWeighted = await readSection(page, id);
    await page.click(`#${id} .view input[value="weights"]`);
    const weights = await readSection(page, id);
    expect(weights.every((c) => c.view === 'weights')).toBe(true);
    const norms = expected.valueNorms[key];
    const spread = Math.max(...norms.flat(2)) / Math.min(...norms.flat(2));
    expect(spread).toBeGreaterThan(1.2); // the norms do differ in this model
    let differing = 0;
    weights.forEach((canvas, i) =>
      canvas.cells.forEach((row, t) =>
        row.forEach((cell, s) => {
          expect(colourError(cell, expected[key][canvas.layer][canvas.head][t][s])).toBeLessThanOrEqual(3);
          if (cell.join() !== valueWeighted[i].cells[t][s].join()) differing++;
        }),
      ),
    );
    expect(differing).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(OUTPUT_DIR, `demo-weights-${id}.png`), fullPage: true });
  });
});

test('the tooltip gives the weight, the value norm and the contribution of the cell under the mouse', async () => {
  const canvas = page.locator('#cross canvas.heatmap[data-layer="0"][data-head="1"]');
  const grid = JSON.parse((await canvas.getAttribute('data-grid'))!) as { left: number; top: number; cell: number };
  const [t, s] = [2, 3];
  await canvas.hover({ position: { x: grid.left + (s + 0.5) * grid.cell, y: grid.top + (t + 0.5) * grid.cell } });
  const info = await page.textContent('#hover-info');
  const weight = expected.cross[0][1][t][s];
  const norm = expected.valueNorms.cross[0][1][s];
  const contribution = expected.contributions.cross[0][1][t][s];
  expect(info).toContain('Cross-attention, layer 1, head 2');
  const figures = info!
    .match(/weight (\S+), value norm (\S+), contribution (\S+)$/)!
    .slice(1)
    .map(Number);
  expect(figures[0]).toBeCloseTo(weight, 2);
  expect(figures[1] / norm).toBeCloseTo(1, 2);
  expect(figures[2] / Math.max(contribution, 1e-6)).toBeCloseTo(1, 1);
});

test('each layer marks its most important head, by the mean length of its share of the output', async () => {
  for (const { id, key } of KINDS) {
    const captions = await page.$$eval(`#${id} figcaption`, (list) =>
      list.map((c) => ({ text: c.textContent!, top: c.classList.contains('top-head') })),
    );
    const importance = expected.headImportance[key];
    const heads = importance[0].length;
    importance.forEach((layer, l) => {
      const best = layer.indexOf(Math.max(...layer));
      const mine = captions.slice(l * heads, (l + 1) * heads);
      expect(mine.map((c) => c.top)).toEqual(layer.map((_x, h) => h === best));
      // Node (cpu) and the page (wasm) round float32 differently: within the last digit shown.
      mine.forEach((c, h) =>
        expect(Math.abs(Number(/importance (\S+)/.exec(c.text)![1]) - layer[h])).toBeLessThan(0.011),
      );
    });
  }
});

test('nothing failed in the page', () => {
  expect(watch.problems).toEqual([]);
});
