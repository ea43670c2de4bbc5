/**
 * Multi-head attention (Vaswani et al. 2017, "Attention Is All You Need",
 * section 3.2), with the arguments, weight layout and masking rules of Keras's
 * `keras.layers.MultiHeadAttention`.
 */
import * as tf from '@tensorflow/tfjs';
import { checkOptionNames } from '../options';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';
import { AttentionOutputProjection, mergeHeads } from './attention_output_projection';
import { AttentionProjection, projectHeads, projectJoined } from './attention_projection';
import {
  FULLY_MASKED_QUERIES,
  type FullyMaskedQueries,
  type HeadsSlice,
  scaledDotProductAttention,
} from '../ops/attention';
import { updateCache } from '../ops/attention_cache';
import { describeValue } from '../describe';
import {
  checkBoolean,
  checkChoice,
  checkLayerArgNames,
  checkPositiveInt,
  checkRate,
  type InitializerIdentifier,
  layerArgNames,
  resolveInitializer,
  serializeInitializer,
} from './args';
import type { Constraint } from '@tensorflow/tfjs-layers/dist/constraints';
import type { Regularizer } from '@tensorflow/tfjs-layers/dist/regularizers';
import {
  byCallArgument,
  checkAttentionAxes,
  checkCallArguments,
  checkFlashAttention,
  checkSeed,
  checkSlidingWindow,
  type ConstraintIdentifier,
  type RegularizerIdentifier,
  rejectActivityRegularizer,
  resolveConstraint,
  resolveOutputDim,
  resolveRegularizer,
  serializeRegularizerOrConstraint,
} from './keras_args';
import { type AttentionSublayer, attentionObserver } from './attention_recorder';
import type { IncrementalRole } from './incremental';
import { checkAttentionMask, checkPaddingMasks, combineMasks, passMask, resolveInputMasks } from './masks';
import { checkRank, formatShape, type Kwargs, type Shape, shapeList } from './shapes';

/** The arguments of `MultiHeadAttention`: Keras's, in camelCase, and tfjs's `LayerArgs`. */
export interface MultiHeadAttentionArgs extends LayerArgs {
  /** Number of attention heads H. Required. */
  numHeads: number;
  /** Size K of each head's queries and keys. Required. */
  keyDim: number;
  /** Size V of each head's values. Default: keyDim. */
  valueDim?: number | null;
  /** Dropout rate on the attention probabilities, applied only when training. Default 0. */
  dropout?: number;
  /** Whether the projections have biases. Default true. */
  useBias?: boolean;
  /** Width of the output. Default: the query's last dimension. */
  outputDim?: number | null;
  /** Keras's name for outputDim (a number or a one-element list); accepted when loading Keras configs. */
  outputShape?: number | number[] | null;
  /**
   * Keras's attention axes. Only the default (attention over the sequence axis of
   * rank-3 inputs: null, 1, [1] or [-2]) is supported.
   */
  attentionAxes?: number | number[] | null;
  /** Whether query t may attend only to keys s <= t. Default false. */
  causal?: boolean;
  /**
   * Keras's `sliding_window`: query t attends only to keys s with |t - s| < slidingWindow (a band
   * on both sides; with `causal`, the causal sliding window). Default null (no band).
   */
  slidingWindow?: number | null;
  /**
   * Keras's `use_gate` (gated attention, Qiu et al. 2025): each head's context is multiplied by
   * `sigmoid(query W_G + b_G)`, a per-head, per-channel gate computed from the query input
   * (kernel [Dq, H, V], bias [H, V]), before the output projection. Default false.
   */
  useGate?: boolean;
  /** Keras's `flash_attention`: a kernel choice in Keras, the same values here. Default null. */
  flashAttention?: boolean | null;
  /** Keras's `seed` (of its dropout); kept in the config. Default null. */
  seed?: number | null;
  /** Regularizer of every kernel (query, key, value, gate, output). Default null. */
  kernelRegularizer?: RegularizerIdentifier | null;
  /** Regularizer of every bias. Default null. */
  biasRegularizer?: RegularizerIdentifier | null;
  /** Refused unless null: tfjs 4.22 cannot run a layer with an activity regularizer. */
  activityRegularizer?: null;
  /** Constraint of every kernel (applied where tfjs applies constraints). Default null. */
  kernelConstraint?: ConstraintIdentifier | null;
  /** Constraint of every bias. Default null. */
  biasConstraint?: ConstraintIdentifier | null;
  /**
   * Which Keras call argument each input is (from `MultiHeadAttention.kerasCallArguments`), e.g.
   * `['query', 'value', 'attention_mask']`; set by the Keras loader for nodes that pass tensors as
   * keyword arguments. A `query_mask`, `value_mask` or `key_mask` input, (B, T) / (B, S) with 1 = a
   * real position, is used in place of that tensor's own padding mask. Default null: the inputs are
   * query, [query, value] or [query, value, key].
   */
  callArguments?: string[] | null;
  /** Whether `apply` returns `[output, scores]`, scores (B, H, T, S). Default false. */
  returnAttentionScores?: boolean;
  /** Initializer of the four kernels. Default 'glorotUniform'. */
  kernelInitializer?: InitializerIdentifier;
  /** Initializer of the four biases. Default 'zeros'. */
  biasInitializer?: InitializerIdentifier;
  /** tf.keras 2's record of the input shapes (in its configs); accepted, unused: tfjs infers shapes from the graph. */
  queryShape?: Shape | null;
  /** See queryShape. */
  keyShape?: Shape | null;
  /** See queryShape. */
  valueShape?: Shape | null;
  /**
   * tf-keras 2.16+'s `softmax_robust_masking`: masked scores set to the lowest float instead of
   * having -1e9 added. The probabilities are the same unless scores reach 1e9; kept in the config.
   * Default false.
   */
  softmaxRobustMasking?: boolean;
  /**
   * What a query whose keys are all masked (a padded position) gets: 'uniform' attention, the
   * average of the values (the default, so the output stays finite; Keras's fused attention does
   * the same), or 'zero' attention, so the context is zero and the output is the output
   * projection's bias, with zero scores. Keras 3.10+ takes the 'zero' path when the layer has
   * `dropout` > 0 or returns its scores (its masked Softmax; the fused path otherwise), which is
   * where `loadKerasModel` sets it. Default 'uniform'.
   */
  fullyMaskedQueries?: FullyMaskedQueries;
}

/** Every argument name, for the unknown-argument check. */
const ARG_NAMES = layerArgNames<MultiHeadAttentionArgs>({
  numHeads: true,
  keyDim: true,
  valueDim: true,
  dropout: true,
  useBias: true,
  outputDim: true,
  outputShape: true,
  attentionAxes: true,
  causal: true,
  slidingWindow: true,
  useGate: true,
  flashAttention: true,
  seed: true,
  kernelRegularizer: true,
  biasRegularizer: true,
  activityRegularizer: true,
  kernelConstraint: true,
  biasConstraint: true,
  callArguments: true,
  returnAttentionScores: true,
  kernelInitializer: true,
  biasInitializer: true,
  queryShape: true,
  softmaxRobustMasking: true,
  fullyMaskedQueries: true,
  keyShape: true,
  valueShape: true,
});

/** Keyword arguments of `MultiHeadAttention.apply`. */
export interface MultiHeadAttentionCallArgs {
  /**
   * 1 = query t may attend to key s: (T, S), (B, T, S) or (B, H, T, S) (an axis may be 1), as
   * Keras accepts. Combined with padding, causal and sliding-window masks.
   */
  attentionMask?: tf.Tensor;
  /** Whether dropout is active. Default false. */
  training?: boolean;
  /** Padding masks of the inputs, (B, T) / (B, S), 1 = real token; normally set by tfjs. */
  mask?: tf.Tensor | Array<tf.Tensor | null>;
  /**
   * A key/value cache (B, S, H*K + H*V) (`createCache`): each position's keys, then its values,
   * as keras-hub's `CachedMultiHeadAttention` keeps them (there as (B, 2, S, H, K)). With a cache,
   * `apply` returns `[output, cache]` (`[output, scores, cache]` with returnAttentionScores), in
   * one of two modes:
   * - `cacheUpdateIndex` a number i: the keys and values of the T' value/key positions are written
   *   at positions [i, i + T') and the queries, positions i + T' - T .. i + T' - 1 of the
   *   sequence, attend to cache positions [0, i + T'); `causal` and `slidingWindow` count
   *   positions from the sequence's start. The cache passed in is donated (on cpu and wasm it is
   *   written in place): use the returned one. Padding masks are not applied (a cache keeps none):
   *   feed no padding, or mask it with `attentionMask` (B, T, i + T').
   * - `cacheUpdateIndex` null: a static cache (an encoder's keys and values, projected once): the
   *   queries attend to all S cached positions, with the value's padding mask; `value` and `key`
   *   are not projected.
   * Without a cache (the default) the layer attends over its inputs as usual.
   */
  cache?: tf.Tensor3D;
  /** See `cache`. Default null. */
  cacheUpdateIndex?: number | null;
  /**
   * Hugging Face's `head_mask`: (H) or (B, H), each head's context is multiplied by its entry
   * before the output projection, so 0 removes the head's share of the output (the output bias
   * stays) and 1 keeps it exactly. Gradients flow through it. Default null (every head).
   */
  headMask?: tf.Tensor | null;
}

/** The tensors of one attention call and their masks, as `run` takes them. */
export interface AttentionInputs {
  /** (B, T, Dq). */
  query: tf.Tensor;
  /** (B, S, Dv). */
  value: tf.Tensor;
  /** (B, S, Dk); the value itself when the call has no key. */
  key: tf.Tensor;
  /** Padding masks, (B, T) / (B, S) / (B, S) with 1 = real position, or null. */
  queryMask?: tf.Tensor | null;
  valueMask?: tf.Tensor | null;
  keyMask?: tf.Tensor | null;
  /** (T, S), (B, T, S) or (B, H, T, S), 1 = may attend, or null. */
  attentionMask?: tf.Tensor | null;
}

/** How `run` computes: dropout, whether the probabilities are wanted, and the cache (see the call args). */
export interface AttentionRunOptions {
  training?: boolean;
  needProbabilities?: boolean;
  cache?: tf.Tensor3D | null;
  cacheUpdateIndex?: number | null;
  /** (H) or (B, H): see `MultiHeadAttentionCallArgs.headMask`. */
  headMask?: tf.Tensor | null;
}

/** What `run` returns. */
export interface AttentionRunResult {
  /** (B, T, Dout). */
  output: tf.Tensor3D;
  /** (B, H, T, S); null while a gradient tape records, unless `needProbabilities`. */
  probabilities: tf.Tensor4D | null;
  /** The updated cache, when a cache was given; else null. */
  cache: tf.Tensor3D | null;
}

/**
 * Multi-head scaled dot-product attention:
 * `softmax(Q K^T / sqrt(K) + mask) V`, computed per head with its own query,
 * key and value matrices, then merged by an output projection.
 *
 * Inputs (in the first argument of `apply`, so functional models record all):
 * - `query` (B, T, Dq): self-attention, key = value = query;
 * - `[query, value]` with value (B, S, Dv): cross-attention, key = value;
 * - `[query, value, key]` with key (B, S, Dk).
 *
 * With `callArguments` (Keras configs whose node passes tensors by keyword), the
 * inputs are the named call arguments in that order instead, e.g.
 * `[query, value, attention_mask]`.
 *
 * Masks, all combined (1 = may attend): padding masks that tfjs propagates
 * (e.g. from `tf.layers.embedding({maskZero: true})`), `causal`, `slidingWindow`,
 * and the `attentionMask` keyword argument, (T, S), (B, T, S) or (B, H, T, S). A
 * query whose keys are all masked attends uniformly, so its output stays finite (or, with
 * `fullyMaskedQueries: 'zero'`, not at all, as Keras's attention with dropout).
 *
 * Weights, in Keras's order: query kernel [Dq, H, K], query bias [H, K], key
 * kernel [Dk, H, K], key bias [H, K], with `useGate` gate kernel [Dq, H, V] and
 * gate bias [H, V], value kernel [Dv, H, V], value bias [H, V], then output
 * kernel [H, V, Dout], output bias [Dout] (biases only with useBias).
 *
 * ```ts
 * const attention = new MultiHeadAttention({numHeads: 4, keyDim: 16});
 * const tokens = tf.input({shape: [null], dtype: 'int32'});
 * const x = tf.layers.embedding({inputDim: 100, outputDim: 64, maskZero: true}).apply(tokens);
 * const y = attention.apply(x) as tf.SymbolicTensor; // [null, null, 64]
 * ```
 */
export class MultiHeadAttention extends tf.layers.Layer {
  /** @nocollapse */
  static className = 'MultiHeadAttention';
  /** Keras's call arguments that may be tensors, the names `callArguments` uses. */
  static readonly kerasCallArguments: readonly string[] = [
    'query',
    'value',
    'key',
    'query_mask',
    'value_mask',
    'key_mask',
    'attention_mask',
  ];

  readonly numHeads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly dropout: number;
  readonly useBias: boolean;
  /** As given; null means "the query's width", resolved in build. */
  readonly outputDim: number | null;
  readonly causal: boolean;
  readonly returnAttentionScores: boolean;
  readonly slidingWindow: number | null;
  readonly useGate: boolean;
  readonly flashAttention: boolean | null;
  readonly seed: number | null;
  readonly softmaxRobustMasking: boolean;
  readonly fullyMaskedQueries: FullyMaskedQueries;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  readonly kernelRegularizer: Regularizer | null;
  readonly biasRegularizer: Regularizer | null;
  readonly kernelConstraint: Constraint | null;
  readonly biasConstraint: Constraint | null;
  readonly callArguments: string[] | null;

  /**
   * Set by an owning layer (e.g. 'self_attention') so weights are named
   * '<owner>/self_attention/query/kernel'; not part of the config.
   */
  weightScope = '';

  queryDense: AttentionProjection | null = null;
  keyDense: AttentionProjection | null = null;
  valueDense: AttentionProjection | null = null;
  /** With `useGate`: the gate's projection of the query input, (B, T, Dq) -> (B, T, H, V). */
  gateDense: AttentionProjection | null = null;
  outputDense: AttentionOutputProjection | null = null;

  constructor(args: MultiHeadAttentionArgs) {
    super(args);
    const name = `MultiHeadAttention '${this.name}'`;
    if (args == null || typeof args !== 'object') {
      throw new Error(`${name}: expected an arguments object {numHeads, keyDim, ...}, got ${args}`);
    }
    checkLayerArgNames(this, MultiHeadAttention, args, ARG_NAMES);
    this.numHeads = checkPositiveInt(name, 'numHeads', args.numHeads);
    this.keyDim = checkPositiveInt(name, 'keyDim', args.keyDim);
    this.valueDim = checkPositiveInt(name, 'valueDim', args.valueDim ?? args.keyDim);
    this.dropout = checkRate(name, 'dropout', args.dropout ?? 0);
    this.useBias = checkBoolean(name, 'useBias', args.useBias ?? true);
    this.outputDim = resolveOutputDim(name, args.outputDim, args.outputShape);
    checkAttentionAxes(name, args.attentionAxes);
    this.causal = checkBoolean(name, 'causal', args.causal ?? false);
    this.returnAttentionScores = checkBoolean(name, 'returnAttentionScores', args.returnAttentionScores ?? false);
    this.slidingWindow = checkSlidingWindow(name, args.slidingWindow);
    this.useGate = checkBoolean(name, 'useGate', args.useGate ?? false);
    this.flashAttention = checkFlashAttention(name, args.flashAttention, this.dropout);
    this.seed = checkSeed(name, args.seed);
    this.softmaxRobustMasking = checkBoolean(name, 'softmaxRobustMasking', args.softmaxRobustMasking ?? false);
    this.fullyMaskedQueries = checkChoice(
      name,
      'fullyMaskedQueries',
      args.fullyMaskedQueries ?? 'uniform',
      FULLY_MASKED_QUERIES,
    );
    this.kernelInitializer = resolveInitializer(name, 'kernelInitializer', args.kernelInitializer, 'glorotUniform');
    this.biasInitializer = resolveInitializer(name, 'biasInitializer', args.biasInitializer, 'zeros');
    this.kernelRegularizer = resolveRegularizer(name, 'kernelRegularizer', args.kernelRegularizer);
    this.biasRegularizer = resolveRegularizer(name, 'biasRegularizer', args.biasRegularizer);
    rejectActivityRegularizer(name, args.activityRegularizer);
    this.kernelConstraint = resolveConstraint(name, 'kernelConstraint', args.kernelConstraint);
    this.biasConstraint = resolveConstraint(name, 'biasConstraint', args.biasConstraint);
    this.callArguments = checkCallArguments(name, args.callArguments, MultiHeadAttention.kerasCallArguments, ['query']);
    this.supportsMasking = true;
  }

  /** Whether the last call returned a cache after its outputs (`apply` asks `computeMask` for a mask each). */
  private cacheOutputs = 0;

  /** The projections in Keras's weight order. */
  private get sublayers(): Array<AttentionProjection | AttentionOutputProjection> {
    // Keras 3.14+'s build order: the gate between key and value.
    return [this.queryDense, this.keyDense, this.gateDense, this.valueDense, this.outputDense].filter(
      (l): l is AttentionProjection | AttentionOutputProjection => l != null,
    );
  }

  override get trainableWeights(): tf.LayerVariable[] {
    return this.trainable ? this.sublayers.flatMap((l) => l.trainableWeights) : [];
  }

  override set trainableWeights(_weights: tf.LayerVariable[]) {
    // Weights live in the projections; tfjs's base constructor assigns [] here.
  }

  override get nonTrainableWeights(): tf.LayerVariable[] {
    const all = this.sublayers.flatMap((l) => l.weights);
    return this.trainable ? this.sublayers.flatMap((l) => l.nonTrainableWeights) : all;
  }

  override set nonTrainableWeights(_weights: tf.LayerVariable[]) {
    // See trainableWeights.
  }

  /** The regularization penalties of the projections' weights (tfjs asks each model layer for its own). */
  override calculateLosses(): tf.Scalar[] {
    return this.sublayers.flatMap((l) => l.calculateLosses());
  }

  /** tfjs sets this while loading a model (weights are overwritten anyway); pass it to the projections. */
  private fastInit = false;

  override setFastWeightInitDuringBuild(value: boolean): void {
    super.setFastWeightInitDuringBuild(value);
    this.fastInit = value;
    for (const layer of this.sublayers) layer.setFastWeightInitDuringBuild(value);
  }

  override build(inputShape: Shape | Shape[]): void {
    const name = `MultiHeadAttention '${this.name}'`;
    const { query: queryShape, value: valueShape, key: keyShape } = this.roles(shapeList(inputShape));
    checkRank(name, 'query', queryShape, 3);
    checkRank(name, 'value', valueShape, 3);
    checkRank(name, 'key', keyShape, 3);
    checkInputShapes(name, queryShape, valueShape, keyShape);

    const common = {
      useBias: this.useBias,
      kernelInitializer: this.kernelInitializer,
      biasInitializer: this.biasInitializer,
      kernelRegularizer: this.kernelRegularizer,
      biasRegularizer: this.biasRegularizer,
      kernelConstraint: this.kernelConstraint,
      biasConstraint: this.biasConstraint,
    };
    const makeProjection = (scope: string, headDim: number, shape: Shape) => {
      const layer = new AttentionProjection({
        name: `${this.name}_${scope}`,
        numHeads: this.numHeads,
        headDim,
        ...common,
      });
      layer.weightScope = this.scoped(scope);
      layer.setFastWeightInitDuringBuild(this.fastInit);
      layer.build(shape);
      return layer;
    };
    // Built inside this layer's name scope (Layer.apply), so weights are named
    // '<this.name>/query/kernel' etc., exactly as Keras names them.
    this.queryDense = makeProjection('query', this.keyDim, queryShape);
    this.keyDense = makeProjection('key', this.keyDim, keyShape);
    this.valueDense = makeProjection('value', this.valueDim, valueShape);
    // Keras builds the gate on the query input; it multiplies the (B, T, H, V) context, so its
    // heads are V wide (Keras's gate is only defined where that holds).
    if (this.useGate) this.gateDense = makeProjection('gate', this.valueDim, queryShape);
    this.outputDense = new AttentionOutputProjection({
      name: `${this.name}_attention_output`,
      outputDim: this.outputDim ?? (queryShape[2] as number),
      ...common,
    });
    this.outputDense.weightScope = this.scoped('attention_output');
    this.outputDense.setFastWeightInitDuringBuild(this.fastInit);
    this.outputDense.build([queryShape[0], queryShape[1], this.numHeads, this.valueDim]);
    this.built = true;
  }

  private scoped(name: string): string {
    return this.weightScope ? `${this.weightScope}/${name}` : name;
  }

  /**
   * The query, value and key (inputs or shapes) and any tensor masks, from the input list: by
   * `callArguments` when set, else positionally (query, [query, value] or [query, value, key]).
   */
  private roles<T>(list: T[]): {
    query: T;
    value: T;
    key: T;
    hasKey: boolean;
    queryMask?: T;
    valueMask?: T;
    keyMask?: T;
    attentionMask?: T;
    indices: { query: number; value: number; key: number };
  } {
    const name = `MultiHeadAttention '${this.name}'`;
    if (this.callArguments == null) {
      if (list.length < 1 || list.length > 3) {
        throw new Error(`${name}: expected query, [query, value] or [query, value, key], got ${list.length} inputs`);
      }
      const [query, value = query, key = value] = list;
      const indices = { query: 0, value: list.length > 1 ? 1 : 0, key: list.length - 1 };
      return { query, value, key, hasKey: list.length === 3, indices };
    }
    const named = byCallArgument(name, this.callArguments, list);
    const index = (arg: string) => this.callArguments!.indexOf(arg);
    // Without a value input the value is the query (self-attention), and so is its mask.
    const selfAttention = named.value === undefined;
    const value = selfAttention ? named.query : named.value;
    const hasKey = named.key !== undefined;
    const valueIndex = selfAttention ? index('query') : index('value');
    return {
      query: named.query,
      value,
      key: hasKey ? named.key : value,
      hasKey,
      queryMask: named.query_mask,
      valueMask: named.value_mask ?? (selfAttention ? named.query_mask : undefined),
      keyMask: named.key_mask,
      attentionMask: named.attention_mask,
      indices: { query: index('query'), value: valueIndex, key: hasKey ? index('key') : valueIndex },
    };
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    const { query: queryShape, value: valueShape } = this.roles(shapeList(inputShape));
    const output: Shape = [queryShape[0], queryShape[1], this.outputDim ?? queryShape[2]];
    if (!this.returnAttentionScores) return output;
    return [output, [queryShape[0], this.numHeads, queryShape[1], valueShape[1]]];
  }

  /** The output keeps the query's padding mask; the scores carry none. */
  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const queryIndex = this.roles(list).indices.query;
    const queryMask = passMask(list[queryIndex], resolveInputMasks(inputs, mask)[queryIndex]);
    // A null for the scores and the cache when the call returned them (the cache: its last call).
    const others = (this.returnAttentionScores ? 1 : 0) + this.cacheOutputs;
    this.cacheOutputs = 0;
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return (others === 0 ? queryMask : [queryMask, ...new Array(others).fill(null)]) as tf.Tensor | tf.Tensor[];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const args = kwargs as MultiHeadAttentionCallArgs;
    const name = `MultiHeadAttention '${this.name}'`;
    const attentionInputs = this.callInputs(inputs, args);
    const withCache = args.cache != null;
    if (!withCache && args.cacheUpdateIndex != null) {
      throw new Error(`${name}: cacheUpdateIndex ${args.cacheUpdateIndex} needs a cache`);
    }
    const { query, value, attentionMask } = attentionInputs;
    if (args.headMask != null) this.checkHeadMask(args.headMask, query.shape[0] as number);
    if (withCache)
      this.checkCache(args.cache!, query.shape[0] as number, args.cacheUpdateIndex ?? null, value.shape[1] as number);
    if (attentionMask != null) {
      // The keys attended: the value's, or with a cache the cached positions up to the new ones.
      const keyLength = !withCache
        ? (value.shape[1] as number)
        : args.cacheUpdateIndex == null
          ? (args.cache!.shape[1] as number)
          : args.cacheUpdateIndex + (value.shape[1] as number);
      checkAttentionMask(
        name,
        attentionMask,
        query.shape[0] as number,
        this.numHeads,
        query.shape[1] as number,
        keyLength,
      );
    }
    return tf.tidy(() => {
      const { output, probabilities, cache } = this.run(attentionInputs, {
        training: args.training ?? false,
        needProbabilities: this.returnAttentionScores,
        cache: args.cache,
        cacheUpdateIndex: args.cacheUpdateIndex,
        headMask: args.headMask,
      });
      const outputs: tf.Tensor[] = [output, ...(this.returnAttentionScores ? [probabilities!] : [])];
      if (withCache) outputs.push(cache!);
      this.cacheOutputs = withCache ? 1 : 0;
      return outputs.length === 1 ? outputs[0] : outputs;
    });
  }

  /**
   * What each key position adds to each query's output through each head (Kobayashi et al. 2020,
   * "Attention is Not Only a Weight: Analyzing Transformers with Vector Norms", EMNLP): attention
   * weights alone mislead, since a head can attend strongly to a position whose value vector is
   * near zero and so adds nothing. Takes what `apply` takes (`query`, `[query, value]` or
   * `[query, value, key]`; `attentionMask`, and padding masks as `mask`), and returns, in
   * inference mode (no dropout):
   * - `weights` (B, H, T, S): the attention probabilities (as `returnAttentionScores`);
   * - `valueNorms` (B, H, S): `|| (value_s W_V^h + b_V^h) W_O^h ||_2`, the length of the vector
   *   that key position s sends through head h, W_O^h being the head's [V, Dout] slice of the
   *   output kernel;
   * - `contributions` (B, H, T, S) = `weights * valueNorms` (broadcast over T): the length of the
   *   vector that position s adds to output t through head h (their `||alpha f(x)||`). Summed as
   *   vectors over s, these are the head's share of the output before the output bias.
   * Plain tfjs ops, any backend; the caller owns the three tensors.
   */
  attentionContributions(
    inputs: tf.Tensor | tf.Tensor[],
    kwargs: Pick<MultiHeadAttentionCallArgs, 'attentionMask' | 'mask'> = {},
  ): { weights: tf.Tensor4D; contributions: tf.Tensor4D; valueNorms: tf.Tensor3D } {
    checkOptionNames(`MultiHeadAttention '${this.name}': attentionContributions`, kwargs, ['attentionMask', 'mask']);
    if (!this.built) {
      throw new Error(
        `MultiHeadAttention '${this.name}': attentionContributions needs a built layer; apply it once first`,
      );
    }
    if (this.useGate) {
      throw new Error(
        `MultiHeadAttention '${this.name}': attentionContributions is not defined with useGate ` +
          "(the gate scales each query position's context, so a key position's contribution depends on the query)",
      );
    }
    const attentionInputs = this.callInputs(inputs, kwargs);
    return tf.tidy(() => {
      // The weights: the layer's own attention, inference mode.
      const weights = this.run(attentionInputs, { needProbabilities: true }).probabilities!;
      const { valueNorms, contributions } = this.contributionsOf(weights, attentionInputs.value);
      return { weights, contributions, valueNorms };
    });
  }

  /**
   * `attentionContributions`' math on a call's probabilities `weights` (B, H, T, S) over `value`
   * (B, S, Dv), with the call's `headMask` (H) or (B, H) when it had one: each head's value vectors'
   * lengths `valueNorms` (B, H, S); `contributions` (B, H, T, S), the length of what key s adds to
   * query t's output through the head, weight * value norm; `headOutputs` (B, H, T, Dout), the
   * head's share of the output (before the output bias: the contribution vectors summed over the
   * keys); `importance` (B, H), the mean length of that share over the queries. A masked head's
   * contributions, share and importance are scaled by its mask entry. Call inside a tidy.
   */
  contributionsOf(
    weights: tf.Tensor,
    value: tf.Tensor,
    headMask: tf.Tensor | null = null,
  ): { valueNorms: tf.Tensor3D; contributions: tf.Tensor4D; headOutputs: tf.Tensor4D; importance: tf.Tensor2D } {
    // 1. What each key position sends through each head, (B, H, S, Dout), and its length (B, H, S).
    const vectors = this.valueVectors(value);
    const valueNorms = vectors.square().sum(-1).sqrt() as tf.Tensor3D;
    // 2. The head mask as a factor (B or 1, H, 1, 1) on what each head adds.
    const scale =
      headMask == null ? null : headMask.cast('float32').reshape([headMask.rank === 1 ? 1 : -1, this.numHeads, 1, 1]);
    const scaled = (x: tf.Tensor) => (scale == null ? x : x.mul(scale)) as tf.Tensor4D;
    // 3. Weighted: (B, H, T, S) * (B, H, 1, S); each head's share (B, H, T, S) @ (B, H, S, Dout).
    const contributions = scaled(weights.mul(valueNorms.expandDims(2)));
    const headOutputs = scaled(tf.matMul(weights as tf.Tensor4D, vectors));
    const importance = headOutputs.square().sum(-1).sqrt().mean(-1) as tf.Tensor2D;
    return { valueNorms, contributions, headOutputs, importance };
  }

  /**
   * What each key position sends through each head: `(value_s W_V^h + b_V^h) W_O^h` for value
   * (B, S, Dv), as (B, H, S, Dout). The head's share of the output at query t (before the output
   * bias) is the attention-weighted sum of these over s. Call inside a tidy.
   */
  valueVectors(value: tf.Tensor): tf.Tensor4D {
    const [batch, length] = value.shape;
    const { numHeads: H, valueDim: V } = this;
    // (B, S, Dv) -> (B, S, H, V) -> (H, B*S, V) @ [H, V, Dout] -> (H, B*S, Dout) -> (B, H, S, Dout).
    const values = projectJoined(value, [this.valueDense!]).reshape([batch, length, H, V]);
    const kernel = this.outputDense!.kernel!.read();
    const perHead = tf.matMul(values.transpose([2, 0, 1, 3]).reshape([H, batch * length, V]), kernel);
    return perHead.reshape([H, batch, length, kernel.shape[2] as number]).transpose([1, 0, 2, 3]) as tf.Tensor4D;
  }

  /**
   * The call's tensors and masks, checked: query, `[query, value]` or `[query, value, key]` (or by
   * `callArguments`); padding masks from `mask` or the tensors' own.
   */
  private callInputs(
    inputs: tf.Tensor | tf.Tensor[],
    args: Pick<MultiHeadAttentionCallArgs, 'attentionMask' | 'mask'>,
  ): AttentionInputs {
    const name = `MultiHeadAttention '${this.name}'`;
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const roles = this.roles(list);
    const { query, value, key } = roles;
    if (roles.attentionMask != null && args.attentionMask != null) {
      throw new Error(
        `${name}: attention_mask is an input (callArguments), so the attentionMask argument must be unset`,
      );
    }
    const attentionMask = roles.attentionMask ?? args.attentionMask ?? null;
    this.checkCallInputs(query, value, key);
    const padding = resolveInputMasks(inputs, args.mask);
    // Explicit query_mask / value_mask / key_mask inputs win over the tensors' own masks, as in
    // Keras (whose 3.8+ reads the query's from the query: loadKerasModel passes that one); the key's
    // own mask counts only when a key was given (Keras ignores it for key = value).
    const queryMask = roles.queryMask ?? padding[roles.indices.query];
    const valueMask = roles.valueMask ?? padding[roles.indices.value];
    const keyMask = roles.keyMask ?? (roles.hasKey ? padding[roles.indices.key] : null);
    checkPaddingMasks(name, [
      ['query', queryMask, query],
      ['value', valueMask, value],
      ['key', keyMask, key],
    ]);
    return { query, value, key, queryMask, valueMask, keyMask, attentionMask };
  }

  /**
   * The layer on explicit tensors (what `call` runs, and what blocks call for their attention
   * sub-layers): projections, the combined mask (the inputs' padding masks, `attentionMask`, and
   * the layer's own causal and sliding-window masks), attention, gate and output projection, with
   * or without a cache (see `MultiHeadAttentionCallArgs.cache`). Call inside a tidy.
   */
  run(inputs: AttentionInputs, options: AttentionRunOptions = {}): AttentionRunResult {
    const { query, value, key } = inputs;
    const cache = options.cache ?? null;
    const index = options.cacheUpdateIndex ?? null;
    // 1. Project, and with a cache write the new keys and values into it: (B, L, H*E) rows.
    const {
      sources,
      query: q,
      key: k,
      value: v,
      cache: updated,
      keyLength,
    } = cache == null
      ? { ...this.project(query, value, key), cache: null, keyLength: undefined }
      : this.projectCached(inputs, cache, index);
    // 2. The mask, positions counted from the sequence's start (index + new keys - T with a cache).
    const queryOffset = index == null ? 0 : keyLength! - (query.shape[1] as number);
    const mask = this.combinedMask(inputs, keyLength ?? (value.shape[1] as number), queryOffset, cache != null);
    // 3. Attend: softmax(Q K^T / sqrt(K) + mask) V per head, (B, T, H, V).
    const observer = attentionObserver();
    const { context, probabilities } = scaledDotProductAttention({
      sources,
      query: q,
      key: k,
      value: v,
      numHeads: this.numHeads,
      keyDim: this.keyDim,
      valueDim: this.valueDim,
      mask,
      dropout: options.training ? this.dropout : 0,
      needProbabilities: (options.needProbabilities ?? false) || observer != null,
      keyLength,
      fullyMaskedQueries: this.fullyMaskedQueries,
    });
    const headMask = options.headMask ?? null;
    if (observer != null && probabilities != null) observer({ layer: this, inputs, probabilities, mask, headMask });
    // 4. Gate (useGate): each head's context times sigmoid(query W_G + b_G), (B, T, H, V).
    let gated = this.gateDense ? context.mul(tf.sigmoid(projectHeads(query, this.gateDense))) : context;
    // 5. Head mask: (H) or (B, H) -> (B or 1, 1, H, 1), times each head's context.
    if (headMask != null)
      gated = gated.mul(headMask.cast('float32').reshape([headMask.rank === 1 ? 1 : -1, 1, this.numHeads, 1]));
    // 6. Merge the heads: (B, T, H, V) -> (B, T, Dout).
    return { output: mergeHeads(gated, this.outputDense!), probabilities, cache: updated };
  }

  /**
   * The combined mask (1 = may attend) over `keyLength` keys for queries at positions
   * `queryOffset`.. of the sequence: Keras's `_compute_attention_mask` (padding, causal, sliding
   * window, attentionMask). With a cache the query's padding mask is not applied (it only changes
   * padded query rows), and the value's and key's only where they cover every key attended (a
   * static cache, or a cache's first write): a cache keeps no padding, so what feeds it later must
   * hold none (`generate` never feeds padding), or say so in `attentionMask`, as with keras-hub's
   * CachedMultiHeadAttention. Call inside a tidy.
   */
  private combinedMask(inputs: AttentionInputs, keyLength: number, queryOffset: number, cached: boolean) {
    const covering = (m: tf.Tensor | null | undefined) => (m != null && m.shape[1] === keyLength ? m : null);
    return combineMasks(
      inputs.query,
      keyLength,
      cached ? null : (inputs.queryMask ?? null),
      covering(inputs.valueMask),
      covering(inputs.keyMask),
      this.causal,
      inputs.attentionMask ?? null,
      this.slidingWindow,
      queryOffset,
    );
  }

  /**
   * Queries projected, keys and values in the cache: with `index`, the new keys and values written
   * at [index, index + S') (`updateCache`; the cache is donated); without, the cache as it is (a
   * static cache). Call inside a tidy.
   */
  private projectCached(
    inputs: AttentionInputs,
    cache: tf.Tensor3D,
    index: number | null,
  ): {
    sources: tf.Tensor3D[];
    query: HeadsSlice;
    key: HeadsSlice;
    value: HeadsSlice;
    cache: tf.Tensor3D;
    keyLength: number;
  } {
    const { query, value, key } = inputs;
    this.checkCache(cache, query.shape[0] as number, index, value.shape[1] as number);
    const keysWidth = this.numHeads * this.keyDim;
    const valuesWidth = this.numHeads * this.valueDim;
    const slices = { key: { source: 1, offset: 0 }, value: { source: 1, offset: keysWidth } };
    if (index == null) {
      // A static cache: its keys and values as they are (cloned: the caller owns what it passed).
      if (this.causal || this.slidingWindow != null) {
        throw new Error(
          `MultiHeadAttention '${this.name}': a static cache (cacheUpdateIndex null) has no query positions ` +
            'for the causal or sliding-window mask; pass cacheUpdateIndex',
        );
      }
      const sources = [projectJoined(query, [this.queryDense!]), cache.clone()];
      return { sources, query: { source: 0, offset: 0 }, ...slices, cache: sources[1], keyLength: cache.shape[1] };
    }
    const at = (sourceColumn: number, targetColumn: number, width: number) => ({
      index,
      sourceColumn,
      targetColumn,
      width,
    });
    let projected: tf.Tensor3D;
    let updated: tf.Tensor3D;
    if (query === value && value === key) {
      // Self-attention: one (B, T, H*K + H*K + H*V) projection; its keys and values go to the cache.
      projected = projectJoined(query, [this.queryDense!, this.keyDense!, this.valueDense!]);
      updated = updateCache(cache, projected, at(keysWidth, 0, keysWidth + valuesWidth));
    } else {
      projected = projectJoined(query, [this.queryDense!]);
      if (key === value) {
        updated = updateCache(
          cache,
          projectJoined(value, [this.keyDense!, this.valueDense!]),
          at(0, 0, keysWidth + valuesWidth),
        );
      } else {
        const withKeys = updateCache(cache, projectJoined(key, [this.keyDense!]), at(0, 0, keysWidth));
        updated = updateCache(withKeys, projectJoined(value, [this.valueDense!]), at(0, keysWidth, valuesWidth));
      }
    }
    const keyLength = index + (value.shape[1] as number);
    return { sources: [projected, updated], query: { source: 0, offset: 0 }, ...slices, cache: updated, keyLength };
  }

  /**
   * Incremental decoding: the queries run one position at a time with a key/value cache of what
   * the value and key inputs give (the new positions' for causal self-attention, an encoder's
   * once for cross-attention).
   */
  incrementalRole(inputCount: number): IncrementalRole {
    const { indices } = this.roles(Array.from({ length: inputCount }, (_x, i) => i));
    const keyValueInputs = [...new Set([indices.value, indices.key])];
    return {
      kind: 'cached',
      slots: [{ cacheArgument: 'cache', indexArgument: 'cacheUpdateIndex', attention: this, keyValueInputs }],
    };
  }

  /**
   * The layer itself, as tools that look into a model see it (its head mask: `headMask`).
   * @internal
   */
  attentionSublayers(): Array<AttentionSublayer<MultiHeadAttention>> {
    return [{ name: '', attention: this, headMaskArgument: 'headMask' }];
  }

  /** Throws unless `mask` is a head mask for this layer: (H) or (B, H). */
  checkHeadMask(mask: unknown, batch: number): void {
    const ok =
      mask instanceof tf.Tensor &&
      ((mask.rank === 1 && mask.shape[0] === this.numHeads) ||
        (mask.rank === 2 && mask.shape[1] === this.numHeads && (mask.shape[0] === batch || mask.shape[0] === 1)));
    if (!ok) {
      const got = mask instanceof tf.Tensor ? `shape ${formatShape(mask.shape)}` : describeValue(mask);
      throw new Error(
        `MultiHeadAttention '${this.name}': headMask must be a tensor of shape (H) = [${this.numHeads}] or ` +
          `(B, H) = [${batch}, ${this.numHeads}], got ${got}`,
      );
    }
  }

  /** The width of a cache row, H*K + H*V: a position's keys, then its values. */
  get cacheWidth(): number {
    return this.numHeads * (this.keyDim + this.valueDim);
  }

  /**
   * An empty key/value cache (B, maxLength, H*K + H*V) of zeros for `call`'s `cache` argument; the
   * caller owns (and disposes) it.
   */
  createCache(batch: number, maxLength: number): tf.Tensor3D {
    const name = `MultiHeadAttention '${this.name}'`;
    checkPositiveInt(name, 'batch', batch);
    checkPositiveInt(name, 'maxLength', maxLength);
    return tf.zeros([batch, maxLength, this.cacheWidth]);
  }

  private checkCache(cache: tf.Tensor, batch: number, index: number | null, newKeys: number): void {
    const name = `MultiHeadAttention '${this.name}'`;
    if (
      !(cache instanceof tf.Tensor) ||
      cache.rank !== 3 ||
      cache.shape[0] !== batch ||
      cache.shape[2] !== this.cacheWidth
    ) {
      const got = cache instanceof tf.Tensor ? `shape ${formatShape(cache.shape)}` : describeValue(cache);
      throw new Error(
        `${name}: cache must be a (B, S, H*K + H*V) = (${batch}, S, ${this.cacheWidth}) tensor (createCache), ` +
          `got ${got}`,
      );
    }
    if (index != null && !(Number.isInteger(index) && index >= 0 && index + newKeys <= (cache.shape[1] as number))) {
      throw new Error(
        `${name}: cacheUpdateIndex must be an integer in [0, ${(cache.shape[1] as number) - newKeys}] ` +
          `(the cache holds ${cache.shape[1]} positions and this call writes ${newKeys}), got ${describeValue(index)}`,
      );
    }
  }

  /**
   * The query, key and value projections, kept joined where inputs are shared: (B, L, sum of
   * H*E) rows, and where each role's heads start in them. Call inside a tidy.
   */
  private project(
    query: tf.Tensor,
    value: tf.Tensor,
    key: tf.Tensor,
  ): { sources: tf.Tensor3D[]; query: HeadsSlice; key: HeadsSlice; value: HeadsSlice } {
    const keysWidth = this.numHeads * this.keyDim;
    if (query === value && value === key) {
      // Self-attention: (B, T, H*K + H*K + H*V) rows of queries, keys, values.
      const sources = [projectJoined(query, [this.queryDense!, this.keyDense!, this.valueDense!])];
      return {
        sources,
        query: { source: 0, offset: 0 },
        key: { source: 0, offset: keysWidth },
        value: { source: 0, offset: 2 * keysWidth },
      };
    }
    if (key === value) {
      // Cross-attention over one memory: queries (B, T, H*K); keys, values (B, S, H*K + H*V).
      const sources = [
        projectJoined(query, [this.queryDense!]),
        projectJoined(key, [this.keyDense!, this.valueDense!]),
      ];
      return {
        sources,
        query: { source: 0, offset: 0 },
        key: { source: 1, offset: 0 },
        value: { source: 1, offset: keysWidth },
      };
    }
    const sources = [
      projectJoined(query, [this.queryDense!]),
      projectJoined(key, [this.keyDense!]),
      projectJoined(value, [this.valueDense!]),
    ];
    return { sources, query: { source: 0, offset: 0 }, key: { source: 1, offset: 0 }, value: { source: 2, offset: 0 } };
  }

  private checkCallInputs(query: tf.Tensor, value: tf.Tensor, key: tf.Tensor): void {
    const name = `MultiHeadAttention '${this.name}'`;
    checkRank(name, 'query', query.shape, 3);
    checkRank(name, 'value', value.shape, 3);
    checkRank(name, 'key', key.shape, 3);
    checkInputShapes(name, query.shape, value.shape, key.shape);
    const expected: Array<[string, tf.Tensor, AttentionProjection | null]> = [
      ['query', query, this.queryDense],
      ['value', value, this.valueDense],
      ['key', key, this.keyDense],
    ];
    for (const [role, tensor, projection] of expected) {
      const width = projection?.kernel?.shape[0];
      if (width != null && tensor.shape[2] !== width) {
        throw new Error(
          `${name}: ${role} has width ${tensor.shape[2]} (shape ${formatShape(tensor.shape)}) ` +
            `but the layer was built for width ${width}`,
        );
      }
    }
  }

  /**
   * Where each of `this.weights` sits in a Keras 3 weights file, relative to this layer's group, in
   * the same order: `query_dense/vars/0` (kernel), `query_dense/vars/1` (bias), then key, the gate
   * (`useGate`, which Keras 3.14+ builds between key and value), value and output. Keras 3 saves a
   * layer's sub-layers under the attribute names it reaches them by (keras/src/saving/saving_lib.py
   * `_walk_saveable`: attributes sorted by name with public before private ones, each object saved
   * once, at the first name): the public properties `query_dense`, `key_dense`, `value_dense`,
   * `output_dense` (seen in real `.keras` files: `layers/multi_head_attention/query_dense/vars/0`);
   * the gate has only its private attribute `_gate_dense`. Keras 2 `.h5` files list the weights in
   * this order in `weight_names`.
   */
  kerasWeightPaths(): string[] {
    const vars = this.useBias ? ['vars/0', 'vars/1'] : ['vars/0'];
    const groups = [
      'query_dense',
      'key_dense',
      ...(this.useGate ? ['_gate_dense'] : []),
      'value_dense',
      'output_dense',
    ];
    return groups.flatMap((group) => vars.map((v) => `${group}/${v}`));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      numHeads: this.numHeads,
      keyDim: this.keyDim,
      valueDim: this.valueDim,
      dropout: this.dropout,
      useBias: this.useBias,
      outputDim: this.outputDim,
      causal: this.causal,
      returnAttentionScores: this.returnAttentionScores,
      slidingWindow: this.slidingWindow,
      useGate: this.useGate,
      flashAttention: this.flashAttention,
      seed: this.seed,
      ...(this.softmaxRobustMasking ? { softmaxRobustMasking: true } : {}),
      ...(this.fullyMaskedQueries !== 'uniform' ? { fullyMaskedQueries: this.fullyMaskedQueries } : {}),
      kernelInitializer: serializeInitializer(this.kernelInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
      kernelRegularizer: serializeRegularizerOrConstraint(this.kernelRegularizer),
      biasRegularizer: serializeRegularizerOrConstraint(this.biasRegularizer),
      kernelConstraint: serializeRegularizerOrConstraint(this.kernelConstraint),
      biasConstraint: serializeRegularizerOrConstraint(this.biasConstraint),
      callArguments: this.callArguments,
    };
  }
}
tf.serialization.registerClass(MultiHeadAttention);

/** Factory in the style of `tf.layers.dense(args)`. */
export function multiHeadAttention(args: MultiHeadAttentionArgs): MultiHeadAttention {
  return new MultiHeadAttention(args);
}

function checkInputShapes(name: string, query: Shape | number[], value: Shape | number[], key: Shape | number[]): void {
  const batches = [query[0], value[0], key[0]];
  if (batches.every((b) => b != null) && new Set(batches).size > 1) {
    throw new Error(
      `${name}: query, value and key must have the same batch size, got shapes ` +
        `query ${formatShape(query)}, value ${formatShape(value)}, key ${formatShape(key)}`,
    );
  }
  if (value[1] != null && key[1] != null && value[1] !== key[1]) {
    throw new Error(
      `${name}: value and key must have the same length S, ` +
        `got shapes value ${formatShape(value)}, key ${formatShape(key)}`,
    );
  }
}
