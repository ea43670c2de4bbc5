/**
 * Builds the encoder-decoder Transformer (Vaswani et al. 2017) as a plain
 * `tf.LayersModel` from our layers, so it trains, saves and loads like any
 * tfjs model.
 */
import * as tf from '@tensorflow/tfjs';
import { MaskedLayerNormalization } from '../layers/masked_layer_normalization';
import { TokenAndPositionEmbedding } from '../layers/token_and_position_embedding';
import { TransformerDecoderBlock } from '../layers/transformer_decoder_block';
import { TransformerEncoderBlock } from '../layers/transformer_encoder_block';
import { resolveConfig, TransformerConfigInput } from './config';

/** Layer names inside the model, for looking at its parts (`model.getLayer(LAYER_NAMES.encoderBlock(0))`). */
export const LAYER_NAMES = {
  sourceEmbedding: 'source_embedding',
  targetEmbedding: 'target_embedding',
  encoderBlock: (i: number) => `encoder_block_${i}`,
  decoderBlock: (i: number) => `decoder_block_${i}`,
  encoderFinalNorm: 'encoder_final_layer_norm',
  finalNorm: 'final_layer_norm',
  logits: 'logits',
} as const;

/**
 * The model: inputs `[source (B, S), decoderInput (B, T)]`, int32 token ids
 * with PAD = 0 (any S <= maxSourceLength, T <= maxTargetLength); output logits
 * (B, T, vocabularySize). Padding masks flow from the embeddings, so padded source
 * positions are never attended and decoder position t sees only inputs <= t.
 *
 * ```ts
 * const model = createTransformer({vocabularySize: 13, maxSourceLength: 12, maxTargetLength: 13});
 * const logits = model.predict([source, decoderInput]) as tf.Tensor; // (B, T, 13)
 * ```
 */
export function createTransformer(input: TransformerConfigInput): tf.LayersModel {
  const config = resolveConfig(input);
  const block = {
    numHeads: config.numHeads,
    keyDim: config.keyDim,
    intermediateDim: config.intermediateDim,
    dropout: config.dropout,
    activation: config.activation,
    layerNormEpsilon: config.layerNormEpsilon,
    normalizeFirst: config.normalizeFirst,
  };
  const embedding = (name: string, sequenceLength: number) =>
    new TokenAndPositionEmbedding({
      name,
      vocabularySize: config.vocabularySize,
      sequenceLength,
      embeddingDim: config.embeddingDim,
      positionEncoding: config.positionEncoding,
    });

  const source = tf.input({ shape: [null], dtype: 'int32', name: 'source' });
  const decoderInput = tf.input({ shape: [null], dtype: 'int32', name: 'decoder_input' });

  let encoded = embedding(LAYER_NAMES.sourceEmbedding, config.maxSourceLength).apply(source) as tf.SymbolicTensor;
  for (let i = 0; i < config.numEncoderLayers; i++) {
    encoded = new TransformerEncoderBlock({ name: LAYER_NAMES.encoderBlock(i), ...block }).apply(
      encoded,
    ) as tf.SymbolicTensor;
  }
  if (config.normalizeFirst) {
    // Our norm, not tf.layers.layerNormalization: the source padding mask must survive it.
    encoded = new MaskedLayerNormalization({
      name: LAYER_NAMES.encoderFinalNorm,
      epsilon: config.layerNormEpsilon,
    }).apply(encoded) as tf.SymbolicTensor;
  }

  let decoded = embedding(LAYER_NAMES.targetEmbedding, config.maxTargetLength).apply(decoderInput) as tf.SymbolicTensor;
  for (let i = 0; i < config.numDecoderLayers; i++) {
    decoded = new TransformerDecoderBlock({ name: LAYER_NAMES.decoderBlock(i), ...block }).apply([
      decoded,
      encoded,
    ]) as tf.SymbolicTensor;
  }
  if (config.normalizeFirst) {
    decoded = new MaskedLayerNormalization({ name: LAYER_NAMES.finalNorm, epsilon: config.layerNormEpsilon }).apply(
      decoded,
    ) as tf.SymbolicTensor;
  }
  const logits = tf.layers
    .dense({ name: LAYER_NAMES.logits, units: config.vocabularySize })
    .apply(decoded) as tf.SymbolicTensor;
  return tf.model({ inputs: [source, decoderInput], outputs: logits, name: 'transformer' });
}
