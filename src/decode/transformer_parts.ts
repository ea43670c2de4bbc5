/**
 * The layers of a model built by `createTransformer` that decoding uses, found once by the names
 * the factory gives them (src/model/transformer.ts, LAYER_NAMES), and the two passes that every
 * decoder runs through tfjs: the encoder, and the final norm with the logits.
 */
import * as tf from '@tensorflow/tfjs';
import { TokenAndPositionEmbedding } from '../layers/token_and_position_embedding';
import { TransformerDecoderBlock } from '../layers/transformer_decoder_block';
import { TransformerEncoderBlock } from '../layers/transformer_encoder_block';
import { LAYER_NAMES } from '../model/transformer';
import { PAD } from '../tasks/vocabulary';

/** The layers of a `createTransformer` model, found by name. */
export interface TransformerParts {
  sourceEmbedding: TokenAndPositionEmbedding;
  targetEmbedding: TokenAndPositionEmbedding;
  encoderBlocks: TransformerEncoderBlock[];
  encoderFinalNorm: tf.layers.Layer | null;
  decoderBlocks: TransformerDecoderBlock[];
  finalNorm: tf.layers.Layer | null;
  logits: tf.layers.Layer;
  vocabularySize: number;
  maxSourceLength: number;
  maxTargetLength: number;
}

/** Finds the parts; a clear error when the model was not built by createTransformer. */
export function transformerParts(model: tf.LayersModel): TransformerParts {
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  const get = <T extends tf.layers.Layer>(name: string, cls: { className: string }): T => {
    const layer = byName.get(name);
    if (!layer || layer.getClassName() !== cls.className) {
      throw new Error(
        `model '${model.name}' has no ${cls.className} layer named '${name}'; ` +
          'decoding needs a model built by createTransformer',
      );
    }
    return layer as T;
  };
  const collect = <T extends tf.layers.Layer>(name: (i: number) => string, cls: { className: string }): T[] => {
    const blocks: T[] = [];
    while (byName.has(name(blocks.length))) blocks.push(get<T>(name(blocks.length), cls));
    return blocks;
  };
  const sourceEmbedding = get<TokenAndPositionEmbedding>(LAYER_NAMES.sourceEmbedding, TokenAndPositionEmbedding);
  const targetEmbedding = get<TokenAndPositionEmbedding>(LAYER_NAMES.targetEmbedding, TokenAndPositionEmbedding);
  const logits = byName.get(LAYER_NAMES.logits);
  if (!logits)
    throw new Error(
      `model '${model.name}' has no '${LAYER_NAMES.logits}' layer; decoding needs a model built by createTransformer`,
    );
  return {
    sourceEmbedding,
    targetEmbedding,
    encoderBlocks: collect(LAYER_NAMES.encoderBlock, TransformerEncoderBlock),
    encoderFinalNorm: byName.get(LAYER_NAMES.encoderFinalNorm) ?? null,
    decoderBlocks: collect(LAYER_NAMES.decoderBlock, TransformerDecoderBlock),
    finalNorm: byName.get(LAYER_NAMES.finalNorm) ?? null,
    logits,
    vocabularySize: targetEmbedding.vocabularySize,
    maxSourceLength: sourceEmbedding.sequenceLength,
    maxTargetLength: targetEmbedding.sequenceLength,
  };
}

/** The encoder output (B, S, D) and source mask (B, S). Call inside a tidy. */
export function encode(parts: TransformerParts, source: tf.Tensor2D): { memory: tf.Tensor3D; mask: tf.Tensor2D } {
  const mask = tf.notEqual(source, PAD) as tf.Tensor2D;
  let x: tf.Tensor = parts.sourceEmbedding.embed(source, 0);
  for (const block of parts.encoderBlocks) x = block.forward(x, mask, false).output;
  if (parts.encoderFinalNorm) x = parts.encoderFinalNorm.apply(x) as tf.Tensor;
  return { memory: x as tf.Tensor3D, mask };
}

/** Decoder states (B, T, D) to logits (B, T, V). Call inside a tidy. */
export function logitsOf(parts: TransformerParts, x: tf.Tensor): tf.Tensor {
  const normed = parts.finalNorm ? (parts.finalNorm.apply(x) as tf.Tensor) : x;
  return parts.logits.apply(normed) as tf.Tensor;
}
