/**
 * The demo opens any model, in headless Chromium: each Keras fixture the repository holds
 * (test/fixtures/keras/*.keras, *.h5) dropped onto the page shows every attention call of its
 * forward pass, in both views, each cell the colour of what `explainAttention` computes in Node on
 * the inputs the page ran (read back from its JSON fields); a model without attention says so; a
 * model folder dropped as files (models/reverse with its task.json and study.json) decodes as the
 * shipped model does and shows the study's figures under each head; a folder chosen with the
 * folder input (test/fixtures/keras/k3_nodes) loads; a file that is no model is an error naming
 * it, and the page stays usable. Clicking the head the reverse model's study finds it can least do
 * without, on an input where switching it off changes the answer (found in Node), changes the
 * page's answer to Node's and the page says so. `npm run check:demo -- DIR` drops the real Keras
 * files of a folder the same way.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Page } from 'playwright-core';

import { dropFiles, shownInputs, shownLayers, waitForDemo } from '../../scripts/demo_page';
import { initBackend } from '../../src/backend';
import { weightColor } from '../../src/demo/heatmap';
import { decode } from '../../src/decode/decode';
import { explainAttention } from '../../src/explain/explain';
import { checkStudy } from '../../src/explain/study';
import { loadKerasModel } from '../../src/keras/load';
import { loadSeq2Seq } from '../../src/model/seq2seq';
import { heldOutSet } from '../../src/tasks';
import { type DemoSession, openDemo, OUTPUT_DIR, readHeatmapCanvases, requireModel } from './harness';

const KERAS = path.join(__dirname, '..', 'fixtures', 'keras');
const FIXTURES = fs.readdirSync(KERAS).filter((file) => /\.(keras|h5)$/.test(file));

let demo: DemoSession;
let page: Page;

beforeAll(async () => {
  await initBackend('wasm', { quiet: true });
  demo = await openDemo('?backend=wasm&model=reverse&input=12');
  page = demo.page;
}, 120_000);

afterAll(() => demo?.close());

const rgb = (css: string) => css.match(/\d+/g)!.map(Number);

/**
 * Node's explanation of `model` on the inputs the page ran, and the largest per-channel difference
 * between every drawn cell and the colour of Node's figure for it, in the page's current view.
 */
async function worstColourError(model: tf.LayersModel): Promise<{ calls: string[]; worst: number; cells: number }> {
  const inputs = (await shownInputs(page)).map(({ dtype, values }) => {
    const sample = tf.tensor(values as number[]);
    const batch = sample.expandDims(0).cast(dtype);
    sample.dispose();
    return batch;
  });
  const explained = explainAttention(model, inputs);
  tf.dispose(inputs);
  const view = await page.$eval('input[name="view"]:checked', (radio) => (radio as HTMLInputElement).value);
  let worst = 0;
  let cells = 0;
  for (const drawn of await readHeatmapCanvases(page)) {
    const call = explained.find((c) => c.path === drawn.dataset.path)!;
    const head = Number(drawn.dataset.head);
    const largest = Math.max(
      ...explained.filter((c) => c.kind === call.kind).flatMap((c) => c.contributions[0].flat(2)),
    );
    const figures =
      view === 'weights'
        ? call.weights[0][head]
        : call.contributions[0][head].map((row) => row.map((v) => v / largest));
    expect([drawn.rows, drawn.columns]).toEqual([figures.length, figures[0].length]);
    drawn.cells.forEach((cell, i) => {
      const colour = rgb(weightColor(figures[Math.floor(i / drawn.columns)][i % drawn.columns]));
      worst = Math.max(worst, ...colour.map((v, k) => Math.abs(v - cell[k])));
      cells++;
    });
  }
  return { calls: explained.map((c) => `${c.path} ${c.kind} ${c.numHeads}`), worst, cells };
}

describe.each(FIXTURES)('dropping test/fixtures/keras/%s', (file) => {
  test('shows every attention call of its forward pass, in both views, as Node computes it', async () => {
    await dropFiles(page, [path.join(KERAS, file)]);
    expect(await waitForDemo(page)).toBe('ready');
    expect(await page.textContent('#model-info')).toContain(`loaded from your files (${file})`);
    expect(await page.isVisible('#tensor-input')).toBe(true);
    const model = await loadKerasModel(path.join(KERAS, file));
    await page.check('input[name="view"][value="weights"]');
    const weights = await worstColourError(model);
    const layers = await shownLayers(page);
    expect(layers.map((l) => `${l.path} ${l.kind} ${l.heads}`)).toEqual(weights.calls);
    if (weights.calls.length === 0) {
      expect(await page.textContent('.no-attention')).toMatch(/^This model made no attention call/);
    } else {
      expect(weights.cells).toBeGreaterThan(0);
      expect(weights.worst).toBeLessThanOrEqual(2);
      await page.check('input[name="view"][value="value-weighted"]');
      const valueWeighted = await worstColourError(model);
      expect(valueWeighted.worst).toBeLessThanOrEqual(3);
      await page.check('input[name="view"][value="weights"]');
    }
    await page.screenshot({ path: path.join(OUTPUT_DIR, `demo-open-${file}.png`), fullPage: true });
    model.dispose();
  });
});

test('a model folder dropped as files decodes as the shipped model does, with the study under each head', async () => {
  const folder = requireModel('reverse');
  await dropFiles(
    page,
    ['model.json', 'weights.bin', 'task.json', 'study.json'].map((name) => path.join(folder, name)),
  );
  expect(await waitForDemo(page)).toBe('ready');
  expect(await page.textContent('#model-info')).toMatch(/^reverse, .* loaded from your files \(model\)$/);
  expect(await page.isVisible('#seq2seq-input')).toBe(true);
  await page.fill('#source', '2718');
  await page.click('#decode');
  expect(await waitForDemo(page)).toBe('ready');
  expect(await page.textContent('#output')).toBe('8172');
  const layers = await shownLayers(page);
  expect(layers.map((l) => `${l.kind} ${l.heads}`)).toEqual([
    'self 4',
    'self 4',
    'causal 4',
    'causal 4',
    'cross 4',
    'cross 4',
  ]);
  const study = checkStudy(JSON.parse(fs.readFileSync(path.join(folder, 'study.json'), 'utf8')), 'study.json');
  const head = study.layers.find((l) => l.path === 'decoder_block_0/cross_attention')!.heads[0];
  expect(await page.textContent('figure.head[data-path="decoder_block_0/cross_attention"][data-head="0"] .study')).toBe(
    `without: ${(head.removed!.exactMatch * 100).toFixed(1)}% · values → mean: ` +
      `${(head.meanValues!.exactMatch * 100).toFixed(1)}%`,
  );
});

test('a model folder chosen with the folder input loads and shows its attention', async () => {
  await page.setInputFiles('#open-folder', path.join(KERAS, 'k3_nodes'));
  expect(await waitForDemo(page)).toBe('ready');
  expect(await page.textContent('#model-info')).toContain('loaded from your files (k3_nodes)');
  expect((await shownLayers(page)).map((l) => `${l.path} ${l.kind} ${l.heads}`)).toEqual([
    'self_attention causal 2',
    'cross_attention cross 2',
  ]);
});

test('a file that is no model is an error naming it, and the page stays usable', async () => {
  await dropFiles(page, [path.join(KERAS, 'reference.json')]);
  expect(await waitForDemo(page)).toBe('error');
  expect(await page.textContent('#error')).toContain('reference.json');
  await page.selectOption('#model', 'reverse');
  expect(await waitForDemo(page)).toBe('ready');
  expect(await page.isVisible('#error')).toBe(false);
});

test("switching off the head the reverse model's study needs most changes the answer; the page says so", async () => {
  const folder = requireModel('reverse');
  const study = checkStudy(JSON.parse(fs.readFileSync(path.join(folder, 'study.json'), 'utf8')), 'study.json');
  // The head whose removal costs the most held-out exact match.
  const worst = study.layers
    .flatMap((layer) => layer.heads.map((head, h) => ({ path: layer.path, h, exactMatch: head.removed!.exactMatch })))
    .sort((a, b) => a.exactMatch - b.exactMatch)[0];
  expect(worst.exactMatch).toBeLessThan(0.5);
  // An input where the model is right with every head and switching that head off changes the answer.
  const reverse = await loadSeq2Seq(folder);
  const samples = heldOutSet(reverse.task!).slice(0, 64);
  const sources = samples.map((s) => s.source);
  const mask = Array.from({ length: 4 }, (_x, i) => (i === worst.h ? 0 : 1));
  const full = decode(reverse.model, sources).tokens;
  const without = decode(reverse.model, sources, { headMasks: { [worst.path]: mask } }).tokens;
  const at = samples.findIndex((s, i) => full[i].join() === s.target.join() && without[i].join() !== full[i].join());
  expect(at).toBeGreaterThanOrEqual(0);
  const input = reverse.tokensToString(sources[at]);
  const [right, changed] = [reverse.tokensToString(full[at]), reverse.tokensToString(without[at])];
  reverse.dispose();

  await page.goto(`${demo.site.url}?backend=wasm&model=reverse&input=${input}`);
  expect(await waitForDemo(page)).toBe('ready');
  expect(await page.textContent('#output')).toBe(right);
  const figure = `figure.head[data-path="${worst.path}"][data-head="${worst.h}"]`;
  await page.click(`${figure} .head-toggle`);
  expect(await waitForDemo(page)).toBe('ready');
  expect(await page.textContent('#output')).toBe(changed);
  expect(await page.getAttribute('#ablation', 'data-changed')).toBe('true');
  expect(await page.textContent('#ablation-text')).toBe(
    `Switched off: ${worst.path} head ${worst.h + 1}. With every head: ${right} (right); ` +
      `now: ${changed} (wrong). The answer changed.`,
  );
  expect(await page.getAttribute(figure, 'class')).toBe('head off');
  expect(await page.textContent(`${figure} .head-toggle`)).toBe(`head ${worst.h + 1}: off`);
  await page.screenshot({ path: path.join(OUTPUT_DIR, 'demo-head-off.png'), fullPage: true });
  // Clicking its map switches it back on.
  await page.click(`${figure} canvas`);
  expect(await waitForDemo(page)).toBe('ready');
  expect(await page.textContent('#output')).toBe(right);
  expect(await page.isVisible('#ablation')).toBe(false);
});

test('nothing failed in the page: no uncaught errors, no failed or 4xx requests', () => {
  expect(demo.watch.problems).toEqual([]);
});
