/**
 * The one transformer stack: what every block here is made of and how it is wired, for our
 * `TransformerEncoderBlock` and `TransformerDecoderBlock` and keras-hub's `TransformerEncoder` and
 * `TransformerDecoder` alike (Vaswani et al. 2017, section 3.1). A block composes sub-layers, as
 * keras-hub's do: a `MultiHeadAttention` for self-attention (and one for cross-attention), layer
 * norms and the feed-forward network's two dense layers, each in a residual connection with dropout,
 * post-LN `norm(x + drop(f(x)))` or pre-LN `x + drop(f(norm(x)))`. The four classes differ only in
 * their arguments, defaults, mask rules, the names and order of their weights, and config.
 *
 * Caching: a block's attention sub-layers take key/value caches (MultiHeadAttention's `cache`),
 * through keras-hub's call arguments `selfAttentionCache`, `selfAttentionCacheUpdateIndex`,
 * `crossAttentionCache` and `crossAttentionCacheUpdateIndex`; with caches the call returns
 * `[output, selfAttentionCache, crossAttentionCache?]`, as keras-hub's TransformerDecoder does.
 *
 * Shape letters: B batch, T the sequence's length, S the memory's (cross-attention), D width,
 * I feed-forward width.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';
import type { Regularizer } from '@tensorflow/tfjs-layers/dist/regularizers';
import { ACTIVATION_NAMES } from '../ops/activations';
import { denseSequence } from '../ops/dense';
import { layerNormalize } from '../ops/layer_norm';
import { describeValue } from '../describe';
import {
  checkBoolean,
  checkChoice,
  checkPositiveInt,
  checkPositiveNumber,
  checkRate,
  type InitializerIdentifier,
  resolveInitializer,
  serializeInitializer,
} from './args';
import { type RegularizerIdentifier, rejectActivityRegularizer, resolveRegularizer } from './keras_args';
import { checkOptionNames } from '../options';
import type { AttentionSublayer } from './attention_recorder';
import { FULLY_MASKED_QUERIES, type FullyMaskedQueries } from '../ops/attention';
import type { CacheSlot } from './incremental';
import { type AttentionInputs, MultiHeadAttention } from './multi_head_attention';
import { checkRank, type Shape } from './shapes';

/** The arguments every block takes. */
export interface TransformerBlockArgs extends LayerArgs {
  /** Number of attention heads H. Required. */
  numHeads: number;
  /** Width I of the feed-forward hidden layer. Required. */
  intermediateDim: number;
  /** Dropout rate inside attention, after each attention and after the feed-forward network. Default 0. */
  dropout?: number;
  /**
   * Feed-forward activation, by its Keras name: 'relu', 'gelu' (exact, erf-based), 'tanh',
   * 'sigmoid', 'silu'/'swish', 'softplus', 'elu', 'selu' or 'linear'. Default 'relu'.
   */
  activation?: Activation;
  /** Epsilon of the layer norms. Default 1e-5 (as PyTorch and keras-hub). */
  layerNormEpsilon?: number;
  /**
   * Pre-LN (norm before each sub-block, Xiong et al. 2020; GPT-2) instead of post-LN (Vaswani et al.;
   * BERT). Default false.
   */
  normalizeFirst?: boolean;
  /** Initializer of every kernel. Default 'glorotUniform'. */
  kernelInitializer?: InitializerIdentifier;
  /** Initializer of every bias. Default 'zeros'. */
  biasInitializer?: InitializerIdentifier;
  /**
   * What a query whose keys are all masked (a padded position) gets in the block's attention:
   * 'uniform' attention or 'zero' attention (see MultiHeadAttention's `fullyMaskedQueries`; Keras
   * 3.10+'s attention in keras-hub's layers gives 'zero' when they have dropout, where the Keras
   * loader sets it). Default 'uniform'.
   */
  fullyMaskedQueries?: FullyMaskedQueries;
}

/** The feed-forward activations, by their Keras names. */
export const ACTIVATIONS = ACTIVATION_NAMES;
/** A feed-forward activation: one of `ACTIVATIONS`. */
export type Activation = string;

/** Regularizer arguments, for the blocks that take them (keras-hub's TransformerEncoder). */
export interface BlockRegularizerArgs {
  /** Regularizer of every kernel (attention and feed-forward). Default null. */
  kernelRegularizer?: RegularizerIdentifier | null;
  /** Regularizer of every bias. Default null. */
  biasRegularizer?: RegularizerIdentifier | null;
  /** Refused unless null: tfjs 4.22 cannot run a layer with an activity regularizer. */
  activityRegularizer?: null;
}

/** A dense sub-layer's weights: kernel [in, out], bias [out] (Keras's vars/0, vars/1). */
export interface DenseWeights {
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable;
}

/** A layer norm's weights: gamma, beta [D] (Keras's vars/0, vars/1). */
export interface NormWeights {
  gamma: tf.LayerVariable;
  beta: tf.LayerVariable;
}

/** The sub-layers of a block, by the names keras-hub gives them (without its leading `_`). */
export type SubLayerName =
  | 'self_attention'
  | 'self_attention_layer_norm'
  | 'cross_attention'
  | 'cross_attention_layer_norm'
  | 'feedforward_intermediate_dense'
  | 'feedforward_output_dense'
  | 'feedforward_layer_norm';

/** How a block class differs from the others, beyond its arguments. */
export interface BlockKind {
  /** The class name in messages, e.g. 'TransformerEncoderBlock' or 'keras_hub TransformerEncoder'. */
  label: string;
  /**
   * Every argument name the class takes (`layerArgNames`): any other is refused, with the nearest
   * known name, before the arguments are read (a subclass with arguments of its own checks them itself).
   */
  argNames: readonly string[];
  /** The class it describes, whose instances (not a subclass's) get the argument-name check. */
  owner: () => unknown;
  /** Its weights' order: the sub-layers in `layer.weights` order (an absent cross-attention is skipped). */
  weightOrder: readonly SubLayerName[];
  /** The weight-name scope of each attention sub-layer ('<scope>/query/kernel', ...). */
  attentionScopes: { self: string; cross: string };
  /** Whether it takes kernel and bias regularizers. */
  regularizers: boolean;
  /** What messages call its inputs: the sequence and the memory (cross-attention's keys and values). */
  inputNames: { sequence: string; memory: string };
  /**
   * The key dim when the block has no `keyDim`: floor(D / H), and with `exactKeyDim` D must be a
   * multiple of H.
   */
  exactKeyDim: boolean;
  /** Whether `dropout` also drops attention probabilities (false: only the residual branches). Default true. */
  attentionDropout?: boolean;
  /**
   * Whether its attentions apply the inputs' padding masks as `paddingMasksOf` says (ours); else
   * its call decides them. Default false.
   */
  paddingMasks?: boolean;
  /**
   * For a Keras class: the attribute each sub-layer is saved under in a Keras 3 weights file
   * (`kerasWeightPaths`), e.g. '_self_attention_layer' or 'ffn/layers/dense'.
   */
  kerasGroups?: Record<SubLayerName, string>;
}

/** The padding masks of a block's self- and cross-attention (`TransformerBlock.paddingMasksOf`). */
export interface BlockPaddingMasks<T> {
  self: { queryMask: T | null; valueMask: T | null };
  cross: { queryMask: T | null; valueMask: T | null };
}

/** One of a block's attention calls: its masks, its memory (cross-attention) and its cache. */
export interface AttentionCall {
  masks: Omit<AttentionInputs, 'query' | 'value' | 'key'>;
  /** Cross-attention's keys and values (B, S, De). */
  memory?: tf.Tensor;
  cache?: tf.Tensor3D | null;
  cacheUpdateIndex?: number | null;
  /** (H) or (B, H): MultiHeadAttention's `headMask`. */
  headMask?: tf.Tensor | null;
}

/** A block's residual parts: its two attentions and its feed-forward network, each with its norm. */
export type BlockPart = 'self' | 'cross' | 'feedforward';

/** The sub-layer names of each part's norm, and of the feed-forward network's two dense layers. */
export const BLOCK_NORMS: Record<BlockPart, SubLayerName> = {
  self: 'self_attention_layer_norm',
  cross: 'cross_attention_layer_norm',
  feedforward: 'feedforward_layer_norm',
};
export const BLOCK_DENSES: Record<'intermediate' | 'output', SubLayerName> = {
  intermediate: 'feedforward_intermediate_dense',
  output: 'feedforward_output_dense',
};

/** What a block's wiring (`TransformerBlock.wire`) does to its values, each op on one kind of value. */
export interface BlockOps<T> {
  /** The self- or cross-attention sub-layer on queries `query` (its memory and cache are the ops' own). */
  attention(which: 'self' | 'cross', query: T): T;
  /** The layer norm of a part (`BLOCK_NORMS`). */
  norm(which: BlockPart, x: T): T;
  /** A feed-forward dense layer (`BLOCK_DENSES`) with an activation. */
  dense(which: 'intermediate' | 'output', x: T, activation: string): T;
  add(a: T, b: T): T;
  /** Dropout on a residual branch (the identity outside training). */
  dropout(x: T): T;
}

/**
 * The head masks of a block's attention sub-layers (MultiHeadAttention's `headMask`, Hugging
 * Face's per-layer `head_mask`): (H) or (B, H), 0 removes a head's share of the output.
 */
export interface BlockHeadMaskArgs {
  selfAttentionHeadMask?: tf.Tensor | null;
  /** Blocks with cross-attention only. */
  crossAttentionHeadMask?: tf.Tensor | null;
}

/** The cache call arguments of every block (keras-hub's names), returned after the output when given. */
export interface BlockCacheArgs {
  /** Self-attention's key/value cache (B, S, H*K + H*V) (`createCache`); see MultiHeadAttention's `cache`. */
  selfAttentionCache?: tf.Tensor3D;
  /** The position the self-attention cache is updated at; null for a static cache. */
  selfAttentionCacheUpdateIndex?: number | null;
  /** Cross-attention's key/value cache (blocks with cross-attention). */
  crossAttentionCache?: tf.Tensor3D;
  /** Null (the default) for the static cache of an encoder's keys and values, computed once. */
  crossAttentionCacheUpdateIndex?: number | null;
}

export abstract class TransformerBlock extends tf.layers.Layer {
  readonly numHeads: number;
  readonly intermediateDim: number;
  readonly dropout: number;
  readonly activation: Activation;
  readonly layerNormEpsilon: number;
  readonly normalizeFirst: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  readonly fullyMaskedQueries: FullyMaskedQueries;
  /** Null unless the class takes regularizers and was given one. */
  readonly kernelRegularizer: Regularizer | null;
  readonly biasRegularizer: Regularizer | null;

  selfAttention: MultiHeadAttention | null = null;
  crossAttention: MultiHeadAttention | null = null;
  protected selfAttentionNorm!: NormWeights;
  protected crossAttentionNorm: NormWeights | null = null;
  protected feedForwardNorm!: NormWeights;
  protected intermediateDense!: DenseWeights;
  protected outputDense!: DenseWeights;
  private fastInit = false;

  protected constructor(
    args: TransformerBlockArgs & BlockRegularizerArgs,
    protected readonly kind: BlockKind,
  ) {
    super(args);
    const name = this.label;
    if (args == null || typeof args !== 'object') {
      throw new Error(`${name}: expected an arguments object {numHeads, intermediateDim, ...}, got ${args}`);
    }
    if (this.constructor === kind.owner()) checkOptionNames(name, args, kind.argNames);
    this.numHeads = checkPositiveInt(name, 'numHeads', args.numHeads);
    this.intermediateDim = checkPositiveInt(name, 'intermediateDim', args.intermediateDim);
    this.dropout = checkRate(name, 'dropout', args.dropout ?? 0);
    this.activation = resolveActivation(name, args.activation ?? 'relu');
    this.layerNormEpsilon = checkPositiveNumber(name, 'layerNormEpsilon', args.layerNormEpsilon ?? 1e-5);
    this.normalizeFirst = checkBoolean(name, 'normalizeFirst', args.normalizeFirst ?? false);
    this.kernelInitializer = resolveInitializer(name, 'kernelInitializer', args.kernelInitializer, 'glorotUniform');
    this.biasInitializer = resolveInitializer(name, 'biasInitializer', args.biasInitializer, 'zeros');
    this.fullyMaskedQueries = checkChoice(
      name,
      'fullyMaskedQueries',
      args.fullyMaskedQueries ?? 'uniform',
      FULLY_MASKED_QUERIES,
    );
    this.kernelRegularizer = kind.regularizers
      ? resolveRegularizer(name, 'kernelRegularizer', args.kernelRegularizer)
      : null;
    this.biasRegularizer = kind.regularizers ? resolveRegularizer(name, 'biasRegularizer', args.biasRegularizer) : null;
    if (kind.regularizers) rejectActivityRegularizer(name, args.activityRegularizer);
    this.supportsMasking = true;
  }

  /** `Class 'name'`, the prefix of every error message. */
  protected get label(): string {
    return `${this.kind.label} '${this.name}'`;
  }

  // ---------------------------------------------------------------------------------------------
  // Sub-layers and weights.

  /**
   * Creates the sub-layers for a sequence of width D (`queryShape`) and, with `memoryShape`, a
   * memory for cross-attention; `causal` makes the self-attention causal. Call from `build`.
   */
  protected buildSublayers(queryShape: Shape, memoryShape: Shape | null, keyDim: number | null, causal: boolean): void {
    checkRank(this.label, this.kind.inputNames.sequence, queryShape, 3);
    if (memoryShape) checkRank(this.label, this.kind.inputNames.memory, memoryShape, 3);
    const width = queryShape[2] as number;
    const headDim = blockKeyDim(this.label, width, this.numHeads, keyDim, this.kind.exactKeyDim);
    const { self, cross } = this.kind.attentionScopes;
    this.selfAttention = this.addAttention(self, headDim, queryShape, queryShape, causal);
    this.selfAttentionNorm = this.addNorm('self_attention_layer_norm', width);
    if (memoryShape) {
      this.crossAttention = this.addAttention(cross, headDim, queryShape, memoryShape, false);
      this.crossAttentionNorm = this.addNorm('cross_attention_layer_norm', width);
    }
    this.intermediateDense = this.addDense('feedforward_intermediate_dense', width, this.intermediateDim);
    this.outputDense = this.addDense('feedforward_output_dense', this.intermediateDim, width);
    this.feedForwardNorm = this.addNorm('feedforward_layer_norm', width);
  }

  /** A built attention sub-layer named `${name}_${scope}`, its weights '<this>/<scope>/...'. */
  private addAttention(scope: string, keyDim: number, queryShape: Shape, valueShape: Shape, causal: boolean) {
    const attention = new MultiHeadAttention({
      name: `${this.name}_${scope}`,
      numHeads: this.numHeads,
      keyDim,
      dropout: this.kind.attentionDropout === false ? 0 : this.dropout,
      causal,
      fullyMaskedQueries: this.fullyMaskedQueries,
      kernelInitializer: this.kernelInitializer,
      biasInitializer: this.biasInitializer,
      kernelRegularizer: this.kernelRegularizer,
      biasRegularizer: this.biasRegularizer,
    });
    attention.weightScope = scope;
    attention.setFastWeightInitDuringBuild(this.fastInit);
    attention.build([queryShape, valueShape]);
    return attention;
  }

  private addNorm(scope: string, width: number): NormWeights {
    return {
      gamma: this.addWeight(`${scope}/gamma`, [width], 'float32', tf.initializers.ones()),
      beta: this.addWeight(`${scope}/beta`, [width], 'float32', tf.initializers.zeros()),
    };
  }

  private addDense(scope: string, input: number, output: number): DenseWeights {
    const regularizer = (r: Regularizer | null) => r ?? undefined;
    const [kernelRegularizer, biasRegularizer] = [
      regularizer(this.kernelRegularizer),
      regularizer(this.biasRegularizer),
    ];
    return {
      kernel: this.addWeight(`${scope}/kernel`, [input, output], 'float32', this.kernelInitializer, kernelRegularizer),
      bias: this.addWeight(`${scope}/bias`, [output], 'float32', this.biasInitializer, biasRegularizer),
    };
  }

  /**
   * The sub-layers that exist, in the class's weight order, with the weights of each.
   * @internal
   */
  sublayers(): Array<{ name: SubLayerName; attention?: MultiHeadAttention; variables: tf.LayerVariable[] }> {
    if (!this.built) return [];
    const norm = (n: NormWeights | null) => (n ? [n.gamma, n.beta] : null);
    const dense = (d: DenseWeights) => [d.kernel, d.bias];
    const parts: Record<SubLayerName, { attention?: MultiHeadAttention; variables: tf.LayerVariable[] } | null> = {
      self_attention: { attention: this.selfAttention!, variables: this.selfAttention!.weights },
      self_attention_layer_norm: { variables: norm(this.selfAttentionNorm)! },
      cross_attention: this.crossAttention
        ? { attention: this.crossAttention, variables: this.crossAttention.weights }
        : null,
      cross_attention_layer_norm: this.crossAttentionNorm ? { variables: norm(this.crossAttentionNorm)! } : null,
      feedforward_intermediate_dense: { variables: dense(this.intermediateDense) },
      feedforward_output_dense: { variables: dense(this.outputDense) },
      feedforward_layer_norm: { variables: norm(this.feedForwardNorm)! },
    };
    return this.kind.weightOrder.flatMap((name) => (parts[name] ? [{ name, ...parts[name]! }] : []));
  }

  private attentionLayers(): MultiHeadAttention[] {
    return [this.selfAttention, this.crossAttention].filter((a): a is MultiHeadAttention => a != null);
  }

  override get trainableWeights(): tf.LayerVariable[] {
    return this.trainable ? this.sublayers().flatMap((p) => p.variables) : [];
  }

  override set trainableWeights(weights: tf.LayerVariable[]) {
    // The base constructor assigns []; the weights are listed from the sub-layers.
    this._trainableWeights = weights;
  }

  override get nonTrainableWeights(): tf.LayerVariable[] {
    return this.trainable ? [] : this.sublayers().flatMap((p) => p.variables);
  }

  override set nonTrainableWeights(_weights: tf.LayerVariable[]) {
    // See trainableWeights.
  }

  override calculateLosses(): tf.Scalar[] {
    return [...super.calculateLosses(), ...this.attentionLayers().flatMap((a) => a.calculateLosses())];
  }

  override setFastWeightInitDuringBuild(value: boolean): void {
    super.setFastWeightInitDuringBuild(value);
    this.fastInit = value;
    this.attentionLayers().forEach((a) => a.setFastWeightInitDuringBuild(value));
  }

  // ---------------------------------------------------------------------------------------------
  // The block.

  /**
   * The block on explicit tensors: x (B, T, D), self-attention and (blocks with cross-attention)
   * cross-attention calls with their masks, memory and caches. Returns the output (B, T, D) and
   * the updated caches (null where none was given). Call inside a tidy.
   */
  protected runBlock(
    x: tf.Tensor,
    self: AttentionCall,
    cross: AttentionCall | null,
    training: boolean,
  ): { output: tf.Tensor3D; selfAttentionCache: tf.Tensor3D | null; crossAttentionCache: tf.Tensor3D | null } {
    const caches: { self: tf.Tensor3D | null; cross: tf.Tensor3D | null } = { self: null, cross: null };
    const norms = { self: this.selfAttentionNorm, cross: this.crossAttentionNorm, feedforward: this.feedForwardNorm };
    const denses = { intermediate: this.intermediateDense, output: this.outputDense };
    const output = this.wire<tf.Tensor>(x, cross != null, {
      attention: (which, query) => {
        const [attention, call] = which === 'self' ? [this.selfAttention!, self] : [this.crossAttention!, cross!];
        const memory = which === 'self' ? query : call.memory!;
        const result = attention.run(
          { query, value: memory, key: memory, ...call.masks },
          { training, cache: call.cache, cacheUpdateIndex: call.cacheUpdateIndex, headMask: call.headMask },
        );
        caches[which] = result.cache;
        return result.output;
      },
      norm: (which, t) => {
        const { gamma, beta } = norms[which]!;
        return layerNormalize(t, gamma.read(), beta.read(), this.layerNormEpsilon);
      },
      dense: (which, t, activation) =>
        denseSequence(t, denses[which].kernel.read(), denses[which].bias.read(), activation),
      add: (a, b) => a.add(b),
      dropout: (t) => (training && this.dropout > 0 ? tf.dropout(t, this.dropout) : t),
    });
    return { output: output as tf.Tensor3D, selfAttentionCache: caches.self, crossAttentionCache: caches.cross };
  }

  /**
   * The block's wiring, once, on any kind of value: tensors in a call (`runBlock`), typed-array
   * rows in a decode step (src/decode/array_steps.ts). Self-attention, then (`withCross`)
   * cross-attention, then the feed-forward network (B, T, D) -> (B, T, I) -> (B, T, D), each in a
   * residual connection with dropout and a layer norm: post-LN `norm(x + drop(f(x)))` or, with
   * normalizeFirst, pre-LN `x + drop(f(norm(x)))`.
   * @internal
   */
  wire<T>(x: T, withCross: boolean, ops: BlockOps<T>): T {
    const residual = (input: T, norm: BlockPart, f: (t: T) => T): T =>
      this.normalizeFirst
        ? ops.add(input, ops.dropout(f(ops.norm(norm, input))))
        : ops.norm(norm, ops.add(input, ops.dropout(f(input))));
    let h = residual(x, 'self', (q) => ops.attention('self', q));
    if (withCross) h = residual(h, 'cross', (q) => ops.attention('cross', q));
    return residual(h, 'feedforward', (q) =>
      ops.dense('output', ops.dense('intermediate', q, this.activation), 'linear'),
    );
  }

  /**
   * The padding masks each attention of a call applies, from the padding masks (1 = a real
   * position) of its sequence and memory inputs, on tensors or arrays: for our blocks, padded
   * positions neither attend nor are attended. Null for a class whose call decides them
   * otherwise (keras-hub's and keras.io's); the typed-array runner then runs it through tfjs.
   * @internal
   */
  paddingMasksOf<T>(sequence: T | null, memory: T | null): BlockPaddingMasks<T> | null {
    if (!this.kind.paddingMasks) return null;
    return {
      self: { queryMask: sequence, valueMask: sequence },
      cross: { queryMask: sequence, valueMask: memory },
    };
  }

  /**
   * For a Keras class (`BlockKind.kerasGroups`): where each of `this.weights` sits in a Keras 3
   * weights file, relative to the layer's group (`_self_attention_layer/query_dense/vars/0`, ...).
   */
  kerasWeightPaths(): string[] {
    const groups = this.kind.kerasGroups;
    if (groups == null) throw new Error(`${this.label}: not a Keras class, so it has no Keras weight paths`);
    return this.sublayers().flatMap(({ name, attention, variables }) =>
      attention
        ? attention.kerasWeightPaths().map((path) => `${groups[name]}/${path}`)
        : variables.map((_v, i) => `${groups[name]}/vars/${i}`),
    );
  }

  /**
   * The attention sub-layers, as tools that look into a model name them and mask their heads.
   * @internal
   */
  attentionSublayers(): Array<AttentionSublayer<MultiHeadAttention>> {
    const list: Array<AttentionSublayer<MultiHeadAttention>> = [];
    if (this.selfAttention) {
      list.push({ name: 'self_attention', attention: this.selfAttention, headMaskArgument: 'selfAttentionHeadMask' });
    }
    if (this.crossAttention) {
      list.push({
        name: 'cross_attention',
        attention: this.crossAttention,
        headMaskArgument: 'crossAttentionHeadMask',
      });
    }
    return list;
  }

  /** The call's head masks (`BlockHeadMaskArgs`), checked: for the self-attention, and the cross-attention it has. */
  protected headMasksOf(args: BlockHeadMaskArgs, batch: number): { self: tf.Tensor | null; cross: tf.Tensor | null } {
    const self = args.selfAttentionHeadMask ?? null;
    const cross = args.crossAttentionHeadMask ?? null;
    if (self != null) this.selfAttention!.checkHeadMask(self, batch);
    if (cross != null) {
      if (this.crossAttention == null)
        throw new Error(`${this.label}: crossAttentionHeadMask given, but the block has no cross-attention`);
      this.crossAttention.checkHeadMask(cross, batch);
    }
    return { self, cross };
  }

  /**
   * The caches of a call (`BlockCacheArgs`), checked: none, or the self-attention's and (with
   * cross-attention) the cross-attention's.
   */
  protected cachesOf(args: BlockCacheArgs): { self: AttentionCall; cross: AttentionCall } | null {
    const given = args.selfAttentionCache != null || args.crossAttentionCache != null;
    if (!given) return null;
    if (args.selfAttentionCache == null || (this.crossAttention != null) !== (args.crossAttentionCache != null)) {
      throw new Error(
        `${this.label}: with caches, pass selfAttentionCache` +
          `${this.crossAttention ? ' and crossAttentionCache' : ' (this block has no cross-attention)'}; got ` +
          `selfAttentionCache ${describeValue(args.selfAttentionCache)}, crossAttentionCache ` +
          `${describeValue(args.crossAttentionCache)}`,
      );
    }
    return {
      self: { masks: {}, cache: args.selfAttentionCache, cacheUpdateIndex: args.selfAttentionCacheUpdateIndex ?? null },
      cross: {
        masks: {},
        cache: args.crossAttentionCache,
        cacheUpdateIndex: args.crossAttentionCacheUpdateIndex ?? null,
      },
    };
  }

  /** The call's outputs: the output alone, or with caches `[output, selfAttentionCache, crossAttentionCache?]`. */
  protected outputsOf(result: ReturnType<TransformerBlock['runBlock']>, withCaches: boolean): tf.Tensor | tf.Tensor[] {
    this.cacheOutputs = withCaches ? (this.crossAttention ? 2 : 1) : 0;
    if (!withCaches) return result.output;
    return [result.output, result.selfAttentionCache!, ...(this.crossAttention ? [result.crossAttentionCache!] : [])];
  }

  /** How many caches the last call returned after its output (`apply` asks `computeMask` for one mask each). */
  private cacheOutputs = 0;

  /** `computeMask`'s result: the output's mask, and a null for each cache the last call returned. */
  protected withCacheMasks(mask: tf.Tensor | null): tf.Tensor {
    const caches = this.cacheOutputs;
    this.cacheOutputs = 0;
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return (caches === 0 ? mask : [mask, ...new Array(caches).fill(null)]) as unknown as tf.Tensor;
  }

  /**
   * The caches a call with these inputs takes (MultiHeadAttention's `cache`), for incremental
   * decoding (src/layers/incremental.ts): the self-attention's over the sequence input
   * (`sequenceInput`), the cross-attention's over the memory input (`memoryInput`).
   */
  protected blockCacheSlots(sequenceInput: number, memoryInput: number): CacheSlot[] {
    const slots: CacheSlot[] = [
      {
        cacheArgument: 'selfAttentionCache',
        indexArgument: 'selfAttentionCacheUpdateIndex',
        attention: this.selfAttention!,
        keyValueInputs: [sequenceInput],
      },
    ];
    if (this.crossAttention) {
      slots.push({
        cacheArgument: 'crossAttentionCache',
        indexArgument: 'crossAttentionCacheUpdateIndex',
        attention: this.crossAttention,
        keyValueInputs: [memoryInput],
      });
    }
    return slots;
  }

  /** The config every block shares (a subclass adds its own). */
  protected blockConfig(): tf.serialization.ConfigDict {
    return {
      numHeads: this.numHeads,
      intermediateDim: this.intermediateDim,
      dropout: this.dropout,
      activation: this.activation,
      layerNormEpsilon: this.layerNormEpsilon,
      normalizeFirst: this.normalizeFirst,
      kernelInitializer: serializeInitializer(this.kernelInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
      ...(this.fullyMaskedQueries !== 'uniform' ? { fullyMaskedQueries: this.fullyMaskedQueries } : {}),
    };
  }
}

/**
 * The attention key dim of a block of width D with H heads: `keyDim` when given, else
 * floor(D / H) (keras-hub's rule), which must be at least 1; with `exact`, D must then be a
 * multiple of H.
 */
export function blockKeyDim(
  label: string,
  width: number,
  numHeads: number,
  keyDim: number | null,
  exact: boolean,
): number {
  if (keyDim != null) return keyDim;
  if (exact && width % numHeads !== 0) {
    throw new Error(
      `${label}: the model width ${width} is not divisible by numHeads ${numHeads}; pass keyDim explicitly`,
    );
  }
  const derived = Math.floor(width / numHeads);
  if (derived === 0) {
    throw new Error(
      `${label}: the attention key dim floor(D / numHeads) is 0: the width ${width} must be at least ` +
        `numHeads ${numHeads}`,
    );
  }
  return derived;
}

/**
 * A Keras activation: a name ('relu', 'gelu', ...) or Keras 3's serialized function
 * (`{class_name: 'function', config: 'relu'}`, whichever casing the loader hands over).
 */
export function resolveActivation(layer: string, value: unknown): string {
  const name =
    typeof value === 'string'
      ? value
      : value != null && typeof value === 'object' && typeof (value as { config?: unknown }).config === 'string'
        ? (value as { config: string }).config
        : undefined;
  if (name == null || !ACTIVATION_NAMES.includes(name)) {
    const choices = ACTIVATION_NAMES.map((a) => `'${a}'`).join(', ');
    throw new Error(`${layer}: activation must be one of ${choices}, got ${describeValue(value)}`);
  }
  return name;
}
