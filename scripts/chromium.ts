/**
 * Debian's Chromium, headless, through playwright-core (never a browser that a test tool
 * downloads): what the browser tests (test/browser/harness.ts) and `npm run bench -- --browser`
 * (scripts/bench/browser.ts) launch.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';

/** Debian's Chromium; CHROMIUM_PATH overrides it for other systems. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless, nothing phoning home, and WebGL always there: SwiftShader (Chromium's software GPU,
 * through ANGLE), asked for explicitly instead of left to Chromium's automatic fallback to it
 * (which Chromium is removing) or to the machine's GPU and driver. With Chromium 156 here, each of
 * `--use-angle=swiftshader` and `--enable-unsafe-swiftshader` alone, both, and neither all give
 * WebGL 2 with the renderer "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) ...),
 * SwiftShader driver)"; `--use-gl=angle` adds nothing. The browser tests assert that the pages
 * that choose a backend themselves pick webgl.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/** The error when there is no Chromium: it says how to get one. */
export function missingChromiumMessage(executable: string): string {
  return (
    `the browser tests need Chromium at ${executable}, which does not exist.\n` +
    `Install Debian's package:  apt-get update && apt-get install -y chromium\n` +
    `(or point CHROMIUM_PATH at a Chromium binary). These tests never download a browser.`
  );
}

export interface ChromiumSession {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Chromium with a new, empty profile; fails with install instructions when it is missing. */
export async function launchChromium(): Promise<ChromiumSession> {
  if (!fs.existsSync(CHROMIUM_PATH)) throw new Error(missingChromiumMessage(CHROMIUM_PATH));
  const { chromium } = await import('playwright-core');
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-attention-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1100, height: 900 },
      timeout: 60_000,
    });
  } catch (error) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Collects what would otherwise pass unnoticed in a page: uncaught errors, failed requests, 4xx/5xx. */
export function watchPage(page: Page): { problems: string[] } {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`uncaught error: ${error.message}`));
  page.on('requestfailed', (request) =>
    problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`),
  );
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  return { problems };
}
