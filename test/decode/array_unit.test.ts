/**
 * The typed-array runner (src/decode/array_runner.ts) and its steps (src/decode/array_steps.ts)
 * driven directly, on width-8 models built in each test, cpu: every step's output (the model's last
 * position after each chunk of new positions) against `predict` on each row's whole history alone,
 * across chunks of several positions, rows reordered as a beam search does (caches and the fixed
 * part's values move with them), padded sources, head masks (against `runModel` with the same call
 * arguments), and what the steps refuse. Seconds, so that StrykerJS can run it for every mutant of
 * both modules (test/MUTATION.md); array_runner.test.ts compares whole generations with the tfjs
 * runner on both backends.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import { ArrayRunner, planArraySteps } from '../../src/decode/array_runner';
import { headMaskArguments, planGraph, runModel } from '../../src/decode/graph';
import type { IncrementalRole } from '../../src/layers/incremental';
import type { RunnerSetup } from '../../src/decode/runner';
import { AttentionOutputProjection } from '../../src/layers/attention_output_projection';
import { AttentionProjection } from '../../src/layers/attention_projection';
import { KerasHubTransformerDecoder } from '../../src/layers/keras_hub/transformer_decoder';
import { KerasHubTransformerEncoder } from '../../src/layers/keras_hub/transformer_encoder';
import { MaskedLayerNormalization } from '../../src/layers/masked_layer_normalization';
import { MultiHeadAttention } from '../../src/layers/multi_head_attention';
import { SinusoidalPositionEncoding } from '../../src/layers/sinusoidal_position_encoding';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import { TransformerDecoderBlock } from '../../src/layers/transformer_decoder_block';
import { TransformerEncoderBlock } from '../../src/layers/transformer_encoder_block';
import { ids as idTensor } from '../helpers/tensors';
import { seedKernels, Subtract } from './tiny_models';

const VOCABULARY = 7;

/** A cached layer of a user's own: it says it keeps a causal attention's cache (`incrementalRole`). */
class OwnCached extends tf.layers.Layer {
  static className = 'OwnCached';
  private readonly attention = new MultiHeadAttention({ numHeads: 2, keyDim: 4, causal: true });
  incrementalRole(): IncrementalRole {
    const slot = { cacheArgument: 'cache', indexArgument: 'cacheUpdateIndex', keyValueInputs: [0] };
    return { kind: 'cached', slots: [{ ...slot, attention: this.attention }] };
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return [inputs].flat()[0];
  }
}

const ids = (name: string) => tf.input({ shape: [null], dtype: 'int32', name });
const sym = (x: unknown) => x as tf.SymbolicTensor;
/**
 * A model of `inputs` whose logits are a dense layer to VOCABULARY (with `activation`) over `x`, its
 * kernels seeded from `seed` (tiny_models' seedKernels).
 */
const logitsModel = (
  inputs: tf.SymbolicTensor | tf.SymbolicTensor[],
  x: tf.SymbolicTensor,
  seed: number,
  activation?: 'elu',
) => seedKernels(tf.model({ inputs, outputs: sym(tf.layers.dense({ units: VOCABULARY, activation }).apply(x)) }), seed);
const embedding = (args: Partial<ConstructorParameters<typeof TokenAndPositionEmbedding>[0]> = {}) =>
  new TokenAndPositionEmbedding({ vocabularySize: VOCABULARY, sequenceLength: 8, embeddingDim: 8, ...args });

interface Run {
  /** Token rows' chunks: each chunk is one `advance` (rows x n tokens). */
  chunks: number[][][];
  /** Fixed inputs' rows by input name: token id rows, or rows of feature vectors (float32). */
  fixed?: Record<string, Array<number[] | number[][]>>;
  /** Rows to keep after the chunk of that index (a beam search's reorder; -1: before the first). */
  reorders?: Record<number, number[]>;
  /** Head masks by attention path. */
  headMasks?: Record<string, number[] | tf.Tensor>;
  tokenInput?: string;
  maxLength?: number;
  /**
   * The reference: `runModel` (graph.ts's node-by-node run, checked against predict in
   * graph_unit.test.ts) instead of predict, for a padded memory that reaches a block through tfjs's
   * own layers: tfjs 4.22's predict hands a layer of several inputs only its first input's mask,
   * and tfjs's layers drop the `kerasMask` our layers fall back on (src/layers/masks.ts), so predict
   * attends to the padding there; decoding passes each input its mask, as Keras does.
   */
  byNodes?: boolean;
}

/** Rows of token ids as an int32 tensor (B, L); rows of feature vectors as a float32 one (B, L, F). */
function fixedTensor(rows: Array<number[] | number[][]>): tf.Tensor {
  return Array.isArray(rows[0][0]) ? tf.tensor3d(rows as number[][][]) : idTensor(rows as number[][]);
}

/** The model's output (T, V) for one row's inputs, by `predict` (or `runModel` with call arguments). */
function expectedRows(
  model: tf.LayersModel,
  inputs: Record<string, number[] | number[][]>,
  extra?: (layer: tf.layers.Layer) => Record<string, unknown> | undefined,
): number[][] {
  return tf.tidy(() => {
    const tensors = model.inputNames.map((name) => fixedTensor([inputs[name]]));
    const [out] = extra ? runModel(model, tensors, extra) : [model.predict(tensors) as tf.Tensor];
    return (out.arraySync() as number[][][])[0];
  });
}

/**
 * Runs the chunks through an ArrayRunner and checks each output against the model on each row's
 * history alone; returns the outputs (rows, V) of the last chunk.
 */
function expectSameAsModel(model: tf.LayersModel, run: Run, tolerance = 3e-4): number[][] {
  const tokenName = run.tokenInput ?? model.inputNames[0];
  const tokenInput = model.inputNames.indexOf(tokenName);
  const before = tf.memory().numTensors;
  const rows = run.chunks[0].length;
  let fixedRows = Object.fromEntries(Object.entries(run.fixed ?? {}).map(([k, v]) => [k, v.slice(0, rows)]));
  const masks = run.headMasks ? headMaskArguments(model, run.headMasks) : null;
  const setup: RunnerSetup = {
    model,
    tokenInput,
    fixedInputs: model.inputNames.map((name, i) => (i === tokenInput ? null : fixedTensor(fixedRows[name]))),
    rows,
    probabilities: false,
    extra: masks?.extra ?? (() => undefined),
  };
  const maxLength = run.maxLength ?? run.chunks.reduce((sum, c) => sum + c[0].length, 0);
  const plan = planGraph(model, new Set([model.inputs[tokenInput].id]));
  const planned = planArraySteps(plan, setup, maxLength);
  if (!('steps' in planned)) throw new Error(`unsupported: ${planned.unsupported}`);
  const runner = new ArrayRunner(setup, plan, planned.steps, maxLength);
  let histories: number[][] = Array.from({ length: rows }, () => []);
  let last: number[][] = [];
  const reorder = (order: number[] | undefined) => {
    if (!order) return;
    runner.reorder(Int32Array.from(order));
    histories = order.map((from) => histories[from]);
    fixedRows = Object.fromEntries(Object.entries(fixedRows).map(([k, v]) => [k, order.map((from) => v[from])]));
  };
  try {
    reorder(run.reorders?.[-1]);
    run.chunks.forEach((chunk, c) => {
      const n = chunk[0].length;
      const output = runner.advance(Int32Array.from(chunk.flat()), n, histories[0].length);
      last = output.arraySync();
      output.dispose();
      histories = histories.map((h, r) => [...h, ...chunk[r]]);
      histories.forEach((history, r) => {
        const inputs = {
          ...Object.fromEntries(Object.entries(fixedRows).map(([k, v]) => [k, v[r]])),
          [tokenName]: history,
        };
        const expected = expectedRows(model, inputs, masks?.extra ?? (run.byNodes ? () => undefined : undefined));
        const at = expected[history.length - 1];
        expect(last[r]).toHaveLength(at.length);
        last[r].forEach((v, i) => expect(Math.abs(v - at[i])).toBeLessThan(tolerance));
      });
      reorder(run.reorders?.[c]);
    });
  } finally {
    runner.dispose();
    tf.dispose(masks?.made ?? []);
  }
  // The runner owns the fixed inputs' tensors: disposed with it.
  expect(tf.memory().numTensors).toBe(before);
  return last;
}

/** Rows of `chunk` tokens, varied by row and step. */
const TOKENS = [
  [
    [3, 4],
    [5, 6],
    [1, 3],
  ],
  [[2], [4], [6]],
  [[5], [3], [4]],
  [[6], [2], [5]],
];

describe('the typed-array runner and steps against predict [cpu]', () => {
  beforeAll(async () => {
    await initBackend('cpu', { quiet: true });
  });

  it('runs a decoder-only stack: learned positions, a pre-LN causal block, tfjs norms, merges, bridged layers', () => {
    const tokens = ids('tokens');
    let x = sym(embedding({ maskZero: false, name: 'embedding' }).apply(tokens));
    x = sym(tf.layers.dropout({ rate: 0.5 }).apply(x));
    x = sym(tf.layers.gaussianNoise({ stddev: 1 }).apply(x));
    x = sym(
      new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 16, causal: true, normalizeFirst: true }).apply(x),
    );
    const a = sym(tf.layers.dense({ units: 8, activation: 'tanh' }).apply(x));
    const b = sym(tf.layers.dense({ units: 8, activation: 'softmax', useBias: false }).apply(x));
    const merged = [
      tf.layers.add(),
      new Subtract({}),
      tf.layers.multiply(),
      tf.layers.maximum(),
      tf.layers.minimum(),
      tf.layers.average(),
    ].map((layer) => sym(layer.apply([a, b])));
    // A three-input average and sum: each input counted once.
    merged.push(sym(tf.layers.average().apply([a, b, x])), sym(tf.layers.add().apply([x, a, b])));
    x = sym(tf.layers.add().apply(merged));
    x = sym(tf.layers.layerNormalization({ epsilon: 0.5 }).apply(x));
    x = sym(tf.layers.activation({ activation: 'selu' }).apply(x));
    x = sym(tf.layers.layerNormalization({ center: false, epsilon: 0.01 }).apply(x));
    x = sym(tf.layers.dense({ units: 8, activation: 'softsign' }).apply(x)); // no array step: through tfjs
    x = sym(tf.layers.elu().apply(x)); // no array step: through tfjs
    x = sym(tf.layers.layerNormalization({ scale: false, center: false, epsilon: 0.1 }).apply(x));
    x = sym(tf.layers.activation({ activation: 'softmax' }).apply(x));
    x = sym(tf.layers.layerNormalization({ scale: false }).apply(x));
    // Through tfjs (not the identity: zeroes the positions all 0.25, none here; its mask reaches no merge,
    // whose computeMask tfjs 4.22 breaks on a mask beside none).
    x = sym(tf.layers.masking({ maskValue: 0.25 }).apply(x));
    const model = logitsModel(tokens, x, 10);
    // Norms with gamma and beta of their own (seedKernels leaves 1-D weights alone).
    model.layers
      .filter((l) => l.getClassName() === 'LayerNormalization')
      .forEach((l, i) =>
        l.weights.forEach((w, j) =>
          w.write(tf.tensor1d(Array.from({ length: w.shape[0]! }, (_v, k) => 0.5 + ((k * 7 + i + j) % 5) / 4))),
        ),
      );
    expectSameAsModel(model, { chunks: TOKENS });
    // Rows reordered and copied between steps, as a beam search does: the caches follow.
    expectSameAsModel(model, { chunks: TOKENS, reorders: { 0: [2, 0, 0], 2: [1, 2, 0] } });
    // Positions written anywhere in the caches: one position a step from the start.
    expectSameAsModel(model, { chunks: [[[3], [4], [5]], ...TOKENS.slice(1)], maxLength: 8 });
    tf.dispose(model.getWeights());
  });

  it("runs our embedding's sinusoidal positions (scaled), masked layer norm and projections' layers", () => {
    const tokens = ids('tokens');
    let x = sym(embedding({ positionEncoding: 'sinusoidal', scaleEmbeddings: true, sequenceLength: 6 }).apply(tokens));
    // A position layer without an array step: through tfjs, told where the positions start.
    x = sym(tf.layers.add().apply([x, sym(new SinusoidalPositionEncoding().apply(x))]));
    x = sym(new MaskedLayerNormalization({ epsilon: 0.3 }).apply(x));
    x = sym(
      new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 8, causal: true, activation: 'relu' }).apply(x),
    );
    // Our attention projections as layers of their own: (B, T, 8) -> (B, T, 2, 4) -> (B, T, 8).
    x = sym(new AttentionProjection({ numHeads: 2, headDim: 4 }).apply(x));
    // tfjs's layer norms of the (B, T, 2, 4) heads: over both axes (the last first; without gamma, which
    // would be 8 wide and make the 8 values one row) and over the heads' axis through tfjs; over the last
    // axis (as -1 and as 3) on arrays. The first norm sees the raw projections (after a norm over the
    // last axis, one over both would change little).
    x = sym(tf.layers.layerNormalization({ axis: [3, 2], scale: false, center: false, epsilon: 0.1 }).apply(x));
    for (const axis of [2, -1, 3]) x = sym(tf.layers.layerNormalization({ axis, epsilon: 0.1 }).apply(x));
    x = sym(new AttentionOutputProjection({ outputDim: 8 }).apply(x));
    const model = logitsModel(tokens, x, 20, 'elu');
    expectSameAsModel(model, { chunks: TOKENS, maxLength: 6 });
    // The table's length: the shorter of the caches' and the embedding's.
    expectSameAsModel(model, { chunks: TOKENS, maxLength: 5 });
    tf.dispose(model.getWeights());
  });

  it('runs MultiHeadAttention: causal with a sliding window and a gate, cross over a padded memory, head masks', () => {
    const tokens = ids('tokens');
    const source = ids('source');
    const memory = sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 8, maskZero: true }).apply(source));
    const x = sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 8 }).apply(tokens));
    const self = sym(
      new MultiHeadAttention({
        numHeads: 2,
        keyDim: 8,
        valueDim: 4,
        causal: true,
        slidingWindow: 2,
        useGate: true,
        name: 'self',
      }).apply(x),
    );
    const cross = sym(
      new MultiHeadAttention({ numHeads: 2, keyDim: 4, name: 'cross' }).apply([
        sym(tf.layers.add().apply([x, self])),
        memory,
      ]),
    );
    // A causal attention without a window or biases, over three heads. Both self-attentions take one input
    // (query, value and key alike): tfjs 4.22's predict disposes a tensor too early when one layer
    // takes it twice and another layer takes it too.
    const plain = sym(
      new MultiHeadAttention({ numHeads: 3, keyDim: 4, causal: true, useBias: false, name: 'plain' }).apply(cross),
    );
    const model = logitsModel([tokens, source], sym(tf.layers.add().apply([cross, plain])), 30);
    const fixed = {
      source: [
        [3, 0, 0],
        [4, 5, 6],
        [2, 6, 0],
      ],
    };
    expectSameAsModel(model, { chunks: TOKENS, fixed });
    // The memory's mask and the static caches move with the rows.
    expectSameAsModel(model, { chunks: TOKENS, fixed, reorders: { 0: [2, 2, 1], 1: [1, 0, 2] } });
    // Reordered before the first step: the fixed part's values (the memory and its mask) move.
    expectSameAsModel(model, { chunks: TOKENS, fixed, reorders: { [-1]: [2, 0, 2], 1: [1, 0, 2] } });
    const headMasks = { self: [1, 0], cross: [0, 2], plain: tf.tensor1d([0.5, 0, 1]) };
    const masked = expectSameAsModel(model, { chunks: TOKENS, fixed, headMasks });
    const unmasked = expectSameAsModel(model, { chunks: TOKENS, fixed });
    expect(Math.max(...masked.flat().map((v, i) => Math.abs(v - unmasked.flat()[i])))).toBeGreaterThan(1e-3);
    tf.dispose([headMasks.plain, ...model.getWeights()]);
  });

  it('runs an encoder-decoder of our blocks: the encoder once over a padded source, its masks, head masks', () => {
    const tokens = ids('tokens');
    const source = ids('source');
    let memory = sym(embedding({ maskZero: true, name: 'source_embedding' }).apply(source));
    memory = sym(tf.layers.dense({ units: 8, name: 'source_dense' }).apply(memory));
    // No array step: through tfjs, with the source's mask.
    memory = sym(tf.layers.dense({ units: 8, activation: 'softsign', name: 'source_softsign' }).apply(memory));
    memory = sym(new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 16, name: 'encoder' }).apply(memory));
    // An attention without a cache over the source, its padding masks from query, value and key.
    memory = sym(
      new MultiHeadAttention({ numHeads: 2, keyDim: 4, name: 'encoder_mha' }).apply([memory, memory, memory]),
    );
    // Heads of 6, which the array kernels do not take: through tfjs, with its head mask.
    memory = sym(new MultiHeadAttention({ numHeads: 2, keyDim: 6, name: 'encoder_odd' }).apply(memory));
    memory = sym(tf.layers.layerNormalization({ name: 'encoder_norm' }).apply(memory));
    let x = sym(embedding({ name: 'embedding' }).apply(tokens));
    x = sym(new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 16, name: 'block' }).apply([x, memory]));
    x = sym(
      new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 16, normalizeFirst: true, name: 'block2' }).apply([
        x,
        memory,
      ]),
    );
    const model = logitsModel([tokens, source], x, 40);
    const fixed = {
      source: [
        [3, 4, 0, 0],
        [5, 6, 3, 2],
        [6, 0, 0, 0],
      ],
    };
    expectSameAsModel(model, { chunks: TOKENS, fixed, byNodes: true });
    expectSameAsModel(model, { chunks: TOKENS, fixed, byNodes: true, reorders: { 1: [2, 1, 2] } });
    const headMasks = {
      'block/self_attention': [0, 1],
      'block/cross_attention': [1, 0],
      'block2/cross_attention': [0.5, 1],
      encoder_mha: [0, 1],
      'encoder/self_attention': [1, 0.25],
      encoder_odd: [0, 1],
    };
    expectSameAsModel(model, { chunks: TOKENS, fixed, headMasks });
    tf.dispose(model.getWeights());
  });

  it('runs static attentions over a padded source: causal with a window, a query without a mask, padding read', () => {
    const tokens = ids('tokens');
    const source = ids('source');
    const masked = sym(embedding({ maskZero: true, name: 'masked' }).apply(source));
    const unmasked = sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 8, name: 'unmasked' }).apply(source));
    // Each part's padded positions are read downstream: a Conv1D ends the masks (it supports none), and the
    // attention whose query has no mask gives none.
    const conv = (x: tf.SymbolicTensor, name: string) =>
      sym(tf.layers.conv1d({ filters: 8, kernelSize: 1, name }).apply(x));
    const attention = (name: string, args: Record<string, unknown> = {}) =>
      new MultiHeadAttention({ numHeads: 2, keyDim: 4, name, ...args });
    const block = new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 8, causal: true, name: 'causal_block' });
    const decoder = new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 8, name: 'static_decoder' });
    const memory = sym(
      tf.layers.add().apply([
        conv(sym(attention('windowed', { causal: true, slidingWindow: 2 }).apply(masked)), 'windowed_conv'),
        conv(sym(attention('window_only', { slidingWindow: 1 }).apply(masked)), 'window_only_conv'),
        conv(sym(block.apply(masked)), 'block_conv'),
        // The query's padding alone; the value's alone (the output has no mask); keys from another input
        // than the values (through tfjs).
        conv(sym(attention('query_masked').apply([masked, unmasked])), 'query_masked_conv'),
        sym(attention('value_masked', { valueDim: 8 }).apply([unmasked, masked])),
        conv(sym(attention('key_apart').apply([masked, masked, unmasked])), 'key_apart_conv'),
        // A block whose sequence has no mask, over a padded memory: its cross-attention's value mask alone.
        sym(decoder.apply([unmasked, masked])),
      ]),
    );
    const x = sym(embedding({ name: 'embedding' }).apply(tokens));
    const cross = sym(new MultiHeadAttention({ numHeads: 2, keyDim: 4, name: 'cross' }).apply([x, memory]));
    const model = logitsModel([tokens, source], cross, 80);
    const fixed = {
      source: [
        [3, 4, 0, 0],
        [5, 6, 3, 2],
        [0, 2, 0, 5],
      ],
    };
    // The reference runs node by node: predict hands an attention of two inputs only its first one's mask.
    expectSameAsModel(model, { chunks: TOKENS, fixed, byNodes: true, reorders: { 0: [2, 0, 1] } });
    tf.dispose(model.getWeights());
  });

  it("runs tfjs's Masking over a padded source of features: its values and its mask as tfjs computes them", () => {
    const tokens = ids('tokens');
    const features = tf.input({ shape: [null, 4], name: 'features' });
    // Padding: positions whose features are all -1 (the mask value), zeroed and masked by the layer.
    let memory = sym(tf.layers.masking({ maskValue: -1 }).apply(features));
    memory = sym(tf.layers.dense({ units: 8, name: 'features_dense' }).apply(memory));
    const x = sym(embedding({ name: 'embedding' }).apply(tokens));
    const cross = sym(new MultiHeadAttention({ numHeads: 2, keyDim: 4, name: 'cross' }).apply([x, memory]));
    const model = logitsModel([tokens, features], cross, 70);
    const pad = [-1, -1, -1, -1];
    const fixed = {
      features: [
        [[0.5, -1, 2, 0], pad, pad],
        [[1, 0.25, -0.5, 3], [-1, 2, -1, -1], pad],
        [
          [-2, 1, 0, 1],
          [0, 0, 0, 0],
          [1, 1, -1, 0.5],
        ],
      ],
    };
    // The reference runs node by node: predict hands the attention only its first input's mask.
    expectSameAsModel(model, { chunks: TOKENS, fixed, byNodes: true, reorders: { 1: [2, 0, 0] } });
    tf.dispose(model.getWeights());
  });

  it('runs a model used as a layer: its nodes with their own steps, its encoder part every step', () => {
    const innerTokens = ids('inner_tokens');
    const innerSource = ids('inner_source');
    const innerMemory = sym(embedding({ maskZero: true }).apply(innerSource));
    let y = sym(embedding().apply(innerTokens));
    y = sym(
      new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 16, name: 'inner_block' }).apply([y, innerMemory]),
    );
    const inner = tf.model({ inputs: [innerTokens, innerSource], outputs: y, name: 'inner' });
    const tokens = ids('tokens');
    const source = ids('source');
    const x = sym(inner.apply([tokens, source]));
    const model = logitsModel([source, tokens], x, 50);
    const fixed = {
      source: [
        [3, 0],
        [5, 6],
        [2, 4],
      ],
    };
    expectSameAsModel(model, { chunks: TOKENS, fixed, tokenInput: 'tokens', reorders: { 0: [1, 1, 0] } });
    expectSameAsModel(model, {
      chunks: TOKENS,
      fixed,
      tokenInput: 'tokens',
      headMasks: { 'inner/inner_block/self_attention': [0, 1] },
    });
    tf.dispose(model.getWeights());
  });

  it('plans which nodes run on arrays, which through tfjs, and which attentions it cannot run', () => {
    /** Each node's step by layer name: 'arrays', 'tfjs' (bridged), or the plan's refusal. */
    const stepsOf = (
      model: tf.LayersModel,
      extra: (layer: tf.layers.Layer) => Record<string, unknown> | undefined = () => undefined,
    ): Record<string, string> | string => {
      const plan = planGraph(model, new Set([model.inputs[0].id]));
      const planned = planArraySteps(plan, { rows: 2, extra }, 4);
      if (!('steps' in planned)) return planned.unsupported;
      return Object.fromEntries(
        [...planned.steps].map(([node, step]) => [node.layer.name, step === 'bridged' ? 'tfjs' : 'arrays']),
      );
    };
    const tokens = ids('tokens');
    const source = ids('source');
    // The fixed part (static nodes): merges run through tfjs there, the others on arrays.
    let memory = sym(embedding({ maskZero: true, name: 's_embedding' }).apply(source));
    const memoryDense = sym(tf.layers.dense({ units: 8, name: 's_dense' }).apply(memory));
    memory = sym(tf.layers.add({ name: 's_add' }).apply([memory, memoryDense]));
    memory = sym(tf.layers.average({ name: 's_average' }).apply([memory, memoryDense]));
    memory = sym(tf.layers.dense({ units: 8, activation: 'softsign', name: 's_softsign' }).apply(memory));
    memory = sym(new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 8, name: 's_block' }).apply(memory));
    memory = sym(new MultiHeadAttention({ numHeads: 2, keyDim: 4, name: 's_mha' }).apply([memory, memory]));
    // keras-hub's encoder decides its padding masks in its call: through tfjs in the fixed part.
    memory = sym(new KerasHubTransformerEncoder({ numHeads: 2, intermediateDim: 8, name: 's_hub' }).apply(memory));
    let x = sym(embedding({ name: 'embedding' }).apply(tokens));
    x = sym(tf.layers.dense({ units: 8, activation: 'relu', name: 'relu' }).apply(x));
    x = sym(tf.layers.dense({ units: 8, name: 'called' }).apply(x, { scale: 2 } as never));
    x = sym(tf.layers.dense({ units: 8, name: 'trained' }).apply(x, { training: false }));
    x = sym(tf.layers.dense({ units: 6, activation: 'softsign', name: 'softsign' }).apply(x));
    x = sym(tf.layers.layerNormalization({ name: 'norm_6' }).apply(x));
    x = sym(new MaskedLayerNormalization({ name: 'masked_6' }).apply(x));
    x = sym(tf.layers.dense({ units: 8, name: 'widen' }).apply(x));
    const widened = x;
    x = sym(new AttentionProjection({ numHeads: 2, headDim: 4, name: 'projection' }).apply(x));
    // tfjs's layer norms of the (B, T, 2, 4) heads: on arrays over the last axis only.
    x = sym(tf.layers.layerNormalization({ axis: -1, name: 'heads_norm_last' }).apply(x));
    x = sym(tf.layers.layerNormalization({ axis: 3, name: 'heads_norm_3' }).apply(x));
    x = sym(tf.layers.layerNormalization({ axis: 2, name: 'heads_norm_2' }).apply(x));
    x = sym(tf.layers.layerNormalization({ axis: [3, 2], name: 'heads_norm_3_2' }).apply(x));
    x = sym(new AttentionOutputProjection({ outputDim: 8, name: 'output_projection' }).apply(x));
    x = sym(tf.layers.layerNormalization({ name: 'norm_8' }).apply(x));
    x = sym(new MaskedLayerNormalization({ name: 'masked_8' }).apply(x));
    x = sym(tf.layers.activation({ activation: 'softsign', name: 'act_softsign' }).apply(x));
    x = sym(tf.layers.activation({ activation: 'gelu', name: 'act_gelu' }).apply(x));
    x = sym(tf.layers.elu({ name: 'elu' }).apply(x));
    x = sym(tf.layers.dropout({ rate: 0.5, name: 'dropout' }).apply(x));
    // The other layers that are the identity at inference, and the merges, on arrays too; Masking (not
    // the identity: it zeroes and masks the positions all of its mask value) through tfjs.
    x = sym(tf.layers.alphaDropout({ rate: 0.5, name: 'alpha_dropout' }).apply(x));
    x = sym(tf.layers.gaussianDropout({ rate: 0.5, name: 'gaussian_dropout' }).apply(x));
    x = sym(tf.layers.gaussianNoise({ stddev: 1, name: 'gaussian_noise' }).apply(x));
    x = sym(tf.layers.spatialDropout1d({ rate: 0.5, name: 'spatial_dropout' }).apply(x));
    x = sym(tf.layers.masking({ name: 'masking' }).apply(x));
    x = sym(tf.layers.add({ name: 'add' }).apply([x, x]));
    x = sym(tf.layers.average({ name: 'average' }).apply([x, x]));
    x = sym(tf.layers.maximum({ name: 'maximum' }).apply([x, x]));
    // Three inputs, the third not the second (as an attention's key apart from its value).
    x = sym(tf.layers.add({ name: 'add3' }).apply([x, x, widened]));
    x = sym(new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 8, name: 'block' }).apply([x, memory]));
    x = sym(new MultiHeadAttention({ numHeads: 2, keyDim: 4, causal: true, name: 'mha' }).apply([x, x]));
    // keras-hub's decoder with its caches: on arrays (the caches hold no padding masks).
    x = sym(new KerasHubTransformerDecoder({ numHeads: 2, intermediateDim: 8, name: 'hub' }).apply([x, memory]));
    const model = tf.model({ inputs: [tokens, source], outputs: x });
    expect(stepsOf(model)).toEqual({
      s_embedding: 'arrays',
      s_dense: 'arrays',
      s_add: 'tfjs',
      s_average: 'tfjs',
      s_softsign: 'tfjs',
      s_block: 'arrays',
      s_mha: 'arrays',
      s_hub: 'tfjs',
      embedding: 'arrays',
      relu: 'arrays',
      called: 'tfjs',
      trained: 'arrays',
      softsign: 'tfjs',
      norm_6: 'tfjs',
      masked_6: 'tfjs',
      widen: 'arrays',
      projection: 'arrays',
      heads_norm_last: 'arrays',
      heads_norm_3: 'arrays',
      heads_norm_2: 'tfjs',
      heads_norm_3_2: 'tfjs',
      output_projection: 'arrays',
      norm_8: 'arrays',
      masked_8: 'arrays',
      act_softsign: 'tfjs',
      act_gelu: 'arrays',
      elu: 'tfjs',
      dropout: 'arrays',
      alpha_dropout: 'arrays',
      gaussian_dropout: 'arrays',
      gaussian_noise: 'arrays',
      spatial_dropout: 'arrays',
      masking: 'tfjs',
      add: 'arrays',
      average: 'arrays',
      maximum: 'arrays',
      add3: 'arrays',
      block: 'arrays',
      mha: 'arrays',
      hub: 'arrays',
    });
    // Head masks: a (H) one on arrays; a (B, H) one, or any other call argument, through tfjs.
    const rowMask = tf.ones([2, 2]);
    const headMask = tf.ones([2]);
    const extras: Array<[Record<string, Record<string, unknown>>, Record<string, string> | string]> = [
      [{ mha: { headMask } }, { mha: 'arrays' }],
      [{ block: { selfAttentionHeadMask: headMask, crossAttentionHeadMask: headMask } }, { block: 'arrays' }],
      [{ s_block: { selfAttentionHeadMask: headMask } }, { s_block: 'arrays' }],
      [{ s_mha: { headMask } }, { s_mha: 'arrays' }],
      [{ mha: { headMask: rowMask } }, "layer 'mha' (MultiHeadAttention)"],
      [{ mha: { headMask, other: 1 } }, "layer 'mha' (MultiHeadAttention)"],
      [{ block: { selfAttentionHeadMask: rowMask } }, "layer 'block' (TransformerDecoderBlock)"],
      [{ block: { crossAttentionHeadMask: rowMask } }, "layer 'block' (TransformerDecoderBlock)"],
      [{ block: { other: 1 } }, "layer 'block' (TransformerDecoderBlock)"],
      [{ s_mha: { headMask: rowMask } }, { s_mha: 'tfjs' }],
      [{ s_block: { other: 1 } }, { s_block: 'tfjs' }],
      [{ s_dense: { other: 1 } }, { s_dense: 'tfjs' }],
      [{ s_embedding: { other: 1 } }, { s_embedding: 'tfjs' }],
      [{ relu: { other: 1 } }, { relu: 'tfjs' }],
      [{ embedding: { other: 1 } }, { embedding: 'tfjs' }],
    ];
    for (const [byName, expected] of extras) {
      const steps = stepsOf(model, (layer) => byName[layer.name]);
      if (typeof expected === 'string') expect(steps).toBe(expected);
      else expect(steps).toMatchObject(expected);
    }
    tf.dispose([rowMask, headMask, ...model.getWeights()]);

    // Attentions the steps cannot take: heads of 6 (keys or values), 'zero' for fully masked queries,
    // scores returned, inputs by Keras's call arguments, keys from another input than the values.
    const attentions: Array<[Record<string, unknown>, boolean, string?]> = [
      [{ keyDim: 6 }, false],
      [{ keyDim: 6, valueDim: 4 }, false],
      [{ keyDim: 4, valueDim: 6 }, false],
      [{ keyDim: 4, fullyMaskedQueries: 'zero' }, false],
      [{ keyDim: 4, fullyMaskedQueries: 'uniform' }, true],
      [{ keyDim: 4, valueDim: 8 }, true],
      [{ keyDim: 4, returnAttentionScores: true }, false],
      [{ keyDim: 4, callArguments: ['query', 'value'] }, false],
      [{ keyDim: 4 }, false, 'key apart'],
      [{ keyDim: 4 }, true, 'key the value'],
    ];
    for (const [args, runs, inputs] of attentions) {
      const t = ids('tokens');
      const e = sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 8 }).apply(t));
      const k = sym(tf.layers.dense({ units: 8 }).apply(e));
      const a = new MultiHeadAttention({ numHeads: 2, causal: true, name: 'a', ...args } as never);
      const applied = a.apply(inputs === 'key apart' ? [e, e, k] : inputs === 'key the value' ? [e, k, k] : [e, e]);
      const m = tf.model({ inputs: t, outputs: [applied].flat().map(sym) });
      expect([args, inputs, stepsOf(m)]).toEqual([
        args,
        inputs,
        runs ? expect.objectContaining({ a: 'arrays' }) : "layer 'a' (MultiHeadAttention)",
      ]);
      tf.dispose(m.getWeights());
    }
    // A block 6 wide (heads of 4): the row kernels take rows of a multiple of 4.
    const t6 = ids('tokens');
    const e6 = sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 6 }).apply(t6));
    const block6 = new TransformerEncoderBlock({
      numHeads: 2,
      keyDim: 4,
      intermediateDim: 8,
      causal: true,
      name: 'b6',
    });
    const narrow = tf.model({ inputs: t6, outputs: sym(block6.apply(e6)) });
    expect(stepsOf(narrow)).toBe("layer 'b6' (TransformerEncoderBlock)");
    tf.dispose(narrow.getWeights());
    // A cached layer of a user's own (not an attention or a block of ours): no array step, refused.
    const t = ids('tokens');
    const e = sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 8 }).apply(t));
    const own = tf.model({ inputs: t, outputs: sym(new OwnCached({ name: 'own' }).apply(e)) });
    expect(stepsOf(own)).toBe("layer 'own' (OwnCached)");
    tf.dispose(own.getWeights());
  });

  it('refuses positions past the caches or the table, ids outside the vocabulary, outputs it cannot read', () => {
    const tokens = ids('tokens');
    const source = ids('source');
    const x = sym(embedding({ sequenceLength: 4, name: 'short' }).apply(tokens));
    const block = sym(new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 8, causal: true }).apply(x));
    const model = logitsModel(tokens, block, 60);
    const setup: RunnerSetup = {
      model,
      tokenInput: 0,
      fixedInputs: [null],
      rows: 1,
      probabilities: true,
      extra: () => undefined,
    };
    const make = (maxLength: number, m = model, s = { ...setup, model: m }) => {
      const plan = planGraph(m, new Set([m.inputs[s.tokenInput].id]));
      const planned = planArraySteps(plan, s, maxLength);
      if (!('steps' in planned)) throw new Error(planned.unsupported);
      return new ArrayRunner(s, plan, planned.steps, maxLength);
    };
    const runner = make(3);
    expect(runner.rows).toBe(1);
    expect(runner.probabilities).toBe(true);
    tf.dispose(runner.advance(Int32Array.from([3, 4]), 2, 0));
    expect(() => runner.advance(Int32Array.from([3, 4]), 2, 2)).toThrow(
      "generate: positions up to 4 are past the caches' 3 positions",
    );
    tf.dispose(runner.advance(Int32Array.from([3]), 1, 2));
    const long = make(6);
    expect(() => long.advance(Int32Array.from([1, 2, 3, 4, 5]), 5, 0)).toThrow(
      "TokenAndPositionEmbedding 'short': positions 0..4 exceed sequenceLength 4",
    );
    expect(() => long.advance(Int32Array.from([3]), 1, 4)).toThrow(
      "TokenAndPositionEmbedding 'short': positions 4..4 exceed sequenceLength 4",
    );
    tf.dispose(long.advance(Int32Array.from([1, 2, 3, 4]), 4, 0));
    for (const id of [7, -1]) {
      expect(() => make(4).advance(Float32Array.from([id]) as unknown as Int32Array, 1, 0)).toThrow(
        `TokenAndPositionEmbedding 'short': token id ${id} is outside [0, 6]`,
      );
    }
    expect(() => make(4).advance(Int32Array.from([3, 6]), 2, 0)).not.toThrow();

    // The fixed part throws (a source id outside the table): the runner frees the fixed inputs it owns.
    const encoded = tf.model({
      inputs: [tokens, source],
      outputs: sym(
        new MultiHeadAttention({ numHeads: 2, keyDim: 4 }).apply([
          x,
          sym(embedding({ name: 'source_ids' }).apply(source)),
        ]),
      ),
    });
    const before = tf.memory().numTensors;
    expect(() => make(4, encoded, { ...setup, model: encoded, fixedInputs: [null, idTensor([[3, 9]])] })).toThrow(
      "TokenAndPositionEmbedding 'source_ids': token id 9 is outside [0, 6]",
    );
    expect(tf.memory().numTensors).toBe(before);
    // A merge of the new positions with a fixed input of another length (predict needs them equal).
    const merged = tf.model({
      inputs: [tokens, source],
      outputs: sym(
        tf.layers
          .add({ name: 'mixed_lengths' })
          .apply([x, sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 8 }).apply(source))]),
      ),
    });
    const mergedRunner = make(4, merged, {
      ...setup,
      model: merged,
      fixedInputs: [null, idTensor([[3, 4, 5]])],
    });
    expect(() => mergedRunner.advance(Int32Array.from([3]), 1, 0)).toThrow(
      'generate: mixed_lengths merges inputs of different shapes, which the typed-array step does not',
    );
    mergedRunner.dispose();
    // An output not (B, T, V); an output that does not depend on the tokens.
    const flat = tf.model({ inputs: tokens, outputs: sym(tf.layers.activation({ activation: 'relu' }).apply(tokens)) });
    expect(() => make(4, flat).advance(Int32Array.from([3]), 1, 0)).toThrow(
      "generate: the model's output must be (B, T, V) logits or probabilities per position, got shape [1,1]",
    );
    const fixedOnly = tf.model({
      inputs: [tokens, source],
      outputs: [
        sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 4 }).apply(source)),
        sym(tf.layers.dense({ units: 4 }).apply(x)),
      ],
    });
    const sourceSetup: RunnerSetup = {
      ...setup,
      model: fixedOnly,
      tokenInput: 0,
      fixedInputs: [null, idTensor([[3, 4]])],
    };
    expect(() => make(4, fixedOnly, sourceSetup).advance(Int32Array.from([3]), 1, 0)).toThrow(
      'generate: the model output does not depend on the token input',
    );
    tf.dispose([
      ...model.getWeights(),
      ...flat.getWeights(),
      ...fixedOnly.getWeights(),
      ...encoded.getWeights(),
      ...merged.getWeights(),
    ]);
  });
});
