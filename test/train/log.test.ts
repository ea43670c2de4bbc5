import { curveSvg, LogEntry, toJsonLines } from '../../src/train/log';
import { formatBar, formatDuration, formatLine, ProgressDisplay } from '../../src/train/progress';

const entries: LogEntry[] = [
  {
    type: 'train',
    step: 50,
    loss: 2.1,
    tokenAccuracy: 0.2,
    gradNorm: 3,
    learningRate: 1e-3,
    stepsPerSecond: 4,
    seconds: 12,
  },
  {
    type: 'train',
    step: 100,
    loss: 0.05,
    tokenAccuracy: 0.99,
    gradNorm: 1,
    learningRate: 1e-3,
    stepsPerSecond: 4,
    seconds: 25,
  },
  {
    type: 'eval',
    step: 100,
    exactMatch: 0.5,
    tokenAccuracy: 0.9,
    loss: 0.2,
    size: 512,
    seconds: 25,
    failures: [{ input: '12<3', expected: '3>21', got: '' }],
  },
];

describe('training log', () => {
  it('is one JSON object per line', () => {
    const lines = toJsonLines(entries).trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l))).toEqual(entries);
  });

  it('plots loss (log scale) and accuracies as a standalone SVG with escaped text', () => {
    const svg = curveSvg(entries, 'reverse <reference> & co');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('reverse &lt;reference&gt; &amp; co');
    expect(svg.match(/<polyline/g)).toHaveLength(5); // train + held-out loss; 3 accuracy curves
    // Loss axis spans the decades around 0.05..2.1: 0.01 to 10.
    expect(svg).toContain('>0.01<');
    expect(svg).toContain('>10<');
    expect(svg).not.toContain('NaN');
  });

  it('survives an empty log', () => {
    expect(curveSvg([], 'empty')).not.toContain('NaN');
  });
});

describe('progress display', () => {
  const snapshot = {
    step: 340,
    totalSteps: 2000,
    loss: 0.12345,
    tokenAccuracy: 0.9531,
    stepsPerSecond: 3.4,
    etaSeconds: 489,
  };

  it('formats a line, a bar and durations', () => {
    expect(formatLine(snapshot)).toBe('step 340/2000  loss 0.1235  token acc 0.953  3.40 steps/s  ETA 8m09s');
    expect(formatBar(snapshot, 120)).toMatch(/^\[#{2,}-+\] step 340\/2000/);
    expect(formatBar(snapshot, 50)).toHaveLength(50);
    expect([formatDuration(42), formatDuration(3725), formatDuration(undefined), formatDuration(NaN)]).toEqual([
      '42s',
      '1h02m',
      '?',
      '?',
    ]);
  });

  it('redraws in place on a TTY and prints plain periodic lines elsewhere', () => {
    const tty: string[] = [];
    const live = new ProgressDisplay({ write: (t) => tty.push(t) > 0, isTTY: true, columns: 100 }, 50);
    live.update(snapshot, true);
    live.print('evaluation');
    expect(tty[0].startsWith('\r\x1b[K[')).toBe(true);
    expect(tty.slice(1)).toEqual(['\r\x1b[K', 'evaluation\n']);

    const plain: string[] = [];
    const lines = new ProgressDisplay({ write: (t) => plain.push(t) > 0 }, 50);
    for (const step of [340, 349, 350]) lines.update({ ...snapshot, step });
    expect(plain).toEqual([`${formatLine({ ...snapshot, step: 350 })}\n`]);
  });
});
