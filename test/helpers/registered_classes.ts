/** This library's own layer classes, registered with tfjs's serialization by className (= the exported name). */
export const OWN_LAYER_CLASS_NAMES = [
  'ActivationOperation',
  'AttentionOutputProjection',
  'AttentionProjection',
  'ElementwiseOperation',
  'KerasGlobalAveragePooling1D',
  'KerasIoPositionalEmbedding',
  'KerasIoTokenAndPositionEmbedding',
  'KerasIoTransformerBlock',
  'KerasIoTransformerEncoder',
  'KerasNormalization',
  'KerasSoftmax',
  'MaskedLayerNormalization',
  'MultiHeadAttention',
  'ReduceOperation',
  'SinusoidalPositionEncoding',
  'SliceOperation',
  'TokenAndPositionEmbedding',
  'TransformerDecoderBlock',
  'TransformerEncoderBlock',
];

/** keras-hub's layers: the name keras-hub registers (and our className) -> the name the package exports. */
export const KERAS_HUB_LAYERS: Record<string, string> = {
  'keras_hub>PositionEmbedding': 'KerasHubPositionEmbedding',
  'keras_hub>SinePositionEncoding': 'KerasHubSinePositionEncoding',
  'keras_hub>TokenAndPositionEmbedding': 'KerasHubTokenAndPositionEmbedding',
  'keras_hub>TransformerDecoder': 'KerasHubTransformerDecoder',
  'keras_hub>TransformerEncoder': 'KerasHubTransformerEncoder',
};

/** The layer classes that importing the package registers with tfjs's serialization, by className. */
export const LAYER_CLASS_NAMES = [...OWN_LAYER_CLASS_NAMES, ...Object.keys(KERAS_HUB_LAYERS)];

/**
 * Every name registered: the classNames, for keras-hub's the camelCased name tfjs's model.json
 * loader looks up ('kerasHub>TransformerEncoder'; see src/layers/keras_hub/parts.ts), and the
 * activation Keras 3 calls 'leaky_relu' (src/keras/activations.ts).
 */
export const REGISTERED_NAMES = [
  ...LAYER_CLASS_NAMES,
  ...Object.keys(KERAS_HUB_LAYERS).map((name) => name.replace('keras_hub>', 'kerasHub>')),
  'KerasLeakyRelu',
];

/** The exported names of those classes. */
export const LAYER_EXPORT_NAMES = [...OWN_LAYER_CLASS_NAMES, ...Object.values(KERAS_HUB_LAYERS)];
