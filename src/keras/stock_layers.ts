/**
 * The Keras layers that load into tfjs's own layers, each with the arguments it may have checked:
 * an argument tfjs would ignore or compute differently is converted or refused, never passed on
 * to be silently wrong. Defaults and meanings are from keras/src/layers/ (Keras 3) and
 * tf-keras (Keras 2); the values allowed are the ones whose tfjs result equals Keras's.
 */
import { KerasLeakyRelu } from './activations';
import { KerasNormalization } from './normalization';
import { SliceOperation } from './slicing';

/** The part of a graph layer (graph.ts's LayerJson) that the checks read. */
interface LayerJson {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
}

type Check = (value: unknown) => string | null;

const any: Check = () => null;
const nullish: Check = (v) => (v == null ? null : 'only null is supported');
const isFalse: Check = (v) => (v == null || v === false ? null : 'only false is supported');
const zeroOrNull: Check = (v) => (v == null || v === 0 ? null : 'only 0 / null is supported (LoRA is not)');
const oneOf =
  (...allowed: unknown[]): Check =>
  (v) =>
    allowed.includes(v) ? null : `expected ${allowed.map((a) => JSON.stringify(a)).join(' or ')}`;
const lastAxis: Check = (v) => {
  const axes = Array.isArray(v) ? v : [v];
  return axes.length === 1 && (axes[0] === -1 || Number.isInteger(axes[0])) ? null : 'only a single axis is supported';
};

/**
 * Keras activation names -> the tfjs activation computing the same (tfjs's 'gelu' is the exact, erf
 * one, as Keras's; Keras 3's 'leaky_relu' has slope 0.2, activations.ts).
 */
export const ACTIVATIONS: Record<string, string> = {
  linear: 'linear',
  relu: 'relu',
  relu6: 'relu6',
  sigmoid: 'sigmoid',
  softmax: 'softmax',
  tanh: 'tanh',
  elu: 'elu',
  selu: 'selu',
  softplus: 'softplus',
  softsign: 'softsign',
  swish: 'swish',
  silu: 'swish',
  gelu: 'gelu',
  mish: 'mish',
  leaky_relu: KerasLeakyRelu.className,
};

const croppingPair: Check = (v) => {
  const pair = typeof v === 'number' ? [v, v] : v;
  return Array.isArray(pair) && pair.length === 2 && pair.every((c) => Number.isInteger(c) && c >= 0)
    ? null
    : 'expected an integer >= 0 or a pair of them';
};

const activation: Check = (v) =>
  typeof v === 'string' && v in ACTIVATIONS
    ? null
    : `expected one of ${Object.keys(ACTIVATIONS).join(', ')} (tfjs has no equal of the others)`;

const WEIGHT_ARGS = (...names: string[]): Record<string, Check> =>
  Object.fromEntries(
    names.flatMap((n) => [
      [`${n}_initializer`, any],
      [`${n}_regularizer`, any],
      [`${n}_constraint`, any],
    ]),
  );

function merge(operation: string): StockLayer {
  return {
    args: {},
    convert: (config) => ({ className: 'ElementwiseOperation', config: { ...config, operation, merge_masks: true } }),
  };
}

/**
 * Keras's Conv1D or Conv2D as tfjs's class of the same name: channels last, one group, no LoRA,
 * the paddings tfjs has for it.
 */
function convolution(className: 'Conv1D' | 'Conv2D', paddings: string[]): StockLayer {
  return {
    args: {
      filters: any,
      kernel_size: any,
      strides: any,
      padding: oneOf(...paddings),
      data_format: oneOf('channels_last', null),
      dilation_rate: any,
      groups: oneOf(1, null),
      activation,
      use_bias: any,
      ...WEIGHT_ARGS('kernel', 'bias'),
      lora_rank: zeroOrNull,
      lora_alpha: any,
    },
    convert: ({ groups: _g, lora_rank: _r, lora_alpha: _a, ...config }) => ({
      className,
      config: { ...config, activation: ACTIVATIONS[config.activation as string] },
    }),
  };
}

/** Keys every layer may have (Keras base Layer arguments). */
const BASE: Record<string, Check> = {
  name: any,
  trainable: any,
  dtype: any,
  batch_input_shape: any,
  batch_size: any,
  activity_regularizer: any,
  input_dim: any,
};

interface StockLayer {
  args: Record<string, Check>;
  /** Rewrites the config (Keras -> what the tfjs class takes); may change the class. */
  convert?: (config: Record<string, unknown>) => { className: string; config: Record<string, unknown> };
}

export const STOCK_LAYERS: Record<string, StockLayer> = {
  InputLayer: {
    args: { batch_shape: any, sparse: isFalse, ragged: isFalse, optional: isFalse, input_tensor: nullish },
    // tfjs has no int64: integer inputs (token ids) load as int32.
    convert: ({ batch_shape, ...config }) => ({
      className: 'InputLayer',
      config: {
        ...config,
        batch_input_shape: config.batch_input_shape ?? batch_shape,
        ...(config.dtype === 'int64' || config.dtype === 'uint8' || config.dtype === 'int16' ? { dtype: 'int32' } : {}),
      },
    }),
  },
  Dense: {
    args: {
      units: any,
      activation,
      use_bias: any,
      ...WEIGHT_ARGS('kernel', 'bias'),
      lora_rank: zeroOrNull,
      lora_alpha: any,
      quantization_config: nullish,
    },
    convert: ({ lora_rank: _r, lora_alpha: _a, quantization_config: _q, ...config }) => ({
      className: 'Dense',
      config: { ...config, activation: ACTIVATIONS[config.activation as string] },
    }),
  },
  EinsumDense: { args: {} }, // refused below with a specific message
  LayerNormalization: {
    args: {
      axis: lastAxis,
      epsilon: any,
      center: any,
      scale: any,
      rms_scaling: isFalse,
      ...WEIGHT_ARGS('beta', 'gamma'),
    },
    convert: ({ rms_scaling: _r, ...config }) => ({ className: 'LayerNormalization', config }),
  },
  Dropout: { args: { rate: any, noise_shape: any, seed: any } },
  Embedding: {
    args: {
      input_dim: any,
      output_dim: any,
      ...WEIGHT_ARGS('embeddings'),
      mask_zero: any,
      input_length: any,
      sparse: isFalse,
      lora_rank: zeroOrNull,
      lora_alpha: any,
      quantization_config: nullish,
    },
    convert: ({ sparse: _s, lora_rank: _r, lora_alpha: _a, quantization_config: _q, ...config }) => ({
      className: 'Embedding',
      config,
    }),
  },
  Conv1D: convolution('Conv1D', ['valid', 'same', 'causal']),
  GlobalAveragePooling1D: {
    args: { data_format: oneOf('channels_last', 'channels_first', null), keepdims: any },
    // tfjs's own ignores data_format and the mask: see op_layers.ts.
    convert: ({ data_format, keepdims, ...config }) => ({
      className: 'KerasGlobalAveragePooling1D',
      config: { ...config, data_format: data_format ?? 'channels_last', keepdims: keepdims ?? false },
    }),
  },
  GlobalMaxPooling1D: { args: { data_format: oneOf('channels_last', null), keepdims: isFalse } },
  GlobalAveragePooling2D: { args: { data_format: oneOf('channels_last', null), keepdims: isFalse } },
  // tfjs 4.22's merge layers compute the wrong mask (see op_layers.ts), and it has no Subtract.
  Add: merge('add'),
  Subtract: merge('subtract'),
  Multiply: merge('multiply'),
  Average: merge('average'),
  Maximum: merge('maximum'),
  Minimum: merge('minimum'),
  Concatenate: { args: { axis: any } },
  // tfjs's Softmax ignores the mask Keras's applies: see op_layers.ts.
  Softmax: { args: { axis: any }, convert: (config) => ({ className: 'KerasSoftmax', config }) },
  LeakyReLU: {
    // Keras 3: negative_slope (default 0.3); Keras 2: alpha.
    args: { negative_slope: any, alpha: any },
    convert: ({ negative_slope, alpha, ...config }) => ({
      className: 'LeakyReLU',
      config: { ...config, alpha: negative_slope ?? alpha ?? 0.3 },
    }),
  },
  Conv2D: convolution('Conv2D', ['valid', 'same']),
  // tfjs has no Normalization layer: normalization.ts.
  Normalization: {
    args: { axis: any, mean: any, variance: any, invert: any },
    convert: (config) => ({ className: KerasNormalization.className, config }),
  },
  // Cropping1D((a, b)) is x[:, a:T-b] (slicing.ts); tfjs has Cropping2D only.
  Cropping1D: {
    args: { cropping: croppingPair },
    convert: ({ cropping, ...config }) => {
      const [start, end] = typeof cropping === 'number' ? [cropping, cropping] : (cropping as number[]);
      const all = { start: null, stop: null, step: null };
      return {
        className: SliceOperation.className,
        config: { ...config, key: [all, { start, stop: end > 0 ? -end : null, step: null }] },
      };
    },
  },
  Flatten: { args: { data_format: oneOf('channels_last', null) } },
  Reshape: { args: { target_shape: any } },
  Permute: { args: { dims: any } },
  Activation: {
    args: { activation },
    convert: (config) => ({
      className: 'Activation',
      config: { ...config, activation: ACTIVATIONS[config.activation as string] },
    }),
  },
  ReLU: { args: { max_value: any, negative_slope: oneOf(0, 0.0, null), threshold: oneOf(0, 0.0, null) } },
  BatchNormalization: {
    args: {
      axis: lastAxis,
      momentum: any,
      epsilon: any,
      center: any,
      scale: any,
      ...WEIGHT_ARGS('beta', 'gamma'),
      moving_mean_initializer: any,
      moving_variance_initializer: any,
      synchronized: isFalse,
      renorm: isFalse,
      renorm_clipping: nullish,
      renorm_momentum: any,
      fused: any,
      virtual_batch_size: nullish,
      adjustment: nullish,
    },
    convert: ({ synchronized: _s, renorm: _r, renorm_clipping: _c, renorm_momentum: _m, fused: _f, ...config }) => ({
      className: 'BatchNormalization',
      config: Object.fromEntries(
        Object.entries(config).filter(([k]) => k !== 'virtual_batch_size' && k !== 'adjustment'),
      ),
    }),
  },
};

/**
 * Checks a stock layer's config against its table entry and returns the tfjs class and config;
 * throws naming the layer, the argument, its value and what is supported.
 */
export function convertStockLayer(
  layer: LayerJson,
  where: string,
): { className: string; config: Record<string, unknown> } {
  const entry = STOCK_LAYERS[layer.class_name];
  if (layer.class_name === 'EinsumDense') {
    throw new Error(
      `${where}: layer '${layer.name}' (EinsumDense) is not supported by loadKerasModel: tfjs has no einsum layer; ` +
        'build the model from Dense/MultiHeadAttention layers',
    );
  }
  for (const [key, value] of Object.entries(layer.config)) {
    const check = entry.args[key] ?? BASE[key];
    if (check == null) {
      throw new Error(
        `${where}: layer '${layer.name}' (${layer.class_name}) has argument ${key}=${JSON.stringify(value)}, ` +
          'which loadKerasModel does not know and cannot check; ' +
          're-save without it, or open an issue with the file',
      );
    }
    const problem = check(value);
    if (problem != null) {
      throw new Error(
        `${where}: layer '${layer.name}' (${layer.class_name}) has ${key}=${JSON.stringify(value)}, ` +
          `which tfjs does not compute as Keras does: ${problem}`,
      );
    }
  }
  return entry.convert ? entry.convert(layer.config) : { className: layer.class_name, config: layer.config };
}
