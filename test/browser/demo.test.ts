/**
 * The demo in headless Chromium, as a user drives it: pick each shipped model, type a sequence,
 * decode, and check the answer against the task's own solution; check that every attention map
 * was drawn, and drawn right: every cell's pixel is the colour map (src/demo/heatmap.ts) of the
 * weight `Seq2Seq.attention` computes in Node for the same model, input and output, so drawing
 * the wrong head, layer or kind fails (and causal decoder self-attention is exactly zero above
 * the diagonal); draw random examples; save the model to IndexedDB and load it back; see a bad
 * input's error. Screenshots go to test-output/ (git-ignored).
 *
 * The per-model checks run on the wasm backend: headless Chromium's WebGL is SwiftShader (software),
 * where compiling tfjs's shaders takes seconds per new shape. One test checks the automatic choice,
 * which is what users get: webgl (the harness gives Chromium SwiftShader's WebGL), and its maps.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';

import { initBackend } from '../../src/backend';
import { weightColor } from '../../src/demo/heatmap';
import { LabelledAttentionMaps, loadSeq2Seq } from '../../src/model/seq2seq';
import { createTask, TaskName } from '../../src/tasks/tasks';
import { waitForDemo } from '../../scripts/demo_page';
import { type DemoSession, openDemo, OUTPUT_DIR, readHeatmapCanvases, requireModel, watchPage } from './harness';

/** A short input per shipped model; each model must decode it correctly. */
const CASES: Array<{ task: TaskName; input: string }> = [
  { task: 'copy', input: '31415' },
  { task: 'reverse', input: '314159' },
  { task: 'sort', input: '93827' },
  { task: 'addition', input: '352+417' },
];

/** Viridis at weight 0 and 1 (src/demo/heatmap.ts). */
const COLOR_AT_0 = [68, 1, 84];
const COLOR_AT_1 = [253, 231, 37];

/** The input the webgl test decodes with the reverse model. */
const WEBGL_INPUT = '314';

/** The kinds of map: the canvases' data-kind (explainAttention's kind) and `Seq2Seq.attention`'s key. */
const KIND_KEYS = { self: 'encoderSelf', causal: 'decoderSelf', cross: 'cross' } as const;

let demo: DemoSession;
let page: Page;
/** The attention maps Node computes for each case ('task input'), from the shipped model. */
const expectedMaps = new Map<string, LabelledAttentionMaps>();

/** Node's maps for `input` and its right answer (the output the page must decode), on wasm as the page. */
async function nodeMaps(task: TaskName, input: string): Promise<LabelledAttentionMaps> {
  const model = await loadSeq2Seq(requireModel(task));
  const source = model.stringToTokens(input);
  const maps = await model.attention(source, createTask(task).solve(source));
  model.dispose();
  return maps;
}

beforeAll(async () => {
  for (const { task } of CASES) requireModel(task);
  await initBackend('wasm', { quiet: true });
  for (const { task, input } of [...CASES, { task: 'reverse' as const, input: WEBGL_INPUT }]) {
    expectedMaps.set(`${task} ${input}`, await nodeMaps(task, input));
  }
  demo = await openDemo('?backend=wasm&model=reverse&input=12');
  page = demo.page;
}, 120_000);

afterAll(() => demo?.close());

async function text(p: Page, selector: string): Promise<string> {
  return ((await p.textContent(selector)) ?? '').trim();
}

/** Selects `task` (which loads it and decodes a random example), then decodes `input`. */
async function decodeWith(task: string, input: string): Promise<void> {
  if ((await page.inputValue('#model')) !== task) {
    await page.selectOption('#model', task);
    await page.waitForFunction(
      (t) => document.getElementById('model-info')?.textContent?.includes(`/models/${t}`),
      task,
    );
    expect(await waitForDemo(page)).toBe('ready');
  }
  await page.fill('#source', input);
  await page.click('#decode'); // the click handler disables the controls before it returns
  expect(await waitForDemo(page)).toBe('ready');
}

interface CanvasCheck {
  kind: string;
  layer: number;
  head: number;
  rows: number;
  columns: number;
  /** Share of the canvas's pixels that are not transparent. */
  painted: number;
  /** Distinct colours at the cell centres. */
  distinctCellColors: number;
  /** Colours at the cell centres, row-major, as [r, g, b]. */
  cells: number[][];
}

/** Reads every heatmap canvas back (pixels, not the DOM): what the user actually sees. */
async function readHeatmaps(p: Page): Promise<CanvasCheck[]> {
  return (await readHeatmapCanvases(p)).map((drawn) => ({
    kind: drawn.dataset.kind,
    layer: Number(drawn.dataset.layer),
    head: Number(drawn.dataset.head),
    rows: drawn.rows,
    columns: drawn.columns,
    painted: drawn.painted,
    distinctCellColors: new Set(drawn.cells.map((rgb) => rgb.join(','))).size,
    cells: drawn.cells,
  }));
}

const rgb = (css: string) => css.match(/\d+/g)!.map(Number);

/**
 * The largest difference, over every cell of every map and every colour channel, between the
 * page's pixel and the colour of Node's weight for that kind, layer, head, row and column.
 */
function worstColourError(maps: CanvasCheck[], expected: LabelledAttentionMaps): number {
  let worst = 0;
  for (const map of maps) {
    const weights = expected[KIND_KEYS[map.kind as keyof typeof KIND_KEYS]][map.layer][map.head];
    expect([weights.length, weights[0].length]).toEqual([map.rows, map.columns]);
    map.cells.forEach((cell, i) => {
      const colour = rgb(weightColor(weights[Math.floor(i / map.columns)][i % map.columns]));
      worst = Math.max(worst, ...colour.map((v, k) => Math.abs(v - cell[k])));
    });
  }
  return worst;
}

/** task.json's model sizes, to know how many maps to expect. */
function modelShape(task: string): { encoderLayers: number; decoderLayers: number; heads: number } {
  const info = JSON.parse(fs.readFileSync(path.join(requireModel(task), 'task.json'), 'utf8'));
  return {
    encoderLayers: info.config.numEncoderLayers,
    decoderLayers: info.config.numDecoderLayers,
    heads: info.config.numHeads,
  };
}

test('the demo lists the shipped models and says which backend it uses', async () => {
  const options = await page.$$eval('#model option', (list) => list.map((o) => (o as HTMLOptionElement).value));
  expect(options).toEqual(expect.arrayContaining(CASES.map((c) => c.task)));
  expect(await page.getAttribute('#backend', 'data-backend')).toBe('wasm');
  expect(await text(page, 'header .backend')).toMatch(/Backend: wasm \(CPU, through WebAssembly\)/);
  expect(await page.evaluate(() => (window as unknown as { tf: { getBackend(): string } }).tf.getBackend())).toBe(
    'wasm',
  );
});

describe.each(CASES)('$task', ({ task, input }) => {
  test(`decodes ${input} correctly and draws every attention map`, async () => {
    await decodeWith(task, input);
    const taskObject = createTask(task);
    const expected = taskObject.tokensToString(taskObject.solve(taskObject.stringToTokens(input)));
    expect(await text(page, '#expected')).toBe(expected);
    expect(await text(page, '#output')).toBe(expected);
    expect(await page.getAttribute('#verdict', 'data-correct')).toBe('true');
    expect(await text(page, '#verdict')).toBe('✓ right');

    const maps = await readHeatmaps(page);
    const shape = modelShape(task);
    const count = (kind: string) => maps.filter((m) => m.kind === kind).length;
    expect({ encoderSelf: count('self'), decoderSelf: count('causal'), cross: count('cross') }).toEqual({
      encoderSelf: shape.encoderLayers * shape.heads,
      decoderSelf: shape.decoderLayers * shape.heads,
      cross: shape.decoderLayers * shape.heads,
    });
    const sourceLength = input.length;
    const decoderLength = expected.length + 1; // BOS + the output
    for (const map of maps) {
      expect({
        map: `${map.kind} ${map.layer}/${map.head}`,
        painted: map.painted > 0.5,
        distinct: map.distinctCellColors >= 2,
      }).toEqual({
        map: `${map.kind} ${map.layer}/${map.head}`,
        painted: true,
        distinct: true,
      });
      const [rows, columns] =
        map.kind === 'self'
          ? [sourceLength, sourceLength]
          : map.kind === 'cross'
            ? [decoderLength, sourceLength]
            : [decoderLength, decoderLength];
      expect([map.rows, map.columns]).toEqual([rows, columns]);
      if (map.kind === 'causal') {
        // Causal: BOS sees only itself (weight 1), and nothing above the diagonal (weight 0).
        expect(map.cells[0]).toEqual(COLOR_AT_1);
        for (let r = 0; r < rows; r++)
          for (let c = r + 1; c < columns; c++) expect(map.cells[r * columns + c]).toEqual(COLOR_AT_0);
      }
    }
    // Every cell is the colour of Node's weight for its map: the page and Node both run wasm, so a
    // channel may be off by one where float32 rounding moves a weight across a colour step.
    expect(worstColourError(maps, expectedMaps.get(`${task} ${input}`)!)).toBeLessThanOrEqual(1);
    await page.screenshot({ path: path.join(OUTPUT_DIR, `demo-${task}.png`), fullPage: true });
  });

  test("random examples are judged by the task's own solution", async () => {
    const taskObject = createTask(task);
    for (let i = 0; i < 3; i++) {
      await page.click('#random');
      expect(await waitForDemo(page)).toBe('ready');
      const source = await page.inputValue('#source');
      const expected = taskObject.tokensToString(taskObject.solve(taskObject.stringToTokens(source)));
      const output = await text(page, '#output');
      expect(await text(page, '#expected')).toBe(expected);
      expect(await page.getAttribute('#verdict', 'data-correct')).toBe(String(output === expected));
    }
  });
});

test('saves the model to IndexedDB and loads it back', async () => {
  await decodeWith('reverse', '2718');
  await page.click('#save');
  expect(await waitForDemo(page)).toBe('ready');
  expect(await page.getAttribute('#store-status', 'data-result')).toBe('same');
  expect(await text(page, '#store-status')).toMatch(
    new RegExp(
      String.raw`^Saved to indexeddb://tfjs-attention-demo-reverse \(\d+\.\d KiB of weights\) and loaded it back: ` +
        String.raw`the copy decodes 2718 to 8172, the same as the original\.$`,
    ),
  );

  await page.waitForSelector('#load:not([disabled])');
  await page.click('#load');
  expect(await waitForDemo(page)).toBe('ready');
  expect(await page.getAttribute('#store-status', 'data-result')).toBe('loaded');
  expect(await text(page, '#model-info')).toMatch(/loaded from indexeddb:\/\/tfjs-attention-demo-reverse$/);
  expect(await text(page, '#output')).toBe('8172');
  expect(await page.evaluate(async () => Object.keys(await (window as any).tf.io.listModels()))).toContain(
    'indexeddb://tfjs-attention-demo-reverse',
  );
});

test("a bad input shows the task's error and the demo stays usable", async () => {
  await page.fill('#source', '12x4');
  await page.click('#decode');
  expect(await waitForDemo(page)).toBe('error');
  expect(await page.isVisible('#error')).toBe(true);
  expect(await text(page, '#error')).toMatch(/unexpected character "x" at position 2 of "12x4"/);
  await page.fill('#source', '12');
  await page.click('#decode');
  expect(await waitForDemo(page)).toBe('ready');
  expect(await page.isVisible('#error')).toBe(false);
  expect(await text(page, '#output')).toBe('21');
});

test('nothing failed in the page: no uncaught errors, no failed or 4xx requests', () => {
  expect(demo.watch.problems).toEqual([]);
});

test('asked for webgl, the demo decodes on it (SwiftShader), says it is software, and draws its maps', async () => {
  // With no backend asked for it would take wasm here (test/browser/train_page.test.ts checks that choice).
  const webglPage = await demo.browser.context.newPage();
  const webglWatch = watchPage(webglPage);
  await webglPage.goto(`${demo.site.url}?backend=webgl&model=reverse&input=${WEBGL_INPUT}`);
  expect(await waitForDemo(webglPage, 100_000)).toBe('ready');
  const renderer = await webglPage.evaluate(() => {
    const gl = document.createElement('canvas').getContext('webgl2');
    const info = gl?.getExtension('WEBGL_debug_renderer_info');
    return gl && info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : null;
  });
  expect(renderer).toMatch(/SwiftShader/);
  expect(await webglPage.getAttribute('#backend', 'data-backend')).toBe('webgl');
  expect(await text(webglPage, 'header .backend')).toMatch(
    /^Backend: webgl \(WebGL drawn in software on the CPU: ANGLE .*SwiftShader/,
  );
  expect(await webglPage.evaluate(() => (window as unknown as { tf: { getBackend(): string } }).tf.getBackend())).toBe(
    'webgl',
  );
  expect(await text(webglPage, '#output')).toBe('413');
  const maps = await readHeatmaps(webglPage);
  expect(maps.length).toBe(3 * 2 * 4); // three kinds, 2 layers, 4 heads
  // webgl computes in float32 on SwiftShader with its own exp and reductions: allow two units of colour
  // (0 when measured), far below what another head's or layer's weights give.
  expect(worstColourError(maps, expectedMaps.get(`reverse ${WEBGL_INPUT}`)!)).toBeLessThanOrEqual(2);
  await webglPage.screenshot({ path: path.join(OUTPUT_DIR, 'demo-webgl.png'), fullPage: true });
  expect(webglWatch.problems).toEqual([]);
  await webglPage.close();
}, 150_000);
