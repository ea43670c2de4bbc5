/**
 * Takes models built here to Keras 3 and back, checked by Keras itself (the pinned keras3
 * environment of scripts/python/, JAX backend):
 *
 *     npm run check:keras-export                 # every model; exits 1 if any check fails
 *     npm run check:keras-export -- --keep DIR   # and keeps the .keras files in DIR
 *
 * The models: the README's classifier (functional and tf.sequential), cross-attention and GPT
 * examples (their code is the README's, read from test/examples/, where a test keeps the README in
 * step), createTransformer's seq2seq (post-LN with learned positions, pre-LN with sinusoidal ones),
 * MultiHeadAttention with its Keras options, tfjs's stock layers with settings away from their
 * defaults, and the shipped models/reverse. For each:
 * 1. (Node) a few tfjs training steps, so that no weight is at its initial value; `saveKerasModel`;
 *    `loadKerasModel` of the file predicts what the tfjs model predicts (no Python);
 * 2. (Keras, scripts/keras_export/roundtrip.py) `keras.saving.load_model` with no custom code;
 *    its `predict` on inputs with padding equals tfjs's within 1e-5 (relative to values above 1:
 *    |keras - tfjs| <= 1e-5 max(1, |tfjs|)); ten seeded training steps (the loss must fall: the
 *    mean of the last three below the first three's) and `model.save`;
 * 3. (Node) `loadKerasModel` of the file Keras saved predicts what Keras predicts, as closely;
 * 4. models/reverse: Keras decodes the 512 held-out sources greedily to the same tokens as
 *    `loadSeq2Seq(...).generate`.
 * Every random draw is seeded, here and in Keras, so a run checks the same files as the last.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ts from 'typescript';
import * as library from '../src';
import { createTransformer, initBackend, loadKerasModel, loadSeq2Seq, saveKerasModel } from '../src';
import { BOS, createTask, EOS, heldOutSet, PAD } from '../src/tasks';
import { pythonEnv } from './python_env';

const ROOT = path.resolve(__dirname, '..');
const TOLERANCE = 1e-5;
/** Rows per input batch (predictions and training). */
const BATCH = 4;

interface Inputs {
  /** One array per input: (B, L) token ids, or (B, L, C) floats. */
  values: Array<number[][] | number[][][]>;
  dtypes: string[];
}

interface Case {
  name: string;
  model: tf.LayersModel;
  inputs: Inputs;
  /** Where tfjs trains it: tfjs 4.22's wasm backend has no Conv2DBackpropFilter (a Conv1D's kernel gradient). */
  trainOn?: 'cpu';
  decode?: { sources: number[][]; bos: number; eos: number; pad: number; max_length: number };
  /** tfjs's greedy decoding of `decode.sources`. */
  decoded?: number[][];
}

/** A small deterministic generator (the cases must be the same on every run). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * (BATCH, length) token ids in 1..vocabulary-1, each row padded with 0 after a random length (the
 * first row full); with `leading`, the last row padded in front instead.
 */
function paddedIds(length: number, vocabulary: number, seed: number, leading = false): number[][] {
  const next = random(seed);
  return Array.from({ length: BATCH }, (_r, b) => {
    const used = b === 0 ? length : 1 + Math.floor(next() * length);
    const ids = Array.from({ length: used }, () => 1 + Math.floor(next() * (vocabulary - 1)));
    const pad = new Array<number>(length - used).fill(0);
    return leading && b === BATCH - 1 ? [...pad, ...ids] : [...ids, ...pad];
  });
}

function tensorsOf(inputs: Inputs): tf.Tensor[] {
  return inputs.values.map((v, i) => tf.tensor(v, undefined, inputs.dtypes[i] as tf.DataType));
}

function predict(model: tf.LayersModel, inputs: Inputs): number[][] {
  return tf.tidy(() => {
    const xs = tensorsOf(inputs);
    const out = model.predict(xs.length === 1 ? xs[0] : xs);
    return (Array.isArray(out) ? out : [out]).map((t) => Array.from(t.dataSync()));
  });
}

/**
 * The largest difference between two nested arrays, relative to the values' size above 1
 * (|a - b| / max(1, |b|)): float32 rounding grows with the values, and the seq2seq logits reach 20.
 */
function maxDiff(a: unknown, b: unknown): number {
  const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v as number]);
  const [x, y] = [flat(a), flat(b)];
  if (x.length !== y.length) return Infinity;
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]) / Math.max(1, Math.abs(y[i]))), 0);
}

/**
 * The README's example builders, from the `// README:begin` regions of test/examples/ (the code the
 * README shows, which test/examples/readme.test.ts keeps identical), compiled with TypeScript.
 */
function readmeBuilders(): Record<string, () => tf.LayersModel> {
  const builders: Record<string, () => tf.LayersModel> = {};
  const dir = path.join(ROOT, 'test/examples');
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.test.ts'))) {
    const text = fs.readFileSync(path.join(dir, file), 'utf8');
    for (const [, , code] of text.matchAll(/\/\/ README:begin (\S+)\n([\s\S]*?)\/\/ README:end/g)) {
      const names = [...code.matchAll(/^function (\w+)\(/gm)].map((m) => m[1]);
      const js = ts.transpileModule(`${code}\nreturn { ${names.join(', ')} };`, {
        compilerOptions: { target: ts.ScriptTarget.ES2020, module: ts.ModuleKind.None },
      }).outputText;
      const scope = { tf, ...library };
      Object.assign(builders, new Function(...Object.keys(scope), js)(...Object.values(scope)));
    }
  }
  return builders;
}

/** (BATCH, length, channels) floats, uniform in [-2, 2). */
function floats(length: number, channels: number, seed: number): number[][][] {
  const next = random(seed);
  return Array.from({ length: BATCH }, () =>
    Array.from({ length }, () => Array.from({ length: channels }, () => 4 * next() - 2)),
  );
}

/**
 * tfjs's stock layers with settings away from their defaults (a strided Conv1D with 'same' padding,
 * BatchNormalization's momentum and epsilon, LeakyReLU's slope, the layer norms' epsilons): each
 * must reach Keras under its own name, not as Keras's default.
 */
function stockLayersModel(): tf.LayersModel {
  return tf.sequential({
    name: 'stock_layers',
    layers: [
      tf.layers.conv1d({ inputShape: [9, 4], filters: 6, kernelSize: 3, strides: 2, padding: 'same', name: 'conv' }),
      tf.layers.batchNormalization({ momentum: 0.5, epsilon: 0.02, name: 'batch_norm' }),
      tf.layers.leakyReLU({ alpha: 0.15, name: 'leaky' }),
      tf.layers.layerNormalization({ epsilon: 0.03, name: 'layer_norm' }),
      new library.MaskedLayerNormalization({ epsilon: 0.05, name: 'masked_norm' }),
      tf.layers.dense({ units: 3, name: 'head' }),
    ],
  });
}

/**
 * Our MultiHeadAttention with Keras's options: outputDim, useGate, causal, no biases, a key input,
 * slidingWindow, and dropout with fullyMaskedQueries 'zero' on padded inputs (Keras's attention with
 * dropout gives a padded query zero attention). (Keras 3.15 on JAX cannot run value_dim != key_dim:
 * jax.nn.dot_product_attention wants one head width.)
 */
function attentionOptionsModel(): tf.LayersModel {
  const tokens = tf.input({ shape: [null], dtype: 'int32', name: 'tokens' });
  const x = tf.layers.embedding({ inputDim: 11, outputDim: 12, maskZero: true, name: 'embedding' }).apply(tokens);
  const gated = new library.MultiHeadAttention({
    numHeads: 3,
    keyDim: 4,
    outputDim: 10,
    useGate: true,
    causal: true,
    name: 'gated_causal',
  }).apply(x) as tf.SymbolicTensor;
  const keys = tf.layers.dense({ units: 7, name: 'keys' }).apply(gated) as tf.SymbolicTensor;
  const windowed = new library.MultiHeadAttention({
    numHeads: 2,
    keyDim: 3,
    useBias: false,
    slidingWindow: 2,
    name: 'windowed',
  }).apply([gated, x, keys] as tf.SymbolicTensor[]) as tf.SymbolicTensor;
  const dropping = new library.MultiHeadAttention({
    numHeads: 2,
    keyDim: 5,
    outputDim: 10,
    dropout: 0.2,
    fullyMaskedQueries: 'zero',
    name: 'dropping',
  }).apply(x) as tf.SymbolicTensor;
  const both = tf.layers.concatenate({ name: 'both' }).apply([windowed, dropping]);
  const out = tf.layers.dense({ units: 3, activation: 'softmax', name: 'head' }).apply(both);
  return tf.model({ inputs: tokens, outputs: out as tf.SymbolicTensor, name: 'attention_options' });
}

async function cases(): Promise<Case[]> {
  const readme = readmeBuilders();
  const ids = (length: number, vocabulary: number, seed: number, leading = false): Inputs => ({
    values: [paddedIds(length, vocabulary, seed, leading)],
    dtypes: ['int32'],
  });
  const seq2seqInputs = (seed: number): Inputs => ({
    values: [paddedIds(12, 13, seed), paddedIds(13, 13, seed + 1).map((row) => [BOS, ...row.slice(1)])],
    dtypes: ['int32', 'int32'],
  });
  const tiny = {
    vocabularySize: 13,
    maxSourceLength: 12,
    maxTargetLength: 13,
    embeddingDim: 32,
    numHeads: 4,
    intermediateDim: 64,
    numEncoderLayers: 2,
    numDecoderLayers: 2,
  };
  const list: Case[] = [
    { name: 'classifier', model: readme.buildClassifier(), inputs: ids(8, 10, 1, true) },
    { name: 'sequential_classifier', model: readme.buildSequentialClassifier(), inputs: ids(8, 10, 2) },
    {
      name: 'cross_attention',
      model: readme.buildCrossAttentionModel(),
      inputs: { values: [paddedIds(3, 16, 3), paddedIds(6, 16, 4, true)], dtypes: ['int32', 'int32'] },
    },
    { name: 'gpt', model: readme.buildGpt(), inputs: ids(8, 12, 5, true) },
    { name: 'seq2seq', model: createTransformer(tiny), inputs: seq2seqInputs(6) },
    {
      name: 'seq2seq_pre_ln_sinusoidal',
      model: createTransformer({ ...tiny, normalizeFirst: true, positionEncoding: 'sinusoidal', activation: 'gelu' }),
      inputs: seq2seqInputs(8),
    },
    { name: 'attention_options', model: attentionOptionsModel(), inputs: ids(7, 11, 10, true) },
    {
      name: 'stock_layers',
      model: stockLayersModel(),
      inputs: { values: [floats(9, 4, 11)], dtypes: ['float32'] },
      trainOn: 'cpu',
    },
  ];
  const reverse = await loadSeq2Seq(path.join(ROOT, 'models/reverse'));
  const samples = heldOutSet(createTask('reverse'));
  const sources = samples.map((s) => s.source);
  list.push({
    name: 'reverse',
    model: reverse.model,
    inputs: seq2seqInputs(12),
    decode: { sources, bos: BOS, eos: EOS, pad: PAD, max_length: reverse.maxTargetLength },
    decoded: await reverse.generate(sources),
  });
  return list;
}

/** Targets for training: normal values of each output's shape. */
function targetsFor(model: tf.LayersModel, inputs: Inputs, seed: number): number[][][] {
  const next = random(seed);
  return tf.tidy(() => {
    const xs = tensorsOf(inputs);
    const out = model.predict(xs.length === 1 ? xs[0] : xs);
    return (Array.isArray(out) ? out : [out]).map((t) => {
      const values = tf.tensor(
        Array.from(t.dataSync(), () => next() - 0.5),
        t.shape,
      );
      return values.arraySync() as number[][];
    });
  });
}

async function main(): Promise<void> {
  const flags = process.argv.slice(2);
  const keep = flags[0] === '--keep' ? flags[1] : null;
  if (flags.length > 0 && (keep == null || flags.length !== 2))
    throw new Error('usage: npm run check:keras-export [-- --keep DIR]');
  await initBackend('wasm', { quiet: true });
  // tfjs draws the seed of every random op given none (initializers, dropout, fit's shuffling) from
  // Math.random (tfjs-core ops/rand_util.ts): seeded in this script, so that the models, the files
  // and Keras's training of them (seeded in roundtrip.py) are the same on every run.
  Math.random = random(27);
  const dir = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'keras-export-'));
  fs.mkdirSync(dir, { recursive: true });
  const failures: string[] = [];
  const check = (ok: boolean, line: string) => {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${line}`);
    if (!ok) failures.push(line);
  };
  try {
    const started = Date.now();
    const all = await cases();
    const manifest: unknown[] = [];
    const tfjsOutputs = new Map<string, number[][]>();
    for (const [i, c] of all.entries()) {
      // 1. A few tfjs training steps (not for the shipped model), then save and read back.
      if (c.name !== 'reverse') {
        const targets = targetsFor(c.model, c.inputs, 100 + i);
        c.model.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
        const [xs, ys] = [tensorsOf(c.inputs), targets.map((t) => tf.tensor(t))];
        if (c.trainOn) await tf.setBackend(c.trainOn);
        await c.model.fit(xs.length === 1 ? xs[0] : xs, ys.length === 1 ? ys[0] : ys, { epochs: 2, verbose: 0 });
        tf.dispose([...xs, ...ys]);
        if (c.trainOn) await tf.setBackend('wasm');
      }
      const exportStarted = Date.now();
      const file = `${c.name}.keras`;
      const bytes = await saveKerasModel(c.model, path.join(dir, file), { dateSaved: new Date(0) });
      const exportMs = Date.now() - exportStarted;
      const outputs = predict(c.model, c.inputs);
      tfjsOutputs.set(c.name, outputs);
      const back = await loadKerasModel(path.join(dir, file));
      const diff = maxDiff(predict(back, c.inputs), outputs);
      back.dispose();
      check(
        diff <= TOLERANCE,
        `${c.name}: saveKerasModel in ${exportMs} ms (${bytes.length} bytes); loadKerasModel of it predicts ` +
          `within ${diff.toExponential(1)} of tfjs`,
      );
      manifest.push({
        name: c.name,
        file,
        inputs: c.inputs,
        targets: targetsFor(c.model, c.inputs, 200 + i),
        ...(c.decode ? { decode: c.decode } : {}),
      });
    }
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ models: manifest }));
    console.log(`check:keras-export: ${all.length} models written in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // 2. Keras: load, predict, train, save.
    const kerasStarted = Date.now();
    execFileSync(pythonEnv('keras3', console.log), [path.join(__dirname, 'keras_export', 'roundtrip.py'), dir], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3', PYTHONHASHSEED: '0' },
    });
    const keras = JSON.parse(fs.readFileSync(path.join(dir, 'keras.json'), 'utf8')) as {
      keras: string;
      models: {
        name: string;
        outputs: number[][];
        trained_outputs: number[][];
        classes: string[];
        decoded?: number[][];
        train: { loss_before: number; loss_after: number; steps: number[]; file: string };
      }[];
    };
    console.log(`check:keras-export: ${keras.keras} in ${((Date.now() - kerasStarted) / 1000).toFixed(1)} s`);
    for (const result of keras.models) {
      const c = all.find((x) => x.name === result.name)!;
      const diff = maxDiff(result.outputs, tfjsOutputs.get(c.name));
      check(
        diff <= TOLERANCE,
        `${c.name}: Keras loads it as ${result.classes.join(', ')}; predicts within ${diff.toExponential(1)} of tfjs`,
      );
      // The loss falls: the mean of the last three steps' below the first three's (one step moves with dropout).
      const { steps, loss_before: before, loss_after: after } = result.train;
      const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
      const [first, last] = [mean(steps.slice(0, 3)), mean(steps.slice(-3))];
      check(
        steps.length >= 6 && last < first,
        `${c.name}: Keras trains it ${steps.length} steps (loss, mean of 3 steps: ${first.toPrecision(4)} -> ` +
          `${last.toPrecision(4)}; predict's: ${before.toPrecision(4)} -> ${after.toPrecision(4)}) and saves it`,
      );
      // 3. Back in tfjs, and out again.
      const trained = await loadKerasModel(path.join(dir, result.train.file));
      const back = maxDiff(predict(trained, c.inputs), result.trained_outputs);
      const again = await loadKerasModel(await saveKerasModel(trained));
      const twice = maxDiff(predict(again, c.inputs), result.trained_outputs);
      trained.dispose();
      again.dispose();
      check(
        back <= TOLERANCE && twice <= TOLERANCE,
        `${c.name}: loadKerasModel of Keras's trained file predicts within ${back.toExponential(1)} of Keras ` +
          `(saved by saveKerasModel and read again: ${twice.toExponential(1)})`,
      );
      // 4. Greedy decoding.
      if (c.decoded != null) {
        const same = c.decoded.filter((d, i) => d.join(',') === result.decoded![i].join(',')).length;
        const samples = heldOutSet(createTask('reverse'));
        const exact = (decoded: number[][]) =>
          decoded.filter((d, i) => d.join(',') === samples[i].target.join(',')).length;
        check(
          same === c.decoded.length,
          `${c.name}: Keras decodes ${same} of ${c.decoded.length} held-out sources as loadSeq2Seq does ` +
            `(exact match: Keras ${exact(result.decoded!)}, tfjs ${exact(c.decoded)} of ${samples.length})`,
        );
      }
    }
  } finally {
    if (keep == null) fs.rmSync(dir, { recursive: true, force: true });
  }
  if (failures.length > 0) {
    console.error(`check:keras-export: ${failures.length} check(s) failed`);
    process.exit(1);
  }
  console.log('check:keras-export: every check passed');
}

main().catch((error) => {
  console.error((error as Error).stack ?? error);
  process.exit(1);
});
