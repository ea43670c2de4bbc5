/**
 * src/ops/rows.ts, the typed-array ops of decoding, against float64 plain loops: every activation
 * (Keras's formulas) and softmax by rows, dense rows with and without a bias and with activations in
 * and out of the product's epilogue, layer normalization, adds, and attention from one or two
 * sources with masks of every broadcast shape and a key prefix. No tfjs: these run on arrays.
 */
import {
  activateRows,
  addRows,
  attentionRows,
  type AttentionRowsArgs,
  denseRows,
  hasRowOps,
  layerNormRows,
  ROW_ACTIVATIONS,
  softmaxRows,
} from '../../src/ops/rows';
import { ACTIVATION_INPUTS, ACTIVATION_REFERENCE, closeToFloat32 } from '../helpers/activation_reference';
import { dense, layerNorm } from '../helpers/block_reference';
import { reference, type Rows, seededRows } from '../helpers/heads_reference';
import { maxAbsDiff } from '../helpers/tensors';
import { seededValues } from '../layers/attention_reference';

const rowsOf = (values: ArrayLike<number>, width: number): number[][] =>
  Array.from({ length: values.length / width }, (_r, r) => Array.from(values).slice(r * width, (r + 1) * width));

describe('row ops', () => {
  it('run here (WebAssembly SIMD)', () => {
    expect(hasRowOps()).toBe(true);
  });

  it("take Keras's activation names and 'softmax'", () => {
    expect(ROW_ACTIVATIONS).toEqual([...Object.keys(ACTIVATION_REFERENCE), 'softmax']);
  });

  it.each(Object.keys(ACTIVATION_REFERENCE))("activateRows '%s' equals its formula, in place", (name) => {
    const x = Float32Array.from(ACTIVATION_INPUTS);
    expect(activateRows(x, 3, name)).toBe(x);
    const expected = ACTIVATION_INPUTS.map(ACTIVATION_REFERENCE[name]);
    // On a mismatch the message shows both lists.
    expect(closeToFloat32(x, expected) ? expected : Array.from(x)).toEqual(expected);
  });

  it("activateRows refuses an unknown name (Object's own properties too), listing the known ones", () => {
    const x = new Float32Array(3);
    expect(() => activateRows(x, 3, 'Relu')).toThrow(
      "activateRows: unknown activation 'Relu'; expected one of " +
        'linear,relu,gelu,tanh,sigmoid,silu,swish,softplus,elu,selu,softmax',
    );
    expect(() => activateRows(x, 3, 'toString')).toThrow("unknown activation 'toString'");
    expect(() => activateRows(x, 3, 'constructor')).toThrow("unknown activation 'constructor'");
  });

  it("softmax by rows of 3 (and activateRows 'softmax'), large scores without overflow", () => {
    const x = [1, 2, 3, 1000, 1001, 999, -5, -5, -5, 0.5, -1e9, 2];
    const expected = rowsOf(x, 3).flatMap((row) => {
      const max = Math.max(...row);
      const e = row.map((v) => Math.exp(v - max));
      return e.map((v) => v / e.reduce((a, b) => a + b, 0));
    });
    const y = Float32Array.from(x);
    expect(softmaxRows(y, 3)).toBe(y);
    expect(maxAbsDiff(y, expected)).toBeLessThan(1e-7);
    const z = Float32Array.from(x);
    expect(activateRows(z, 3, 'softmax')).toBe(z);
    expect(Array.from(z)).toEqual(Array.from(y));
  });

  for (const activation of ['linear', 'relu', 'gelu', 'tanh', 'softmax']) {
    for (const withBias of [true, false]) {
      it(`denseRows 5 -> 3, ${activation}, ${withBias ? 'bias' : 'no bias'}`, () => {
        const [M, K, N] = [4, 5, 3];
        const x = seededValues(M * K, 60).map(Math.fround);
        const kernel = seededValues(K * N, 61).map(Math.fround);
        const bias = withBias ? seededValues(N, 62).map(Math.fround) : null;
        const y = denseRows(
          Float32Array.from(x),
          { kernel: Float32Array.from(kernel), bias: bias ? Float32Array.from(bias) : null, inputDim: K, outputDim: N },
          activation,
        );
        const z = dense(rowsOf(x, K), rowsOf(kernel, N), bias);
        const expected =
          activation === 'softmax'
            ? z.map((row) => row.map((v) => Math.exp(v) / row.reduce((s, u) => s + Math.exp(u), 0)))
            : z.map((row) => row.map(ACTIVATION_REFERENCE[activation]));
        expect(y.length).toBe(M * N);
        expect(maxAbsDiff(y, expected.flat())).toBeLessThan(2e-6);
      });
    }
  }

  it('denseRows without an activation is linear', () => {
    const y = denseRows(Float32Array.from([1, -2]), {
      kernel: Float32Array.from([3, -1]),
      bias: null,
      inputDim: 2,
      outputDim: 1,
    });
    expect(Array.from(y)).toEqual([5]);
  });

  it("layerNormRows: each row of gamma's width normalized, epsilon in the variance", () => {
    const [rows, width, epsilon] = [3, 8, 0.5];
    const x = seededValues(rows * width, 70).map((v, i) => Math.fround(3 * v + (i % 5)));
    const gamma = seededValues(width, 71).map((v) => Math.fround(v + 1));
    const beta = seededValues(width, 72).map(Math.fround);
    const y = layerNormRows(Float32Array.from(x), Float32Array.from(gamma), Float32Array.from(beta), epsilon);
    expect(maxAbsDiff(y, layerNorm(rowsOf(x, width), { gamma, beta }, epsilon).flat())).toBeLessThan(2e-6);
  });

  it('addRows adds elementwise into a new array', () => {
    const [a, b] = [Float32Array.from([1, 2, -3]), Float32Array.from([0.5, -2, 4])];
    const sum = addRows(a, b);
    expect(Array.from(sum)).toEqual([1.5, 0, 1]);
    expect(Array.from(a)).toEqual([1, 2, -3]);
  });

  // B 2, H 2, K = V = 4; queries T 3; keys read: the first 4 of 6 rows.
  const [B, H, K, V, T, keyLength] = [2, 2, 4, 4, 3, 4];
  const flat = (rows: Rows) => Float32Array.from(rows.flat(2));

  it('attentionRows: queries from one source, keys and values from another, a key prefix, every mask shape', () => {
    const queries = seededRows(B, T, 1 + H * K, 80);
    const keysAndValues = seededRows(B, 6, H * V + H * K, 81);
    const layout = {
      query: { source: 0 as const, offset: 1 },
      key: { source: 1 as const, offset: H * V },
      value: { source: 1 as const, offset: 0 },
    };
    const masks: Array<{ shape: [number, number, number]; at: ((b: number, t: number, s: number) => number) | null }> =
      [
        { shape: [1, 1, 1], at: null },
        { shape: [B, T, keyLength], at: (b, t, s) => (s <= t + b ? 1 : 0) },
        { shape: [1, T, keyLength], at: (_b, t, s) => (s !== t ? 1 : 0) },
        { shape: [B, 1, keyLength], at: (b, _t, s) => (s !== b + 1 ? 1 : 0) },
      ];
    for (const { shape, at } of masks) {
      const values: number[] = [];
      if (at)
        for (let b = 0; b < shape[0]; b++)
          for (let t = 0; t < shape[1]; t++) for (let s = 0; s < shape[2]; s++) values.push(at(b, t, s));
      const args: AttentionRowsArgs = {
        sources: [flat(queries), flat(keysAndValues)],
        shapes: [
          [B, T, 1 + H * K],
          [B, 6, H * V + H * K],
        ],
        ...layout,
        numHeads: H,
        keyDim: K,
        valueDim: V,
        scale: 0.7,
        keyLength,
        mask: at ? { values: Float32Array.from(values), shape } : null,
      };
      const expected = reference({
        sources: [queries, keysAndValues],
        ...layout,
        H,
        K,
        V,
        scale: 0.7,
        keyLength,
        mask: at ? (b, _h, t, s) => at(shape[0] === 1 ? 0 : b, shape[1] === 1 ? 0 : t, s) : null,
      });
      expect(maxAbsDiff(attentionRows(args), expected.context.flat(3))).toBeLessThan(2e-6);
    }
  });

  it('attentionRows: self-attention from one source', () => {
    const source = seededRows(1, T, 3 * H * K, 82);
    const layout = {
      query: { source: 0 as const, offset: 0 },
      key: { source: 0 as const, offset: H * K },
      value: { source: 0 as const, offset: 2 * H * K },
    };
    const y = attentionRows({
      sources: [flat(source)],
      shapes: [[1, T, 3 * H * K]],
      ...layout,
      numHeads: H,
      keyDim: K,
      valueDim: V,
      scale: 0.5,
      keyLength: T,
      mask: null,
    });
    const expected = reference({ sources: [source], ...layout, H, K, V, scale: 0.5, mask: null });
    expect(maxAbsDiff(y, expected.context.flat(3))).toBeLessThan(2e-6);
  });
});
