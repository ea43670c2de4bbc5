/**
 * Figures a test measures besides its verdict (how much margin a budget has, what a model
 * scored), kept in test-output/margins.jsonl (git-ignored) rather than printed: the suite's own
 * output is the test results.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const OUTPUT_DIR = path.resolve(__dirname, '../../test-output');

/** Appends `{test, ...figures, at}` as one line of test-output/margins.jsonl. */
export function recordMargin(test: string, figures: Record<string, unknown>): void {
  fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  const line = JSON.stringify({ test, ...figures, at: new Date().toISOString() });
  fs.appendFileSync(path.join(OUTPUT_DIR, 'margins.jsonl'), `${line}\n`);
}
