/**
 * One typed configuration for the encoder-decoder Transformer, its defaults
 * and a few named presets.
 */
import type { PositionEncoding } from '../layers/token_and_position_embedding';
import { describeValue as describe } from '../describe';
import { checkOptionNames, optionNames } from '../options';

/** The encoder-decoder's configuration: every size and choice `createTransformer` builds from (`resolveConfig`). */
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

/** Every field name of TransformerConfig, for the unknown-option check. */
const CONFIG_NAMES = optionNames<TransformerConfig>({
  vocabularySize: true,
  maxSourceLength: true,
  maxTargetLength: true,
  embeddingDim: true,
  numHeads: true,
  keyDim: true,
  intermediateDim: true,
  numEncoderLayers: true,
  numDecoderLayers: true,
  dropout: true,
  activation: true,
  normalizeFirst: true,
  layerNormEpsilon: true,
  positionEncoding: true,
});

/** The task's sizes (a `Task` has them). */
export type TaskSizes = Pick<TransformerConfig, 'vocabularySize' | 'maxSourceLength' | 'maxTargetLength'>;

/** The sizes that depend on the task; everything else has a default. */
export type TransformerConfigInput = TaskSizes & Partial<TransformerConfig>;

/** Model sizes without the task-dependent fields. */
export type ModelSize = Omit<Partial<TransformerConfig>, keyof TaskSizes>;

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

/** Named model sizes, without the task's (`presetConfig` adds them). */
export const PRESETS = {
  /** A model that trains in seconds, for tests and quick experiments. */
  tiny: { embeddingDim: 32, numHeads: 2, intermediateDim: 64, numEncoderLayers: 1, numDecoderLayers: 1, dropout: 0 },
  /** The README's reference configuration ("Toy tasks"). */
  reference: REFERENCE_SIZE,
} satisfies Record<string, ModelSize>;

/** A key of `PRESETS`: `tiny` or `reference`. */
export type PresetName = keyof typeof PRESETS;
/** The keys of `PRESETS`. */
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** Fills in defaults and checks every field; errors name the field, the value and what was expected. */
export function resolveConfig(given: TransformerConfigInput): TransformerConfig {
  checkOptionNames('TransformerConfig', given, CONFIG_NAMES);
  const input: Partial<TransformerConfig> = given;
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
  const sizes = CONFIG_NAMES.filter((name) => !['vocabularySize', 'maxSourceLength', 'maxTargetLength'].includes(name));
  checkOptionNames('presetConfig: overrides', overrides, sizes);
  const { vocabularySize, maxSourceLength, maxTargetLength } = task;
  return resolveConfig({ ...size, ...overrides, vocabularySize, maxSourceLength, maxTargetLength });
}
