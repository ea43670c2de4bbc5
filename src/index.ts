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
 * This file is the public API, grouped by job: the layers, the encoder-decoder
 * model, training, files and formats, backends at the top level, and the toy
 * tasks as one namespace (`tasks.createTask('reverse')`). Every name exported
 * here is documented (the API reference, `npm run docs`, fails on one that is
 * not) and pinned by test/api.test.ts, so a change to the list is a reviewed
 * change; CHANGELOG.md records it. Helpers that the modules share stay internal.
 */
import './io/file_system';

// Layers (one per file under src/layers).
export { MultiHeadAttention, multiHeadAttention } from './layers/multi_head_attention';
export type {
  AttentionInputs,
  AttentionRunOptions,
  AttentionRunResult,
  MultiHeadAttentionArgs,
  MultiHeadAttentionCallArgs,
} from './layers/multi_head_attention';
export { AttentionProjection } from './layers/attention_projection';
export type { AttentionProjectionArgs } from './layers/attention_projection';
export { AttentionOutputProjection } from './layers/attention_output_projection';
export type { AttentionOutputProjectionArgs } from './layers/attention_output_projection';
export { TransformerEncoderBlock } from './layers/transformer_encoder_block';
export type { TransformerEncoderBlockArgs } from './layers/transformer_encoder_block';
export { TransformerDecoderBlock } from './layers/transformer_decoder_block';
export type { TransformerDecoderBlockArgs } from './layers/transformer_decoder_block';
export { ACTIVATIONS } from './layers/transformer_block';
export type { Activation, BlockCacheArgs, TransformerBlockArgs } from './layers/transformer_block';
export type { CacheSlot, CachingAttention, IncrementalLayer, IncrementalRole } from './layers/incremental';
export { TokenAndPositionEmbedding, POSITION_ENCODINGS } from './layers/token_and_position_embedding';
export type { PositionEncoding, TokenAndPositionEmbeddingArgs } from './layers/token_and_position_embedding';
export { SinusoidalPositionEncoding, sinusoidalEncoding } from './layers/sinusoidal_position_encoding';
export type { SinusoidalPositionEncodingArgs } from './layers/sinusoidal_position_encoding';
export { MaskedLayerNormalization } from './layers/masked_layer_normalization';
export type { MaskedLayerNormalizationArgs } from './layers/masked_layer_normalization';
export { causalMask } from './layers/masks';
// The types the layers' arguments use.
export type { Shape } from './layers/shapes';
export type { InitializerIdentifier } from './layers/args';
export type { ConstraintIdentifier, RegularizerIdentifier } from './layers/keras_args';
export type { FullyMaskedQueries } from './ops/attention';
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
// The keras.io examples' layer classes, for Keras files built from them (loadKerasModel's customObjects).
export {
  KERAS_IO_LAYERS,
  KerasIoPositionalEmbedding,
  KerasIoTokenAndPositionEmbedding,
  KerasIoTransformerBlock,
  KerasIoTransformerEncoder,
} from './layers/keras_io';
export type { KerasIoPositionalEmbeddingArgs } from './layers/keras_io/positional_embedding';
export type { KerasIoTokenAndPositionEmbeddingArgs } from './layers/keras_io/token_and_position_embedding';
export type { KerasIoTransformerBlockArgs } from './layers/keras_io/transformer_block';
export type { KerasIoTransformerEncoderArgs } from './layers/keras_io/transformer_encoder';

// The encoder-decoder model: configuration, factory, decoding, the Seq2Seq wrapper.
export { createTransformer } from './model/transformer';
export { presetConfig, resolveConfig, PRESETS, PRESET_NAMES } from './model/config';
export type { ModelSize, PresetName, TaskSizes, TransformerConfig, TransformerConfigInput } from './model/config';
export { decode, greedyDecode, scoreTargets } from './decode/decode';
export type { DecodeOptions, DecodeResult } from './decode/decode';
export { attentionMaps } from './explain/attention_maps';
export type { AttentionMaps, PerAttentionKind } from './explain/attention_maps';
export { explainAttention, predictWithHeadMasks } from './explain/explain';
export type { AttentionExplanation, AttentionKind, ExplainOptions } from './explain/explain';
export { checkStudy, studyAttention, withMeanValues } from './explain/study';
export type { AttentionStudy, HeadStudy, LayerStudy, StudyAbout, StudyOptions, StudyScore } from './explain/study';
export { studySvg } from './explain/study_report';
export { ovSpectra } from './explain/spectrum';
export type { OvSpectrum } from './explain/spectrum';
export { generate, SAMPLERS } from './decode/generate';
export type { GenerateOptions, SamplerName } from './decode/generate';
export { CharTokenizer } from './tasks/char_tokenizer';
export { loadSeq2Seq, Seq2Seq } from './model/seq2seq';
export type { LabelledAttentionMaps, Seq2SeqGenerateOptions } from './model/seq2seq';

/**
 * The toy tasks (README, "Toy tasks"), plain TypeScript with no TensorFlow.js, as one namespace:
 * `tasks.createTask('reverse')`, `tasks.heldOutSet(task)`, `tasks.encodeBatch(task, samples)`.
 */
export * as tasks from './tasks/public';

// Training in any runtime (the command-line runs with files live in scripts/ and src/train/run.ts).
export { Trainer } from './train/trainer';
export type { StepResult, TrainerArgs, TrainerState } from './train/trainer';
export { Adam } from './train/adam';
export type { AdamArgs } from './train/adam';
export { warmupSchedule, DECAYS } from './train/schedule';
export type { Decay, LearningRateSchedule, ScheduleArgs } from './train/schedule';
export { evaluateSeq2Seq } from './train/evaluate';
export { studySeq2Seq } from './train/study';
export type { Seq2SeqStudyOptions } from './train/study';
export { trainingCurveSvg } from './train/log';
export type { EvalLogEntry, LogEntry, TrainLogEntry } from './train/log';
export { balancedShare, DEFAULT_RECIPE, TASK_RECIPES } from './train/recipe';
export type { Recipe } from './train/recipe';
export type { EvalSample, EvaluateOptions, EvaluationResult, Failure } from './train/evaluate';

// Files and formats.
export { loadKerasModel } from './keras/load';
export type { LoadKerasModelOptions } from './keras/load';
export { saveKerasModel } from './keras/save';
export type { SaveKerasModelOptions } from './keras/save';
export type { KerasModelSource } from './keras/source';
export { ModelLoadError } from './io/load_error';
export { DEFAULT_MAX_WEIGHT_BYTES } from './io/limits';
export type { ModelLoadOptions, NonFiniteWeights } from './io/limits';
export { ElementwiseOperation, KerasGlobalAveragePooling1D, KerasSoftmax, ReduceOperation } from './keras/op_layers';
export type {
  Constant,
  ElementwiseOperationArgs,
  KerasGlobalAveragePooling1DArgs,
  KerasSoftmaxArgs,
  ReduceOperationArgs,
} from './keras/op_layers';
export { ActivationOperation, KERAS_ACTIVATIONS } from './keras/activations';
export type { ActivationOperationArgs, KerasActivationName, KerasActivationOptions } from './keras/activations';
export { SliceOperation } from './keras/slicing';
export type { SliceKeyItem, SliceOperationArgs } from './keras/slicing';
export { KerasNormalization } from './keras/normalization';
export type { KerasNormalizationArgs, Statistic } from './keras/normalization';
export { parseTaskJson, readTaskJson, taskInfoFor, writeTaskJson } from './model/task_json';
export type { Seq2SeqMetrics, Seq2SeqTaskInfo, Seq2SeqTrainingInfo } from './model/task_json';
export { fileSystem, NodeFileSystem, registerFileSystemRoutes } from './io/file_system';

// Backends.
export {
  ensureBackend,
  initBackend,
  installWasmExtras,
  isTfjsNodeAvailable,
  softwareWebglRenderer,
  BACKEND_CHOICES,
} from './backend';
export type { BackendChoice, BackendName, InitBackendOptions, WasmExtrasOptions } from './backend';
export { installGradientFixes } from './kernels/tile_gradient';
export { installLayerFixes } from './layers/tfjs_layers';
export type { LayerFixesOptions } from './layers/tfjs_layers';
export { kernelThreads, kernelThreadsReady, setKernelThreads } from './kernels/threads';
export { relaxedSimdKernels, sharedHeapKernels } from './kernels/simd_kernels';
export type { GradientFixesOptions } from './kernels/tile_gradient';
