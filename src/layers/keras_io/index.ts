/**
 * The keras.io example classes, by the class name real Keras files give them: pass as
 * `loadKerasModel(file, {customObjects: KERAS_IO_LAYERS})` (or only the ones a file uses).
 */
import { KerasIoPositionalEmbedding } from './positional_embedding';
import { KerasIoTokenAndPositionEmbedding } from './token_and_position_embedding';
import { KerasIoTransformerBlock } from './transformer_block';
import { KerasIoTransformerEncoder } from './transformer_encoder';

export {
  KerasIoPositionalEmbedding,
  KerasIoTokenAndPositionEmbedding,
  KerasIoTransformerBlock,
  KerasIoTransformerEncoder,
};

/**
 * The keras.io example classes by their class names, for `loadKerasModel`'s `customObjects` when a
 * file was saved from those examples' code: `loadKerasModel(file, { customObjects: KERAS_IO_LAYERS })`.
 */
export const KERAS_IO_LAYERS = {
  TransformerBlock: KerasIoTransformerBlock,
  TokenAndPositionEmbedding: KerasIoTokenAndPositionEmbedding,
  PositionalEmbedding: KerasIoPositionalEmbedding,
  TransformerEncoder: KerasIoTransformerEncoder,
} as const;
