/**
 * Reading README.md's tables and figures, for the tests that hold them to the runs and files
 * they come from (test/readme_figures.test.ts, test/model/shipped_models.test.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const README_PATH = path.join(__dirname, '../../README.md');

export function readReadme(): string {
  return fs.readFileSync(README_PATH, 'utf8');
}

const cellsOf = (line: string): string[] =>
  line
    .trim()
    .replace(/^\||\|$/g, '')
    .split('|')
    .map((cell) => cell.trim());

/**
 * The body rows (cells trimmed) of the one table whose header row is `header`; throws when
 * there is no such table or more than one.
 */
export function readmeTable(readme: string, header: string[]): string[][] {
  const lines = readme.split('\n');
  const starts = lines.flatMap((line, i) =>
    line.trim().startsWith('|') && cellsOf(line).join('\u0000') === header.join('\u0000') ? [i] : [],
  );
  if (starts.length !== 1) {
    throw new Error(`README.md has ${starts.length} tables with the header | ${header.join(' | ')} |, expected 1`);
  }
  const rows: string[][] = [];
  for (let i = starts[0] + 2; i < lines.length && lines[i].trim().startsWith('|'); i++) rows.push(cellsOf(lines[i]));
  return rows;
}

/** The README's section under `## title`, up to the next `## ` heading. */
export function readmeSection(readme: string, title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README.md has no section "## ${title}"`);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** A figure as shown: its text, its value (thousands separators dropped) and its decimals. */
export interface ShownFigure {
  text: string;
  value: number;
  decimals: number;
}

/** Every decimal figure in `text`, in order ('3,392' is one figure, 3392; '0.9975' has 4 decimals). */
export function figuresIn(text: string): ShownFigure[] {
  return [...text.matchAll(/\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?/g)].map(([figure]) => ({
    text: figure,
    value: Number(figure.replace(/,/g, '')),
    decimals: figure.includes('.') ? figure.split('.')[1].length : 0,
  }));
}

/** `value` rounded to the decimals `shown` has, as text ('0.9975' for 0.99750001 and '0.9975'). */
export function toDigitsShown(value: number, shown: ShownFigure): string {
  return value.toFixed(shown.decimals);
}

/** Whether `value`, rounded to the digits shown, is the figure shown. */
export function matchesShown(value: number, shown: ShownFigure): boolean {
  return Number(toDigitsShown(value, shown)) === shown.value;
}
