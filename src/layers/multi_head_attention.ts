/**
 * Multi-head attention (Vaswani et al. 2017, "Attention Is All You Need",
 * section 3.2), with the arguments, weight layout and masking rules of Keras's
 * `keras.layers.MultiHeadAttention`.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';
import { AttentionOutputProjection, mergeHeads } from './attention_output_projection';
import { AttentionProjection, flatBias, flatKernel, projectJoined } from './attention_projection';
import { type HeadsSlice, scaledDotProductAttention } from '../ops/attention';
import {
  checkBoolean,
  checkPositiveInt,
  checkRate,
  type InitializerIdentifier,
  resolveInitializer,
  serializeInitializer,
} from './args';
import { checkAttentionAxes, rejectUnsupportedKerasArgs, resolveOutputDim } from './keras_args';
import { checkPaddingMasks, combineMasks, passMask, resolveInputMasks } from './masks';
import { checkRank, formatShape, type Kwargs, type Shape, shapeList } from './shapes';

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
  /** Whether `apply` returns `[output, scores]`, scores (B, H, T, S). Default false. */
  returnAttentionScores?: boolean;
  /** Initializer of the four kernels. Default 'glorotUniform'. */
  kernelInitializer?: InitializerIdentifier;
  /** Initializer of the four biases. Default 'zeros'. */
  biasInitializer?: InitializerIdentifier;
}

/** Reshaped and fused weights for incremental decoding (see `inferenceWeights`). */
export interface AttentionInferenceWeights {
  /** [Dq, H*K], scaled by 1/sqrt(K). */
  queryKernel: tf.Tensor;
  /** [H*K], scaled by 1/sqrt(K). */
  queryBias: tf.Tensor;
  /** [D, H*K + H*K + H*V], when query, key and value have the same width. */
  queryKeyValueKernel: tf.Tensor | null;
  queryKeyValueBias: tf.Tensor | null;
  /** [H*V, Dout] and [Dout]. */
  outputKernel: tf.Tensor;
  outputBias: tf.Tensor;
}

/** Keyword arguments of `MultiHeadAttention.apply`. */
export interface MultiHeadAttentionCallArgs {
  /** (B, T, S), 1 = query t may attend to key s. Combined with padding and causal masks. */
  attentionMask?: tf.Tensor;
  /** Whether dropout is active. Default false. */
  training?: boolean;
  /** Padding masks of the inputs, (B, T) / (B, S), 1 = real token; normally set by tfjs. */
  mask?: tf.Tensor | Array<tf.Tensor | null>;
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
 * Masks, all combined (1 = may attend): padding masks that tfjs propagates
 * (e.g. from `tf.layers.embedding({maskZero: true})`), `causal`, and the
 * `attentionMask` (B, T, S) keyword argument. A query whose keys are all masked
 * attends uniformly (as Keras), so its output stays finite.
 *
 * Weights, in Keras's order: query kernel [Dq, H, K], query bias [H, K], key
 * kernel [Dk, H, K], key bias [H, K], value kernel [Dv, H, V], value bias [H, V],
 * output kernel [H, V, Dout], output bias [Dout] (biases only with useBias).
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

  readonly numHeads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly dropout: number;
  readonly useBias: boolean;
  /** As given; null means "the query's width", resolved in build. */
  readonly outputDim: number | null;
  readonly causal: boolean;
  readonly returnAttentionScores: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;

  /**
   * Set by an owning layer (e.g. 'self_attention') so weights are named
   * '<owner>/self_attention/query/kernel'; not part of the config.
   */
  weightScope = '';

  queryDense: AttentionProjection | null = null;
  keyDense: AttentionProjection | null = null;
  valueDense: AttentionProjection | null = null;
  outputDense: AttentionOutputProjection | null = null;

  constructor(args: MultiHeadAttentionArgs) {
    super(args);
    const name = `MultiHeadAttention '${this.name}'`;
    if (args == null || typeof args !== 'object') {
      throw new Error(`${name}: expected an arguments object {numHeads, keyDim, ...}, got ${args}`);
    }
    this.numHeads = checkPositiveInt(name, 'numHeads', args.numHeads);
    this.keyDim = checkPositiveInt(name, 'keyDim', args.keyDim);
    this.valueDim = checkPositiveInt(name, 'valueDim', args.valueDim ?? args.keyDim);
    this.dropout = checkRate(name, 'dropout', args.dropout ?? 0);
    this.useBias = checkBoolean(name, 'useBias', args.useBias ?? true);
    this.outputDim = resolveOutputDim(name, args.outputDim, args.outputShape);
    checkAttentionAxes(name, args.attentionAxes);
    this.causal = checkBoolean(name, 'causal', args.causal ?? false);
    this.returnAttentionScores = checkBoolean(name, 'returnAttentionScores', args.returnAttentionScores ?? false);
    rejectUnsupportedKerasArgs(name, args as unknown as Record<string, unknown>);
    this.kernelInitializer = resolveInitializer(name, 'kernelInitializer', args.kernelInitializer, 'glorotUniform');
    this.biasInitializer = resolveInitializer(name, 'biasInitializer', args.biasInitializer, 'zeros');
    this.supportsMasking = true;
  }

  /** The four projections in Keras's weight order. */
  private get sublayers(): Array<AttentionProjection | AttentionOutputProjection> {
    return [this.queryDense, this.keyDense, this.valueDense, this.outputDense].filter(
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

  /** tfjs sets this while loading a model (weights are overwritten anyway); pass it to the projections. */
  private fastInit = false;

  override setFastWeightInitDuringBuild(value: boolean): void {
    super.setFastWeightInitDuringBuild(value);
    this.fastInit = value;
    for (const layer of this.sublayers) layer.setFastWeightInitDuringBuild(value);
  }

  override build(inputShape: Shape | Shape[]): void {
    const name = `MultiHeadAttention '${this.name}'`;
    const shapes = shapeList(inputShape);
    if (shapes.length < 1 || shapes.length > 3) {
      throw new Error(`${name}: expected query, [query, value] or [query, value, key], got ${shapes.length} inputs`);
    }
    const [queryShape, valueShape = queryShape, keyShape = valueShape] = shapes;
    checkRank(name, 'query', queryShape, 3);
    checkRank(name, 'value', valueShape, 3);
    checkRank(name, 'key', keyShape, 3);
    checkInputShapes(name, queryShape, valueShape, keyShape);

    const common = {
      useBias: this.useBias,
      kernelInitializer: this.kernelInitializer,
      biasInitializer: this.biasInitializer,
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

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    const [queryShape, valueShape = queryShape] = shapeList(inputShape);
    const output: Shape = [queryShape[0], queryShape[1], this.outputDim ?? queryShape[2]];
    if (!this.returnAttentionScores) return output;
    return [output, [queryShape[0], this.numHeads, queryShape[1], valueShape[1]]];
  }

  /** The output keeps the query's padding mask; the scores carry none. */
  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const queryMask = passMask(list[0], resolveInputMasks(inputs, mask)[0]);
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return (this.returnAttentionScores ? [queryMask, null] : queryMask) as tf.Tensor | tf.Tensor[];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const args = kwargs as MultiHeadAttentionCallArgs;
    const { query, value, key, masks } = this.callInputs(inputs, args);
    return tf.tidy(() => {
      const mask = masks();
      const { output, probabilities } = this.attend(
        query,
        value,
        key,
        mask,
        args.training ?? false,
        this.returnAttentionScores,
      );
      return this.returnAttentionScores ? [output, probabilities!] : output;
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
    if (!this.built) {
      throw new Error(
        `MultiHeadAttention '${this.name}': attentionContributions needs a built layer; apply it once first`,
      );
    }
    const { query, value, key, masks } = this.callInputs(inputs, kwargs);
    return tf.tidy(() => {
      // 1. The weights: the layer's own attention, inference mode.
      const weights = this.attend(query, value, key, masks(), false, true).probabilities!;
      // 2. The length of each head's value vector at each key position: (B, H, S, Dout) -> (B, H, S).
      const valueNorms = this.valueVectors(value).square().sum(-1).sqrt() as tf.Tensor3D;
      // 3. Weighted: (B, H, T, S) * (B, H, 1, S).
      const contributions = weights.mul(valueNorms.expandDims(2)) as tf.Tensor4D;
      return { weights, contributions, valueNorms };
    });
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
   * The call's tensors and its combined mask (`masks()`, to run inside a tidy), checked: query,
   * `[query, value]` or `[query, value, key]`; padding masks from `mask` or the tensors' own.
   */
  private callInputs(
    inputs: tf.Tensor | tf.Tensor[],
    args: Pick<MultiHeadAttentionCallArgs, 'attentionMask' | 'mask'>,
  ): { query: tf.Tensor; value: tf.Tensor; key: tf.Tensor; masks: () => tf.Tensor | null } {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const [query, value = query, key = value] = list;
    this.checkCallInputs(list, query, value, key, args.attentionMask);
    const [queryMask, valueMask = queryMask, keyMask = null] = resolveInputMasks(inputs, args.mask);
    const sameKeyMask = list.length < 3 ? null : keyMask;
    checkPaddingMasks(`MultiHeadAttention '${this.name}'`, [
      ['query', queryMask, query],
      ['value', valueMask, value],
      ['key', sameKeyMask, key],
    ]);
    const attentionMask = args.attentionMask ?? null;
    const masks = () => combineMasks(query, value, queryMask, valueMask, sameKeyMask, this.causal, attentionMask);
    return { query, value, key, masks };
  }

  /**
   * The layer on explicit tensors: query (B, T, Dq), value (B, S, Dv), key (B, S, Dk), mask
   * (B, T, S) or (T, S) with 1 = may attend, or null. Returns the output (B, T, Dout) and the
   * probabilities (B, H, T, S), which are null while a gradient tape records unless
   * `needProbabilities` (see `scaledDotProductAttention`). Call inside a tidy.
   */
  attend(
    query: tf.Tensor,
    value: tf.Tensor,
    key: tf.Tensor,
    mask: tf.Tensor | null,
    training: boolean,
    needProbabilities = false,
  ): { output: tf.Tensor3D; probabilities: tf.Tensor4D | null } {
    // 1. Project: each distinct input through its projections in one matmul.
    const { sources, query: q, key: k, value: v } = this.project(query, value, key);
    // 2. Attend: softmax(Q K^T / sqrt(K) + mask) V per head, (B, T, H, V).
    const { context, probabilities } = scaledDotProductAttention({
      sources,
      query: q,
      key: k,
      value: v,
      numHeads: this.numHeads,
      keyDim: this.keyDim,
      valueDim: this.valueDim,
      mask,
      dropout: training ? this.dropout : 0,
      needProbabilities,
    });
    // 3. Merge the heads: (B, T, H, V) -> (B, T, Dout).
    return { output: mergeHeads(context, this.outputDense!), probabilities };
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

  /**
   * The weights of incremental decoding, reshaped and fused once so that each
   * step runs few kernels: queries (scaled by 1/sqrt(K)), keys and values in one
   * kernel [Dq, H*K + H*K + H*V] (self-attention: query = key = value), the
   * query alone [Dq, H*K], and the output kernel [H*V, Dout]. The caller keeps
   * and disposes them. Call inside a tidy.
   */
  inferenceWeights(): AttentionInferenceWeights {
    const scale = 1 / Math.sqrt(this.keyDim);
    const biasOrZeros = (p: AttentionProjection) => flatBias(p) ?? tf.zeros([p.numHeads * p.headDim]);
    const queryKernel = flatKernel(this.queryDense!).mul(scale);
    const queryBias = biasOrZeros(this.queryDense!).mul(scale);
    const sameWidths =
      this.queryDense!.kernel!.shape[0] === this.keyDense!.kernel!.shape[0] &&
      this.queryDense!.kernel!.shape[0] === this.valueDense!.kernel!.shape[0];
    const out = this.outputDense!;
    return {
      queryKernel,
      queryBias,
      queryKeyValueKernel: sameWidths
        ? tf.concat([queryKernel, flatKernel(this.keyDense!), flatKernel(this.valueDense!)], 1)
        : null,
      queryKeyValueBias: sameWidths
        ? tf.concat([queryBias, biasOrZeros(this.keyDense!), biasOrZeros(this.valueDense!)])
        : null,
      outputKernel: out.kernel!.read().reshape([this.numHeads * this.valueDim, out.outputDim]),
      // A copy: the caller disposes these, and the variable must survive.
      outputBias: out.bias ? out.bias.read().clone() : tf.zeros([out.outputDim]),
    };
  }

  private checkCallInputs(
    list: tf.Tensor[],
    query: tf.Tensor,
    value: tf.Tensor,
    key: tf.Tensor,
    attentionMask: tf.Tensor | undefined,
  ): void {
    const name = `MultiHeadAttention '${this.name}'`;
    if (list.length > 3) {
      throw new Error(`${name}: expected query, [query, value] or [query, value, key], got ${list.length} inputs`);
    }
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
    if (attentionMask != null) {
      const want = [query.shape[0], query.shape[1], value.shape[1]] as number[];
      const got = attentionMask.shape;
      if (got.length !== 3 || got.some((d, i) => d !== want[i])) {
        throw new Error(
          `${name}: attentionMask must have shape (B, T, S) = ${formatShape(want)}, got ${formatShape(got)}`,
        );
      }
    }
  }

  /**
   * Where each of `this.weights` sits in a Keras 3 weights file, relative to this layer's group, in
   * the same order: `query_dense/vars/0` (kernel), `query_dense/vars/1` (bias), then key, value and
   * output. Keras 3 saves MultiHeadAttention's projections under these four sub-groups (seen in
   * real `.keras` files: `layers/multi_head_attention/query_dense/vars/0`); Keras 2 `.h5` files list
   * the same weights in this order in `weight_names`.
   */
  kerasWeightPaths(): string[] {
    const vars = this.useBias ? ['vars/0', 'vars/1'] : ['vars/0'];
    return ['query_dense', 'key_dense', 'value_dense', 'output_dense'].flatMap((group) =>
      vars.map((v) => `${group}/${v}`),
    );
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
      kernelInitializer: serializeInitializer(this.kernelInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
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
