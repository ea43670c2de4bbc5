/** The layer classes that importing the package registers with tfjs's serialization, by className. */
export const LAYER_CLASS_NAMES = [
  'AttentionOutputProjection',
  'AttentionProjection',
  'ElementwiseOperation',
  'KerasGlobalAveragePooling1D',
  'MaskedLayerNormalization',
  'MultiHeadAttention',
  'ReduceOperation',
  'SinusoidalPositionEncoding',
  'TokenAndPositionEmbedding',
  'TransformerDecoderBlock',
  'TransformerEncoderBlock',
];
