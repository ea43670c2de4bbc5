/**
 * The smallest models the decoding tests need (decode_unit.test.ts, generate_unit.test.ts): width 8,
 * 7 tokens, seeded kernels and embeddings (biases and norms keep their zeros and ones, so the
 * outputs vary with the input).
 */
import * as tf from '@tensorflow/tfjs';
import { createTransformer } from '../../src/model/transformer';
import { seededValues } from '../layers/attention_reference';

/** Token ids 0..6 (createTransformer's PAD 0, BOS 1, EOS 2, then 3..6). */
export const TINY_VOCABULARY = 7;
/** The encoder-decoder's decoder positions (and source positions). */
export const TINY_TARGET_LENGTH = 6;

/** Gives `model`'s kernels and embeddings seeded values (times `scale`); returns it. */
export function seedKernels(model: tf.LayersModel, from: number, scale = 1): tf.LayersModel {
  const weights = model
    .getWeights()
    .map((w, i) =>
      w.rank < 2 ? w.clone() : tf.tidy(() => tf.tensor(seededValues(w.size, from + i), w.shape).mul(scale)),
    );
  model.setWeights(weights);
  tf.dispose(weights);
  return model;
}

/** createTransformer's encoder-decoder, pre-LN, one block a side: inputs 'source' and 'decoder_input'. */
export function tinyEncoderDecoder(): tf.LayersModel {
  const model = createTransformer({
    vocabularySize: TINY_VOCABULARY,
    maxSourceLength: TINY_TARGET_LENGTH,
    maxTargetLength: TINY_TARGET_LENGTH,
    embeddingDim: 8,
    numHeads: 2,
    intermediateDim: 16,
    numEncoderLayers: 1,
    numDecoderLayers: 1,
    normalizeFirst: true,
  });
  return seedKernels(model, 200);
}

/**
 * A Subtract layer of a user's own (tfjs has none; a Keras file's Subtract loads as an operation
 * layer): the graph plans it and the typed-array step runs it by its class name.
 */
export class Subtract extends tf.layers.Layer {
  static className = 'Subtract';
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const [a, b] = inputs as tf.Tensor[];
    return tf.sub(a, b);
  }
  override computeOutputShape(shapes: tf.Shape | tf.Shape[]): tf.Shape {
    return (shapes as tf.Shape[])[0];
  }
}
