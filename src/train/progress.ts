/**
 * Progress display of a training run: a live one-line bar on a terminal,
 * plain periodic lines otherwise (a log file, CI, a pipe).
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

/** `step 340/2000 loss 0.1234 token acc 0.953 3.4 steps/s ETA 8m09s` */
export function formatLine(p: ProgressSnapshot): string {
  return (
    `step ${p.step}/${p.totalSteps}  loss ${p.loss.toFixed(4)}  token acc ${p.tokenAccuracy.toFixed(3)}  ` +
    `${p.stepsPerSecond.toFixed(2)} steps/s  ETA ${formatDuration(p.etaSeconds)}`
  );
}

/** The line with a bar `[#####-----]` filling what `width` leaves. */
export function formatBar(p: ProgressSnapshot, width: number): string {
  const text = ` ${formatLine(p)}`;
  const barWidth = Math.max(10, Math.min(40, width - text.length - 2));
  const done = Math.round((barWidth * Math.min(p.step, p.totalSteps)) / Math.max(1, p.totalSteps));
  return `[${'#'.repeat(done)}${'-'.repeat(barWidth - done)}]${text}`.slice(0, width);
}

/** `8m09s`, `1h02m`, `42s`, or `?` when unknown. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
