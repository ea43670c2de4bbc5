/**
 * What the keras.io example classes (this folder) share: the check that a file's config is exactly
 * the example's, and the embedding tables of its embedding layers, listed with the paths Keras 3
 * saves them under.
 *
 * Keras 3's weights file (keras/src/saving/saving_lib.py) puts a custom layer under
 * `layers/<snake_case class name>[_n]` and each sub-layer under the attribute that holds it
 * (`att/query_dense/vars/0`, `layernorm1/vars/0`); a `keras.Sequential` attribute keeps its own
 * layers list (`ffn/layers/dense/vars/0`, `ffn/layers/dense_1/vars/1`). A legacy `.h5` lists the
 * same weights in `layer.weights` order: the sub-layers in the order `__init__` assigns them.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import { checkPositiveInt } from '../args';
import { LayerWithParts } from '../keras_hub/parts';

/** Base-layer keys a Keras config may carry besides the class's own arguments. */
// tfjs's deserializer adds customObjects to the config it constructs a layer from.
const BASE_KEYS = ['name', 'trainable', 'dtype', 'batchInputShape', 'inputShape', 'batchSize', 'customObjects'];

/**
 * Throws unless `args` holds exactly the example's arguments (camelCase, as tfjs hands them over)
 * and base-layer keys: a class with other arguments is another class that shares the name, and its
 * math may differ.
 */
export function checkExampleArgs(
  example: string,
  label: string,
  args: object,
  required: string[],
  optional: string[] = [],
): void {
  if (args == null || typeof args !== 'object') {
    throw new Error(`${label}: expected an arguments object {${required.join(', ')}}, got ${String(args)}`);
  }
  const known = [...required, ...optional];
  const extra = Object.keys(args).filter((k) => !known.includes(k) && !BASE_KEYS.includes(k));
  const missing = required.filter((k) => (args as Record<string, unknown>)[k] == null);
  if (extra.length > 0 || missing.length > 0) {
    const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    throw new Error(
      `${label}: this is not the keras.io example's class (${example}): ` +
        [
          extra.length > 0 ? `it has ${extra.map(snake).join(', ')}` : '',
          missing.length > 0 ? `it lacks ${missing.map(snake).join(', ')}` : '',
        ]
          .filter((s) => s !== '')
          .join(' and ') +
        `; the example's arguments are ${known.map(snake).join(', ')}. A class that differs may compute ` +
        'something else: write a tfjs layer for it and pass that in customObjects',
    );
  }
}

export function positiveInt(label: string, name: string, value: unknown): number {
  return checkPositiveInt(label, name, value as number);
}

/**
 * A keras.io example embedding layer: its tables as sub-layer parts, in Keras's order, with their
 * Keras 3 paths. (The example blocks are TransformerBlocks: src/layers/transformer_block.ts.)
 */
export abstract class KerasIoLayer extends LayerWithParts {
  constructor(args: LayerArgs) {
    super(args);
  }

  protected addEmbedding(scope: string, rows: number, width: number): tf.LayerVariable {
    return this.addWeight(
      `${scope}/embeddings`,
      [rows, width],
      'float32',
      tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05 }),
    );
  }
}
