/**
 * A Keras functional graph in one form for Keras 2 and Keras 3 configs, checked, and turned into
 * the topology tfjs's `tf.models.modelFromJSON` builds (tfjs reads tf-keras 2's node format:
 * `inbound_nodes: [[[layer, node, tensor, kwargs], ...]]`, one list of inputs per call).
 *
 * keras2_config.ts and keras3_config.ts parse their node formats into `NodeCall`s, the Keras 3
 * shape (`args`, `kwargs`, tensors as `TensorRef`); everything after that is shared here:
 * which class a layer loads as (stock_layers.ts, op_layers.ts, our layers, keras-hub names),
 * which tensors become the tfjs node's inputs, what the non-tensor call arguments mean, and the
 * checks that make a bad graph a clear error (a reference to a missing layer or node, a cycle,
 * a name used twice).
 */
import * as tf from '@tensorflow/tfjs';
import { describeValue as describe } from '../describe';
import { convertStockLayer, STOCK_LAYERS } from './stock_layers';
import { type KerasActivationName } from './activations';
import { type Constant, constantShape, ELEMENTWISE_OPERATIONS, REDUCE_OPERATIONS } from './op_layers';
import { parseSliceKey } from './slicing';

/** The keras.io example classes this package ships (src/layers/keras_io/), named in refusals. */
const KERAS_IO_CLASS_NAMES = [
  'TransformerBlock',
  'TokenAndPositionEmbedding',
  'PositionalEmbedding',
  'TransformerEncoder',
] as const;

/** One tensor of the graph: output `tensor` of call `node` of layer `layer` (Keras's keras_history). */
export class TensorRef {
  constructor(
    readonly layer: string,
    readonly node: number,
    readonly tensor: number,
  ) {}

  toJSON(): [string, number, number] {
    return [this.layer, this.node, this.tensor];
  }
}

/** One call of a layer: positional and keyword arguments, tensors as TensorRef, the rest as written. */
export interface NodeCall {
  args: unknown[];
  kwargs: Record<string, unknown>;
}

/** A layer of the graph, its config already normalized (plain dtypes, nested objects as {class_name, config}). */
export interface LayerJson {
  class_name: string;
  name: string;
  module?: string | null;
  registered_name?: string | null;
  config: Record<string, unknown>;
  nodes: NodeCall[];
  /** Whether the layer came from a Keras 3 config (node format `{args, kwargs}`). */
  keras3?: boolean;
  /** A Sequential model's InputLayer, which Keras 3 leaves out of `model.layers` (no weights group). */
  noWeightsGroup?: boolean;
  /** For a functional or Sequential model used as a layer: its graph (nested_models.ts inlines it). */
  model?: NestedModel;
}

/** A model nested in a model: its graph, and how the outer graph numbers its calls. */
export interface NestedModel {
  graph: KerasGraph;
  /**
   * The index the outer graph's references give the model's first call, in call arguments
   * (`nodes`) and in the outer model's inputs and outputs (`io`): 1 where Keras's serializer
   * counts the node that links the nested model's own inputs to its outputs, else 0.
   */
  firstCall: { nodes: number; io: number };
}

export interface KerasGraph {
  name: string;
  layers: LayerJson[];
  inputs: TensorRef[];
  outputs: TensorRef[];
}

/** A tfjs layer entry of model_config.config.layers. */
export interface TfjsLayerJson {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  inbound_nodes: [string, number, number, Record<string, unknown>][][];
}

export interface TfjsTopology {
  class_name: 'Functional';
  config: {
    name: string;
    layers: TfjsLayerJson[];
    input_layers: [string, number, number][];
    output_layers: [string, number, number][];
  };
}

/** Keras's registered-name prefixes for keras-hub layers, older first. */
const KERAS_HUB_PREFIXES = ['keras_nlp>', 'keras_hub>'];

/**
 * What an operation of a graph loads as. `activation`: its parameters as Keras names them, in the
 * Keras 3 operation's config or the TFOpLambda call's kwargs, with Keras's defaults.
 */
type OperationSpec =
  | { kind: 'elementwise' | 'reduce'; operation: string }
  | { kind: 'activation'; activation: KerasActivationName; params?: Record<string, number | boolean> }
  | { kind: 'getitem' };

const activation = (name: KerasActivationName, params?: Record<string, number | boolean>): OperationSpec => ({
  kind: 'activation',
  activation: name,
  params,
});

/** Keras 3 operation classes (keras/src/ops/numpy.py, nn.py) that load, and as what. */
const OPERATIONS: Record<string, OperationSpec> = {
  Add: { kind: 'elementwise', operation: 'add' },
  Subtract: { kind: 'elementwise', operation: 'subtract' },
  Multiply: { kind: 'elementwise', operation: 'multiply' },
  Divide: { kind: 'elementwise', operation: 'divide' },
  TrueDivide: { kind: 'elementwise', operation: 'divide' },
  Maximum: { kind: 'elementwise', operation: 'maximum' },
  Minimum: { kind: 'elementwise', operation: 'minimum' },
  Power: { kind: 'elementwise', operation: 'power' },
  Equal: { kind: 'elementwise', operation: 'equal' },
  NotEqual: { kind: 'elementwise', operation: 'not_equal' },
  LogicalAnd: { kind: 'elementwise', operation: 'logical_and' },
  LogicalOr: { kind: 'elementwise', operation: 'logical_or' },
  Mean: { kind: 'reduce', operation: 'mean' },
  Sum: { kind: 'reduce', operation: 'sum' },
  Max: { kind: 'reduce', operation: 'max' },
  Min: { kind: 'reduce', operation: 'min' },
  Prod: { kind: 'reduce', operation: 'prod' },
  GetItem: { kind: 'getitem' },
  Relu: activation('relu'),
  Relu6: activation('relu6'),
  Sigmoid: activation('sigmoid'),
  Tanh: activation('tanh'),
  Softplus: activation('softplus'),
  Softsign: activation('softsign'),
  Silu: activation('silu'),
  Selu: activation('selu'),
  Mish: activation('mish'),
  // keras.ops.gelu's default is the tanh approximation (keras.activations.gelu's is exact).
  Gelu: activation('gelu', { approximate: true }),
  LeakyRelu: activation('leaky_relu', { negative_slope: 0.2 }),
  Elu: activation('elu', { alpha: 1 }),
  Softmax: activation('softmax', { axis: -1 }),
};

/** tf.* functions of Keras 2 TFOpLambda layers (and SlicingOpLambda's getitem) that load, and as what. */
const TF_OP_LAMBDAS: Record<string, OperationSpec> = {
  '__operators__.add': OPERATIONS.Add,
  'math.add': OPERATIONS.Add,
  'math.subtract': OPERATIONS.Subtract,
  'math.multiply': OPERATIONS.Multiply,
  'math.truediv': OPERATIONS.Divide,
  'math.divide': OPERATIONS.Divide,
  'math.maximum': OPERATIONS.Maximum,
  'math.minimum': OPERATIONS.Minimum,
  'math.pow': OPERATIONS.Power,
  'math.equal': OPERATIONS.Equal,
  'math.not_equal': OPERATIONS.NotEqual,
  'math.logical_and': OPERATIONS.LogicalAnd,
  'math.logical_or': OPERATIONS.LogicalOr,
  'math.reduce_mean': OPERATIONS.Mean,
  'math.reduce_sum': OPERATIONS.Sum,
  'math.reduce_max': OPERATIONS.Max,
  'math.reduce_min': OPERATIONS.Min,
  'math.reduce_prod': OPERATIONS.Prod,
  '__operators__.getitem': OPERATIONS.GetItem,
  'nn.relu': OPERATIONS.Relu,
  'nn.relu6': OPERATIONS.Relu6,
  'math.sigmoid': OPERATIONS.Sigmoid,
  'nn.sigmoid': OPERATIONS.Sigmoid,
  'math.tanh': OPERATIONS.Tanh,
  'nn.tanh': OPERATIONS.Tanh,
  'math.softplus': OPERATIONS.Softplus,
  'nn.softplus': OPERATIONS.Softplus,
  'math.softsign': OPERATIONS.Softsign,
  'nn.softsign': OPERATIONS.Softsign,
  'nn.silu': OPERATIONS.Silu,
  'nn.swish': OPERATIONS.Silu,
  'nn.selu': OPERATIONS.Selu,
  'nn.elu': activation('elu'),
  // tf.nn.gelu's default is exact; tf.nn.leaky_relu's slope is `alpha`.
  'nn.gelu': activation('gelu', { approximate: false }),
  'nn.leaky_relu': activation('leaky_relu', { alpha: 0.2 }),
  'nn.softmax': OPERATIONS.Softmax,
  'math.softmax': OPERATIONS.Softmax,
};

/** tfjs 4.22's own layer classes: loaded only through the checked table of stock_layers.ts. */
const TFJS_BUILTIN_LAYERS = new Set(
  (
    'Activation Add AlphaDropout Average AveragePooling1D AveragePooling2D AveragePooling3D BatchNormalization ' +
    'Bidirectional CategoryEncoding CenterCrop Concatenate Conv1D Conv2D Conv2DTranspose Conv3D Conv3DTranspose ' +
    'ConvLSTM2D ConvLSTM2DCell Cropping2D Dense DepthwiseConv2D Dot Dropout ELU Embedding Flatten Functional GRU ' +
    'GRUCell GaussianDropout GaussianNoise GlobalAveragePooling1D GlobalAveragePooling2D GlobalMaxPooling1D ' +
    'GlobalMaxPooling2D InputLayer LSTM LSTMCell LayerNormalization LeakyReLU Masking MaxPooling1D MaxPooling2D ' +
    'MaxPooling3D Maximum Minimum Model Multiply PReLU Permute RNN RandomWidth ReLU RepeatVector Rescaling Reshape ' +
    'Resizing SeparableConv2D Sequential SimpleRNN SimpleRNNCell Softmax SpatialDropout1D StackedRNNCells ' +
    'ThresholdedReLU TimeDistributed UpSampling2D ZeroPadding2D'
  ).split(' '),
);

/** Merge layers: called on one list of tensors. */
const MERGE_LAYERS = new Set(['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate']);

/** Non-tensor call arguments that change nothing at inference when they have these values. */
const NEUTRAL_KWARGS: Record<string, (v: unknown) => boolean> = {
  training: (v) => v == null || v === false,
  mask: (v) => v == null,
  query_mask: (v) => v == null,
  value_mask: (v) => v == null,
  key_mask: (v) => v == null,
  attention_mask: (v) => v == null,
  name: (v) => v == null || typeof v === 'string',
};

/** A registered layer class; `className` is the registered name (minified bundles rename the class itself). */
export type LayerClass = {
  new (...args: never[]): tf.layers.Layer;
  className: string;
  kerasCallArguments?: readonly string[];
};

function registeredClass(name: string): LayerClass | null {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[name];
  return entry == null ? null : (entry[0] as unknown as LayerClass);
}

/** The result of converting a graph: the topology and the customObjects classes it needs. */
export interface ConvertedGraph {
  topology: TfjsTopology;
  /** The customObjects classes the topology uses, by their tfjs className (for tfjs's deserializer). */
  customObjects: Record<string, LayerClass>;
}

/** How a graph's classes are found. */
export interface ClassContext {
  /**
   * Keras's `custom_objects`: a file's class name (or registered name) -> the tfjs layer class that
   * loads it; takes priority over every other match.
   */
  customObjects?: Record<string, LayerClass>;
  /**
   * Whether a bare class name may match any registered tfjs class: true for a model.json that tfjs
   * wrote (its classes are tfjs classes by definition); false for Keras files, where a bare name is
   * the user's own class unless it is one of Keras's (a user's `TokenAndPositionEmbedding` is not ours).
   */
  bareNames: boolean;
}

/**
 * A rewrite of the checked graph before its layers are converted (load.ts makes a Keras file's
 * masks explicit with it, keras_masks.ts), given what each layer loads as: 'operation' (Keras 3
 * operations, Keras 2 TFOpLambdas), 'stock:<class>' (stock_layers.ts), else the tfjs class name,
 * or 'unknown' where the class is refused (its conversion then says why).
 */
export type GraphRewrite = (graph: KerasGraph, classOf: (layer: LayerJson) => string) => KerasGraph;

/** Checks the graph, rewrites it (`rewrite`) and converts it for tfjs; throws naming the layer and what to do. */
export function convertGraph(
  graph: KerasGraph,
  where: string,
  context: ClassContext = { bareNames: true },
  rewrite: GraphRewrite | null = null,
): ConvertedGraph {
  checkGraph(graph, where);
  if (rewrite != null) graph = rewrite(graph, (layer) => loadsAs(layer, where, context));
  const layers: TfjsLayerJson[] = [];
  const custom: Record<string, LayerClass> = {};
  for (const layer of graph.layers) {
    const converted = convertLayer(layer, `${where}: layer '${layer.name}' (${layer.class_name})`, context, custom);
    layers.push(...copyRepeatedInputs(converted), converted);
  }
  return {
    topology: {
      class_name: 'Functional',
      config: {
        name: graph.name,
        layers,
        input_layers: graph.inputs.map((r) => r.toJSON()),
        output_layers: graph.outputs.map((r) => r.toJSON()),
      },
    },
    customObjects: custom,
  };
}

/**
 * tfjs 4.22's executor (tfjs-layers engine/executor.js) counts a tensor's consumers as distinct
 * layers but decrements the count once per input slot, so a call that takes one tensor twice
 * (`Add()([x, x])`) frees it while later layers still need it ("Cannot read properties of
 * undefined (reading 'backend')" at predict). Each repeated input is routed through a copy
 * (`x + 0`, a new tensor) instead; the copies have no weights.
 */
function copyRepeatedInputs(layer: TfjsLayerJson): TfjsLayerJson[] {
  const copies: TfjsLayerJson[] = [];
  layer.inbound_nodes.forEach((node, n) => {
    const seen = new Set<string>();
    node.forEach((entry, i) => {
      const key = `${entry[0]}/${entry[1]}/${entry[2]}`;
      if (!seen.has(key)) {
        seen.add(key);
        return;
      }
      const name = `${layer.name}_call${n}_input${i}_copy`;
      copies.push({
        class_name: 'ElementwiseOperation',
        name,
        config: { name, trainable: false, operation: 'add', constant: 0 },
        inbound_nodes: [[[entry[0], entry[1], entry[2], {}]]],
      });
      node[i] = [name, 0, 0, {}];
    });
  });
  return copies;
}

export function isOperation(layer: LayerJson): boolean {
  if (typeof layer.module === 'string') return /^keras(\.src)?\.ops\b/.test(layer.module);
  // Keras 3's legacy .h5 writes no module: an operation's config is its name and arguments, a
  // layer's always has `trainable` (the Add and Softmax layers and the Add and Softmax operations
  // share their class names).
  return layer.keras3 === true && layer.class_name in OPERATIONS && !('trainable' in layer.config);
}

/** Names unique, every reference to an existing layer and call, no cycle. */
function checkGraph(graph: KerasGraph, where: string): void {
  const byName = new Map<string, LayerJson>();
  for (const layer of graph.layers) {
    if (typeof layer.name !== 'string' || layer.name === '') {
      throw new Error(`${where}: a layer of class ${layer.class_name} has no name`);
    }
    if (byName.has(layer.name)) throw new Error(`${where}: two layers are named '${layer.name}'`);
    byName.set(layer.name, layer);
  }
  const check = (ref: TensorRef, from: string): void => {
    const target = byName.get(ref.layer);
    if (target == null)
      throw new Error(`${where}: ${from} refers to layer '${ref.layer}', which the model does not have`);
    const calls = target.class_name === 'InputLayer' ? 1 : target.nodes.length;
    if (ref.node >= calls) {
      throw new Error(
        `${where}: ${from} refers to call ${ref.node} of layer '${ref.layer}', which is called ${calls} time(s)`,
      );
    }
  };
  for (const layer of graph.layers) {
    for (const [i, node] of layer.nodes.entries()) {
      for (const ref of refsOf(node)) check(ref, `layer '${layer.name}' call ${i}`);
    }
  }
  graph.inputs.forEach((ref) => check(ref, 'the model inputs'));
  graph.outputs.forEach((ref) => check(ref, 'the model outputs'));
  if (graph.inputs.length === 0) throw new Error(`${where}: the model has no inputs`);
  for (const ref of graph.inputs) {
    if (byName.get(ref.layer)!.class_name !== 'InputLayer') {
      throw new Error(`${where}: model input '${ref.layer}' is not an InputLayer`);
    }
  }
  // Depth-first search over calls (a layer's call -> the calls whose outputs it reads), iterative
  // so that a long chain cannot overflow the stack. Calls, not layers: a shared layer may be called
  // before and after another layer (A(B(A(x))), a nested model called twice), which is no cycle.
  const state = new Map<string, 'active' | 'done'>();
  const key = (layer: string, node: number) => `${node} ${layer}`;
  for (const layer of graph.layers) {
    for (let n = 0; n < layer.nodes.length; n++) {
      if (state.has(key(layer.name, n))) continue;
      const stack: { layer: string; node: number; inputs: TensorRef[]; next: number }[] = [];
      const enter = (name: string, node: number) => {
        state.set(key(name, node), 'active');
        const calls = byName.get(name)!.nodes;
        stack.push({ layer: name, node, inputs: node < calls.length ? refsOf(calls[node]) : [], next: 0 });
      };
      enter(layer.name, n);
      while (stack.length > 0) {
        const top = stack[stack.length - 1];
        if (top.next === top.inputs.length) {
          state.set(key(top.layer, top.node), 'done');
          stack.pop();
          continue;
        }
        const ref = top.inputs[top.next++];
        const seen = state.get(key(ref.layer, ref.node));
        if (seen === 'done') continue;
        if (seen === 'active') {
          const from = stack.findIndex((s) => s.layer === ref.layer && s.node === ref.node);
          const cycle = [...stack.slice(from).map((s) => s.layer), ref.layer].join(' -> ');
          throw new Error(`${where}: the graph has a cycle (${cycle}); a Keras functional model never does`);
        }
        enter(ref.layer, ref.node);
      }
    }
  }
}

/** Every TensorRef anywhere in a call's arguments. */
export function refsOf(node: NodeCall): TensorRef[] {
  const out: TensorRef[] = [];
  const walk = (value: unknown): void => {
    if (value instanceof TensorRef) out.push(value);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value != null && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk(node.args);
  walk(node.kwargs);
  return out;
}

function convertLayer(
  layer: LayerJson,
  where: string,
  context: ClassContext,
  custom: Record<string, LayerClass>,
): TfjsLayerJson {
  const nodes = layer.nodes;
  const out = (className: string, config: Record<string, unknown>, inputs: TensorRef[][]): TfjsLayerJson => ({
    class_name: className,
    name: layer.name,
    // Through JSON: tfjs's config conversion fails on undefined values.
    config: JSON.parse(JSON.stringify({ ...config, name: layer.name })),
    inbound_nodes: inputs.map((refs) => refs.map((r) => [r.layer, r.node, r.tensor, {}])),
  });

  // Keras 3 operations and Keras 2 TFOpLambdas (SlicingOpLambda for `x[...]`).
  const tfOp = layer.class_name === 'TFOpLambda' || layer.class_name === 'SlicingOpLambda';
  if (isOperation(layer) || tfOp) {
    const fn = tfOp ? layer.config.function : layer.class_name;
    if (typeof fn !== 'string') {
      throw new Error(
        `${where}: a ${layer.class_name} whose config.function is ${describe(fn)}; expected a tf function name`,
      );
    }
    const table = tfOp ? TF_OP_LAMBDAS : OPERATIONS;
    // Own keys only: a file's 'constructor' must not find Object.prototype's.
    const op = Object.prototype.hasOwnProperty.call(table, fn) ? table[fn] : undefined;
    if (op == null) {
      const known = Object.keys(table).join(', ');
      throw new Error(
        `${where}: the operation ${tfOp ? `tf.${fn}` : `${layer.module ?? 'keras.ops'}.${fn}`} ` +
          `is not supported by loadKerasModel (supported: ${known}); express it with Keras layers instead`,
      );
    }
    if (nodes.length !== 1) throw new Error(`${where}: an operation called ${nodes.length} times is not supported`);
    const base = { name: layer.name, trainable: false, dtype: layer.config.dtype };
    switch (op.kind) {
      case 'elementwise':
        return elementwise(layer, nodes[0], op.operation, base, where, out);
      case 'reduce':
        return reduce(layer, nodes[0], op.operation, base, where, out);
      case 'activation':
        return activationOperation(layer, nodes[0], op, base, tfOp, where, out);
      case 'getitem':
        return getItem(nodes[0], base, tfOp, where, out);
    }
  }

  const resolved = resolveClass(layer, where, context);
  if (!resolved.stock && resolved.custom) custom[resolved.className] = resolved.cls;
  if (resolved.stock) {
    const { className, config } = convertStockLayer(layer, where);
    if (MERGE_LAYERS.has(layer.class_name)) {
      return out(
        className,
        config,
        nodes.map((node, i) => mergeInputs(node, `${where} call ${i}`)),
      );
    }
    if (className === 'KerasGlobalAveragePooling1D' || layer.class_name === 'Softmax') {
      // Keras 3.15+ passes the padding mask as an explicit tensor: a second input of these layers.
      return out(
        className,
        config,
        nodes.map((node, i) => maskedInput(node, `${where} call ${i}`)),
      );
    }
    return out(
      className,
      config,
      nodes.map((node, i) => singleInput(node, `${where} call ${i}`)),
    );
  }
  // One of our layers, a keras-hub layer registered under its keras-hub name, or a user's registered class:
  // its config goes through unchanged and the class checks it.
  const config = { ...layer.config };
  const inputs = nodes.map((node, i) => classInputs(node, resolved.cls, config, `${where} call ${i}`));
  return out(resolved.className, config, inputs);
}

/** What a layer loads as: see `GraphRewrite`. */
function loadsAs(layer: LayerJson, where: string, context: ClassContext): string {
  if (isOperation(layer) || layer.class_name === 'TFOpLambda' || layer.class_name === 'SlicingOpLambda') {
    return 'operation';
  }
  try {
    const resolved = resolveClass(layer, `${where}: layer '${layer.name}' (${layer.class_name})`, context);
    return resolved.stock ? `stock:${layer.class_name}` : resolved.className;
  } catch {
    return 'unknown';
  }
}

/** Keras's own module prefixes: a class from one of them is Keras's, not the user's. */
const KERAS_MODULES = /^(keras|tf_keras|tensorflow|keras_nlp|keras_hub)(\.|$)/;

/** Classes of this package that Keras files name by their bare Keras class name. */
const KERAS_CLASSES_OF_OURS = new Set(['MultiHeadAttention']);

function resolveClass(
  layer: LayerJson,
  where: string,
  context: ClassContext,
): { stock: true } | { stock: false; className: string; cls: LayerClass; custom?: boolean } {
  // Keras 3's legacy .h5 writes a registered class's name as its class_name ('keras_hub>PositionEmbedding').
  const registered = layer.registered_name ?? (layer.class_name.includes('>') ? layer.class_name : null);
  // 1. customObjects, as Keras's custom_objects: by registered name, then by class name.
  const customKey = [registered, layer.class_name].find(
    (k): k is string =>
      typeof k === 'string' &&
      context.customObjects != null &&
      Object.prototype.hasOwnProperty.call(context.customObjects, k),
  );
  if (customKey != null) {
    const cls = context.customObjects![customKey];
    return { stock: false, className: cls.className, cls, custom: true };
  }
  // 2. Registered names ('keras_hub>TransformerEncoder', 'MyPackage>MyLayer').
  if (typeof registered === 'string' && registered.includes('>')) {
    const hub = KERAS_HUB_PREFIXES.find((p) => registered.startsWith(p));
    const name = hub != null ? `keras_hub>${registered.slice(hub.length)}` : registered;
    const cls = registeredClass(name);
    if (cls != null) return { stock: false, className: name, cls };
    throw new Error(
      `${where}: class '${registered}' is not known to tfjs; ` +
        (hub != null
          ? 'this keras-hub layer is not supported yet'
          : `pass a tfjs layer class for it: loadKerasModel(source, {customObjects: {'${registered}': MyLayer}})`),
    );
  }
  if (layer.class_name === 'Lambda') {
    throw new Error(
      `${where}: a Lambda layer holds arbitrary Python code (its function is stored as Python bytecode), which ` +
        'cannot run in JavaScript; replace it with Keras layers or keras.ops operations and save again, or write ' +
        `a tfjs layer that computes the same and pass it: {customObjects: {Lambda: MyLayer}}`,
    );
  }
  if (layer.class_name === 'Functional' || layer.class_name === 'Sequential' || layer.class_name === 'Model') {
    throw new Error(
      `${where}: a nested ${layer.class_name} without a layers list (a subclassed model) has no graph to load; ` +
        'build it as a functional or Sequential model, or pass a tfjs layer for it as customObjects',
    );
  }
  const userModule = typeof layer.module === 'string' && !KERAS_MODULES.test(layer.module);
  if (layer.class_name in STOCK_LAYERS && !userModule) return { stock: true };
  const cls = registeredClass(layer.class_name);
  // 3. By bare name: Keras's classes that this package implements, or anything in a tfjs-written model.json.
  if (cls != null && !TFJS_BUILTIN_LAYERS.has(layer.class_name) && !userModule) {
    if (context.bareNames || KERAS_CLASSES_OF_OURS.has(layer.class_name)) {
      return { stock: false, className: layer.class_name, cls };
    }
  }
  if (cls != null && TFJS_BUILTIN_LAYERS.has(layer.class_name) && !userModule) {
    throw new Error(
      `${where}: tfjs has a ${layer.class_name} layer, but loadKerasModel does not check its Keras arguments yet, ` +
        'so it is refused rather than risk a silently different result',
    );
  }
  const shipped = (KERAS_IO_CLASS_NAMES as readonly string[]).includes(layer.class_name)
    ? ` (this package ships the keras.io example's ${layer.class_name} as KerasIo${layer.class_name}: ` +
      `{customObjects: {${layer.class_name}: KerasIo${layer.class_name}}}, ` +
      'or all of them: {customObjects: KERAS_IO_LAYERS})'
    : '';
  const module = layer.module ? ` from module ${layer.module}` : '';
  if (userModule || cls != null || shipped !== '') {
    throw new Error(
      `${where}: ${layer.class_name}${module} is a class of your own, which Keras itself loads only when given ` +
        `custom_objects; pass its tfjs equal: loadKerasModel(source, {customObjects: {${layer.class_name}: MyLayer}})` +
        shipped,
    );
  }
  throw new Error(
    `${where}: unknown layer class ${layer.class_name}${module}; ` +
      `loadKerasModel supports ${Object.keys(STOCK_LAYERS)
        .filter((c) => c !== 'EinsumDense')
        .join(', ')}, ` +
      "MultiHeadAttention, keras-hub's transformer layers, this package's layers, " +
      `and classes passed as customObjects ({customObjects: {${layer.class_name}: MyLayer}})`,
  );
}

/** The neutral call arguments dropped, anything else an error. */
function checkNeutral(kwargs: Record<string, unknown>, where: string, handled: readonly string[] = []): void {
  for (const [key, value] of Object.entries(kwargs)) {
    if (handled.includes(key)) continue;
    if (value instanceof TensorRef || refsOf({ args: [value], kwargs: {} }).length > 0) {
      throw new Error(
        `${where}: passes a tensor as call argument '${key}', which this layer cannot take in tfjs ` +
          '(loadKerasModel supports tensor call arguments only for layers that declare kerasCallArguments)',
      );
    }
    const neutral = NEUTRAL_KWARGS[key];
    if (neutral == null || !neutral(value)) {
      throw new Error(
        `${where}: call argument ${key}=${JSON.stringify(value)} is not supported by loadKerasModel ` +
          '(it would change the result, and tfjs cannot pass it on)',
      );
    }
  }
}

function singleInput(node: NodeCall, where: string): TensorRef[] {
  const [first, ...rest] = node.args;
  if (!(first instanceof TensorRef) || rest.some((a) => a != null)) {
    throw new Error(`${where}: expected one input tensor, got arguments ${describeArgs(node.args)}`);
  }
  checkNeutral(node.kwargs, where);
  return [first];
}

/** One input tensor and, when the call passes one, its `mask` tensor as a second input. */
function maskedInput(node: NodeCall, where: string): TensorRef[] {
  const { mask, ...kwargs } = node.kwargs;
  const [x] = singleInput({ args: node.args, kwargs }, where);
  return mask instanceof TensorRef ? [x, mask] : [x];
}

function mergeInputs(node: NodeCall, where: string): TensorRef[] {
  const list = node.args.length === 1 && Array.isArray(node.args[0]) ? node.args[0] : node.args;
  if (list.length < 2 || !list.every((a) => a instanceof TensorRef)) {
    throw new Error(`${where}: expected a list of two or more input tensors, got ${describeArgs(node.args)}`);
  }
  checkNeutral(node.kwargs, where);
  return list as TensorRef[];
}

function describeArgs(args: unknown[]): string {
  return JSON.stringify(args, (_k, v) => (v instanceof TensorRef ? `<tensor ${v.layer}[${v.node}][${v.tensor}]>` : v));
}

type Emit = (className: string, config: Record<string, unknown>, inputs: TensorRef[][]) => TfjsLayerJson;

function elementwise(
  layer: LayerJson,
  node: NodeCall,
  operation: string,
  base: Record<string, unknown>,
  where: string,
  out: Emit,
): TfjsLayerJson {
  if (!(ELEMENTWISE_OPERATIONS as readonly string[]).includes(operation)) throw new Error(`${where}: bad operation`);
  // Keras 3: args [x, y]; TFOpLambda: args [x], kwargs {y} (tf.__operators__.add(x, y=...)).
  const x = node.args[0];
  const y = node.args.length > 1 ? node.args[1] : node.kwargs.y;
  checkNeutral(node.kwargs, where, ['y']);
  const operand = (v: unknown): v is TensorRef | Constant =>
    v instanceof TensorRef ||
    typeof v === 'number' ||
    (Array.isArray(v) && refsOf({ args: [v], kwargs: {} }).length === 0);
  if (!operand(x) || !operand(y) || node.args.length > 2 || (!(x instanceof TensorRef) && !(y instanceof TensorRef))) {
    throw new Error(`${where}: expected two operands (tensors, or one constant), got ${describeArgs([x, y])}`);
  }
  if (x instanceof TensorRef && y instanceof TensorRef)
    return out('ElementwiseOperation', { ...base, operation }, [[x, y]]);
  const tensor = (x instanceof TensorRef ? x : y) as TensorRef;
  const constant = x instanceof TensorRef ? y : x;
  constantShape(constant as Constant, where);
  return out('ElementwiseOperation', { ...base, operation, constant, constantFirst: !(x instanceof TensorRef) }, [
    [tensor],
  ]);
}

function reduce(
  layer: LayerJson,
  node: NodeCall,
  operation: string,
  base: Record<string, unknown>,
  where: string,
  out: Emit,
): TfjsLayerJson {
  if (!(REDUCE_OPERATIONS as readonly string[]).includes(operation)) throw new Error(`${where}: bad operation`);
  const x = node.args[0];
  if (!(x instanceof TensorRef)) throw new Error(`${where}: expected an input tensor, got ${describeArgs(node.args)}`);
  // axis/keepdims: positional, keyword, or (Keras 3 operations) in the config.
  const axis = node.args[1] ?? node.kwargs.axis ?? layer.config.axis ?? null;
  const keepdims = node.args[2] ?? node.kwargs.keepdims ?? layer.config.keepdims ?? false;
  checkNeutral(node.kwargs, where, ['axis', 'keepdims']);
  return out('ReduceOperation', { ...base, operation, axis, keepdims }, [[x]]);
}

/**
 * An activation operation: its parameters from the Keras 3 operation's config, or the TFOpLambda
 * call's kwargs (tf.nn.* functions take them there), Keras's defaults for the rest.
 */
function activationOperation(
  layer: LayerJson,
  node: NodeCall,
  op: { activation: KerasActivationName; params?: Record<string, number | boolean> },
  base: Record<string, unknown>,
  tfOp: boolean,
  where: string,
  out: Emit,
): TfjsLayerJson {
  const defaults = op.params ?? {};
  const given = tfOp ? node.kwargs : layer.config;
  const known = tfOp ? Object.keys(defaults) : ['name', 'trainable', 'dtype', ...Object.keys(defaults)];
  for (const key of Object.keys(given)) {
    if (!known.includes(key) && !(tfOp && key in NEUTRAL_KWARGS)) {
      throw new Error(
        `${where}: argument ${key}=${JSON.stringify(given[key])} is not supported by loadKerasModel ` +
          `for this operation (it takes ${Object.keys(defaults).join(', ') || 'none'})`,
      );
    }
  }
  const value = (key: string) => given[key] ?? defaults[key];
  const [x] = singleInput({ args: node.args, kwargs: tfOp ? {} : node.kwargs }, where);
  if (tfOp) checkNeutral(node.kwargs, where, Object.keys(defaults));
  // ActivationOperation's names: tf.nn.leaky_relu's `alpha` is the slope.
  const options = Object.fromEntries(
    Object.keys(defaults).map((k) => [op.activation === 'leaky_relu' ? 'negative_slope' : k, value(k)]),
  );
  return out('ActivationOperation', { ...base, activation: op.activation, ...options }, [[x]]);
}

/** `x[key]`: Keras 3's GetItem (args [x, key]) or Keras 2's SlicingOpLambda (kwargs {slice_spec}). */
function getItem(
  node: NodeCall,
  base: Record<string, unknown>,
  tfOp: boolean,
  where: string,
  out: Emit,
): TfjsLayerJson {
  const x = node.args[0];
  const key = tfOp ? node.kwargs.slice_spec : node.args[1];
  if (!(x instanceof TensorRef) || node.args.length > (tfOp ? 1 : 2) || key === undefined) {
    throw new Error(`${where}: expected x[key] with a static key, got arguments ${describeArgs(node.args)}`);
  }
  if (refsOf({ args: [key], kwargs: {} }).length > 0) {
    throw new Error(`${where}: indexes with a tensor (${describeArgs([key])}); only static slices are supported`);
  }
  checkNeutral(node.kwargs, where, ['slice_spec']);
  return out('SliceOperation', { ...base, key: parseSliceKey(key, where) }, [[x]]);
}

/**
 * Inputs of a layer whose class checks its own config (MultiHeadAttention, keras-hub layers, ...).
 *
 * - Classes that declare `kerasCallArguments` take any of those as tensors: when the call passes
 *   exactly the leading positional ones, the tfjs node lists them positionally; otherwise it lists
 *   every tensor and `config.callArguments` names each (the contract with those layers).
 * - MultiHeadAttention without that declaration (older builds of this package) takes
 *   [query, value, key] positionally, Keras 2's `value=`/`key=` keywords rewritten so.
 * Non-tensor call arguments: `use_causal_mask` -> config `causal`, `return_attention_scores` ->
 * config; `training` false/None and absent masks are dropped; anything else is an error.
 */
function classInputs(node: NodeCall, cls: LayerClass, config: Record<string, unknown>, where: string): TensorRef[] {
  const kwargs = { ...node.kwargs };
  if ('use_causal_mask' in kwargs) {
    if (kwargs.use_causal_mask === true) config.causal = true;
    else if (kwargs.use_causal_mask != null && kwargs.use_causal_mask !== false) {
      throw new Error(`${where}: use_causal_mask is ${JSON.stringify(kwargs.use_causal_mask)}; expected a boolean`);
    }
    delete kwargs.use_causal_mask;
  }
  if ('return_attention_scores' in kwargs) {
    if (kwargs.return_attention_scores === true) config.return_attention_scores = true;
    delete kwargs.return_attention_scores;
  }
  const callArguments =
    cls.kerasCallArguments ?? (cls.className === 'MultiHeadAttention' ? ['query', 'value', 'key'] : null);
  if (callArguments == null && kwargs.mask instanceof TensorRef) {
    // Keras 3.15+ writes the padding mask a layer receives into the graph; tfjs propagates the same
    // mask to the layer (computeMask of the layer before it), so the explicit one is not an input.
    delete kwargs.mask;
  }
  if (callArguments == null) {
    if (!node.args.every((a) => a instanceof TensorRef)) {
      throw new Error(`${where}: expected input tensors as arguments, got ${describeArgs(node.args)}`);
    }
    checkNeutral(kwargs, where);
    return node.args as TensorRef[];
  }
  const named: [string, TensorRef][] = [];
  node.args.forEach((arg, i) => {
    if (arg == null) return;
    if (!(arg instanceof TensorRef) || i >= callArguments.length) {
      throw new Error(`${where}: positional argument ${i} is ${describeArgs([arg])}; expected a tensor`);
    }
    named.push([callArguments[i], arg]);
  });
  for (const [key, value] of Object.entries(kwargs)) {
    if (!(value instanceof TensorRef)) continue;
    if (!callArguments.includes(key)) {
      throw new Error(
        `${where}: passes a tensor as '${key}', which is not one of its tensor call arguments ` +
          `(${callArguments.join(', ')})`,
      );
    }
    if (named.some(([n]) => n === key)) throw new Error(`${where}: '${key}' is given twice`);
    named.push([key, value]);
    delete kwargs[key];
  }
  checkNeutral(kwargs, where);
  named.sort(([a], [b]) => callArguments.indexOf(a) - callArguments.indexOf(b));
  // Keras's defaults, which MultiHeadAttention shares: key = value when absent, value = query in
  // self-attention (and then the value's mask = the query's). Dropping the repeats keeps the node's
  // inputs distinct (see copyRepeatedInputs) and self-attention recognisable as such (explain.ts).
  const ref = (n: string) => named.find(([name]) => name === n)?.[1];
  const same = (a?: TensorRef, b?: TensorRef) => a != null && b != null && JSON.stringify(a) === JSON.stringify(b);
  const drop = (n: string) =>
    named.splice(
      named.findIndex(([name]) => name === n),
      1,
    );
  if (same(ref('key'), ref('value'))) drop('key');
  if (!ref('key') && same(ref('value'), ref('query'))) {
    drop('value');
    if (same(ref('value_mask'), ref('query_mask'))) drop('value_mask');
  }
  const names = named.map(([n]) => n);
  // Without callArguments a class takes only its sequences positionally (query, value, key;
  // keras-hub's inputs or decoder and encoder sequences): a mask input needs the names.
  const leading = names.every((n, i) => n === callArguments[i]) && !names.some((n) => n.endsWith('_mask'));
  if (!leading) {
    if (cls.kerasCallArguments == null) {
      const missing = callArguments.slice(0, names.length).filter((n) => !names.includes(n));
      const extra = names.filter((n) => !callArguments.includes(n));
      throw new Error(
        `${where}: passes the tensors ${names.join(', ')}; this build's ${cls.className} takes only ` +
          `${callArguments.join(', ')} in that order` +
          (missing.length > 0 ? ` (${missing.join(', ')} missing)` : '') +
          (extra.length > 0 ? ` (${extra.join(', ')} not supported)` : ''),
      );
    }
    config.callArguments = names;
  }
  return named.map(([, ref]) => ref);
}

/**
 * A Sequential model as the functional graph it is: each layer called once on the previous one's
 * output. Keras 3 writes the InputLayer as the first entry of `layers` (`batch_shape`); Keras 2
 * writes it too, or (older files) only a `batch_input_shape` on the first layer, from which the
 * input is made here. Keras 3's `Sequential.layers` leaves the InputLayer out, so it has no
 * weights group (keras/src/models/sequential.py).
 */
export function sequentialGraph(name: string, layers: LayerJson[], where: string, nested = false): KerasGraph {
  if (layers.length === 0) throw new Error(`${where}: the Sequential model has no layers`);
  const chain = [...layers];
  if (chain[0].class_name !== 'InputLayer') {
    const first = chain[0];
    const shape = first.config.batch_input_shape ?? first.config.batch_shape;
    // A nested Sequential's input is the tensor it is called on: its shape is not needed.
    if (!Array.isArray(shape) && !nested) {
      throw new Error(
        `${where}: the Sequential model has no InputLayer and its first layer '${first.name}' no batch_input_shape; ` +
          'build the model (or give it keras.Input) before saving',
      );
    }
    chain.unshift({
      class_name: 'InputLayer',
      name: `${first.name}_input`,
      config: { batch_input_shape: shape, dtype: first.config.dtype ?? 'float32', name: `${first.name}_input` },
      nodes: [],
    });
  }
  chain[0] = { ...chain[0], nodes: [], noWeightsGroup: true };
  for (let i = 1; i < chain.length; i++) {
    if (chain[i].class_name === 'InputLayer') throw new Error(`${where}: a Sequential model with a second InputLayer`);
    const { batch_input_shape: _b, batch_shape: _s, ...config } = chain[i].config;
    chain[i] = { ...chain[i], config, nodes: [{ args: [new TensorRef(chain[i - 1].name, 0, 0)], kwargs: {} }] };
  }
  const last = chain[chain.length - 1];
  return {
    name,
    layers: chain,
    inputs: [new TensorRef(chain[0].name, 0, 0)],
    outputs: [new TensorRef(last.name, 0, 0)],
  };
}
