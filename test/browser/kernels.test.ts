/**
 * The SIMD kernels in Chromium.
 *
 * - Their threads (src/kernels/threads.ts's browser path: a worker from a Blob URL, the module and
 *   shared memory posted to it, the page's thread spinning instead of sleeping): on a cross-origin
 *   isolated page the kernels run on two threads with the same floats as on one; on a page without
 *   isolation (no SharedArrayBuffer) they stay on one, and still work.
 * - initBackend's `sharedHeap` (src/kernels/shared_heap.ts's browser path): on a cross-origin
 *   isolated page tfjs loads its threaded build, whose heap is a shared memory, and the kernels take
 *   that heap, reading and writing tfjs's tensors in place; on a page without isolation tfjs's heap
 *   is not shared and the kernels keep their own memory. Either way an encoder block gives cpu's
 *   output and gradients.
 */
import * as path from 'node:path';

import { maxAbsDiff } from '../helpers/tensors';
import { launchChromium, TestBrowser, testPageResult } from './harness';

const PAGES = path.join(__dirname, 'pages');

interface ThreadsResult {
  error?: string;
  crossOriginIsolated: boolean;
  threads: number;
  one: number[][];
  twos: number[][][];
  numTensors: number;
}

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

beforeAll(async () => {
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
});

const threadsPage = (crossOriginIsolated: boolean) =>
  testPageResult<ThreadsResult>(browser, PAGES, 'threads.html', crossOriginIsolated);
const sharedHeapPage = (crossOriginIsolated: boolean) =>
  testPageResult<SharedHeapResult>(browser, PAGES, 'shared_heap.html', crossOriginIsolated);

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
      expect(maxAbsDiff(result.onWasm[i], expected)).toBeLessThan(1e-4 * scale);
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
