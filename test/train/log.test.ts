import { LogEntry, toJsonLines, trainingCurveSvg } from '../../src/train/log';
import {
  estimateTargetStep,
  EtaEstimator,
  evaluationFields,
  formatBar,
  formatDuration,
  formatEta,
  ProgressDisplay,
  ProgressSnapshot,
  wrapFields,
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
    const svg = trainingCurveSvg(entries, 'reverse <reference> & co');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('reverse &lt;reference&gt; &amp; co');
    expect(svg.match(/<polyline/g)).toHaveLength(5); // train + held-out loss; 3 accuracy curves
    // Loss axis spans the decades around 0.05..2.1: 0.01 to 10.
    expect(svg).toContain('>0.01<');
    expect(svg).toContain('>10<');
    expect(svg).not.toContain('NaN');
    // Axes with ticks and labels, and a legend in each panel.
    const texts = (cls: string) =>
      [...svg.matchAll(new RegExp(`<text class="${cls}"[^>]*>([^<]*)<`, 'g'))].map((m) => m[1]);
    expect(texts('axis-label')).toEqual(['loss (log scale)', 'step', 'accuracy', 'step']);
    expect(texts('legend')).toEqual([
      'train',
      'held-out',
      'train token acc',
      'held-out token acc',
      'held-out exact match',
    ]);
    expect(texts('tick')).toEqual(expect.arrayContaining(['0.01', '0.1', '1', '10', '0.0', '0.2', '1.0', '20', '100']));
  });

  it("spans the steps to the largest, wherever it is in the log (a resumed run's log repeats steps)", () => {
    const [early, late] = [entries[0], { ...entries[1], step: 300 }];
    const resumed = [early, late, { ...entries[2], step: 200 }];
    const ticks = (svg: string) => [...svg.matchAll(/<text class="tick"[^>]*>(\d+)</g)].map((m) => Number(m[1]));
    const steps = ticks(trainingCurveSvg(resumed, 'resumed'));
    expect(Math.max(...steps)).toBe(300);
    expect(ticks(trainingCurveSvg([early, late], 'in order'))).toEqual(steps);
  });

  it('survives an empty log', () => {
    expect(trainingCurveSvg([], 'empty')).not.toContain('NaN');
  });
});

describe('progress display', () => {
  const snapshot: ProgressSnapshot = {
    step: 340,
    totalSteps: 2000,
    trainLoss: 0.12345,
    exactMatch: 0.7461,
    targetExactMatch: 0.99,
    stepsPerSecond: 3.4,
    eta: { seconds: 489, stopStep: 2000, bound: true },
  };
  const evaluation = {
    step: 300,
    totalSteps: 600,
    trainLoss: 0.12345,
    heldOutLoss: 0.14562,
    exactMatch: 398 / 512,
    right: 398,
    size: 512,
    tokenAccuracy: 0.953,
    stepsPerSecond: 3.4,
    eta: { seconds: 65, stopStep: 521, bound: false },
  };

  it('one line per evaluation, every figure labelled: train loss, held-out loss, exact match', () => {
    expect(evaluationFields(evaluation).join('  ')).toBe(
      'step 300/600  train loss 0.1235  held-out loss 0.1456  exact match 0.7773 (398/512)  ' +
        'token acc 0.9530  3.40 steps/s  ETA ~1m05s',
    );
    // The first evaluation of a resumed run has no steps behind it: no train loss, rather than 0 or NaN.
    expect(evaluationFields({ ...evaluation, trainLoss: undefined })[1]).toBe('held-out loss 0.1456');
    expect([formatEta({ seconds: 489, stopStep: 2000, bound: true }), formatEta(evaluation.eta)]).toEqual([
      'ETA <= 8m09s',
      'ETA ~1m05s',
    ]);
    expect([formatDuration(42), formatDuration(3725), formatDuration(undefined), formatDuration(NaN)]).toEqual([
      '42s',
      '1h02m',
      '?',
      '?',
    ]);
  });

  it('the bar: filled in eighths of a cell, then whole fields only, the last ones dropped first', () => {
    // 17% of 40 cells: 6.8 = 6 full and 6/8 of the seventh (U+258A).
    const fields = '   17%  step 340/2000  ETA <= 8m09s  train loss 0.1235  exact match 0.746 -> 0.99  3.40 steps/s';
    expect(formatBar(snapshot, 0.17, 200)).toBe(`|${'\u2588'.repeat(6)}\u258a${' '.repeat(33)}|${fields}`);
    for (const width of [40, 50, 60, 75, 90, 110]) {
      const bar = formatBar(snapshot, 0.17, width);
      expect(bar.length).toBeLessThanOrEqual(width);
      // Every field shown is whole: the line is the bar and a prefix of the fields, cut between two.
      const shown = bar.slice(bar.lastIndexOf('|') + 1);
      expect(fields.startsWith(shown)).toBe(true);
      expect(fields.slice(shown.length)).toMatch(/^($| {2})/);
    }
    expect(formatBar(snapshot, 0.17, 80)).toBe(
      `|\u2588\u2588\u2588\u258d${' '.repeat(16)}|   17%  step 340/2000  ETA <= 8m09s  train loss 0.1235`,
    );
    expect(formatBar(snapshot, 0.17, 50)).toBe(`|\u2588\u258b${' '.repeat(8)}|   17%  step 340/2000  ETA <= 8m09s`);
    expect(formatBar(snapshot, 1, 200).slice(0, 42)).toBe(`|${'\u2588'.repeat(40)}|`);
    expect(formatBar(snapshot, 0, 200).slice(0, 42)).toBe(`|${' '.repeat(40)}|`);
  });

  it('a printed line wider than the terminal wraps between fields, never inside one', () => {
    const fields = evaluationFields(evaluation);
    const wrapped = wrapFields(fields, 40).split('\n');
    expect(wrapped).toEqual([
      'step 300/600  train loss 0.1235',
      '  held-out loss 0.1456',
      '  exact match 0.7773 (398/512)',
      '  token acc 0.9530  3.40 steps/s',
      '  ETA ~1m05s',
    ]);
    expect(wrapFields(fields, 1000)).toBe(fields.join('  '));
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
    // Reached exactly: the last step, though the line through the last three is still below it there.
    const reached = [...curve.slice(0, 3), { step: 200, exactMatch: 0.5 }];
    expect(estimateTargetStep(reached, 0.5)).toBe(200);
    expect(estimateTargetStep(curve.slice(0, 1), 0.99)).toBeUndefined(); // one point: no trend
    expect(estimateTargetStep(curve.slice(0, 2), 0.99)).toBeUndefined(); // two: not yet
    // The start of a reverse run (npm run train): with a 0 among the last three, no estimate (from 0
    // and 0.029 the line said step ~70; the run stopped at 325); from three above 0, a later one.
    const start = [
      { step: 25, exactMatch: 0 },
      { step: 50, exactMatch: 0.0293 },
      { step: 75, exactMatch: 0.1035 },
      { step: 100, exactMatch: 0.2246 },
    ];
    expect(estimateTargetStep(start.slice(0, 3), 0.99)).toBeUndefined();
    expect(estimateTargetStep(start, 0.99)).toBeGreaterThan(200);
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

  it('ETA: speed over the last steps by wall clock; the stop step from the median of the last three estimates', () => {
    const eta = new EtaEstimator(1000, 100);
    expect(eta.eta(0)).toBeUndefined(); // no speed yet
    // 2 steps/s, then 10 steps/s: the window of 100 steps sees only the recent speed.
    let ms = 0;
    for (let step = 0; step <= 300; step++) {
      eta.recordStep(step, ms);
      ms += step < 150 ? 500 : 100;
    }
    expect(eta.stepsPerSecond()).toBeCloseTo(10, 10);
    // The window is 100 steps (101 times): a slow first step (1 s, then 0.1 s each) counts while it
    // is one of the last 100, and not after.
    const edge = new EtaEstimator(1000, 100);
    for (let step = 0; step <= 100; step++) edge.recordStep(step, step === 0 ? 0 : 1000 + 100 * (step - 1));
    expect(edge.stepsPerSecond()).toBeCloseTo((100 * 1000) / 10900, 10);
    edge.recordStep(101, 11000);
    expect(edge.stepsPerSecond()).toBeCloseTo(10, 10);
    // No trend yet: to --steps, shown as an upper bound.
    expect(eta.eta(300)).toEqual({ seconds: 70, stopStep: 1000, bound: true });
    // Estimates 500, then 420, then an outlier 360, then 440: the median of the last three moves little.
    const stops = [500, 420, 360, 440].map((estimate) => {
      eta.recordEstimate(estimate);
      return eta.stopStep(300).stopStep;
    });
    expect(stops).toEqual([500, 460, 420, 420]);
    expect(eta.eta(300)).toEqual({ seconds: 12, stopStep: 420, bound: false });
    eta.recordEstimate(undefined); // an evaluation with no rising trend changes nothing
    expect(eta.stopStep(300).stopStep).toBe(420);
    // Never before the current step, never after --steps; --max-seconds caps the time left.
    expect(eta.stopStep(430)).toEqual({ stopStep: 430, bound: false });
    expect(eta.eta(300, 5)).toEqual({ seconds: 5, stopStep: 350, bound: true });
    const late = new EtaEstimator(400);
    late.recordEstimate(900);
    expect(late.stopStep(100)).toEqual({ stopStep: 400, bound: true });
  });

  it('between evaluations the ETA counts down steadily; a noisy evaluation moves it less than the raw trend', () => {
    // A run at 5 steps/s; evaluations every 25 steps from step 150 give raw estimates with one outlier.
    const raw = new Map([
      [150, 420],
      [175, 400],
      [200, 300],
      [225, 395],
      [250, 390],
    ]);
    const eta = new EtaEstimator(2000, 100);
    const shown: number[] = [];
    for (let step = 0; step <= 260; step++) {
      eta.recordStep(step, step * 200);
      if (raw.has(step)) eta.recordEstimate(raw.get(step));
      if (step >= 150) shown.push(eta.eta(step)!.seconds);
    }
    // Between evaluations: one step (0.2 s) less per step.
    for (let i = 1; i < shown.length; i++) {
      if (!raw.has(150 + i)) expect(shown[i - 1] - shown[i]).toBeCloseTo(0.2, 10);
    }
    // The outlier at step 200 (300, 80 steps early) moved the stop step 10 steps: 410 to 400.
    const jump = (step: number) => shown[step - 150 - 1] - shown[step - 150] - 0.2;
    expect(jump(200) * 5).toBeCloseTo(10, 6);
  });

  it('on a TTY: a bar redrawn in place that never goes back, and lines above it; elsewhere only the lines', () => {
    const tty: string[] = [];
    const live = new ProgressDisplay({ write: (t) => tty.push(t) > 0, isTTY: true, columns: 100 });
    live.update({ ...snapshot, eta: { seconds: 10, stopStep: 400, bound: false } }, true);
    // The expected stop moves later (400 to 800): the bar keeps its 85%.
    live.update({ ...snapshot, eta: { seconds: 100, stopStep: 800, bound: false } }, true);
    live.printFields(['evaluation', 'line']);
    // 100 columns: a bar of 20 cells and the fields that fit.
    expect(tty.map((t) => t.slice(0, 32))).toEqual([
      `\r\x1b[K|${'\u2588'.repeat(17)}${' '.repeat(3)}|   85%`,
      `\r\x1b[K|${'\u2588'.repeat(17)}${' '.repeat(3)}|   85%`,
      '\r\x1b[K',
      'evaluation  line\n',
    ]);
    expect(tty[1]).toContain('ETA ~1m40s');

    const plain: string[] = [];
    const lines = new ProgressDisplay({ write: (t) => plain.push(t) > 0 });
    for (const step of [340, 349, 350]) lines.update({ ...snapshot, step }, true);
    lines.printFields(evaluationFields(evaluation));
    expect(plain).toEqual([`${evaluationFields(evaluation).join('  ')}\n`]);
  });
});
