/**
 * The dense products of src/ops/dense.ts against plain tfjs ops and against float64 plain loops
 * (values, and gradients by central differences): values and every gradient, on cpu and wasm
 * (the fused dense kernel for widths that are multiples of 4; the transposed products of the
 * gradients go through the BatchMatMul that initBackend installs) and on a backend without our
 * kernels (tfjs ops, as webgl runs them).
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import {
  addBias,
  dense2d,
  denseOverLastAxes,
  denseSequence,
  denseSideBySide,
  denseWithAnyBias,
  sumRows,
} from '../../src/ops/dense';
import { ACTIVATION_REFERENCE } from '../helpers/activation_reference';
import { describeEachPath, OPS_ONLY_BACKEND } from '../helpers/backends';
import { dense } from '../helpers/block_reference';
import { runThenProfile } from '../helpers/kernel_paths';
import { maxAbsDiff, seededTensor } from '../helpers/tensors';
import { seededValues } from '../layers/attention_reference';

type Matrix = number[][];

const matrix = (rows: number, columns: number, seed: number, scale = 1): Matrix => {
  const values = seededValues(rows * columns, seed).map((v) => Math.fround(v * scale));
  return Array.from({ length: rows }, (_r, r) => values.slice(r * columns, (r + 1) * columns));
};

/** sum(activation(x kernel + bias) * weights) in float64. */
function denseLoss(x: Matrix, kernel: Matrix, bias: number[] | null, activation: string, weights: Matrix): number {
  const y = dense(x, kernel, bias).map((row) => row.map(ACTIVATION_REFERENCE[activation]));
  return y.reduce((s, row, n) => s + row.reduce((t, v, e) => t + v * weights[n][e], 0), 0);
}

/** The gradient of `f` in each entry of `m`, by central differences (float64). */
function gradientOf(m: Matrix, f: (m: Matrix) => number, h = 1e-6): Matrix {
  return m.map((row, r) =>
    row.map((_v, c) => {
      const at = (delta: number) => f(m.map((rr, i) => (i === r ? rr.map((v, j) => (j === c ? v + delta : v)) : rr)));
      return (at(h) - at(-h)) / (2 * h);
    }),
  );
}

/**
 * x (..., A_1..A_k) by kernels (A_1..A_k, ...) side by side plus biases, k = `inner`: the rows
 * (N, A_1*...*A_k) by the kernels as matrices, joined, then back to (..., E). Plain tfjs ops.
 */
function reshapedProduct(x: tf.Tensor, kernels: tf.Tensor[], biases: tf.Tensor[], inner: number): tf.Tensor {
  const D = x.shape.slice(x.rank - inner).reduce((a, b) => a * b, 1);
  const matrices = kernels.map((k) => k.reshape([D, -1]));
  const y = tf.matMul(x.reshape([-1, D]), tf.concat(matrices, 1)).add(
    tf.concat(
      biases.map((b) => b.reshape([-1])),
      0,
    ),
  );
  return y.reshape([...x.shape.slice(0, x.rank - inner), -1]);
}

describeEachPath('ops/dense', (path) => {
  it('sumRows sums a matrix over its rows', () => {
    const x = tf.tensor2d([
      [1, 2, 3],
      [4, -5, 6.5],
    ]);
    expect(Array.from(sumRows(x).dataSync())).toEqual([5, -3, 9.5]);
    x.dispose();
  });

  it("addBias has tfjs's value and gradients, and leaves no tensors behind", () => {
    const x = tf.tensor2d([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    const bias = tf.tensor1d([0.5, -1]);
    const weights = tf.tensor2d([
      [1, -2],
      [0.5, 3],
      [2, 1],
    ]);
    const before = tf.memory().numTensors;
    const loss = (f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(f(a, b), weights));
    const ours = tf.grads(loss(addBias))([x, bias]);
    const theirs = tf.grads(loss((a, b) => tf.add(a, b)))([x, bias]);
    expect(ours[0].arraySync()).toEqual(theirs[0].arraySync());
    expect(Array.from(ours[1].dataSync())).toEqual([3.5, 2]); // column sums of the weights
    expect(Array.from(ours[1].dataSync())).toEqual(Array.from(theirs[1].dataSync()));
    tf.dispose([...ours, ...theirs]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, bias, weights]);
  });

  for (const activation of ['linear', 'relu'] as const) {
    it(
      `dense2d (${activation}) equals tf.matMul + bias (+ relu) ` +
        'in value and in the gradients of x, kernel and bias',
      () => {
        const x = tf.tensor2d([
          [1, -2, 0.5],
          [3, 0.25, -1],
          [-0.5, 2, 1.5],
          [0, 1, -3],
        ]);
        const kernel = tf.tensor2d([
          [0.5, -1],
          [1.5, 0.25],
          [-2, 1],
        ]);
        const bias = tf.tensor1d([0.1, -0.3]);
        const weights = tf.tensor2d([
          [1, -2],
          [0.5, 3],
          [2, 1],
          [-1, 0.5],
        ]);
        const before = tf.memory().numTensors;
        const plain = (a: tf.Tensor, k: tf.Tensor, b: tf.Tensor) => {
          const y = tf.add(tf.matMul(a as tf.Tensor2D, k as tf.Tensor2D), b);
          return activation === 'relu' ? tf.relu(y) : y;
        };
        const loss = (f: typeof plain) => (a: tf.Tensor, k: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(f(a, k, b), weights));
        const ours = tf.grads(loss((a, k, b) => dense2d(a, k, b, activation)))([x, kernel, bias]);
        const theirs = tf.grads(loss(plain))([x, kernel, bias]);
        ours.forEach((g, i) => {
          const [a, b] = [Array.from(g.dataSync()), Array.from(theirs[i].dataSync())];
          a.forEach((v, j) => expect(v).toBeCloseTo(b[j], 5));
        });
        const value = tf.tidy(() => Array.from(dense2d(x, kernel, bias, activation).dataSync()));
        const expected = tf.tidy(() => Array.from(plain(x, kernel, bias).dataSync()));
        value.forEach((v, j) => expect(v).toBeCloseTo(expected[j], 5));
        tf.dispose([...ours, ...theirs]);
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([x, kernel, bias, weights]);
      },
    );
  }
  // Sequences, kernels [D, H, K], biases [H, K] and two inner axes, against a product of the
  // reshaped 2-D tensors: the fused kernel (cpu, wasm) takes them without a reshape either way.
  const shapedCases = [
    {
      title: 'denseSequence of x (2, 3, 8) by (8, 12), gelu',
      shapes: [[2, 3, 8], [8, 12], [12]],
      run: (t: tf.Tensor[]) => denseSequence(t[0], t[1], t[2], 'gelu'),
      plain: (t: tf.Tensor[]) => {
        const z = reshapedProduct(t[0], [t[1]], [t[2]], 1);
        return z.mul(0.5).mul(tf.erf(z.mul(Math.SQRT1_2)).add(1)); // exact GELU
      },
    },
    {
      title: 'denseSideBySide of x (2, 3, 8) by [8, 2, 4] and (8, 4), biases [2, 4] and (4)',
      shapes: [[2, 3, 8], [8, 2, 4], [8, 4], [2, 4], [4]],
      run: (t: tf.Tensor[]) => denseSideBySide(t[0], [t[1], t[2]], [t[3], t[4]]),
      plain: (t: tf.Tensor[]) => reshapedProduct(t[0], [t[1], t[2]], [t[3], t[4]], 1),
    },
    {
      title: 'denseOverLastAxes of x (2, 3, 2, 4) by [2, 4, 8], bias (8)',
      shapes: [[2, 3, 2, 4], [2, 4, 8], [8]],
      run: (t: tf.Tensor[]) => denseOverLastAxes(t[0], t[1], t[2], 2),
      plain: (t: tf.Tensor[]) => reshapedProduct(t[0], [t[1]], [t[2]], 2),
    },
  ];
  for (const { title, shapes, run, plain } of shapedCases) {
    const fused = path !== OPS_ONLY_BACKEND;
    it(`${title}: values and gradients as the 2-D product's, ${fused ? 'no reshape' : 'tfjs ops'}`, async () => {
      const inputs = shapes.map((shape, i) => seededTensor(shape, 11 + i, 0.5));
      const before = tf.memory().numTensors;
      const dy = tf.tidy(() => seededTensor(plain(inputs).shape, 3));
      // The gradients for a given dy (no loss op of its own, whose gradient may reshape).
      const taped = await runThenProfile(() => tf.grads((...t: tf.Tensor[]) => run(t))(inputs, dy));
      const expected = tf.tidy(() => tf.grads((...t: tf.Tensor[]) => plain(t))(inputs, dy));
      const [ours, theirs] = [tf.tidy(() => run(inputs)), tf.tidy(() => plain(inputs))];
      expect(ours.shape).toEqual(theirs.shape);
      expect(maxAbsDiff(ours.dataSync() as Float32Array, theirs.dataSync() as Float32Array)).toBeLessThan(1e-5);
      taped.result.forEach((gradient, i) => {
        expect({ input: i, shape: gradient.shape }).toEqual({ input: i, shape: shapes[i] });
        const close = maxAbsDiff(gradient.dataSync() as Float32Array, expected[i].dataSync() as Float32Array) < 1e-5;
        expect({ input: i, close }).toEqual({ input: i, close: true });
      });
      expect(taped.kernels.includes('Reshape')).toBe(!fused);
      tf.dispose([ours, theirs, dy, ...taped.result, ...expected]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(inputs);
    });
  }

  // x (5, D) @ kernel (D, E): D, E multiples of 4 take the fused kernel on cpu and wasm.
  for (const [D, E] of [
    [8, 4],
    [3, 2],
  ]) {
    for (const activation of ['linear', 'relu', 'gelu'] as const) {
      for (const withBias of [true, false]) {
        const fused = path !== OPS_ONLY_BACKEND && D % 4 === 0 && E % 4 === 0;
        const title = `${D} -> ${E}, ${activation}, ${withBias ? 'bias' : 'no bias'} (${fused ? 'fused' : 'tfjs ops'})`;
        it(`dense2d ${title}: values and gradients against plain loops`, async () => {
          const x = matrix(5, D, D + E, 2);
          const kernel = matrix(D, E, 2 * D + E);
          const bias = withBias ? matrix(1, E, 3 * D + E)[0] : null;
          const weights = matrix(5, E, 4 * D + E);
          const [xt, kt, wt] = [tf.tensor2d(x), tf.tensor2d(kernel), tf.tensor2d(weights)];
          const bt = bias ? tf.tensor1d(bias) : null;
          const before = tf.memory().numTensors;
          const expected = dense(x, kernel, bias).map((row) => row.map(ACTIVATION_REFERENCE[activation]));
          const forward = await runThenProfile(() => tf.tidy(() => dense2d(xt, kt, bt, activation)));
          expect(forward.kernels.includes('TfjsAttentionDense')).toBe(fused);
          expect(maxAbsDiff(forward.result.arraySync(), expected)).toBeLessThan(2e-6);
          const inputs = bt ? [xt, kt, bt] : [xt, kt];
          // The gradients of sum(y * weights): dy = weights.
          const taped = await runThenProfile(() =>
            tf.grads((...t: tf.Tensor[]) => dense2d(t[0], t[1], t[2] ?? null, activation))(inputs, wt),
          );
          // The bias gradient is sumRows's product, not tfjs's Sum over the rows (its fused matmul's gradient).
          expect(taped.kernels).not.toContain('Sum');
          expect(taped.kernels.includes('TfjsAttentionDenseGrad')).toBe(fused);
          const loss = (xs: Matrix, k: Matrix, b: number[] | null) => denseLoss(xs, k, b, activation, weights);
          const [dx, dKernel, dBias] = taped.result.map((t) => t.arraySync());
          expect(
            maxAbsDiff(
              dx as Matrix,
              gradientOf(x, (m) => loss(m, kernel, bias)),
            ),
          ).toBeLessThan(2e-5);
          expect(
            maxAbsDiff(
              dKernel as Matrix,
              gradientOf(kernel, (m) => loss(x, m, bias)),
            ),
          ).toBeLessThan(2e-5);
          if (bias)
            expect(maxAbsDiff(dBias as number[], gradientOf([bias], (m) => loss(x, kernel, m[0]))[0])).toBeLessThan(
              2e-5,
            );
          tf.dispose([forward.result, ...taped.result]);
          expect(tf.memory().numTensors).toBe(before);
          tf.dispose([xt, kt, wt, ...(bt ? [bt] : [])]);
        });
      }
    }
  }

  for (const D of [8, 3]) {
    it(`denseWithAnyBias ${D} -> 4 with a [2, 2] bias reshaped to 4 values: values and gradients`, () => {
      const x = matrix(3, D, 5);
      const kernel = matrix(D, 4, 6);
      const bias = [0.5, -1, 2, 0.25];
      const weights = matrix(3, 4, 7);
      const [xt, kt, bt, wt] = [
        tf.tensor2d(x),
        tf.tensor2d(kernel),
        tf.tensor2d([bias.slice(0, 2), bias.slice(2)]),
        tf.tensor2d(weights),
      ];
      const before = tf.memory().numTensors;
      const y = tf.tidy(() => denseWithAnyBias(xt, kt, bt.reshape([4])));
      expect(maxAbsDiff(y.arraySync(), dense(x, kernel, bias))).toBeLessThan(2e-6);
      const noBias = tf.tidy(() => denseWithAnyBias(xt, kt, null));
      expect(maxAbsDiff(noBias.arraySync(), dense(x, kernel, null))).toBeLessThan(2e-6);
      const [dx, dKernel, dBias] = tf.grads((a: tf.Tensor, k: tf.Tensor, b: tf.Tensor) =>
        denseWithAnyBias(a, k, b.reshape([4]))
          .mul(wt)
          .sum(),
      )([xt, kt, bt]);
      const loss = (xs: Matrix, k: Matrix, b: number[]) => denseLoss(xs, k, b, 'linear', weights);
      expect(
        maxAbsDiff(
          dx.arraySync() as Matrix,
          gradientOf(x, (m) => loss(m, kernel, bias)),
        ),
      ).toBeLessThan(2e-5);
      expect(
        maxAbsDiff(
          dKernel.arraySync() as Matrix,
          gradientOf(kernel, (m) => loss(x, m, bias)),
        ),
      ).toBeLessThan(2e-5);
      expect(dBias.shape).toEqual([2, 2]);
      expect(maxAbsDiff(dBias.dataSync(), gradientOf([bias], (m) => loss(x, kernel, m[0]))[0])).toBeLessThan(2e-5);
      tf.dispose([y, noBias, dx, dKernel, dBias]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([xt, kt, bt, wt]);
    });
  }

  it('addBias without a tape adds the bias to every row', () => {
    const y = tf.tidy(() =>
      addBias(
        tf.tensor2d([
          [1, 2],
          [3, 4],
        ]),
        tf.tensor1d([0.5, -1]),
      ),
    );
    expect(y.arraySync()).toEqual([
      [1.5, 1],
      [3.5, 3],
    ]);
    y.dispose();
  });

  for (const activation of ['linear', 'relu', 'gelu', 'tanh', 'elu']) {
    it(`denseSequence (2, 3, 4) -> (2, 3, 8), ${activation}: each position's dense, activated once`, () => {
      const x = matrix(6, 4, 8, 2);
      const kernel = matrix(4, 8, 9);
      const bias = matrix(1, 8, 10)[0];
      const [xt, kt, bt] = [tf.tensor3d([x.slice(0, 3), x.slice(3)]), tf.tensor2d(kernel), tf.tensor1d(bias)];
      const y = tf.tidy(() => denseSequence(xt, kt, bt, activation));
      expect(y.shape).toEqual([2, 3, 8]);
      const expected = dense(x, kernel, bias).map((row) => row.map(ACTIVATION_REFERENCE[activation]));
      expect(maxAbsDiff(y.dataSync(), expected.flat())).toBeLessThan(2e-6);
      tf.dispose([xt, kt, bt, y]);
    });
  }
});

describe('ops/dense on tfjs-backend-wasm with its own kernels (keepTfjsKernels)', () => {
  afterAll(() => initBackend('wasm', { quiet: true }));

  it("denseWithAnyBias takes a bias of 2-D storage, which tfjs's own _FusedMatMul refuses", async () => {
    await initBackend('wasm', { quiet: true, keepTfjsKernels: true });
    const [x, kernel] = [matrix(2, 3, 90), matrix(3, 4, 91)];
    const bias = [1, 2, 3, 4];
    const [xt, kt, bt] = [tf.tensor2d(x), tf.tensor2d(kernel), tf.tensor2d([bias.slice(0, 2), bias.slice(2)])];
    const y = tf.tidy(() => denseWithAnyBias(xt, kt, bt.reshape([4])));
    expect(maxAbsDiff(y.arraySync(), dense(x, kernel, bias))).toBeLessThan(2e-6);
    tf.dispose([xt, kt, bt, y]);
  });
});
