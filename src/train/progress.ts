/**
 * Progress of a training run: one line per held-out evaluation (train loss, held-out loss, exact
 * match, labelled), a live bar under them on a terminal, and the ETA, smoothed so that it moves
 * steadily (the README's "Training output" gives the method).
 *
 * The bar is our own (a few lines, below) rather than a package such as cli-progress: it has to
 * share its line with evaluations printed above it and to stay off when the output is not a
 * terminal, which is most of what such a package would do, and the library adds no runtime
 * dependency for a training script.
 */

/** What the live bar shows about the run so far. */
export interface ProgressSnapshot {
  step: number;
  totalSteps: number;
  /** Mean training loss over the steps since the last evaluation. */
  trainLoss: number;
  /** The last evaluation's exact match, if any. */
  exactMatch?: number;
  /** Held-out exact match the run stops at (--target-exact-match), if it stops early. */
  targetExactMatch?: number;
  /** Steps per second (EtaEstimator.stepsPerSecond), if known. */
  stepsPerSecond?: number;
  eta?: Eta;
}

/** One held-out evaluation as its line shows it. */
export interface EvaluationLine {
  step: number;
  totalSteps: number;
  /** Mean training loss over the steps since the previous evaluation (undefined if none). */
  trainLoss?: number;
  heldOutLoss: number;
  exactMatch: number;
  /** Held-out samples decoded exactly, of `size`. */
  right: number;
  size: number;
  tokenAccuracy: number;
  stepsPerSecond?: number;
  eta?: Eta;
}

/** Time left, and what it is to. */
export interface Eta {
  seconds: number;
  /** The step the run is expected to stop at. */
  stopStep: number;
  /**
   * Whether `stopStep` is a limit the run may stop before (--steps while no trend is known, or
   * --max-seconds): the ETA is shown as `<= 3m10s`; an estimate from the trend as `~45s`.
   */
  bound: boolean;
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
 * Undefined while there are fewer than `window` points, while one of them is 0 (the logit of a
 * zero is only the clamp's, and a line from it rises far too steeply: early runs estimated the
 * end a few steps away) or when the trend is not rising; the last step when the target is
 * already met. Never before the last evaluated step.
 */
export function estimateTargetStep(points: readonly ExactMatchPoint[], target: number, window = 3): number | undefined {
  if (points.length === 0) return undefined;
  const last = points[points.length - 1];
  if (last.exactMatch >= target) return last.step;
  const recent = points.slice(-Math.max(2, window));
  if (recent.length < Math.max(2, window) || recent.some((p) => !(p.exactMatch > 0))) return undefined;
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
 * The ETA of a run, from two smoothed halves:
 * - speed: steps per second over the last `windowSteps` steps by wall clock (evaluations included,
 *   as they take the run's time too), rather than since the start (which the first, slower steps
 *   would skew) or over one step (noisy);
 * - the stop step: --steps until the exact-match trend gives an estimate (estimateTargetStep), then
 *   the median of the last three estimates, one per evaluation (a single noisy evaluation moves it
 *   little), never before the current step or after --steps.
 * A --max-seconds limit caps the time left.
 */
export class EtaEstimator {
  /** (step, milliseconds) of the last `windowSteps` + 1 steps. */
  private readonly times: Array<[number, number]> = [];
  private readonly estimates: number[] = [];

  constructor(
    private readonly totalSteps: number,
    private readonly windowSteps = 100,
  ) {}

  /** Records that `step` finished at `nowMs` (a clock in milliseconds). */
  recordStep(step: number, nowMs: number): void {
    this.times.push([step, nowMs]);
    if (this.times.length > this.windowSteps + 1) this.times.shift();
  }

  /** Records the trend's estimate of the target step after an evaluation (undefined: none yet). */
  recordEstimate(estimatedStep: number | undefined): void {
    if (estimatedStep !== undefined) this.estimates.push(estimatedStep);
  }

  /** Steps per second over the window; undefined before two steps. */
  stepsPerSecond(): number | undefined {
    if (this.times.length < 2) return undefined;
    const [firstStep, firstMs] = this.times[0];
    const [lastStep, lastMs] = this.times[this.times.length - 1];
    return lastMs > firstMs ? ((lastStep - firstStep) * 1000) / (lastMs - firstMs) : undefined;
  }

  /** The step the run is expected to stop at, and whether it is only the limit (see Eta.bound). */
  stopStep(step: number): { stopStep: number; bound: boolean } {
    if (this.estimates.length === 0) return { stopStep: this.totalSteps, bound: true };
    const recent = [...this.estimates.slice(-3)].sort((a, b) => a - b);
    const median =
      recent.length % 2 === 1
        ? recent[(recent.length - 1) / 2]
        : (recent[recent.length / 2 - 1] + recent[recent.length / 2]) / 2;
    const stop = Math.round(Math.min(this.totalSteps, Math.max(step, median)));
    return { stopStep: stop, bound: stop === this.totalSteps };
  }

  /** The ETA at `step`, capped by `secondsLeft` (--max-seconds); undefined while the speed is unknown. */
  eta(step: number, secondsLeft?: number): Eta | undefined {
    const rate = this.stepsPerSecond();
    if (rate === undefined || !(rate > 0)) return undefined;
    const { stopStep, bound } = this.stopStep(step);
    const seconds = Math.max(0, stopStep - step) / rate;
    if (secondsLeft !== undefined && secondsLeft < seconds) {
      return {
        seconds: Math.max(0, secondsLeft),
        stopStep: Math.min(stopStep, Math.round(step + secondsLeft * rate)),
        bound: true,
      };
    }
    return { seconds, stopStep, bound };
  }
}

/** A stream the display writes to (process.stderr or process.stdout). */
export interface ProgressStream {
  write(text: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

/**
 * Shows progress on `stream`. `print` and `printFields` write full lines; on a TTY, `update`
 * redraws a bar in place under them (at most every 100 ms) and a line of fields wider than the
 * terminal wraps between two fields, never inside one. Off a terminal (a log, CI, a pipe)
 * `update` writes nothing: the lines are the record.
 */
export class ProgressDisplay {
  private lastDraw = 0;
  private barShown = false;
  /** The bar's fill so far: it never goes back when the expected stop step moves later. */
  private filled = 0;

  constructor(private readonly stream: ProgressStream) {}

  get isLive(): boolean {
    return this.stream.isTTY === true;
  }

  update(p: ProgressSnapshot, force = false): void {
    if (!this.isLive) return;
    const stop = p.eta?.stopStep ?? p.totalSteps;
    this.filled = Math.max(this.filled, Math.min(1, Math.max(0, p.step / Math.max(1, stop))));
    const now = Date.now();
    if (!force && now - this.lastDraw < 100 && p.step !== p.totalSteps) return;
    this.lastDraw = now;
    this.stream.write(`\r\x1b[K${formatBar(p, this.filled, this.width)}`);
    this.barShown = true;
  }

  /** Writes a full line (a message) without breaking the bar. */
  print(text: string): void {
    this.clear();
    this.stream.write(`${text}\n`);
  }

  /** Writes fields separated by two spaces; on a TTY, wrapped between fields to the terminal's width. */
  printFields(fields: readonly string[]): void {
    this.print(this.isLive ? wrapFields(fields, this.width) : fields.join('  '));
  }

  /** Removes the live bar (before exiting or printing). */
  clear(): void {
    if (this.barShown) {
      this.stream.write('\r\x1b[K');
      this.barShown = false;
    }
  }

  private get width(): number {
    return Math.max(20, (this.stream.columns ?? 100) - 1);
  }
}

/**
 * `step 300/600  train loss 0.1234  held-out loss 0.1456  exact match 0.7773 (398/512)  token acc
 * 0.9530  3.40 steps/s  ETA ~1m05s`: one evaluation, every figure labelled.
 */
export function evaluationFields(e: EvaluationLine): string[] {
  const fields = [`step ${e.step}/${e.totalSteps}`];
  if (e.trainLoss !== undefined) fields.push(`train loss ${e.trainLoss.toFixed(4)}`);
  fields.push(
    `held-out loss ${e.heldOutLoss.toFixed(4)}`,
    `exact match ${e.exactMatch.toFixed(4)} (${e.right}/${e.size})`,
    `token acc ${e.tokenAccuracy.toFixed(4)}`,
  );
  if (e.stepsPerSecond !== undefined) fields.push(`${e.stepsPerSecond.toFixed(2)} steps/s`);
  if (e.eta !== undefined) fields.push(formatEta(e.eta));
  return fields;
}

/** Eighths of a cell, for a bar that moves smoothly: '' then U+258F (1/8) to U+2589 (7/8). */
const PARTIAL_BLOCKS = ['', '\u258f', '\u258e', '\u258d', '\u258c', '\u258b', '\u258a', '\u2589'];
const FULL_BLOCK = '\u2588';

/**
 * `|██████▌      |  45%  step 340/2000  ETA ~1m05s  train loss 0.1234  exact match 0.746 -> 0.99
 * 3.40 steps/s`: the bar, filled to `filled` (of the way to the expected stop step) in eighths of a
 * cell, then as many whole fields as fit in `width` (a narrow terminal loses the last ones first).
 */
export function formatBar(p: ProgressSnapshot, filled: number, width: number): string {
  const fields = [`${String(Math.floor(filled * 100)).padStart(3)}%`, `step ${p.step}/${p.totalSteps}`];
  if (p.eta !== undefined) fields.push(formatEta(p.eta));
  fields.push(`train loss ${p.trainLoss.toFixed(4)}`);
  if (p.targetExactMatch !== undefined) {
    fields.push(`exact match ${p.exactMatch === undefined ? '?' : p.exactMatch.toFixed(3)} -> ${p.targetExactMatch}`);
  } else if (p.exactMatch !== undefined) {
    fields.push(`exact match ${p.exactMatch.toFixed(3)}`);
  }
  if (p.stepsPerSecond !== undefined) fields.push(`${p.stepsPerSecond.toFixed(2)} steps/s`);
  // The bar takes what all the fields leave, from 20 cells (10 under 60 columns) to 40: past that, the
  // last fields go.
  const fieldsLength = fields.map((f) => `  ${f}`).join('').length;
  const cells = Math.max(width >= 60 ? 20 : 10, Math.min(40, width - 2 - fieldsLength));
  const eighths = Math.floor(filled * cells * 8);
  const bar = (FULL_BLOCK.repeat(Math.floor(eighths / 8)) + PARTIAL_BLOCKS[eighths % 8]).padEnd(cells, ' ');
  let line = `|${bar}|`;
  for (const field of fields) {
    if (line.length + 2 + field.length > width) break;
    line += `  ${field}`;
  }
  return line;
}

/**
 * Fields joined by two spaces, starting a new line (indented by two) where the next field would
 * pass `width`; a field longer than a line stays whole on its own.
 */
export function wrapFields(fields: readonly string[], width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const field of fields) {
    if (line === '') line = field;
    else if (line.length + 2 + field.length <= width) line += `  ${field}`;
    else {
      lines.push(line);
      line = `  ${field}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines.join('\n');
}

/** `ETA ~45s` (from the trend) or `ETA <= 3m10s` (to a limit the run may stop before). */
export function formatEta(eta: Eta): string {
  return `ETA ${eta.bound ? '<= ' : '~'}${formatDuration(eta.seconds)}`;
}

/** `8m09s`, `1h02m`, `42s`, or `?` when unknown. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
