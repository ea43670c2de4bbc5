/**
 * Progress display of a training run: a live one-line bar on a terminal,
 * plain periodic lines otherwise (a log file, CI, a pipe), and the estimate of
 * when a run that stops at a target exact match will stop.
 *
 * The bar is our own (a few lines, below) rather than a package such as
 * cli-progress: it has to share its line with evaluations printed above it and
 * to switch to plain lines off a terminal, which is most of what such a package
 * would do, and the library adds no runtime dependency for a training script.
 */

/** What the display shows about the run so far. */
export interface ProgressSnapshot {
  step: number;
  totalSteps: number;
  /** Mean loss since the last line. */
  loss: number;
  /** Mean token accuracy since the last line. */
  tokenAccuracy: number;
  stepsPerSecond: number;
  /** Seconds left, or undefined when unknown. */
  etaSeconds?: number;
  /** When the run stops at a target exact match: the target, and the step the trend reaches it at. */
  target?: TargetProgress;
}

export interface TargetProgress {
  /** Held-out exact match the run stops at. */
  exactMatch: number;
  /** The last evaluation's exact match, if any. */
  lastExactMatch?: number;
  /** The step at which the exact-match trend reaches the target (estimateTargetStep), if known. */
  estimatedStep?: number;
}

/** One held-out evaluation, as the estimate needs it. */
export interface ExactMatchPoint {
  step: number;
  exactMatch: number;
}

/**
 * The step at which held-out exact match will reach `target`, extrapolated from the last
 * `window` evaluations: exact match against steps rises as a sigmoid, so its logit is close to a
 * straight line over a few evaluations; the least-squares line through the logits of the last
 * `window` points (exact matches clamped to [1/1024, 1 - 1/1024]) is followed to logit(target).
 * Undefined while there are fewer than two points or the trend is not rising; the last step
 * when the target is already met. Never before the last evaluated step.
 */
export function estimateTargetStep(points: readonly ExactMatchPoint[], target: number, window = 3): number | undefined {
  if (points.length === 0) return undefined;
  const last = points[points.length - 1];
  if (last.exactMatch >= target) return last.step;
  const recent = points.slice(-Math.max(2, window));
  if (recent.length < 2) return undefined;
  const logit = (p: number) => {
    const q = Math.min(1 - 1 / 1024, Math.max(1 / 1024, p));
    return Math.log(q / (1 - q));
  };
  const xs = recent.map((p) => p.step);
  const ys = recent.map((p) => logit(p.exactMatch));
  const meanX = xs.reduce((a, b) => a + b, 0) / xs.length;
  const meanY = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  xs.forEach((x, i) => {
    sxy += (x - meanX) * (ys[i] - meanY);
    sxx += (x - meanX) * (x - meanX);
  });
  const slope = sxx === 0 ? 0 : sxy / sxx;
  if (!(slope > 0)) return undefined;
  // From the fitted line's value at the last step, not the last point: one noisy evaluation moves it less.
  const atLast = meanY + slope * (last.step - meanX);
  return Math.max(last.step, Math.round(last.step + (logit(target) - atLast) / slope));
}

/**
 * The step the run will most likely stop at: the estimated target step when it comes before
 * `totalSteps`, else `totalSteps`.
 */
export function expectedStopStep(totalSteps: number, target?: TargetProgress): number {
  const estimate = target?.estimatedStep;
  return estimate === undefined ? totalSteps : Math.min(totalSteps, estimate);
}

/**
 * Seconds until the run stops: steps left to `expectedStopStep` at `stepsPerSecond` (which
 * counts evaluations in, as measured by wall clock), capped by `secondsLeft` (--max-seconds).
 */
export function etaSeconds(
  step: number,
  totalSteps: number,
  stepsPerSecond: number,
  target?: TargetProgress,
  secondsLeft?: number,
): number | undefined {
  if (!(stepsPerSecond > 0)) return undefined;
  const left = Math.max(0, expectedStopStep(totalSteps, target) - step) / stepsPerSecond;
  return secondsLeft === undefined ? left : Math.max(0, Math.min(left, secondsLeft));
}

/** A stream the display writes to (process.stderr or process.stdout). */
export interface ProgressStream {
  write(text: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

/**
 * Shows progress on `stream`. On a TTY, `update` redraws one line in place
 * (at most every 100 ms) and `print` writes a full line above it; elsewhere
 * `update` prints a plain line every `lineEvery` steps.
 */
export class ProgressDisplay {
  private lastDraw = 0;
  private barShown = false;

  constructor(
    private readonly stream: ProgressStream,
    private readonly lineEvery: number,
  ) {}

  get isLive(): boolean {
    return this.stream.isTTY === true;
  }

  update(p: ProgressSnapshot, force = false): void {
    if (this.isLive) {
      const now = Date.now();
      if (!force && now - this.lastDraw < 100 && p.step !== p.totalSteps) return;
      this.lastDraw = now;
      const width = Math.max(40, (this.stream.columns ?? 100) - 1);
      this.stream.write(`\r\x1b[K${formatBar(p, width)}`);
      this.barShown = true;
    } else if (force || p.step % this.lineEvery === 0) {
      this.stream.write(`${formatLine(p)}\n`);
    }
  }

  /** Writes a full line (an evaluation, a message) without breaking the bar. */
  print(text: string): void {
    this.clear();
    this.stream.write(`${text}\n`);
  }

  /** Removes the live bar (before exiting or printing). */
  clear(): void {
    if (this.barShown) {
      this.stream.write('\r\x1b[K');
      this.barShown = false;
    }
  }
}

/**
 * `step 340/2000  loss 0.1234  token acc 0.953  3.40 steps/s  ETA 8m09s`; with a target,
 * `exact match 0.75 -> 0.99 at ~step 380` before the speed, and the ETA is to that step.
 */
export function formatLine(p: ProgressSnapshot): string {
  return `step ${p.step}/${p.totalSteps}  ${details(p)}  ETA ${formatDuration(p.etaSeconds)}`;
}

/** Loss, token accuracy, where the run stands against its target, speed. */
function details(p: ProgressSnapshot): string {
  const t = p.target;
  let toTarget = '';
  if (t !== undefined) {
    const now = t.lastExactMatch === undefined ? '?' : t.lastExactMatch.toFixed(3);
    const at = t.estimatedStep === undefined ? '' : ` at ~step ${t.estimatedStep}`;
    toTarget = `exact match ${now} -> ${t.exactMatch}${at}  `;
  }
  return (
    `loss ${p.loss.toFixed(4)}  token acc ${p.tokenAccuracy.toFixed(3)}  ` +
    `${toTarget}${p.stepsPerSecond.toFixed(2)} steps/s`
  );
}

/** Eighths of a cell, for a bar that moves smoothly: '' then U+258F (1/8) to U+2589 (7/8). */
const PARTIAL_BLOCKS = ['', '\u258f', '\u258e', '\u258d', '\u258c', '\u258b', '\u258a', '\u2589'];
const FULL_BLOCK = '\u2588';

/**
 * `|██████▌      |  45% step 340/2000  ETA 8m09s  loss ...`: the bar fills towards the step the run
 * is expected to stop at (expectedStopStep), in eighths of a cell; then the percentage, the step
 * and the ETA, and the rest of the line, cut to `width` (so a narrow terminal loses the details
 * first).
 */
export function formatBar(p: ProgressSnapshot, width: number): string {
  const stop = expectedStopStep(p.totalSteps, p.target);
  const fraction = Math.min(1, Math.max(0, p.step / Math.max(1, stop)));
  const text =
    ` ${String(Math.floor(fraction * 100)).padStart(3)}% step ${p.step}/${p.totalSteps}  ` +
    `ETA ${formatDuration(p.etaSeconds)}  ${details(p)}`;
  const cells = Math.max(10, Math.min(40, width - text.length - 2));
  const eighths = Math.floor(fraction * cells * 8);
  const full = Math.floor(eighths / 8);
  const partial = PARTIAL_BLOCKS[eighths % 8];
  const bar = (FULL_BLOCK.repeat(full) + partial).padEnd(cells, ' ');
  return `|${bar}|${text}`.slice(0, width);
}

/** `8m09s`, `1h02m`, `42s`, or `?` when unknown. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
