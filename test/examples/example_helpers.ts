/**
 * What every example test checks around the user's model code: one training
 * step moves every trainable weight, the loss falls, evaluate agrees with
 * predict, a file:// save reloads with plain `tf.loadLayersModel` and
 * predicts the same, and `model.summary()` reports the hand-counted
 * parameters. Also the seeded toy data the examples train on.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';

/** Seeded integers in [lo, hi) (an LCG: the examples need no statistical quality). */
export function seededInts(count: number, lo: number, hi: number, seed: number): number[] {
  let state = seed >>> 0 || 1;
  return Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return lo + Math.floor((state / 2 ** 32) * (hi - lo));
  });
}

/**
 * Token sequences (B, L) of ids in [1, vocabulary), each of a seeded length in
 * [minLength, L] followed by padding zeros.
 */
export function paddedSequences(
  batch: number,
  length: number,
  minLength: number,
  vocabulary: number,
  seed: number,
): number[][] {
  const lengths = seededInts(batch, minLength, length + 1, seed);
  const ids = seededInts(batch * length, 1, vocabulary, seed + 1);
  return lengths.map((n, b) => Array.from({ length }, (_x, t) => (t < n ? ids[b * length + t] : 0)));
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const x = a.dataSync();
  const y = b.dataSync();
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i] - y[i]));
  return max;
}

/** Runs one optimizer step through `fit` and returns the weights that did not change. */
export async function weightsUnchangedByOneStep(
  model: tf.LayersModel,
  xs: tf.Tensor | tf.Tensor[],
  ys: tf.Tensor,
): Promise<string[]> {
  const before = model.trainableWeights.map((w) => w.read().clone());
  await model.fit(xs, ys, { epochs: 1, batchSize: ys.shape[0], verbose: 0, shuffle: false });
  const unchanged = model.trainableWeights
    .filter((w, i) => tf.tidy(() => tf.max(tf.abs(w.read().sub(before[i]))).dataSync()[0]) === 0)
    .map((w) => w.originalName);
  tf.dispose(before);
  return unchanged;
}

/** The loss `model.evaluate` reports (the first of its outputs). */
export function evaluateLoss(model: tf.LayersModel, xs: tf.Tensor | tf.Tensor[], ys: tf.Tensor): number {
  const result = model.evaluate(xs, ys, { batchSize: 64 });
  const list = Array.isArray(result) ? result : [result];
  const loss = list[0].dataSync()[0];
  tf.dispose(list);
  return loss;
}

/**
 * What every example's training checks: one `fit` step moves every trainable
 * weight, then `epochs` of training lower the `evaluate` loss by at least 10%.
 * Returns the loss after training.
 */
export async function expectTrainingLowersLoss(
  model: tf.LayersModel,
  xs: tf.Tensor | tf.Tensor[],
  ys: tf.Tensor,
  fit: { epochs: number; batchSize: number },
): Promise<number> {
  const lossBefore = evaluateLoss(model, xs, ys);
  expect(await weightsUnchangedByOneStep(model, xs, ys)).toEqual([]);
  await model.fit(xs, ys, { ...fit, verbose: 0 });
  const lossAfter = evaluateLoss(model, xs, ys);
  expect(lossAfter).toBeLessThan(0.9 * lossBefore);
  return lossAfter;
}

/** A fresh temporary folder, removed by `removeFolder`. */
export function temporaryFolder(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tfjs-attention-${prefix}-`));
}

export function removeFolder(folder: string): void {
  fs.rmSync(folder, { recursive: true, force: true });
}

/**
 * Saves through `file://` and reloads with plain `tf.loadLayersModel`, as a
 * user of the package does once it is imported.
 */
export async function saveAndReload(model: tf.LayersModel, folder: string): Promise<tf.LayersModel> {
  await model.save(`file://${folder}`);
  return tf.loadLayersModel(`file://${path.join(folder, 'model.json')}`);
}

/**
 * Saves `model` through file:// into a temporary folder, reloads it with plain
 * `tf.loadLayersModel`, and expects the same predictions on `xs` (max
 * difference < 1e-5). `inspect` sees the reloaded model before it is disposed.
 */
export async function expectReloadPredictsSame(
  model: tf.LayersModel,
  prefix: string,
  xs: tf.Tensor | tf.Tensor[],
  inspect?: (loaded: tf.LayersModel) => void,
): Promise<void> {
  const folder = temporaryFolder(prefix);
  try {
    const loaded = await saveAndReload(model, folder);
    try {
      const [p1, p2] = [model, loaded].map((m) => m.predict(xs) as tf.Tensor);
      expect(maxAbsDiff(p1, p2)).toBeLessThan(1e-5);
      tf.dispose([p1, p2]);
      inspect?.(loaded);
    } finally {
      loaded.dispose();
    }
  } finally {
    removeFolder(folder);
  }
}

/**
 * Training budget per backend for the examples: tfjs's cpu kernels run about
 * 10x slower under jest than in plain Node (a transpose of 4096 floats: 17 ms
 * vs 1.5 ms), so cpu trains just long enough to show the loss falling.
 */
export const TRAINING_BUDGET = { cpu: { examples: 64, epochs: 5 }, wasm: { examples: 128, epochs: 12 } };

/** The lines `model.summary()` prints. */
export function summaryLines(model: tf.LayersModel): string[] {
  const lines: string[] = [];
  // Wide columns so no layer name or type is cut.
  model.summary(160, [60, 100, 115, 160], (line: string) => lines.push(line));
  return lines;
}

/**
 * Parameter count per layer name from the summary table, and the totals.
 * A row starts with "<name> (<ClassName>)"; the parameter count is the
 * number in the third column.
 */
export function parseSummary(lines: string[]): {
  layers: Record<string, { className: string; params: number }>;
  total: number;
  trainable: number;
  nonTrainable: number;
} {
  const layers: Record<string, { className: string; params: number }> = {};
  for (const line of lines) {
    const row = /^(\S+) \((\w+)\)\s+(\[.*?\]|multiple)\s+(\d+)/.exec(line);
    if (row) layers[row[1]] = { className: row[2], params: Number(row[4]) };
  }
  const total = (label: string) => {
    const match = new RegExp(`^${label}: (\\d+)`).exec(lines.find((l) => l.startsWith(`${label}:`)) ?? '');
    if (!match) throw new Error(`summary has no '${label}' line:\n${lines.join('\n')}`);
    return Number(match[1]);
  };
  return {
    layers,
    total: total('Total params'),
    trainable: total('Trainable params'),
    nonTrainable: total('Non-trainable params'),
  };
}

/** Parameters of a MultiHeadAttention: four projections, each kernel plus bias (Keras's layout). */
export function attentionParams(a: {
  queryWidth: number;
  valueWidth?: number;
  keyWidth?: number;
  heads: number;
  keyDim: number;
  valueDim?: number;
  outputDim?: number;
}): number {
  const valueWidth = a.valueWidth ?? a.queryWidth;
  const keyWidth = a.keyWidth ?? valueWidth;
  const valueDim = a.valueDim ?? a.keyDim;
  const outputDim = a.outputDim ?? a.queryWidth;
  const hk = a.heads * a.keyDim;
  const hv = a.heads * valueDim;
  return (
    a.queryWidth * hk +
    hk + // query kernel [Dq, H, K] + bias [H, K]
    (keyWidth * hk + hk) + // key
    (valueWidth * hv + hv) + // value kernel [Dv, H, V] + bias [H, V]
    (hv * outputDim + outputDim) // output kernel [H, V, Dout] + bias [Dout]
  );
}
