/**
 * `npm run bench -- --browser` end to end on one tiny attention size: the runner bundles the
 * page, serves it and the wasm binaries, and runs the shared benchmark in Chromium on wasm and on
 * webgl (SwiftShader). Checks that the figures are real measurements and that each line says where
 * it ran; a benchmark that needs Node says so instead of vanishing.
 */
import * as os from 'node:os';

import { benchInChromium, BrowserEnvironment, BrowserResult } from '../../scripts/bench/browser';

const lines: BrowserResult[] = [];
const environments: BrowserEnvironment[] = [];

beforeAll(async () => {
  await benchInChromium(
    {
      only: ['attention-forward-backward', 'time-to-accuracy'],
      settings: { repeats: 1, steps: 1, attentionSizes: [[2, 8, 16, 2]] },
      sharedHeap: true,
    },
    (results, environment) => {
      lines.push(...results);
      if (!environments.includes(environment)) environments.push(environment);
    },
  );
}, 120_000);

test('measures the attention call on wasm, then on webgl', () => {
  const measured = lines.filter((line) => line.name === 'attention-forward-backward');
  expect(measured.map((line) => [line.backend, line.mode])).toEqual([
    ['wasm', 'forward-backward'],
    ['wasm', 'forward'],
    ['webgl', 'forward-backward'],
    ['webgl', 'forward'],
  ]);
  for (const line of measured) {
    expect(line).toMatchObject({ B: 2, T: 8, D: 16, H: 2, runtime: 'chromium' });
    expect(line.skipped).toBeUndefined();
    expect(Number.isFinite(line.msPerCall) && (line.msPerCall as number) > 0).toBe(true);
    // The input, the output and (forward-backward) the gradients: at least the 2*8*16 floats of x.
    expect(line.peakBytes).toBeGreaterThanOrEqual(2 * 8 * 16 * 4);
  }
});

test("wasm runs our fused attention on the kernel threads in tfjs's heap, isolated; webgl is software GL", () => {
  const [wasm, webgl] = environments;
  expect(wasm).toMatchObject({
    backend: 'wasm',
    // The default: the cores Chromium reports (navigator.hardwareConcurrency), at most 4.
    kernelThreads: Math.min(os.cpus().length, 4),
    crossOriginIsolated: true,
    sharedHeap: true,
    fusedAttention: true,
    tfjs: '4.22.0',
  });
  expect(wasm.wasmThreads).toBeGreaterThanOrEqual(1);
  expect(webgl).toMatchObject({ backend: 'webgl', fusedAttention: false, sharedHeap: false });
  expect(webgl.chromium).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  expect(webgl.glRenderer).toMatch(/SwiftShader/);
  for (const line of lines) {
    if (line.backend === 'webgl') expect(line).toMatchObject({ glRenderer: webgl.glRenderer, softwareGl: true });
    else expect(line).not.toHaveProperty('glRenderer');
  }
});

test('time-to-accuracy is reported as skipped on each backend, with the reason', () => {
  const skipped = lines.filter((line) => line.name === 'time-to-accuracy');
  expect(skipped.map((line) => line.backend)).toEqual(['wasm', 'webgl']);
  for (const line of skipped) expect(line.skipped).toMatch(/needs Node.*reads and writes files/);
});
