/**
 * Backend choice (src/backend.ts): the auto order, the name/env-var parsing and its errors, the
 * wasm UnsortedSegmentSum kernel (checked against the cpu backend's), training an embedding on
 * wasm, and the float32 one-hot workaround.
 *
 * Every test selects the backend(s) it needs itself, so the tests do not depend on their order.
 * Inputs are plain arrays from a seeded generator, so that both backends see the same numbers.
 */
import * as tf from '@tensorflow/tfjs';
import {
  BACKEND_CHOICES,
  BACKEND_ENV_VAR,
  BackendName,
  chooseAutoBackend,
  initBackend,
  isSoftwareRenderer,
  isTfjsNodeAvailable,
  oneHotFloat,
  installWasmExtras,
  softwareWebglRenderer,
} from '../src/backend';
import { kernelThreads } from '../src/kernels/threads';

/** mulberry32: a tiny seeded generator of floats in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uniform(n: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => r() * 2 - 1);
}

function randomInts(n: number, max: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.floor(r() * max));
}

/**
 * Runs `fn` on `backend` inside tidy and returns its outputs as plain arrays, checking that it
 * leaves no tensor behind.
 */
async function runOn(backend: BackendName, fn: () => tf.Tensor | tf.Tensor[]): Promise<number[][]> {
  await initBackend(backend, { quiet: true });
  expect(tf.getBackend()).toBe(backend);
  const before = tf.memory().numTensors;
  const out = tf.tidy(fn);
  const outs = Array.isArray(out) ? out : [out];
  // Read outside tidy: tidy walks returned TypedArrays element by element (README, "TensorFlow.js 4.22 defects").
  const values = outs.map((t) => Array.from(t.dataSync()));
  tf.dispose(outs);
  expect(tf.memory().numTensors).toBe(before);
  return values;
}

function expectClose(actual: number[][], expected: number[][], tol: number): void {
  expect(actual.map((a) => a.length)).toEqual(expected.map((e) => e.length));
  let maxDiff = 0;
  actual.forEach((a, i) => a.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - expected[i][j])))));
  expect(maxDiff).toBeLessThanOrEqual(tol);
}

describe('chooseAutoBackend', () => {
  const none = { tensorflow: false, wasm: false, webgl: false, softwareWebgl: false };

  it('prefers tensorflow, then wasm, then cpu in Node and ignores webgl there', () => {
    expect(chooseAutoBackend({ ...none, isNode: true, tensorflow: true, wasm: true })).toBe('tensorflow');
    // tfjs-node absent (this machine): wasm.
    expect(chooseAutoBackend({ ...none, isNode: true, wasm: true, webgl: true })).toBe('wasm');
    expect(chooseAutoBackend({ ...none, isNode: true })).toBe('cpu');
  });

  it('prefers webgl, then wasm, then cpu in a browser and ignores tensorflow there', () => {
    expect(chooseAutoBackend({ ...none, isNode: false, webgl: true, wasm: true, tensorflow: true })).toBe('webgl');
    expect(chooseAutoBackend({ ...none, isNode: false, wasm: true, tensorflow: true })).toBe('wasm');
    expect(chooseAutoBackend({ ...none, isNode: false, tensorflow: true })).toBe('cpu');
  });

  it('in a browser whose WebGL draws in software (SwiftShader), prefers wasm, then that webgl, then cpu', () => {
    const software = { ...none, isNode: false, softwareWebgl: true };
    expect(chooseAutoBackend({ ...software, webgl: true, wasm: true })).toBe('wasm');
    expect(chooseAutoBackend({ ...software, webgl: true })).toBe('webgl');
    expect(chooseAutoBackend({ ...software })).toBe('cpu');
    // Node never looks at WebGL.
    expect(chooseAutoBackend({ ...none, isNode: true, webgl: true, softwareWebgl: true })).toBe('cpu');
  });

  it('names software renderers by their names: SwiftShader, llvmpipe, softpipe; not a GPU', () => {
    const swiftShader = 'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)';
    expect(isSoftwareRenderer(swiftShader)).toBe(true);
    expect(isSoftwareRenderer('llvmpipe (LLVM 15.0.6, 256 bits)')).toBe(true);
    expect(isSoftwareRenderer('ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 Direct3D11 vs_5_0 ps_5_0, D3D11)')).toBe(false);
    expect(isSoftwareRenderer('Apple M1')).toBe(false);
    // Node has no page, so no renderer.
    expect(softwareWebglRenderer()).toBeUndefined();
  });
});

describe('initBackend', () => {
  const savedEnv = process.env[BACKEND_ENV_VAR];
  afterEach(() => {
    if (savedEnv === undefined) delete process.env[BACKEND_ENV_VAR];
    else process.env[BACKEND_ENV_VAR] = savedEnv;
    jest.restoreAllMocks();
  });

  it("'auto' picks tensorflow when tfjs-node loads, else wasm", async () => {
    const expected = isTfjsNodeAvailable() ? 'tensorflow' : 'wasm';
    await initBackend('cpu', { quiet: true }); // start elsewhere so 'auto' has to switch
    expect(await initBackend('auto', { quiet: true })).toBe(expected);
    expect(tf.getBackend()).toBe(expected);
    // No name and no environment variable means 'auto'.
    delete process.env[BACKEND_ENV_VAR];
    await initBackend('cpu', { quiet: true });
    expect(await initBackend(undefined, { quiet: true })).toBe(expected);
  });

  it("explains that 'tensorflow' needs tfjs-node when it is not installed", async () => {
    if (isTfjsNodeAvailable()) {
      expect(await initBackend('tensorflow', { quiet: true })).toBe('tensorflow');
      return;
    }
    await initBackend('cpu', { quiet: true });
    await expect(initBackend('tensorflow', { quiet: true })).rejects.toThrow(
      "backend 'tensorflow' cannot be used: it needs @tensorflow/tfjs-node, which is not installed " +
        '(npm i @tensorflow/tfjs-node; it downloads libtensorflow)',
    );
    // A failed explicit choice leaves the current backend alone.
    expect(tf.getBackend()).toBe('cpu');
  });

  it("explains that 'webgl' needs a browser", async () => {
    await expect(initBackend('webgl', { quiet: true })).rejects.toThrow(/'webgl'.*needs a browser with WebGL/);
  });

  it('takes the backend from TFJS_ATTENTION_BACKEND when no name is given; an argument wins', async () => {
    process.env[BACKEND_ENV_VAR] = 'cpu';
    expect(await initBackend(undefined, { quiet: true })).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    process.env[BACKEND_ENV_VAR] = ' WASM '; // trimmed and case-insensitive, as env vars get typed by hand
    expect(await initBackend(undefined, { quiet: true })).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    process.env[BACKEND_ENV_VAR] = 'no-such-backend';
    expect(await initBackend('cpu', { quiet: true })).toBe('cpu');
  });

  it('rejects an unknown name, saying where it came from and listing the valid names', async () => {
    const argError = await initBackend('gpu', { quiet: true }).catch((e: Error) => e);
    expect(argError).toBeInstanceOf(Error);
    expect((argError as Error).message).toBe(
      "unknown backend 'gpu' (from the argument of initBackend); valid names: auto, tensorflow, wasm, cpu, webgl",
    );

    process.env[BACKEND_ENV_VAR] = 'tpu';
    const envError = await initBackend(undefined, { quiet: true }).catch((e: Error) => e);
    expect(envError).toBeInstanceOf(Error);
    const message = (envError as Error).message;
    expect(message).toContain("'tpu'");
    expect(message).toContain(BACKEND_ENV_VAR);
    for (const name of BACKEND_CHOICES) expect(message).toContain(name);
  });

  it('logs one line on stderr per backend change, none when quiet, nothing on stdout', async () => {
    const errSpy = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const logSpy = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    await initBackend('wasm'); // may or may not log, depending on what ran before
    errSpy.mockClear();

    await initBackend('cpu');
    await initBackend('cpu');
    expect(errSpy.mock.calls).toEqual([['tfjs-attention: using backend cpu']]);
    await initBackend('wasm', { quiet: true });
    expect(errSpy).toHaveBeenCalledTimes(1);
    await initBackend('cpu');
    expect(errSpy).toHaveBeenCalledTimes(1); // cpu was already announced
    expect(logSpy).not.toHaveBeenCalled();
  });

  it('threads: the kernels run on that many threads once it resolves (1, then 2); a bad count is refused', async () => {
    const before = kernelThreads();
    try {
      await initBackend('wasm', { quiet: true, threads: 1 });
      expect(kernelThreads()).toBe(1);
      await initBackend('wasm', { quiet: true, threads: 2 });
      expect(kernelThreads()).toBe(2);
      await expect(initBackend('wasm', { quiet: true, threads: 0 })).rejects.toThrow(
        'initBackend: threads must be an integer from 1 to 64, got 0',
      );
    } finally {
      await initBackend('wasm', { quiet: true, threads: before });
    }
  });

  it('is idempotent: a second wasm init registers nothing new and warns about nothing', async () => {
    const warnSpy = jest.spyOn(console, 'warn');
    expect(await initBackend('wasm', { quiet: true })).toBe('wasm');
    const kernels = tf.getKernelsForBackend('wasm').length;
    expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeDefined();
    expect(await initBackend('wasm', { quiet: true })).toBe('wasm');
    installWasmExtras();
    expect(tf.getKernelsForBackend('wasm').length).toBe(kernels);
    expect(warnSpy).not.toHaveBeenCalled();
  });
});

describe('UnsortedSegmentSum on wasm', () => {
  it('sums a hand-computed example', async () => {
    // From the tf.unsortedSegmentSum docs: ids [1, 2, 0, 1] -> [x2, x0 + x3, x1].
    const [out] = await runOn('wasm', () =>
      tf.unsortedSegmentSum(tf.tensor1d([1, 2, 3, 4]), tf.tensor1d([1, 2, 0, 1], 'int32'), 3),
    );
    expect(out).toEqual([3, 5, 2]);
  });

  it('matches the cpu kernel on random inputs with repeated indices', async () => {
    // (20, 3, 4) rows into 6 segments: 20 ids over 6 values repeat, and segment 5 may be empty.
    const x = uniform(20 * 3 * 4, 1);
    const ids = randomInts(20, 6, 2);
    // 2-D ids over the leading (4, 5) of a (4, 5, 3) tensor, as gather's gradient can produce.
    const x2 = uniform(4 * 5 * 3, 3);
    const ids2 = randomInts(4 * 5, 7, 4);
    const xInt = randomInts(10 * 2, 100, 5);
    const idsInt = randomInts(10, 3, 6);
    const compute = (flattenIds: boolean) => () => [
      tf.unsortedSegmentSum(tf.tensor3d(x, [20, 3, 4]), tf.tensor1d(ids, 'int32'), 6),
      flattenIds
        ? tf.unsortedSegmentSum(tf.tensor2d(x2, [20, 3]), tf.tensor1d(ids2, 'int32'), 7)
        : // The typings say Tensor1D, but the op (like TensorFlow's) takes ids of any rank.
          tf.unsortedSegmentSum(
            tf.tensor3d(x2, [4, 5, 3]),
            tf.tensor2d(ids2, [4, 5], 'int32') as tf.Tensor as tf.Tensor1D,
            7,
          ),
      tf.unsortedSegmentSum(tf.tensor2d(xInt, [10, 2], 'int32'), tf.tensor1d(idsInt, 'int32'), 3),
    ];
    // The cpu kernel of tfjs 4.22 mis-broadcasts segment ids of rank > 1 ("could not be broadcast
    // together with shapes 4,1,5 and 4,5,3"), so its reference for the 2-D ids is the equivalent
    // flattened call (TensorFlow's definition, and what gather's gradient does).
    const onCpu = await runOn('cpu', compute(true));
    const onWasm = await runOn('wasm', compute(false));
    expectClose(onWasm, onCpu, 1e-5);
    // Guard against comparing two empty or all-zero results.
    expect(onWasm[0].length).toBe(6 * 3 * 4);
    expect(Math.max(...onWasm[0].map(Math.abs))).toBeGreaterThan(0.1);
  });

  it("gives gather's gradient equal to the cpu backend's", async () => {
    const params = uniform(9 * 5, 7);
    const indices = randomInts(3 * 4, 9, 8); // 12 lookups into 9 rows: repeats guaranteed
    const dy = uniform(3 * 4 * 5, 9);
    const params2 = uniform(4 * 6, 10);
    const indices2 = [5, 0, 5, 5, 2];
    const dy2 = uniform(4 * 5, 11);
    const compute = () => [
      // Embedding-style lookup on axis 0 with 2-D indices.
      tf.grad((p: tf.Tensor) =>
        tf
          .gather(p, tf.tensor2d(indices, [3, 4], 'int32'))
          .mul(tf.tensor3d(dy, [3, 4, 5]))
          .sum(),
      )(tf.tensor2d(params, [9, 5])),
      // Gather along axis 1 (its gradient transposes around the segment sum).
      tf.grad((p: tf.Tensor) =>
        tf
          .gather(p, tf.tensor1d(indices2, 'int32'), 1)
          .mul(tf.tensor2d(dy2, [4, 5]))
          .sum(),
      )(tf.tensor2d(params2, [4, 6])),
    ];
    const onCpu = await runOn('cpu', compute);
    const onWasm = await runOn('wasm', compute);
    expectClose(onWasm, onCpu, 1e-5);
    // Row 5 of params2 is gathered 3 times: its gradient column is the sum of 3 dy columns.
    const expectedCol5 = [0, 1, 2, 3].map((r) => dy2[r * 5] + dy2[r * 5 + 2] + dy2[r * 5 + 3]);
    expect(
      onWasm[1]
        .filter((_, i) => i % 6 === 5)
        .map((v, r) => v - expectedCol5[r])
        .every((d) => Math.abs(d) < 1e-5),
    ).toBe(true);
  });
});

describe('Identity on wasm (shared memory instead of a copy)', () => {
  it(
    'a clone keeps its values after the original is disposed, ' + 'and gradients through saved tensors are unchanged',
    async () => {
      await initBackend('wasm', { quiet: true });
      const before = tf.memory().numTensors;
      const x = tf.tensor2d([
        [1, -2],
        [3.5, 4],
      ]);
      const y = x.clone();
      x.dispose();
      expect(Array.from(await y.data())).toEqual([1, -2, 3.5, 4]);
      y.dispose();
      expect(tf.memory().numTensors).toBe(before);
      // sin saves its input for the gradient (an Identity clone): d/dx sum(sin(x) * x) = cos(x) x + sin(x).
      const input = tf.tensor1d([0.3, -1.2, 2]);
      const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.sin(v), v)))(input);
      const expected = [0.3, -1.2, 2].map((v) => Math.cos(v) * v + Math.sin(v));
      Array.from(await grad.data()).forEach((g, i) => expect(g).toBeCloseTo(expected[i], 5));
      tf.dispose([input, grad]);
      expect(tf.memory().numTensors).toBe(before);
    },
  );
});

describe('BatchMatMul on wasm with transposed operands (through XNNPACK)', () => {
  it(
    'equals the cpu product for every transpose combination, ' + 'batch 1 and batched, and frees its transposes',
    async () => {
      const shapes: Array<[number[], number[], boolean, boolean]> = [
        [[5, 3], [5, 4], true, false],
        [[3, 5], [4, 5], false, true],
        [[5, 3], [4, 5], true, true],
        [[3, 5], [5, 4], false, false],
        [[2, 5, 3], [2, 5, 4], true, false], // batched: left to the original kernel
      ];
      for (const [aShape, bShape, transposeA, transposeB] of shapes) {
        const values = (shape: number[], seed: number) =>
          Array.from({ length: shape.reduce((x, y) => x * y) }, (_v, i) => Math.sin(seed + i * 0.7));
        const product = async (backend: string) => {
          await initBackend(backend, { quiet: true });
          const a = tf.tensor(values(aShape, 1), aShape);
          const b = tf.tensor(values(bShape, 2), bShape);
          const before = tf.memory();
          const dataIds = (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
          const c = tf.matMul(a, b, transposeA, transposeB);
          const result = Array.from(await c.data());
          c.dispose();
          expect(tf.memory().numTensors).toBe(before.numTensors);
          expect((tf.backend() as unknown as { numDataIds(): number }).numDataIds()).toBe(dataIds);
          tf.dispose([a, b]);
          return result;
        };
        const onCpu = await product('cpu');
        const onWasm = await product('wasm');
        expect(onWasm.length).toBe(onCpu.length);
        onWasm.forEach((v, i) => expect(v).toBeCloseTo(onCpu[i], 5));
      }
    },
  );
});

describe('Transpose on wasm (the last two axes of float32 in SIMD; values: test/kernels/transpose.test.ts)', () => {
  it("is registered by initBackend, and keepTfjsKernels restores tfjs's own", async () => {
    const transposeKernel = () => tf.getKernel('Transpose', 'wasm')!.kernelFunc;
    await initBackend('wasm', { quiet: true });
    const ours = transposeKernel();
    await initBackend('wasm', { quiet: true, keepTfjsKernels: true });
    const tfjsOwn = transposeKernel();
    expect(tfjsOwn).not.toBe(ours);
    await initBackend('wasm', { quiet: true });
    expect(transposeKernel()).not.toBe(tfjsOwn);
  });
});

describe('Sum and Exp on wasm (values: test/kernels/sum.test.ts, test/kernels/exp.test.ts)', () => {
  it.each([
    ['Sum', (x: tf.Tensor) => tf.sum(x, 0)],
    ['Exp', (x: tf.Tensor) => tf.exp(x)],
  ] as const)(
    "%s is registered by initBackend, gives tfjs's values within float32 rounding; keepTfjsKernels restores tfjs's",
    async (name, op) => {
      const kernel = () => tf.getKernel(name, 'wasm')!.kernelFunc;
      const x = tf.tensor2d(
        Array.from({ length: 300 * 7 }, (_v, i) => Math.sin(i) * 4),
        [300, 7],
      );
      const values = () => tf.tidy(() => Array.from(op(x).dataSync()));
      await initBackend('wasm', { quiet: true, keepTfjsKernels: true });
      const [tfjsOwn, expected] = [kernel(), values()];
      await initBackend('wasm', { quiet: true });
      expect(kernel()).not.toBe(tfjsOwn);
      const ours = values();
      expect(ours.length).toBe(expected.length);
      ours.forEach((v, i) =>
        expect(Math.abs(v - expected[i])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(expected[i]))),
      );
      await initBackend('wasm', { quiet: true, keepTfjsKernels: true });
      expect(kernel()).toBe(tfjsOwn);
      await initBackend('wasm', { quiet: true });
      x.dispose();
    },
  );
});

describe('an embedding model on wasm', () => {
  const vocab = 8;
  const seqLen = 3;
  const dim = 4;

  /**
   * embedding -> flatten -> dense logits; the task: predict the first token of the sequence. The
   * initializers are seeded, so the training test below sees the same start on every run.
   */
  function buildModel(): tf.Sequential {
    const model = tf.sequential();
    const embeddingsInitializer = tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: 7 });
    model.add(tf.layers.embedding({ inputDim: vocab, outputDim: dim, inputLength: seqLen, embeddingsInitializer }));
    model.add(tf.layers.flatten());
    model.add(tf.layers.dense({ units: vocab, kernelInitializer: tf.initializers.glorotUniform({ seed: 8 }) }));
    return model;
  }

  const tokens = randomInts(16 * seqLen, vocab, 12);
  const labels = tokens.filter((_, i) => i % seqLen === 0);

  function loss(model: tf.Sequential): tf.Scalar {
    const logits = model.apply(tf.tensor2d(tokens, [16, seqLen])) as tf.Tensor;
    return tf.losses.softmaxCrossEntropy(oneHotFloat(tf.tensor1d(labels, 'int32'), vocab), logits) as tf.Scalar;
  }

  it('trains: the loss falls and the embedding weights change', async () => {
    await initBackend('wasm', { quiet: true });
    const before = tf.memory().numTensors;
    const model = buildModel();
    const optimizer = tf.train.adam(0.05);
    // The dense layer outputs logits: the loss takes them as such.
    model.compile({
      optimizer,
      loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, yPred),
    });
    const embeddingBefore = model.layers[0].getWeights()[0].arraySync() as number[][];

    const x = tf.tensor2d(tokens, [16, seqLen]);
    const y = tf.tidy(() => oneHotFloat(tf.tensor1d(labels, 'int32'), vocab));
    const history = await model.fit(x, y, { epochs: 5, batchSize: 16, shuffle: false, verbose: 0 });
    const losses = history.history.loss as number[];
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] - 0.05);

    const embeddingAfter = model.layers[0].getWeights()[0].arraySync() as number[][];
    const change = Math.max(...embeddingAfter.flat().map((v, i) => Math.abs(v - embeddingBefore.flat()[i])));
    expect(change).toBeGreaterThan(1e-3);

    tf.dispose([x, y]);
    model.dispose();
    optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('has the same gradient on wasm as on cpu', async () => {
    // One set of weights, created as plain arrays, loaded into a fresh model on each backend.
    await initBackend('cpu', { quiet: true });
    const reference = buildModel();
    const weights = reference.getWeights().map((w) => ({ shape: w.shape, values: Array.from(w.dataSync()) }));
    reference.dispose();

    const gradsOn = async (backend: BackendName): Promise<number[][]> => {
      await initBackend(backend, { quiet: true });
      const model = buildModel();
      model.setWeights(weights.map((w) => tf.tensor(w.values, w.shape)));
      const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
      expect(variables.length).toBe(3); // embedding, dense kernel, dense bias
      const grads = await runOn(backend, () => {
        const { grads } = tf.variableGrads(() => loss(model), variables);
        return variables.map((v) => grads[v.name]);
      });
      model.dispose();
      return grads;
    };
    const onCpu = await gradsOn('cpu');
    const onWasm = await gradsOn('wasm');
    expectClose(onWasm, onCpu, 1e-5);
    // The embedding gradient is not trivially zero.
    expect(Math.max(...onWasm[0].map(Math.abs))).toBeGreaterThan(1e-3);
  });
});

describe('oneHotFloat', () => {
  it('gives exact float32 ones and zeros on wasm and cpu', async () => {
    const expected = [
      [1, 0, 0, 0, 0, 0, 0, 1],
      [0, 0, 1, 0, 0, 1, 0, 0],
    ].flat();
    for (const backend of ['wasm', 'cpu'] as const) {
      const [fromInt, fromFloat] = await runOn(backend, () => {
        const out = oneHotFloat(
          tf.tensor2d(
            [
              [0, 3],
              [2, 1],
            ],
            [2, 2],
            'int32',
          ),
          4,
        );
        expect(out.dtype).toBe('float32');
        expect(out.shape).toEqual([2, 2, 4]);
        // Float labels (as datasets often deliver them) are accepted too.
        return [out, oneHotFloat(tf.tensor1d([0, 3, 2, 1]), 4)];
      });
      expect(fromInt).toEqual(expected);
      expect(fromFloat).toEqual(expected);
    }
  });

  it('leaves no intermediate tensor behind', async () => {
    await initBackend('wasm', { quiet: true });
    const indices = tf.tensor1d([1, 0], 'float32');
    const before = tf.memory().numTensors;
    const out = oneHotFloat(indices, 3);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(Array.from(out.dataSync())).toEqual([0, 1, 0, 1, 0, 0]);
    tf.dispose([out, indices]);
  });
});
