/** The layer classes that importing the package registers with tfjs's serialization, by className. */
export const LAYER_CLASS_NAMES = [
  'AttentionOutputProjection',
  'AttentionProjection',
  'MaskedLayerNormalization',
  'MultiHeadAttention',
  'SinusoidalPositionEncoding',
  'TokenAndPositionEmbedding',
  'TransformerDecoderBlock',
  'TransformerEncoderBlock',
];
