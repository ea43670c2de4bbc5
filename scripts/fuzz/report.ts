/**
 * The fuzzer's tables (Markdown): how many loads ended how, per fixture kind and loader, and one row
 * per kind of failure, as issue 29 reports them (what / how / what happened).
 */
import type { Outcome, OutcomeKind } from './runner';
import { FAILURES } from './runner';

const KINDS: OutcomeKind[] = ['loaded', 'refused', 'unclear', 'non-error', 'crash', 'hang', 'memory', 'leak'];

function row(cells: (string | number)[]): string {
  return `| ${cells.map((c) => String(c).replace(/\|/g, '\\|').replace(/\n/g, ' ')).join(' | ')} |`;
}

function fixtureKind(fixture: string): string {
  if (fixture.endsWith('.keras')) return '.keras';
  if (fixture.endsWith('.h5')) return '.h5';
  return fixture.startsWith('models/') ? 'models/* folder' : 'model.json folder';
}

/** Counts per fixture kind and loader, the slowest load and the largest memory peak of each. */
export function summaryTable(outcomes: Outcome[]): string {
  const groups = new Map<string, Outcome[]>();
  for (const o of outcomes) {
    const key = `${fixtureKind(o.case.fixture)}\t${o.case.loader}`;
    groups.set(key, [...(groups.get(key) ?? []), o]);
  }
  const lines = [
    row(['fixture', 'loader', 'cases', ...KINDS, 'slowest (s)', 'peak (MB)']),
    row(Array(KINDS.length + 5).fill('---')),
  ];
  for (const [key, list] of [...groups.entries()].sort()) {
    const [fixture, loader] = key.split('\t');
    const counts = KINDS.map((k) => list.filter((o) => o.kind === k).length);
    const slowest = Math.max(...list.map((o) => o.ms)) / 1000;
    const peak = Math.max(...list.map((o) => o.peakMB));
    lines.push(row([fixture, loader, list.length, ...counts, slowest.toFixed(2), Math.round(peak)]));
  }
  const total = KINDS.map((k) => outcomes.filter((o) => o.kind === k).length);
  const slowest = Math.max(0, ...outcomes.map((o) => o.ms)) / 1000;
  const peak = Math.max(0, ...outcomes.map((o) => o.peakMB));
  lines.push(row(['**all**', '', outcomes.length, ...total, slowest.toFixed(2), Math.round(peak)]));
  return lines.join('\n');
}

/** One row per failure kind and message shape (digits and paths folded), with a case that shows it. */
export function failureTable(outcomes: Outcome[]): string {
  const failures = outcomes.filter((o) => FAILURES.includes(o.kind));
  if (failures.length === 0)
    return 'No failures: every load ended loaded, or refused with a clear error naming the file.';
  const groups = new Map<string, Outcome[]>();
  for (const o of failures) {
    const shape = o.message.replace(/\/\S+/g, '<path>').replace(/\d+/g, '#').slice(0, 80);
    const key = `${o.kind}\t${shape}`;
    groups.set(key, [...(groups.get(key) ?? []), o]);
  }
  const lines = [row(['what', 'how (one reproduction)', 'what happened', 'cases']), row(['---', '---', '---', '---'])];
  for (const [key, list] of groups) {
    const first = list[0];
    lines.push(
      row([
        key.split('\t')[0],
        `${first.case.loader} on ${first.case.fixture}: ${first.case.how}`.slice(0, 300),
        `${first.message.slice(0, 300)} (${(first.ms / 1000).toFixed(1)} s, ${Math.round(first.peakMB)} MB)`,
        list.length,
      ]),
    );
  }
  return lines.join('\n');
}
