/**
 * An ablation study (./study.ts) for people: `studySvg` draws it as one self-contained SVG (study.svg
 * beside the model, in the README), `studyTable` prints it as text.
 *
 * The SVG has three plots:
 * - bars per head, grouped by layer: the exact match with the head removed and with its values
 *   replaced by their mean, then one bar for the whole layer's values replaced by their mean,
 *   against a dashed line at the baseline;
 * - a heatmap layer x head of the loss with the head removed;
 * - a heatmap layer x head of the OV effective rank (and, smaller, before training).
 * Every bar and cell carries its figure in `data-*` attributes (`data-path`, `data-head`,
 * `data-value`, and `data-ablation` or `data-map`); each plot's group says where its scale puts 0
 * and 1 (`data-y0`, `data-y1` for the bars), so a test can read the drawing back and check it
 * against the study.
 */
import { escapeXml } from '../describe';
import type { AttentionStudy, LayerStudy, StudyScore } from './study';

/** The three ablations' colours: head removed, head's values -> mean, layer's values -> mean. */
export const ABLATION_COLORS = { removed: '#3b6fb6', meanValues: '#f0a030', layerMeanValues: '#8c8c8c' } as const;

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"';
const WIDTH = 920;
const BARS = { left: 56, top: 104, height: 190, right: 16 };
const HEAT = { cellWidth: 58, cellHeight: 24, labelWidth: 270, gap: 60 };

/** Colour at t in [0, 1] along `stops` (CSS hex colours), linearly in RGB. */
function ramp(stops: readonly string[], t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const [a, b] = [stops[i], stops[i + 1]].map((hex) => [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16)));
  const mixed = a.map((c, k) => Math.round(c + (x - i) * (b[k] - c)));
  return `#${mixed.map((c) => c.toString(16).padStart(2, '0')).join('')}`;
}

/** Light to dark red: low (harmless) to high (harmful) loss. */
const LOSS_STOPS = ['#fbf3ef', '#f4a582', '#d6604d', '#8e1a22'];
/** Dark to light blue: low (few directions) to full effective rank. */
const RANK_STOPS = ['#16336b', '#3f77b6', '#9ec5e3', '#eef5fb'];

/** The loss colour: log scale from the baseline loss (lightest) to the largest loss of the study (darkest). */
export function lossColor(loss: number, baseline: number, largest: number): string {
  const low = Math.log(Math.max(baseline, 1e-12));
  const high = Math.log(Math.max(largest, baseline * 1.0001, 1e-12));
  return ramp(LOSS_STOPS, (Math.log(Math.max(loss, 1e-12)) - low) / (high - low));
}

/** The effective-rank colour: V / 2 or less darkest, V lightest. */
export function rankColor(rank: number, valueDim: number): string {
  return ramp(RANK_STOPS, (2 * rank) / valueDim - 1);
}

/** Whether text on `fill` should be white (dark fill). */
function darkFill(fill: string): boolean {
  const [r, g, b] = [1, 3, 5].map((k) => parseInt(fill.slice(k, k + 2), 16));
  return 0.299 * r + 0.587 * g + 0.114 * b < 140;
}

/** 'decoder_block_1/cross_attention' -> ['decoder_block_1', 'cross_attention (cross)']. */
function layerLabel(layer: LayerStudy): [string, string] {
  const cut = layer.path.lastIndexOf('/');
  const [owner, name] = cut < 0 ? ['', layer.path] : [layer.path.slice(0, cut), layer.path.slice(cut + 1)];
  return [owner, `${name} (${layer.kind})`];
}

const fixed = (v: number, digits: number) => v.toFixed(digits);
/** An SVG text element at (x, y), its content escaped, with further attributes (font-size, text-anchor, ...). */
const text = (x: number | string, y: number, content: string, attributes = 'font-size="11"') =>
  `<text x="${x}" y="${y}" ${attributes}>${escapeXml(content)}</text>`;
/** 'seed 0x7e570001', or '' without a seed. */
const seedText = (about: AttentionStudy['about']) => (about.seed == null ? '' : `seed 0x${about.seed.toString(16)}`);
/** A loss as shown: 3 significant digits. */
const showLoss = (v: number) => Number(v.toPrecision(3)).toString();

/** The study as a standalone SVG (see the file comment). */
export function studySvg(study: AttentionStudy): string {
  const { about, baseline, layers } = study;
  const out: string[] = [];
  // --- Title ---------------------------------------------------------------------------------
  out.push(
    text(16, 24, `${about.model}: what each attention head is worth`, 'font-size="16" font-weight="600"'),
    text(
      16,
      44,
      `${about.data}, ${about.size} samples${about.seed == null ? '' : ` (${seedText(about)})`}, ${about.backend}; ` +
        `with every head: exact match ${fixed(baseline.exactMatch, 3)}, loss ${showLoss(baseline.loss)}`,
      'font-size="12" fill="#555"',
    ),
  );
  // --- Bars: exact match per head and per layer ------------------------------------------------
  const plotWidth = WIDTH - BARS.left - BARS.right;
  const y0 = BARS.top + BARS.height;
  const y1 = BARS.top;
  const y = (v: number) => y0 - v * BARS.height;
  out.push(
    text(16, 70, 'Exact match with one head switched off', 'font-size="13" font-weight="600"'),
    `<g class="bars" data-y0="${y0}" data-y1="${y1}">`,
  );
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    out.push(
      `<line x1="${BARS.left}" x2="${BARS.left + plotWidth}" y1="${y(tick)}" y2="${y(tick)}" stroke="#e4e4e4"/>`,
      text(BARS.left - 6, y(tick) + 4, String(tick), 'font-size="11" text-anchor="end"'),
    );
  }
  const slots = layers.map((layer) => layer.numHeads + 1);
  const slotWidth = plotWidth / (slots.reduce((a, b) => a + b, 0) + layers.length);
  const barWidth = Math.min(14, slotWidth * 0.36);
  let x = BARS.left + slotWidth / 2;
  const bar = (
    left: number,
    value: number,
    ablation: keyof typeof ABLATION_COLORS,
    layer: LayerStudy,
    head: number | null,
  ) =>
    `<rect class="bar" data-ablation="${ablation}" data-path="${escapeXml(layer.path)}" ` +
    `data-head="${head ?? 'all'}" data-value="${value}" x="${left.toFixed(1)}" y="${y(value).toFixed(2)}" ` +
    `width="${barWidth.toFixed(1)}" height="${(value * BARS.height).toFixed(2)}" fill="${ABLATION_COLORS[ablation]}"/>`;
  for (const layer of layers) {
    const groupLeft = x;
    layer.heads.forEach((head, h) => {
      const centre = x + slotWidth / 2;
      if (head.removed) out.push(bar(centre - barWidth - 0.5, head.removed.exactMatch, 'removed', layer, h));
      if (head.meanValues) out.push(bar(centre + 0.5, head.meanValues.exactMatch, 'meanValues', layer, h));
      out.push(text(centre.toFixed(1), y0 + 14, `h${h + 1}`, 'font-size="10" text-anchor="middle"'));
      x += slotWidth;
    });
    const centre = x + slotWidth / 2;
    if (layer.meanValues)
      out.push(bar(centre - barWidth / 2, layer.meanValues.exactMatch, 'layerMeanValues', layer, null));
    out.push(text(centre.toFixed(1), y0 + 14, 'all', 'font-size="10" text-anchor="middle"'));
    x += slotWidth;
    const middle = (groupLeft + x) / 2;
    layerLabel(layer).forEach((line, i) =>
      out.push(text(middle.toFixed(1), y0 + 30 + 13 * i, line, 'font-size="10.5" text-anchor="middle" fill="#333"')),
    );
    out.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${y1}" y2="${y0 + 4}" stroke="#ccc"/>`);
    x += slotWidth;
  }
  out.push(
    `<line class="baseline" x1="${BARS.left}" x2="${BARS.left + plotWidth}" y1="${y(baseline.exactMatch)}" ` +
      `y2="${y(baseline.exactMatch)}" stroke="#222" stroke-dasharray="5 3"/>`,
    `<line x1="${BARS.left}" x2="${BARS.left}" y1="${y1}" y2="${y0}" stroke="#888"/>`,
    `<line x1="${BARS.left}" x2="${BARS.left + plotWidth}" y1="${y0}" y2="${y0}" stroke="#888"/>`,
    '</g>',
  );
  const legend: Array<[string, string]> = [
    [ABLATION_COLORS.removed, 'head removed'],
    [ABLATION_COLORS.meanValues, "head's values replaced by their mean"],
    [ABLATION_COLORS.layerMeanValues, "every head's values replaced by their mean"],
    ['', 'every head (dashed)'],
  ];
  let lx = BARS.left;
  for (const [color, label] of legend) {
    out.push(
      color === ''
        ? `<line x1="${lx}" x2="${lx + 14}" y1="84" y2="84" stroke="#222" stroke-dasharray="5 3"/>`
        : `<rect x="${lx}" y="78" width="12" height="12" fill="${color}"/>`,
      text(lx + 17, 88, label),
    );
    lx += 30 + label.length * 6.2;
  }
  // --- Heatmaps: loss with the head removed, OV effective rank ---------------------------------
  const heatTop = y0 + 90;
  const maxHeads = Math.max(...layers.map((l) => l.numHeads));
  const largestLoss = Math.max(
    baseline.loss,
    ...layers.flatMap((l) => l.heads.map((h) => h.removed?.loss ?? baseline.loss)),
  );
  const lossLeft = 16 + HEAT.labelWidth;
  const rankLeft = lossLeft + maxHeads * HEAT.cellWidth + HEAT.gap;
  out.push(
    text(lossLeft, heatTop - 26, 'Loss with the head removed', 'font-size="13" font-weight="600"'),
    text(
      lossLeft,
      heatTop - 10,
      `colour: log scale, ${showLoss(baseline.loss)} (every head) to ${showLoss(largestLoss)}`,
      'font-size="11" fill="#555"',
    ),
    text(rankLeft, heatTop - 26, 'OV effective rank of W_V W_O', 'font-size="13" font-weight="600"'),
    text(
      rankLeft,
      heatTop - 10,
      `at most V = ${layers[0]?.valueDim ?? 0} (lightest); small: before training`,
      'font-size="11" fill="#555"',
    ),
  );
  /** One heatmap cell of head h of `layer` in the row at `top`: its rectangle, with its figure and data. */
  const cell =
    (layer: LayerStudy, h: number, top: number) =>
    (map: string, left: number, value: number, fill: string, label: string, note?: string) => {
      const x = left + h * HEAT.cellWidth;
      const color = darkFill(fill) ? '#fff' : '#111';
      return (
        `<rect class="cell" data-map="${map}" data-path="${escapeXml(layer.path)}" data-head="${h}" ` +
        `data-value="${value}" ` +
        `x="${x}" y="${top}" width="${HEAT.cellWidth - 2}" height="${HEAT.cellHeight - 2}" fill="${fill}"/>` +
        `<text x="${x + HEAT.cellWidth / 2 - 1}" y="${top + 15}" font-size="11" text-anchor="middle" ` +
        `fill="${color}">${label}` +
        (note == null ? '' : `<tspan font-size="9" fill="${darkFill(fill) ? '#dde' : '#777'}"> ${note}</tspan>`) +
        '</text>'
      );
    };
  out.push(`<g class="heatmaps">`);
  for (let h = 0; h < maxHeads; h++) {
    for (const left of [lossLeft, rankLeft]) {
      out.push(
        text(left + (h + 0.5) * HEAT.cellWidth - 1, heatTop, `h${h + 1}`, 'font-size="10" text-anchor="middle"'),
      );
    }
  }
  layers.forEach((layer, row) => {
    const top = heatTop + 6 + row * HEAT.cellHeight;
    out.push(text(lossLeft - 8, top + 15, `${layer.path} (${layer.kind})`, 'font-size="11" text-anchor="end"'));
    layer.heads.forEach((head, h) => {
      const at = cell(layer, h, top);
      if (head.removed) {
        const loss = head.removed.loss;
        out.push(at('loss-removed', lossLeft, loss, lossColor(loss, baseline.loss, largestLoss), showLoss(loss)));
      }
      const rank = head.ov.effectiveRank;
      const before = head.initialOv == null ? undefined : fixed(head.initialOv.effectiveRank, 1);
      out.push(at('ov-rank', rankLeft, rank, rankColor(rank, layer.valueDim), fixed(rank, 1), before));
    });
  });
  out.push('</g>');
  const footnote = heatTop + 6 + layers.length * HEAT.cellHeight + 20;
  [
    'Values replaced by their mean: every key sends the mean of the value vectors its query may attend to, so the',
    'head adds the same whatever it attends to: nothing specific to any key. OV: W_V^h W_O^h, what a head can carry.',
  ].forEach((line, i) => out.push(text(16, footnote + 15 * i, line, 'font-size="11" fill="#555"')));
  const height = footnote + 26;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" ` +
      `viewBox="0 0 ${WIDTH} ${height}" ${FONT}>`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}

/** The study as a text table, one row per head, for a terminal. */
export function studyTable(study: AttentionStudy): string {
  const { about, baseline, layers } = study;
  const score = (s: StudyScore | null) => (s == null ? '-' : `${fixed(s.exactMatch, 4)} (${fixed(s.loss, 4)})`);
  const width = Math.max(5, ...layers.map((l) => `${l.path} (${l.kind})`.length));
  const columns = ['layer'.padEnd(width), 'head', 'removed'.padEnd(16), 'values -> mean'.padEnd(16), 'OV rank'];
  const lines = [
    `${about.model}: ${about.data}, ${about.size} samples${about.seed == null ? '' : `, ${seedText(about)}`}, ` +
      `backend ${about.backend}`,
    `every head: exact match ${fixed(baseline.exactMatch, 4)}, loss ${fixed(baseline.loss, 4)}`,
    '',
    'exact match (loss) with one head removed, with its values replaced by their mean; ' +
      'OV effective rank (before training)',
    columns.join('  '),
  ];
  for (const layer of layers) {
    const name = `${layer.path} (${layer.kind})`;
    layer.heads.forEach((head, h) => {
      const before = head.initialOv == null ? '' : ` (${fixed(head.initialOv.effectiveRank, 1)})`;
      const rank = `${fixed(head.ov.effectiveRank, 1)}${before} of ${layer.valueDim}`;
      lines.push(
        [
          (h === 0 ? name : '').padEnd(width),
          String(h + 1).padEnd(4),
          score(head.removed).padEnd(16),
          score(head.meanValues).padEnd(16),
          rank,
        ].join('  '),
      );
    });
    lines.push([''.padEnd(width), 'all '.padEnd(4), ''.padEnd(16), score(layer.meanValues)].join('  '));
  }
  return lines.join('\n');
}
