/**
 * What keras-hub's `TransformerEncoder` and `TransformerDecoder` share here: their common
 * arguments and checks, the key dim rule, and how they create their attention, layer-norm and
 * dense sub-layers (keras-hub's `_self_attention_layer`, `_feedforward_layer_norm`, ...) and list
 * them as parts in Keras's weight order.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';
import type { Regularizer } from '@tensorflow/tfjs-layers/dist/regularizers';
import {
  checkBoolean,
  checkPositiveInt,
  checkPositiveNumber,
  checkRate,
  type InitializerIdentifier,
  resolveInitializer,
} from '../args';
import {
  checkCallArguments,
  type RegularizerIdentifier,
  rejectActivityRegularizer,
  resolveRegularizer,
} from '../keras_args';
import { MultiHeadAttention } from '../multi_head_attention';
import type { Shape } from '../shapes';
import {
  type DenseWeights,
  layerArgsWithName,
  LayerWithParts,
  type NormWeights,
  resolveActivation,
  type SubLayer,
} from './parts';

/** The arguments both keras-hub transformer layers take. */
export interface KerasHubTransformerArgs extends LayerArgs {
  /** Width I of the feed-forward hidden layer. Required. */
  intermediateDim: number;
  /** Number of attention heads H; each head has key dim floor(D / H). Required. */
  numHeads: number;
  /** Dropout rate inside attention, after each attention and after the feed-forward network. Default 0. */
  dropout?: number;
  /** Keras activation of the feed-forward hidden layer ('relu', 'gelu', ...). Default 'relu'. */
  activation?: string | tf.serialization.ConfigDict;
  /** Epsilon of the layer norms. Default 1e-5. */
  layerNormEpsilon?: number;
  /** Initializer of every kernel. Default 'glorotUniform'. */
  kernelInitializer?: InitializerIdentifier;
  /** Initializer of every bias. Default 'zeros'. */
  biasInitializer?: InitializerIdentifier;
  /** Pre-LN (norm before each sub-block, GPT-2) instead of post-LN (BERT). Default false. */
  normalizeFirst?: boolean;
  /** Which Keras call argument each input is; set by the Keras loader. Default null. */
  callArguments?: string[] | null;
}

/** keras-hub's regularizer arguments, which only the encoder takes. */
export interface KerasHubRegularizerArgs {
  /** Regularizer of every kernel (attention and feed-forward). Default null. */
  kernelRegularizer?: RegularizerIdentifier | null;
  /** Regularizer of every bias. Default null. */
  biasRegularizer?: RegularizerIdentifier | null;
  /** Refused unless null: tfjs 4.22 cannot run a layer with an activity regularizer. */
  activityRegularizer?: null;
}

/** How a subclass differs: its default name, its Keras call arguments and whether it takes regularizers. */
interface TransformerKind {
  namePrefix: string;
  kerasCallArguments: readonly string[];
  /** The call argument that must be among `callArguments`. */
  required: string;
  regularizers: boolean;
}

export abstract class KerasHubTransformerBase extends LayerWithParts {
  readonly intermediateDim: number;
  readonly numHeads: number;
  readonly dropout: number;
  readonly activation: string;
  readonly layerNormEpsilon: number;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  /** null unless the layer takes regularizers (`TransformerKind.regularizers`) and was given one. */
  readonly kernelRegularizer: Regularizer | null;
  readonly biasRegularizer: Regularizer | null;
  readonly normalizeFirst: boolean;
  readonly callArguments: string[] | null;
  protected fastInit = false;

  constructor(args: KerasHubTransformerArgs & KerasHubRegularizerArgs, kind: TransformerKind) {
    super(layerArgsWithName(args, kind.namePrefix));
    const name = this.label;
    if (args == null || typeof args !== 'object') {
      throw new Error(`${name}: expected an arguments object {intermediateDim, numHeads, ...}, got ${args}`);
    }
    this.intermediateDim = checkPositiveInt(name, 'intermediateDim', args.intermediateDim);
    this.numHeads = checkPositiveInt(name, 'numHeads', args.numHeads);
    this.dropout = checkRate(name, 'dropout', args.dropout ?? 0);
    this.activation = resolveActivation(name, args.activation ?? 'relu');
    this.layerNormEpsilon = checkPositiveNumber(name, 'layerNormEpsilon', args.layerNormEpsilon ?? 1e-5);
    this.kernelInitializer = resolveInitializer(name, 'kernelInitializer', args.kernelInitializer, 'glorotUniform');
    this.biasInitializer = resolveInitializer(name, 'biasInitializer', args.biasInitializer, 'zeros');
    this.kernelRegularizer = kind.regularizers
      ? resolveRegularizer(name, 'kernelRegularizer', args.kernelRegularizer)
      : null;
    this.biasRegularizer = kind.regularizers ? resolveRegularizer(name, 'biasRegularizer', args.biasRegularizer) : null;
    if (kind.regularizers) rejectActivityRegularizer(name, args.activityRegularizer);
    this.normalizeFirst = checkBoolean(name, 'normalizeFirst', args.normalizeFirst ?? false);
    this.callArguments = checkCallArguments(name, args.callArguments, kind.kerasCallArguments, [kind.required]);
    this.supportsMasking = true;
  }

  /** The layer's name in messages, e.g. "keras_hub TransformerEncoder 'transformer_encoder_1'". */
  protected get label(): string {
    const className = (this.constructor as unknown as { className: string }).className;
    return `keras_hub ${className.replace('keras_hub>', '')} '${this.name}'`;
  }

  /** The attention sub-layers built so far (null before build or when absent). */
  protected abstract attentionLayers(): Array<MultiHeadAttention | null>;

  override calculateLosses(): tf.Scalar[] {
    return [...super.calculateLosses(), ...this.attentionLayers().flatMap((a) => a?.calculateLosses() ?? [])];
  }

  override setFastWeightInitDuringBuild(value: boolean): void {
    super.setFastWeightInitDuringBuild(value);
    this.fastInit = value;
    this.attentionLayers().forEach((a) => a?.setFastWeightInitDuringBuild(value));
  }

  /** keras-hub's key dim, floor(D / numHeads), which must not be 0; `what` names the width in the error. */
  protected keyDimFor(width: number, what: string): number {
    const keyDim = Math.floor(width / this.numHeads);
    if (keyDim === 0) {
      throw new Error(
        `${this.label}: the attention key dim floor(D / numHeads) is 0: the ${what} width ${width} must be ` +
          `at least numHeads ${this.numHeads}`,
      );
    }
    return keyDim;
  }

  /** A built MultiHeadAttention named `${name}_${scope}`, its weights under `scope`. */
  protected addAttention(scope: string, keyDim: number, queryShape: Shape, valueShape: Shape): MultiHeadAttention {
    const attention = new MultiHeadAttention({
      name: `${this.name}_${scope}`,
      numHeads: this.numHeads,
      keyDim,
      dropout: this.dropout,
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

  protected addNorm(scope: string, width: number): NormWeights {
    return {
      gamma: this.addWeight(`${scope}/gamma`, [width], 'float32', tf.initializers.ones()),
      beta: this.addWeight(`${scope}/beta`, [width], 'float32', tf.initializers.zeros()),
      epsilon: this.layerNormEpsilon,
    };
  }

  protected addDense(scope: string, input: number, output: number): DenseWeights {
    const regularizer = (r: Regularizer | null) => r ?? undefined;
    return {
      kernel: this.addWeight(
        `${scope}/kernel`,
        [input, output],
        'float32',
        this.kernelInitializer,
        regularizer(this.kernelRegularizer),
      ),
      bias: this.addWeight(
        `${scope}/bias`,
        [output],
        'float32',
        this.biasInitializer,
        regularizer(this.biasRegularizer),
      ),
    };
  }
}

/** A layer norm's or dense layer's weights as the part `group` of `LayerWithParts.parts`. */
export function weightsPart(group: string, weights: NormWeights | DenseWeights): SubLayer {
  return { group, variables: 'gamma' in weights ? [weights.gamma, weights.beta] : [weights.kernel, weights.bias] };
}
