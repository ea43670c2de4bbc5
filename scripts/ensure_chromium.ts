/**
 * Makes sure Debian's Chromium is at /usr/bin/chromium before the tests (`npm test` runs this
 * first, as its `pretest`):
 *
 *     npx ts-node --transpile-only scripts/ensure_chromium.ts
 *
 * The browser suites (test/browser, test/package) drive exactly /usr/bin/chromium with
 * playwright-core, never a browser that a test tool downloads. When it is missing and we may
 * install packages (root, or passwordless sudo) on a system with apt-get, this installs Debian's
 * `chromium` package; otherwise it says what to run and fails, so that the browser tests are not
 * silently skipped. TFJS_ATTENTION_NO_CHROMIUM_INSTALL=1 turns the install off; CHROMIUM_PATH
 * names another Chromium to use instead.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

function main(): void {
  // CHROMIUM_PATH points the tests at another Chromium (test/browser/harness.ts).
  if (fs.existsSync(process.env.CHROMIUM_PATH ?? CHROMIUM)) return;
  const manual = 'apt-get update && apt-get install -y chromium';
  if (process.env.TFJS_ATTENTION_NO_CHROMIUM_INSTALL === '1' || !hasCommand('apt-get')) {
    console.error(
      `ensure_chromium: ${CHROMIUM} is missing and the browser tests need it; install Debian's chromium (${manual})`,
    );
    process.exit(1);
  }
  const root = process.getuid?.() === 0;
  if (!root && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status !== 0) {
    console.error(`ensure_chromium: ${CHROMIUM} is missing; the browser tests need it: run sudo ${manual}`);
    process.exit(1);
  }
  const asRoot = (args: string[]) => (root ? ['apt-get', ...args] : ['sudo', '-n', 'apt-get', ...args]);
  console.error(`ensure_chromium: ${CHROMIUM} is missing; installing Debian's chromium for the browser tests`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', 'chromium'],
  ]) {
    const [command, ...rest] = asRoot(args);
    execFileSync(command, rest, { stdio: ['ignore', 'ignore', 'inherit'], env });
  }
  if (!fs.existsSync(CHROMIUM)) {
    console.error(`ensure_chromium: apt-get installed chromium but ${CHROMIUM} is still missing`);
    process.exit(1);
  }
  console.error(`ensure_chromium: installed ${execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).trim()}`);
}

if (require.main === module) main();
