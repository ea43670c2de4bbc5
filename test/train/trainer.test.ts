import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../../src/backend';
import { createTrainingStream, encodeBatch } from '../../src/tasks';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/train/checkpoint';
import { warmupSchedule } from '../../src/train/schedule';
import { maskedSoftmaxCrossEntropy } from '../../src/train/losses';
import { batchTensors, NonFiniteLossError, Trainer } from '../../src/train/trainer';
import { tinySetup } from './helpers';

beforeAll(() => initBackend('wasm', { quiet: true }));

const schedule = warmupSchedule({ peak: 3e-3, warmupSteps: 5, decay: 'cosine', totalSteps: 40 });

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.weights.map((w) => Float32Array.from(w.read().dataSync() as Float32Array));
}

describe('Trainer', () => {
  it('one step changes every trainable weight and reports finite loss, accuracy, norm and rate', async () => {
    const { task, model } = tinySetup();
    const trainer = new Trainer({ model, learningRate: schedule });
    const before = weightsOf(model);
    const stream = createTrainingStream(task, 5);
    const result = await trainer.step(encodeBatch(task, stream.nextBatch(16)));
    expect(result.step).toBe(1);
    expect(trainer.stepCount).toBe(1);
    expect(result.learningRate).toBeCloseTo(3e-3 / 5, 12);
    expect(result.loss).toBeGreaterThan(Math.log(task.vocabularySize) - 1.5);
    expect(result.loss).toBeLessThan(Math.log(task.vocabularySize) + 1.5);
    expect(result.tokenAccuracy).toBeGreaterThanOrEqual(0);
    expect(result.tokenAccuracy).toBeLessThanOrEqual(1);
    expect(result.gradNorm).toBeGreaterThan(0);
    const after = weightsOf(model);
    const unchanged = model.weights
      .filter((w, i) => w.trainable && after[i].every((v, k) => v === before[i][k]))
      .map((w) => w.name);
    expect(unchanged).toEqual([]);
    trainer.dispose();
    model.dispose();
  });

  it('a step with labelSmoothing reports the smoothed loss of its batch', async () => {
    // tiny has no dropout: the step's forward pass is the one computed here.
    const { task, model } = tinySetup();
    const batch = encodeBatch(task, createTrainingStream(task, 5).nextBatch(16));
    const lossOf = (smoothing: number) =>
      tf.tidy(() => {
        const { source, decoderInput, decoderTarget } = batchTensors(batch);
        const logits = model.apply([source, decoderInput], { training: true }) as tf.Tensor;
        return maskedSoftmaxCrossEntropy(logits, decoderTarget, smoothing).dataSync()[0];
      });
    const [plain, smoothed] = [lossOf(0), lossOf(0.3)];
    expect(Math.abs(smoothed - plain)).toBeGreaterThan(5e-3); // near-uniform outputs at the start: close, not equal
    const trainer = new Trainer({ model, learningRate: schedule, labelSmoothing: 0.3 });
    const result = await trainer.step(batch);
    expect(result.loss).toBeCloseTo(smoothed, 5);
    trainer.dispose();
    model.dispose();
  });

  it('keeps tf.memory() flat: the same tensors and bytes after step 10 and step 200', async () => {
    const { task, model } = tinySetup();
    const trainer = new Trainer({ model, learningRate: schedule });
    const stream = createTrainingStream(task, 5);
    const memory: Array<{ numTensors: number; numBytes: number }> = [];
    for (let step = 1; step <= 200; step++) {
      await trainer.step(encodeBatch(task, stream.nextBatch(16)));
      if (step === 10 || step === 200)
        memory.push({ numTensors: tf.memory().numTensors, numBytes: tf.memory().numBytes });
    }
    expect(memory[1]).toEqual(memory[0]);
    trainer.dispose();
    model.dispose();
  });

  it(
    'a resumed run (state through a checkpoint, fresh ' + 'model and trainer) ends with bit-identical weights',
    async () => {
      const steps = 16;
      const straight = tinySetup('reverse', 1);
      const a = new Trainer({ model: straight.model, learningRate: schedule, beta2: 0.98 });
      const streamA = createTrainingStream(straight.task, 9);
      for (let i = 0; i < steps; i++) await a.step(encodeBatch(straight.task, streamA.nextBatch(16)));

      const first = tinySetup('reverse', 1);
      const b = new Trainer({ model: first.model, learningRate: schedule, beta2: 0.98 });
      const streamB = createTrainingStream(first.task, 9);
      for (let i = 0; i < steps / 2; i++) await b.step(encodeBatch(first.task, streamB.nextBatch(16)));
      const bytes = encodeCheckpoint({
        state: await b.getState(),
        weightSpecs: first.model.weights.map((w) => ({ name: w.originalName, shape: w.shape as number[] })),
        extra: { stream: streamB.getState() },
      });
      b.dispose();
      first.model.dispose();

      // A different init seed: everything must come from the checkpoint.
      const second = tinySetup('reverse', 2);
      const c = new Trainer({ model: second.model, learningRate: schedule, beta2: 0.98 });
      const checkpoint = decodeCheckpoint<{ stream: [number, number, number, number] }>(bytes, 'memory');
      await c.setState(checkpoint.state);
      expect(c.stepCount).toBe(steps / 2);
      const streamC = createTrainingStream(second.task, 9);
      streamC.setState(checkpoint.extra.stream);
      const losses: number[] = [];
      for (let i = 0; i < steps / 2; i++)
        losses.push((await c.step(encodeBatch(second.task, streamC.nextBatch(16)))).loss);
      expect(c.stepCount).toBe(steps);

      const wa = weightsOf(straight.model);
      const wc = weightsOf(second.model);
      wa.forEach((w, i) => expect(Array.from(wc[i])).toEqual(Array.from(w)));
      const [sa, sc] = [await a.getState(), await c.getState()];
      sa.firstMoments.forEach((m, i) => expect(Array.from(sc.firstMoments[i])).toEqual(Array.from(m)));
      sa.secondMoments.forEach((v, i) => expect(Array.from(sc.secondMoments[i])).toEqual(Array.from(v)));
      expect(losses.every(Number.isFinite)).toBe(true);
      [a, c].forEach((t) => t.dispose());
      [straight.model, second.model].forEach((m) => m.dispose());
    },
  );

  it('stops on a non-finite loss without touching the weights, the optimizer or the memory', async () => {
    const { task, model } = tinySetup();
    const trainer = new Trainer({ model, learningRate: 1e-3 });
    const stream = createTrainingStream(task, 5);
    await trainer.step(encodeBatch(task, stream.nextBatch(16)));
    // Finite weights whose logits overflow float32: the loss becomes NaN.
    const kernel = model.getLayer('logits').getWeights()[0];
    const huge = tf.fill(kernel.shape, 3e38);
    model.getLayer('logits').setWeights([huge, model.getLayer('logits').getWeights()[1]]);
    huge.dispose();
    const before = weightsOf(model);
    const stateBefore = await trainer.getState();
    const tensors = tf.memory().numTensors;
    const batch = encodeBatch(task, stream.nextBatch(16));
    await expect(trainer.step(batch)).rejects.toThrow(NonFiniteLossError);
    await expect(trainer.step(batch)).rejects.toThrow(/^training diverged at step 2: loss NaN/);
    expect(trainer.stepCount).toBe(1);
    expect(tf.memory().numTensors).toBe(tensors);
    weightsOf(model).forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(before[i])));
    const stateAfter = await trainer.getState();
    stateAfter.firstMoments.forEach((m, i) => expect(Array.from(m)).toEqual(Array.from(stateBefore.firstMoments[i])));
    trainer.dispose();
    model.dispose();
  });

  it('stops on a finite loss whose gradient is not finite, without touching the weights', async () => {
    const { task, model } = tinySetup();
    const trainer = new Trainer({ model, learningRate: 1e-3 });
    // The model's forward pass unchanged, its backward pass overflowing: every gradient is +-Infinity or NaN.
    const overflow = tf.customGrad((x) => ({
      value: tf.clone(x as tf.Tensor),
      gradFunc: (dy: tf.Tensor) => tf.mul(dy, Infinity),
    }));
    const apply = model.apply.bind(model);
    model.apply = ((inputs, kwargs) => overflow(apply(inputs, kwargs) as tf.Tensor)) as typeof model.apply;
    const before = weightsOf(model);
    const batch = encodeBatch(task, createTrainingStream(task, 5).nextBatch(16));
    const error: NonFiniteLossError = await trainer.step(batch).then(
      () => {
        throw new Error('the step did not stop');
      },
      (e) => e,
    );
    expect(error).toBeInstanceOf(NonFiniteLossError);
    expect(Number.isFinite(error.loss)).toBe(true);
    expect(Number.isFinite(error.gradNorm)).toBe(false);
    expect(trainer.stepCount).toBe(0);
    weightsOf(model).forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(before[i])));
    trainer.dispose();
    model.dispose();
  });

  it('clips by global norm: after one step Adam holds (1 - beta1) scale g and (1 - beta2) (scale g)^2', async () => {
    // Adam's first update is (almost) invariant to the gradient's scale, so the weights cannot show the
    // clipping; the moments can. Same seed, same batch, no dropout (tiny): the same gradient g each time.
    const beta1 = 0.9;
    const beta2 = 0.98;
    const { task } = tinySetup();
    const batch = encodeBatch(task, createTrainingStream(task, 5).nextBatch(16));
    const oneStep = async (clipNorm: number) => {
      const { model } = tinySetup();
      const trainer = new Trainer({ model, learningRate: 1e-3, beta1, beta2, clipNorm });
      const result = await trainer.step(batch);
      const moments = trainer.optimizer.getMoments();
      trainer.dispose();
      model.dispose();
      return { result, ...moments };
    };
    const unclipped = await oneStep(Infinity);
    const gradNorm = unclipped.result.gradNorm;
    expect(gradNorm).toBeGreaterThan(0.1);
    // The unclipped moments are g itself (times 1 - beta1): recover g from them.
    const g = unclipped.first.map((m) => Float64Array.from(m, (v) => v / (1 - beta1)));
    const norm = Math.sqrt(g.reduce((sum, a) => sum + a.reduce((s, v) => s + v * v, 0), 0));
    expect(Math.abs(norm - gradNorm) / gradNorm).toBeLessThan(1e-5);

    for (const clipNorm of [gradNorm / 100, gradNorm * 2]) {
      const clipped = await oneStep(clipNorm);
      // The reported norm is the one before clipping.
      expect(clipped.result.gradNorm).toBe(gradNorm);
      const scale = Math.min(1, clipNorm / (gradNorm + 1e-6));
      let worst = 0;
      g.forEach((gi, i) =>
        gi.forEach((v, k) => {
          const first = (1 - beta1) * scale * v;
          const second = (1 - beta2) * (scale * v) ** 2;
          worst = Math.max(
            worst,
            Math.abs(clipped.first[i][k] - first) / (Math.abs(first) + 1e-12),
            Math.abs(clipped.second[i][k] - second) / (Math.abs(second) + 1e-20),
          );
        }),
      );
      expect({ clipNorm, scale, worstRelativeError: worst < 1e-5 }).toEqual({
        clipNorm,
        scale,
        worstRelativeError: true,
      });
    }
  });

  it('setState rejects a state of another architecture, naming the weight', async () => {
    const small = tinySetup('copy', 1);
    const other = tinySetup('addition', 1);
    const state = await new Trainer({ model: other.model }).getState();
    const trainer = new Trainer({ model: small.model });
    await expect(trainer.setState(state)).rejects.toThrow(/Trainer.setState: weight .* has shape/);
    small.model.dispose();
    other.model.dispose();
  });

  it('checks clipNorm and labelSmoothing, and passes its defaults and Adam arguments on', () => {
    const { model } = tinySetup('copy', 1);
    for (const clipNorm of [0, -1, NaN]) {
      expect(() => new Trainer({ model, clipNorm })).toThrow(
        `Trainer: clipNorm must be a positive number or Infinity, got ${clipNorm}`,
      );
    }
    for (const labelSmoothing of [-0.1, 1, NaN]) {
      expect(() => new Trainer({ model, labelSmoothing })).toThrow(
        `Trainer: labelSmoothing must be a number in [0, 1), got ${labelSmoothing}`,
      );
    }
    const plain = new Trainer({ model });
    expect([plain.clipNorm, plain.labelSmoothing, plain.nextLearningRate]).toEqual([1, 0, 1e-3]);
    expect(plain.optimizer.learningRate).toBe(1e-3);
    plain.dispose();
    const trainer = new Trainer({
      model,
      learningRate: (step) => step / 100,
      clipNorm: Infinity,
      labelSmoothing: 0,
      beta1: 0.8,
      beta2: 0.9,
      epsilon: 1e-6,
      weightDecay: 0.01,
    });
    expect([trainer.clipNorm, trainer.nextLearningRate, trainer.optimizer.learningRate]).toEqual([
      Infinity,
      0.01,
      0.01,
    ]);
    const { beta1, beta2, epsilon, weightDecay } = trainer.optimizer;
    expect({ beta1, beta2, epsilon, weightDecay }).toEqual({
      beta1: 0.8,
      beta2: 0.9,
      epsilon: 1e-6,
      weightDecay: 0.01,
    });
    trainer.dispose();
    model.dispose();
  });

  it('setState refuses moments that do not fit, naming what it expected, and changes nothing', async () => {
    const { task, model } = tinySetup('copy', 1);
    const trainer = new Trainer({ model });
    await trainer.step(encodeBatch(task, createTrainingStream(task, 5).nextBatch(8)));
    const state = await trainer.getState();
    const n = state.firstMoments.length;
    const before = weightsOf(model);
    await expect(trainer.setState({ ...state, weights: state.weights.slice(1) })).rejects.toThrow(
      `Trainer.setState: the state has ${state.weights.length - 1} weights, the model ${state.weights.length}`,
    );
    await expect(trainer.setState({ ...state, secondMoments: state.secondMoments.slice(1) })).rejects.toThrow(
      `Trainer.setState: expected ${n} first and second moments (one per trainable weight) at step 1, ` +
        `got ${n} and ${n - 1}`,
    );
    const fewer = { ...state, firstMoments: state.firstMoments.slice(1), secondMoments: state.secondMoments.slice(1) };
    await expect(trainer.setState(fewer)).rejects.toThrow(`expected ${n} first and second moments`);
    await expect(trainer.setState({ ...state, firstMoments: [], secondMoments: [] })).rejects.toThrow(
      `expected ${n} first and second moments (one per trainable weight) at step 1, got 0 and 0`,
    );
    for (const which of ['first', 'second'] as const) {
      const moments = state[`${which}Moments`].map((m, i) => (i === 1 ? m.subarray(1) : m));
      const name = (trainer as unknown as { variables: tf.Variable[] }).variables[1].name;
      await expect(trainer.setState({ ...state, [`${which}Moments`]: moments })).rejects.toThrow(
        `Trainer.setState: the ${which} moment of ${name} has ${state.firstMoments[1].length - 1} values, ` +
          `expected ${state.firstMoments[1].length}`,
      );
    }
    expect(weightsOf(model)).toEqual(before);
    expect(trainer.stepCount).toBe(1);
    // Step 0 without moments is a fresh start; its weights are taken.
    const zero = state.weights.map((w) => new Float32Array(w.length));
    await trainer.setState({ step: 0, weights: zero, firstMoments: [], secondMoments: [] });
    expect(trainer.stepCount).toBe(0);
    expect(weightsOf(model).every((w) => w.every((v) => v === 0))).toBe(true);
    trainer.dispose();
    model.dispose();
  });

  it('NonFiniteLossError says what diverged and what to try; an unknown option names the Trainer', () => {
    const error = new NonFiniteLossError(7, NaN, Infinity, 0.00123456);
    expect(error.name).toBe('NonFiniteLossError');
    expect(error.message).toBe(
      'training diverged at step 7: loss NaN, gradient norm Infinity (learning rate 0.00123); the update was not ' +
        'applied. Try a lower --lr, a longer --warmup, or --resume from the last checkpoint.',
    );
    const { model } = tinySetup('copy', 1);
    expect(() => new Trainer({ model, clipnorm: 1 } as never)).toThrow(/^Trainer: unknown option 'clipnorm'/);
    model.dispose();
  });

  it("setState names a weight of the wrong size, and restores the moments under the variables' names", async () => {
    const { task, model } = tinySetup('copy', 1);
    const trainer = new Trainer({ model });
    await trainer.step(encodeBatch(task, createTrainingStream(task, 5).nextBatch(8)));
    const state = await trainer.getState();
    const w = model.weights[0];
    const weights = state.weights.map((v, i) => (i === 0 ? v.subarray(1) : v));
    await expect(trainer.setState({ ...state, weights })).rejects.toThrow(
      `Trainer.setState: weight ${w.originalName} has shape [${w.shape}] (${w.read().size} values), ` +
        `the state ${w.read().size - 1}`,
    );
    await trainer.setState(state);
    const names = (await trainer.optimizer.getWeights()).map((n) => n.name);
    const variables = model.trainableWeights.map((v) => (v.read() as tf.Variable).name);
    expect(names.slice(1)).toEqual([...variables.map((n) => `${n}/m`), ...variables.map((n) => `${n}/v`)]);
    trainer.dispose();
    model.dispose();
  });
});
