/**
 * The ablation study of a model's attention: what every head and every value matrix is worth to
 * the answers, and what a head's value matrix can carry. For each attention layer (every
 * MultiHeadAttention call of a forward pass, as `explainAttention` lists them):
 *
 * - each head removed in turn (its `headMask` entry 0: its share of the layer's output is gone),
 *   as Michel et al. 2019 ("Are Sixteen Heads Really Better than One?") ablate heads;
 * - each head's values, and then the whole layer's, replaced by their mean (`withMeanValues`): the
 *   head still adds something, but nothing specific to any key;
 * - the OV spectrum of each head (./spectrum.ts): the singular values of W_V^h W_O^h and their
 *   effective rank.
 *
 * Each ablation is scored by an evaluator the caller gives (for the toy tasks: greedy exact match
 * and loss on the held-out set, src/train/study.ts). `studySvg` draws the result at a glance and
 * `studyTable` prints it.
 */
import * as tf from '@tensorflow/tfjs';
import { describeValue } from '../describe';
import { MultiHeadAttention } from '../layers/multi_head_attention';
import { checkOptionNames, optionNames } from '../options';
import { type AttentionKind, explainAttention } from './explain';
import { type OvSpectrum, ovSpectra } from './spectrum';

/** What the evaluator measured for one state of the model. */
export interface StudyScore {
  /** Share of the samples answered exactly right, in [0, 1]. */
  exactMatch: number;
  /** Loss per target token (lower is better). */
  loss: number;
}

/** One head of a layer. */
export interface HeadStudy {
  /** The score with this head removed (headMask 0); null when the study left it out (`include`). */
  removed: StudyScore | null;
  /** The score with this head's values replaced by their mean (`withMeanValues`); null when left out. */
  meanValues: StudyScore | null;
  /** The singular values of W_V^h W_O^h and their effective rank. */
  ov: OvSpectrum;
  /** The same for the model before training (`StudyOptions.initial`), or null. */
  initialOv: OvSpectrum | null;
}

/** One attention layer. */
export interface LayerStudy {
  /** explainAttention's path: 'decoder_block_1/cross_attention'. */
  path: string;
  kind: AttentionKind;
  numHeads: number;
  /** V, each head's value size: the most singular values (and the highest effective rank) a head can have. */
  valueDim: number;
  /** The score with every head's values replaced by their mean; null when left out. */
  meanValues: StudyScore | null;
  heads: HeadStudy[];
}

/** What was studied, in words and numbers a reader needs to trust and rerun it. */
export interface StudyAbout {
  /** The model, e.g. 'models/reverse'. */
  model: string;
  /** The data the evaluator scores on, e.g. 'reverse held-out set'. */
  data: string;
  /** The seed the data was drawn with, or null. */
  seed: number | null;
  /** Number of samples. */
  size: number;
  /** The tfjs backend that computed the scores. */
  backend: string;
  /** The command that writes this study. */
  command: string;
}

/** A study as `npm run study` writes it (study.json). */
export interface AttentionStudy {
  format: typeof STUDY_FORMAT;
  version: typeof STUDY_VERSION;
  about: StudyAbout;
  /** The score of the model as it is. */
  baseline: StudyScore;
  /** The attention layers in the order the forward pass calls them. */
  layers: LayerStudy[];
}

export const STUDY_FORMAT = 'tfjs-attention-study';
export const STUDY_VERSION = 1;

/** Options of `studyAttention`. */
export interface StudyOptions {
  /**
   * One input of the model (what `model.predict` takes), run once through `explainAttention` to
   * find the attention layers, their order and their kinds. Required.
   */
  example: tf.Tensor | tf.Tensor[];
  /**
   * Scores the model as it is when called, with heads switched off by `headMasks` (per attention
   * path, H numbers each, as `generate` takes them). Required.
   */
  evaluate: (headMasks: Record<string, number[]>) => Promise<StudyScore>;
  /**
   * Which ablations to score: a head's (`head` its index) or a layer's mean values (`head` null).
   * The baseline and the OV spectra are always computed. Default: all.
   */
  include?: (path: string, head: number | null) => boolean;
  /** Called after each score, e.g. to print progress. Default none. */
  onScore?: (done: number, total: number, what: string, score: StudyScore) => void;
  /**
   * The model as it was before training (same architecture, its initial weights): its heads' OV
   * spectra go beside the trained ones (`HeadStudy.initialOv`), so a reader sees what training
   * changed. Default none.
   */
  initial?: tf.LayersModel;
}

const OPTION_NAMES = optionNames<StudyOptions>({
  example: true,
  evaluate: true,
  include: true,
  onScore: true,
  initial: true,
});

/**
 * Runs `fn` with the values of `heads` (indices) of `attention` replaced by their mean: for each
 * query, every key's value vector becomes the mean of the value vectors of the keys that query may
 * attend to (the real positions of the sequence; with a causal mask, those up to the query), so
 * the head sends the same thing whatever it attends to, and nothing specific to any key.
 *
 * Since the weights sum to 1, that output is what the head gives with uniform weights over those
 * keys, and that is how it is computed, through the layer's own attention: the heads' query
 * projections (kernel columns and bias) are set to zero for the duration, so every score is 0 and
 * the softmax spreads the weight evenly over the keys the mask allows. So it holds in a full pass
 * and in cached decoding alike, on any backend. The weights are restored exactly afterwards, also
 * when `fn` throws.
 */
export async function withMeanValues<T>(
  attention: MultiHeadAttention,
  heads: readonly number[],
  fn: () => Promise<T>,
): Promise<T> {
  const query = attention.queryDense;
  if (query?.kernel == null) {
    throw new Error(`withMeanValues: MultiHeadAttention '${attention.name}' is not built; apply it once first`);
  }
  const H = attention.numHeads;
  if (heads.some((h) => !Number.isInteger(h) || h < 0 || h >= H)) {
    throw new Error(`withMeanValues: heads must be head indices in [0, ${H - 1}], got ${describeValue(heads)}`);
  }
  // The variables themselves: LayerVariable.write would pass the values through the layer's constraint.
  const variables = [query.kernel, ...(query.bias ? [query.bias] : [])].map((v) => v.read() as tf.Variable);
  const saved = variables.map((v) => v.clone());
  try {
    tf.tidy(() => {
      const keep = tf.tensor1d(Array.from({ length: H }, (_x, h) => (heads.includes(h) ? 0 : 1)));
      // kernel [Dq, H, K] and bias [H, K]: the head axis is second to last.
      variables.forEach((v, i) => v.assign(saved[i].mul(keep.reshape([...v.shape.slice(0, -2).map(() => 1), H, 1]))));
    });
    return await fn();
  } finally {
    variables.forEach((v, i) => v.assign(saved[i]));
    tf.dispose(saved);
  }
}

/** The attention layers of one forward pass, each once, in call order. */
function attentionLayers(
  model: tf.LayersModel,
  example: tf.Tensor | tf.Tensor[],
): Array<{ path: string; kind: AttentionKind; layer: MultiHeadAttention }> {
  const seen = new Set<MultiHeadAttention>();
  return explainAttention(model, example)
    .filter((call) => !seen.has(call.layer) && seen.add(call.layer))
    .map(({ path, kind, layer }) => ({ path, kind, layer }));
}

/**
 * The study of `model` (see the file comment): the baseline score, each head removed, each head's
 * and each layer's values replaced by their mean, and every head's OV spectrum. Leaves the model's
 * weights as it found them and `tf.memory().numTensors` as the evaluator does.
 */
export async function studyAttention(
  model: tf.LayersModel,
  options: StudyOptions,
): Promise<Pick<AttentionStudy, 'baseline' | 'layers'>> {
  checkOptionNames('studyAttention', options, OPTION_NAMES);
  if (typeof options.evaluate !== 'function') {
    throw new Error(
      `studyAttention: evaluate must be a function (headMasks) => score, got ${describeValue(options.evaluate)}`,
    );
  }
  const examples = Array.isArray(options.example) ? options.example : [options.example];
  if (examples.length === 0 || examples.some((x) => !(x instanceof tf.Tensor))) {
    throw new Error(
      "studyAttention: example must be the model's input (a tensor, or one per input), " +
        `got ${describeValue(options.example)}`,
    );
  }
  const include = options.include ?? (() => true);
  const layers = attentionLayers(model, options.example);
  const initial = new Map(
    options.initial == null
      ? []
      : attentionLayers(options.initial, options.example).map((l) => [l.path, ovSpectra(l.layer)]),
  );
  const total =
    1 +
    layers.reduce(
      (sum, { path, layer }) =>
        sum +
        (include(path, null) ? 1 : 0) +
        2 * Array.from({ length: layer.numHeads }, (_x, h) => include(path, h)).filter(Boolean).length,
      0,
    );
  let done = 0;
  const score = async (what: string, headMasks: Record<string, number[]> = {}): Promise<StudyScore> => {
    const result = await options.evaluate(headMasks);
    const kept = { exactMatch: result.exactMatch, loss: result.loss };
    options.onScore?.(++done, total, what, kept);
    return kept;
  };

  const baseline = await score('baseline');
  const studied: LayerStudy[] = [];
  for (const { path, kind, layer } of layers) {
    const H = layer.numHeads;
    const spectra = ovSpectra(layer);
    const initialSpectra = initial.get(path);
    const heads: HeadStudy[] = [];
    for (let h = 0; h < H; h++) {
      if (!include(path, h)) {
        heads.push({ removed: null, meanValues: null, ov: spectra[h], initialOv: initialSpectra?.[h] ?? null });
        continue;
      }
      const mask = Array.from({ length: H }, (_x, i) => (i === h ? 0 : 1));
      const removed = await score(`${path} head ${h + 1} removed`, { [path]: mask });
      const meanValues = await withMeanValues(layer, [h], () => score(`${path} head ${h + 1} values -> mean`));
      heads.push({ removed, meanValues, ov: spectra[h], initialOv: initialSpectra?.[h] ?? null });
    }
    const all = Array.from({ length: H }, (_x, h) => h);
    const meanValues = include(path, null)
      ? await withMeanValues(layer, all, () => score(`${path} all values -> mean`))
      : null;
    studied.push({ path, kind, numHeads: H, valueDim: layer.valueDim, meanValues, heads });
  }
  return { baseline, layers: studied };
}

/** A study with its numbers rounded for a file that people read and diff (4 significant digits, 6 for losses). */
export function roundStudy(study: AttentionStudy): AttentionStudy {
  const digits = (v: number, n: number) => Number(v.toPrecision(n));
  const score = (s: StudyScore | null) => (s == null ? null : { exactMatch: s.exactMatch, loss: digits(s.loss, 6) });
  const spectrum = (ov: OvSpectrum | null) =>
    ov == null
      ? null
      : { singularValues: ov.singularValues.map((v) => digits(v, 4)), effectiveRank: digits(ov.effectiveRank, 4) };
  return {
    ...study,
    baseline: score(study.baseline)!,
    layers: study.layers.map((layer) => ({
      ...layer,
      meanValues: score(layer.meanValues),
      heads: layer.heads.map((head) => ({
        removed: score(head.removed),
        meanValues: score(head.meanValues),
        ov: spectrum(head.ov)!,
        initialOv: spectrum(head.initialOv),
      })),
    })),
  };
}

/**
 * The study as study.json holds it: rounded (`roundStudy`), one field a line, but a list or an
 * object of numbers and strings on one line.
 */
export function studyJson(study: AttentionStudy): string {
  const text = JSON.stringify(roundStudy(study), null, 1);
  // A list or an object that holds only numbers and strings goes on one line.
  const oneLine = (open: string, inner: string, close: string) => `${open}${inner.split(/,\n\s*/).join(', ')}${close}`;
  return `${text
    .replace(/\[\n\s*([^[\]{}]*?)\n\s*\]/g, (_all, inner: string) => oneLine('[', inner, ']'))
    .replace(/\{\n\s*([^[\]{}]*?)\n\s*\}/g, (_all, inner: string) => oneLine('{', inner, '}'))}\n`;
}

/** Throws unless `json` is a study (format and version), naming `source`; returns it typed. */
export function checkStudy(json: unknown, source: string): AttentionStudy {
  const study = json as Partial<AttentionStudy> | null;
  if (study?.format !== STUDY_FORMAT || study.version !== STUDY_VERSION || !Array.isArray(study.layers)) {
    throw new Error(
      `${source}: not a study (format ${describeValue(study?.format)}, version ${describeValue(study?.version)}); ` +
        `expected format '${STUDY_FORMAT}' version ${STUDY_VERSION}, as npm run study writes it`,
    );
  }
  return study as AttentionStudy;
}
