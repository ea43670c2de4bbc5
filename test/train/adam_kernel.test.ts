/**
 * Adam as one fused SIMD kernel over the kernel threads (src/kernels/adam.ts) against
 * `tf.train.adam`: the same weights within float32 rounding, step after step, for variables of odd
 * sizes; the same floats on one thread and two; as a `model.compile` optimizer; weights changed
 * between steps by someone else; a variable without a gradient; two optimizers at once, one
 * disposed. Run with both arithmetics of the kernels (jest.config.js).
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { partsRunByWorkers, setCallerClaimsParts } from '../../src/kernels/threads';
import { AdamState } from '../../src/kernels/adam';
import { allocateResident, freeResident } from '../../src/kernels/simd_kernels';
import { Adam } from '../../src/train/adam';
import { describeEachBackend } from '../helpers/backends';
import { maxAbsDiff, seededTensor } from '../helpers/tensors';
import { useThreads } from '../helpers/threads';

/** Odd sizes: less than a vector, not whole vectors, rank 2, and 256 x 263 for the threads (two parts). */
const SHAPES = [[1], [3], [7, 5], [513], [256, 263]];
const STEPS = 3;
const HYPER = { learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

/** A variable of seeded values (the tensor it is made from is disposed). */
function seededVariable(shape: number[], seed: number): tf.Variable {
  const values = seededTensor(shape, seed);
  const variable = tf.variable(values);
  values.dispose();
  return variable;
}

/** Fresh variables of SHAPES with seeded values, and each step's seeded gradients. */
function problem(): { variables: tf.Variable[]; gradients: tf.Tensor[][] } {
  const variables = SHAPES.map((shape, i) => seededVariable(shape, 10 + i));
  const gradients = Array.from({ length: STEPS }, (_s, step) =>
    SHAPES.map((shape, i) => seededTensor(shape, 100 * step + i, 0.5 + step)),
  );
  return { variables, gradients };
}

/** The weights after each step of `optimizer` on `problem()`. */
function weightsPerStep(optimizer: tf.Optimizer): Float32Array[][] {
  const { variables, gradients } = problem();
  const out = gradients.map((step) => {
    optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: step[i] })));
    return variables.map((v) => v.dataSync() as Float32Array);
  });
  tf.dispose([...variables, ...gradients.flat()]);
  optimizer.dispose();
  return out;
}

describeEachBackend('Adam (fused kernel)', (backend) => {
  it("gives tf.train.adam's weights within float32 rounding at every step, at every size", () => {
    const before = tf.memory().numTensors;
    const ours = weightsPerStep(new Adam(HYPER));
    const theirs = weightsPerStep(tf.train.adam(HYPER.learningRate, HYPER.beta1, HYPER.beta2, HYPER.epsilon));
    ours.forEach((step, s) =>
      step.forEach((weights, i) => {
        expect({ step: s, shape: SHAPES[i], diff: maxAbsDiff(weights, theirs[s][i]) < 2e-6 }).toEqual({
          step: s,
          shape: SHAPES[i],
          diff: true,
        });
      }),
    );
    // Every weight moved by about the learning rate each step (Adam's normalized step).
    const moved = maxAbsDiff(ours[STEPS - 1][4], ours[0][4]);
    expect(moved).toBeGreaterThan(0.75 * (STEPS - 1) * HYPER.learningRate);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives the same floats on one thread and on two', async () => {
    await useThreads(1);
    const one = weightsPerStep(new Adam(HYPER));
    await useThreads(2);
    const shared = weightsPerStep(new Adam(HYPER));
    // Then every part on the worker: the test does not depend on the scheduler handing it one.
    const before = partsRunByWorkers();
    setCallerClaimsParts(false);
    let onWorker: ReturnType<typeof weightsPerStep>;
    try {
      onWorker = weightsPerStep(new Adam(HYPER));
    } finally {
      setCallerClaimsParts(true);
    }
    if (backend === 'wasm') expect(partsRunByWorkers()).toBeGreaterThan(before);
    for (const two of [shared, onWorker]) {
      two.forEach((step, s) => step.forEach((weights, i) => expect(maxAbsDiff(weights, one[s][i])).toBe(0)));
    }
  });

  it('trains a model through model.compile and fit as tf.train.adam does', async () => {
    const fit = async (optimizer: tf.Optimizer) => {
      const model = tf.sequential({
        layers: [tf.layers.dense({ inputShape: [5], units: 7, activation: 'tanh' }), tf.layers.dense({ units: 3 })],
      });
      model.setWeights(model.getWeights().map((w, i) => seededTensor(w.shape, 50 + i)));
      model.compile({ optimizer, loss: 'meanSquaredError' });
      const [x, y] = [seededTensor([16, 5], 60), seededTensor([16, 3], 61)];
      await model.fit(x, y, { epochs: 3, batchSize: 8, shuffle: false, verbose: 0 });
      const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
      tf.dispose([x, y]);
      model.dispose();
      optimizer.dispose();
      return weights;
    };
    const ours = await fit(new Adam(HYPER));
    const theirs = await fit(tf.train.adam(HYPER.learningRate, HYPER.beta1, HYPER.beta2, HYPER.epsilon));
    ours.forEach((w, i) => expect(maxAbsDiff(w, theirs[i])).toBeLessThan(1e-5));
  });

  it('takes weights that something else changed between steps, and leaves a variable without gradient alone', () => {
    const adam = new Adam(HYPER);
    const [a, b] = [tf.variable(tf.tensor1d([1, 2, 3])), tf.variable(tf.tensor1d([4, 5]))];
    const step = (ga: number[], gb: number[] | null) => {
      const [gradientA, gradientB] = [tf.tensor1d(ga), gb === null ? null : tf.tensor1d(gb)];
      adam.applyGradients([
        { name: a.name, tensor: gradientA },
        { name: b.name, tensor: gradientB as tf.Tensor },
      ]);
      tf.dispose(gradientB === null ? [gradientA] : [gradientA, gradientB]);
    };
    step([1, 1, 1], [1, 1]);
    const moved = tf.tensor1d([10, 20, 30]);
    a.assign(moved);
    moved.dispose();
    step([1, 1, 1], null);
    // Step 2's normalized step is about -lr for a gradient that keeps its sign; from the new weights.
    Array.from(a.dataSync()).forEach((w, k) => expect(w).toBeCloseTo([10, 20, 30][k] - HYPER.learningRate, 4));
    // b moved once (step 1), not at step 2.
    Array.from(b.dataSync()).forEach((w, k) => expect(w).toBeCloseTo([4, 5][k] - HYPER.learningRate, 4));
    tf.dispose([a, b]);
    adam.dispose();
  });

  it('leaves the weights and moments of a variable without gradient as they were: later steps agree too', () => {
    // b has no gradient at the second step; at the third, tf.train.adam takes up where it left b.
    const run = (optimizer: tf.Optimizer) => {
      const [a, b] = [seededVariable([3], 40), seededVariable([5], 41)];
      for (let step = 0; step < 3; step++) {
        const [ga, gb] = [seededTensor([3], 50 + step), seededTensor([5], 60 + step)];
        optimizer.applyGradients([
          { name: a.name, tensor: ga },
          { name: b.name, tensor: (step === 1 ? null : gb) as tf.Tensor },
        ]);
        tf.dispose([ga, gb]);
      }
      const out = [a, b].map((v) => v.dataSync() as Float32Array);
      tf.dispose([a, b]);
      optimizer.dispose();
      return out;
    };
    const ours = run(new Adam(HYPER));
    const theirs = run(tf.train.adam(HYPER.learningRate, HYPER.beta1, HYPER.beta2, HYPER.epsilon));
    ours.forEach((weights, i) => expect(maxAbsDiff(weights, theirs[i])).toBeLessThan(2e-6));
  });

  it('reads back each moment as set, each variable at its own place', () => {
    const state = new AdamState([3, 5]);
    const values = (n: number, from: number) => Float32Array.from({ length: n }, (_v, k) => from + k);
    state.setMoment(1, 0, values(3, 10));
    state.setMoment(1, 1, values(5, 20));
    state.setMoment(2, 0, values(3, 30));
    state.setMoment(2, 1, values(5, 40));
    expect([1, 2].map((which) => [0, 1].map((i) => Array.from(state.moment(which as 1 | 2, i))))).toEqual([
      [Array.from(values(3, 10)), Array.from(values(5, 20))],
      [Array.from(values(3, 30)), Array.from(values(5, 40))],
    ]);
    state.dispose();
  });

  it('gives its memory back when disposed', () => {
    const probe = () => {
      const block = allocateResident(4);
      freeResident(block);
      return block.start;
    };
    const before = probe();
    const state = new AdamState([1000]);
    expect(probe()).toBeGreaterThan(before);
    state.dispose();
    expect(probe()).toBe(before);
  });

  it('keeps each optimizer state apart, also after another one is disposed', () => {
    const run = (withOther: boolean) => {
      const other = withOther ? new Adam(HYPER) : null;
      const w = seededVariable([37], 5);
      const x = seededVariable([41], 6);
      const adam = new Adam(HYPER);
      for (let s = 0; s < 3; s++) {
        const [g, h] = [seededTensor([37], 20 + s), seededTensor([41], 30 + s)];
        if (s < 2) other?.applyGradients([{ name: x.name, tensor: h }]);
        adam.applyGradients([{ name: w.name, tensor: g }]);
        tf.dispose([g, h]);
        // The other's state was allocated first: disposing it moves this one's.
        if (s === 1) other?.dispose();
      }
      const out = w.dataSync() as Float32Array;
      tf.dispose([w, x]);
      adam.dispose();
      return out;
    };
    expect(maxAbsDiff(run(true), run(false))).toBe(0);
  });
});

describe('Adam where WebAssembly SIMD is missing', () => {
  it("keeps the same state in a plain array and gives tf.train.adam's weights", async () => {
    await initBackend('cpu', { quiet: true });
    let PlainAdam: typeof Adam | undefined;
    jest.isolateModules(() => {
      // This test's tfjs, and kernels that never compile (as where WebAssembly SIMD is missing).
      jest.doMock('@tensorflow/tfjs', () => tf);
      jest.doMock('../../src/kernels/simd_kernels', () => ({
        ...jest.requireActual('../../src/kernels/simd_kernels'),
        simdKernels: () => null,
      }));
      PlainAdam = (require('../../src/train/adam') as { Adam: typeof Adam }).Adam;
    });
    const ours = weightsPerStep(new PlainAdam!(HYPER));
    const theirs = weightsPerStep(tf.train.adam(HYPER.learningRate, HYPER.beta1, HYPER.beta2, HYPER.epsilon));
    ours.forEach((step, s) =>
      step.forEach((weights, i) => expect(maxAbsDiff(weights, theirs[s][i])).toBeLessThan(2e-6)),
    );
    // A gradient scale (as the trainer's clipping passes), and a variable without gradient at one step.
    const scaled = (update: (variables: tf.Variable[], gradients: Array<tf.Tensor | null>) => void) => {
      const { variables, gradients } = problem();
      gradients.forEach((step, s) =>
        update(
          variables,
          step.map((g, i) => (s === 1 && i === 2 ? null : g)),
        ),
      );
      const out = variables.map((v) => v.dataSync() as Float32Array);
      tf.dispose([...variables, ...gradients.flat()]);
      return out;
    };
    const plain = new PlainAdam!(HYPER);
    const reference = tf.train.adam(HYPER.learningRate, HYPER.beta1, HYPER.beta2, HYPER.epsilon);
    const withScale = scaled((variables, gradients) => plain.update(variables, gradients, 0.25));
    const withScaledGradients = scaled((variables, gradients) =>
      tf.tidy(() =>
        reference.applyGradients(
          variables.map((v, i) => ({ name: v.name, tensor: (gradients[i]?.mul(0.25) ?? null) as tf.Tensor })),
        ),
      ),
    );
    withScale.forEach((weights, i) => expect(maxAbsDiff(weights, withScaledGradients[i])).toBeLessThan(2e-6));
    plain.dispose();
    reference.dispose();
  });
});
