/**
 * One typed configuration for the encoder-decoder Transformer, its defaults
 * and a few named presets.
 */
import type { PositionEncoding } from '../layers/token_and_position_embedding';
import { describeValue as describe } from '../describe';

export interface TransformerConfig {
  /** Token ids 0..vocabularySize-1, shared by source and target (PAD = 0, BOS = 1, EOS = 2). Required. */
  vocabularySize: number;
  /** Longest source the model accepts (rows of the source position embedding). Required. */
  maxSourceLength: number;
  /** Longest decoder input the model accepts: longest target + 1. Required. */
  maxTargetLength: number;
  /** Model width D. Default 64. */
  embeddingDim: number;
  /** Attention heads H. Default 4. */
  numHeads: number;
  /** Per-head query/key/value size. Default embeddingDim / numHeads. */
  keyDim: number;
  /** Feed-forward hidden width. Default 256. */
  intermediateDim: number;
  /** Encoder blocks. Default 2. */
  numEncoderLayers: number;
  /** Decoder blocks. Default 2. */
  numDecoderLayers: number;
  /** Dropout rate (attention probabilities, residual branches). Default 0. */
  dropout: number;
  /** Feed-forward activation, 'relu' or 'gelu' (what the recipes and the PyTorch peer run). Default 'relu'. */
  activation: 'relu' | 'gelu';
  /**
   * Pre-LN blocks plus a final layer norm (trains faster without warmup tricks).
   * Default false (post-LN, as Vaswani et al.).
   */
  normalizeFirst: boolean;
  /** Layer norm epsilon. Default 1e-5. */
  layerNormEpsilon: number;
  /** 'learned' position embeddings or fixed 'sinusoidal' encodings. Default 'learned'. */
  positionEncoding: PositionEncoding;
}

/**
 * Names that earlier versions used for two of the fields (the layers, tasks and task.json always
 * said `vocabularySize` and used `embeddingDim` for the width); still accepted on input.
 */
export interface DeprecatedConfigNames {
  /** @deprecated Use `vocabularySize`. */
  vocabSize?: number;
  /** @deprecated Use `embeddingDim`. */
  dModel?: number;
}

/** Old name -> current name, for `DeprecatedConfigNames`. */
const DEPRECATED_NAMES = { vocabSize: 'vocabularySize', dModel: 'embeddingDim' } as const;

/** The task's sizes, under the current names or (deprecated) `vocabSize`. */
export type TaskSizes = Pick<TransformerConfig, 'maxSourceLength' | 'maxTargetLength'> &
  ({ vocabularySize: number } | { vocabSize: number });

/** The sizes that depend on the task; everything else has a default. */
export type TransformerConfigInput = TaskSizes & Partial<TransformerConfig> & DeprecatedConfigNames;

/** Model sizes without the task-dependent fields. */
export type ModelSize = Omit<Partial<TransformerConfig>, 'vocabularySize' | 'maxSourceLength' | 'maxTargetLength'> &
  Pick<DeprecatedConfigNames, 'dModel'>;

/**
 * A copy of `input` with each deprecated name replaced by its current one. Giving both names with
 * different values is an error (`where` names the object in it); the same value twice is allowed.
 */
export function withCurrentConfigNames<T extends object>(input: T, where = 'TransformerConfig'): T {
  const given = input as Record<string, unknown>;
  for (const [old, current] of Object.entries(DEPRECATED_NAMES)) {
    if (given[old] !== undefined && given[current] !== undefined && given[current] !== given[old]) {
      throw new Error(
        `${where}: ${old} (deprecated) is ${describe(given[old])} but ${current} is ${describe(given[current])}; ` +
          `give only ${current}`,
      );
    }
  }
  // Rebuilt key by key, so that a renamed field keeps its place.
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(given)) {
    const current = (DEPRECATED_NAMES as Record<string, string>)[key];
    if (current === undefined) out[key] = value;
    else if (value !== undefined) out[current] = value;
  }
  return out as T;
}

/**
 * The reference configuration (README, "Toy tasks"): embeddingDim 64, 4 heads, feed-forward 256, 2+2 layers;
 * benchmarks and comparisons use it.
 */
export const REFERENCE_SIZE: ModelSize = {
  embeddingDim: 64,
  numHeads: 4,
  keyDim: 16,
  intermediateDim: 256,
  numEncoderLayers: 2,
  numDecoderLayers: 2,
  dropout: 0,
  activation: 'relu',
  positionEncoding: 'learned',
};

export const PRESETS = {
  /** A model that trains in seconds, for tests and quick experiments. */
  tiny: { embeddingDim: 32, numHeads: 2, intermediateDim: 64, numEncoderLayers: 1, numDecoderLayers: 1, dropout: 0 },
  /** The README's reference configuration ("Toy tasks"). */
  reference: REFERENCE_SIZE,
} satisfies Record<string, ModelSize>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** Fills in defaults and checks every field; errors name the field, the value and what was expected. */
export function resolveConfig(given: TransformerConfigInput): TransformerConfig {
  const input = withCurrentConfigNames(given) as Partial<TransformerConfig>;
  const embeddingDim = input.embeddingDim ?? 64;
  const numHeads = input.numHeads ?? 4;
  const config: TransformerConfig = {
    vocabularySize: input.vocabularySize as number,
    maxSourceLength: input.maxSourceLength as number,
    maxTargetLength: input.maxTargetLength as number,
    embeddingDim,
    numHeads,
    keyDim: input.keyDim ?? Math.floor(embeddingDim / numHeads),
    intermediateDim: input.intermediateDim ?? 256,
    numEncoderLayers: input.numEncoderLayers ?? 2,
    numDecoderLayers: input.numDecoderLayers ?? 2,
    dropout: input.dropout ?? 0,
    activation: input.activation ?? 'relu',
    normalizeFirst: input.normalizeFirst ?? false,
    layerNormEpsilon: input.layerNormEpsilon ?? 1e-5,
    positionEncoding: input.positionEncoding ?? 'learned',
  };
  if (typeof config.normalizeFirst !== 'boolean') {
    throw new Error(`TransformerConfig: normalizeFirst must be true or false, got ${describe(config.normalizeFirst)}`);
  }
  if (input.keyDim == null && Number.isInteger(embeddingDim) && embeddingDim >= 1 && numHeads > embeddingDim) {
    throw new Error(
      `TransformerConfig: numHeads ${describe(numHeads)} exceeds embeddingDim ${describe(embeddingDim)}; ` +
        'pass keyDim or use fewer heads',
    );
  }
  const positive = [
    'vocabularySize',
    'maxSourceLength',
    'maxTargetLength',
    'embeddingDim',
    'numHeads',
    'keyDim',
    'intermediateDim',
  ] as const;
  for (const key of positive) {
    const value = config[key];
    if (!Number.isInteger(value) || value < 1) {
      throw new Error(`TransformerConfig: ${key} must be a positive integer, got ${describe(value)}`);
    }
  }
  for (const key of ['numEncoderLayers', 'numDecoderLayers'] as const) {
    const value = config[key];
    if (!Number.isInteger(value) || value < 1) {
      throw new Error(`TransformerConfig: ${key} must be an integer >= 1, got ${describe(value)}`);
    }
  }
  if (config.vocabularySize < 4) {
    throw new Error(
      `TransformerConfig: vocabularySize must be at least 4 (PAD, BOS, EOS and one symbol), ` +
        `got ${config.vocabularySize}`,
    );
  }
  if (!(config.dropout >= 0 && config.dropout < 1)) {
    throw new Error(`TransformerConfig: dropout must be a number in [0, 1), got ${describe(config.dropout)}`);
  }
  if (!['relu', 'gelu'].includes(config.activation)) {
    throw new Error(`TransformerConfig: activation must be 'relu' or 'gelu', got ${describe(config.activation)}`);
  }
  if (!['learned', 'sinusoidal'].includes(config.positionEncoding)) {
    throw new Error(
      `TransformerConfig: positionEncoding must be 'learned' or 'sinusoidal', got ${describe(config.positionEncoding)}`,
    );
  }
  if (!(config.layerNormEpsilon > 0)) {
    throw new Error(
      `TransformerConfig: layerNormEpsilon must be a positive number, got ${describe(config.layerNormEpsilon)}`,
    );
  }
  return config;
}

/**
 * A preset's sizes with the task-dependent fields and any overrides. `task` may be a `Task` itself:
 * only its vocabularySize, maxSourceLength and maxTargetLength are read.
 */
export function presetConfig(preset: PresetName, task: TaskSizes, overrides: ModelSize = {}): TransformerConfig {
  const size = PRESETS[preset];
  if (!size) {
    throw new Error(`unknown preset ${describe(preset)}; expected one of ${PRESET_NAMES.join(', ')}`);
  }
  // Aliases resolved per object, so an override's `dModel` replaces the preset's `embeddingDim`.
  return resolveConfig({
    ...size,
    ...withCurrentConfigNames(overrides, 'overrides'),
    ...taskSizes(withCurrentConfigNames(task, 'task')),
  } as TransformerConfigInput);
}

function taskSizes(task: TaskSizes): Partial<TransformerConfig> {
  const { vocabularySize, maxSourceLength, maxTargetLength } = task as Partial<TransformerConfig>;
  return { vocabularySize, maxSourceLength, maxTargetLength };
}
