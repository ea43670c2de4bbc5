/**
 * The kernel threads in Chromium (src/kernels/threads.ts's browser path: a worker from a Blob URL,
 * the module and shared memory posted to it, the page's thread spinning instead of sleeping): on a
 * cross-origin isolated page the kernels run on two threads with the same floats as on one; on a
 * page without isolation (no SharedArrayBuffer) they stay on one, and still work.
 */
import * as path from 'node:path';
import type { Page } from 'playwright-core';

import { launchChromium, startTestSite, TestBrowser, TestSite, watchPage } from './harness';

const PAGES = path.join(__dirname, 'pages');

interface ThreadsResult {
  error?: string;
  crossOriginIsolated: boolean;
  threads: number;
  one: number[][];
  twos: number[][][];
  numTensors: number;
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

async function threadsPage(crossOriginIsolated: boolean): Promise<{ result: ThreadsResult; problems: string[] }> {
  const site = await startTestSite([{ prefix: '/test/', dir: PAGES, files: ['threads.html'] }], crossOriginIsolated);
  sites.push(site);
  const page: Page = await browser.context.newPage();
  const watch = watchPage(page);
  await page.goto(`${site.url}test/threads.html`);
  const result = (await page.evaluate(
    () => (window as unknown as { result: Promise<ThreadsResult> }).result,
  )) as ThreadsResult;
  await page.close();
  return { result, problems: watch.problems };
}

function expectSameRuns(result: ThreadsResult): void {
  expect(result.twos).toHaveLength(5);
  for (const two of result.twos) {
    expect(two.length).toBe(result.one.length);
    two.forEach((values, i) => {
      const firstDifference = values.findIndex((x, j) => !Object.is(x, result.one[i][j]));
      expect(firstDifference).toBe(-1);
    });
  }
  // A real loss and gradients: not all zeros.
  expect(result.one[0][0]).toBeGreaterThan(1);
  expect(Math.max(...result.one[1].map(Math.abs))).toBeGreaterThan(1e-3);
}

test.each([
  ['a cross-origin isolated page runs the kernels on two threads, with the floats of one', true, 2],
  ['a page without isolation has no SharedArrayBuffer: the kernels stay on one thread and work', false, 1],
])(
  '%s',
  async (_title, isolated, threads) => {
    const { result, problems } = await threadsPage(isolated);
    expect(result.error).toBeUndefined();
    expect(problems).toEqual([]);
    expect(result.crossOriginIsolated).toBe(isolated);
    expect(result.threads).toBe(threads);
    expectSameRuns(result);
  },
  120_000,
);
