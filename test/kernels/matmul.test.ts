/**
 * The wasm backend's matrix products as `initBackend` installs them (src/kernels/matmul.ts)
 * against the cpu backend's: every transpose combination, widths that are not whole SIMD vectors,
 * more columns than one panel, more rows of the right operand than one block, rows not a multiple
 * of the product's row block (productRowBlock), _FusedMatMul's bias and relu, and the products
 * left to tfjs (batched, other activations); no tensor left behind.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import {
  EPILOGUE_ACTIVATIONS,
  epilogueActivation,
  inRowBlocks,
  matMulInto,
  matMulOnWasm,
  productRows,
  type EpilogueActivation,
} from '../../src/kernels/matmul';
import {
  allocateResident,
  freeResident,
  identify,
  keptCopyCount,
  productRowBlock,
  setKeptRingFloats,
  simdKernels,
  stage,
  type ResidentBlock,
} from '../../src/kernels/simd_kernels';
import { partsRunByWorkers, setCallerClaimsParts } from '../../src/kernels/threads';
import { seededValues } from '../layers/attention_reference';
import { gelu as exactGelu } from '../helpers/block_reference';
import { maxAbsDiff } from '../helpers/tensors';
import { useThreads } from '../helpers/threads';
import { watchPastReserved } from '../helpers/past_reserved';

const values = (size: number, seed: number) => Array.from({ length: size }, (_v, i) => Math.sin(seed + i * 0.37));

/** Runs `fn` on a backend and returns its output's values, checking that nothing leaked. */
async function on(backend: 'cpu' | 'wasm', fn: () => tf.Tensor): Promise<Float32Array> {
  await initBackend(backend, { quiet: true });
  const before = tf.memory().numTensors;
  const out = tf.tidy(fn);
  const data = out.dataSync() as Float32Array;
  out.dispose();
  expect(tf.memory().numTensors).toBe(before);
  return data;
}

describe('matrix products on wasm (SIMD) against cpu', () => {
  const cases: Array<{ M: number; K: number; N: number; tA: boolean; tB: boolean }> = [
    { M: 13, K: 16, N: 13, tA: false, tB: false }, // N not whole vectors, M not whole tiles
    { M: 9, K: 7, N: 300, tA: true, tB: false }, // more columns than a panel of 256
    { M: 5, K: 11, N: 6, tA: false, tB: true },
    { M: 6, K: 5, N: 8, tA: true, tB: true },
    { M: 64, K: 64, N: 192, tA: false, tB: false },
    { M: 37, K: 600, N: 21, tA: true, tB: false }, // K over two blocks of 256 rows, and a part
    { M: 10, K: 300, N: 5, tA: false, tB: true },
  ];
  for (const { M, K, N, tA, tB } of cases) {
    it(`${M}x${K} by ${K}x${N}${tA ? ', A transposed' : ''}${tB ? ', B transposed' : ''}`, async () => {
      const a = () => tf.tensor2d(values(M * K, 1), tA ? [K, M] : [M, K]);
      const b = () => tf.tensor2d(values(K * N, 2), tB ? [N, K] : [K, N]);
      const bias = () => tf.tensor1d(values(N, 3));
      const plain = () => tf.matMul(a(), b(), tA, tB);
      const fused = () =>
        tf.fused.matMul({ a: a(), b: b(), transposeA: tA, transposeB: tB, bias: bias(), activation: 'relu' });
      for (const product of [plain, fused]) {
        const expected = await on('cpu', product);
        const actual = await on('wasm', product);
        expect(actual.length).toBe(M * N);
        // float32's rounding, relative to the largest value (sums of up to 600 products).
        const largest = expected.reduce((max, v) => Math.max(max, Math.abs(v)), 1);
        expect(maxAbsDiff(actual, expected)).toBeLessThan(1e-5 * largest);
      }
      // relu left zeros and positives: both present, so the check above compared real values.
      const relu = await on('wasm', fused);
      expect(relu.some((v) => v === 0) && relu.some((v) => v > 0.1)).toBe(true);
    });
  }

  it('leaves batched products and other activations to tfjs, with the same values', async () => {
    const batched = () =>
      tf.matMul(tf.tensor3d(values(2 * 3 * 4, 4), [2, 3, 4]), tf.tensor3d(values(2 * 4 * 5, 5), [2, 4, 5]));
    const elu = () =>
      tf.fused.matMul({
        a: tf.tensor2d(values(12, 6), [3, 4]),
        b: tf.tensor2d(values(20, 7), [4, 5]),
        activation: 'elu',
      });
    for (const product of [batched, elu]) {
      expect(maxAbsDiff(await on('wasm', product), await on('cpu', product))).toBeLessThan(1e-5);
    }
  });

  it('matMulInto: a hand-computed product with bias', () => {
    const out = new Float32Array(4);
    // [[1, 2], [3, 4]] x [[5, 6], [7, 8]] + [1, -100] = [[20, -78], [44, -50]], then relu.
    const args = { M: 2, K: 2, N: 2, transposeA: false, transposeB: false };
    const a = Float32Array.from([1, 2, 3, 4]);
    const b = Float32Array.from([5, 6, 7, 8]);
    matMulInto({ ...args, a, b, bias: Float32Array.from([1, -100]), activation: 'linear' }, out);
    expect(Array.from(out)).toEqual([20, -78, 44, -50]);
    matMulInto({ ...args, a, b, bias: Float32Array.from([1, -100]), activation: 'relu' }, out);
    expect(Array.from(out)).toEqual([20, 0, 44, 0]);
  });
});

/** Row-major (rows, cols) values of seeded floats in [-1, 1). */
const seeded = (count: number, seed: number) => Float32Array.from(seededValues(count, seed));

interface Shape {
  M: number;
  K: number;
  N: number;
  transposeA: boolean;
  transposeB: boolean;
}

/**
 * activation(op(a) op(b) + bias) and op(a) op(b) + bias in float64 loops, b given as (K, N_p)
 * matrices side by side (or one, transposed when transposeB), the bias as their (N_p) parts.
 */
function reference(
  a: Float32Array,
  bParts: Float32Array[],
  biasParts: Float32Array[],
  { M, K, N, transposeA, transposeB }: Shape,
  activation: EpilogueActivation,
): { out: number[]; pre: number[] } {
  const columns: Array<[Float32Array, number, number]> = []; // (part, its width, column in it)
  for (const part of bParts) {
    const width = transposeB ? N : part.length / K;
    for (let c = 0; c < width; c++) columns.push([part, width, c]);
  }
  const bias = biasParts.flatMap((part) => Array.from(part));
  const [out, pre]: number[][] = [[], []];
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      const [part, width, c] = columns[n];
      let sum = bias.length > 0 ? bias[n] : 0;
      for (let k = 0; k < K; k++)
        sum += (transposeA ? a[k * M + m] : a[m * K + k]) * (transposeB ? part[c * K + k] : part[k * width + c]);
      pre.push(sum);
      out.push(activation === 'relu' ? Math.max(0, sum) : activation === 'gelu' ? exactGelu(sum) : sum);
    }
  }
  return { out, pre };
}

/** The largest difference relative to the largest value (at least 1). */
const relativeError = (actual: ArrayLike<number>, expected: number[]) =>
  maxAbsDiff(actual, expected) / expected.reduce((max, v) => Math.max(max, Math.abs(v)), 1);

describe('matMulInto against float64 loops', () => {
  let resident: ResidentBlock | null = null;
  let watch: ReturnType<typeof watchPastReserved>;
  // Run on wasm with two threads, every part left to the worker, after a resident block: staged
  // regions then start away from float 0, where an address bug multiplying or dividing shows.
  // No call writes past the memory staged for it (a bias joined or an output compacted there).
  beforeEach(async () => {
    await initBackend('wasm', { quiet: true });
    await useThreads(2);
    setKeptRingFloats(1 << 16);
    resident = allocateResident(1000);
    setCallerClaimsParts(false);
    watch = watchPastReserved();
  });
  afterEach(() => {
    expect(watch.stop()).toEqual([]);
    setCallerClaimsParts(true);
    if (resident) freeResident(resident);
    setKeptRingFloats();
  });

  const cases: Array<Shape & { activation: EpilogueActivation; bias: boolean; parts: boolean }> = [
    // A part for each row block (over 2^18 multiply-adds a block; 4 or 6 rows, productRowBlock), two
    // panels of 256 columns, two blocks of K.
    { M: 13, K: 300, N: 301, transposeA: true, transposeB: false, activation: 'linear', bias: true, parts: true },
    { M: 11, K: 270, N: 262, transposeA: false, transposeB: true, activation: 'relu', bias: true, parts: true },
    { M: 14, K: 280, N: 256, transposeA: false, transposeB: false, activation: 'gelu', bias: false, parts: true },
    { M: 9, K: 7, N: 10, transposeA: true, transposeB: true, activation: 'gelu', bias: true, parts: false },
    { M: 5, K: 3, N: 9, transposeA: false, transposeB: true, activation: 'relu', bias: false, parts: false },
    { M: 7, K: 5, N: 8, transposeA: false, transposeB: false, activation: 'gelu', bias: true, parts: false },
  ];
  for (const { activation, bias, parts, ...shape } of cases) {
    const { M, K, N, transposeA, transposeB } = shape;
    const transposed = `${transposeA ? ', A transposed' : ''}${transposeB ? ', B transposed' : ''}`;
    it(`${M}x${K} by ${K}x${N}${transposed}, ${activation}${bias ? ', bias' : ''}`, () => {
      const a = seeded(M * K, 1);
      const b = seeded(K * N, 2);
      const biasValues = bias ? seeded(N, 3) : null;
      const expected = reference(a, [b], biasValues ? [biasValues] : [], shape, activation);
      const [out, pre] = [new Float32Array(M * N), new Float32Array(M * N).fill(7)];
      const before = partsRunByWorkers();
      matMulInto({ ...shape, a, b, bias: biasValues, activation }, out, pre);
      expect(partsRunByWorkers() - before).toBe(parts ? Math.ceil(M / productRowBlock()) : 0);
      expect(relativeError(out, expected.out)).toBeLessThan(1e-5);
      // GELU's input is given back; other activations leave the array alone.
      if (activation === 'gelu') expect(relativeError(pre, expected.pre)).toBeLessThan(1e-5);
      else expect(pre.every((v) => v === 7)).toBe(true);
      // The activation changed values, and the bias was added (the product alone differs).
      if (activation !== 'linear') expect(maxAbsDiff(expected.out, expected.pre)).toBeGreaterThan(0.01);
      if (bias) expect(maxAbsDiff(expected.pre, reference(a, [b], [], shape, 'linear').pre)).toBeGreaterThan(0.01);
    });
  }

  it('GELU without its input asked for', () => {
    const shape = { M: 6, K: 5, N: 7, transposeA: false, transposeB: false };
    const [a, b, bias] = [seeded(30, 4), seeded(35, 5), seeded(7, 6)];
    const out = new Float32Array(42);
    matMulInto({ ...shape, a, b, bias, activation: 'gelu' }, out);
    expect(relativeError(out, reference(a, [b], [bias], shape, 'gelu').out)).toBeLessThan(1e-5);
  });

  // Weights kept from the third call on (simd_kernels.ts's `kept`): each call's values, and what
  // the ring holds. Arrays with a data id (`identify`), as tensors' are.
  const keptCases = [
    { name: 'one kernel and bias', widths: [12], copies: 2 },
    { name: 'three kernels side by side, with their biases', widths: [8, 4, 12], copies: 2 },
  ];
  for (const { name, widths, copies } of keptCases) {
    it(`keeps ${name} from the third call, with the same values`, () => {
      // Once after the resident block, once with the ring the first block (its copies from float 0).
      for (const residentBefore of [true, false]) {
        if (!residentBefore && resident) {
          freeResident(resident);
          resident = null;
        }
        setKeptRingFloats(1 << 16);
        keepsFromTheThirdCall(widths, copies);
      }
    });
  }

  function keepsFromTheThirdCall(widths: number[], copies: number): void {
    {
      const shape = { M: 9, K: 6, N: widths.reduce((s, w) => s + w, 0), transposeA: false, transposeB: false };
      const bParts = widths.map((w, i) => identify(seeded(shape.K * w, 10 + i), {}));
      const biasParts = widths.map((w, i) => identify(seeded(w, 20 + i), {}));
      const expected = reference(seeded(shape.M * shape.K, 7), bParts, biasParts, shape, 'relu').out;
      for (let call = 1; call <= 4; call++) {
        // A new input each call (as a layer's activations), the same weights.
        const a = identify(seeded(shape.M * shape.K, 7), {});
        const out = new Float32Array(shape.M * shape.N);
        const b = widths.length === 1 ? bParts[0] : bParts;
        const bias = widths.length === 1 ? biasParts[0] : biasParts;
        matMulInto({ ...shape, a, b, bias, activation: 'relu', keepWeights: true }, out);
        expect({ call, error: relativeError(out, expected) < 1e-5 }).toEqual({ call, error: true });
        expect({ call, copies: keptCopyCount() }).toEqual({ call, copies: call >= 3 ? copies : 0 });
      }
    }
  }

  it('joins kernels side by side in scratch when they cannot be kept (no data id)', () => {
    const shape = { M: 5, K: 4, N: 16, transposeA: true, transposeB: false };
    const bParts = [seeded(16, 30), seeded(32, 31), seeded(16, 32)];
    const biasParts = [seeded(4, 33), seeded(8, 34), seeded(4, 35)];
    const a = seeded(20, 36);
    for (const bias of [biasParts, null]) {
      const out = new Float32Array(80);
      matMulInto({ ...shape, a, b: bParts, bias, activation: 'linear' }, out);
      expect(relativeError(out, reference(a, bParts, bias ?? [], shape, 'linear').out)).toBeLessThan(1e-5);
    }
    expect(keptCopyCount()).toBe(0);
  });

  // The next call finds a tensor the previous one gave out where it left it (`stage`), and places
  // its own regions after the previous call's: an output held outside the call's regions would be
  // overwritten before it is read. Outputs of 64 x 30 floats (compacted from 64 x 32).
  for (const read of ['out', 'preActivation'] as const) {
    it(`the next call reads the previous call's ${read} in place (not whole vectors wide)`, () => {
      const first = { M: 64, K: 8, N: 30, transposeA: false, transposeB: false };
      const [a, b, c] = [seeded(64 * 8, 80), seeded(8 * 30, 81), seeded(30 * 12, 82)];
      const out = identify(new Float32Array(64 * 30), {});
      const pre = identify(new Float32Array(64 * 30), {});
      matMulInto({ ...first, a, b, bias: null, activation: 'gelu' }, out, pre);
      const expected = reference(a, [b], [], first, 'gelu');
      const next = { M: 64, K: 30, N: 12, transposeA: false, transposeB: false };
      const result = new Float32Array(64 * 12);
      matMulInto({ ...next, a: read === 'out' ? out : pre, b: c, bias: null, activation: 'linear' }, result);
      const input = Float32Array.from(read === 'out' ? expected.out : expected.pre);
      expect(relativeError(result, reference(input, [c], [], next, 'linear').out)).toBeLessThan(1e-5);
    });
  }

  it('kernels side by side joined in scratch, in several parts: each part reads them whole', () => {
    // 13 rows, a part for each row block (each row 300 x 256 multiply-adds): 4 parts, or 3 of 6 rows.
    const shape = { M: 13, K: 300, N: 256, transposeA: false, transposeB: false };
    const bParts = [seeded(300 * 128, 90), seeded(300 * 128, 91)];
    const a = seeded(13 * 300, 92);
    const out = new Float32Array(13 * 256);
    const before = partsRunByWorkers();
    matMulInto({ ...shape, a, b: bParts, bias: null, activation: 'linear' }, out);
    expect(partsRunByWorkers() - before).toBe(Math.ceil(13 / productRowBlock()));
    expect(relativeError(out, reference(a, bParts, [], shape, 'linear').out)).toBeLessThan(1e-5);
  });

  it('a kernel to keep that is not whole vectors wide, or transposed, is staged instead', () => {
    for (const transposeB of [false, true]) {
      const shape = { M: 5, K: 4, N: transposeB ? 8 : 6, transposeA: false, transposeB };
      const b = identify(seeded(shape.K * shape.N, 40), {});
      const bias = identify(seeded(shape.N, 41), {});
      const a = seeded(20, 42);
      for (let call = 1; call <= 3; call++) {
        const out = new Float32Array(shape.M * shape.N);
        matMulInto({ ...shape, a, b, bias, activation: 'linear', keepWeights: true }, out);
        expect(relativeError(out, reference(a, [b], [bias], shape, 'linear').out)).toBeLessThan(1e-5);
      }
    }
    expect(keptCopyCount()).toBe(0);
  });

  it('refuses kernels side by side that are not whole vectors wide, or transposed', () => {
    const message = 'matMulInto: joined matrices must be whole vectors wide, untransposed';
    const args = { a: seeded(8, 1), bias: null, M: 2, K: 4, activation: 'linear' as const };
    const run = (N: number, transposeB: boolean, widths: number[]) => () =>
      matMulInto(
        { ...args, N, transposeA: false, transposeB, b: widths.map((w) => seeded(4 * w, 2)) },
        new Float32Array(2 * N),
      );
    expect(run(6, false, [4, 2])).toThrow(message);
    expect(run(8, true, [4, 4])).toThrow(message);
  });

  it('productRows adds to the product there when asked to accumulate', () => {
    const [M, K, N4] = [5, 3, 8];
    const [a, b, c] = [seeded(M * K, 50), seeded(K * N4, 51), seeded(M * N4, 52)];
    const [left, right, out] = stage([a, b, c], []);
    const calls = simdKernels()!;
    productRows(calls, { left, right, out, K, N4, accumulate: true }, 0, M);
    const result = calls.floats.slice(out, out + M * N4);
    const expected = reference(a, [b], [], { M, K, N: N4, transposeA: false, transposeB: false }, 'linear').pre;
    expect(
      relativeError(
        result,
        expected.map((v, i) => v + c[i]),
      ),
    ).toBeLessThan(1e-5);
  });

  it('inRowBlocks visits whole row blocks (productRowBlock), one block a part at least, every row once', () => {
    const blocks: number[][] = [];
    const visit = (M: number, macsPerRow: number) => {
      blocks.length = 0;
      inRowBlocks(M, macsPerRow, (_calls, r0, rows) => blocks.push([r0, rows]));
      return blocks.sort((x, y) => x[0] - y[0]);
    };
    // Rows of 2^17 multiply-adds: a part of each block; of 2^15: two blocks a part at least
    // (MIN_PART_MACS, 2^18), so one part of 14 rows with 6-row blocks (3 blocks).
    if (productRowBlock() === 4) {
      expect(visit(14, 1 << 17)).toEqual([
        [0, 4],
        [4, 4],
        [8, 4],
        [12, 2],
      ]);
      expect(visit(14, 1 << 15)).toEqual([
        [0, 8],
        [8, 6],
      ]);
    } else {
      expect(productRowBlock()).toBe(6);
      expect(visit(14, 1 << 17)).toEqual([
        [0, 6],
        [6, 6],
        [12, 2],
      ]);
      expect(visit(14, 1 << 15)).toEqual([[0, 14]]);
    }
  });

  it('epilogueActivation: the activations a product applies, else linear', () => {
    expect(EPILOGUE_ACTIVATIONS).toEqual(['linear', 'relu', 'gelu']);
    expect(['relu', 'gelu', 'linear', 'elu', 'tanh'].map(epilogueActivation)).toEqual([
      'relu',
      'gelu',
      'linear',
      'linear',
      'linear',
    ]);
  });
});

describe('matMulOnWasm: the products it takes, and those it leaves to tfjs', () => {
  /** Runs the kernel with a stand-in for tfjs's: its values, or 'tfjs' when it handed the call over. */
  function run(
    inputs: Record<string, tf.Tensor>,
    attrs: { transposeA: boolean; transposeB: boolean; activation?: string },
  ): { shape: number[]; values: number[] } | 'tfjs' {
    const backend = tf.backend();
    let handedOver = false;
    const original: tf.KernelFunc = () => {
      handedOver = true;
      return [];
    };
    const out = matMulOnWasm(original)({
      inputs,
      backend,
      attrs: attrs as unknown as tf.NamedAttrMap,
    }) as tf.TensorInfo;
    if (handedOver) return 'tfjs';
    const values = Array.from(backend.readSync(out.dataId) as Float32Array);
    backend.disposeData(out.dataId);
    return { shape: out.shape, values };
  }

  it('float32, a batch of 1, a 1-D float32 bias, linear or relu: here, with the values of plain loops', async () => {
    await initBackend('wasm', { quiet: true });
    const before = tf.memory().numTensors;
    const [a, b, bias] = [seeded(6, 60), seeded(12, 61), seeded(4, 62)];
    for (const [transposeA, transposeB] of [
      [false, false],
      [true, true],
    ]) {
      const shape = { M: 2, K: 3, N: 4, transposeA, transposeB };
      const inputs = {
        a: tf.tensor(a, transposeA ? [1, 3, 2] : [1, 2, 3]),
        b: tf.tensor(b, transposeB ? [1, 4, 3] : [1, 3, 4]),
        bias: tf.tensor1d(bias),
      };
      const relu = run(inputs, { transposeA, transposeB, activation: 'relu' });
      expect(relu).not.toBe('tfjs');
      if (relu === 'tfjs') return;
      expect(relu.shape).toEqual([1, 2, 4]);
      expect(relativeError(relu.values, reference(a, [b], [bias], shape, 'relu').out)).toBeLessThan(1e-6);
      // No activation given: linear; no bias.
      const { a: a2, b: b2 } = inputs;
      const linear = run({ a: a2, b: b2 }, { transposeA, transposeB });
      expect(linear).not.toBe('tfjs');
      if (linear === 'tfjs') return;
      expect(relativeError(linear.values, reference(a, [b], [], shape, 'linear').out)).toBeLessThan(1e-6);
      tf.dispose(Object.values(inputs));
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('leaves to tfjs: int32, batches, PReLU, a bias not 1-D float32 of N, elu, empty products', async () => {
    await initBackend('wasm', { quiet: true });
    const f = (shape: number[], dtype: 'float32' | 'int32' = 'float32') =>
      tf.tensor(seededValues(tf.util.sizeFromShape(shape), 70), shape, dtype);
    const plain = { transposeA: false, transposeB: false };
    const cases: Array<[string, Record<string, tf.Tensor>, Partial<typeof plain> & { activation?: string }]> = [
      ['an int32 left operand', { a: f([2, 3], 'int32'), b: f([3, 4]) }, {}],
      ['an int32 right operand', { a: f([2, 3]), b: f([3, 4], 'int32') }, {}],
      ['a batch of 2 on the left', { a: f([2, 2, 3]), b: f([1, 3, 4]) }, {}],
      ['a batch of 2 on the right', { a: f([1, 2, 3]), b: f([2, 3, 4]) }, {}],
      ['PReLU weights', { a: f([2, 3]), b: f([3, 4]), preluActivationWeights: f([4]) }, { activation: 'prelu' }],
      // tfjs gives PReLU weights only with 'prelu'; the kernel refuses them whatever the activation.
      ['PReLU weights, linear', { a: f([2, 3]), b: f([3, 4]), preluActivationWeights: f([4]) }, {}],
      ['a 2-D bias', { a: f([2, 3]), b: f([3, 4]), bias: f([1, 4]) }, {}],
      ['a 2-D bias of N rows', { a: f([2, 3]), b: f([3, 4]), bias: f([4, 1]) }, {}],
      ['an int32 bias', { a: f([2, 3]), b: f([3, 4]), bias: f([4], 'int32') }, {}],
      ['a bias of N + 1', { a: f([2, 3]), b: f([3, 4]), bias: f([5]) }, {}],
      ['elu', { a: f([2, 3]), b: f([3, 4]) }, { activation: 'elu' }],
      ['no rows', { a: f([0, 3]), b: f([3, 4]) }, {}],
      ['no depth', { a: f([2, 0]), b: f([0, 4]) }, {}],
      ['no columns', { a: f([2, 3]), b: f([3, 0]) }, {}],
    ];
    for (const [name, inputs, attrs] of cases) {
      expect({ name, result: run(inputs, { ...plain, ...attrs }) }).toEqual({ name, result: 'tfjs' });
      tf.dispose(Object.values(inputs));
    }
  });
});
