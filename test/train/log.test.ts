import { curveSvg, LogEntry, toJsonLines } from '../../src/train/log';
import {
  estimateTargetStep,
  etaSeconds,
  expectedStopStep,
  formatBar,
  formatDuration,
  formatLine,
  ProgressDisplay,
} from '../../src/train/progress';

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
    // 340/2000 = 17%: of 40 cells, 6.8 = 6 full and 6/8 of the seventh (U+258A); the ETA before the details.
    const text = '  17% step 340/2000  ETA 8m09s  loss 0.1235  token acc 0.953  3.40 steps/s';
    expect(formatBar(snapshot, 200)).toBe(`|${'\u2588'.repeat(6)}\u258a${' '.repeat(33)}|${text}`);
    // Narrow: at least 10 cells (1.7 = 1 full, 5/8 of the next), cut to the width: the details go first.
    expect(formatBar(snapshot, 50)).toBe(`|\u2588\u258b${' '.repeat(8)}|  17% step 340/2000  ETA 8m09s  loss 0`);
    expect(formatBar({ ...snapshot, step: 2000 }, 200).slice(0, 42)).toBe(`|${'\u2588'.repeat(40)}|`);
    expect(formatBar({ ...snapshot, step: 0 }, 200).slice(0, 42)).toBe(`|${' '.repeat(40)}|`);
    expect([formatDuration(42), formatDuration(3725), formatDuration(undefined), formatDuration(NaN)]).toEqual([
      '42s',
      '1h02m',
      '?',
      '?',
    ]);
  });

  it('shows the exact match, the target and the step the trend reaches it at; the bar fills towards that step', () => {
    const target = { exactMatch: 0.99, lastExactMatch: 0.7461, estimatedStep: 680 };
    const withTarget = { ...snapshot, target, etaSeconds: 100 };
    expect(formatLine(withTarget)).toBe(
      'step 340/2000  loss 0.1235  token acc 0.953  exact match 0.746 -> 0.99 at ~step 680  3.40 steps/s  ETA 1m40s',
    );
    // 340 of the expected 680 steps: half the bar.
    expect(formatBar(withTarget, 200).slice(0, 47)).toBe(`|${'\u2588'.repeat(20)}${' '.repeat(20)}|  50%`);
    expect(formatLine({ ...snapshot, target: { exactMatch: 0.99 } })).toContain(
      '  exact match ? -> 0.99  3.40 steps/s',
    );
  });

  it('estimates the target step from the logit trend of the last evaluations', () => {
    // Exact matches on a logistic curve, logit = 0.02 (step - 250): logit(0.99) = 4.595 at step 479.8.
    const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
    const curve = [50, 100, 150, 200].map((step) => ({ step, exactMatch: sigmoid(0.02 * (step - 250)) }));
    expect(estimateTargetStep(curve, 0.99)).toBe(480);
    // Only the last `window` points count: an early plateau does not bend the estimate.
    const plateau = [{ step: 0, exactMatch: 0.5 }, ...curve.slice(1)];
    expect(estimateTargetStep(plateau, 0.99, 3)).toBe(480);
    expect(estimateTargetStep(curve, 0.25)).toBe(200); // already reached (0.269 at step 200): the last step
    expect(estimateTargetStep(curve.slice(0, 1), 0.99)).toBeUndefined(); // one point: no trend
    expect(estimateTargetStep([], 0.99)).toBeUndefined();
    const falling = [...curve].reverse().map((p, i) => ({ step: 50 * (i + 1), exactMatch: p.exactMatch }));
    expect(estimateTargetStep(falling, 0.99)).toBeUndefined();
    // All zero: the logits are clamped equal, no slope, no estimate (rather than Infinity).
    expect(
      estimateTargetStep(
        [50, 100].map((step) => ({ step, exactMatch: 0 })),
        0.99,
      ),
    ).toBeUndefined();
    // The kept reverse run's evaluations (models/BENCHMARKS.jsonl) at 200, 250, 300: ~step 369; it stopped at 350.
    const reverse = [
      { step: 200, exactMatch: 0.568359375 },
      { step: 250, exactMatch: 0.74609375 },
      { step: 300, exactMatch: 0.94921875 },
    ];
    expect(estimateTargetStep(reverse, 0.99)).toBe(369);
  });

  it('estimates the seconds left to the expected stop: the target step, --steps or --max-seconds', () => {
    const target = { exactMatch: 0.99, estimatedStep: 400 };
    expect(expectedStopStep(3000, target)).toBe(400);
    expect(expectedStopStep(300, target)).toBe(300);
    expect(expectedStopStep(3000, { exactMatch: 0.99 })).toBe(3000);
    expect(expectedStopStep(3000)).toBe(3000);
    expect(etaSeconds(300, 3000, 5, target)).toBe(20);
    expect(etaSeconds(300, 3000, 5, { exactMatch: 0.99 })).toBe(540);
    expect(etaSeconds(300, 3000, 5)).toBe(540);
    expect(etaSeconds(300, 3000, 5, target, 8)).toBe(8);
    expect(etaSeconds(300, 3000, 5, target, -1)).toBe(0);
    expect(etaSeconds(300, 3000, 0, target)).toBeUndefined();
  });

  it('redraws in place on a TTY and prints plain periodic lines elsewhere', () => {
    const tty: string[] = [];
    const live = new ProgressDisplay({ write: (t) => tty.push(t) > 0, isTTY: true, columns: 100 }, 50);
    live.update(snapshot, true);
    live.print('evaluation');
    expect(tty[0]).toBe(`\r\x1b[K${formatBar(snapshot, 99)}`);
    expect(tty.slice(1)).toEqual(['\r\x1b[K', 'evaluation\n']);

    const plain: string[] = [];
    const lines = new ProgressDisplay({ write: (t) => plain.push(t) > 0 }, 50);
    for (const step of [340, 349, 350]) lines.update({ ...snapshot, step });
    expect(plain).toEqual([`${formatLine({ ...snapshot, step: 350 })}\n`]);
  });
});
