/**
 * src/keras/keras_masks.ts: the masks Keras applies, made explicit, as the Keras version that wrote
 * a file applies them; and Keras's run order, checked against the order Keras itself recorded for
 * every Keras 3 fixture (scripts/keras_fixtures/make_fixtures.py `run_order`). The fixtures that
 * exercise each rule end to end (k3_mask_*, tfk2.21_mask, k2.15_mask) are in keras_written.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type KerasGraph, type LayerJson, type NodeCall, TensorRef } from '../../src/keras/graph';
import { Hdf5File } from '../../src/keras/hdf5';
import { parseKeras3Config } from '../../src/keras/keras3_config';
import { explicitMasks, kerasRunOrder, maskSemantics } from '../../src/keras/keras_masks';
import { inlineNestedModels } from '../../src/keras/nested_models';
import { ZipArchive } from '../../src/keras/zip';
import { KERAS_WRITTEN, readManifest } from '../helpers/keras_written';

const ref = (layer: string, node = 0, tensor = 0) => new TensorRef(layer, node, tensor);
const call = (args: unknown[], kwargs: Record<string, unknown> = {}): NodeCall => ({ args, kwargs });
const layer = (className: string, name: string, config: Record<string, unknown>, nodes: NodeCall[]): LayerJson => ({
  class_name: className,
  name,
  config: { name, ...config },
  nodes,
  keras3: true,
});
const STOCK = new Set(['InputLayer', 'Embedding', 'LayerNormalization', 'Dense', 'Add']);
const classOf = (l: LayerJson) =>
  l.module === 'keras.src.ops.numpy' ? 'operation' : STOCK.has(l.class_name) ? `stock:${l.class_name}` : l.class_name;
const byName = (graph: KerasGraph, name: string) => graph.layers.find((l) => l.name === name)!;
const input = layer('InputLayer', 'ids', {}, []);
const embedding = layer('Embedding', 'embedding', { mask_zero: true }, [call([ref('ids')])]);
/** What a mask argument refers to: the operation that computes it, with its inputs. */
const describeRef = (graph: KerasGraph, value: unknown): string => {
  if (!(value instanceof TensorRef)) return String(value);
  const producer = byName(graph, value.layer);
  if (producer.module !== 'keras.src.ops.numpy') return value.layer;
  const args = producer.nodes[0].args.map((a) => (a instanceof TensorRef ? describeRef(graph, a) : JSON.stringify(a)));
  return `${producer.class_name}(${args.join(', ')})`;
};

describe('maskSemantics: what each Keras release does with masks', () => {
  it.each([
    ['2.15.0', false, { keras3: false, merge: 'and', attentionClearsMasks: false, zeroFullyMaskedQueries: false }],
    ['3.3.3', true, { keras3: true, merge: 'none', attentionClearsMasks: false, zeroFullyMaskedQueries: false }],
    ['3.4.0', true, { keras3: true, merge: 'or', attentionClearsMasks: false, zeroFullyMaskedQueries: false }],
    ['3.8.0', true, { keras3: true, merge: 'or', attentionClearsMasks: true, zeroFullyMaskedQueries: false }],
    ['3.9.2', true, { keras3: true, merge: 'or', attentionClearsMasks: true, zeroFullyMaskedQueries: false }],
    ['3.10.0', true, { keras3: true, merge: 'or', attentionClearsMasks: true, zeroFullyMaskedQueries: true }],
    ['3.15.1', true, { keras3: true, merge: 'or', attentionClearsMasks: true, zeroFullyMaskedQueries: true }],
    [null, true, { keras3: true, merge: 'or', attentionClearsMasks: true, zeroFullyMaskedQueries: true }],
    [null, false, { keras3: false, merge: 'and', attentionClearsMasks: false, zeroFullyMaskedQueries: false }],
  ] as const)('keras_version %s (Keras 3 config: %s)', (version, keras3, want) => {
    expect(maskSemantics(version, keras3)).toEqual(want);
  });
});

describe('explicitMasks', () => {
  /** ids -> Embedding(mask_zero) -> two LayerNormalizations -> MultiHeadAttention(query, value). */
  const twoNorms = (): KerasGraph => ({
    name: 'value',
    layers: [
      input,
      embedding,
      layer('LayerNormalization', 'q', {}, [call([ref('embedding')])]),
      layer('LayerNormalization', 'v', {}, [call([ref('embedding')])]),
      layer('MultiHeadAttention', 'attention', {}, [call([ref('q'), ref('v')])]),
    ],
    inputs: [ref('ids')],
    outputs: [ref('attention')],
  });

  it("passes the query's and the value's masks, ids != 0, and turns the embedding's tfjs mask off", () => {
    const graph = twoNorms();
    const out = explicitMasks(graph, maskSemantics('3.15.1', true), classOf);
    const { kwargs } = byName(out, 'attention').nodes[0];
    expect(describeRef(out, kwargs.query_mask)).toBe('NotEqual(ids, 0)');
    expect(describeRef(out, kwargs.value_mask)).toBe('NotEqual(ids, 0)');
    expect(kwargs.key_mask).toBeUndefined();
    expect(byName(out, 'embedding').config.mask_zero).toBe(false);
    // The operation comes before the layer that first needs it, and the given graph is unchanged.
    expect(out.layers.map((l) => l.name)).toEqual(['ids', 'ids_padding_mask', 'embedding', 'q', 'v', 'attention']);
    expect(embedding.config.mask_zero).toBe(true);
    expect(graph.layers[4].nodes[0].kwargs).toEqual({});
  });

  /** Embedding -> x; MultiHeadAttention(x, x) -> a; Add([x, a]) -> h; MultiHeadAttention(h, h). */
  const residual = (): KerasGraph => ({
    name: 'cleared',
    layers: [
      input,
      embedding,
      layer('MultiHeadAttention', 'first', { dropout: 0.1 }, [call([ref('embedding'), ref('embedding')])]),
      layer('Add', 'add', {}, [call([[ref('embedding'), ref('first')]])]),
      layer('MultiHeadAttention', 'second', {}, [call([ref('add'), ref('add')])]),
    ],
    inputs: [ref('ids')],
    outputs: [ref('second')],
  });

  it.each([
    // Keras 3.8+: `first` clears x's mask, so Add gets [none, m]: none (3.4+'s rule).
    ['3.15.1', true, undefined],
    // Keras 3.4-3.7: nothing cleared; Add ORs [m, m].
    ['3.7.0', true, 'NotEqual(ids, 0)'],
    // Keras 3.0-3.3: a merge layer's output has no mask.
    ['3.3.3', true, undefined],
    // Keras 2: nothing cleared; Add ANDs the masks there are.
    ['2.15.0', false, 'NotEqual(ids, 0)'],
  ])("x + attention(x, x) under keras_version %s: the next attention's query mask", (version, keras3, want) => {
    const out = explicitMasks(residual(), maskSemantics(version, keras3), classOf);
    const { kwargs } = byName(out, 'second').nodes[0];
    expect(kwargs.query_mask == null ? undefined : describeRef(out, kwargs.query_mask)).toBe(want);
    expect(kwargs.value_mask == null ? undefined : describeRef(out, kwargs.value_mask)).toBe(want);
    // The first attention always gets x's mask; with dropout, 3.10+ gives fully masked queries zero attention.
    expect(describeRef(out, byName(out, 'first').nodes[0].kwargs.query_mask)).toBe('NotEqual(ids, 0)');
    expect(byName(out, 'first').config.fully_masked_queries).toBe(version === '3.15.1' ? 'zero' : undefined);
    expect(byName(out, 'second').config.fully_masked_queries).toBeUndefined();
  });

  it('ORs (Keras 3.4+) or ANDs (Keras 2) two different masks in a merge layer', () => {
    const graph: KerasGraph = {
      name: 'merge',
      layers: [
        input,
        layer('InputLayer', 'other', {}, []),
        embedding,
        layer('Embedding', 'embedding_2', { mask_zero: true }, [call([ref('other')])]),
        layer('Add', 'add', {}, [call([[ref('embedding'), ref('embedding_2')]])]),
        layer('MultiHeadAttention', 'attention', {}, [call([ref('add'), ref('add')])]),
      ],
      inputs: [ref('ids'), ref('other')],
      outputs: [ref('attention')],
    };
    for (const [version, keras3, op] of [
      ['3.15.1', true, 'LogicalOr'],
      ['2.15.0', false, 'LogicalAnd'],
    ] as const) {
      const out = explicitMasks(graph, maskSemantics(version, keras3), classOf);
      expect(describeRef(out, byName(out, 'attention').nodes[0].kwargs.query_mask)).toBe(
        `${op}(NotEqual(ids, 0), NotEqual(other, 0))`,
      );
    }
  });

  it("keeps tfjs's masks where a layer's mask handling is not known (a user's class)", () => {
    const graph = twoNorms();
    graph.layers[2] = layer('MyNorm', 'q', {}, [call([ref('embedding')])]);
    const withQueryMask = { ...graph.layers[4], nodes: [call([ref('q'), ref('v')], { query_mask: ref('v') })] };
    graph.layers[4] = withQueryMask;
    const out = explicitMasks(graph, maskSemantics('3.15.1', true), classOf);
    expect(byName(out, 'embedding').config.mask_zero).toBe(true);
    expect(out.layers.map((l) => l.name)).toEqual(['ids', 'embedding', 'q', 'v', 'attention']);
    // Keras 3.8+ ignores a query_mask argument (it reads the query's own mask): dropped all the same.
    expect(byName(out, 'attention').nodes[0].kwargs).toEqual({});
  });

  it('writes no operation for a mask no layer uses', () => {
    const graph: KerasGraph = {
      name: 'unused',
      layers: [input, embedding, layer('Dense', 'dense', {}, [call([ref('embedding')])])],
      inputs: [ref('ids')],
      outputs: [ref('dense')],
    };
    const out = explicitMasks(graph, maskSemantics('3.15.1', true), classOf);
    expect(out.layers.map((l) => l.name)).toEqual(['ids', 'embedding', 'dense']);
  });
});

it('walks a chain of 20,000 layers without recursion, the mask reaching its end', () => {
  const n = 20_000;
  const dense = Array.from({ length: n }, (_x, i) =>
    layer('Dense', `d${i}`, {}, [call([ref(i === 0 ? 'embedding' : `d${i - 1}`)])]),
  );
  const graph: KerasGraph = {
    name: 'chain',
    layers: [input, embedding, ...dense, layer('MultiHeadAttention', 'attention', {}, [call([ref(`d${n - 1}`)])])],
    inputs: [ref('ids')],
    outputs: [ref('attention')],
  };
  expect(kerasRunOrder(graph)).toHaveLength(n + 3);
  const out = explicitMasks(graph, maskSemantics('3.15.1', true), classOf);
  expect(describeRef(out, byName(out, 'attention').nodes[0].kwargs.query_mask)).toBe('NotEqual(ids, 0)');
});

describe("kerasRunOrder: Keras's own order, for every Keras 3 fixture", () => {
  const entries = readManifest().entries.filter((e) => e.runOrder != null);

  it('covers the attention fixtures, in both formats', () => {
    const files = entries.map((e) => e.file);
    for (const file of ['k3_attention.keras', 'k3_attention.h5', 'k3_mask_order.keras', 'k3_keras_hub.h5']) {
      expect(files).toContain(file);
    }
  });

  it.each(entries.map((e) => [e.file, e.runOrder!] as const))('%s', (file, want) => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(KERAS_WRITTEN, file)));
    const config = file.endsWith('.keras')
      ? JSON.parse(new TextDecoder().decode(new ZipArchive(bytes, file).read('config.json')))
      : JSON.parse(new Hdf5File(bytes, file).attrs('').model_config as string);
    const graph = inlineNestedModels(parseKeras3Config(config, file), file);
    const order = kerasRunOrder(graph)
      .filter((c) => c.layer.class_name !== 'InputLayer')
      .map((c) => c.layer.name);
    expect(order).toEqual(want);
  });
});
