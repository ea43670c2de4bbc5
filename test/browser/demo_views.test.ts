/**
 * The demo's two views of every attention map, in headless Chromium: "attention weights" and
 * "value-weighted" (each cell the weight times the length of what the key sends through the
 * head's value and output matrices, Kobayashi et al. 2020, scaled to the section's largest cell).
 * The value-weighted cells must be the colour map applied to `Seq2Seq.attention`'s contributions
 * computed in Node from the same model, so a wrong head, layer or scale fails; they must differ
 * from the weights where the value norms differ; the bar under each column is the key's value
 * norm on the section's scale; the legend says what the colours mean in each view; the
 * explanation is written once for the page, in blocks wide enough to read at 1280 px; the tooltip
 * shows weight, value norm and contribution; the most important head of each layer is marked.
 * Screenshots of both views go to test-output/.
 */
import * as path from 'node:path';
import type { Page } from 'playwright-core';

import { initBackend } from '../../src/backend';
import { BAR_COLOR, weightColor } from '../../src/demo/heatmap';
import { loadSeq2Seq } from '../../src/model/seq2seq';
import type { LabelledAttentionMaps } from '../../src/model/seq2seq';
import { type DemoSession, openDemo, OUTPUT_DIR, readHeatmapCanvases, requireModel } from './harness';

const INPUT = '314159';
/** explainAttention's kinds (the sections are #maps-<kind>) and `Seq2Seq.attention`'s keys. */
const KINDS = [
  { id: 'self', key: 'encoderSelf' },
  { id: 'causal', key: 'decoderSelf' },
  { id: 'cross', key: 'cross' },
] as const;

let demo: DemoSession;
let page: Page;
/** The maps computed in Node from the shipped model, for the input and the target the page decodes. */
let expected: LabelledAttentionMaps;

beforeAll(async () => {
  const folder = requireModel('reverse');
  await initBackend('cpu', { quiet: true });
  const reverse = await loadSeq2Seq(folder);
  const source = reverse.stringToTokens(INPUT);
  expected = await reverse.attention(source, [...source].reverse());
  reverse.model.dispose();

  demo = await openDemo(`?backend=wasm&model=reverse&input=${INPUT}`);
  page = demo.page;
  expect(await page.textContent('#output')).toBe('951413');
}, 120_000);

afterAll(() => demo?.close());

/** Every canvas of one section: its fields and the RGB at each cell's centre, [row][column]. */
async function readSection(p: Page, kind: string) {
  return (await readHeatmapCanvases(p, `#maps-${kind} canvas.heatmap`)).map((drawn) => ({
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
    await page.check('input[name="view"][value="value-weighted"]');
    expect(await page.getAttribute(`#maps-${id}`, 'data-view')).toBe('value-weighted');
    expect(await page.textContent('#legend-text')).toMatch(/^colour: weight × value norm, from 0 to the section's/);
    expect(await page.textContent(`#maps-${id} .scale`)).toMatch(/^brightest cell = weight × value norm \d/);
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
    await page.check('input[name="view"][value="weights"]');
    expect(await page.textContent('#legend-text')).toMatch(/^colour: the attention weight, from 0 to 1/);
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
  const canvas = page.locator('#maps-cross canvas.heatmap[data-layer="0"][data-head="1"]');
  const grid = JSON.parse((await canvas.getAttribute('data-grid'))!) as { left: number; top: number; cell: number };
  const [t, s] = [2, 3];
  await canvas.hover({ position: { x: grid.left + (s + 0.5) * grid.cell, y: grid.top + (t + 0.5) * grid.cell } });
  const info = await page.textContent('#hover-info');
  const weight = expected.cross[0][1][t][s];
  const norm = expected.valueNorms.cross[0][1][s];
  const contribution = expected.contributions.cross[0][1][t][s];
  expect(info).toContain('Cross-attention, decoder_block_0/cross_attention, head 2: ');
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
    const captions = await page.$$eval(`#maps-${id} figcaption .importance`, (list) =>
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

test("the bar under each column is the key's value norm on its section's scale; the checkbox hides them", async () => {
  // One canvas's bar heights in CSS pixels, per column, read from its pixels.
  const barHeights = (selector: string) =>
    page.$eval(
      selector,
      (canvas, color) => {
        const c = canvas as HTMLCanvasElement;
        const grid = JSON.parse(c.dataset.grid!);
        const scale = c.width / c.clientWidth;
        const image = c.getContext('2d')!.getImageData(0, 0, c.width, c.height);
        const [r, g, b] = color.match(/\d+/g)!.map(Number);
        return Array.from({ length: grid.columns }, (_x, column) => {
          const x = Math.floor((grid.left + (column + 0.5) * grid.cell) * scale);
          let rows = 0;
          for (let y = Math.floor(grid.barsTop * scale); y < (grid.barsTop + grid.barsHeight) * scale; y++) {
            const at = (y * image.width + x) * 4;
            if (image.data[at] === r && image.data[at + 1] === g && image.data[at + 2] === b) rows++;
          }
          return { height: rows / scale, full: grid.barsHeight - 1, normScale: Number(c.dataset.normScale) };
        });
      },
      BAR_COLOR,
    );
  for (const { id, key } of KINDS) {
    const norms = expected.valueNorms[key];
    const largest = Math.max(...norms.flat(2));
    for (const [layer, head] of [
      [0, 0],
      [1, 3],
    ]) {
      const bars = await barHeights(`#maps-${id} canvas.heatmap[data-layer="${layer}"][data-head="${head}"]`);
      expect(bars).toHaveLength(norms[layer][head].length);
      bars.forEach((bar, s) => {
        expect(Math.abs(bar.normScale - largest) / largest).toBeLessThan(1e-3);
        // Drawn to the nearest pixel.
        expect(Math.abs(bar.height - (norms[layer][head][s] / largest) * bar.full)).toBeLessThanOrEqual(1);
      });
      expect(new Set(bars.map((b) => b.height)).size).toBeGreaterThan(1);
    }
  }
  await page.uncheck('#show-norms');
  const grids = await page.$$eval('canvas.heatmap', (list) =>
    list.map((c) => JSON.parse((c as HTMLElement).dataset.grid!)),
  );
  expect(grids.every((grid) => grid.barsHeight === 0)).toBe(true);
  expect(await page.textContent('#legend-text')).not.toContain('bars');
  await page.check('#show-norms');
  expect(await page.textContent('#legend-text')).toContain("bars: each key's value norm");
});

test('the explanation is written once for the page, in blocks wide enough to read at 1280 px', async () => {
  await page.setViewportSize({ width: 1280, height: 900 });
  expect(await page.locator('#how-to-read').count()).toBe(1);
  const blocks = await page.$$eval('#how-to-read > div', (list) =>
    list.map((div) => {
      const box = div.getBoundingClientRect();
      return { width: box.width, top: box.top, text: div.textContent!.replace(/\s+/g, ' ').trim() };
    }),
  );
  expect(blocks.map((b) => b.text.split(' ').slice(0, 3).join(' '))).toEqual([
    'The maps Each',
    'Weights and values',
    'Switching heads off',
  ]);
  // Side by side, each wider than 330 px (a line of about 60 characters), none squeezed into a narrow column.
  expect(new Set(blocks.map((b) => Math.round(b.top))).size).toBe(1);
  expect(Math.min(...blocks.map((b) => b.width))).toBeGreaterThan(330);
  expect(blocks[1].text).toContain('Kobayashi et al. 2020');
  // Each section has its title, what its rows and columns are and its scale: no explanation of its own.
  for (const { id } of KINDS) {
    expect(await page.$$eval(`#maps-${id} > p`, (list) => list.map((p) => p.className))).toEqual([
      'muted axes',
      'muted scale',
    ]);
  }
  await page.screenshot({ path: path.join(OUTPUT_DIR, 'demo-1280.png'), fullPage: true });
});

test('nothing failed in the page', () => {
  expect(demo.watch.problems).toEqual([]);
});
