/**
 * tfjs-attention: multi-head attention layers, Transformer blocks and a small
 * encoder-decoder model for TensorFlow.js.
 *
 * Importing the package registers every layer with tfjs's serialization (so
 * plain `tf.loadLayersModel` can rebuild models that use them) and, in Node,
 * a `file://` save/load route when `@tensorflow/tfjs-node` has not. Nothing
 * else: no backend, no kernel, no WebAssembly, no tensor. The async entry
 * points (`loadSeq2Seq`, `loadKerasModel`, training) make sure a backend is
 * ready (`ensureBackend`); `initBackend` chooses one explicitly.
 *
 * This file is the public API: every name exported here is documented and
 * pinned by test/api.test.ts, so a change to the list is a reviewed change.
 * Helpers that the modules share stay internal.
 */
import './io/file_system';

// Layers (one per file under src/layers).
export { MultiHeadAttention, multiHeadAttention } from './layers/multi_head_attention';
export type { MultiHeadAttentionArgs, MultiHeadAttentionCallArgs } from './layers/multi_head_attention';
export { AttentionProjection } from './layers/attention_projection';
export type { AttentionProjectionArgs } from './layers/attention_projection';
export { AttentionOutputProjection } from './layers/attention_output_projection';
export type { AttentionOutputProjectionArgs } from './layers/attention_output_projection';
export { TransformerEncoderBlock } from './layers/transformer_encoder_block';
export type { TransformerEncoderBlockArgs } from './layers/transformer_encoder_block';
export { TransformerDecoderBlock } from './layers/transformer_decoder_block';
export type { TransformerDecoderBlockArgs } from './layers/transformer_decoder_block';
export { ACTIVATIONS } from './layers/transformer_block_base';
export type { Activation, TransformerBlockArgs } from './layers/transformer_block_base';
export { TokenAndPositionEmbedding, POSITION_ENCODINGS } from './layers/token_and_position_embedding';
export type { PositionEncoding, TokenAndPositionEmbeddingArgs } from './layers/token_and_position_embedding';
export { SinusoidalPositionEncoding, sinusoidalEncoding } from './layers/sinusoidal_position_encoding';
export type { SinusoidalPositionEncodingArgs } from './layers/sinusoidal_position_encoding';
export { MaskedLayerNormalization } from './layers/masked_layer_normalization';
export type { MaskedLayerNormalizationArgs } from './layers/masked_layer_normalization';
export { causalMask } from './layers/masks';
// keras-hub's layers (registered as 'keras_hub>TransformerEncoder' etc.), for Keras models built from them.
export { KerasHubTransformerEncoder } from './layers/keras_hub/transformer_encoder';
export type {
  KerasHubTransformerEncoderArgs,
  KerasHubTransformerEncoderCallArgs,
} from './layers/keras_hub/transformer_encoder';
export { KerasHubTransformerDecoder } from './layers/keras_hub/transformer_decoder';
export type {
  KerasHubTransformerDecoderArgs,
  KerasHubTransformerDecoderCallArgs,
} from './layers/keras_hub/transformer_decoder';
export { KerasHubTokenAndPositionEmbedding } from './layers/keras_hub/token_and_position_embedding';
export type { KerasHubTokenAndPositionEmbeddingArgs } from './layers/keras_hub/token_and_position_embedding';
export { KerasHubPositionEmbedding } from './layers/keras_hub/position_embedding';
export type { KerasHubPositionEmbeddingArgs } from './layers/keras_hub/position_embedding';
export { KerasHubSinePositionEncoding } from './layers/keras_hub/sine_position_encoding';
export type { KerasHubSinePositionEncodingArgs } from './layers/keras_hub/sine_position_encoding';

// The encoder-decoder model: configuration, factory, decoding, the Seq2Seq wrapper.
export { createTransformer, LAYER_NAMES } from './model/transformer';
export { presetConfig, resolveConfig, PRESETS, PRESET_NAMES, REFERENCE_SIZE } from './model/config';
export type { ModelSize, PresetName, TransformerConfig, TransformerConfigInput } from './model/config';
export { attentionMaps, decode, greedyDecode, scoreTargets } from './decode/decode';
export type { AttentionMaps, DecodeOptions, DecodeResult, DecoderStep, PerAttentionKind } from './decode/decode';
export { loadSeq2Seq, Seq2Seq } from './model/seq2seq';
export type { GenerateOptions, LabelledAttentionMaps } from './model/seq2seq';

// The toy tasks (plain TypeScript, no TensorFlow.js).
export * from './tasks';

// Training in any runtime (the command-line runs with files live in scripts/ and src/train/run.ts).
export { Trainer } from './train/trainer';
export type { StepResult, TrainerArgs } from './train/trainer';
export { Adam } from './train/adam';
export type { AdamArgs } from './train/adam';
export { warmupSchedule, DECAYS } from './train/schedule';
export type { Decay, LearningRateSchedule, ScheduleArgs } from './train/schedule';
export { evaluateSeq2Seq } from './train/evaluate';
export { balancedShare, DEFAULT_RECIPE, TASK_RECIPES } from './train/recipe';
export type { Recipe } from './train/recipe';
export type { EvalSample, EvaluateOptions, EvaluationResult, Failure } from './train/evaluate';

// Files and formats.
export { loadKerasModel } from './keras/load';
export type { LoadKerasModelOptions } from './keras/load';
export type { KerasModelSource } from './keras/source';
export type { NonFiniteWeights } from './keras/weights';
export { ElementwiseOperation, KerasGlobalAveragePooling1D, ReduceOperation } from './keras/op_layers';
export { parseTaskJson, readTaskJson, taskInfoFor, validateTaskJson, writeTaskJson, TASK_JSON } from './io/task_json';
export type { Seq2SeqMetrics, Seq2SeqTaskInfo, Seq2SeqTrainingInfo } from './io/task_json';
export { fileSystem, NodeFileSystem, registerFileSystemRoutes } from './io/file_system';

// Backends.
export {
  ensureBackend,
  initBackend,
  installWasmExtras,
  isTfjsNodeAvailable,
  BACKEND_CHOICES,
  BACKEND_ENV_VAR,
} from './backend';
export type { BackendChoice, BackendName, InitBackendOptions, WasmExtrasOptions } from './backend';
export { installGradientFixes } from './kernels/tile_gradient';
export { kernelThreads, kernelThreadsReady, setKernelThreads, THREADS_ENV_VAR } from './kernels/threads';
export { relaxedSimdKernels } from './kernels/simd_kernels';
export type { GradientFixesOptions } from './kernels/tile_gradient';
