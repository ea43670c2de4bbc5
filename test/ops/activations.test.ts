/**
 * src/ops/activations.ts: every name's function against Keras's formula in float64, the table's
 * names, and the refusal of an unknown name.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { activate, ACTIVATION_NAMES } from '../../src/ops/activations';
import { ACTIVATION_INPUTS, ACTIVATION_REFERENCE, closeToFloat32 } from '../helpers/activation_reference';

beforeAll(() => initBackend('cpu', { quiet: true }));

describe('activate', () => {
  it("takes Keras's names, each one of them", () => {
    expect(ACTIVATION_NAMES).toEqual(Object.keys(ACTIVATION_REFERENCE));
  });

  it.each(Object.keys(ACTIVATION_REFERENCE))("'%s' equals its formula, and leaves no tensor behind", (name) => {
    const x = tf.tensor1d(ACTIVATION_INPUTS);
    const before = tf.memory().numTensors;
    const values = tf.tidy(() => Array.from(activate(x, name).dataSync()));
    expect(tf.memory().numTensors).toBe(before);
    const expected = ACTIVATION_INPUTS.map(ACTIVATION_REFERENCE[name]);
    // On a mismatch the message shows both lists.
    expect(closeToFloat32(values, expected) ? expected : values).toEqual(expected);
    x.dispose();
  });

  it('refuses an unknown name, listing the known ones', () => {
    const x = tf.scalar(1);
    expect(() => activate(x, 'Relu')).toThrow(
      "activate: unknown activation 'Relu'; expected one of " +
        'linear, relu, gelu, tanh, sigmoid, silu, swish, softplus, elu, selu',
    );
    // Not Object's own properties either.
    expect(() => activate(x, 'toString')).toThrow("unknown activation 'toString'");
    expect(() => activate(x, 'constructor')).toThrow("unknown activation 'constructor'");
    x.dispose();
  });
});
