/**
 * `describeValue` (how an error message shows the value it refuses) and `escapeXml` (text in the
 * SVG plots: the study report, the training curve), by their outputs.
 */
import { describeValue, escapeXml } from '../src/describe';

describe('describeValue', () => {
  it('shows strings quoted, numbers and bigints as written, undefined as missing, the rest as JSON', () => {
    expect(describeValue('casual')).toBe("'casual'");
    expect(describeValue(0.5)).toBe('0.5');
    expect(describeValue(NaN)).toBe('NaN');
    expect(describeValue(2n ** 64n)).toBe('18446744073709551616');
    expect(describeValue(undefined)).toBe('undefined (missing)');
    expect(describeValue(null)).toBe('null');
    expect(describeValue({ units: 4 })).toBe('{"units":4}');
    expect(describeValue(() => 1)).toBe('() => 1');
  });

  it('shortens what is long: strings past 200 characters, arrays by their length, objects to 57 characters', () => {
    expect(describeValue('x'.repeat(201))).toBe(`'${'x'.repeat(200)}…' (201 characters)`);
    expect(describeValue(Array.from({ length: 40 }, (_x, i) => i))).toBe('an array of length 40');
    const long = { name: 'a'.repeat(80) };
    expect(describeValue(long)).toBe(`${JSON.stringify(long).slice(0, 57)}...`);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(describeValue(cyclic)).toBe('[object Object]');
  });
});

describe('escapeXml', () => {
  it('escapes &, <, > and double quotes, & first (so nothing is escaped twice)', () => {
    expect(escapeXml(`head "1" <b> & 'x'`)).toBe(`head &quot;1&quot; &lt;b&gt; &amp; 'x'`);
    expect(escapeXml('&lt;')).toBe('&amp;lt;');
  });
});
