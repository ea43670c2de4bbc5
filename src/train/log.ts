/**
 * The training log: one JSON object per line (train-log.jsonl) and a plot of
 * it as a self-contained SVG (training-curve.svg), written next to the model.
 */
import { escapeXml } from '../describe';
import { atomicWriteFile, nodePath } from '../io/atomic';

export const LOG_FILE = 'train-log.jsonl';
export const CURVE_FILE = 'training-curve.svg';

/** Running averages over the steps since the previous 'train' entry. */
export interface TrainLogEntry {
  type: 'train';
  step: number;
  loss: number;
  tokenAccuracy: number;
  gradNorm: number;
  learningRate: number;
  stepsPerSecond: number;
  /** Training seconds so far (steps only). */
  seconds: number;
}

/** A held-out evaluation. */
export interface EvalLogEntry {
  type: 'eval';
  step: number;
  exactMatch: number;
  tokenAccuracy: number;
  loss: number;
  size: number;
  seconds: number;
  /** A few wrong greedy decodings, as strings. */
  failures: Array<{ input: string; expected: string; got: string }>;
}

/** One line of train-log.jsonl. */
export type LogEntry = TrainLogEntry | EvalLogEntry;

export function toJsonLines(entries: readonly LogEntry[]): string {
  return entries.map((e) => `${JSON.stringify(e)}\n`).join('');
}

/** Writes train-log.jsonl and training-curve.svg into `folder`, each atomically. Node only. */
export async function writeTrainingLog(folder: string, entries: readonly LogEntry[], title: string): Promise<void> {
  const { join } = nodePath();
  await atomicWriteFile(join(folder, LOG_FILE), toJsonLines(entries));
  await atomicWriteFile(join(folder, CURVE_FILE), trainingCurveSvg(entries, title));
}

// ---------------------------------------------------------------------------
// The plot: loss (log scale) on the left, accuracies (0..1) on the right, both
// against the step.

const PANEL = { width: 360, height: 240, left: 52, right: 12, top: 34, bottom: 40 };
const COLORS = { train: '#1f77b4', heldOut: '#ff7f0e', exact: '#2ca02c' };

interface Series {
  label: string;
  color: string;
  points: Array<[number, number]>;
  dots?: boolean;
}

/**
 * The training log as a standalone SVG, 720 x 264: the train and held-out loss (log scale) on the
 * left, token accuracies and held-out exact match on the right, both against the step, with axes,
 * ticks and a legend in each panel. `npm run train` writes it as training-curve.svg; a page can put
 * it in its DOM as it trains (the demo's train.html does). Tick labels, axis labels and legend
 * entries carry the classes `tick`, `axis-label` and `legend`.
 */
export function trainingCurveSvg(entries: readonly LogEntry[], title: string): string {
  const train = entries.filter((e): e is TrainLogEntry => e.type === 'train');
  const evals = entries.filter((e): e is EvalLogEntry => e.type === 'eval');
  const maxStep = Math.max(1, ...entries.map((e) => e.step));
  const lossPanel = panel(0, 'loss (log scale)', maxStep, true, [
    { label: 'train', color: COLORS.train, points: train.map((e) => [e.step, e.loss]) },
    { label: 'held-out', color: COLORS.heldOut, points: evals.map((e) => [e.step, e.loss]), dots: true },
  ]);
  const accuracyPanel = panel(PANEL.width, 'accuracy', maxStep, false, [
    { label: 'train token acc', color: COLORS.train, points: train.map((e) => [e.step, e.tokenAccuracy]) },
    {
      label: 'held-out token acc',
      color: COLORS.heldOut,
      points: evals.map((e) => [e.step, e.tokenAccuracy]),
      dots: true,
    },
    {
      label: 'held-out exact match',
      color: COLORS.exact,
      points: evals.map((e) => [e.step, e.exactMatch]),
      dots: true,
    },
  ]);
  const width = 2 * PANEL.width;
  const height = PANEL.height + 24;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="16" text-anchor="middle" font-size="13">${escapeXml(title)}</text>`,
    `<g transform="translate(0, 20)">`,
    lossPanel,
    accuracyPanel,
    `</g>`,
    `</svg>`,
    '',
  ].join('\n');
}

function panel(x0: number, name: string, maxStep: number, logScale: boolean, series: Series[]): string {
  const { width, height, left, right, top, bottom } = PANEL;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const values = series
    .flatMap((s) => s.points.map((p) => p[1]))
    .filter((v) => Number.isFinite(v) && (!logScale || v > 0));
  let lo: number;
  let hi: number;
  if (logScale) {
    lo = values.length ? Math.floor(Math.log10(Math.min(...values))) : -2;
    hi = values.length ? Math.ceil(Math.log10(Math.max(...values))) : 1;
    if (hi === lo) hi = lo + 1;
  } else {
    lo = 0;
    hi = 1;
  }
  const sx = (step: number) => x0 + left + (step / maxStep) * plotW;
  const sy = (v: number) => {
    const t = logScale ? (Math.log10(v) - lo) / (hi - lo) : (v - lo) / (hi - lo);
    return top + (1 - Math.min(1, Math.max(0, t))) * plotH;
  };
  const out: string[] = [];
  out.push(`<rect x="${x0 + left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  out.push(`<text class="axis-label" x="${x0 + left + plotW / 2}" y="${top - 8}" text-anchor="middle">${name}</text>`);
  // y ticks: decades on the log scale, tenths (labelled every 0.2) on the linear one.
  const yTicks = logScale
    ? Array.from({ length: hi - lo + 1 }, (_v, i) => 10 ** (lo + i))
    : Array.from({ length: 6 }, (_v, i) => i * 0.2);
  for (const v of yTicks) {
    const y = round(sy(v));
    out.push(`<line x1="${x0 + left}" x2="${x0 + left + plotW}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    const label = logScale ? (v >= 1 ? String(v) : v.toPrecision(1)) : v.toFixed(1);
    out.push(`<text class="tick" x="${x0 + left - 4}" y="${y + 4}" text-anchor="end">${label}</text>`);
  }
  for (const step of niceTicks(maxStep)) {
    const x = round(sx(step));
    out.push(`<line x1="${x}" x2="${x}" y1="${top + plotH}" y2="${top + plotH + 4}" stroke="#888"/>`);
    out.push(`<text class="tick" x="${x}" y="${top + plotH + 16}" text-anchor="middle">${step}</text>`);
  }
  out.push(
    `<text class="axis-label" x="${x0 + left + plotW / 2}" y="${top + plotH + 32}" text-anchor="middle">step</text>`,
  );
  series.forEach((s, i) => {
    const points = s.points.filter(([, v]) => Number.isFinite(v) && (!logScale || v > 0));
    if (points.length > 0) {
      const path = points.map(([step, v]) => `${round(sx(step))},${round(sy(v))}`).join(' ');
      out.push(`<polyline points="${path}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
      if (s.dots) {
        for (const [step, v] of points)
          out.push(`<circle cx="${round(sx(step))}" cy="${round(sy(v))}" r="2.5" fill="${s.color}"/>`);
      }
    }
    // Legends where the curves are not: top right for the falling loss, bottom right for the rising accuracies.
    const ly = logScale ? top + 12 + 14 * i : top + plotH - 8 - 14 * (series.length - 1 - i);
    const lx = x0 + left + plotW - 120;
    out.push(`<line x1="${lx}" x2="${lx + 14}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<text class="legend" x="${lx + 18}" y="${ly}">${escapeXml(s.label)}</text>`);
  });
  return out.join('\n');
}

/** About five round step values in (0, max]: whole steps, so a run of under 5 steps marks each once. */
function niceTicks(max: number): number[] {
  const rough = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? rough);
  const ticks: number[] = [];
  for (let t = step; t <= max + 1e-9; t += step) ticks.push(Math.round(t));
  return ticks;
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}
