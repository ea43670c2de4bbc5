import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { LogEntry, toJsonLines, trainingCurveSvg, writeTrainingLog } from '../../src/train/log';
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

describe('progress at its edges', () => {
  const bare: ProgressSnapshot = { step: 5, totalSteps: 10, trainLoss: 0.5 };

  it('the trend: a target of 1 is reached at a finite step (the clamp), a flat trend gives none', () => {
    const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
    const curve = [100, 150, 200].map((step) => ({ step, exactMatch: sigmoid(0.02 * (step - 250)) }));
    // logit(1 - 1/1024) = ln 1023 = 6.93 at 200 + (6.93 + 1) / 0.02 = 596.5.
    expect(estimateTargetStep(curve, 1)).toBe(597);
    const flat = [100, 150, 200].map((step) => ({ step, exactMatch: 0.5 }));
    expect(estimateTargetStep(flat, 0.99)).toBeUndefined();
  });

  it('the speed: known from two steps, unknown while the clock or the step stands still', () => {
    const two = new EtaEstimator(10);
    two.recordStep(0, 0);
    expect(two.stepsPerSecond()).toBeUndefined();
    two.recordStep(1, 500);
    expect(two.stepsPerSecond()).toBe(2);
    expect(two.eta(1)).toEqual({ seconds: 4.5, stopStep: 10, bound: true });
    const stillClock = new EtaEstimator(10);
    stillClock.recordStep(0, 100);
    stillClock.recordStep(1, 100);
    expect(stillClock.stepsPerSecond()).toBeUndefined();
    expect(stillClock.eta(1)).toBeUndefined();
    // Two records of one step (a resumed run's first): a rate of 0, no ETA (rather than Infinity).
    const stillStep = new EtaEstimator(10);
    stillStep.recordStep(5, 0);
    stillStep.recordStep(5, 1000);
    expect(stillStep.stepsPerSecond()).toBe(0);
    expect(stillStep.eta(5)).toBeUndefined();
  });

  it('--max-seconds caps the ETA only when it is shorter, equal included', () => {
    const eta = new EtaEstimator(1000, 100);
    for (let step = 0; step <= 100; step++) eta.recordStep(step, step * 100); // 10 steps/s
    eta.recordEstimate(220);
    expect(eta.eta(100)).toEqual({ seconds: 12, stopStep: 220, bound: false });
    expect(eta.eta(100, 1000)).toEqual({ seconds: 12, stopStep: 220, bound: false });
    expect(eta.eta(100, 12)).toEqual({ seconds: 12, stopStep: 220, bound: false });
    expect(eta.eta(100, 11)).toEqual({ seconds: 11, stopStep: 210, bound: true });
    expect(eta.eta(100, -5)).toEqual({ seconds: 0, stopStep: 50, bound: true });
  });

  it('fields that are not known are left out, not shown as undefined', () => {
    const evaluation = {
      step: 1,
      totalSteps: 2,
      heldOutLoss: 0.5,
      exactMatch: 0.25,
      right: 1,
      size: 4,
      tokenAccuracy: 0.75,
    };
    expect(evaluationFields(evaluation)).toEqual([
      'step 1/2',
      'held-out loss 0.5000',
      'exact match 0.2500 (1/4)',
      'token acc 0.7500',
    ]);
    const tail = (p: ProgressSnapshot) => formatBar(p, 0.5, 200).slice(42);
    expect(tail(bare)).toBe('   50%  step 5/10  train loss 0.5000');
    expect(tail({ ...bare, exactMatch: 0.25 })).toBe('   50%  step 5/10  train loss 0.5000  exact match 0.250');
    expect(tail({ ...bare, targetExactMatch: 0.99 })).toBe(
      '   50%  step 5/10  train loss 0.5000  exact match ? -> 0.99',
    );
  });

  it('the bar: every eighth of a cell, the cells the fields leave, a field that ends at the last column', () => {
    for (let k = 0; k < 8; k++) {
      const bar = formatBar(bare, (8 * 3 + k + 0.5) / 320, 200).slice(1, 41);
      expect(bar).toBe(('\u2588'.repeat(3) + (k === 0 ? '' : String.fromCharCode(0x2590 - k))).padEnd(40));
    }
    // The fields take 36 columns: at 68 the bar gets the other 30, and the last field ends at column 68.
    const fields = '   50%  step 5/10  train loss 0.5000';
    expect(formatBar(bare, 0.5, 68)).toBe(`|${'\u2588'.repeat(15)}${' '.repeat(15)}|${fields}`);
    // From 60 columns the bar keeps at least 20 cells; under 60, 10.
    const full: ProgressSnapshot = {
      ...bare,
      step: 340,
      totalSteps: 2000,
      eta: { seconds: 489, stopStep: 2000, bound: true },
      exactMatch: 0.7461,
      targetExactMatch: 0.99,
    };
    const shown = '   50%  step 340/2000  ETA <= 8m09s';
    expect(formatBar(full, 0.5, 60)).toBe(`|${'\u2588'.repeat(10)}${' '.repeat(10)}|${shown}`);
    expect(formatBar(full, 0.5, 59)).toBe(`|${'\u2588'.repeat(5)}${' '.repeat(5)}|${shown}`);
  });

  it('durations at the unit boundaries; negative or unknown as ?', () => {
    expect([-1, 0, 59.4, 59.5, 60, 3599, 3600, Infinity].map((s) => formatDuration(s))).toEqual([
      '?',
      '0s',
      '59s',
      '1m00s',
      '1m00s',
      '59m59s',
      '1h00m',
      '?',
    ]);
  });

  it('on a TTY the bar is redrawn at most every 100 ms (the last step and a forced one always), to the width', () => {
    const now = jest.spyOn(Date, 'now');
    try {
      const tty: string[] = [];
      const live = new ProgressDisplay({ write: (t) => tty.push(t) > 0, isTTY: true, columns: 100 });
      for (const [ms, step, force] of [
        [1000, 5, false],
        [1050, 6, false],
        [1100, 7, false],
        [1150, 10, false],
        [1160, 8, true],
      ] as const) {
        now.mockReturnValue(ms);
        // Not forced: called without the argument, as run.ts does.
        if (force) live.update({ ...bare, step }, true);
        else live.update({ ...bare, step });
      }
      // No ETA: filled to totalSteps. 99 columns: 40 cells.
      expect(tty.map((t) => t.slice(0, 52))).toEqual([
        `\r\x1b[K|${'\u2588'.repeat(20)}${' '.repeat(20)}|   50%`,
        `\r\x1b[K|${'\u2588'.repeat(28)}${' '.repeat(12)}|   70%`,
        `\r\x1b[K|${'\u2588'.repeat(40)}|  100%`,
        `\r\x1b[K|${'\u2588'.repeat(40)}|  100%`,
      ]);
      // The bar is cleared once before a line, not again before the next.
      tty.length = 0;
      live.print('a');
      live.print('b');
      expect(tty).toEqual(['\r\x1b[K', 'a\n', 'b\n']);
    } finally {
      now.mockRestore();
    }
  });

  it("a TTY's lines wrap at its width less one (100 columns when unknown, 20 at least)", () => {
    const printed = (columns: number | undefined, fields: string[]) => {
      const out: string[] = [];
      new ProgressDisplay({ write: (t) => out.push(t) > 0, isTTY: true, columns }).printFields(fields);
      return out.join('');
    };
    const [a, b] = ['a'.repeat(19), 'b'.repeat(19)];
    expect(printed(41, [a, b])).toBe(`${a}  ${b}\n`);
    expect(printed(40, [a, b])).toBe(`${a}\n  ${b}\n`);
    expect(printed(undefined, ['x'.repeat(48), 'y'.repeat(49)])).toBe(`${'x'.repeat(48)}  ${'y'.repeat(49)}\n`);
    expect(printed(undefined, ['x'.repeat(48), 'y'.repeat(50)])).toBe(`${'x'.repeat(48)}\n  ${'y'.repeat(50)}\n`);
    expect(printed(5, ['x'.repeat(9), 'y'.repeat(9)])).toBe(`${'x'.repeat(9)}  ${'y'.repeat(9)}\n`);
  });
});

describe('training curve geometry', () => {
  // The layout: two panels of 360 x 240 side by side, each plot inset 52 left, 12 right, 34 top,
  // 40 bottom (296 x 166), under a 20-pixel title band.
  const round = (v: number) => Math.round(v * 10) / 10;
  const x = (x0: number, step: number, maxStep: number) => round(x0 + 52 + (step / maxStep) * 296);
  const y = (t: number) => round(34 + (1 - Math.min(1, Math.max(0, t))) * 166);
  const logY = (v: number, lo: number, hi: number) => y((Math.log10(v) - lo) / (hi - lo));
  /** Each `<tag>` element's attributes, and its text as `text`. */
  const elements = (svg: string, tag: string): Array<Record<string, string>> =>
    [...svg.matchAll(new RegExp(`<${tag} ([^>]*?)/?>([^<]*)`, 'g'))].map((m) => ({
      ...Object.fromEntries([...m[1].matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]])),
      text: m[2],
    }));

  it('draws every point, tick and legend where the layout puts it', () => {
    const svg = trainingCurveSvg(entries, 'run');
    expect(svg.split('\n').slice(0, 4)).toEqual([
      '<svg xmlns="http://www.w3.org/2000/svg" width="720" height="264" viewBox="0 0 720 264" ' +
        'font-family="sans-serif" font-size="11">',
      '<rect width="720" height="264" fill="white"/>',
      '<text x="360" y="16" text-anchor="middle" font-size="13">run</text>',
      '<g transform="translate(0, 20)">',
    ]);
    expect(svg.endsWith('</g>\n</svg>\n')).toBe(true);
    const rects = elements(svg, 'rect').slice(1);
    expect(rects.map((r) => [r.x, r.y, r.width, r.height])).toEqual([
      ['52', '34', '296', '166'],
      ['412', '34', '296', '166'],
    ]);
    // Losses 2.1, 0.05, 0.2: decades 10^-2 to 10^1.
    const polylines = elements(svg, 'polyline').map((p) => [p.points, p.stroke]);
    expect(polylines).toEqual([
      [`${x(0, 50, 100)},${logY(2.1, -2, 1)} ${x(0, 100, 100)},${logY(0.05, -2, 1)}`, '#1f77b4'],
      [`${x(0, 100, 100)},${logY(0.2, -2, 1)}`, '#ff7f0e'],
      [`${x(360, 50, 100)},${y(0.2)} ${x(360, 100, 100)},${y(0.99)}`, '#1f77b4'],
      [`${x(360, 100, 100)},${y(0.9)}`, '#ff7f0e'],
      [`${x(360, 100, 100)},${y(0.5)}`, '#2ca02c'],
    ]);
    // Dots on the held-out series only.
    expect(elements(svg, 'circle').map((c) => [c.cx, c.cy, c.fill])).toEqual([
      [`${x(0, 100, 100)}`, `${logY(0.2, -2, 1)}`, '#ff7f0e'],
      [`${x(360, 100, 100)}`, `${y(0.9)}`, '#ff7f0e'],
      [`${x(360, 100, 100)}`, `${y(0.5)}`, '#2ca02c'],
    ]);
    const texts = elements(svg, 'text').slice(1);
    const ticks = texts.filter((t) => t.class === 'tick').map((t) => [t.text, t.x, t.y]);
    const decades = [0.01, 0.1, 1, 10].map((v, i) => [String(v), '48', `${round(y(i / 3) + 4)}`]);
    const tenths = [0, 0.2, 0.4, 0.6, 0.8, 1].map((v) => [v.toFixed(1), '408', `${round(y(v) + 4)}`]);
    const steps = (x0: number) => [20, 40, 60, 80, 100].map((s) => [String(s), `${x(x0, s, 100)}`, '216']);
    expect(ticks).toEqual([...decades, ...steps(0), ...tenths, ...steps(360)]);
    const gridlines = elements(svg, 'line').filter((l) => l.stroke === '#eee');
    expect(gridlines.map((l) => [l.x1, l.x2, l.y1])).toEqual([
      ...decades.map(([, , ty]) => ['52', '348', `${Number(ty) - 4}`]),
      ...tenths.map(([, , ty]) => ['412', '708', `${round(Number(ty) - 4)}`]),
    ]);
    const stepMarks = elements(svg, 'line').filter((l) => l.stroke === '#888');
    expect(stepMarks.map((l) => [l.x1, l.y1, l.y2])).toEqual(
      [...steps(0), ...steps(360)].map(([, tx]) => [tx, '200', '204']),
    );
    expect(texts.filter((t) => t.class === 'axis-label').map((t) => [t.text, t.x, t.y])).toEqual([
      ['loss (log scale)', '200', '26'],
      ['step', '200', '232'],
      ['accuracy', '560', '26'],
      ['step', '560', '232'],
    ]);
    // Legends top right of the loss panel, bottom right of the accuracy panel.
    expect(texts.filter((t) => t.class === 'legend').map((t) => [t.text, t.x, t.y])).toEqual([
      ['train', '246', '46'],
      ['held-out', '246', '60'],
      ['train token acc', '606', '164'],
      ['held-out token acc', '606', '178'],
      ['held-out exact match', '606', '192'],
    ]);
    const keys = elements(svg, 'line').filter((l) => l['stroke-width'] === '2');
    expect(keys.every((l) => l.y1 === l.y2)).toBe(true);
    // One element a line, nothing else.
    const lines = svg.trimEnd().split('\n');
    expect(lines.filter((l) => !/^<[^<]*(<\/\w+>)?$/.test(l))).toEqual([]);
    // 6 around the panels; the loss panel: frame, name, 4 decades and 5 steps (a line and a label each),
    // "step", the train curve and the held-out one with its dot, a legend entry (2) each: 28; the
    // accuracy panel: the same with 6 tenths and three curves (two with a dot): 36.
    expect(lines).toHaveLength(6 + (2 + 2 * 4 + 2 * 5 + 1 + 3 + 4) + (2 + 2 * 6 + 2 * 5 + 1 + 3 + 4 + 4));
    expect(keys.map((l) => [l.x1, l.x2, l.y1, l.stroke])).toEqual([
      ['228', '242', '42', '#1f77b4'],
      ['228', '242', '56', '#ff7f0e'],
      ['588', '602', '160', '#1f77b4'],
      ['588', '602', '174', '#ff7f0e'],
      ['588', '602', '188', '#2ca02c'],
    ]);
  });

  it('leaves out what a scale cannot show, clamps the rest, and gives one decade at least', () => {
    const train = (step: number, loss: number, tokenAccuracy: number): LogEntry => ({
      ...(entries[0] as Extract<LogEntry, { type: 'train' }>),
      step,
      loss,
      tokenAccuracy,
    });
    // Losses 0 and NaN are off a log scale; 0.1 alone spans 10^-1 to 10^0. Accuracy 0 is on its scale.
    const svg = trainingCurveSvg(
      [train(10, 0, 0), train(20, NaN, 0.5), train(30, 0.1, 1.5), train(40, 0.1, -0.5)],
      'edges',
    );
    const polylines = elements(svg, 'polyline').map((p) => p.points);
    expect(polylines).toEqual([
      `${x(0, 30, 40)},${logY(0.1, -1, 0)} ${x(0, 40, 40)},${logY(0.1, -1, 0)}`,
      `${x(360, 10, 40)},${y(0)} ${x(360, 20, 40)},${y(0.5)} ${x(360, 30, 40)},${y(1)} ${x(360, 40, 40)},${y(0)}`,
    ]);
    const ticks = elements(svg, 'text').filter((t) => t.class === 'tick');
    expect(ticks.slice(0, 2).map((t) => t.text)).toEqual(['0.1', '1']);
    expect(ticks.slice(2, 6).map((t) => t.text)).toEqual(['10', '20', '30', '40']);
    // Decades below 10^-3 labelled as written (10 ** -4 is 0.00009999999999999999 in floats).
    const tiny = elements(trainingCurveSvg([train(10, 5e-5, 0.5), train(20, 0.5, 0.5)], 'tiny'), 'text');
    expect(tiny.filter((t) => t.x === '48').map((t) => t.text)).toEqual([
      '0.00001',
      '0.0001',
      '0.001',
      '0.01',
      '0.1',
      '1',
    ]);
    // No values: 10^-2 to 10^1.
    const empty = elements(trainingCurveSvg([], 'empty'), 'text').filter((t) => t.class === 'tick');
    expect(empty.filter((t) => t.x === '48').map((t) => t.text)).toEqual(['0.01', '0.1', '1', '10']);
    // And steps up to 1.
    expect(empty.filter((t) => t.y === '216').map((t) => t.text)).toEqual(['1', '1']);
  });

  it('marks whole steps only, each once, on a short run', () => {
    const ticks = (maxStep: number) =>
      elements(trainingCurveSvg([{ ...entries[0], step: maxStep }], 'short'), 'text')
        .filter((t) => t.class === 'tick' && t.y === '216' && Number(t.x) < 360) // the loss panel's steps
        .map((t) => Number(t.text));
    expect(ticks(1)).toEqual([1]);
    expect(ticks(2)).toEqual([1, 2]);
    expect(ticks(7)).toEqual([2, 4, 6]);
    expect(ticks(1000)).toEqual([200, 400, 600, 800, 1000]);
    expect(ticks(30000)).toEqual([10000, 20000, 30000]);
  });
});

describe('writeTrainingLog', () => {
  it('writes train-log.jsonl and training-curve.svg into the folder', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'train-log-'));
    try {
      await writeTrainingLog(dir, entries, 'run');
      expect(fs.readdirSync(dir).sort()).toEqual(['train-log.jsonl', 'training-curve.svg']);
      expect(fs.readFileSync(path.join(dir, 'train-log.jsonl'), 'utf8')).toBe(toJsonLines(entries));
      expect(fs.readFileSync(path.join(dir, 'training-curve.svg'), 'utf8')).toBe(trainingCurveSvg(entries, 'run'));
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});
