/**
 * `installLayerFixes`: `tf.layers.layerNormalization` over the last axis runs the fused layer norm
 * (two kernels a training step where tfjs's call runs hundreds), and `tf.layers.dense` with a
 * linear, relu or GELU activation the fused dense kernel, with tfjs's own calls' values and
 * gradients to float32 rounding, with and without their optional weights; every other case runs
 * tfjs's call unchanged; the fix is undone by `replaceTfjsCalls: false` and by `initBackend`'s
 * `keepTfjsKernels`, and leaves no tensor behind.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { installLayerFixes } from '../../src/layers/tfjs_layers';
import { describeEachBackend } from '../helpers/backends';
import { maxAbsDiff, randomizeWeights, seededTensor } from '../helpers/tensors';

/** The fused forward kernels' names (src/kernels/layer_norm.ts, src/kernels/dense.ts). */
const FUSED = 'TfjsAttentionLayerNorm';
const FUSED_DENSE = 'TfjsAttentionDense';

type Prototype = { call: unknown };
const prototypeOf = (name: string) =>
  (tf.serialization.SerializationMap.getMap().classNameMap[name][0] as unknown as { prototype: Prototype }).prototype;

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
  installLayerFixes();
  const ours = outputAndGradients(layer, x, dy);
  installLayerFixes({ replaceTfjsCalls: false });
  const tfjs = outputAndGradients(layer, x, dy);
  installLayerFixes();
  return { ours, tfjs };
}

/** Each of `ours` is `tfjs`'s to float32 rounding, relative to its largest value, itself not small. */
function expectRounding(ours: Float32Array[], tfjs: Float32Array[]): void {
  ours.forEach((values, i) => {
    const scale = Math.max(...tfjs[i].map(Math.abs));
    expect(scale).toBeGreaterThan(0.5);
    expect(maxAbsDiff(values, tfjs[i])).toBeLessThan(4e-6 * scale);
  });
}

/**
 * That `layer` on `input` runs tfjs's own call with the fix installed: no `fused` kernel, and the
 * output and gradients (for a dy of ones) float for float the same as without the fix.
 */
async function expectTfjsCall(layer: tf.layers.Layer, input: tf.Tensor, fused: string): Promise<void> {
  expect(await kernelsOf(layer, input)).not.toContain(fused);
  const ones = tf.tidy(() => tf.onesLike(layer.apply(input) as tf.Tensor));
  const { ours, tfjs } = bothWays(layer, input, ones);
  ones.dispose();
  ours.forEach((values, i) => expect(Array.from(values)).toEqual(Array.from(tfjs[i])));
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
      expectRounding(ours, tfjs);
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
      installLayerFixes({ replaceTfjsCalls: false });
      const reference = outputAndGradients(full, x, dy);
      expect(() => outputAndGradients(layer, x, dy)).toThrow(TypeError);
      installLayerFixes();
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
      expect(await kernelsOf(layer, input)).toContain('FusedBatchNorm');
      await expectTfjsCall(layer, input, FUSED);
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

describeEachBackend('tf.layers.dense through the fused dense kernel', () => {
  const x = seededTensor([3, 5, 16], 4, 2);
  const dy = seededTensor([3, 5, 8], 5);
  afterAll(() => tf.dispose([x, dy]));

  /** A dense layer of 8 units built on x, its weights seeded. */
  function builtDense(args: Omit<Parameters<typeof tf.layers.dense>[0], 'units'>, input: tf.Tensor, units = 8) {
    const layer = tf.layers.dense({ units, ...args });
    tf.dispose(layer.apply(input) as tf.Tensor);
    randomizeWeights(layer, 20);
    return layer;
  }

  it("gives tfjs's call's output and gradients for linear, relu and GELU, with and without a bias", async () => {
    for (const activation of ['linear', 'relu', 'gelu'] as const) {
      for (const useBias of [true, false]) {
        const layer = builtDense({ activation, useBias }, x);
        const { ours, tfjs } = bothWays(layer, x, dy);
        expect(ours.map((a) => a.length)).toEqual([120, 240, 128, ...(useBias ? [8] : [])]);
        expectRounding(ours, tfjs);
        // relu leaves some outputs at 0 (their gradient too): the comparison covers both sides.
        if (activation === 'relu') expect(ours[0].filter((v) => v === 0).length).toBeGreaterThan(10);
        const kernels = await kernelsOf(layer, x);
        expect(kernels).toEqual([FUSED_DENSE]);
        layer.dispose();
      }
    }
  });

  it("runs tfjs's call for other activations and for widths that are not whole vectors", async () => {
    const odd = seededTensor([3, 5, 6], 6);
    const cases: [Parameters<typeof builtDense>[0], tf.Tensor, number][] = [
      [{ activation: 'tanh' }, x, 8],
      [{ activation: 'gelu_new' }, x, 8],
      [{}, x, 6],
      [{}, odd, 8],
    ];
    for (const [args, input, units] of cases) {
      const layer = builtDense(args, input, units);
      await expectTfjsCall(layer, input, FUSED_DENSE);
      layer.dispose();
    }
    odd.dispose();
  });

  it('leaves no tensor behind in a training step of a model of both layers', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [5, 16], units: 8, activation: 'gelu' }),
        tf.layers.layerNormalization(),
        tf.layers.dense({ units: 8 }),
      ],
    });
    const optimizer = tf.train.adam(0.01);
    const step = () => optimizer.minimize(() => tf.sum(tf.mul(model.apply(x) as tf.Tensor, dy)), true)!;
    tf.dispose(step());
    const before = tf.memory().numTensors;
    const losses = [0, 1, 2].map(() => {
      const loss = step();
      const value = loss.dataSync()[0];
      loss.dispose();
      return value;
    });
    expect(tf.memory().numTensors).toBe(before);
    // It trains: the loss falls step after step.
    expect(losses[1]).toBeLessThan(losses[0]);
    expect(losses[2]).toBeLessThan(losses[1]);
    optimizer.dispose();
    model.dispose();
  });
});

describe('installLayerFixes', () => {
  it("is undone by replaceTfjsCalls: false and by initBackend's keepTfjsKernels, and is idempotent", async () => {
    await initBackend('cpu', { quiet: true, keepTfjsKernels: true });
    const names = ['Dense', 'LayerNormalization'];
    const tfjsCalls = names.map((name) => prototypeOf(name).call);
    installLayerFixes();
    installLayerFixes();
    const ours = names.map((name) => prototypeOf(name).call);
    ours.forEach((call, i) => expect(call).not.toBe(tfjsCalls[i]));
    installLayerFixes({ replaceTfjsCalls: false });
    names.forEach((name, i) => expect(prototypeOf(name).call).toBe(tfjsCalls[i]));
    await initBackend('cpu', { quiet: true });
    names.forEach((name, i) => expect(prototypeOf(name).call).not.toBe(tfjsCalls[i]));
    await initBackend('cpu', { quiet: true, keepTfjsKernels: true });
    names.forEach((name, i) => expect(prototypeOf(name).call).toBe(tfjsCalls[i]));
    installLayerFixes();
  });

  it('refuses an unknown option, naming the nearest', () => {
    expect(() => installLayerFixes({ replaceTfjsCall: true } as never)).toThrow(/replaceTfjsCalls/);
  });
});
