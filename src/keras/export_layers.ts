/**
 * Each tfjs layer class that has an exact Keras 3 (or keras-hub 0.32) equal, written as that
 * equal: its class, config and weights in a Keras functional graph (keras_graph_writer.ts), with
 * the padding masks tfjs applied passed explicitly (export_masks.ts). A class or argument without
 * an exact equal is an error naming the layer and what differs; nothing is approximated.
 *
 * What maps to what (README "Take a model to Keras"):
 * - tfjs's Dense, Embedding, Dropout, LayerNormalization, Activation, GlobalAverage/MaxPooling1D,
 *   Add, Multiply, Average, Maximum, Minimum, Concatenate, Flatten, Reshape, Permute, ReLU,
 *   LeakyReLU, Softmax, Conv1D, BatchNormalization: the Keras layer of that name;
 * - MultiHeadAttention: Keras's MultiHeadAttention (causal as `use_causal_mask=True`);
 * - TransformerEncoderBlock: keras-hub's TransformerEncoder; with `causal`, keras-hub's
 *   TransformerDecoder without cross-attention (the same block with a causal mask);
 *   TransformerDecoderBlock: keras-hub's TransformerDecoder;
 * - TokenAndPositionEmbedding: Embedding, `x * sqrt(D)` (a keras.ops multiply, keras-hub's
 *   embeddings have no such scale), then keras-hub's PositionEmbedding or SinePositionEncoding
 *   added; without the scale and with learned positions, keras-hub's TokenAndPositionEmbedding;
 * - SinusoidalPositionEncoding: keras-hub's SinePositionEncoding, added to the input;
 * - MaskedLayerNormalization: LayerNormalization;
 * - the keras-hub classes this package loads: themselves.
 */
import * as tf from '@tensorflow/tfjs';
import { KERAS_HUB_GROUPS } from '../layers/keras_hub/parts';
import { DEFAULT_HIERARCHICAL_ALPHA, type KerasHubPositionEmbedding } from '../layers/keras_hub/position_embedding';
import type { KerasHubSinePositionEncoding } from '../layers/keras_hub/sine_position_encoding';
import type { KerasHubTokenAndPositionEmbedding } from '../layers/keras_hub/token_and_position_embedding';
import type { KerasHubTransformerDecoder } from '../layers/keras_hub/transformer_decoder';
import type { KerasHubTransformerEncoder } from '../layers/keras_hub/transformer_encoder';
import type { MultiHeadAttention } from '../layers/multi_head_attention';
import type { TransformerBlock } from '../layers/transformer_block';
import type { CallMasks, MaskSource, MaskTensors } from './export_masks';
import type { KerasGraphWriter, KerasLayerSpec, KerasTensor } from './keras_graph_writer';
import { FLOAT32_POLICY, kerasActivation, kerasConstraint, kerasInitializer, kerasRegularizer } from './keras_objects';
import type { ActivationOperation, KerasActivationName } from './activations';
import type { KerasNormalization } from './normalization';
import type { ElementwiseOperation, KerasGlobalAveragePooling1D, KerasSoftmax, ReduceOperation } from './op_layers';
import type { SliceKeyItem, SliceOperation } from './slicing';
import type { TensorSpec } from './tfjs_graph';

/** What an exporter is given: the graph being written and the call of the tfjs layer. */
export interface ExportContext {
  graph: KerasGraphWriter;
  masks: MaskTensors;
  /** The Keras tensors of the call's inputs, in the tfjs layer's order. */
  inputs: KerasTensor[];
  /** The padding masks tfjs applies (export_masks.ts `effectiveMasks`). */
  inputMasks: CallMasks;
  /** The shapes and dtypes of the tfjs call's outputs. */
  outputs: TensorSpec[];
  /** "layer 'x' (Class)", the start of every error. */
  where: string;
}

/** Writes one call of a tfjs layer; returns the Keras tensors of its outputs. */
type Exporter = (layer: tf.layers.Layer, ctx: ExportContext) => KerasTensor[];

/** The tfjs layer's config (camelCase, tfjs's serialized objects). */
function configOf(layer: tf.layers.Layer): Record<string, unknown> {
  return layer.getConfig() as Record<string, unknown>;
}

/** What every Keras layer's config starts with. */
function base(layer: tf.layers.Layer): Record<string, unknown> {
  return { trainable: layer.trainable, dtype: FLOAT32_POLICY };
}

/** Each weight at `vars/<i>`: the layers whose tfjs and Keras weight lists are the same. */
function ownVariables(layer: tf.layers.Layer): NonNullable<KerasLayerSpec['weights']> {
  return layer.weights.map((variable, i) => ({ path: `vars/${i}`, variable }));
}

/** Writes a Keras layer named as the tfjs one and calls it on `args`, with the tfjs call's outputs. */
function write(
  layer: tf.layers.Layer,
  ctx: ExportContext,
  spec: Omit<KerasLayerSpec, 'name' | 'module'> & { module?: string; name?: string },
  args: unknown[] = [ctx.inputs.length === 1 ? ctx.inputs[0] : ctx.inputs],
  kwargs: Record<string, unknown> = {},
): KerasTensor[] {
  const name = ctx.graph.layer({
    module: 'keras.layers',
    name: layer.name,
    key: layer.name,
    ...spec,
    config: { ...base(layer), ...spec.config },
  });
  return ctx.graph.call(name, args, kwargs, ctx.outputs);
}

function refuse(ctx: ExportContext, problem: string): never {
  throw new Error(`${ctx.where}: ${problem}`);
}

/**
 * A stock layer whose Keras config is its tfjs config renamed (and checked by `convert`, which also
 * gets the layer for what its config leaves out).
 */
function stock(
  className: string,
  convert: (c: Record<string, unknown>, ctx: ExportContext, layer: tf.layers.Layer) => Record<string, unknown>,
) {
  return (layer: tf.layers.Layer, ctx: ExportContext): KerasTensor[] => {
    const c = configOf(layer);
    if (c.activityRegularizer != null) refuse(ctx, 'has an activity regularizer, which tfjs cannot run');
    return write(layer, ctx, { className, config: convert(c, ctx, layer), weights: ownVariables(layer) });
  };
}

/** The initializer, regularizer and constraint arguments of `names` ('kernel', 'bias', ...). */
function weightArgs(c: Record<string, unknown>, ctx: ExportContext, ...names: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const n of names) {
    out[`${n}_initializer`] = kerasInitializer(c[`${n}Initializer`], `${ctx.where}: ${n}Initializer`);
    if (`${n}Regularizer` in c) out[`${n}_regularizer`] = kerasRegularizer(c[`${n}Regularizer`], ctx.where);
    if (`${n}Constraint` in c) out[`${n}_constraint`] = kerasConstraint(c[`${n}Constraint`], ctx.where);
  }
  return out;
}

function merge(className: string): Exporter {
  return (layer, ctx) => write(layer, ctx, { className, config: {} }, [ctx.inputs]);
}

export const EXPORTERS: Record<string, Exporter> = {
  Dense: stock('Dense', (c, ctx) => ({
    units: c.units,
    activation: kerasActivation(c.activation, ctx.where),
    use_bias: c.useBias,
    ...weightArgs(c, ctx, 'kernel', 'bias'),
    quantization_config: null,
  })),
  Embedding: stock('Embedding', (c, ctx) => ({
    input_dim: c.inputDim,
    output_dim: c.outputDim,
    ...weightArgs(c, ctx, 'embeddings'),
    activity_regularizer: null,
    // The padding masks are passed explicitly (export_masks.ts).
    mask_zero: false,
    quantization_config: null,
  })),
  Dropout: stock('Dropout', (c) => ({ rate: c.rate, seed: c.seed ?? null, noise_shape: c.noiseShape ?? null })),
  LayerNormalization: stock('LayerNormalization', (c, ctx) => ({
    axis: c.axis,
    epsilon: c.epsilon,
    center: c.center,
    scale: c.scale,
    rms_scaling: false,
    ...weightArgs(c, ctx, 'beta', 'gamma'),
  })),
  Activation: stock('Activation', (c, ctx) => ({ activation: kerasActivation(c.activation, ctx.where) })),
  // tfjs 4.22's global poolings always reduce axis 1 and ignore masks (README "defects"): Keras's
  // channels_last pooling, with no mask passed, computes the same.
  GlobalAveragePooling1D: stock('GlobalAveragePooling1D', () => ({ data_format: 'channels_last', keepdims: false })),
  GlobalMaxPooling1D: stock('GlobalMaxPooling1D', () => ({ data_format: 'channels_last', keepdims: false })),
  Add: merge('Add'),
  Multiply: merge('Multiply'),
  Average: merge('Average'),
  Maximum: merge('Maximum'),
  Minimum: merge('Minimum'),
  Concatenate: (layer, ctx) =>
    write(layer, ctx, { className: 'Concatenate', config: { axis: configOf(layer).axis } }, [ctx.inputs]),
  Flatten: stock('Flatten', () => ({ data_format: 'channels_last' })),
  Reshape: stock('Reshape', (c) => ({ target_shape: c.targetShape })),
  Permute: stock('Permute', (c) => ({ dims: c.dims })),
  ReLU: stock('ReLU', (c) => ({ max_value: c.maxValue ?? null, negative_slope: 0, threshold: 0 })),
  LeakyReLU: stock('LeakyReLU', (c) => ({ negative_slope: c.alpha })),
  Softmax: stock('Softmax', (c) => ({ axis: c.axis })),
  Conv1D: stock('Conv1D', (c, ctx, layer) => {
    // tfjs 4.22's Conv1D.getConfig deletes dataFormat (tfjs-layers layers/convolutional.js): the layer's own.
    const { dataFormat } = layer as unknown as { dataFormat: unknown };
    if (dataFormat !== 'channelsLast')
      refuse(ctx, `dataFormat ${JSON.stringify(dataFormat)}: only channelsLast is written`);
    return {
      filters: c.filters,
      kernel_size: c.kernelSize,
      strides: c.strides,
      padding: c.padding,
      data_format: 'channels_last',
      dilation_rate: c.dilationRate,
      groups: 1,
      activation: kerasActivation(c.activation, ctx.where),
      use_bias: c.useBias,
      ...weightArgs(c, ctx, 'kernel', 'bias'),
    };
  }),
  BatchNormalization: stock('BatchNormalization', (c, ctx) => ({
    axis: c.axis,
    momentum: c.momentum,
    epsilon: c.epsilon,
    center: c.center,
    scale: c.scale,
    ...weightArgs(c, ctx, 'beta', 'gamma'),
    moving_mean_initializer: kerasInitializer(c.movingMeanInitializer, ctx.where),
    moving_variance_initializer: kerasInitializer(c.movingVarianceInitializer, ctx.where),
    synchronized: false,
  })),
  MaskedLayerNormalization: (layer, ctx) =>
    write(layer, ctx, {
      className: 'LayerNormalization',
      config: {
        axis: -1,
        epsilon: (layer as unknown as { epsilon: number }).epsilon,
        center: true,
        scale: true,
        rms_scaling: false,
        ...weightArgs(
          { betaInitializer: { className: 'Zeros', config: {} }, gammaInitializer: { className: 'Ones', config: {} } },
          ctx,
          'beta',
          'gamma',
        ),
      },
      weights: ownVariables(layer),
    }),
  MultiHeadAttention: (layer, ctx) => exportAttention(layer as MultiHeadAttention, ctx),
  TransformerEncoderBlock: (layer, ctx) => exportBlock(layer as TransformerBlock, ctx),
  TransformerDecoderBlock: (layer, ctx) => exportBlock(layer as TransformerBlock, ctx),
  TokenAndPositionEmbedding: (layer, ctx) => exportTokenAndPositionEmbedding(layer, ctx),
  'keras_hub>TransformerEncoder': (layer, ctx) => exportKerasHubEncoder(layer as KerasHubTransformerEncoder, ctx),
  'keras_hub>TransformerDecoder': (layer, ctx) => exportKerasHubDecoder(layer as KerasHubTransformerDecoder, ctx),
  'keras_hub>TokenAndPositionEmbedding': (layer, ctx) => {
    const l = layer as KerasHubTokenAndPositionEmbedding;
    return write(l, ctx, {
      ...KERAS_HUB('token_and_position_embedding', 'TokenAndPositionEmbedding'),
      config: {
        vocabulary_size: l.vocabularySize,
        sequence_length: l.sequenceLength,
        embedding_dim: l.embeddingDim,
        embeddings_initializer: kerasInitializer(serialize(l.embeddingsInitializer), ctx.where),
        tie_weights: l.tieWeights,
        mask_zero: false,
      },
      weights: pathsOf(l.weights, l.kerasWeightPaths()),
    });
  },
  'keras_hub>PositionEmbedding': (layer, ctx) => {
    const l = layer as KerasHubPositionEmbedding;
    if (l.hierarchicalAlpha !== DEFAULT_HIERARCHICAL_ALPHA) {
      refuse(
        ctx,
        `hierarchicalAlpha ${l.hierarchicalAlpha}: keras-hub 0.32's PositionEmbedding has no hierarchical_alpha`,
      );
    }
    return write(l, ctx, {
      ...KERAS_HUB('position_embedding', 'PositionEmbedding'),
      config: { sequence_length: l.sequenceLength, initializer: kerasInitializer(serialize(l.initializer), ctx.where) },
      weights: ownVariables(l),
    });
  },
  'keras_hub>SinePositionEncoding': (layer, ctx) =>
    write(layer, ctx, {
      ...KERAS_HUB('sine_position_encoding', 'SinePositionEncoding'),
      config: { max_wavelength: (layer as KerasHubSinePositionEncoding).maxWavelength },
    }),
  ElementwiseOperation: (layer, ctx) => exportElementwise(layer as ElementwiseOperation, ctx),
  SliceOperation: (layer, ctx) => [
    ctx.graph.op(
      'GetItem',
      layer.name,
      [ctx.inputs[0], (layer as SliceOperation).key.map(kerasKeyItem)],
      {},
      ctx.outputs[0],
    ),
  ],
  KerasGlobalAveragePooling1D: (layer, ctx) => {
    const l = layer as KerasGlobalAveragePooling1D;
    const config = { data_format: l.dataFormat, keepdims: l.keepdims };
    return write(l, ctx, { className: 'GlobalAveragePooling1D', config }, [ctx.inputs[0]], layerMask(ctx));
  },
  KerasSoftmax: (layer, ctx) =>
    write(
      layer,
      ctx,
      { className: 'Softmax', config: { axis: (layer as KerasSoftmax).axis } },
      [ctx.inputs[0]],
      layerMask(ctx),
    ),
  KerasNormalization: (layer, ctx) => {
    const l = layer as KerasNormalization;
    const axis = l.axis.length === 0 ? null : l.axis.length === 1 ? l.axis[0] : l.axis;
    const config = { axis, invert: l.invert, mean: l.mean, variance: l.variance };
    return write(l, ctx, { className: 'Normalization', config, weights: ownVariables(l) }, [ctx.inputs[0]]);
  },
  ActivationOperation: (layer, ctx) => {
    const { activation, options } = layer as ActivationOperation;
    const op = ACTIVATION_OPERATIONS[activation];
    if (op == null) refuse(ctx, `activation ${activation} has no keras.ops operation`);
    const config = {
      gelu: { approximate: options.approximate },
      leaky_relu: { negative_slope: options.negativeSlope },
      elu: { alpha: options.alpha },
      softmax: { axis: options.axis },
    }[activation as string];
    return [ctx.graph.op(op, layer.name, [ctx.inputs[0]], {}, ctx.outputs[0], config ?? {})];
  },
  ReduceOperation: (layer, ctx) => {
    const { operation, axis, keepdims } = layer as ReduceOperation;
    const op = { mean: 'Mean', sum: 'Sum', max: 'Max', min: 'Min', prod: 'Prod' }[operation];
    return [ctx.graph.op(op, layer.name, [ctx.inputs[0]], {}, ctx.outputs[0], { axis, keepdims })];
  },
  SinusoidalPositionEncoding: (layer, ctx) => {
    const maxWavelength = (layer as unknown as { maxWavelength: number }).maxWavelength;
    const [x] = ctx.inputs;
    const positions = sinePositions(ctx, `${layer.name}_sine_position_encoding`, maxWavelength, x, layer.trainable);
    return [ctx.graph.op('Add', layer.name, [x, positions], {}, ctx.outputs[0])];
  },
};

// ---------------------------------------------------------------------------------------------
// Attention.

/** Keras MultiHeadAttention's config of our layer; `where` for errors. */
function attentionConfig(layer: MultiHeadAttention, ctx: ExportContext): Record<string, unknown> {
  // softmaxRobustMasking (tf-keras's) has no Keras 3 argument, and changes nothing here: Keras 3's
  // masked softmax always sets masked scores to the lowest number (keras/src/layers/activations/softmax.py).
  return {
    num_heads: layer.numHeads,
    key_dim: layer.keyDim,
    value_dim: layer.valueDim,
    dropout: layer.dropout,
    use_bias: layer.useBias,
    use_gate: layer.useGate,
    output_shape: layer.outputDim,
    attention_axes: null,
    sliding_window: layer.slidingWindow,
    kernel_initializer: kerasInitializer(serialize(layer.kernelInitializer), ctx.where),
    bias_initializer: kerasInitializer(serialize(layer.biasInitializer), ctx.where),
    kernel_regularizer: kerasRegularizer(serialize(layer.kernelRegularizer), ctx.where),
    bias_regularizer: kerasRegularizer(serialize(layer.biasRegularizer), ctx.where),
    activity_regularizer: null,
    kernel_constraint: kerasConstraint(serialize(layer.kernelConstraint), ctx.where),
    bias_constraint: kerasConstraint(serialize(layer.biasConstraint), ctx.where),
    seed: layer.seed,
    ...(layer.flashAttention == null ? {} : { flash_attention: layer.flashAttention }),
  };
}

function serialize(object: tf.serialization.Serializable | null): unknown {
  return object == null ? null : { className: object.getClassName(), config: object.getConfig() };
}

/**
 * Keras's attention with dropout, or returning its scores, runs a softmax that gives a query whose
 * keys are all masked zero attention (keras/src/layers/activations/softmax.py); without, its fused
 * `dot_product_attention` gives it uniform attention. Our attention gives what its
 * `fullyMaskedQueries` says (`zero`; our blocks' attention: uniform). Where the two differ, masks
 * that can mask a whole row give other numbers: refused.
 */
function checkFullyMaskedRows(
  ctx: ExportContext,
  what: string,
  dropout: number,
  returnScores: boolean,
  masked: boolean,
  zero = false,
): void {
  const kerasZero = dropout > 0 || returnScores;
  if (!masked || kerasZero === zero) return;
  if (zero) {
    refuse(
      ctx,
      `${what} has fullyMaskedQueries 'zero' and receives padding or attention masks: Keras's attention without ` +
        'dropout or returned scores gives a query whose keys are all masked (a padded position) uniform attention, ' +
        `so the outputs at padded positions would differ; save a copy with fullyMaskedQueries 'uniform'`,
    );
  }
  refuse(
    ctx,
    `${what} has ${returnScores ? 'returnAttentionScores' : `dropout ${dropout}`} and receives padding or ` +
      "attention masks: Keras's attention then gives a query whose keys are all masked (a padded position) " +
      'zero attention where tfjs gives it uniform attention, so the outputs at padded positions would differ; ' +
      `save a copy with ${returnScores ? 'returnAttentionScores false' : 'dropout 0'} in its attention` +
      ", or with fullyMaskedQueries 'zero'",
  );
}

/**
 * Our MultiHeadAttention as Keras's, called `(query, value, key=, value_mask=, key_mask=,
 * attention_mask=, use_causal_mask=)`: the value and key padding masks tfjs applied as
 * `value_mask`/`key_mask`, the query's (a `query_mask` input, else the query's own) as
 * `attention_mask` rows (B, T, 1), ANDed with an attention mask input (Keras 3.8+ reads a query mask
 * only from the query's implicit mask, which the written model does not carry).
 */
function exportAttention(layer: MultiHeadAttention, ctx: ExportContext): KerasTensor[] {
  const names = layer.callArguments ?? ['query', 'value', 'key'].slice(0, ctx.inputs.length);
  const input = (role: string) => {
    const i = names.indexOf(role);
    return i < 0 ? null : { tensor: ctx.inputs[i], mask: ctx.inputMasks.inputs[i] };
  };
  const query = input('query')!;
  const value = input('value') ?? query;
  const key = input('key');
  // An explicit mask input wins over the tensor's own (as in our layer and Keras).
  const queryMask: MaskSource | null = input('query_mask')?.tensor ?? query.mask;
  // Without a value input the value is the query, and its mask the query's (as in our layer).
  const valueMask: MaskSource | null = input('value_mask')?.tensor ?? (input('value') == null ? queryMask : value.mask);
  const keyMask: MaskSource | null = input('key_mask')?.tensor ?? key?.mask ?? null;
  const userMask = input('attention_mask')?.tensor ?? null;
  checkFullyMaskedRows(
    ctx,
    'the attention',
    layer.dropout,
    layer.returnAttentionScores,
    queryMask != null || valueMask != null || keyMask != null || userMask != null || layer.slidingWindow != null,
    layer.fullyMaskedQueries === 'zero',
  );
  let attentionMask: KerasTensor | null = queryMask == null ? null : ctx.masks.rows(queryMask);
  if (userMask != null) {
    const user = ctx.masks.padding(userMask);
    attentionMask = attentionMask == null ? user : ctx.masks.and(attentionMask, user);
  }
  const kwargs: Record<string, unknown> = {};
  if (key != null) kwargs.key = key.tensor;
  if (valueMask != null) kwargs.value_mask = ctx.masks.padding(valueMask);
  if (keyMask != null) kwargs.key_mask = ctx.masks.padding(keyMask);
  if (attentionMask != null) kwargs.attention_mask = attentionMask;
  if (layer.causal) kwargs.use_causal_mask = true;
  if (layer.returnAttentionScores) kwargs.return_attention_scores = true;
  return write(
    layer,
    ctx,
    {
      className: 'MultiHeadAttention',
      config: attentionConfig(layer, ctx),
      weights: pathsOf(layer.weights, layer.kerasWeightPaths()),
    },
    [query.tensor, value.tensor],
    kwargs,
  );
}

function pathsOf(variables: tf.LayerVariable[], paths: string[]): NonNullable<KerasLayerSpec['weights']> {
  return variables.map((variable, i) => ({ path: paths[i], variable }));
}

/**
 * Our transformer blocks as keras-hub's TransformerEncoder / TransformerDecoder, which compute the
 * same (TransformerBlock is keras-hub's block): the same sub-layers, residuals, pre/post-LN,
 * activation and epsilon, key dim D / H. The masks tfjs applied go in as attention masks
 * (B, T, S): our blocks mask the padded queries too, which keras-hub does only through implicit
 * masks.
 */
function exportBlock(block: TransformerBlock, ctx: ExportContext): KerasTensor[] {
  const className = block.getClassName();
  const [sequence, memory] = ctx.inputs;
  const [sequenceMask, memoryMask = null] = ctx.inputMasks.inputs;
  const width = sequence.shape[2] as number;
  const keyDim = block.selfAttention!.keyDim;
  if (keyDim !== Math.floor(width / block.numHeads)) {
    refuse(
      ctx,
      `keyDim ${keyDim} differs from width / numHeads = ${width} / ${block.numHeads}, which keras-hub always uses`,
    );
  }
  const causal = className === 'TransformerDecoderBlock' || (block as unknown as { causal: boolean }).causal;
  checkFullyMaskedRows(
    ctx,
    'the block',
    block.dropout,
    false,
    sequenceMask != null || memoryMask != null,
    block.fullyMaskedQueries === 'zero',
  );
  const kwargs: Record<string, unknown> = {};
  const self = sequenceMask == null ? null : ctx.masks.pair(sequenceMask, [sequenceMask]);
  if (memory != null) {
    if (sequenceMask != null && memoryMask == null) {
      refuse(
        ctx,
        'masks the padded decoder positions but its encoder sequence has no padding mask, which keras-hub ' +
          'cannot be given in a form loadKerasModel reads back; give the encoder sequence a padding mask',
      );
    }
    if (sequenceMask != null) kwargs.encoder_attention_mask = ctx.masks.pair(sequenceMask, [memoryMask!]);
    else if (memoryMask != null) kwargs.encoder_padding_mask = ctx.masks.padding(memoryMask);
  }
  if (self != null) kwargs[causal ? 'decoder_attention_mask' : 'attention_mask'] = self;
  const hubClass = causal ? 'TransformerDecoder' : 'TransformerEncoder';
  return write(
    block,
    ctx,
    {
      ...KERAS_HUB(causal ? 'transformer_decoder' : 'transformer_encoder', hubClass),
      config: {
        ...hubBlockConfig(block, ctx),
        ...(causal ? { decoder_sequence_shape: null, encoder_sequence_shape: null } : {}),
      },
      weights: blockWeights(block),
    },
    memory == null ? [sequence] : [sequence, memory],
    kwargs,
  );
}

/** A block's weights at keras-hub's paths: each sub-layer under its attribute (KERAS_HUB_GROUPS). */
function blockWeights(block: TransformerBlock): KerasLayerSpec['weights'] {
  return block.sublayers().flatMap(({ name, attention, variables }) => {
    const group = KERAS_HUB_GROUPS[name];
    const paths = attention ? attention.kerasWeightPaths() : variables.map((_v, i) => `vars/${i}`);
    return pathsOf(
      variables,
      paths.map((p) => `${group}/${p}`),
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Embeddings.

/** keras-hub's SinePositionEncoding of `x`: the (T, D) table broadcast to x's shape. */
function sinePositions(
  ctx: ExportContext,
  name: string,
  maxWavelength: number,
  x: KerasTensor,
  trainable: boolean,
): KerasTensor {
  const layer = ctx.graph.layer({
    module: 'keras_hub.src.layers.modeling.sine_position_encoding',
    className: 'SinePositionEncoding',
    registeredName: 'keras_hub>SinePositionEncoding',
    key: name,
    name: ctx.graph.uniqueName(name),
    config: { trainable, dtype: FLOAT32_POLICY, max_wavelength: maxWavelength },
  });
  return ctx.graph.call(layer, [x], {}, [{ shape: x.shape, dtype: 'float32' }])[0];
}

interface OurTokenAndPositionEmbedding extends tf.layers.Layer {
  vocabularySize: number;
  sequenceLength: number;
  embeddingDim: number;
  scaleEmbeddings: boolean;
  positionEncoding: 'learned' | 'sinusoidal';
  embeddingsInitializer: tf.serialization.Serializable;
  tokenEmbedding: tf.LayerVariable;
  positionEmbedding: tf.LayerVariable | null;
}

/**
 * `token_embedding[id] * sqrt(D) + positions[t]`: keras-hub's TokenAndPositionEmbedding when there
 * is no scale and the positions are learned; else an Embedding, the scale as `keras.ops.multiply`
 * (the same float32 product), and keras-hub's PositionEmbedding or SinePositionEncoding, added.
 */
function exportTokenAndPositionEmbedding(tfjsLayer: tf.layers.Layer, ctx: ExportContext): KerasTensor[] {
  const layer = tfjsLayer as OurTokenAndPositionEmbedding;
  const initializer = kerasInitializer(serialize(layer.embeddingsInitializer), ctx.where);
  const [ids] = ctx.inputs;
  const [out] = ctx.outputs;
  const learned = layer.positionEncoding === 'learned';
  if (!layer.scaleEmbeddings && learned) {
    return write(
      layer,
      ctx,
      {
        module: 'keras_hub.src.layers.modeling.token_and_position_embedding',
        className: 'TokenAndPositionEmbedding',
        registeredName: 'keras_hub>TokenAndPositionEmbedding',
        config: {
          vocabulary_size: layer.vocabularySize,
          sequence_length: layer.sequenceLength,
          embedding_dim: layer.embeddingDim,
          embeddings_initializer: initializer,
          tie_weights: true,
          mask_zero: false,
        },
        weights: [
          { path: 'token_embedding/vars/0', variable: layer.tokenEmbedding },
          { path: 'position_embedding/vars/0', variable: layer.positionEmbedding! },
        ],
      },
      [ids],
    );
  }
  const embedding = ctx.graph.layer({
    module: 'keras.layers',
    className: 'Embedding',
    name: layer.name,
    key: layer.name,
    config: {
      ...base(layer),
      input_dim: layer.vocabularySize,
      output_dim: layer.embeddingDim,
      embeddings_initializer: initializer,
      embeddings_regularizer: null,
      activity_regularizer: null,
      embeddings_constraint: null,
      mask_zero: false,
      quantization_config: null,
    },
    weights: [{ path: 'vars/0', variable: layer.tokenEmbedding }],
  });
  let tokens = ctx.graph.call(embedding, [ids], {}, [out])[0];
  if (layer.scaleEmbeddings) {
    tokens = ctx.graph.op('Multiply', `${layer.name}_scale`, [tokens, Math.sqrt(layer.embeddingDim)], {}, out);
  }
  let positions: KerasTensor;
  if (learned) {
    const positionLayer = ctx.graph.layer({
      module: 'keras_hub.src.layers.modeling.position_embedding',
      className: 'PositionEmbedding',
      registeredName: 'keras_hub>PositionEmbedding',
      key: `${layer.name}/positions`,
      name: ctx.graph.uniqueName(`${layer.name}_position_embedding`),
      config: { ...base(layer), sequence_length: layer.sequenceLength, initializer },
      weights: [{ path: 'vars/0', variable: layer.positionEmbedding! }],
    });
    positions = ctx.graph.call(positionLayer, [tokens], {}, [out])[0];
  } else {
    positions = sinePositions(ctx, `${layer.name}_sine_position_encoding`, 10000, tokens, layer.trainable);
  }
  return [ctx.graph.op('Add', `${layer.name}_add`, [tokens, positions], {}, out)];
}

// ---------------------------------------------------------------------------------------------
// The classes loadKerasModel makes: keras-hub's layers and Keras's operations, written back.

/** A keras-hub class: its module and registered name. */
function KERAS_HUB(file: string, className: string) {
  return {
    module: `keras_hub.src.layers.modeling.${file}`,
    className,
    registeredName: `keras_hub>${className}`,
  };
}

/** The config keras-hub's TransformerEncoder and TransformerDecoder share. */
function hubBlockConfig(block: TransformerBlock, ctx: ExportContext): Record<string, unknown> {
  if (block.kernelRegularizer != null || block.biasRegularizer != null) {
    refuse(ctx, "has regularizers, which keras-hub 0.32's transformer layers do not take");
  }
  return {
    intermediate_dim: block.intermediateDim,
    num_heads: block.numHeads,
    dropout: block.dropout,
    activation: block.activation,
    layer_norm_epsilon: block.layerNormEpsilon,
    kernel_initializer: kerasInitializer(serialize(block.kernelInitializer), ctx.where),
    bias_initializer: kerasInitializer(serialize(block.biasInitializer), ctx.where),
    normalize_first: block.normalizeFirst,
  };
}

/** The inputs of a call by Keras call argument (`callArguments`, else `positional`), with their masks. */
function byArgument(ctx: ExportContext, callArguments: string[] | null, positional: string[]) {
  const names = callArguments ?? positional.slice(0, ctx.inputs.length);
  return (name: string) => {
    const i = names.indexOf(name);
    return i < 0 ? null : { tensor: ctx.inputs[i], mask: ctx.inputMasks.inputs[i] };
  };
}

/**
 * A keras-hub self-attention's masks as its call arguments: what our class applies (its input's
 * own mask on the queries and, unless a padding mask input is given, on the keys; the padding mask
 * input on the keys; the attention mask input), with the query part as an attention mask (B, T, T).
 */
function selfAttentionMasks(
  ctx: ExportContext,
  own: MaskSource | null,
  paddingInput: KerasTensor | null,
  attentionInput: KerasTensor | null,
): { padding: KerasTensor | null; attention: KerasTensor | null } {
  if (own == null) return { padding: paddingInput, attention: attentionInput };
  const keys: MaskSource[] = paddingInput == null ? [own] : [paddingInput, own];
  const pair = ctx.masks.pair(own, keys);
  return {
    padding: null,
    attention: attentionInput == null ? pair : ctx.masks.and(pair, ctx.masks.padding(attentionInput)),
  };
}

function exportKerasHubEncoder(layer: KerasHubTransformerEncoder, ctx: ExportContext): KerasTensor[] {
  const input = byArgument(ctx, layer.callArguments, ['inputs']);
  const x = input('inputs')!;
  const masks = selfAttentionMasks(
    ctx,
    x.mask,
    input('padding_mask')?.tensor ?? null,
    input('attention_mask')?.tensor ?? null,
  );
  checkFullyMaskedRows(
    ctx,
    'the layer',
    layer.dropout,
    false,
    masks.padding != null || masks.attention != null,
    layer.fullyMaskedQueries === 'zero',
  );
  const kwargs: Record<string, unknown> = {};
  if (masks.padding != null) kwargs.padding_mask = masks.padding;
  if (masks.attention != null) kwargs.attention_mask = masks.attention;
  return write(
    layer,
    ctx,
    {
      ...KERAS_HUB('transformer_encoder', 'TransformerEncoder'),
      config: hubBlockConfig(layer, ctx),
      weights: pathsOf(layer.weights, layer.kerasWeightPaths()),
    },
    [x.tensor],
    kwargs,
  );
}

function exportKerasHubDecoder(layer: KerasHubTransformerDecoder, ctx: ExportContext): KerasTensor[] {
  const input = byArgument(ctx, layer.callArguments, ['decoder_sequence', 'encoder_sequence']);
  const decoder = input('decoder_sequence')!;
  const encoder = input('encoder_sequence');
  const self = selfAttentionMasks(
    ctx,
    decoder.mask,
    input('decoder_padding_mask')?.tensor ?? null,
    input('decoder_attention_mask')?.tensor ?? null,
  );
  const kwargs: Record<string, unknown> = {};
  if (self.padding != null) kwargs.decoder_padding_mask = self.padding;
  if (self.attention != null) kwargs.decoder_attention_mask = self.attention;
  let crossMasked = false;
  if (encoder != null) {
    // Cross-attention: no query mask (keras-hub's query is a residual sum), the encoder's padding
    // on the keys (the padding mask input and the sequence's own), and the attention mask input.
    const keys = [input('encoder_padding_mask')?.tensor ?? null, encoder.mask].filter(
      (m): m is MaskSource => m != null,
    );
    if (keys.length > 0) {
      kwargs.encoder_padding_mask = keys.map((m) => ctx.masks.padding(m)).reduce((a, b) => ctx.masks.and(a, b));
    }
    const attention = input('encoder_attention_mask')?.tensor;
    if (attention != null) kwargs.encoder_attention_mask = attention;
    crossMasked = keys.length > 0 || attention != null;
  }
  if (!layer.useCausalMask) kwargs.use_causal_mask = false;
  checkFullyMaskedRows(
    ctx,
    'the layer',
    layer.dropout,
    false,
    self.padding != null || self.attention != null || crossMasked,
    layer.fullyMaskedQueries === 'zero',
  );
  return write(
    layer,
    ctx,
    {
      ...KERAS_HUB('transformer_decoder', 'TransformerDecoder'),
      config: {
        ...hubBlockConfig(layer, ctx),
        decoder_sequence_shape: layer.decoderSequenceShape,
        encoder_sequence_shape: layer.encoderSequenceShape,
      },
      weights: pathsOf(layer.weights, layer.kerasWeightPaths()),
    },
    encoder == null ? [decoder.tensor] : [decoder.tensor, encoder.tensor],
    kwargs,
  );
}

/** The keras.ops class of each elementwise operation, and Keras's merge layer of those that have one. */
const ELEMENTWISE: Record<string, { op?: string; layer?: string; bool?: boolean }> = {
  add: { op: 'Add', layer: 'Add' },
  subtract: { op: 'Subtract', layer: 'Subtract' },
  multiply: { op: 'Multiply', layer: 'Multiply' },
  divide: { op: 'Divide' },
  maximum: { op: 'Maximum', layer: 'Maximum' },
  minimum: { op: 'Minimum', layer: 'Minimum' },
  power: { op: 'Power' },
  average: { layer: 'Average' },
  equal: { op: 'Equal', bool: true },
  not_equal: { op: 'NotEqual', bool: true },
  logical_and: { op: 'LogicalAnd', bool: true },
  logical_or: { op: 'LogicalOr', bool: true },
};

/**
 * `x op y` as Keras wrote it: Keras's merge layer (Add, ...) when it ANDs the masks (it was one),
 * else the keras.ops operation, a constant operand as a number or a `__tensor__`.
 */
function exportElementwise(layer: ElementwiseOperation, ctx: ExportContext): KerasTensor[] {
  const kind = ELEMENTWISE[layer.operation];
  if (layer.mergeMasks && kind.layer != null && layer.constant == null) {
    return write(layer, ctx, { className: kind.layer, config: {} }, [ctx.inputs]);
  }
  if (kind.op == null) refuse(ctx, `operation ${layer.operation} is a Keras layer only, and this one has a constant`);
  const constant =
    layer.constant == null
      ? []
      : [
          typeof layer.constant === 'number'
            ? layer.constant
            : { class_name: '__tensor__', config: { value: layer.constant, dtype: 'float32' } },
        ];
  const args = layer.constantFirst ? [...constant, ...ctx.inputs] : [...ctx.inputs, ...constant];
  return [ctx.graph.op(kind.op, layer.name, args, {}, ctx.outputs[0])];
}

/** A slice key item as Keras's GetItem key writes it. */
function kerasKeyItem(item: SliceKeyItem): unknown {
  if (item === 'ellipsis') return { class_name: '__ellipsis__', config: {} };
  if (item == null || typeof item === 'number') return item;
  return { class_name: '__slice__', config: { start: item.start, stop: item.stop, step: item.step } };
}

/** keras.ops's class of each activation ActivationOperation computes (keras/src/ops/nn.py). */
const ACTIVATION_OPERATIONS: Partial<Record<KerasActivationName, string>> = {
  relu: 'Relu',
  relu6: 'Relu6',
  sigmoid: 'Sigmoid',
  tanh: 'Tanh',
  softplus: 'Softplus',
  softsign: 'Softsign',
  silu: 'Silu',
  swish: 'Silu',
  selu: 'Selu',
  mish: 'Mish',
  gelu: 'Gelu',
  leaky_relu: 'LeakyRelu',
  elu: 'Elu',
  softmax: 'Softmax',
};

/**
 * The `mask` call argument of a Keras layer that reads the padding mask (GlobalAveragePooling1D,
 * Softmax): a mask input as given, or the executor's mask of its input, which tfjs hands these
 * classes directly; loadKerasModel makes the written `mask` their second input again.
 */
function layerMask(ctx: ExportContext): Record<string, unknown> {
  if (ctx.inputs.length > 1) return { mask: ctx.inputs[1] };
  const mask = ctx.inputMasks.kwargsMask;
  if (mask === 'foreign') {
    refuse(
      ctx,
      "receives a padding mask that is not its input's (tfjs 4.22's shared call arguments), " +
        'which Keras would not pass it',
    );
  }
  return mask == null ? {} : { mask: ctx.masks.padding(mask) };
}
