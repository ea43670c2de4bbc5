/**
 * What the two projection layers of multi-head attention share (the query/key/value
 * `AttentionProjection` and the head-merging `AttentionOutputProjection`, Keras's two
 * `EinsumDense` layouts): the bias switch and initializers, Keras-style weight names
 * under an owning layer's scope, and a padding mask that passes through unchanged.
 * Not exported from the package; the two layers are.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';
import type { Constraint } from '@tensorflow/tfjs-layers/dist/constraints';
import type { Regularizer } from '@tensorflow/tfjs-layers/dist/regularizers';
import { checkBoolean, type InitializerIdentifier, resolveInitializer, serializeInitializer } from './args';
import {
  type ConstraintIdentifier,
  type RegularizerIdentifier,
  resolveConstraint,
  resolveRegularizer,
  serializeRegularizerOrConstraint,
} from './keras_args';
import { passMask } from './masks';

export interface ProjectionArgs extends LayerArgs {
  /** Whether to add a bias. Default true. */
  useBias?: boolean;
  /** Initializer of the kernel. Default 'glorotUniform' (fans as Keras's EinsumDense). */
  kernelInitializer?: InitializerIdentifier;
  /** Initializer of the bias. Default 'zeros'. */
  biasInitializer?: InitializerIdentifier;
  /** Regularizer of the kernel (its penalty in `calculateLosses`). Default null. */
  kernelRegularizer?: RegularizerIdentifier | null;
  /** Regularizer of the bias. Default null. */
  biasRegularizer?: RegularizerIdentifier | null;
  /** Constraint applied to the kernel after each optimizer update. Default null. */
  kernelConstraint?: ConstraintIdentifier | null;
  /** Constraint applied to the bias after each optimizer update. Default null. */
  biasConstraint?: ConstraintIdentifier | null;
}

export abstract class ProjectionBase extends tf.layers.Layer {
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  readonly kernelRegularizer: Regularizer | null;
  readonly biasRegularizer: Regularizer | null;
  readonly kernelConstraint: Constraint | null;
  readonly biasConstraint: Constraint | null;
  /**
   * Set by an owning layer (e.g. 'query') so that weights are named
   * `<owner>/query/kernel` like Keras's; not part of the config.
   */
  weightScope = '';

  kernel: tf.LayerVariable | null = null;
  bias: tf.LayerVariable | null = null;

  constructor(args: ProjectionArgs) {
    super(args);
    this.useBias = checkBoolean(this.label, 'useBias', args.useBias ?? true);
    this.kernelInitializer = resolveInitializer(
      this.label,
      'kernelInitializer',
      args.kernelInitializer,
      'glorotUniform',
    );
    this.biasInitializer = resolveInitializer(this.label, 'biasInitializer', args.biasInitializer, 'zeros');
    this.kernelRegularizer = resolveRegularizer(this.label, 'kernelRegularizer', args.kernelRegularizer);
    this.biasRegularizer = resolveRegularizer(this.label, 'biasRegularizer', args.biasRegularizer);
    this.kernelConstraint = resolveConstraint(this.label, 'kernelConstraint', args.kernelConstraint);
    this.biasConstraint = resolveConstraint(this.label, 'biasConstraint', args.biasConstraint);
    this.supportsMasking = true;
  }

  /** `Class 'name'`, the prefix of every error message. */
  protected get label(): string {
    return `${this.getClassName()} '${this.name}'`;
  }

  /** Creates the kernel and (with `useBias`) the bias, and marks the layer built. */
  protected addProjectionWeights(kernelShape: number[], biasShape: number[]): void {
    const scoped = (name: string) => (this.weightScope ? `${this.weightScope}/${name}` : name);
    const { kernelRegularizer, biasRegularizer, kernelConstraint, biasConstraint } = this;
    this.kernel = this.addWeight(
      scoped('kernel'),
      kernelShape,
      'float32',
      this.kernelInitializer,
      kernelRegularizer ?? undefined,
      true,
      kernelConstraint ?? undefined,
    );
    if (this.useBias) {
      this.bias = this.addWeight(
        scoped('bias'),
        biasShape,
        'float32',
        this.biasInitializer,
        biasRegularizer ?? undefined,
        true,
        biasConstraint ?? undefined,
      );
    }
    this.built = true;
  }

  /** The padding mask passes through: positions stay where they were. */
  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    // tfjs types computeMask as never null, but null is how it says "no mask".
    return passMask(input, mask as tf.Tensor | undefined) as tf.Tensor;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      useBias: this.useBias,
      kernelInitializer: serializeInitializer(this.kernelInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
      kernelRegularizer: serializeRegularizerOrConstraint(this.kernelRegularizer),
      biasRegularizer: serializeRegularizerOrConstraint(this.biasRegularizer),
      kernelConstraint: serializeRegularizerOrConstraint(this.kernelConstraint),
      biasConstraint: serializeRegularizerOrConstraint(this.biasConstraint),
    };
  }
}
