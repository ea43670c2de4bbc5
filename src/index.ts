/**
 * tfjs-attention: multi-head attention layers, Transformer blocks and a small
 * encoder-decoder model for TensorFlow.js.
 *
 * Importing the package registers every layer with tfjs's serialization (so
 * plain `tf.loadLayersModel` can rebuild models that use them) and, in Node,
 * a `file://` save/load route when `@tensorflow/tfjs-node` has not.
 */
import './io/file_system';

export * from './layers/layer_utils';
export * from './layers/attention_projection';
export * from './layers/attention_output_projection';
export * from './layers/multi_head_attention';
export * from './layers/transformer_block_base';
export * from './layers/transformer_encoder_block';
export * from './layers/transformer_decoder_block';
export * from './layers/token_and_position_embedding';
export * from './layers/sinusoidal_position_encoding';
export * from './layers/masked_layer_normalization';
export * from './model/decode';
export * from './model/seq2seq';
export * from './io/task_json';
export { loadKerasModel, rewriteKerasTopology } from './io/keras';
export * from './model/config';
export * from './model/transformer';
export * from './tasks';
export { initBackend, chooseAutoBackend, isTfjsNodeAvailable, oneHotFloat, BACKEND_CHOICES, BACKEND_ENV_VAR } from './backend';
export type { BackendName, BackendChoice, InitBackendOptions } from './backend';
export { fileSystem, NodeFileSystem, registerFileSystemRoutes } from './io/file_system';
export { atomicWriteFile, atomicWriteFileSync } from './io/atomic';
