/**
 * The contract every public layer of this library keeps (the layer conventions of tfjs-layers and keras-hub):
 * config round trip, output shape (eager and symbolic), weight count and
 * shapes, a training step that moves every trainable weight, and no tensor
 * leaks. Each layer test calls `expectLayerContract` inside its describe block.
 */
import * as tf from '@tensorflow/tfjs';

type LayerClass = { className: string; new (args: never): tf.layers.Layer } & {
  fromConfig?: (cls: unknown, config: tf.serialization.ConfigDict) => tf.layers.Layer;
};

export interface LayerContractCase {
  /** Builds a fresh, unbuilt layer. */
  make: () => tf.layers.Layer;
  /** Eager inputs for one call (a new tensor set each time it is called). */
  inputs: () => tf.Tensor | tf.Tensor[];
  /** Keyword arguments of the call, other than `training`. */
  callArgs?: Record<string, unknown>;
  /** Shape of the output (or of each output). */
  outputShape: number[] | number[][];
  /** Shapes of `getWeights()`, in order. */
  weightShapes: number[][];
  /** Whether the gradient may legitimately be zero for some weight (e.g. untouched embedding rows). */
  allowPartialGradients?: boolean;
}

/**
 * Weights whose gradient is zero in exact arithmetic: an attention's key bias b adds q . b to every
 * score of a query q, the same for every key, and the softmax removes that. Computed, their gradient
 * is rounding noise (about 1e-7 where the query bias's is near 1), and now and then exactly 0, so
 * neither a nonzero gradient nor a move can be asked of them: the gradient must be that small.
 */
const ZERO_GRADIENT_IN_EXACT_ARITHMETIC = /(^|\/)key\/bias$/;

function toList<T>(x: T | T[]): T[] {
  return Array.isArray(x) ? x : [x];
}

function disposeAll(x: tf.Tensor | tf.Tensor[]): void {
  toList(x).forEach((t) => t.dispose());
}

/** Registers the contract's `it` blocks for one layer. */
export function expectLayerContract(title: string, c: LayerContractCase): void {
  describe(`${title}: layer contract`, () => {
    it('round-trips its config through fromConfig', () => {
      const layer = c.make();
      const cls = layer.constructor as unknown as LayerClass;
      const config = layer.getConfig();
      const registered = tf.serialization.SerializationMap.getMap().classNameMap[cls.className];
      expect(registered).toBeDefined();
      const [registeredCls, fromConfig] = registered;
      expect(registeredCls).toBe(cls);
      const copy = fromConfig(registeredCls, JSON.parse(JSON.stringify(config))) as tf.layers.Layer;
      expect(copy.getConfig()).toEqual(config);
      expect(copy.getClassName()).toBe(cls.className);
      // Given the layer's weights, the copy computes what the layer computes: every setting the
      // forward reads made the trip (one left out of the config would come back as its default,
      // which the equality above cannot see: both configs would lack it).
      const inputs = c.inputs();
      const outputs = toList(layer.apply(inputs, c.callArgs) as tf.Tensor | tf.Tensor[]);
      disposeAll(copy.apply(inputs, c.callArgs) as tf.Tensor | tf.Tensor[]);
      copy.setWeights(layer.getWeights());
      const copied = toList(copy.apply(inputs, c.callArgs) as tf.Tensor | tf.Tensor[]);
      outputs.forEach((output, i) =>
        expect(tf.tidy(() => output.sub(copied[i]).abs().max().dataSync()[0])).toBeLessThan(1e-6),
      );
      tf.dispose([...outputs, ...copied]);
      disposeAll(inputs);
      layer.dispose();
      copy.dispose();
    });

    it('produces the declared output shape, eagerly and symbolically', () => {
      const layer = c.make();
      const inputs = c.inputs();
      const output = layer.apply(inputs, c.callArgs) as tf.Tensor | tf.Tensor[];
      const expected = Array.isArray(c.outputShape[0]) ? (c.outputShape as number[][]) : [c.outputShape as number[]];
      expect(toList(output).map((t) => t.shape)).toEqual(expected);
      const inputShapes = toList(inputs).map((t) => t.shape);
      const symbolicInputs = toList(inputs).map((t) => tf.input({ batchShape: t.shape, dtype: t.dtype }));
      const symbolic = c.make().apply(Array.isArray(inputs) ? symbolicInputs : symbolicInputs[0]) as
        tf.SymbolicTensor | tf.SymbolicTensor[];
      expect(toList(symbolic).map((t) => t.shape)).toEqual(expected);
      const computed = layer.computeOutputShape(Array.isArray(inputs) ? inputShapes : inputShapes[0]);
      expect(Array.isArray(computed[0]) ? computed : [computed]).toEqual(expected);
      disposeAll(inputs);
      disposeAll(output);
      layer.dispose();
    });

    it('exposes every weight with the declared shapes', () => {
      const layer = c.make();
      const inputs = c.inputs();
      disposeAll(layer.apply(inputs, c.callArgs) as tf.Tensor | tf.Tensor[]);
      const weights = layer.getWeights();
      expect(weights.map((w) => w.shape)).toEqual(c.weightShapes);
      expect(layer.weights.length).toBe(c.weightShapes.length);
      expect(layer.trainableWeights.length).toBe(c.weightShapes.length);
      expect(layer.countParams()).toBe(c.weightShapes.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0));
      const names = layer.weights.map((w) => w.originalName);
      expect(new Set(names).size).toBe(names.length);
      // setWeights takes the same list back.
      const doubled = weights.map((w) => w.mul(2));
      layer.setWeights(doubled);
      layer.getWeights().forEach((w, i) => expect(tf.max(tf.abs(w.sub(doubled[i]))).dataSync()[0]).toBe(0));
      disposeAll(inputs);
      layer.dispose();
    });

    it('moves every trainable weight in one training step', () => {
      const layer = c.make();
      const inputs = c.inputs();
      disposeAll(layer.apply(inputs, c.callArgs) as tf.Tensor | tf.Tensor[]);
      const before = layer.getWeights().map((w) => w.clone());
      const optimizer = tf.train.adam(0.01);
      const { value, grads } = tf.variableGrads(
        () => {
          const outputs = toList(layer.apply(inputs, { ...c.callArgs, training: true }) as tf.Tensor | tf.Tensor[]);
          // A loss that depends on every output element non-trivially.
          return tf.addN(
            outputs.map((o) => tf.sum(tf.square(o.add(0.5)).mul(tf.range(0, o.size).reshape(o.shape).mod(3).add(1)))),
          ) as tf.Scalar;
        },
        layer.trainableWeights.map((w) => w.read() as tf.Variable),
      );
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      const norms = Object.entries(grads).map(([name, grad]) => [name, tf.norm(grad).dataSync()[0]] as const);
      const largest = Math.max(...norms.map(([, norm]) => norm));
      for (const [name, norm] of norms) {
        expect({ name, finite: Number.isFinite(norm) }).toEqual({ name, finite: true });
        if (ZERO_GRADIENT_IN_EXACT_ARITHMETIC.test(name)) {
          expect({ name, rounding: norm <= 1e-4 * largest }).toEqual({ name, rounding: true });
        } else if (!c.allowPartialGradients) expect({ name, nonZero: norm > 0 }).toEqual({ name, nonZero: true });
      }
      optimizer.applyGradients(grads as unknown as Parameters<typeof optimizer.applyGradients>[0]);
      layer.getWeights().forEach((w, i) => {
        if (ZERO_GRADIENT_IN_EXACT_ARITHMETIC.test(layer.weights[i].originalName)) return;
        const change = tf.max(tf.abs(w.sub(before[i]))).dataSync()[0];
        expect({ weight: layer.weights[i].originalName, changed: change > 0 }).toEqual({
          weight: layer.weights[i].originalName,
          changed: true,
        });
      });
      tf.dispose([value, ...Object.values(grads), ...before]);
      optimizer.dispose();
      disposeAll(inputs);
      layer.dispose();
    });

    it('leaves tf.memory().numTensors unchanged after a call', () => {
      const layer = c.make();
      const inputs = c.inputs();
      disposeAll(layer.apply(inputs, c.callArgs) as tf.Tensor | tf.Tensor[]); // builds the weights
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        disposeAll(layer.apply(inputs, c.callArgs) as tf.Tensor | tf.Tensor[]);
        disposeAll(layer.apply(inputs, { ...c.callArgs, training: true }) as tf.Tensor | tf.Tensor[]);
      }
      expect(tf.memory().numTensors).toBe(before);
      disposeAll(inputs);
      layer.dispose();
    });
  });
}
