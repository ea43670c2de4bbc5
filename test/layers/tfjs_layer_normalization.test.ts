/**
 * `installLayerNormalizationFix`: `tf.layers.layerNormalization` over the last axis runs the fused
 * layer norm (two kernels a training step where tfjs's call runs hundreds), with tfjs's own call's
 * values and gradients to float32 rounding, with and without gamma and beta; every other case runs
 * tfjs's call unchanged; the fix is undone by `replaceTfjsCall: false` and by `initBackend`'s
 * `keepTfjsKernels`, and leaves no tensor behind.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { installLayerNormalizationFix } from '../../src/layers/tfjs_layer_normalization';
import { describeEachBackend } from '../helpers/backends';
import { maxAbsDiff, seededTensor } from '../helpers/tensors';

/** The fused forward kernel's name (src/kernels/layer_norm.ts). */
const FUSED = 'TfjsAttentionLayerNorm';

type Prototype = { call: unknown };
const layerNormalizationPrototype = () =>
  (tf.serialization.SerializationMap.getMap().classNameMap.LayerNormalization[0] as unknown as { prototype: Prototype })
    .prototype;

/** The layer's output and the gradients of sum(output * dy) with respect to x, then each weight. */
function outputAndGradients(layer: tf.layers.Layer, x: tf.Tensor, dy: tf.Tensor): Float32Array[] {
  return tf.tidy(() => {
    const weights = layer.trainableWeights.map((w) => w.read());
    const forward = (input: tf.Tensor) => layer.apply(input) as tf.Tensor;
    const grads = tf.grads((input: tf.Tensor, ..._weights: tf.Tensor[]) => tf.sum(tf.mul(forward(input), dy)));
    return [forward(x), ...grads([x, ...weights])].map((t) => t.dataSync() as Float32Array);
  });
}

/** The same, once through the fused call and once through tfjs's own. */
function bothWays(layer: tf.layers.Layer, x: tf.Tensor, dy: tf.Tensor): { ours: Float32Array[]; tfjs: Float32Array[] } {
  installLayerNormalizationFix();
  const ours = outputAndGradients(layer, x, dy);
  installLayerNormalizationFix({ replaceTfjsCall: false });
  const tfjs = outputAndGradients(layer, x, dy);
  installLayerNormalizationFix();
  return { ours, tfjs };
}

/** The names of the kernels that one forward call of `layer` on x runs. */
async function kernelsOf(layer: tf.layers.Layer, x: tf.Tensor): Promise<string[]> {
  const info = await tf.profile(() => tf.dispose(layer.apply(x) as tf.Tensor));
  return info.kernels.map((k) => k.name);
}

type LayerNormalizationArgs = Parameters<typeof tf.layers.layerNormalization>[0];

/** A layer normalization built on x, with its gamma and beta (where it has them) away from 1 and 0. */
function builtLayer(args: LayerNormalizationArgs, x: tf.Tensor): tf.layers.Layer {
  const layer = tf.layers.layerNormalization(args);
  tf.dispose(layer.apply(x) as tf.Tensor);
  layer.setWeights(layer.getWeights().map((w, i) => tf.tidy(() => seededTensor(w.shape, 10 + i, 0.5).add(1 - i))));
  return layer;
}

describeEachBackend('tf.layers.layerNormalization through the fused layer norm', () => {
  const x = seededTensor([3, 5, 16], 1, 3);
  const dy = seededTensor([3, 5, 16], 2);
  afterAll(() => tf.dispose([x, dy]));

  it("gives tfjs's call's output and gradients of x, gamma and beta to float32 rounding, fused", async () => {
    // Rows of variance about 9 with epsilon 1e-5, and about 1e-4 with tfjs's default 1e-3, where
    // the epsilon changes the output by far more than the tolerance.
    const small = tf.mul(x, 0.003);
    const cases: [LayerNormalizationArgs, tf.Tensor][] = [
      [{ epsilon: 1e-5 }, x],
      [{}, small],
    ];
    for (const [args, input] of cases) {
      const layer = builtLayer(args, input);
      const { ours, tfjs } = bothWays(layer, input, dy);
      expect(ours.map((a) => a.length)).toEqual([240, 240, 16, 16]);
      ours.forEach((values, i) => {
        const scale = Math.max(...tfjs[i].map(Math.abs));
        expect(scale).toBeGreaterThan(0.5);
        expect(maxAbsDiff(values, tfjs[i])).toBeLessThan(4e-6 * scale);
      });
      const kernels = await kernelsOf(layer, input);
      expect(kernels).toContain(FUSED);
      expect(kernels).not.toContain('FusedBatchNorm');
      expect(kernels).not.toContain('Tile');
      layer.dispose();
    }
    small.dispose();
  });

  it("trains without scale or center, which tfjs 4.22's own call cannot (its gradient throws)", () => {
    for (const args of [{ scale: false }, { center: false }, { scale: false, center: false }]) {
      const layer = builtLayer(args, x);
      const named = (name: string) => layer.weights.find((w) => w.name.endsWith(`/${name}`))?.read();
      // The same normalization with both weights, gamma = 1 and beta = 0 where the layer has none.
      const full = builtLayer({}, x);
      tf.tidy(() => full.setWeights([named('gamma') ?? tf.ones([16]), named('beta') ?? tf.zeros([16])]));
      const ours = outputAndGradients(layer, x, dy);
      installLayerNormalizationFix({ replaceTfjsCall: false });
      const reference = outputAndGradients(full, x, dy);
      expect(() => outputAndGradients(layer, x, dy)).toThrow(TypeError);
      installLayerNormalizationFix();
      // y and dx, then the gradients of the weights the layer has, in its order (gamma, beta).
      const kept = [0, 1, ...(args.scale === false ? [] : [2]), ...(args.center === false ? [] : [3])];
      expect(ours.length).toBe(kept.length);
      ours.forEach((values, i) => expect(maxAbsDiff(values, reference[kept[i]])).toBeLessThan(1e-4));
      layer.dispose();
      full.dispose();
    }
  });

  it("runs tfjs's own call for another axis, several axes and a width that is not whole vectors", async () => {
    const odd = seededTensor([3, 5, 6], 3);
    const cases: [LayerNormalizationArgs, tf.Tensor][] = [
      [{ axis: 1 }, x],
      [{ axis: [1, 2] }, x],
      [{}, odd],
    ];
    for (const [args, input] of cases) {
      const layer = builtLayer(args, input);
      const kernels = await kernelsOf(layer, input);
      expect(kernels).toContain('FusedBatchNorm');
      expect(kernels).not.toContain(FUSED);
      const ones = tf.onesLike(input);
      const { ours, tfjs } = bothWays(layer, input, ones);
      ones.dispose();
      ours.forEach((values, i) => expect(Array.from(values)).toEqual(Array.from(tfjs[i])));
      layer.dispose();
    }
    odd.dispose();
  });

  it('leaves no tensor behind, forward or in a training step', () => {
    const layer = builtLayer({}, x);
    const optimizer = tf.train.sgd(0.1);
    const before = tf.memory().numTensors;
    tf.dispose(layer.apply(x) as tf.Tensor);
    tf.dispose(optimizer.minimize(() => tf.sum(tf.mul(layer.apply(x) as tf.Tensor, dy)), true)!);
    expect(tf.memory().numTensors).toBe(before);
    optimizer.dispose();
    layer.dispose();
  });
});

describe('installLayerNormalizationFix', () => {
  it("is undone by replaceTfjsCall: false and by initBackend's keepTfjsKernels, and is idempotent", async () => {
    await initBackend('cpu', { quiet: true, keepTfjsKernels: true });
    const tfjsCall = layerNormalizationPrototype().call;
    installLayerNormalizationFix();
    installLayerNormalizationFix();
    const ours = layerNormalizationPrototype().call;
    expect(ours).not.toBe(tfjsCall);
    installLayerNormalizationFix({ replaceTfjsCall: false });
    expect(layerNormalizationPrototype().call).toBe(tfjsCall);
    await initBackend('cpu', { quiet: true });
    expect(layerNormalizationPrototype().call).toBe(ours);
    await initBackend('cpu', { quiet: true, keepTfjsKernels: true });
    expect(layerNormalizationPrototype().call).toBe(tfjsCall);
    installLayerNormalizationFix();
  });

  it('refuses an unknown option, naming the nearest', () => {
    expect(() => installLayerNormalizationFix({ replaceTfjsCalls: true } as never)).toThrow(/replaceTfjsCall/);
  });
});
