/**
 * The attention-heatmap demo (index.html loads it after tf.min.js, tf-backend-wasm.min.js and
 * tfjs-attention.min.js). Pick a shipped model, type a sequence or draw a random one, and see the
 * decoded output, whether it is right (the task's own solution), and every attention map:
 * encoder self-attention, decoder self-attention and cross-attention, per layer and head.
 * The model can be saved to IndexedDB and loaded back from it.
 *
 * URL parameters, for links and tests: `model` (a name from models/index.json), `input`,
 * `backend` (webgl | wasm | cpu; default: the best available), `seed` (of "random example").
 */
import * as tf from '@tensorflow/tfjs';
import type { LabelledAttentionMaps, Seq2Seq } from '../browser';
import { backendNote, element, library, wasmSetPaths } from './globals';
import { cellAt, drawHeatmap, tokenLabel } from './heatmap';

/** One entry of models/index.json (written by the demo server from models/<name>/task.json). */
interface ModelEntry {
  name: string;
  task?: string;
  heldOutExactMatch?: number;
}

/** Used when the server gives no models/index.json (e.g. the demo on a plain static host). */
const FALLBACK_MODELS: ModelEntry[] = ['copy', 'reverse', 'sort', 'addition'].map((name) => ({ name }));

const api = library();
const params = new URLSearchParams(location.search);

const ui = {
  backend: element<HTMLElement>('backend'),
  model: element<HTMLSelectElement>('model'),
  modelInfo: element<HTMLElement>('model-info'),
  form: element<HTMLFormElement>('decode-form'),
  source: element<HTMLInputElement>('source'),
  decode: element<HTMLButtonElement>('decode'),
  random: element<HTMLButtonElement>('random'),
  inputHint: element<HTMLElement>('input-hint'),
  output: element<HTMLElement>('output'),
  expected: element<HTMLElement>('expected'),
  verdict: element<HTMLElement>('verdict'),
  error: element<HTMLElement>('error'),
  status: element<HTMLElement>('status'),
  save: element<HTMLButtonElement>('save'),
  load: element<HTMLButtonElement>('load'),
  storeStatus: element<HTMLElement>('store-status'),
  heatmaps: element<HTMLElement>('heatmaps'),
  hoverInfo: element<HTMLElement>('hover-info'),
};

/** What is on screen: the model in use (from the server or from IndexedDB) and the last decode. */
const state: {
  name: string;
  model: Seq2Seq | null;
  origin: string;
  seed: number;
  busy: boolean;
} = {
  name: '',
  model: null,
  origin: '',
  seed: parseSeed(params.get('seed')),
  busy: false,
};

function parseSeed(text: string | null): number {
  const n = Number(text);
  return text !== null && Number.isInteger(n) && n >= 0 && n < 2 ** 32 ? n : Math.floor(Math.random() * 2 ** 32);
}

/** The IndexedDB key a model is saved under. */
function storeUrl(name: string): string {
  return `indexeddb://tfjs-attention-demo-${name}`;
}

/** data-state on #status ('loading' | 'ready' | 'busy' | 'error') lets tests wait for the app. */
function setStatus(stateName: 'loading' | 'ready' | 'busy' | 'error', text: string): void {
  ui.status.dataset.state = stateName;
  ui.status.textContent = text;
}

function showError(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  ui.error.textContent = message;
  ui.error.hidden = false;
  setStatus('error', 'Something went wrong (see above).');
}

function clearError(): void {
  ui.error.hidden = true;
  ui.error.textContent = '';
}

function setBusy(busy: boolean): void {
  state.busy = busy;
  for (const control of [ui.model, ui.source, ui.decode, ui.random, ui.save]) control.disabled = busy;
  if (busy) ui.load.disabled = true;
  else void refreshLoadButton();
}

/** Runs one user action: controls disabled meanwhile, any error shown instead of thrown. */
async function action(work: () => Promise<void>): Promise<void> {
  if (state.busy) return;
  setBusy(true);
  clearError();
  try {
    await work();
  } catch (error) {
    showError(error);
  } finally {
    setBusy(false);
  }
}

// --- Backend ---------------------------------------------------------------------------------

async function startBackend(): Promise<string> {
  // The wasm backend fetches its .wasm binaries; the demo server serves them next to its script.
  wasmSetPaths()?.(new URL('vendor/tfjs-backend-wasm/', location.href).href);
  const choice = params.get('backend') ?? 'auto';
  const backend = await api.initBackend(choice);
  const note = backendNote(api, backend, choice);
  ui.backend.textContent = backend;
  ui.backend.title = note;
  ui.backend.insertAdjacentText('afterend', ` (${note})`);
  ui.backend.dataset.backend = backend;
  return backend;
}

// --- Models ----------------------------------------------------------------------------------

async function listModels(): Promise<ModelEntry[]> {
  try {
    const response = await fetch('models/index.json');
    if (!response.ok) return FALLBACK_MODELS;
    const index = (await response.json()) as { models?: ModelEntry[] };
    if (!Array.isArray(index.models)) return FALLBACK_MODELS;
    if (index.models.length === 0) {
      throw new Error(
        'This server has no trained models in models/. Train one (npm run train -- --task reverse) and reload.',
      );
    }
    return index.models;
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('This server')) throw error;
    return FALLBACK_MODELS;
  }
}

function useModel(name: string, model: Seq2Seq, origin: string): void {
  if (state.model !== null && state.model !== model) state.model.dispose();
  state.name = name;
  state.model = model;
  state.origin = origin;
  const info = model.info;
  const exact = info.metrics?.heldOutExactMatch;
  ui.modelInfo.textContent =
    `${info.task.name}, ${model.model.countParams().toLocaleString('en')} parameters, ` +
    `${info.config.numEncoderLayers}+${info.config.numDecoderLayers} layers, ${info.config.numHeads} heads` +
    (typeof exact === 'number' ? `, held-out exact match ${(exact * 100).toFixed(1)}%` : '') +
    ` — loaded from ${origin}`;
  ui.inputHint.textContent = inputHint(model);
}

function inputHint(model: Seq2Seq): string {
  const task = model.task;
  if (task === null) return `symbols: ${model.info.vocabulary.symbols.join(' ')}`;
  if (task.name === 'addition') {
    const example = task.tokensToString(task.sampleSource(new api.tasks.Random(1)));
    return `two numbers of up to ${task.options.digits} digits, e.g. ${example}`;
  }
  return `${task.options.minLen} to ${task.options.maxLen} of the symbols ${task.symbols.join('')}`;
}

async function loadFromServer(name: string): Promise<void> {
  setStatus('busy', `Loading ${name}…`);
  const url = new URL(`models/${encodeURIComponent(name)}`, location.href);
  useModel(name, await api.loadSeq2Seq(url.href), url.pathname);
}

// --- Decoding and heatmaps -------------------------------------------------------------------

/** Ids up to the first non-symbol (a model that has not learned EOS may emit PAD or BOS). */
function symbolPrefix(ids: number[], maxLength: number): number[] {
  const end = ids.findIndex((id) => id < api.tasks.FIRST_SYMBOL);
  return (end < 0 ? ids : ids.slice(0, end)).slice(0, maxLength);
}

async function decodeText(text: string): Promise<void> {
  const model = state.model;
  if (model === null) throw new Error('no model loaded');
  setStatus('busy', 'Decoding…');
  const source = model.stringToTokens(text);
  // The task's own check gives the clearest message (lengths, addition's form).
  model.task?.validateSource(source);
  const started = performance.now();
  const [output] = await model.generate([source]);
  const decodeMs = performance.now() - started;
  const expected = model.task ? model.task.solve(source) : null;
  const correct = expected !== null && expected.length === output.length && expected.every((id, i) => id === output[i]);

  ui.output.textContent = model.tokensToString(output) || '(empty)';
  ui.expected.textContent = expected === null ? '(unknown task)' : model.tokensToString(expected);
  ui.verdict.dataset.correct = expected === null ? '' : String(correct);
  ui.verdict.textContent = expected === null ? '' : correct ? '✓ right' : '✗ wrong';

  const target = symbolPrefix(output, model.maxTargetLength - 1);
  const maps = await model.attention(source, target);
  renderHeatmaps(maps);
  setStatus('ready', `Decoded ${source.length} tokens in ${decodeMs.toFixed(0)} ms on ${tf.getBackend()}.`);
  const url = new URL(location.href);
  url.searchParams.set('model', state.name);
  url.searchParams.set('input', text);
  history.replaceState(null, '', url);
}

function randomExample(): string {
  const model = state.model;
  if (model === null || model.task === null) throw new Error('random examples need a model of a known task');
  const rng = new api.tasks.Random(state.seed);
  state.seed = (state.seed + 1) % 2 ** 32;
  return model.task.tokensToString(model.task.sampleSource(rng));
}

const KINDS = [
  {
    key: 'encoderSelf' as const,
    id: 'encoder-self',
    title: 'Encoder self-attention',
    about: 'Each source token (row) attends to every source token (column).',
  },
  {
    key: 'decoderSelf' as const,
    id: 'decoder-self',
    title: 'Decoder self-attention',
    about: 'Each decoder input (row; BOS, then the output so far) attends to itself and earlier ones (causal).',
  },
  {
    key: 'cross' as const,
    id: 'cross',
    title: 'Cross-attention',
    about:
      'Each decoder input (row) attends to the encoded source tokens (column): ' +
      'where the model looks to write the next token.',
  },
];

/** What a section's maps show: the attention weights, or the value-weighted contributions. */
type MapView = 'weights' | 'value-weighted';

const VALUE_WEIGHTED_ABOUT =
  'Value-weighted: each cell is the weight times the length of what that key sends through the ' +
  "head's value and output matrices (Kobayashi et al. 2020), scaled to the largest cell of this " +
  'section, so a head that attends strongly to a position it carries almost nothing from stays dark.';

function renderHeatmaps(maps: LabelledAttentionMaps): void {
  for (const old of Array.from(ui.heatmaps.querySelectorAll('.kind'))) old.remove();
  for (const kind of KINDS) {
    const section = document.createElement('div');
    section.className = 'kind';
    section.id = kind.id;
    section.innerHTML =
      '<h2></h2><p class="muted about"></p>' +
      '<p class="view" role="radiogroup" aria-label="What the maps show">' +
      '<label><input type="radio" value="weights" checked> attention weights</label> ' +
      '<label><input type="radio" value="value-weighted"> value-weighted</label></p>' +
      '<p class="muted view-about"></p><div class="layers"></div>';
    section.querySelector('h2')!.textContent = kind.title;
    section.querySelector('.about')!.textContent = kind.about;
    const group = `view-${kind.id}`;
    for (const input of Array.from(section.querySelectorAll<HTMLInputElement>('.view input'))) {
      input.name = group;
      input.addEventListener('change', () => drawKind(section, kind, maps, input.value as MapView));
    }
    ui.heatmaps.append(section);
    drawKind(section, kind, maps, 'weights');
  }
}

/** Draws one section's maps (every layer and head) in the given view. */
function drawKind(
  section: HTMLElement,
  kind: (typeof KINDS)[number],
  maps: LabelledAttentionMaps,
  view: MapView,
): void {
  section.dataset.view = view;
  section.querySelector('.view-about')!.textContent = view === 'value-weighted' ? VALUE_WEIGHTED_ABOUT : '';
  const container = section.querySelector('.layers')!;
  container.replaceChildren();
  const rowLabels = kind.key === 'encoderSelf' ? maps.sourceTokens : maps.decoderTokens;
  const columnLabels = kind.key === 'decoderSelf' ? maps.decoderTokens : maps.sourceTokens;
  const weightsOf = maps[kind.key];
  const contributionsOf = maps.contributions[kind.key];
  // One scale for the whole section, so that heads and layers compare.
  const largest = Math.max(1e-12, ...contributionsOf.flat(3));
  weightsOf.forEach((heads, layer) => {
    const heading = document.createElement('h3');
    heading.textContent = `layer ${layer + 1}`;
    const row = document.createElement('div');
    row.className = 'layer';
    const importance = maps.headImportance[kind.key][layer];
    const top = importance.indexOf(Math.max(...importance));
    heads.forEach((weights, head) => {
      const figure = document.createElement('figure');
      const canvas = document.createElement('canvas');
      canvas.className = 'heatmap';
      canvas.dataset.kind = kind.id;
      canvas.dataset.layer = String(layer);
      canvas.dataset.head = String(head);
      canvas.dataset.view = view;
      const contributions = contributionsOf[layer][head];
      const shown = view === 'weights' ? weights : contributions.map((r) => r.map((c) => c / largest));
      const layout = drawHeatmap(canvas, { weights: shown, rowLabels, columnLabels });
      // The cell grid in CSS pixels and the scale of the value-weighted view, for tests and tools.
      canvas.dataset.grid = JSON.stringify(layout);
      canvas.dataset.scale = String(view === 'weights' ? 1 : largest);
      canvas.setAttribute(
        'aria-label',
        `${kind.title}, layer ${layer + 1}, head ${head + 1} (${view}): ${rowLabels.length} by ${columnLabels.length}`,
      );
      canvas.addEventListener('mousemove', (event) => {
        const cell = cellAt(layout, event.offsetX, event.offsetY);
        if (!cell) {
          ui.hoverInfo.textContent = 'rows: queries, columns: keys; point at a cell';
          return;
        }
        const norm = maps.valueNorms[kind.key][layer][head][cell.column];
        ui.hoverInfo.textContent =
          `${kind.title}, layer ${layer + 1}, head ${head + 1}: ` +
          `${tokenLabel(rowLabels[cell.row])} (row ${cell.row + 1}) → ${tokenLabel(columnLabels[cell.column])} ` +
          `(column ${cell.column + 1}): weight ${weights[cell.row][cell.column].toFixed(3)}, ` +
          `value norm ${norm.toFixed(3)}, contribution ${contributions[cell.row][cell.column].toFixed(3)}`;
      });
      const caption = document.createElement('figcaption');
      caption.textContent = `head ${head + 1} · importance ${importance[head].toFixed(2)}${head === top ? ' ★' : ''}`;
      caption.title = "the mean length of the head's share of this layer's output";
      if (head === top) caption.className = 'top-head';
      figure.append(canvas, caption);
      row.append(figure);
    });
    container.append(heading, row);
  });
}

// --- IndexedDB -------------------------------------------------------------------------------

async function isStored(name: string): Promise<boolean> {
  try {
    return storeUrl(name) in (await tf.io.listModels());
  } catch {
    return false; // no IndexedDB (e.g. a private window in some browsers)
  }
}

async function refreshLoadButton(): Promise<void> {
  const name = state.name;
  const stored = name !== '' && (await isStored(name));
  if (!state.busy && name === state.name) ui.load.disabled = !stored;
}

/** Saves the current model, then loads the copy and checks that it decodes the input the same way. */
async function saveToStore(): Promise<void> {
  const model = state.model;
  if (model === null) throw new Error('no model loaded');
  const url = storeUrl(state.name);
  setStatus('busy', `Saving to ${url}…`);
  const result = await model.save(url);
  const bytes = result.modelArtifactsInfo?.weightDataBytes ?? 0;
  const source = model.stringToTokens(ui.source.value);
  const copy = await api.loadSeq2Seq(url);
  try {
    const [original] = await model.generate([source]);
    const [reloaded] = await copy.generate([source]);
    const same = original.length === reloaded.length && original.every((id, i) => id === reloaded[i]);
    ui.storeStatus.dataset.result = same ? 'same' : 'different';
    ui.storeStatus.textContent =
      `Saved to ${url} (${(bytes / 1024).toFixed(1)} KiB of weights) and loaded it back: the copy decodes ` +
      `${model.tokensToString(source)} to ${copy.tokensToString(reloaded)}, ` +
      (same ? 'the same as the original.' : `but the original gives ${model.tokensToString(original)}!`);
  } finally {
    copy.dispose();
  }
  setStatus('ready', `Saved ${state.name}.`);
}

async function loadFromStore(): Promise<void> {
  const url = storeUrl(state.name);
  setStatus('busy', `Loading ${url}…`);
  useModel(state.name, await api.loadSeq2Seq(url), url);
  ui.storeStatus.dataset.result = 'loaded';
  ui.storeStatus.textContent = `Now using the model loaded from ${url}.`;
  await decodeText(ui.source.value);
}

// --- Start -----------------------------------------------------------------------------------

async function start(): Promise<void> {
  setStatus('loading', 'Starting TensorFlow.js…');
  await startBackend();
  const models = await listModels();
  for (const entry of models) {
    const option = document.createElement('option');
    option.value = entry.name;
    const exact =
      typeof entry.heldOutExactMatch === 'number' ? ` (${(entry.heldOutExactMatch * 100).toFixed(1)}% exact)` : '';
    option.textContent = `${entry.name}${exact}`;
    ui.model.append(option);
  }
  const wanted = params.get('model');
  const first = models.find((m) => m.name === wanted) ?? models.find((m) => m.name === 'reverse') ?? models[0];
  ui.model.value = first.name;

  ui.model.addEventListener('change', () =>
    action(async () => {
      await loadFromServer(ui.model.value);
      ui.source.value = randomExample();
      await decodeText(ui.source.value);
    }),
  );
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    void action(() => decodeText(ui.source.value));
  });
  ui.random.addEventListener('click', () =>
    action(async () => {
      ui.source.value = randomExample();
      await decodeText(ui.source.value);
    }),
  );
  ui.save.addEventListener('click', () => action(saveToStore));
  ui.load.addEventListener('click', () => action(loadFromStore));

  await action(async () => {
    await loadFromServer(first.name);
    ui.source.value = params.get('input') ?? randomExample();
    await decodeText(ui.source.value);
  });
}

start().catch(showError);
