/**
 * Train in the browser (train.html loads it after tf.min.js, tf-backend-wasm.min.js and
 * tfjs-attention.min.js): pick a toy task and a model size, press Train, and watch the loss, the
 * held-out exact match and the cross-attention of a fixed example change as the model learns. It
 * uses the library's own tasks, Trainer, default recipe and evaluation, on whichever backend the
 * page got (shown). The loop yields to the page after every step, so the page answers clicks
 * while it trains; Stop ends it, and the model then decodes your input, saves to IndexedDB and
 * downloads as a tfjs model folder.
 *
 * URL parameters, for links and tests: `task`, `size` (tiny | reference), `steps`, `backend`,
 * `seed` (of the training stream).
 */
import * as tf from '@tensorflow/tfjs';
import type { Seq2Seq, tasks } from '../browser';
import { element, library, wasmSetPaths } from './globals';
import { drawHeatmap } from './heatmap';

const api = library();
const params = new URLSearchParams(location.search);

const ui = {
  backend: element<HTMLElement>('backend'),
  task: element<HTMLSelectElement>('task'),
  size: element<HTMLSelectElement>('size'),
  steps: element<HTMLInputElement>('steps'),
  train: element<HTMLButtonElement>('train'),
  stop: element<HTMLButtonElement>('stop'),
  ping: element<HTMLButtonElement>('ping'),
  pings: element<HTMLElement>('pings'),
  status: element<HTMLElement>('status'),
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

/** One point of the curve: the step, its batch loss and, every EVAL_EVERY steps, the exact match. */
interface Point {
  step: number;
  loss: number;
  exactMatch?: number;
}

const EVAL_EVERY = 25;
const EVAL_SAMPLES = 64;

const state = {
  stopRequested: false,
  model: null as Seq2Seq | null,
  points: [] as Point[],
  pings: 0,
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

/** The loss (blue, scaled to the first step's) and exact match (orange, 0 to 1) as SVG polylines. */
function drawCurve(points: Point[], totalSteps: number): void {
  const [width, height] = [480, 160];
  const x = (step: number) => ((step / Math.max(1, totalSteps)) * (width - 10) + 5).toFixed(1);
  const top = points.length > 0 ? points[0].loss : 1;
  const y = (fraction: number) => (height - 5 - Math.min(1, Math.max(0, fraction)) * (height - 10)).toFixed(1);
  const loss = points.map((p) => `${x(p.step)},${y(p.loss / top)}`).join(' ');
  const exact = points
    .filter((p) => p.exactMatch !== undefined)
    .map((p) => `${x(p.step)},${y(p.exactMatch!)}`)
    .join(' ');
  // The figures behind the curve, for tests and tools that read the page.
  ui.curve.dataset.losses = JSON.stringify(points.map((p) => p.loss));
  ui.curve.innerHTML =
    `<rect width="${width}" height="${height}" fill="white" stroke="#ccd"/>` +
    `<polyline id="loss-line" fill="none" stroke="#2b6cb0" stroke-width="1.5" points="${loss}"/>` +
    `<polyline id="exact-line" fill="none" stroke="#dd6b20" stroke-width="2" points="${exact}"/>`;
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
  state.points = [];
  const [exampleSource, exampleTarget] = [example.source, example.target].map((ids) => task.tokensToString(ids));
  ui.example.textContent = `source ${exampleSource}, target ${exampleTarget}`;
  await drawExample(seq2seq, example.source, example.target);

  state.stopRequested = false;
  setControls(true);
  const started = performance.now();
  let last = { exactMatch: 0, tokenAccuracy: 0 };
  try {
    while (trainer.stepCount < steps && !state.stopRequested) {
      const share = api.balancedShare(recipe, trainer.stepCount + 1);
      const result = await trainer.step(api.tasks.encodeBatch(task, stream.nextBatch(batchSize, share)));
      const point: Point = { step: result.step, loss: result.loss };
      if (result.step % EVAL_EVERY === 0 || result.step === steps) {
        const evaluation = await api.evaluateSeq2Seq(model, heldOut, (s) => api.tasks.encodeBatch(task, s), {
          maxLength: task.maxTargetLength,
          batchSize: EVAL_SAMPLES,
        });
        point.exactMatch = evaluation.exactMatch;
        last = { exactMatch: evaluation.exactMatch, tokenAccuracy: evaluation.tokenAccuracy };
        await drawExample(seq2seq, example.source, example.target);
      }
      state.points.push(point);
      drawCurve(state.points, steps);
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
    setControls(false);
  }
  const why = state.stopRequested ? 'stopped' : 'done';
  setStatus(`${why} after ${trainer.stepCount} steps: exact match ${last.exactMatch.toFixed(3)}`, 'done');
}

function setControls(training: boolean): void {
  ui.train.disabled = training;
  ui.stop.disabled = !training;
  for (const control of [ui.decode, ui.save, ui.download]) control.disabled = training || state.model === null;
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
  const backend = await api.initBackend(params.get('backend') ?? 'auto');
  ui.backend.textContent = backend;
  ui.backend.dataset.backend = backend;
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
  ui.ping.addEventListener('click', () => {
    ui.pings.textContent = String(++state.pings);
    // The training step at which the click was handled, for tests of the page's responsiveness.
    ui.pings.dataset.atStep = ui.status.dataset.step ?? '0';
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
  setControls(false);
  setStatus(`ready on ${backend}: pick a task and a size, then Train`, 'ready');
}

main().catch((error: unknown) => setStatus(error instanceof Error ? error.message : String(error), 'error'));
