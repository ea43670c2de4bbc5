/**
 * One attention map drawn on a canvas: a cell per (query, key) pair coloured by its weight, the
 * query tokens down the left and the key tokens along the top, and optionally a bar under each
 * column (the key's value norm). Plain canvas 2D, no library.
 */

/** One map: `weights[query][key]`, each row a probability distribution over the keys. */
export interface Heatmap {
  weights: number[][];
  /** One label per row (query position). */
  rowLabels: string[];
  /** One label per column (key position). */
  columnLabels: string[];
  /** One bar under each column, its height in [0, 1] of the strip (clamped). Default none. */
  columnBars?: number[];
}

/** Where the cells are, in CSS pixels, to map the mouse back to a cell. */
export interface HeatmapLayout {
  left: number;
  top: number;
  cell: number;
  rows: number;
  columns: number;
  /** Where the strip of column bars starts, and its height (0 without bars). */
  barsTop: number;
  barsHeight: number;
}

const LABEL_FONT = '11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';
const LABEL_COLOR = '#334';
/** The column bars: their colour, the strip's height and the gap above it, in CSS pixels. */
export const BAR_COLOR = 'rgb(214, 96, 77)';
const BARS_HEIGHT = 22;
const BARS_GAP = 4;

/**
 * Stops of matplotlib's viridis colormap (van der Walt & Smith, 2015): perceptually uniform and
 * readable in grey scale, so small and large weights stay distinguishable.
 */
const VIRIDIS: Array<[number, number, number]> = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

/** The colour of a weight in [0, 1] (clamped), as a CSS rgb() string. */
export function weightColor(weight: number): string {
  const w = Math.min(1, Math.max(0, Number.isFinite(weight) ? weight : 0));
  const x = w * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const t = x - i;
  const [r, g, b] = VIRIDIS[i].map((c, k) => Math.round(c + t * (VIRIDIS[i + 1][k] - c)));
  return `rgb(${r}, ${g}, ${b})`;
}

/** Short display form of a token: the specials become BOS/EOS/PAD so that a label fits a cell. */
export function tokenLabel(token: string): string {
  const special = /^<(bos|eos|pad)>$/.exec(token);
  return special ? special[1].toUpperCase() : token;
}

/**
 * Draws `map` on `canvas`, sizing the canvas to fit (sharp on high-density screens), and returns
 * the layout. Throws when the labels do not match the weights' shape.
 */
export function drawHeatmap(canvas: HTMLCanvasElement, map: Heatmap, cell = 20): HeatmapLayout {
  const rows = map.weights.length;
  const columns = rows > 0 ? map.weights[0].length : 0;
  if (map.rowLabels.length !== rows || map.columnLabels.length !== columns) {
    throw new Error(
      `drawHeatmap: ${rows}x${columns} weights need ${rows} row and ${columns} column labels, ` +
        `got ${map.rowLabels.length} and ${map.columnLabels.length}`,
    );
  }
  const context = canvas.getContext('2d');
  if (context === null) throw new Error('drawHeatmap: this browser gives no 2D canvas context');

  context.font = LABEL_FONT;
  const rowLabels = map.rowLabels.map(tokenLabel);
  const columnLabels = map.columnLabels.map(tokenLabel);
  const left = Math.ceil(Math.max(0, ...rowLabels.map((label) => context.measureText(label).width))) + 8;
  const top = 18;
  const bars = map.columnBars;
  if (bars !== undefined && bars.length !== columns) {
    throw new Error(`drawHeatmap: ${columns} columns need ${columns} column bars, got ${bars.length}`);
  }
  const barsTop = top + rows * cell + BARS_GAP;
  const barsHeight = bars === undefined ? 0 : BARS_HEIGHT;
  const width = left + columns * cell + 1;
  const height = top + rows * cell + 1 + (bars === undefined ? 0 : BARS_GAP + BARS_HEIGHT);

  const scale = globalThis.devicePixelRatio || 1;
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  context.setTransform(scale, 0, 0, scale, 0, 0);
  context.clearRect(0, 0, width, height);

  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) {
      context.fillStyle = weightColor(map.weights[r][c]);
      context.fillRect(left + c * cell, top + r * cell, cell, cell);
    }
  }

  if (bars !== undefined) {
    // A baseline under the strip, then each column's bar standing on it.
    context.fillStyle = '#c8ccd6';
    context.fillRect(left, barsTop + barsHeight - 1, columns * cell, 1);
    context.fillStyle = BAR_COLOR;
    bars.forEach((value, c) => {
      const h = Math.round(Math.min(1, Math.max(0, Number.isFinite(value) ? value : 0)) * (barsHeight - 1));
      context.fillRect(left + c * cell + 3, barsTop + barsHeight - 1 - h, cell - 6, h);
    });
  }

  context.font = LABEL_FONT;
  context.fillStyle = LABEL_COLOR;
  context.textBaseline = 'middle';
  context.textAlign = 'right';
  rowLabels.forEach((label, r) => context.fillText(label, left - 4, top + (r + 0.5) * cell));
  context.textAlign = 'center';
  context.textBaseline = 'alphabetic';
  columnLabels.forEach((label, c) => {
    // A label wider than its cell (BOS) is squeezed rather than overlapping its neighbours.
    context.fillText(label, left + (c + 0.5) * cell, top - 5, cell - 1);
  });
  return { left, top, cell, rows, columns, barsTop, barsHeight };
}

/** The (row, column) under a point in CSS pixels relative to the canvas, or null outside the cells. */
export function cellAt(layout: HeatmapLayout, x: number, y: number): { row: number; column: number } | null {
  const column = Math.floor((x - layout.left) / layout.cell);
  const row = Math.floor((y - layout.top) / layout.cell);
  if (row < 0 || column < 0 || row >= layout.rows || column >= layout.columns) return null;
  return { row, column };
}
