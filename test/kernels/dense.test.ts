/**
 * The fused dense layer (src/kernels/dense.ts) against tfjs ops: activation(x W + b) and the
 * gradient of every input, for linear, relu and exact GELU, with and without a bias, a bias stored
 * 2-D, rows that are not whole 4-row tiles, more rows than one block of a product (the weights'
 * gradient sums over them); the same floats on one thread and two. Run with both arithmetics of
 * the kernels (jest.config.js).
 */
import * as tf from '@tensorflow/tfjs';
import { fusedDense, hasFusedDense, type DenseActivation } from '../../src/kernels/dense';
import { partsRunByWorkers, setCallerClaimsParts } from '../../src/kernels/threads';
import { describeEachBackend } from '../helpers/backends';
import { maxAbsDiff, seededTensor } from '../helpers/tensors';
import { useThreads } from '../helpers/threads';

/** The plain definition in tfjs ops. */
function reference(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | null, activation: DenseActivation): tf.Tensor {
  let z = tf.matMul(x as tf.Tensor2D, kernel as tf.Tensor2D);
  if (bias) z = z.add(bias.reshape([-1]));
  if (activation === 'relu') return tf.relu(z);
  if (activation === 'gelu') return z.mul(tf.erf(z.mul(Math.SQRT1_2)).add(1)).mul(0.5);
  return z;
}

/** The output, then the gradient of sum(output * weights) for x, the kernel and the bias. */
function valuesAndGradients(
  dense: typeof reference,
  [N, D, E]: number[],
  activation: DenseActivation,
  biasShape: number[] | null,
): Float32Array[] {
  return tf.tidy(() => {
    const [x, kernel, weights] = [seededTensor([N, D], 1), seededTensor([D, E], 2, 0.3), seededTensor([N, E], 3)];
    const bias = biasShape && seededTensor(biasShape, 4);
    const inputs = [x, kernel, ...(bias ? [bias] : [])];
    const { value, grads } = tf.valueAndGrads((...xs: tf.Tensor[]) =>
      dense(xs[0], xs[1], xs[2] ?? null, activation)
        .mul(weights)
        .sum(),
    )(inputs);
    const output = dense(x, kernel, bias, activation);
    return [output, value, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

/** Each of `ours` within 2e-5 of the matching one of `theirs`, relative to its largest magnitude (at least 1). */
function expectEachClose(ours: Float32Array[], theirs: Float32Array[]): void {
  ours.forEach((values, i) => {
    const largest = theirs[i].reduce((max, v) => Math.max(max, Math.abs(v)), 1);
    expect({ output: i, close: maxAbsDiff(values, theirs[i]) < 2e-5 * largest }).toEqual({
      output: i,
      close: true,
    });
  });
}

describeEachBackend('fused dense layer', (backend) => {
  const cases: Array<{ size: number[]; activation: DenseActivation; biasShape: number[] | null }> = [
    { size: [13, 8, 12], activation: 'linear', biasShape: [12] },
    { size: [6, 4, 8], activation: 'relu', biasShape: null },
    { size: [301, 64, 96], activation: 'relu', biasShape: [96] }, // in several parts on two threads
    { size: [21, 12, 16], activation: 'gelu', biasShape: [4, 4] }, // a [H, K] bias, reshaped
    { size: [301, 16, 20], activation: 'gelu', biasShape: [20] }, // dW sums over two blocks of rows
  ];
  for (const { size, activation, biasShape } of cases) {
    it(`${size.join(' x ')} ${activation}, bias ${biasShape ?? 'none'}: output and every gradient`, () => {
      const before = tf.memory().numTensors;
      expect(tf.tidy(() => hasFusedDense(seededTensor([2, size[1]], 0), seededTensor(size.slice(1), 0), null))).toBe(
        true,
      );
      const ours = valuesAndGradients(fusedDense, size, activation, biasShape);
      const theirs = valuesAndGradients(reference, size, activation, biasShape);
      expectEachClose(ours, theirs);
      // relu and GELU changed something: some outputs differ from the plain product.
      const plain = valuesAndGradients(reference, size, 'linear', biasShape)[0];
      if (activation !== 'linear') expect(maxAbsDiff(ours[0], plain)).toBeGreaterThan(0.01);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  // Several kernels side by side, with a bias each or none: the reference joins them in tensors.
  const joined = (k: number[]) => (xs: tf.Tensor[]) => [xs[0], tf.concat(xs.slice(1, 1 + k.length), 1)];
  const partCases: Array<{ size: number[]; widths: number[]; activation: DenseActivation; withBias: boolean }> = [
    { size: [13, 8], widths: [8, 4, 12], activation: 'linear', withBias: true },
    { size: [301, 16], widths: [4, 20], activation: 'gelu', withBias: true },
    { size: [6, 12], widths: [8, 8], activation: 'relu', withBias: false },
  ];
  for (const { size, widths, activation, withBias } of partCases) {
    const title = `${size.join(' x ')}, kernels ${widths.join(' + ')} side by side, ${activation}, bias ${withBias}`;
    it(`${title}: output and every gradient`, () => {
      const before = tf.memory().numTensors;
      const [N, D] = size;
      const parts = widths.length;
      const gradients = (dense: (xs: tf.Tensor[]) => tf.Tensor) =>
        tf.tidy(() => {
          const x = seededTensor([N, D], 1);
          const kernels = widths.map((w, p) => seededTensor([D, w], 2 + p, 0.3));
          const biases = withBias ? widths.map((w, p) => seededTensor([w], 7 + p)) : [];
          const weights = seededTensor([N, widths.reduce((a, b) => a + b)], 3);
          const { value, grads } = tf.valueAndGrads((...xs: tf.Tensor[]) => dense(xs).mul(weights).sum())([
            x,
            ...kernels,
            ...biases,
          ]);
          return [dense([x, ...kernels, ...biases]), value, ...grads].map((t) => t.dataSync() as Float32Array);
        });
      const ours = gradients((xs) =>
        fusedDense(xs[0], xs.slice(1, 1 + parts), withBias ? xs.slice(1 + parts) : null, activation),
      );
      const theirs = gradients((xs) => {
        const [x, kernel] = joined(widths)(xs);
        return reference(x, kernel, withBias ? tf.concat(xs.slice(1 + parts), 0) : null, activation);
      });
      expect(ours.length).toBe(theirs.length);
      expectEachClose(ours, theirs);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  // Operands of other shapes, read as 2-D without a reshape: the reference reshapes them for the
  // plain product; every gradient must come back in its input's own shape.
  const shapeCases: Array<{
    title: string;
    x: number[];
    kernels: number[][];
    biases: number[][] | null;
    inner: number;
  }> = [
    { title: 'x (B, T, D) by (D, E)', x: [3, 7, 8], kernels: [[8, 12]], biases: [[12]], inner: 1 },
    { title: 'x (B, T, D) by (D, H, K), bias (H, K)', x: [2, 5, 8], kernels: [[8, 2, 4]], biases: [[2, 4]], inner: 1 },
    {
      title: 'x (B, T, D) by (D, H, K) and (D, E) side by side',
      x: [2, 9, 12],
      kernels: [
        [12, 3, 4],
        [12, 8],
      ],
      biases: [[3, 4], [8]],
      inner: 1,
    },
    {
      title: 'x (B, T, H, V) by (H, V, E), two inner axes',
      x: [2, 6, 2, 4],
      kernels: [[2, 4, 12]],
      biases: [[12]],
      inner: 2,
    },
    { title: 'x (N, D) by (D, H, K), no bias', x: [301, 16], kernels: [[16, 5, 4]], biases: null, inner: 1 },
  ];
  for (const { title, x: xShape, kernels: kernelShapes, biases: biasShapes, inner } of shapeCases) {
    it(`${title}: output and every gradient, in their inputs' shapes`, () => {
      const before = tf.memory().numTensors;
      const D = tf.util.sizeFromShape(xShape.slice(xShape.length - inner));
      const lead = xShape.slice(0, xShape.length - inner);
      const widths = kernelShapes.map((shape) => tf.util.sizeFromShape(shape.slice(inner)));
      const run = (dense: (xs: tf.Tensor[]) => tf.Tensor) =>
        tf.tidy(() => {
          const x = seededTensor(xShape, 1);
          const kernels = kernelShapes.map((shape, p) => seededTensor(shape, 2 + p, 0.3));
          const biases = (biasShapes ?? []).map((shape, p) => seededTensor(shape, 7 + p));
          const weights = seededTensor([...lead, widths.reduce((a, b) => a + b)], 3);
          const inputs = [x, ...kernels, ...biases];
          const { value, grads } = tf.valueAndGrads((...xs: tf.Tensor[]) => dense(xs).mul(weights).sum())(inputs);
          const output = dense(inputs);
          return {
            shapes: [output, ...grads].map((t) => t.shape),
            values: [output, value, ...grads].map((t) => t.dataSync() as Float32Array),
          };
        });
      const parts = kernelShapes.length;
      const ours = run((xs) =>
        fusedDense(xs[0], xs.slice(1, 1 + parts), biasShapes ? xs.slice(1 + parts) : null, 'gelu', inner),
      );
      const theirs = run((xs) => {
        const rows = xs[0].reshape([-1, D]);
        const kernel = tf.concat(
          xs.slice(1, 1 + parts).map((k) => k.reshape([D, -1])),
          1,
        );
        const bias = biasShapes
          ? tf.concat(
              xs.slice(1 + parts).map((b) => b.reshape([-1])),
              0,
            )
          : null;
        return reference(rows, kernel, bias, 'gelu').reshape([...lead, -1]);
      });
      expect(ours.shapes).toEqual([
        [...lead, widths.reduce((a, b) => a + b)],
        xShape,
        ...kernelShapes,
        ...(biasShapes ?? []),
      ]);
      expect(ours.shapes).toEqual(theirs.shapes);
      expectEachClose(ours.values, theirs.values);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('is fused for widths that are whole SIMD vectors, and only those', () => {
    const fused = (D: number, E: number) =>
      tf.tidy(() => hasFusedDense(seededTensor([3, D], 1), seededTensor([D, E], 2), null));
    expect([fused(8, 8), fused(6, 8), fused(8, 5)]).toEqual([true, false, false]);
  });

  it('is fused for float32 operands that fit together, with kernels side by side, and only those', () => {
    const cases = tf.tidy(() => {
      const x = seededTensor([3, 8], 1);
      const k = (D: number, E: number) => seededTensor([D, E], 2);
      const b = (E: number) => seededTensor([E], 3);
      const fused = (...args: Parameters<typeof hasFusedDense>) => hasFusedDense(...args);
      return {
        one: fused(x, k(8, 4), b(4)),
        sideBySide: fused(x, [k(8, 4), k(8, 12)], [b(4), b(12)]),
        sideBySideNoBias: fused(x, [k(8, 4), k(8, 12)], null),
        biasStored2d: fused(x, k(8, 4), seededTensor([2, 2], 3)),
        xRank3: fused(seededTensor([3, 5, 8], 1), k(8, 4), null),
        xRank3LastNotD: fused(seededTensor([3, 8, 5], 1), k(8, 4), null),
        xWidthNotD: fused(seededTensor([3, 12], 1), k(8, 4), null),
        kernelRank3: fused(x, seededTensor([8, 4, 2], 2), seededTensor([4, 2], 3)), // (8, 8) columns
        kernelRank3NotWholeVectors: fused(x, seededTensor([8, 3, 2], 2), null), // 6 columns
        kernelRank1: fused(x, seededTensor([8], 2), null),
        twoInnerAxes: fused(seededTensor([3, 2, 4], 1), seededTensor([2, 4, 4], 2), null, 2),
        twoInnerAxesOtherOrder: fused(seededTensor([3, 4, 2], 1), seededTensor([2, 4, 4], 2), null, 2),
        twoInnerAxesXRank2: fused(seededTensor([2, 4], 1), seededTensor([2, 4, 4], 2), null, 2),
        aPartOtherD: fused(x, [k(8, 4), k(12, 4)], null),
        aPartNotWholeVectors: fused(x, [k(8, 4), k(8, 6)], null),
        fewerBiases: fused(x, [k(8, 4), k(8, 4)], [b(4)]),
        aBiasOtherSize: fused(x, [k(8, 4), k(8, 8)], [b(4), b(4)]),
        biasOtherSize: fused(x, k(8, 4), b(8)),
        int32X: fused(x.cast('int32'), k(8, 4), null),
        int32Kernel: fused(x, [k(8, 4), k(8, 4).cast('int32')], null),
        int32Bias: fused(x, k(8, 4), b(4).cast('int32')),
      };
    });
    expect(cases).toEqual({
      one: true,
      sideBySide: true,
      sideBySideNoBias: true,
      biasStored2d: true,
      xRank3: true,
      xRank3LastNotD: false,
      xWidthNotD: false,
      kernelRank3: true,
      kernelRank3NotWholeVectors: false,
      kernelRank1: false,
      twoInnerAxes: true,
      twoInnerAxesOtherOrder: false,
      twoInnerAxesXRank2: false,
      aPartOtherD: false,
      aPartNotWholeVectors: false,
      fewerBiases: false,
      aBiasOtherSize: false,
      biasOtherSize: false,
      int32X: false,
      int32Kernel: false,
      int32Bias: false,
    });
  });

  it('leaves no tensor behind, with a tape and without', () => {
    const [x, kernel, bias] = [seededTensor([5, 8], 1), seededTensor([8, 12], 2), seededTensor([12], 3)];
    for (const activation of ['linear', 'relu', 'gelu'] as const) {
      const before = tf.memory().numTensors;
      fusedDense(x, kernel, bias, activation).dispose();
      fusedDense(x, [kernel, kernel], null, activation).dispose();
      const variable = tf.variable(kernel);
      const { value, grads } = tf.variableGrads(
        () => fusedDense(x, variable, bias, activation).sum() as tf.Scalar,
        [variable],
      );
      tf.dispose([value, ...Object.values(grads), variable]);
      expect({ activation, leaked: tf.memory().numTensors - before }).toEqual({ activation, leaked: 0 });
    }
    tf.dispose([x, kernel, bias]);
  });

  it('runs as one kernel each way, named as tf.profile shows them', async () => {
    const [x, kernel] = [seededTensor([5, 8], 1), tf.variable(seededTensor([8, 12], 2))];
    const { kernelNames } = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(() => fusedDense(x, kernel, null, 'gelu').sum() as tf.Scalar, [kernel]);
      tf.dispose([value, ...Object.values(grads)]);
    });
    expect(kernelNames.filter((name) => name.startsWith('TfjsAttention'))).toEqual([
      'TfjsAttentionDense',
      'TfjsAttentionDenseGrad',
    ]);
    // The forward gives GELU's input too only under a tape, for the gradient, and only for GELU.
    const forwardOutputs = async (activation: DenseActivation, tape: boolean) => {
      const { kernels } = await tf.profile(() => {
        if (!tape) return fusedDense(x, kernel, null, activation).dispose();
        const { value, grads } = tf.variableGrads(
          () => fusedDense(x, kernel, null, activation).sum() as tf.Scalar,
          [kernel],
        );
        tf.dispose([value, ...Object.values(grads)]);
      });
      return kernels.filter((k) => k.name === 'TfjsAttentionDense').map((k) => k.outputShapes.length);
    };
    expect(await forwardOutputs('gelu', false)).toEqual([1]);
    expect(await forwardOutputs('gelu', true)).toEqual([2]);
    expect(await forwardOutputs('linear', true)).toEqual([1]);
    expect(await forwardOutputs('relu', true)).toEqual([1]);
    tf.dispose([x, kernel]);
  });

  it('gives the same floats on one thread and on two', async () => {
    const size = [517, 64, 96];
    await useThreads(1);
    const one = valuesAndGradients(fusedDense, size, 'gelu', [96]);
    await useThreads(2);
    const shared = valuesAndGradients(fusedDense, size, 'gelu', [96]);
    // Then every part on the worker: the test does not depend on the scheduler handing it one.
    const before = partsRunByWorkers();
    setCallerClaimsParts(false);
    let onWorker: Float32Array[];
    try {
      onWorker = valuesAndGradients(fusedDense, size, 'gelu', [96]);
    } finally {
      setCallerClaimsParts(true);
    }
    if (backend === 'wasm') expect(partsRunByWorkers()).toBeGreaterThan(before);
    for (const two of [shared, onWorker]) two.forEach((values, i) => expect(maxAbsDiff(values, one[i])).toBe(0));
  });

  it('gives the same floats on one thread and on two with kernels side by side', async () => {
    const sideBySide = () =>
      tf.tidy(() => {
        const x = seededTensor([517, 64], 1);
        const kernels = [32, 64, 96].map((w, p) => seededTensor([64, w], 2 + p, 0.3));
        const biases = [32, 64, 96].map((w, p) => seededTensor([w], 7 + p));
        const { value, grads } = tf.valueAndGrads((...xs: tf.Tensor[]) =>
          fusedDense(xs[0], xs.slice(1, 4), xs.slice(4), 'linear').square().sum(),
        )([x, ...kernels, ...biases]);
        return [value, ...grads].map((t) => t.dataSync() as Float32Array);
      });
    await useThreads(1);
    const one = sideBySide();
    await useThreads(2);
    const before = partsRunByWorkers();
    // Every part on the worker: the test does not depend on the scheduler handing it one.
    setCallerClaimsParts(false);
    let two: Float32Array[];
    try {
      two = sideBySide();
    } finally {
      setCallerClaimsParts(true);
    }
    if (backend === 'wasm') expect(partsRunByWorkers()).toBeGreaterThan(before);
    expect(two.length).toBe(8); // the loss, then the gradients of x, three kernels and three biases
    two.forEach((values, i) => expect(maxAbsDiff(values, one[i])).toBe(0));
  });
});
