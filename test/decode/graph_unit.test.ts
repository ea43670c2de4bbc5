/**
 * The graph reading of a model that incremental decoding runs (src/decode/graph.ts), on width-8
 * models built in each test, cpu: each node's plan (static, position-wise, positioned, cached with
 * its caches' modes, nested), every refusal's message, what the growing part reads, the layers
 * reading an input and the position limit they set, whether the output is probabilities, a model
 * run node by node against `predict` (padding masks, a model used as a layer, head masks), and the
 * attention sites and head-mask arguments with their refusals. Seconds, so that StrykerJS can run
 * it for every mutant of graph.ts (test/MUTATION.md).
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';
import {
  allNodes,
  attentionSites,
  callNode,
  describeLayer,
  type GraphPlan,
  headMaskArguments,
  isContainer,
  layersReading,
  outputIsProbabilities,
  planGraph,
  positionLimit,
  readByGrowingPart,
  runModel,
} from '../../src/decode/graph';
import type { IncrementalRole } from '../../src/layers/incremental';
import { MultiHeadAttention } from '../../src/layers/multi_head_attention';
import { TokenAndPositionEmbedding } from '../../src/layers/token_and_position_embedding';
import { TransformerDecoderBlock } from '../../src/layers/transformer_decoder_block';
import { TransformerEncoderBlock } from '../../src/layers/transformer_encoder_block';
import { ids as idTensor } from '../helpers/tensors';
import { seedKernels, Subtract } from './tiny_models';

const VOCABULARY = 7;

const ids = (name: string) => tf.input({ shape: [null], dtype: 'int32', name });
const embedding = (name: string, sequenceLength = 8) =>
  new TokenAndPositionEmbedding({ vocabularySize: VOCABULARY, sequenceLength, embeddingDim: 8, name });
const sym = (x: unknown) => x as tf.SymbolicTensor;

/** Each planned node's layer name and kind (with its caches' modes), in plan order. */
function kinds(plan: GraphPlan): Array<[string, string]> {
  return plan.nodes.map(({ layer, run }) => [
    layer.name,
    run.kind === 'cached' ? `cached ${run.slots.map((s) => s.mode).join(',')}` : run.kind,
  ]);
}

/** Every node's inputs are a model input or an output of a node before it. */
function expectRunOrder(plan: GraphPlan): void {
  const ready = new Set(plan.model.inputs.map((t) => t.id));
  for (const { node } of plan.nodes) {
    node.inputTensors.forEach((t) => expect(ready.has(t.id)).toBe(true));
    node.outputTensors.forEach((t) => ready.add(t.id));
  }
}

function growing(model: tf.LayersModel, name = 'tokens'): Set<number> {
  return new Set(model.inputs.filter((t) => t.name.startsWith(name)).map((t) => t.id));
}

/** A layer of a user's own that says its role (position-wise, or null: it cannot run one position at a time). */
class OwnRole extends tf.layers.Layer {
  static className = 'OwnRole';
  constructor(private readonly role: IncrementalRole | null) {
    super({});
  }
  incrementalRole(): IncrementalRole | null {
    return this.role;
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return [inputs].flat()[0];
  }
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

describe('the graph of a model, as incremental decoding runs it [cpu]', () => {
  beforeAll(async () => {
    await initBackend('cpu', { quiet: true });
  });

  it('plans every node: static, position-wise, positioned, cached (updated, static), nested', () => {
    const tokens = ids('tokens');
    const source = ids('source');
    const memory = sym(
      tf.layers
        .dense({ units: 8, name: 'encoder_dense' })
        .apply(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 8, name: 'source_embedding' }).apply(source)),
    );
    // A layer that mixes positions is fine where it does not depend on the tokens.
    const convolved = sym(tf.layers.conv1d({ filters: 8, kernelSize: 1, name: 'encoder_conv' }).apply(memory));
    let x = sym(embedding('embedding').apply(tokens));
    x = sym(tf.layers.dropout({ rate: 0.1, name: 'dropout' }).apply(x));
    x = sym(new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 16, name: 'block' }).apply([x, convolved]));
    const attended = sym(new MultiHeadAttention({ numHeads: 2, keyDim: 4, causal: true, name: 'mha' }).apply([x, x]));
    const crossed = sym(new MultiHeadAttention({ numHeads: 2, keyDim: 4, name: 'cross' }).apply([x, memory]));
    x = sym(tf.layers.concatenate({ axis: -1, name: 'concat_last' }).apply([attended, crossed]));
    x = sym(tf.layers.concatenate({ axis: 2, name: 'concat_two' }).apply([x, x]));
    // A model used as a layer: inputs (growing, fixed); its own encoder part stays static inside.
    const innerX = tf.input({ shape: [null, 32], name: 'inner_x' });
    const innerMemory = tf.input({ shape: [null, 8], name: 'inner_memory' });
    const innerFixed = sym(tf.layers.dense({ units: 8, name: 'inner_fixed' }).apply(innerMemory));
    const innerOut = sym(
      new MultiHeadAttention({ numHeads: 2, keyDim: 4, name: 'inner_cross' }).apply([
        sym(tf.layers.layerNormalization({ name: 'inner_norm' }).apply(innerX)),
        innerFixed,
      ]),
    );
    const inner = tf.model({ inputs: [innerX, innerMemory], outputs: innerOut, name: 'inner' });
    x = sym(inner.apply([x, memory]));
    // tfjs's Softmax works on axis 1 unless told (Keras: -1); here the last axis, 2.
    x = sym(tf.layers.softmax({ axis: 2, name: 'softmax' }).apply(x));
    const model = tf.model({
      inputs: [tokens, source],
      outputs: sym(tf.layers.dense({ units: VOCABULARY, name: 'head' }).apply(x)),
    });
    const plan = planGraph(model, growing(model));
    expect(plan.model).toBe(model);
    expectRunOrder(plan);
    expect(Object.fromEntries(kinds(plan))).toEqual({
      source_embedding: 'static',
      encoder_dense: 'static',
      encoder_conv: 'static',
      embedding: 'positioned',
      dropout: 'position-wise',
      block: 'cached updated,static',
      mha: 'cached updated',
      cross: 'cached static',
      concat_last: 'position-wise',
      concat_two: 'position-wise',
      inner: 'nested',
      softmax: 'position-wise',
      head: 'position-wise',
    });
    // The input layers are not nodes to run.
    expect(plan.nodes).toHaveLength(13);
    const embeddingRun = plan.nodes.find((n) => n.layer.name === 'embedding')!.run;
    expect(embeddingRun).toEqual({ kind: 'positioned', startIndexArgument: 'startIndex' });
    const nested = plan.nodes.find((n) => n.layer.name === 'inner')!.run;
    if (nested.kind !== 'nested') throw new Error('not nested');
    expect(nested.plan.model).toBe(inner);
    expectRunOrder(nested.plan);
    expect(Object.fromEntries(kinds(nested.plan))).toEqual({
      inner_norm: 'position-wise',
      inner_fixed: 'static',
      inner_cross: 'cached static',
    });
    // The block's caches: its self-attention's over the tokens, its cross-attention's over the memory.
    const block = plan.nodes.find((n) => n.layer.name === 'block')!.run;
    if (block.kind !== 'cached') throw new Error('not cached');
    expect(block.slots.map((s) => [s.attention.name, s.cacheArgument, s.mode])).toEqual([
      [expect.stringContaining('self'), 'selfAttentionCache', 'updated'],
      [expect.stringContaining('cross'), 'crossAttentionCache', 'static'],
    ]);

    // Every node, nested plans' too, the nested node before its own.
    const names = allNodes(plan).map((n) => n.layer.name);
    expect(names).toHaveLength(16);
    const at = names.indexOf('inner');
    expect(names.slice(at + 1, at + 4).sort()).toEqual(['inner_cross', 'inner_fixed', 'inner_norm']);
    expect(allNodes(nested.plan).map((n) => n.layer.name)).toEqual(names.slice(at + 1, at + 4));

    // What the growing part reads: the tokens, the memory, the conv's output, not the source.
    const read = readByGrowingPart(plan);
    const expected = new Set(
      plan.nodes.filter((n) => n.run.kind !== 'static').flatMap((n) => n.node.inputTensors.map((t) => t.id)),
    );
    expect(read).toEqual(expected);
    expect(read.has(tokens.id)).toBe(true);
    expect(read.has(memory.id)).toBe(true);
    expect(read.has(convolved.id)).toBe(true);
    expect(read.has(source.id)).toBe(false);
    // Growing the source instead: its convolution now depends on what grows.
    expect(() => planGraph(model, growing(model, 'source'))).toThrow("layer 'encoder_conv' (Conv1D) mixes positions");
    tf.dispose(model.getWeights());
  });

  it('refuses, naming the layer, what mixes positions without a cache', () => {
    const refusals: Array<[(x: tf.SymbolicTensor, memory: tf.SymbolicTensor) => unknown, string]> = [
      [
        (x) => tf.layers.conv1d({ filters: 8, kernelSize: 2, name: 'conv' }).apply(x),
        "generate: layer 'conv' (Conv1D) mixes positions and keeps no key/value cache, so the model cannot run " +
          'one new position at a time; pass useCache: false to rerun the whole model for every token',
      ],
      [
        (x) => tf.layers.concatenate({ axis: 1, name: 'along_time' }).apply([x, x]),
        "generate: layer 'along_time' (Concatenate) mixes positions and keeps no key/value cache",
      ],
      [
        (x) => tf.layers.softmax({ axis: 1, name: 'over_time' }).apply(x),
        "generate: layer 'over_time' (Softmax) mixes positions",
      ],
      [(x) => new OwnRole(null).apply(x), '(OwnRole) mixes positions'],
      // A layer norm over the positions' axis (no weights: their shape would need a length).
      [
        (x) => tf.layers.layerNormalization({ axis: 1, center: false, scale: false, name: 'over_positions' }).apply(x),
        "generate: layer 'over_positions' (LayerNormalization) mixes positions",
      ],
      [
        (x) => tf.layers.layerNormalization({ axis: [-2, -1], center: false, scale: false, name: 'two' }).apply(x),
        "generate: layer 'two' (LayerNormalization) mixes positions",
      ],
      [
        (x) => new MultiHeadAttention({ numHeads: 2, keyDim: 4, name: 'both_ways' }).apply([x, x]),
        "generate: layer 'both_ways' (MultiHeadAttention) attends over the growing sequence without a causal mask, " +
          'so its output at earlier positions changes with every new token and no cache can hold it. Generating ' +
          'needs causal self-attention (causal: true, or keras-hub useCausalMask); pass useCache: false to rerun ' +
          'the model anyway',
      ],
      [
        (x, memory) =>
          new MultiHeadAttention({ numHeads: 2, keyDim: 4, causal: true, name: 'mixed' }).apply([x, x, memory]),
        "generate: layer 'mixed' (MultiHeadAttention) takes its keys and values from both the growing sequence " +
          'and a fixed input; it cannot keep one cache of them. Pass useCache: false',
      ],
      [
        (x, memory) =>
          new MultiHeadAttention({ numHeads: 2, keyDim: 4, causal: true, name: 'mixed_too' }).apply([x, memory, x]),
        "generate: layer 'mixed_too' (MultiHeadAttention) takes its keys and values from both",
      ],
    ];
    for (const [layer, message] of refusals) {
      const tokens = ids('tokens');
      const source = ids('source');
      const x = sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 8 }).apply(tokens));
      const memory = sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 8 }).apply(source));
      const model = tf.model({ inputs: [tokens, source], outputs: sym(layer(x, memory)) });
      expect(() => planGraph(model, growing(model))).toThrow(message);
      tf.dispose(model.getWeights());
    }
    // The same layers work on the last axis, or as a role of one's own says.
    const tokens = ids('tokens');
    const x = sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 8, name: 'e' }).apply(tokens));
    const y = sym(
      tf.layers.softmax({ axis: -1, name: 'minus_one' }).apply(new OwnRole({ kind: 'position-wise' }).apply(x)),
    );
    const normed = sym(tf.layers.layerNormalization({ axis: 2 }).apply(sym(tf.layers.batchNormalization().apply(y))));
    const z = sym(tf.layers.concatenate({ name: 'default_axis' }).apply([x, normed]));
    const model = tf.model({ inputs: tokens, outputs: z });
    expect(kinds(planGraph(model, growing(model))).map(([, kind]) => kind)).toEqual(Array(6).fill('position-wise'));
    tf.dispose(model.getWeights());
  });

  it("plans each of tfjs's position-wise layers position-wise", () => {
    const tokens = ids('tokens');
    const x = sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 8 }).apply(tokens));
    const y = sym(tf.layers.dense({ units: 8 }).apply(x));
    const layers: Array<[tf.layers.Layer, boolean]> = [
      [tf.layers.activation({ activation: 'relu' }), false],
      [tf.layers.add(), true],
      [tf.layers.alphaDropout({ rate: 0.1 }), false],
      [tf.layers.average(), true],
      [tf.layers.batchNormalization(), false],
      [tf.layers.elu(), false],
      [tf.layers.gaussianDropout({ rate: 0.1 }), false],
      [tf.layers.gaussianNoise({ stddev: 0.1 }), false],
      [tf.layers.leakyReLU(), false],
      [tf.layers.masking(), false],
      [tf.layers.maximum(), true],
      [tf.layers.minimum(), true],
      [tf.layers.multiply(), true],
      [tf.layers.prelu({ sharedAxes: [1] }), false],
      [tf.layers.reLU(), false],
      [tf.layers.spatialDropout1d({ rate: 0.1 }), false],
      [new Subtract({}), true],
      [tf.layers.thresholdedReLU(), false],
      [tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 8 }) }), false],
    ];
    const outputs = layers.map(([layer, merge]) => sym(layer.apply(merge ? [x, y] : x)));
    const model = tf.model({ inputs: tokens, outputs });
    const planned = Object.fromEntries(kinds(planGraph(model, growing(model))));
    for (const [layer] of layers)
      expect([layer.getClassName(), planned[layer.name]]).toEqual([layer.getClassName(), 'position-wise']);
    tf.dispose(model.getWeights());
  });

  it('names a layer; tells a model used as a layer from a layer', () => {
    const dense = tf.layers.dense({ units: 2, name: 'd' });
    expect(describeLayer(dense)).toBe("layer 'd' (Dense)");
    const input = tf.input({ shape: [3] });
    const model = tf.model({ inputs: input, outputs: sym(dense.apply(input)) });
    expect(isContainer(model)).toBe(true);
    expect(isContainer(dense)).toBe(false);
    tf.dispose(model.getWeights());
  });

  it('reads whether the output is probabilities: a softmax Dense, Activation or Softmax, inside a model too', () => {
    const cases: Array<[(x: tf.SymbolicTensor) => unknown, boolean]> = [
      [(x) => tf.layers.dense({ units: VOCABULARY, activation: 'softmax' }).apply(x), true],
      [(x) => tf.layers.dense({ units: VOCABULARY }).apply(x), false],
      [(x) => tf.layers.dense({ units: VOCABULARY, activation: 'sigmoid' }).apply(x), false],
      [(x) => tf.layers.activation({ activation: 'softmax' }).apply(x), true],
      [(x) => tf.layers.softmax().apply(x), true],
      [(x) => tf.layers.layerNormalization().apply(x), false],
    ];
    for (const [head, probabilities] of cases) {
      for (const nested of [false, true]) {
        const tokens = ids('tokens');
        const x = sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 8 }).apply(tokens));
        let model = tf.model({ inputs: tokens, outputs: sym(head(x)) });
        if (nested) {
          const outer = ids('outer');
          model = tf.model({ inputs: outer, outputs: sym(model.apply(outer)) });
        }
        expect([nested, outputIsProbabilities(model)]).toEqual([nested, probabilities]);
        tf.dispose(model.getWeights());
      }
    }
  });

  it("lists the layers reading an input, nested ones too; the position limit is their shortest table's", () => {
    const a = ids('a');
    const b = ids('b');
    const fromA = sym(embedding('a_8', 8).apply(a));
    const fromB = sym(embedding('b_5', 5).apply(b));
    const innerInput = ids('inner_ids');
    const innerOther = tf.input({ shape: [null, 8], name: 'inner_other' });
    const inner = tf.model({
      inputs: [innerInput, innerOther],
      outputs: sym(
        tf.layers
          .add({ name: 'inner_add' })
          .apply([
            sym(embedding('inner_6', 6).apply(innerInput)),
            sym(tf.layers.dense({ units: 8, name: 'inner_dense' }).apply(innerOther)),
          ]),
      ),
      name: 'inner',
    });
    const nested = sym(inner.apply([a, fromB]));
    const sum = sym(tf.layers.add({ name: 'sum' }).apply([fromA, nested]));
    const model = tf.model({ inputs: [a, b], outputs: sym(tf.layers.dense({ units: 3, name: 'head' }).apply(sum)) });
    const names = (i: number) => layersReading(model, i).map((l) => l.name);
    expect(names(0).sort()).toEqual(['a_8', 'head', 'inner', 'inner_6', 'inner_add', 'sum'].sort());
    expect(names(1).sort()).toEqual(['b_5', 'head', 'inner', 'inner_add', 'inner_dense', 'sum'].sort());
    // Each reads after what it reads from (the nested model's layers after it).
    expect(names(0).indexOf('inner')).toBeLessThan(names(0).indexOf('inner_6'));
    expect(names(0).indexOf('sum')).toBeLessThan(names(0).indexOf('head'));
    expect(positionLimit(model, 0)).toBe(6);
    expect(positionLimit(model, 1)).toBe(5);
    const plain = tf.model({ inputs: a, outputs: sym(tf.layers.embedding({ inputDim: 7, outputDim: 4 }).apply(a)) });
    expect(positionLimit(plain, 0)).toBe(Infinity);
    tf.dispose([...model.getWeights(), ...plain.getWeights()]);
  });

  it('runs a model node by node as predict does: padding masks, a model used as a layer, two inputs', () => {
    const tokens = ids('tokens');
    const source = ids('source');
    const masked = new TokenAndPositionEmbedding({
      vocabularySize: VOCABULARY,
      sequenceLength: 8,
      embeddingDim: 8,
      maskZero: true,
    });
    let x = sym(masked.apply(tokens));
    const memory = sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 8, maskZero: true }).apply(source));
    x = sym(new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 16, name: 'block' }).apply([x, memory]));
    const innerInput = tf.input({ shape: [null, 8] });
    const inner = tf.model({
      inputs: innerInput,
      outputs: sym(
        new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 16, causal: true, name: 'inner_block' }).apply(
          innerInput,
        ),
      ),
      name: 'inner',
    });
    x = sym(inner.apply(x));
    const model = seedKernels(
      tf.model({ inputs: [tokens, source], outputs: sym(tf.layers.dense({ units: VOCABULARY }).apply(x)) }),
      40,
    );
    tf.tidy(() => {
      // Padding in both inputs: the masks must reach the attentions as predict's executor sends them.
      const t = idTensor([
        [3, 4, 5, 0],
        [6, 0, 0, 0],
      ]);
      const s = idTensor([
        [2, 0, 0],
        [4, 5, 6],
      ]);
      const expected = model.predict([t, s]) as tf.Tensor;
      const [actual] = runModel(model, [t, s]);
      expect(actual.shape).toEqual([2, 4, VOCABULARY]);
      expect(maxAbsDiff(actual, expected)).toBeLessThan(1e-5);
      // Not a degenerate check: the masks change the outputs.
      const unpadded = idTensor([
        [2, 3, 3],
        [4, 5, 6],
      ]);
      const unmasked = model.predict([t, unpadded]) as tf.Tensor;
      expect(maxAbsDiff(unmasked.slice([0, 0], [1, 3]), expected.slice([0, 0], [1, 3]))).toBeGreaterThan(1e-3);
    });
    tf.dispose(model.getWeights());
  });

  it('calls a node with its input masks; a layer without masking ends them', () => {
    const tokens = ids('tokens');
    const embedded = sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 4, maskZero: true }).apply(tokens));
    const dense = tf.layers.dense({ units: 4 });
    const densed = sym(dense.apply(embedded));
    const sum = sym(tf.layers.add().apply([embedded, densed]));
    const conv = sym(tf.layers.conv1d({ filters: 4, kernelSize: 1 }).apply(sum));
    const model = tf.model({ inputs: tokens, outputs: conv });
    const [, embedNode, denseNode, addNode, convNode] = [null, ...model.layers.slice(1).map((l) => l.inboundNodes[0])];
    tf.tidy(() => {
      const t = idTensor([[3, 0, 4]]);
      const e = callNode(embedNode!, [{ tensor: t, mask: null }]);
      expect(e.masks[0]!.cast('float32').arraySync()).toEqual([[1, 0, 1]]);
      const value = { tensor: e.outputs[0], mask: e.masks[0] };
      const d = callNode(denseNode!, [value]);
      expect(maxAbsDiff(d.outputs[0], dense.apply(e.outputs[0]) as tf.Tensor)).toBe(0);
      expect(d.masks[0]!.cast('float32').arraySync()).toEqual([[1, 0, 1]]);
      const a = callNode(addNode!, [value, { tensor: d.outputs[0], mask: d.masks[0] }]);
      expect(maxAbsDiff(a.outputs[0], e.outputs[0].add(d.outputs[0]))).toBeLessThan(1e-6);
      expect(Array.from(a.masks[0]!.dataSync())).toEqual([1, 0, 1]);
      const c = callNode(convNode!, [{ tensor: a.outputs[0], mask: a.masks[0] }]);
      expect(c.outputs[0].shape).toEqual([1, 3, 4]);
      expect(c.masks).toEqual([null]);
    });
    tf.dispose(model.getWeights());
  });

  it('finds the attention sites by path, and makes head masks the call arguments of the layers holding them', () => {
    const tokens = ids('tokens');
    const source = ids('source');
    const memory = sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 8 }).apply(source));
    let x = sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 8 }).apply(tokens));
    const block = new TransformerDecoderBlock({ numHeads: 2, intermediateDim: 16, name: 'block' });
    x = sym(block.apply([x, memory]));
    const mha = new MultiHeadAttention({ numHeads: 4, keyDim: 4, causal: true, name: 'mha' });
    x = sym(mha.apply([x, x]));
    const innerInput = tf.input({ shape: [null, 8] });
    const innerBlock = new TransformerEncoderBlock({ numHeads: 2, intermediateDim: 16, causal: true, name: 'b2' });
    const inner = tf.model({ inputs: innerInput, outputs: sym(innerBlock.apply(innerInput)), name: 'inner' });
    const model = tf.model({ inputs: [tokens, source], outputs: sym(inner.apply(x)) });
    const sites = attentionSites(model);
    expect(sites.map((s) => [s.path, s.owner.name, s.headMaskArgument])).toEqual([
      ['block/self_attention', 'block', 'selfAttentionHeadMask'],
      ['block/cross_attention', 'block', 'crossAttentionHeadMask'],
      ['mha', 'mha', 'headMask'],
      ['inner/b2/self_attention', 'b2', 'selfAttentionHeadMask'],
    ]);
    expect(sites.map((s) => s.attention)).toEqual([
      block.selfAttention,
      block.crossAttention,
      mha,
      innerBlock.selfAttention,
    ]);
    expect(attentionSites(model, 'outer/')[0].path).toBe('outer/block/self_attention');

    const given = tf.tensor1d([1, 0, 1, 1]);
    const before = tf.memory().numTensors;
    const { extra, made } = headMaskArguments(model, {
      'block/self_attention': [1, 0],
      'block/cross_attention': [0.5, 1],
      mha: given,
      'inner/b2/self_attention': [0, 1],
    });
    // Two masks of one block in one set of arguments; a tensor given is used, not copied.
    expect(made).toHaveLength(3);
    expect(tf.memory().numTensors).toBe(before + 3);
    const blockArgs = extra(block)!;
    expect(Object.keys(blockArgs).sort()).toEqual(['crossAttentionHeadMask', 'selfAttentionHeadMask']);
    expect((blockArgs.selfAttentionHeadMask as tf.Tensor).arraySync()).toEqual([1, 0]);
    expect((blockArgs.crossAttentionHeadMask as tf.Tensor).arraySync()).toEqual([0.5, 1]);
    expect(extra(mha)).toEqual({ headMask: given });
    expect((extra(innerBlock)!.selfAttentionHeadMask as tf.Tensor).arraySync()).toEqual([0, 1]);
    expect(extra(inner)).toBeUndefined();
    tf.dispose(made);

    const refusals: Array<[Record<string, unknown>, string, string?]> = [
      [
        { 'block/self': [1, 0] },
        "generate: headMasks has 'block/self', which is not an attention layer of the model; its attention layers " +
          "are 'block/self_attention', 'block/cross_attention', 'mha', 'inner/b2/self_attention'",
      ],
      [{ mha: [1, 0] }, "generate: headMasks['mha'] must be 4 numbers (one per head), got [1,0]"],
      [{ mha: [1, 0, 1, 1, 1] }, "generate: headMasks['mha'] must be 4 numbers (one per head), got [1,0,1,1,1]"],
      [{ mha: 'all' }, "generate: headMasks['mha'] must be 4 numbers (one per head), got 'all'"],
      [{ mha: [1, 0, '1', 1] }, 'generate: headMasks[\'mha\'] must be 4 numbers (one per head), got [1,0,"1",1]'],
      [{ mha: [1, 0, NaN, 1] }, "generate: headMasks['mha'] must be 4 numbers (one per head)"],
      [
        { mha: [1, 0, Infinity, 1] },
        "explainAttention: headMasks['mha'] must be 4 numbers (one per head)",
        'explainAttention',
      ],
      // A mask made before the refusal is freed.
      [{ 'block/self_attention': [1, 1], mha: [1] }, "generate: headMasks['mha'] must be 4 numbers"],
    ];
    for (const [masks, message, where] of refusals) {
      expect(() => headMaskArguments(model, masks as Record<string, number[]>, where)).toThrow(message);
      expect(tf.memory().numTensors).toBe(before);
    }
    const plainInput = ids('plain');
    const plain = tf.model({
      inputs: plainInput,
      outputs: sym(tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 4 }).apply(plainInput)),
    });
    expect(attentionSites(plain)).toEqual([]);
    expect(() => headMaskArguments(plain, { mha: [1] })).toThrow(
      "generate: headMasks has 'mha', which is not an attention layer of the model; its attention layers are none",
    );
    tf.dispose([given, ...model.getWeights(), ...plain.getWeights()]);
  });

  it('runs head masks through runModel: zeroed heads leave the output projection alone', () => {
    const tokens = ids('tokens');
    const embed = tf.layers.embedding({ inputDim: VOCABULARY, outputDim: 8 });
    const x = sym(embed.apply(tokens));
    const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 4, causal: true, name: 'mha' });
    const model = seedKernels(tf.model({ inputs: tokens, outputs: sym(mha.apply([x, x])) }), 60);
    const { extra, made } = headMaskArguments(model, { mha: [0, 1] });
    tf.tidy(() => {
      const t = idTensor([[3, 4, 5]]);
      const [masked] = runModel(model, [t], extra);
      const e = embed.apply(t) as tf.Tensor;
      const expected = mha.call([e, e], { headMask: made[0] } as never) as tf.Tensor;
      expect(maxAbsDiff(masked, expected)).toBeLessThan(1e-6);
      const [plain] = runModel(model, [t]);
      expect(maxAbsDiff(plain, model.predict(t) as tf.Tensor)).toBeLessThan(1e-6);
      expect(maxAbsDiff(plain, masked)).toBeGreaterThan(1e-3);
    });
    // The same model used as a layer: the head mask reaches the attention inside it.
    const outerInput = ids('outer');
    const outer = tf.model({ inputs: outerInput, outputs: sym(model.apply(outerInput)), name: 'outer' });
    const nested = headMaskArguments(outer, { [`${model.name}/mha`]: [0, 1] });
    tf.tidy(() => {
      const t = idTensor([[3, 4, 5]]);
      const [masked] = runModel(model, [t], extra);
      expect(maxAbsDiff(runModel(outer, [t], nested.extra)[0], masked)).toBeLessThan(1e-6);
      expect(maxAbsDiff(runModel(outer, [t])[0], model.predict(t) as tf.Tensor)).toBeLessThan(1e-6);
    });
    tf.dispose([...made, ...nested.made, ...model.getWeights()]);
  });
});
