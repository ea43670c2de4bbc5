/**
 * Train in the browser (train.html loads it after tf.min.js, tf-backend-wasm.min.js and
 * tfjs-attention.min.js): pick a toy task and a model size, press Train, and watch the loss, the
 * held-out exact match and the cross-attention of a fixed example change as the model learns, with
 * the speed and the time left. It uses the library's own tasks, Trainer, default recipe,
 * evaluation and training chart (`trainingCurveSvg`, the plot `npm run train` writes), on the
 * backend chosen on the page: 'auto' is the library's choice, which takes wasm over a WebGL that
 * draws in software (SwiftShader), where webgl trains about 15 times slower. The loop yields to
 * the page after every step, so the page answers clicks while it trains; Stop ends it, and the
 * model then decodes your input, saves to IndexedDB and downloads as a tfjs model folder.
 *
 * URL parameters, for links and tests: `task`, `size` (tiny | reference), `steps`, `backend`
 * (the choice to start with), `seed` (of the training stream).
 */
import * as tf from '@tensorflow/tfjs';
import type { EvalLogEntry, LogEntry, Seq2Seq, tasks, TrainLogEntry } from '../browser';
import { backendNote, element, library, wasmSetPaths } from './globals';
import { drawHeatmap } from './heatmap';

const api = library();
const params = new URLSearchParams(location.search);

const ui = {
  backend: element<HTMLElement>('backend'),
  backendNote: element<HTMLElement>('backend-note'),
  backendChoice: element<HTMLSelectElement>('backend-choice'),
  task: element<HTMLSelectElement>('task'),
  size: element<HTMLSelectElement>('size'),
  steps: element<HTMLInputElement>('steps'),
  train: element<HTMLButtonElement>('train'),
  stop: element<HTMLButtonElement>('stop'),
  status: element<HTMLElement>('status'),
  progress: element<HTMLElement>('progress'),
  curve: element<HTMLElement>('curve'),
  decodeForm: element<HTMLFormElement>('decode-form'),
  source: element<HTMLInputElement>('source'),
  decode: element<HTMLButtonElement>('decode'),
  output: element<HTMLElement>('output'),
  save: element<HTMLButtonElement>('save'),
  download: element<HTMLButtonElement>('download'),
  saveStatus: element<HTMLElement>('save-status'),
  example: element<HTMLElement>('example'),
  exampleMaps: element<HTMLElement>('example-maps'),
};

const EVAL_EVERY = 25;
const EVAL_SAMPLES = 64;
/** Steps per second over this many of the last steps: recent enough to follow the page, steady enough to read. */
const SPEED_WINDOW = 20;

const state = {
  training: false,
  stopRequested: false,
  model: null as Seq2Seq | null,
  /** The run's log, as `npm run train` keeps it: a 'train' entry per step, an 'eval' entry per evaluation. */
  log: [] as LogEntry[],
};

function setStatus(text: string, phase: 'ready' | 'training' | 'done' | 'error'): void {
  ui.status.textContent = text;
  ui.status.dataset.phase = phase;
}

/**
 * Lets the browser handle input between training steps and, every tenth step, paint (a frame, or
 * at most 100 ms where the page gets none, e.g. in a background tab).
 */
function yieldToPage(step: number): Promise<void> {
  if (step % 10 !== 0) return new Promise((resolve) => setTimeout(resolve, 0));
  return new Promise((resolve) => {
    requestAnimationFrame(() => resolve());
    setTimeout(resolve, 100);
  });
}

/** The chart of the log so far (the library's `trainingCurveSvg`), and the losses behind it for tools. */
function drawCurve(title: string): void {
  ui.curve.innerHTML = api.trainingCurveSvg(state.log, title);
  const losses = state.log.filter((e): e is TrainLogEntry => e.type === 'train').map((e) => e.loss);
  ui.curve.dataset.losses = JSON.stringify(losses);
}

/** `12.5 steps/s, ETA 1m05s`: the speed over the last SPEED_WINDOW steps, and the time to the last step. */
function showProgress(times: number[], step: number, steps: number): void {
  if (times.length < 2) return;
  const perSecond = ((times.length - 1) * 1000) / (times[times.length - 1] - times[0]);
  const eta = (steps - step) / perSecond;
  ui.progress.textContent = `${perSecond.toFixed(1)} steps/s, ETA ${duration(eta)}`;
  ui.progress.dataset.stepsPerSecond = String(perSecond);
  ui.progress.dataset.etaSeconds = String(eta);
}

/** `42s`, `3m05s`. */
function duration(seconds: number): string {
  const s = Math.round(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** The fixed example's cross-attention, last decoder layer, one map per head. */
async function drawExample(model: Seq2Seq, source: number[], target: number[]): Promise<void> {
  const maps = await model.attention(source, target);
  const last = maps.cross[maps.cross.length - 1];
  ui.exampleMaps.replaceChildren();
  last.forEach((weights, head) => {
    const figure = document.createElement('figure');
    const canvas = document.createElement('canvas');
    canvas.className = 'heatmap';
    canvas.dataset.head = String(head);
    drawHeatmap(canvas, { weights, rowLabels: maps.decoderTokens, columnLabels: maps.sourceTokens });
    const caption = document.createElement('figcaption');
    caption.textContent = `head ${head + 1}`;
    figure.append(canvas, caption);
    ui.exampleMaps.append(figure);
  });
}

async function train(): Promise<void> {
  const taskName = ui.task.value as tasks.TaskName;
  const size = ui.size.value as 'tiny' | 'reference';
  const steps = Math.max(1, Math.floor(Number(ui.steps.value) || 1));
  // The task's own default recipe (src/train/recipe.ts), as `npm run train -- --task <task>` uses.
  const recipe = api.TASK_RECIPES[taskName];
  const task = api.tasks.createTask(taskName);
  const config = api.presetConfig(size, task, { normalizeFirst: recipe.normalizeFirst });
  state.model?.model.dispose();
  const model = api.createTransformer(config);
  const batchSize = size === 'tiny' ? 32 : recipe.batch;
  const trainer = new api.Trainer({
    model,
    learningRate: api.warmupSchedule({
      peak: recipe.lr,
      warmupSteps: Math.min(recipe.warmup, steps),
      decay: recipe.decay,
      // The recipe's cosine, ending earlier when the page trains fewer steps.
      totalSteps: Math.max(Math.min(steps, recipe.decaySteps), recipe.warmup + 1),
      minRate: recipe.lr * recipe.minLrFraction,
    }),
    beta1: recipe.beta1,
    beta2: recipe.beta2,
    clipNorm: recipe.clip,
  });
  const stream = api.tasks.createTrainingStream(task, Number(params.get('seed') ?? 1));
  const heldOut = api.tasks.heldOutSet(task).slice(0, EVAL_SAMPLES);
  // The longest of the evaluated samples: the most to see in its maps.
  const example = heldOut.reduce((a, b) => (b.source.length > a.source.length ? b : a));
  const info = (exactMatch: number, tokenAccuracy: number, seconds: number) =>
    api.taskInfoFor(
      task,
      config,
      { heldOutExactMatch: exactMatch, heldOutTokenAccuracy: tokenAccuracy, heldOutSize: heldOut.length },
      {
        command: `trained in the browser: ${taskName}, ${size}, ${trainer.stepCount} steps`,
        steps: trainer.stepCount,
        seconds,
        backend: tf.getBackend(),
        seed: Number(params.get('seed') ?? 1),
        batch: batchSize,
        lr: recipe.lr,
      },
    );
  let seq2seq = new api.Seq2Seq(model, info(0, 0, 0));
  state.model = seq2seq;
  state.log = [];
  const title = `${taskName}, ${size} model, on ${tf.getBackend()}`;
  drawCurve(title);
  ui.progress.textContent = '';
  const [exampleSource, exampleTarget] = [example.source, example.target].map((ids) => task.tokensToString(ids));
  ui.example.textContent = `source ${exampleSource}, target ${exampleTarget}`;
  await drawExample(seq2seq, example.source, example.target);

  state.stopRequested = false;
  state.training = true;
  setControls();
  const started = performance.now();
  const times = [started];
  let last = { exactMatch: 0, tokenAccuracy: 0 };
  try {
    while (trainer.stepCount < steps && !state.stopRequested) {
      const share = api.balancedShare(recipe, trainer.stepCount + 1);
      const result = await trainer.step(api.tasks.encodeBatch(task, stream.nextBatch(batchSize, share)));
      const seconds = (performance.now() - started) / 1000;
      state.log.push({ type: 'train', ...result, stepsPerSecond: result.step / seconds, seconds });
      if (result.step % EVAL_EVERY === 0 || result.step === steps) {
        const evaluation = await api.evaluateSeq2Seq(model, heldOut, (s) => api.tasks.encodeBatch(task, s), {
          maxLength: task.maxTargetLength,
          batchSize: EVAL_SAMPLES,
        });
        const entry: EvalLogEntry = { type: 'eval', step: result.step, ...evaluation, seconds, failures: [] };
        state.log.push(entry);
        last = { exactMatch: evaluation.exactMatch, tokenAccuracy: evaluation.tokenAccuracy };
        await drawExample(seq2seq, example.source, example.target);
      }
      drawCurve(title);
      times.push(performance.now());
      if (times.length > SPEED_WINDOW + 1) times.shift();
      showProgress(times, result.step, steps);
      setStatus(
        `step ${result.step} of ${steps}: loss ${result.loss.toFixed(3)}, ` +
          `exact match ${last.exactMatch.toFixed(3)} (${EVAL_SAMPLES} held-out samples), on ${tf.getBackend()}`,
        'training',
      );
      ui.status.dataset.step = String(result.step);
      await yieldToPage(result.step);
    }
  } finally {
    const seconds = (performance.now() - started) / 1000;
    seq2seq = new api.Seq2Seq(model, info(last.exactMatch, last.tokenAccuracy, seconds));
    state.model = seq2seq;
    state.training = false;
    setControls();
  }
  const why = state.stopRequested ? 'stopped' : 'done';
  setStatus(`${why} after ${trainer.stepCount} steps: exact match ${last.exactMatch.toFixed(3)}`, 'done');
}

function setControls(): void {
  const { training } = state;
  ui.train.disabled = training;
  ui.stop.disabled = !training;
  // A backend is changed between runs, never under one.
  ui.backendChoice.disabled = training;
  for (const control of [ui.decode, ui.save, ui.download]) control.disabled = training || state.model === null;
}

/** Switches to the backend `choice` (auto | webgl | wasm | cpu) and says which one runs, and why. */
async function useBackend(choice: string): Promise<void> {
  const backend = await api.initBackend(choice);
  ui.backend.textContent = backend;
  ui.backend.dataset.backend = backend;
  ui.backendNote.textContent = `(${backendNote(api, backend, choice)})`;
  ui.backendChoice.value = choice;
  setStatus(`ready on ${backend}: pick a task and a size, then Train`, 'ready');
}

/** Runs a button's work, showing its error in the status line. */
function handle(work: () => Promise<void>): () => void {
  return () => {
    work().catch((error: unknown) => setStatus(error instanceof Error ? error.message : String(error), 'error'));
  };
}

async function decodeInput(): Promise<void> {
  const model = state.model!;
  const source = model.stringToTokens(ui.source.value);
  model.task?.validateSource(source);
  const [output] = await model.generate([source]);
  ui.output.textContent = model.tokensToString(output) || '(empty)';
}

async function saveToStore(): Promise<void> {
  const url = `indexeddb://tfjs-attention-trained-${ui.task.value}`;
  await state.model!.save(url);
  ui.saveStatus.textContent = `saved to ${url}`;
  ui.saveStatus.dataset.saved = url;
}

async function main(): Promise<void> {
  wasmSetPaths()?.(new URL('vendor/tfjs-backend-wasm/', location.href).href);
  for (const [control, key] of [
    [ui.task, 'task'],
    [ui.size, 'size'],
    [ui.steps, 'steps'],
  ] as const) {
    const value = params.get(key);
    if (value !== null) control.value = value;
  }
  ui.train.addEventListener('click', handle(train));
  ui.stop.addEventListener('click', () => (state.stopRequested = true));
  ui.backendChoice.addEventListener('change', () => {
    ui.backendChoice.disabled = true;
    ui.train.disabled = true;
    handle(() => useBackend(ui.backendChoice.value).finally(setControls))();
  });
  ui.decodeForm.addEventListener('submit', (event) => {
    event.preventDefault();
    handle(decodeInput)();
  });
  ui.save.addEventListener('click', handle(saveToStore));
  ui.download.addEventListener(
    'click',
    handle(() => state.model!.save('downloads://model').then(() => undefined)),
  );
  await useBackend(params.get('backend') ?? 'auto');
  setControls();
}

main().catch((error: unknown) => setStatus(error instanceof Error ? error.message : String(error), 'error'));
