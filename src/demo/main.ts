/**
 * The demo (index.html loads it after tf.min.js, tf-backend-wasm.min.js and tfjs-attention.min.js):
 * pick a shipped model or open your own (a `.keras`/`.h5` file or a model folder, chosen or
 * dropped), give it an input, and see its answer and every attention layer's maps (weights or
 * value-weighted, with the value norms under the columns); click a head to switch it off and see
 * the answer change. A seq2seq model of this library (with its task.json) takes text and decodes;
 * any other model takes token ids or floats (a random sample, or JSON) and predicts. A shipped
 * model can be saved to IndexedDB and loaded back from it.
 *
 * URL parameters, for links and tests: `model` (a name from models/index.json), `input`,
 * `backend` (webgl | wasm | cpu; default: the best available), `seed` (of random examples).
 */
import * as tf from '@tensorflow/tfjs';
import type { AttentionExplanation, AttentionKind, AttentionStudy, Seq2Seq } from '../browser';
import { backendNote, element, library, wasmSetPaths } from './globals';
import {
  type InputSpec,
  inputSpecs,
  type Nested,
  parseSample,
  randomSample,
  sampleText,
  summarizeOutput,
} from './inputs';
import { headKey, type KindTitle, type LabelledCall, type MapView, renderMaps } from './maps';
import { filesFromDrop, type OpenedModel, openFiles } from './open_model';

/** One entry of models/index.json (written by the demo server from models/<name>/task.json). */
interface ModelEntry {
  name: string;
  task?: string;
  heldOutExactMatch?: number;
  /** The folder's study file, when it has one. */
  study?: string;
}

/** Used when the server gives no models/index.json (e.g. the demo on a plain static host). */
const FALLBACK_MODELS: ModelEntry[] = ['copy', 'reverse', 'sort', 'addition'].map((name) => ({ name }));

/** The model select's entry for a model the user opened. */
const OPENED = '(opened)';

const api = library();
const params = new URLSearchParams(location.search);

const ui = {
  backend: element<HTMLElement>('backend'),
  model: element<HTMLSelectElement>('model'),
  openFiles: element<HTMLInputElement>('open-files'),
  openFolder: element<HTMLInputElement>('open-folder'),
  modelInfo: element<HTMLElement>('model-info'),
  seq2seqInput: element<HTMLElement>('seq2seq-input'),
  form: element<HTMLFormElement>('decode-form'),
  source: element<HTMLInputElement>('source'),
  decode: element<HTMLButtonElement>('decode'),
  random: element<HTMLButtonElement>('random'),
  inputHint: element<HTMLElement>('input-hint'),
  tensorInput: element<HTMLElement>('tensor-input'),
  tensorFields: element<HTMLElement>('tensor-fields'),
  run: element<HTMLButtonElement>('run'),
  sample: element<HTMLButtonElement>('sample'),
  output: element<HTMLElement>('output'),
  expectedRow: element<HTMLElement>('expected-row'),
  expected: element<HTMLElement>('expected'),
  verdict: element<HTMLElement>('verdict'),
  ablation: element<HTMLElement>('ablation'),
  ablationText: element<HTMLElement>('ablation-text'),
  headsOn: element<HTMLButtonElement>('heads-on'),
  error: element<HTMLElement>('error'),
  status: element<HTMLElement>('status'),
  store: element<HTMLElement>('store'),
  save: element<HTMLButtonElement>('save'),
  load: element<HTMLButtonElement>('load'),
  storeStatus: element<HTMLElement>('store-status'),
  norms: element<HTMLInputElement>('show-norms'),
  legendLow: element<HTMLElement>('legend-low'),
  legendHigh: element<HTMLElement>('legend-high'),
  legendText: element<HTMLElement>('legend-text'),
  heatmaps: element<HTMLElement>('heatmaps'),
  hoverInfo: element<HTMLElement>('hover-info'),
  dropOverlay: element<HTMLElement>('drop-overlay'),
};

/** The model in use: a seq2seq model of this library, or any other model. */
type Current =
  | { kind: 'seq2seq'; name: string; origin: string; model: Seq2Seq; study: AttentionStudy | null }
  | {
      kind: 'model';
      name: string;
      origin: string;
      model: tf.LayersModel;
      study: AttentionStudy | null;
      specs: InputSpec[];
      /** The sample each input gets, as the page shows it. */
      samples: Nested[];
    };

const state: {
  current: Current | null;
  seed: number;
  busy: boolean;
  /** Heads switched off, as `headKey(path, head)`. */
  off: Set<string>;
  /** Each attention path's number of heads, from the last pass. */
  heads: Map<string, number>;
  view: MapView;
  /** The last pass's maps, redrawn when the view changes. */
  calls: LabelledCall[];
} = {
  current: null,
  seed: parseSeed(params.get('seed')),
  busy: false,
  off: new Set(),
  heads: new Map(),
  view: 'weights',
  calls: [],
};

function parseSeed(text: string | null): number {
  const n = Number(text);
  return text !== null && Number.isInteger(n) && n >= 0 && n < 2 ** 32 ? n : Math.floor(Math.random() * 2 ** 32);
}

/** The next seeded random generator (each random example or sample takes the next seed). */
function nextRandom(): InstanceType<typeof api.tasks.Random> {
  const rng = new api.tasks.Random(state.seed);
  state.seed = (state.seed + 1) % 2 ** 32;
  return rng;
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
  const controls = [ui.model, ui.openFiles, ui.openFolder, ui.source, ui.decode, ui.random, ui.run, ui.sample];
  for (const control of [...controls, ui.save, ui.headsOn]) control.disabled = busy;
  for (const field of Array.from(ui.tensorFields.querySelectorAll('textarea'))) field.disabled = busy;
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

/** Makes `next` the model in use: frees the previous one, switches every head back on, shows its inputs. */
function useModel(next: Current): void {
  const previous = state.current;
  if (previous !== null) {
    const old = previous.kind === 'seq2seq' ? previous.model.model : previous.model;
    const fresh = next.kind === 'seq2seq' ? next.model.model : next.model;
    if (old !== fresh) old.dispose();
  }
  state.current = next;
  state.off.clear();
  state.calls = [];
  const seq2seq = next.kind === 'seq2seq';
  ui.seq2seqInput.hidden = !seq2seq;
  ui.tensorInput.hidden = seq2seq;
  ui.store.hidden = !seq2seq;
  ui.expectedRow.hidden = !seq2seq;
  ui.verdict.hidden = !seq2seq;
  const studied =
    next.study === null
      ? ''
      : `; under each head, the study's held-out exact match without it and with its values → mean ` +
        `(${(next.study.baseline.exactMatch * 100).toFixed(1)}% with every head)`;
  if (next.kind === 'seq2seq') {
    const info = next.model.info;
    const exact = info.metrics?.heldOutExactMatch;
    ui.modelInfo.textContent =
      `${info.task.name}, ${next.model.model.countParams().toLocaleString('en')} parameters, ` +
      `${info.config.numEncoderLayers}+${info.config.numDecoderLayers} layers, ${info.config.numHeads} heads` +
      (typeof exact === 'number' ? `, held-out exact match ${(exact * 100).toFixed(1)}%` : '') +
      `${studied} — loaded from ${next.origin}`;
    ui.inputHint.textContent = inputHint(next.model);
  } else {
    const inputs = next.specs.map(describeSpec).join('; ');
    ui.modelInfo.textContent =
      `${next.name}: ${next.model.countParams().toLocaleString('en')} parameters; inputs: ${inputs}${studied} — ` +
      `loaded from ${next.origin}`;
    drawTensorFields(next);
  }
}

function describeSpec(spec: InputSpec): string {
  const shape = `[${spec.shape.join(', ')}]`;
  if (spec.kind === 'tokens') return `${spec.name} ${shape}, token ids below ${spec.vocabulary}`;
  if (spec.kind === 'mask') return `${spec.name} ${shape}, a mask (1 = may attend)`;
  return `${spec.name} ${shape}, ${spec.dtype}`;
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

/** The study of a shipped model, when its folder has one (the models index says so). */
async function fetchStudy(entry: ModelEntry | undefined): Promise<AttentionStudy | null> {
  if (entry?.study === undefined) return null;
  const url = `models/${encodeURIComponent(entry.name)}/${encodeURIComponent(entry.study)}`;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} could not be fetched (HTTP ${response.status})`);
  return api.checkStudy(await response.json(), url);
}

async function loadFromServer(entry: ModelEntry): Promise<void> {
  setStatus('busy', `Loading ${entry.name}…`);
  const url = new URL(`models/${encodeURIComponent(entry.name)}`, location.href);
  const model = await api.loadSeq2Seq(url.href);
  const study = await fetchStudy(entry).catch((error) => {
    model.dispose();
    throw error;
  });
  useModel({ kind: 'seq2seq', name: entry.name, origin: url.pathname, model, study });
}

/** Uses a model the user opened: a seq2seq model when it came with task.json, else any model. */
function useOpened(opened: OpenedModel): void {
  const origin = `your files (${opened.name})`;
  let option = ui.model.querySelector<HTMLOptionElement>(`option[value="${OPENED}"]`);
  if (option === null) {
    option = document.createElement('option');
    option.value = OPENED;
    ui.model.append(option);
  }
  option.textContent = `${opened.name} (opened)`;
  ui.model.value = OPENED;
  if (opened.info !== null) {
    let model: Seq2Seq;
    try {
      model = new api.Seq2Seq(opened.model, opened.info);
    } catch (error) {
      opened.model.dispose();
      throw error;
    }
    useModel({ kind: 'seq2seq', name: opened.name, origin, model, study: opened.study });
    return;
  }
  const specs = inputSpecs(opened.model);
  const rng = nextRandom();
  const samples = specs.map((spec) => randomSample(spec, rng));
  useModel({ kind: 'model', name: opened.name, origin, model: opened.model, study: opened.study, specs, samples });
}

async function openAndRun(files: File[]): Promise<void> {
  setStatus('busy', `Opening ${files.map((f) => f.name).join(', ')}…`);
  useOpened(await openFiles(api, files));
  await rerun();
}

// --- Running the model -----------------------------------------------------------------------

/** The heads switched off as head masks by attention path (H numbers each, 0 = off). */
function headMasks(): Record<string, number[]> {
  const masks: Record<string, number[]> = {};
  for (const key of state.off) {
    const cut = key.lastIndexOf('#');
    const path = key.slice(0, cut);
    const heads = state.heads.get(path);
    if (heads === undefined) continue;
    masks[path] ??= new Array(heads).fill(1);
    masks[path][Number(key.slice(cut + 1))] = 0;
  }
  return masks;
}

/** '`decoder_block_0/cross_attention` head 1, ...': the heads switched off, in words. */
function offHeads(): string {
  return [...state.off]
    .map((key) => {
      const cut = key.lastIndexOf('#');
      return `${key.slice(0, cut)} head ${Number(key.slice(cut + 1)) + 1}`;
    })
    .join(', ');
}

/** Runs the model again on the current input (after a head was switched, or a new model). */
async function rerun(): Promise<void> {
  const current = state.current;
  if (current === null) throw new Error('no model loaded');
  if (current.kind === 'seq2seq') await decodeText(ui.source.value || randomExample());
  else await runTensors();
}

/** Ids up to the first non-symbol (a model that has not learned EOS may emit PAD or BOS). */
function symbolPrefix(ids: number[], maxLength: number): number[] {
  const end = ids.findIndex((id) => id < api.tasks.FIRST_SYMBOL);
  return (end < 0 ? ids : ids.slice(0, end)).slice(0, maxLength);
}

async function decodeText(text: string): Promise<void> {
  const current = state.current;
  if (current?.kind !== 'seq2seq') throw new Error('no sequence-to-sequence model loaded');
  const model = current.model;
  ui.source.value = text;
  setStatus('busy', 'Decoding…');
  const source = model.stringToTokens(text);
  // The task's own check gives the clearest message (lengths, addition's form).
  model.task?.validateSource(source);
  const started = performance.now();
  const masks = headMasks();
  const [withEveryHead] = await model.generate([source]);
  const [output] = state.off.size === 0 ? [withEveryHead] : await model.generate([source], { headMasks: masks });
  const decodeMs = performance.now() - started;
  const expected = model.task ? model.task.solve(source) : null;
  const isRight = (ids: number[]) =>
    expected !== null && expected.length === ids.length && expected.every((id, i) => id === ids[i]);
  const shown = (ids: number[]) => model.tokensToString(ids) || '(empty)';

  ui.output.textContent = shown(output);
  ui.expected.textContent = expected === null ? '(unknown task)' : model.tokensToString(expected);
  ui.verdict.dataset.correct = expected === null ? '' : String(isRight(output));
  ui.verdict.textContent = expected === null ? '' : isRight(output) ? '✓ right' : '✗ wrong';
  const judged = (ids: number[]) => `${shown(ids)}${expected === null ? '' : isRight(ids) ? ' (right)' : ' (wrong)'}`;
  showAblation(judged(withEveryHead), judged(output), shown(withEveryHead) !== shown(output));

  const decoderInput = [api.tasks.BOS, ...symbolPrefix(output, model.maxTargetLength - 1)];
  const sourceTokens = source.map((id) => model.tokenName(id));
  const decoderTokens = decoderInput.map((id) => model.tokenName(id));
  const labels: Record<AttentionKind, [string[], string[]]> = {
    self: [sourceTokens, sourceTokens],
    causal: [decoderTokens, decoderTokens],
    cross: [decoderTokens, sourceTokens],
  };
  const inputs = [tf.tensor2d([source], undefined, 'int32'), tf.tensor2d([decoderInput], undefined, 'int32')];
  try {
    explain(current.model.model, inputs, masks, (call) => labels[call.kind]);
  } finally {
    tf.dispose(inputs);
  }
  setStatus('ready', `Decoded ${source.length} tokens in ${decodeMs.toFixed(0)} ms on ${tf.getBackend()}.`);
  if (current.origin.startsWith('/models/')) {
    const url = new URL(location.href);
    url.searchParams.set('model', current.name);
    url.searchParams.set('input', text);
    history.replaceState(null, '', url);
  }
}

/** The tensors of the current samples, batch 1 (the caller disposes them). */
function sampleTensors(current: Extract<Current, { kind: 'model' }>): tf.Tensor[] {
  return current.specs.map((spec, i) =>
    tf.tensor([current.samples[i]] as tf.TensorLike, [1, ...spec.shape], spec.dtype),
  );
}

async function runTensors(): Promise<void> {
  const current = state.current;
  if (current?.kind !== 'model') throw new Error('no model loaded');
  // What the fields say now, checked, is what runs.
  const fields = Array.from(ui.tensorFields.querySelectorAll<HTMLTextAreaElement>('textarea'));
  current.samples = current.specs.map((spec, i) => parseSample(spec, fields[i].value));
  setStatus('busy', 'Running…');
  const started = performance.now();
  const inputs = sampleTensors(current);
  try {
    const masks = headMasks();
    const summary = (headMasksNow: Record<string, number[]>) => {
      const outputs = api.predictWithHeadMasks(current.model, inputs, headMasksNow);
      const first = Array.isArray(outputs) ? outputs[0] : outputs;
      const result = summarizeOutput(Array.from(first.dataSync()), first.shape.slice(1));
      tf.dispose(outputs);
      return result;
    };
    const withEveryHead = summary({});
    const output = state.off.size === 0 ? withEveryHead : summary(masks);
    ui.output.textContent = output.text;
    showAblation(withEveryHead.text, output.text, withEveryHead.answer !== output.answer);
    // Every position labelled by its number.
    const positions = (n: number) => Array.from({ length: n }, (_x, i) => String(i + 1));
    explain(current.model, inputs, masks, (call) => [
      positions(call.weights[0][0].length),
      positions(call.weights[0][0][0].length),
    ]);
  } finally {
    tf.dispose(inputs);
  }
  setStatus('ready', `Ran in ${(performance.now() - started).toFixed(0)} ms on ${tf.getBackend()}.`);
}

/** Says which heads are off and whether the answer changed (hidden with every head on). */
function showAblation(withEveryHead: string, now: string, changed: boolean): void {
  ui.ablation.hidden = state.off.size === 0;
  ui.ablation.dataset.changed = state.off.size === 0 ? '' : String(changed);
  ui.ablationText.textContent =
    state.off.size === 0
      ? ''
      : `Switched off: ${offHeads()}. With every head: ${withEveryHead}; now: ${now}. ` +
        (changed ? 'The answer changed.' : 'The answer did not change.');
}

/** Explains one pass on `inputs` with the heads switched off, and draws its maps labelled by `labels`. */
function explain(
  model: tf.LayersModel,
  inputs: tf.Tensor[],
  masks: Record<string, number[]>,
  labels: (call: AttentionExplanation) => [string[], string[]],
): void {
  const calls = api.explainAttention(model, inputs, { headMasks: masks });
  for (const call of calls) state.heads.set(call.path.replace(/#\d+$/, ''), call.numHeads);
  state.calls = calls.map((call) => {
    const [rowLabels, columnLabels] = labels(call);
    return { call, rowLabels, columnLabels };
  });
  drawMaps();
}

// --- Maps ------------------------------------------------------------------------------------

const SEQ2SEQ_TITLES: Record<AttentionKind, KindTitle> = {
  self: { title: 'Encoder self-attention', axes: 'Rows and columns: the source tokens.' },
  causal: {
    title: 'Decoder self-attention',
    axes: 'Rows and columns: the decoder inputs (BOS, then the output so far); causal.',
  },
  cross: {
    title: 'Cross-attention',
    axes: 'Rows: the decoder inputs; columns: the source tokens, where the model looks to write the next token.',
  },
};

const MODEL_TITLES: Record<AttentionKind, KindTitle> = {
  self: { title: 'Self-attention', axes: 'Rows and columns: the positions of the sequence, numbered from 1.' },
  causal: { title: 'Causal self-attention', axes: 'Rows and columns: the positions of the sequence, from 1.' },
  cross: { title: 'Cross-attention', axes: 'Rows: the query positions; columns: the positions of the other input.' },
};

const LEGENDS: Record<MapView, string> = {
  weights: 'colour: the attention weight, from 0 to 1 (each row sums to 1)',
  'value-weighted':
    "colour: weight × value norm, from 0 to the section's brightest cell (its figure is above its maps)",
};

function drawMaps(): void {
  const current = state.current;
  if (current === null) return;
  ui.legendLow.textContent = '0';
  ui.legendHigh.textContent = state.view === 'weights' ? '1' : 'max';
  ui.legendText.textContent =
    LEGENDS[state.view] + (ui.norms.checked ? "; bars: each key's value norm, full = the section's largest" : '');
  renderMaps(ui.heatmaps, state.calls, {
    view: state.view,
    norms: ui.norms.checked,
    titles: current.kind === 'seq2seq' ? SEQ2SEQ_TITLES : MODEL_TITLES,
    off: state.off,
    study: current.study,
    onToggle: (path, head) =>
      void action(async () => {
        const key = headKey(path, head);
        if (!state.off.delete(key)) state.off.add(key);
        await rerun();
      }),
    onHover: (text) => {
      ui.hoverInfo.textContent = text ?? 'Point at a cell to read its weight, value norm and contribution.';
    },
  });
}

// --- Inputs of any model ---------------------------------------------------------------------

function drawTensorFields(current: Extract<Current, { kind: 'model' }>): void {
  ui.tensorFields.replaceChildren();
  current.specs.forEach((spec, i) => {
    const label = document.createElement('label');
    label.className = 'tensor-field';
    const name = document.createElement('span');
    name.textContent = `${describeSpec(spec)} (JSON; paste your own)`;
    const field = document.createElement('textarea');
    field.dataset.input = spec.name;
    field.dataset.dtype = spec.dtype;
    field.spellcheck = false;
    field.rows = Math.min(8, spec.shape.length > 1 ? spec.shape[0] + 2 : 2);
    field.value = sampleText(current.samples[i]);
    label.append(name, field);
    ui.tensorFields.append(label);
  });
}

function randomExample(): string {
  const current = state.current;
  if (current?.kind !== 'seq2seq' || current.model.task === null) {
    throw new Error('random examples need a model of a known task');
  }
  const task = current.model.task;
  return task.tokensToString(task.sampleSource(nextRandom()));
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
  const name = state.current?.kind === 'seq2seq' ? state.current.name : '';
  const stored = name !== '' && (await isStored(name));
  if (!state.busy && name === (state.current?.name ?? '')) ui.load.disabled = !stored;
}

/** Saves the current model, then loads the copy and checks that it decodes the input the same way. */
async function saveToStore(): Promise<void> {
  const current = state.current;
  if (current?.kind !== 'seq2seq') throw new Error('no sequence-to-sequence model loaded');
  const model = current.model;
  const url = storeUrl(current.name);
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
  setStatus('ready', `Saved ${current.name}.`);
}

async function loadFromStore(): Promise<void> {
  const current = state.current;
  if (current?.kind !== 'seq2seq') throw new Error('no sequence-to-sequence model loaded');
  const url = storeUrl(current.name);
  setStatus('busy', `Loading ${url}…`);
  const model = await api.loadSeq2Seq(url);
  useModel({ kind: 'seq2seq', name: current.name, origin: url, model, study: current.study });
  ui.storeStatus.dataset.result = 'loaded';
  ui.storeStatus.textContent = `Now using the model loaded from ${url}.`;
  await decodeText(ui.source.value);
}

// --- Start -----------------------------------------------------------------------------------

function listenForFiles(): void {
  for (const input of [ui.openFiles, ui.openFolder]) {
    input.addEventListener('change', () => {
      const files = Array.from(input.files ?? []);
      input.value = '';
      if (files.length > 0) void action(() => openAndRun(files));
    });
  }
  // The whole page takes a drop; the overlay says so while something is dragged over it.
  let depth = 0;
  const show = (shown: boolean) => {
    ui.dropOverlay.hidden = !shown;
  };
  document.addEventListener('dragenter', (event) => {
    event.preventDefault();
    depth++;
    show(true);
  });
  document.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) show(false);
  });
  document.addEventListener('dragover', (event) => event.preventDefault());
  document.addEventListener('drop', (event) => {
    event.preventDefault();
    depth = 0;
    show(false);
    const transfer = event.dataTransfer;
    if (transfer === null) return;
    // The entries must be read while the drop event runs; the files load after.
    const files = filesFromDrop(transfer);
    void action(async () => openAndRun(await files));
  });
}

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

  ui.model.addEventListener('change', () => {
    const entry = models.find((m) => m.name === ui.model.value);
    if (entry === undefined) return; // the opened model's own entry
    void action(async () => {
      await loadFromServer(entry);
      await decodeText(randomExample());
    });
  });
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    void action(() => decodeText(ui.source.value));
  });
  ui.random.addEventListener('click', () => action(() => decodeText(randomExample())));
  ui.run.addEventListener('click', () => action(runTensors));
  ui.sample.addEventListener('click', () =>
    action(async () => {
      const current = state.current;
      if (current?.kind !== 'model') return;
      const rng = nextRandom();
      current.samples = current.specs.map((spec) => randomSample(spec, rng));
      drawTensorFields(current);
      await runTensors();
    }),
  );
  ui.headsOn.addEventListener('click', () =>
    action(async () => {
      state.off.clear();
      await rerun();
    }),
  );
  for (const radio of Array.from(document.querySelectorAll<HTMLInputElement>('input[name="view"]'))) {
    radio.addEventListener('change', () => {
      state.view = radio.value as MapView;
      drawMaps();
    });
  }
  ui.norms.addEventListener('change', drawMaps);
  ui.save.addEventListener('click', () => action(saveToStore));
  ui.load.addEventListener('click', () => action(loadFromStore));
  listenForFiles();

  await action(async () => {
    await loadFromServer(first);
    await decodeText(params.get('input') ?? randomExample());
  });
}

start().catch(showError);
