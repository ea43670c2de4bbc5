/**
 * The layer contract (./layer_contract.ts) for a layer without weights, such as
 * SinusoidalPositionEncoding. `expectLayerContract`'s training-step check calls
 * `tf.variableGrads` on the layer's trainable weights, which throws for an
 * empty list ("expects at least one of the input variables to be trainable"),
 * so a weightless layer cannot pass it. Here that check is replaced by the one
 * that matters for such a layer: the gradient flows through it to its input.
 * Everything else is the same contract.
 */
import * as tf from '@tensorflow/tfjs';

export interface WeightlessLayerContractCase {
  /** Builds a fresh, unbuilt layer. */
  make: () => tf.layers.Layer;
  /** Eager float input for one call (a new tensor each time). */
  inputs: () => tf.Tensor;
  /** Shape of the output. */
  outputShape: number[];
  /**
   * The output depends on the input's shape only (keras-hub's position layers return positions
   * broadcast to it): no gradient reaches the input, so the contract checks instead that another
   * input of that shape gives the same output. Default false.
   */
  shapeOnly?: boolean;
}

export function expectWeightlessLayerContract(title: string, c: WeightlessLayerContractCase): void {
  describe(`${title}: layer contract (no weights)`, () => {
    it('round-trips its config through fromConfig', () => {
      const layer = c.make();
      const className = (layer.constructor as unknown as { className: string }).className;
      const config = layer.getConfig();
      const registered = tf.serialization.SerializationMap.getMap().classNameMap[className];
      expect(registered).toBeDefined();
      const [cls, fromConfig] = registered;
      expect(cls).toBe(layer.constructor);
      const copy = fromConfig(cls, JSON.parse(JSON.stringify(config))) as tf.layers.Layer;
      expect(copy.getConfig()).toEqual(config);
      expect(copy.getClassName()).toBe(className);
    });

    it('produces the declared output shape, eagerly and symbolically', () => {
      const layer = c.make();
      const x = c.inputs();
      const y = layer.apply(x) as tf.Tensor;
      expect(y.shape).toEqual(c.outputShape);
      const symbolic = c.make().apply(tf.input({ batchShape: x.shape, dtype: x.dtype })) as tf.SymbolicTensor;
      expect(symbolic.shape).toEqual(c.outputShape);
      expect(layer.computeOutputShape(x.shape)).toEqual(c.outputShape);
      tf.dispose([x, y]);
    });

    it('has no weights', () => {
      const layer = c.make();
      const x = c.inputs();
      (layer.apply(x) as tf.Tensor).dispose();
      expect(layer.getWeights()).toEqual([]);
      expect(layer.weights.length).toBe(0);
      expect(layer.countParams()).toBe(0);
      layer.setWeights([]);
      x.dispose();
    });

    if (c.shapeOnly) {
      it('gives the same output for another input of the same shape', () => {
        const layer = c.make();
        const x = c.inputs();
        const other = tf.tidy(() => x.mul(-3).add(1));
        const [y, z] = [layer.apply(x) as tf.Tensor, layer.apply(other) as tf.Tensor];
        expect(Array.from(z.dataSync())).toEqual(Array.from(y.dataSync()));
        tf.dispose([x, other, y, z]);
      });
    }

    // (For a shape-only layer the check above takes this one's place.)
    const gradientTest = c.shapeOnly ? null : it;
    gradientTest?.('passes a finite, non-zero gradient to its input', () => {
      const layer = c.make();
      const x = c.inputs();
      const grad = tf.grad((input: tf.Tensor) => {
        const y = layer.apply(input, { training: true }) as tf.Tensor;
        return tf.sum(tf.square(y.add(0.5)).mul(tf.range(0, y.size).reshape(y.shape).mod(3).add(1)));
      })(x);
      const values = grad.dataSync();
      expect(values.every((v) => Number.isFinite(v))).toBe(true);
      expect(tf.norm(grad).dataSync()[0]).toBeGreaterThan(0);
      tf.dispose([x, grad]);
    });

    it('leaves tf.memory().numTensors unchanged after a call', () => {
      const layer = c.make();
      const x = c.inputs();
      (layer.apply(x) as tf.Tensor).dispose();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        (layer.apply(x) as tf.Tensor).dispose();
        (layer.apply(x, { training: true }) as tf.Tensor).dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    });
  });
}
