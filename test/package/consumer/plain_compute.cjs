// A plain TensorFlow.js computation and a snapshot of tfjs's global state, shared by the Node
// scripts (plain.cjs, plain_without.mjs, plain_with.mjs) and the browser pages
// (plain_page_without.js, plain_page_with.js). It never touches tfjs-attention: the scripts that
// import the package do so before calling it, and their report must equal the one without.
'use strict';

const BACKEND_NAMES = ['cpu', 'wasm', 'webgl', 'tensorflow'];

/**
 * What the imports did, read without initialising anything (tf.memory() and tf.getBackend() would
 * pick a backend): the backend chosen so far, the backends initialised, the tensors alive.
 */
function stateAtImport(tf) {
  const engine = tf.engine();
  return {
    backendChosen: engine.backendName == null ? null : engine.backendName,
    initializedBackends: Object.keys(engine.registry).sort(),
    numTensors: engine.state.numTensors,
  };
}

/** Matmuls (plain, transposed, batched), softmax, a gradient and a small dense model with fixed initializers. */
function plainComputation(tf) {
  const a = tf.tensor2d([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const b = tf.tensor2d([
    [0.5, -1],
    [2, 0.25],
    [-0.75, 1.5],
  ]);
  const product = tf.matMul(a, b);
  const softmax = tf.softmax(product);
  const transposed = tf.matMul(a, a, false, true);
  const batched = tf.matMul(tf.reshape(a, [1, 2, 3]), tf.reshape(b, [1, 3, 2]));
  const gradient = tf.grad((x) => tf.sum(tf.square(tf.matMul(x, b))))(a);
  const gathered = tf.gather(
    tf.tensor2d([
      [0.25, 0.5],
      [1, 2],
      [-3, 4],
    ]),
    tf.tensor1d([2, 0, 2], 'int32'),
  );

  const model = tf.sequential({
    layers: [
      tf.layers.dense({
        units: 4,
        inputShape: [3],
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 7 }),
        biasInitializer: tf.initializers.constant({ value: 0.1 }),
      }),
      tf.layers.layerNormalization(),
      tf.layers.dense({
        units: 2,
        activation: 'softmax',
        kernelInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.5, seed: 11 }),
        biasInitializer: 'zeros',
      }),
    ],
  });
  const predicted = model.predict(
    tf.tensor2d([
      [1, 2, 3],
      [0.5, -0.5, 0],
      [-1, 3, 2],
    ]),
  );

  return {
    product: product.arraySync(),
    softmax: softmax.arraySync(),
    transposed: transposed.arraySync(),
    batched: batched.arraySync(),
    gradient: gradient.arraySync(),
    gathered: gathered.arraySync(),
    predicted: predicted.arraySync(),
  };
}

/** tfjs's global state after the computation: backend, tensors, every backend's kernels, backend factories. */
function stateAfter(tf) {
  const kernels = {};
  for (const name of BACKEND_NAMES)
    kernels[name] = tf
      .getKernelsForBackend(name)
      .map((k) => k.kernelName)
      .sort();
  return {
    backend: tf.getBackend(),
    numTensors: tf.memory().numTensors,
    kernels,
    registryFactory: Object.keys(tf.engine().registryFactory),
  };
}

/** The layer class names tfjs's serialization knows (importing the package adds its layers here, and only here). */
function layerClasses(tf) {
  return Object.keys(tf.serialization.SerializationMap.getMap().classNameMap).sort();
}

/**
 * The whole report. `atImport` was taken right after the imports, `spy` is wasm_spy.cjs (its
 * 'afterTfjs' mark taken right after '@tensorflow/tfjs' was imported). The comparison with and
 * without the package covers everything under `compared`; `layerClasses` is the one thing the
 * package's import is meant to change.
 */
function plainReport(tf, { atImport, spy }) {
  const wasmAtImport = spy.wasmCalls();
  const results = plainComputation(tf);
  return {
    compared: {
      atImport,
      wasmAfterTfjs: spy.marks().afterTfjs,
      wasmAtImport,
      results,
      after: stateAfter(tf),
      wasmAtEnd: spy.wasmCalls(),
    },
    layerClasses: layerClasses(tf),
  };
}

module.exports = { stateAtImport, plainReport };
