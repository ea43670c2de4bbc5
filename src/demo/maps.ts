/**
 * The attention maps of one forward pass (`explainAttention`'s calls), drawn on the demo page: a
 * section per kind of attention (self, causal, cross), a row per attention layer, a map per head.
 * Each map shows the attention weights or the value-weighted contributions (one view for the
 * page), optionally with each key's value norm as a bar under its column, and switches its head
 * off or on when clicked. Where a study (`npm run study`) covers the layer, each head shows its
 * held-out exact match without it and with its values replaced by their mean.
 */
import type { AttentionExplanation, AttentionKind, AttentionStudy } from '../browser';
import { cellAt, drawHeatmap, tokenLabel } from './heatmap';

/** What the maps show: the attention weights, or the value-weighted contributions. */
export type MapView = 'weights' | 'value-weighted';

/** One attention call with the labels of its rows (queries) and columns (keys). */
export interface LabelledCall {
  call: AttentionExplanation;
  rowLabels: string[];
  columnLabels: string[];
}

/** A section's title and what its rows and columns are. */
export interface KindTitle {
  title: string;
  axes: string;
}

export interface MapsOptions {
  view: MapView;
  /** Draw each key's value norm as a bar under its column. */
  norms: boolean;
  titles: Record<AttentionKind, KindTitle>;
  /** The heads switched off, as `headKey(path, head)`. */
  off: ReadonlySet<string>;
  study: AttentionStudy | null;
  /** A head's map or switch was clicked. */
  onToggle: (path: string, head: number) => void;
  /** The pointer is over a cell (its description) or left the cells (null). */
  onHover: (text: string | null) => void;
}

/** The key of one head in the set of heads switched off. */
export function headKey(path: string, head: number): string {
  return `${path}#${head}`;
}

const KIND_ORDER: AttentionKind[] = ['self', 'causal', 'cross'];

/** Draws every call's maps into `container` (replacing what was there); batch row 0 of each call. */
export function renderMaps(container: HTMLElement, calls: LabelledCall[], options: MapsOptions): void {
  container.replaceChildren();
  if (calls.length === 0) {
    const none = document.createElement('p');
    none.className = 'no-attention';
    none.textContent = 'This model made no attention call (MultiHeadAttention) on this input: there is no map to show.';
    container.append(none);
    return;
  }
  for (const kind of KIND_ORDER) {
    const mine = calls.filter((c) => c.call.kind === kind);
    if (mine.length === 0) continue;
    // One scale per section, so that heads and layers compare.
    const largest = Math.max(1e-12, ...mine.flatMap((c) => c.call.contributions[0].flat(2)));
    const largestNorm = Math.max(1e-12, ...mine.flatMap((c) => c.call.valueNorms[0].flat()));
    const section = document.createElement('section');
    section.className = 'kind';
    section.id = `maps-${kind}`;
    section.dataset.kind = kind;
    section.dataset.view = options.view;
    const { title, axes } = options.titles[kind];
    const scale =
      (options.view === 'value-weighted' ? `brightest cell = weight × value norm ${largest.toFixed(3)}; ` : '') +
      (options.norms ? `full bar = value norm ${largestNorm.toFixed(3)}` : '');
    section.innerHTML = '<h2></h2><p class="muted axes"></p><p class="muted scale"></p>';
    section.querySelector('h2')!.textContent = title;
    section.querySelector('.axes')!.textContent = axes;
    section.querySelector('.scale')!.textContent = scale;
    mine.forEach((labelled, layer) => section.append(drawLayer(labelled, kind, layer, largest, largestNorm, options)));
    container.append(section);
  }
}

/** One attention layer: its path, then one figure per head. */
function drawLayer(
  { call, rowLabels, columnLabels }: LabelledCall,
  kind: AttentionKind,
  layer: number,
  largest: number,
  largestNorm: number,
  options: MapsOptions,
): HTMLElement {
  const wrapper = document.createElement('div');
  wrapper.className = 'attention-layer';
  wrapper.dataset.path = call.path;
  // A layer called twice shows twice ('path#2'); its head mask and study figures are the layer's.
  const path = call.path.replace(/#\d+$/, '');
  const studied = options.study?.layers.find((l) => l.path === path);
  const heading = document.createElement('h3');
  heading.textContent = call.path;
  const heads = document.createElement('div');
  heads.className = 'heads';
  const importance = call.importance[0];
  const top = importance.indexOf(Math.max(...importance));
  const { title } = options.titles[kind];
  for (let head = 0; head < call.numHeads; head++) {
    const weights = call.weights[0][head];
    const contributions = call.contributions[0][head];
    const norms = call.valueNorms[0][head];
    const off = options.off.has(headKey(path, head));
    const figure = document.createElement('figure');
    figure.className = `head${off ? ' off' : ''}`;
    figure.dataset.path = call.path;
    figure.dataset.head = String(head);
    const canvas = document.createElement('canvas');
    canvas.className = 'heatmap';
    Object.assign(canvas.dataset, {
      kind,
      layer: String(layer),
      head: String(head),
      path: call.path,
      view: options.view,
    });
    const shown = options.view === 'weights' ? weights : contributions.map((r) => r.map((c) => c / largest));
    const layout = drawHeatmap(canvas, {
      weights: shown,
      rowLabels,
      columnLabels,
      columnBars: options.norms ? norms.map((n) => n / largestNorm) : undefined,
    });
    // The cell grid in CSS pixels and the view's scales, for tests and tools.
    canvas.dataset.grid = JSON.stringify(layout);
    canvas.dataset.scale = String(options.view === 'weights' ? 1 : largest);
    canvas.dataset.normScale = String(largestNorm);
    canvas.setAttribute(
      'aria-label',
      `${title}, ${call.path}, head ${head + 1} (${options.view}${off ? ', switched off' : ''}): ` +
        `${rowLabels.length} by ${columnLabels.length}; click to switch the head ${off ? 'on' : 'off'}`,
    );
    canvas.addEventListener('mousemove', (event) => {
      const cell = cellAt(layout, event.offsetX, event.offsetY);
      options.onHover(
        cell === null
          ? null
          : `${title}, ${call.path}, head ${head + 1}: ${tokenLabel(rowLabels[cell.row])} (row ${cell.row + 1}) → ` +
              `${tokenLabel(columnLabels[cell.column])} (column ${cell.column + 1}): ` +
              `weight ${weights[cell.row][cell.column].toFixed(3)}, value norm ${norms[cell.column].toFixed(3)}, ` +
              `contribution ${contributions[cell.row][cell.column].toFixed(3)}`,
      );
    });
    canvas.addEventListener('mouseleave', () => options.onHover(null));
    canvas.addEventListener('click', () => options.onToggle(path, head));

    const caption = document.createElement('figcaption');
    const toggle = document.createElement('button');
    toggle.type = 'button';
    toggle.className = 'head-toggle';
    toggle.setAttribute('aria-pressed', String(!off));
    toggle.textContent = `head ${head + 1}${off ? ': off' : ''}`;
    toggle.title = off
      ? 'Switch this head back on'
      : "Switch this head off: its share of the layer's output is removed";
    toggle.addEventListener('click', () => options.onToggle(path, head));
    const share = document.createElement('span');
    share.className = head === top ? 'importance top-head' : 'importance';
    share.textContent = ` importance ${importance[head].toFixed(2)}${head === top ? ' ★' : ''}`;
    share.title = "the mean length of the head's share of this layer's output";
    caption.append(toggle, share);
    const figures = studied?.heads[head];
    if (figures?.removed && figures.meanValues && options.study) {
      const line = document.createElement('span');
      const drop = options.study.baseline.exactMatch - figures.removed.exactMatch;
      line.className = `study${drop > 0.1 ? ' matters' : ''}`;
      const [removed, meanValues] = [percent(figures.removed.exactMatch), percent(figures.meanValues.exactMatch)];
      line.textContent = `without: ${removed} · values → mean: ${meanValues}`;
      line.title =
        `held-out exact match (npm run study, ${options.study.about.size} samples): ` +
        `${percent(options.study.baseline.exactMatch)} with every head, ${percent(figures.removed.exactMatch)} ` +
        `without this one, ${percent(figures.meanValues.exactMatch)} with its values replaced by their mean`;
      caption.append(line);
    }
    figure.append(canvas, caption);
    heads.append(figure);
  }
  wrapper.append(heading, heads);
  return wrapper;
}

function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}
