/**
 * What the encoder and decoder blocks share: arguments, the attention
 * sub-layers, layer norms, the feed-forward network, residual wiring and the
 * weight bookkeeping. The package exports its argument types, not the class.
 *
 * The feed-forward and layer-norm weights are this layer's own (`addWeight`);
 * their math is src/ops' (`dense2d`, `layerNormalize`).
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';
import { dense2d } from '../ops/dense';
import { layerNormalize } from '../ops/layer_norm';
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
import { checkRank, type Shape } from './shapes';
import { MultiHeadAttention } from './multi_head_attention';

export const ACTIVATIONS = ['relu', 'gelu'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export interface TransformerBlockArgs extends LayerArgs {
  /** Number of attention heads H. Required. */
  numHeads: number;
  /** Width of the feed-forward hidden layer. Required. */
  intermediateDim: number;
  /** Size of each head's queries and keys. Default: model width / numHeads. */
  keyDim?: number | null;
  /** Dropout rate after attention, inside attention and after the feed-forward network. Default 0. */
  dropout?: number;
  /** Feed-forward activation: 'relu' or 'gelu' (exact, erf-based). Default 'relu'. */
  activation?: Activation;
  /** Epsilon of the layer norms. Default 1e-5 (as PyTorch and keras-hub). */
  layerNormEpsilon?: number;
  /** Pre-LN (norm before each sub-block, Xiong et al. 2020) instead of post-LN (Vaswani et al.). Default false. */
  normalizeFirst?: boolean;
  /** Initializer of every kernel. Default 'glorotUniform'. */
  kernelInitializer?: InitializerIdentifier;
  /** Initializer of every bias. Default 'zeros'. */
  biasInitializer?: InitializerIdentifier;
}

export interface LayerNormWeights {
  gamma: tf.LayerVariable;
  beta: tf.LayerVariable;
}

interface FeedForwardWeights {
  innerKernel: tf.LayerVariable;
  innerBias: tf.LayerVariable;
  outerKernel: tf.LayerVariable;
  outerBias: tf.LayerVariable;
}

export abstract class TransformerBlockBase extends tf.layers.Layer {
  readonly numHeads: number;
  readonly intermediateDim: number;
  readonly keyDim: number | null;
  readonly dropout: number;
  readonly activation: Activation;
  readonly layerNormEpsilon: number;
  readonly normalizeFirst: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;

  /** Attention sub-layers, in weight order. */
  protected attentionLayers: MultiHeadAttention[] = [];
  private fastInit = false;

  constructor(args: TransformerBlockArgs, what: string) {
    super(args);
    const name = `${what} '${this.name}'`;
    if (args == null || typeof args !== 'object') {
      throw new Error(`${name}: expected an arguments object {numHeads, intermediateDim, ...}, got ${args}`);
    }
    this.numHeads = checkPositiveInt(name, 'numHeads', args.numHeads);
    this.intermediateDim = checkPositiveInt(name, 'intermediateDim', args.intermediateDim);
    this.keyDim = args.keyDim == null ? null : checkPositiveInt(name, 'keyDim', args.keyDim);
    this.dropout = checkRate(name, 'dropout', args.dropout ?? 0);
    this.activation = checkChoice(name, 'activation', args.activation ?? 'relu', ACTIVATIONS);
    this.layerNormEpsilon = checkPositiveNumber(name, 'layerNormEpsilon', args.layerNormEpsilon ?? 1e-5);
    this.normalizeFirst = checkBoolean(name, 'normalizeFirst', args.normalizeFirst ?? false);
    this.kernelInitializer = resolveInitializer(name, 'kernelInitializer', args.kernelInitializer, 'glorotUniform');
    this.biasInitializer = resolveInitializer(name, 'biasInitializer', args.biasInitializer, 'zeros');
    this.supportsMasking = true;
  }

  // Weights: every attention sub-layer's (Keras order), then this layer's own
  // layer norms and feed-forward weights in the order they were created.
  override get trainableWeights(): tf.LayerVariable[] {
    if (!this.trainable) return [];
    return [...this.attentionLayers.flatMap((l) => l.trainableWeights), ...this._trainableWeights];
  }

  override set trainableWeights(weights: tf.LayerVariable[]) {
    this._trainableWeights = weights;
  }

  override get nonTrainableWeights(): tf.LayerVariable[] {
    if (this.trainable) return this.attentionLayers.flatMap((l) => l.nonTrainableWeights);
    return [...this.attentionLayers.flatMap((l) => l.weights), ...this._trainableWeights];
  }

  override set nonTrainableWeights(_weights: tf.LayerVariable[]) {
    // Blocks create no non-trainable weights of their own.
  }

  override setFastWeightInitDuringBuild(value: boolean): void {
    super.setFastWeightInitDuringBuild(value);
    this.fastInit = value;
    for (const layer of this.attentionLayers) layer.setFastWeightInitDuringBuild(value);
  }

  /** `Class 'name'`, the prefix of every error message. */
  protected get label(): string {
    return `${this.getClassName()} '${this.name}'`;
  }

  /** Width D of the sequence input, checked. */
  protected modelWidth(shape: Shape, role: string): number {
    checkRank(`${this.getClassName()} '${this.name}'`, role, shape, 3);
    return shape[2] as number;
  }

  /** An attention sub-layer built inside this layer, its weights named '<this>/<scope>/...'. */
  protected buildAttention(
    scope: string,
    width: number,
    queryShape: Shape,
    valueShape: Shape,
    causal: boolean,
  ): MultiHeadAttention {
    const keyDim = this.keyDim ?? Math.floor(width / this.numHeads);
    if (this.keyDim == null && width % this.numHeads !== 0) {
      throw new Error(
        `${this.getClassName()} '${this.name}': the model width ${width} is not divisible by numHeads ` +
          `${this.numHeads}; pass keyDim explicitly`,
      );
    }
    const attention = new MultiHeadAttention({
      name: `${this.name}_${scope}`,
      numHeads: this.numHeads,
      keyDim,
      dropout: this.dropout,
      causal,
      kernelInitializer: this.kernelInitializer,
      biasInitializer: this.biasInitializer,
    });
    attention.weightScope = scope;
    attention.setFastWeightInitDuringBuild(this.fastInit);
    attention.build([queryShape, valueShape]);
    this.attentionLayers.push(attention);
    return attention;
  }

  protected addLayerNorm(scope: string, width: number): LayerNormWeights {
    return {
      gamma: this.addWeight(`${scope}/gamma`, [width], 'float32', tf.initializers.ones()),
      beta: this.addWeight(`${scope}/beta`, [width], 'float32', tf.initializers.zeros()),
    };
  }

  protected addFeedForward(width: number): FeedForwardWeights {
    return {
      innerKernel: this.addWeight(
        'feedforward_intermediate_dense/kernel',
        [width, this.intermediateDim],
        'float32',
        this.kernelInitializer,
      ),
      innerBias: this.addWeight(
        'feedforward_intermediate_dense/bias',
        [this.intermediateDim],
        'float32',
        this.biasInitializer,
      ),
      outerKernel: this.addWeight(
        'feedforward_output_dense/kernel',
        [this.intermediateDim, width],
        'float32',
        this.kernelInitializer,
      ),
      outerBias: this.addWeight('feedforward_output_dense/bias', [width], 'float32', this.biasInitializer),
    };
  }

  /** Layer normalization over the last axis (Ba et al. 2016). Call inside a tidy. */
  protected layerNorm(x: tf.Tensor, weights: LayerNormWeights): tf.Tensor {
    return layerNormalize(x, weights.gamma.read(), weights.beta.read(), this.layerNormEpsilon);
  }

  /** Position-wise feed-forward network: (B, T, D) -> (B, T, I) -> (B, T, D). Call inside a tidy. */
  protected feedForward(x: tf.Tensor, weights: FeedForwardWeights): tf.Tensor {
    const [batch, length, width] = x.shape;
    // (B, T, D) -> (B*T, D): 2-D matmuls train on every backend.
    const flat = x.reshape([batch * length, width]);
    const activated = dense2d(flat, weights.innerKernel.read(), weights.innerBias.read(), this.activation);
    const outer = dense2d(activated, weights.outerKernel.read(), weights.outerBias.read());
    return outer.reshape([batch, length, width]);
  }

  /**
   * One residual sub-block: post-LN `norm(x + drop(f(x)))` or pre-LN
   * `x + drop(f(norm(x)))`. Call inside a tidy.
   */
  protected residual(
    x: tf.Tensor,
    norm: LayerNormWeights,
    training: boolean,
    f: (input: tf.Tensor) => tf.Tensor,
  ): tf.Tensor {
    const drop = (t: tf.Tensor) => (training && this.dropout > 0 ? tf.dropout(t, this.dropout) : t);
    if (this.normalizeFirst) return x.add(drop(f(this.layerNorm(x, norm))));
    return this.layerNorm(x.add(drop(f(x))), norm);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      numHeads: this.numHeads,
      intermediateDim: this.intermediateDim,
      keyDim: this.keyDim,
      dropout: this.dropout,
      activation: this.activation,
      layerNormEpsilon: this.layerNormEpsilon,
      normalizeFirst: this.normalizeFirst,
      kernelInitializer: serializeInitializer(this.kernelInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
    };
  }
}
