/**
 * A trained sequence-to-sequence model with its task: load it from a folder
 * (Node) or a URL (browser), generate, score, and look at its attention.
 */
import * as tf from '@tensorflow/tfjs';
import { checkOptionNames, optionNames } from '../options';
import { ensureBackend } from '../backend';
import { isNodeRuntime, nodeFs, nodePath } from '../io/atomic';
import { fileSystem } from '../io/file_system';
import { checkLoadOptions, ModelLoadOptions } from '../io/limits';
import { ModelLoadError } from '../io/load_error';
import { buildFromArtifacts } from '../io/model_artifacts';
import { checkWeightPath } from '../io/weight_paths';
import { parseTaskJson, readTaskJson, Seq2SeqTaskInfo, TASK_JSON, validateTaskJson } from './task_json';
import { createTask, Task, TaskName, TASK_NAMES } from '../tasks/tasks';
import { FIRST_SYMBOL, SPECIAL_TOKEN_NAMES } from '../tasks/vocabulary';
import { decode, maxTargetLength, scoreTargets } from '../decode/decode';
import { attentionMaps, type AttentionMaps } from '../explain/attention_maps';
import { positionLimit } from '../decode/graph';
// The layers a Seq2Seq model is made of, registered with tfjs so that loadLayersModel finds them.
import './transformer';
import { describeValue as describe } from '../describe';

/** Options of `Seq2Seq.generate`; an unknown one is an error naming the nearest. */
export interface Seq2SeqGenerateOptions {
  /** Beam width; 1 (the default) is greedy decoding. */
  beamWidth?: number;
  /** Most target tokens to produce, EOS included. Default: the model's maxTargetLength. */
  maxLength?: number;
  /** Whether to use the key/value cache. Default true (same tokens, faster). */
  useCache?: boolean;
  /** Heads switched off, per attention path ('decoder_block_1/cross_attention'): see `generate`'s. Default none. */
  headMasks?: Record<string, number[]>;
}

const GENERATE_OPTION_NAMES = optionNames<Seq2SeqGenerateOptions>({
  beamWidth: true,
  maxLength: true,
  useCache: true,
  headMasks: true,
});

/** Attention maps labelled with the tokens, for visualisation. */
export interface LabelledAttentionMaps extends AttentionMaps {
  /** Display strings of the source ids. */
  sourceTokens: string[];
  /** Display strings of the decoder input ids ('<bos>' first). */
  decoderTokens: string[];
}

/** Metadata key under which `Seq2Seq.save` stores task.json inside model.json. */
const METADATA_KEY = 'tfjsAttention';

/**
 * A model built by `createTransformer` together with its task.json.
 *
 * ```ts
 * const reverse = await loadSeq2Seq('models/reverse');       // or a URL in the browser
 * const [out] = await reverse.generate([[3, 4, 5]]);        // [5, 4, 3]
 * reverse.tokensToString(out);                               // '210'
 * ```
 */
export class Seq2Seq {
  /** The task named in task.json, when it is one of the toy tasks. */
  readonly task: Task | null;

  constructor(
    readonly model: tf.LayersModel,
    readonly info: Seq2SeqTaskInfo,
  ) {
    checkConsistent(model, info, 'task.json');
    this.task = (TASK_NAMES as readonly string[]).includes(info.task.name)
      ? createTask(info.task.name as TaskName, info.task.options)
      : null;
  }

  /** Token ids 0..vocabularySize-1, from task.json. */
  get vocabularySize(): number {
    return this.info.vocabulary.size;
  }

  /** Longest source the model takes, from task.json. */
  get maxSourceLength(): number {
    return this.info.maxSourceLength;
  }

  /** Longest target + 1 (for EOS): the most tokens `generate` produces. */
  get maxTargetLength(): number {
    return this.info.maxTargetLength;
  }

  /**
   * Decodes each source (unpadded symbol ids, as the tasks number them) to
   * target ids without BOS and EOS. Greedy by default, beam search when
   * `beamWidth > 1`. All sources go through the model as one batch.
   */
  async generate(sources: number[][], options: Seq2SeqGenerateOptions = {}): Promise<number[][]> {
    checkOptionNames('generate', options, GENERATE_OPTION_NAMES);
    this.checkSources(sources, 'generate');
    const beamWidth = options.beamWidth ?? 1;
    if (!Number.isInteger(beamWidth) || beamWidth < 1) {
      throw new Error(`generate: beamWidth must be a positive integer, got ${JSON.stringify(options.beamWidth)}`);
    }
    const maxLength = options.maxLength ?? this.maxTargetLength;
    if (!Number.isInteger(maxLength) || maxLength < 1 || maxLength > this.maxTargetLength) {
      throw new Error(
        `generate: maxLength must be an integer in [1, ${this.maxTargetLength}] (this model's maxTargetLength), ` +
          `got ${JSON.stringify(options.maxLength)}`,
      );
    }
    return decode(this.model, sources, {
      beamWidth,
      maxLength,
      useCache: options.useCache,
      headMasks: options.headMasks,
    }).tokens;
  }

  /** Teacher-forced log-probability of each target (ids without BOS/EOS), EOS included. */
  score(sources: number[][], targets: number[][]): number[] {
    this.checkSources(sources, 'score');
    if (!Array.isArray(targets) || targets.length !== sources.length) {
      throw new Error(
        `score: targets must be an array with one target per source (${sources.length}), got ${describe(targets)}`,
      );
    }
    targets.forEach((t, i) => this.checkIds(t, `targets[${i}]`, 'score', this.maxTargetLength - 1, true));
    return scoreTargets(this.model, sources, targets);
  }

  /**
   * The attention maps of every layer and head for one source and target
   * (teacher forcing): encoder self-attention (S x S), decoder
   * self-attention (T x T) and cross-attention (T x S) per layer and head,
   * with T = target length + 1 (the BOS row first).
   */
  async attention(source: number[], target: number[]): Promise<LabelledAttentionMaps> {
    this.checkIds(source, 'source', 'attention', this.maxSourceLength, false);
    this.checkIds(target, 'target', 'attention', this.maxTargetLength - 1, true);
    const maps = attentionMaps(this.model, source, target);
    return {
      ...maps,
      sourceTokens: maps.source.map((id) => this.tokenName(id)),
      decoderTokens: maps.decoderInput.map((id) => this.tokenName(id)),
    };
  }

  /** Display string of one id: a symbol, or '<pad>', '<bos>', '<eos>'. */
  tokenName(id: number): string {
    return id < FIRST_SYMBOL ? SPECIAL_TOKEN_NAMES[id] : (this.info.vocabulary.symbols[id - FIRST_SYMBOL] ?? `<${id}>`);
  }

  /** Ids as text, one display string per id. */
  tokensToString(ids: number[]): string {
    return ids.map((id) => this.tokenName(id)).join('');
  }

  /** Text to symbol ids (whitespace ignored); an error names any unknown character. */
  stringToTokens(text: string): number[] {
    if (this.task) return this.task.stringToTokens(text);
    const symbols = this.info.vocabulary.symbols;
    return [...text.replace(/\s+/g, '')].map((ch, i) => {
      const index = symbols.indexOf(ch);
      if (index < 0)
        throw new Error(`stringToTokens: character ${JSON.stringify(ch)} at ${i} is not one of ${symbols.join('')}`);
      return FIRST_SYMBOL + index;
    });
  }

  /**
   * Saves model and task info to any tfjs URL (`indexeddb://name`,
   * `localstorage://name`, `file://dir`, ...); task.json travels inside
   * model.json's user-defined metadata, so `loadSeq2Seq` can read it back
   * from stores that hold only model artifacts.
   */
  async save(url: string | tf.io.IOHandler): Promise<tf.io.SaveResult> {
    this.model.setUserDefinedMetadata({ [METADATA_KEY]: this.info as unknown as object });
    return this.model.save(url);
  }

  /** Frees the model's weights. */
  dispose(): void {
    this.model.dispose();
  }

  private checkSources(sources: number[][], method: string): void {
    if (!Array.isArray(sources)) {
      throw new Error(`${method}: sources must be an array of token id arrays, got ${describe(sources)}`);
    }
    sources.forEach((s, i) => this.checkIds(s, `sources[${i}]`, method, this.maxSourceLength, false));
  }

  private checkIds(ids: unknown, name: string, method: string, maxLength: number, allowEmpty: boolean): void {
    if (!Array.isArray(ids)) throw new Error(`${method}: ${name} must be an array of token ids, got ${describe(ids)}`);
    if (!allowEmpty && ids.length === 0) {
      throw new Error(`${method}: ${name} is empty; expected 1 to ${maxLength} symbol ids`);
    }
    if (ids.length > maxLength) {
      throw new Error(`${method}: ${name} has ${ids.length} ids; this model takes at most ${maxLength}`);
    }
    const last = this.vocabularySize - 1;
    ids.forEach((id, j) => {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < FIRST_SYMBOL || id > last) {
        throw new Error(
          `${method}: ${name}[${j}] is ${describe(id)}; ` +
            `expected a symbol id, an integer in [${FIRST_SYMBOL}, ${last}] ` +
            `(0-2 are PAD, BOS, EOS)`,
        );
      }
    });
  }
}

/**
 * Loads a model saved by training: a folder in Node (`models/reverse`, also
 * `file://...`), or a URL in the browser (`/models/reverse`, `https://...`),
 * fetching model.json, its weights and task.json; or a tfjs store URL such as
 * `indexeddb://reverse` written by `Seq2Seq.save`. The files are untrusted
 * (README, "Untrusted model files"): an error is a `ModelLoadError` that names
 * the file and what is wrong with it. `options` as for `loadKerasModel`
 * (`nonFiniteWeights`, `maxWeightBytes`).
 */
export async function loadSeq2Seq(location: string, options: ModelLoadOptions = {}): Promise<Seq2Seq> {
  if (typeof location !== 'string' || location === '') {
    throw new Error(`loadSeq2Seq: expected a model folder or URL, got ${describe(location)}`);
  }
  const checked = checkLoadOptions('loadSeq2Seq', options);
  await ensureBackend();
  try {
    return await loadFrom(location, checked);
  } catch (error) {
    throw ModelLoadError.wrap(error, location);
  }
}

async function loadFrom(location: string, options: Required<ModelLoadOptions>): Promise<Seq2Seq> {
  const store = /^(indexeddb|localstorage):\/\//.exec(location);
  if (store) {
    const handlers = tf.io.getLoadHandlers(location);
    const load = handlers.length === 1 ? handlers[0].load?.bind(handlers[0]) : undefined;
    if (load == null) throw new Error(`loadSeq2Seq: not one tfjs store handles ${location}`);
    const model = await buildFromArtifacts(await load(), location, options);
    const metadata = model.getUserDefinedMetadata() as Record<string, unknown> | undefined;
    if (!metadata?.[METADATA_KEY]) {
      model.dispose();
      throw new Error(`loadSeq2Seq: ${location} holds a model without task info; save it with Seq2Seq.save`);
    }
    return fromParts(model, validateTaskJson(metadata[METADATA_KEY], `${location} (task info)`), location);
  }
  const isUrl = /^https?:\/\//.test(location) || !isNodeRuntime();
  if (isUrl) {
    const base = location.replace(/\/model\.json$/, '').replace(/\/+$/, '');
    const taskUrl = `${base}/${TASK_JSON}`;
    const response = await fetch(taskUrl);
    if (!response.ok) throw new Error(`loadSeq2Seq: ${taskUrl} could not be fetched (HTTP ${response.status})`);
    const info = parseTaskJson(await response.text(), taskUrl);
    const modelUrl = `${base}/model.json`;
    const handler = tf.io.http(modelUrl, {
      weightUrlConverter: async (name) => {
        checkWeightPath(name, modelUrl);
        return `${base}/${name}`;
      },
    });
    const model = await buildFromArtifacts(await handler.load!(), modelUrl, options);
    return fromParts(model, info, taskUrl);
  }
  const folder = nodePath().resolve(location.replace(/^file:\/\//, '').replace(/[/\\]model\.json$/, ''));
  if (!nodeFs().existsSync(folder)) throw new Error(`loadSeq2Seq: model folder ${folder} does not exist`);
  if (!nodeFs().statSync(folder).isDirectory())
    throw new Error(`loadSeq2Seq: ${folder} is not a folder; expected a model folder`);
  const info = await readTaskJson(folder);
  // This package's reader, not a file:// URL (which needs a registered route), and one build, ours.
  const modelJson = nodePath().join(folder, 'model.json');
  const model = await buildFromArtifacts(await fileSystem(modelJson, options).readArtifacts(), modelJson, options);
  return fromParts(model, info, nodePath().join(folder, TASK_JSON));
}

function fromParts(model: tf.LayersModel, info: Seq2SeqTaskInfo, taskFile: string): Seq2Seq {
  try {
    checkConsistent(model, info, taskFile);
    return new Seq2Seq(model, info);
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** task.json must describe the model it sits beside. */
function checkConsistent(model: tf.LayersModel, info: Seq2SeqTaskInfo, taskFile: string): void {
  if (model.inputs.length !== 2) {
    throw new Error(
      `${taskFile}: the model has ${model.inputs.length} input(s); a Seq2Seq model takes [source, decoderInput]`,
    );
  }
  const outputShape = model.outputs[0].shape;
  const checks: Array<[string, number, string, number]> = [
    [
      'vocabulary.size',
      info.vocabulary.size,
      'vocabulary (its output width)',
      outputShape[outputShape.length - 1] as number,
    ],
    ['maxSourceLength', info.maxSourceLength, 'source position embedding length', positionLimit(model, 0)],
    ['maxTargetLength', info.maxTargetLength, 'target position embedding length', maxTargetLength(model)],
  ];
  for (const [field, value, what, actual] of checks) {
    if (value !== actual) {
      throw new Error(
        `${taskFile}: ${field} is ${value} but the model's ${what} is ${actual}; ` +
          'task.json does not belong to this model',
      );
    }
  }
}
