/**
 * initBackend's `sharedHeap` in Chromium (src/kernels/shared_heap.ts's browser path): on a
 * cross-origin isolated page tfjs loads its threaded build, whose heap is a shared memory, and the
 * SIMD kernels take that heap, reading and writing tfjs's tensors in place; on a page without
 * isolation tfjs's heap is not shared and the kernels keep their own memory. Either way an encoder
 * block gives cpu's output and gradients.
 */
import * as path from 'node:path';
import type { Page } from 'playwright-core';

import { maxAbsDiff } from '../helpers/tensors';
import { launchChromium, startTestSite, TestBrowser, TestSite, watchPage } from './harness';

const PAGES = path.join(__dirname, 'pages');

interface SharedHeapResult {
  error?: string;
  crossOriginIsolated: boolean;
  shared: boolean;
  tfjsHeapShared: boolean;
  threads: number;
  grew: boolean;
  leaked: number;
  onWasm: number[][];
  afterGrowth: number[][];
  onCpu: number[][];
}

let browser: TestBrowser;
const sites: TestSite[] = [];

beforeAll(async () => {
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  for (const site of sites) await site.close();
});

async function sharedHeapPage(crossOriginIsolated: boolean): Promise<{ result: SharedHeapResult; problems: string[] }> {
  const site = await startTestSite(
    [{ prefix: '/test/', dir: PAGES, files: ['shared_heap.html'] }],
    crossOriginIsolated,
  );
  sites.push(site);
  const page: Page = await browser.context.newPage();
  const watch = watchPage(page);
  await page.goto(`${site.url}test/shared_heap.html`);
  const result = (await page.evaluate(
    () => (window as unknown as { result: Promise<SharedHeapResult> }).result,
  )) as SharedHeapResult;
  await page.close();
  return { result, problems: watch.problems };
}

test.each([
  ["a cross-origin isolated page: the kernels run in tfjs's heap, on two threads", true],
  ["a page without isolation: tfjs's heap is not shared, and the kernels keep their own memory", false],
])(
  '%s, with cpu values',
  async (_title, isolated) => {
    const { result, problems } = await sharedHeapPage(isolated);
    expect(result.error).toBeUndefined();
    expect(problems).toEqual([]);
    expect(result.crossOriginIsolated).toBe(isolated);
    expect({ shared: result.shared, tfjsHeapShared: result.tfjsHeapShared, threads: result.threads }).toEqual({
      shared: isolated,
      tfjsHeapShared: isolated,
      threads: isolated ? 2 : 1,
    });
    expect(result.leaked).toBe(0);
    expect(result.onWasm).toHaveLength(result.onCpu.length);
    result.onCpu.forEach((expected, i) => {
      const scale = Math.max(1, ...expected.map(Math.abs));
      expect(maxAbsDiff(Float32Array.from(result.onWasm[i]), Float32Array.from(expected))).toBeLessThan(1e-4 * scale);
      // tfjs's allocator grew the memory (the kernels' arena is in it): the same floats after.
      expect(result.afterGrowth[i]).toEqual(result.onWasm[i]);
    });
    // A real loss and gradients: not all zeros.
    expect(Math.abs(result.onCpu[0][0])).toBeGreaterThan(1e-3);
    expect(Math.max(...result.onCpu[1].map(Math.abs))).toBeGreaterThan(1e-3);
    if (isolated) expect(result.grew).toBe(true);
  },
  180_000,
);
