/**
 * The JSON limits and load options every loader applies (src/io/limits.ts) and the topology check
 * (src/io/topology.ts), on small hand-made inputs: each limit just passed and just exceeded, each
 * refusal's message.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  checkJsonBytes,
  checkJsonText,
  checkJsonValue,
  checkLoadOptions,
  JSON_LIMITS,
  MAX_DEPTH,
  MAX_LAYERS,
  parseJson,
} from '../../src/io/limits';
import { ModelLoadError } from '../../src/io/load_error';
import { checkTopology } from '../../src/io/topology';

const nested = (depth: number) => `${'['.repeat(depth)}0${']'.repeat(depth)}`;

describe('JSON limits', () => {
  it('nesting: 100 deep passes, 101 is refused with the offset', () => {
    expect(() => checkJsonText(nested(JSON_LIMITS.maxDepth), 'f.json')).not.toThrow();
    expect(() => checkJsonText(nested(JSON_LIMITS.maxDepth + 1), 'f.json')).toThrow(
      new ModelLoadError('f.json', 'nests arrays and objects more than 100 deep (at offset 100)'),
    );
  });

  it('strings: the longest allowed passes (escapes included), one more character is refused', () => {
    const longest = `"${'\\"'.repeat(JSON_LIMITS.maxStringLength / 2)}"`;
    expect(() => checkJsonText(`{${longest}: 1}`, 'f.json')).not.toThrow();
    expect(() => checkJsonText(`["${'x'.repeat(JSON_LIMITS.maxStringLength + 1)}"]`, 'f.json')).toThrow(
      'f.json: holds a string of 1048577 characters (at offset 1), more than the 1048576 a model file may have',
    );
  });

  it('values and size', () => {
    expect(() => checkJsonText(`[${'0,'.repeat(JSON_LIMITS.maxValues)}0]`, 'f.json')).toThrow(
      'f.json: holds more than 1000000 JSON values',
    );
    expect(() => checkJsonText(' '.repeat(JSON_LIMITS.maxBytes + 1), 'f.json')).toThrow(
      'f.json: is 16777217 characters of JSON, more than the 16777216 a model file may have',
    );
    expect(() => parseJson('{"a": ', 'f.json')).toThrow(/^f\.json: is not valid JSON \(.+\)$/);
  });

  it('a document of 16 MB passes by its byte size, one byte more is refused before it is read', () => {
    expect(() => checkJsonBytes(JSON_LIMITS.maxBytes, 'f.json')).not.toThrow();
    expect(() => checkJsonBytes(JSON_LIMITS.maxBytes + 1, 'f.json')).toThrow(
      'f.json: is 16777217 bytes, more than the 16777216 a JSON file of a model may have',
    );
  });

  it('parsed values: depth, strings and cycles', () => {
    let deep: unknown = 0;
    for (let i = 0; i < 200; i++) deep = { a: deep };
    expect(() => checkJsonValue(deep, 'the given IOHandler')).toThrow(
      'the given IOHandler: nests arrays and objects more than 100 deep',
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => checkJsonValue(cyclic, 'the given IOHandler')).toThrow(
      /^the given IOHandler: (nests|holds more than)/,
    );
    expect(() => checkJsonValue({ f: () => 1 }, 'the given IOHandler')).toThrow(
      'the given IOHandler: holds a function, which JSON cannot',
    );
  });
});

describe('load options', () => {
  it('completes the defaults; an unknown name is an error with the nearest known one', () => {
    expect(checkLoadOptions('load', {})).toEqual({ nonFiniteWeights: 'refuse', maxWeightBytes: 2 ** 31 });
    expect(() => checkLoadOptions('load', { nonFiniteWeight: 'warn' })).toThrow(
      "load: unknown option 'nonFiniteWeight' (did you mean 'nonFiniteWeights'?)",
    );
    expect(() => checkLoadOptions('load', { maxWeightBytes: 0 })).toThrow(
      'load: maxWeightBytes is 0; expected a positive number of bytes (Infinity for no limit)',
    );
    expect(() => checkLoadOptions('load', null)).toThrow('load: options is null; expected an object');
  });
});

describe('topology check', () => {
  const reverse = () =>
    JSON.parse(fs.readFileSync(path.join(__dirname, '../../models/reverse/model.json'), 'utf8')).modelTopology;
  type Layer = {
    name: string;
    class_name: string;
    config: Record<string, unknown>;
    inbound_nodes: [string, number, number, object][][];
  };
  const rename = (layer: Layer, name: string) => ((layer.name = name), (layer.config = { ...layer.config, name }));
  type Config = { layers: Layer[]; input_layers: unknown[] };
  const edit = (change: (layers: Layer[], config: Config) => void) => {
    const topology = reverse();
    change(topology.config.layers, topology.config);
    return () => checkTopology(topology, 'model.json');
  };
  const named = (layers: Layer[], name: string) => layers.find((l) => l.name === name)!;

  it('passes a model saved by training, and a shared layer reading its own earlier call', () => {
    expect(() => checkTopology(reverse(), 'model.json')).not.toThrow();
    const shared = edit((layers) => {
      const block = named(layers, 'encoder_block_1');
      block.inbound_nodes.push([['encoder_block_1', 0, 0, {}]]);
      named(layers, 'encoder_final_layer_norm').inbound_nodes[0][0][1] = 1;
    });
    expect(shared).not.toThrow();
  });

  it.each([
    [
      'a call that does not exist',
      (l: Layer[]) => (named(l, 'encoder_final_layer_norm').inbound_nodes[0][0][1] = 1),
      "model.json: layer 'encoder_final_layer_norm' call 0 reads call 1 of layer 'encoder_block_1', " +
        'which is called 1 time(s)',
    ],
    [
      'a cycle, with its path',
      (l: Layer[]) => (named(l, 'encoder_block_0').inbound_nodes[0][0][0] = 'encoder_block_1'),
      'model.json: the model has a cycle (encoder_block_0 call 0 -> encoder_block_1 call 0 -> encoder_block_0 call 0)',
    ],
    [
      'a name every JavaScript object has',
      (l: Layer[]) => rename(named(l, 'logits'), 'hasOwnProperty'),
      "model.json: layer 10 of the model is named 'hasOwnProperty', a member of every JavaScript object",
    ],
    [
      'a class every JavaScript object has',
      (l: Layer[]) => (named(l, 'logits').class_name = '__proto__'),
      "model.json: layer 10 of the model has the class_name '__proto__', which is no layer class",
    ],
    [
      'two layers of one name',
      (l: Layer[]) => rename(named(l, 'logits'), 'source'),
      "model.json: the model has two layers named 'source'",
    ],
    [
      'a layer no output uses',
      (l: Layer[]) => {
        const spare = { ...named(l, 'logits') };
        rename(spare, 'spare');
        l.push(spare);
      },
      "model.json: layer 'spare' of the model is not used by its outputs; a saved model has no such layer",
    ],
    [
      'an input layer the outputs read but the model does not list',
      (_l: Layer[], config: Config) => (config.input_layers = [['source', 0, 0]]),
      "model.json: the model's outputs read its input layer 'decoder_input', which is not one of its input_layers",
    ],
    [
      'a layer named only in its config (tfjs finds layers by their own name, and would never return)',
      (l: Layer[]) => delete (named(l, 'target_embedding') as Partial<Layer>).name,
      'model.json: layer 5 of the model has the name undefined (missing)',
    ],
    [
      "a layer's call that needs its later call (tfjs numbers calls as it makes them)",
      (l: Layer[]) => {
        const block = named(l, 'encoder_block_1');
        block.inbound_nodes = [[['encoder_block_1', 1, 0, {}]], [['encoder_block_0', 0, 0, {}]]];
      },
      'model.json: the model has a cycle (encoder_block_1 call 0 -> encoder_block_1 call 1 -> encoder_block_1 call 0)',
    ],
    [
      'a call that reads no tensor (tfjs would wait forever for it)',
      (l: Layer[]) => (named(l, 'target_embedding').inbound_nodes[0] = []),
      "model.json: layer 'target_embedding' call 0 reads no tensor; a layer's call takes at least one",
    ],
    [
      'a name that its config contradicts',
      (l: Layer[]) => (named(l, 'logits').name = 'other'),
      "model.json: layer 'other' of the model has config.name 'logits'; the two must agree",
    ],
    [
      'a malformed reference',
      (l: Layer[]) => (named(l, 'logits').inbound_nodes[0][0][1] = -1),
      'model.json: layer \'logits\' call 0 has the tensor reference ["final_layer_norm",-1,0,{}]; ' +
        'expected [layer name, call, tensor]',
    ],
  ])('refuses %s', (_what, change, message) => {
    expect(edit(change as (layers: Layer[], config: Config) => void)).toThrow(message);
  });

  it('bounds the layers and the depth (tfjs recurses once a call when it builds the model)', () => {
    const chain = (length: number, fanOut = false) => ({
      class_name: 'Functional',
      config: {
        layers: [
          { class_name: 'InputLayer', name: 'x', config: {}, inbound_nodes: [] },
          ...Array.from({ length }, (_v, i) => ({
            class_name: 'ReLU',
            name: `r${i}`,
            config: {},
            inbound_nodes: [[[fanOut || i === 0 ? 'x' : `r${i - 1}`, 0, 0, {}]]],
          })),
        ],
        input_layers: [['x', 0, 0]],
        output_layers: fanOut ? Array.from({ length }, (_v, i) => [`r${i}`, 0, 0]) : [[`r${length - 1}`, 0, 0]],
      },
    });
    expect(() => checkTopology(chain(MAX_DEPTH - 1), 'model.json')).not.toThrow();
    expect(() => checkTopology(chain(MAX_DEPTH), 'model.json')).toThrow(
      `model.json: the model is more than 2000 calls deep (at r${MAX_DEPTH - 1} call 0); tfjs cannot build it`,
    );
    expect(() => checkTopology(chain(MAX_LAYERS, true), 'model.json')).toThrow('model.json: has more than 5000 layers');
  });

  it("numbers a nested model's calls from 1 as tfjs does, from 0 or 1 as Keras files do", () => {
    // x -> inner (a nested model: its own input, a Dense) -> after; `after` reads call `call` of inner.
    const nested = (call: number, innerReads = 'x') => ({
      class_name: 'Functional',
      config: {
        layers: [
          { class_name: 'InputLayer', name: 'x', config: {}, inbound_nodes: [] },
          {
            class_name: 'Functional',
            name: 'inner',
            config: {
              layers: [
                { class_name: 'InputLayer', name: 'i', config: {}, inbound_nodes: [] },
                { class_name: 'Dense', name: 'd', config: {}, inbound_nodes: [[['i', 0, 0, {}]]] },
              ],
              input_layers: [['i', 0, 0]],
              output_layers: [['d', 0, 0]],
            },
            inbound_nodes: [[[innerReads, 0, 0, {}]]],
          },
          { class_name: 'ReLU', name: 'after', config: {}, inbound_nodes: [[['inner', call, 0, {}]]] },
        ],
        input_layers: [['x', 0, 0]],
        output_layers: [['after', 0, 0]],
      },
    });
    expect(() => checkTopology(nested(1), 'model.json')).not.toThrow();
    expect(() => checkTopology(nested(0), 'config.json', 'keras')).not.toThrow();
    expect(() => checkTopology(nested(1), 'config.json', 'keras')).not.toThrow();
    expect(() => checkTopology(nested(2), 'model.json')).toThrow(
      "model.json: layer 'after' call 0 reads call 2 of layer 'inner', which is called 1 time(s), counted from 1",
    );
    expect(() => checkTopology(nested(2), 'config.json', 'keras')).toThrow(
      "config.json: layer 'after' call 0 reads call 2 of layer 'inner', which is called 1 time(s), counted from 0 or 1",
    );
    // tfjs's call 1 of inner is its first: a cycle, which tfjs would wait on forever.
    expect(() => checkTopology(nested(1, 'after'), 'model.json')).toThrow(
      'model.json: the model has a cycle (inner call 0 -> after call 0 -> inner call 0)',
    );
  });

  it("reads Keras 3's node format", () => {
    const tensor = (layer: string) => ({ class_name: '__keras_tensor__', config: { keras_history: [layer, 0, 0] } });
    const topology = {
      class_name: 'Functional',
      config: {
        layers: [
          { class_name: 'InputLayer', name: 'x', config: {}, inbound_nodes: [] },
          { class_name: 'Dense', name: 'd', config: {}, inbound_nodes: [{ args: [tensor('x')], kwargs: {} }] },
          {
            class_name: 'Add',
            name: 'a',
            config: {},
            inbound_nodes: [{ args: [[tensor('d'), tensor('y')]], kwargs: {} }],
          },
        ],
        input_layers: [['x', 0, 0]],
        output_layers: [['a', 0, 0]],
      },
    };
    expect(() => checkTopology(topology, 'config.json')).toThrow(
      "config.json: layer 'a' call 0 reads layer 'y', which the model does not have",
    );
  });

  describe('at its edges', () => {
    const input = (name = 'x') => ({ class_name: 'InputLayer', name, config: {}, inbound_nodes: [] as unknown[] });
    const layer = (className: string, name: string, nodes: unknown) => ({
      class_name: className,
      name,
      config: {},
      inbound_nodes: nodes,
    });
    const model = (layers: unknown[], outputs: unknown, inputs: unknown = [['x', 0, 0]]) => ({
      class_name: 'Functional',
      config: { layers, input_layers: inputs, output_layers: outputs },
    });
    /** x -> d, d reading `ref` (a Keras 2 node) or the node given. */
    const dense = (node: unknown, outputs: unknown = [['d', 0, 0]]) =>
      model([input(), layer('Dense', 'd', [node])], outputs);
    const check = (topology: unknown, numbering?: 'keras') => () => checkTopology(topology, 'm.json', numbering);
    /** A model whose one layer is a model, `depth` deep; tfjs numbers a nested model's calls from 1. */
    const nest = (depth: number): object =>
      depth === 0
        ? model([input('i'), layer('Dense', 'd', [[['i', 0, 0, {}]]])], [['d', 0, 0]], [['i', 0, 0]])
        : model(
            [input('i'), { ...nest(depth - 1), name: 'm', inbound_nodes: [[['i', 0, 0, {}]]] }],
            [['m', 1, 0]],
            [['i', 0, 0]],
          );

    it('tensor 1024 of a call, models nested 8 deep and 5000 layers pass; one more of each is refused', () => {
      expect(check(dense([['x', 0, 1024, {}]]))).not.toThrow();
      expect(check(dense([['x', 0, 1025, {}]]))).toThrow("m.json: layer 'd' call 0 reads tensor 1025 of layer 'x'");
      expect(check(nest(8))).not.toThrow();
      expect(check(nest(9))).toThrow('m.json: nests models more than 8 deep');
      const fan = (length: number) =>
        model(
          [input(), ...Array.from({ length }, (_v, i) => layer('ReLU', `r${i}`, [[['x', 0, 0, {}]]]))],
          Array.from({ length }, (_v, i) => [`r${i}`, 0, 0]),
        );
      expect(check(fan(MAX_LAYERS - 1))).not.toThrow();
      expect(check(fan(MAX_LAYERS))).toThrow('m.json: has more than 5000 layers');
    });

    it("reads references in Keras 2's kwargs and a TFOpLambda's one-entry node, and a single output reference", () => {
      expect(check(dense([['x', 0, 0, { mask: ['y', 0, 0] }]]))).toThrow(
        "m.json: layer 'd' call 0 reads layer 'y', which the model does not have",
      );
      expect(check(dense(['x', 0, 0, { y: ['x', 0, 0] }], ['d', 0, 0]))).not.toThrow();
      expect(check(dense(['x', 0, 0, { y: ['z', 0, 0] }], ['d', 0, 0]))).toThrow("reads layer 'z'");
      // An input layer's one call is its creation: call 1 does not exist; a layer called twice has call 1.
      expect(check(dense([['x', 1, 0, {}]]))).toThrow(
        "m.json: layer 'd' call 0 reads call 1 of layer 'x', which is called 1 time(s)",
      );
      const twice = model(
        [
          input(),
          layer('Dense', 'd', [[['x', 0, 0, {}]]]),
          layer('Dense', 'e', [[['d', 0, 0, {}]], [['x', 0, 0, {}]]]),
        ],
        [['e', 1, 0]],
      );
      expect(check(twice)).not.toThrow();
      expect(check({ model_config: dense([['x', 1, 0, {}]]) })).toThrow("reads call 1 of layer 'x'");
      // A reference of 4 entries in kwargs; a list of values there that is no reference; tensor -1.
      expect(check(dense([['x', 0, 0, { mask: ['y', 0, 0, {}] }]]))).toThrow("reads layer 'y'");
      expect(check(dense([['x', 0, 0, { axes: ['x', 'y', 0] }]]))).not.toThrow();
      expect(check(dense([['x', 0, -1, {}]]))).toThrow("m.json: layer 'd' call 0 has the tensor reference");
      // No inputs or outputs listed: nothing read (an InputLayer alone).
      expect(check({ class_name: 'Functional', config: { layers: [input()] } })).not.toThrow();
    });

    it('leaves a Keras graph with nested models to the check of what tfjs builds from it', () => {
      const withSpare = nest(1) as { config: { layers: unknown[] } };
      withSpare.config.layers.push(layer('Dense', 'spare', [[['i', 0, 0, {}]]]));
      expect(check(withSpare, 'keras')).not.toThrow();
      expect(check(withSpare)).toThrow("m.json: layer 'spare' of the model is not used by its outputs");
    });

    it('names what is not a model, a layer, a node or a reference list', () => {
      const cases: Array<[unknown, string]> = [
        [null, 'modelTopology is null; expected a JSON object'],
        [{ model_config: 3 }, 'model_config is 3; expected a JSON object'],
        [
          { class_name: 'Dense', config: { layers: [] } },
          "the model is a 'Dense'; expected a Functional, Model, Sequential model config",
        ],
        [{ class_name: 'Functional', config: 5 }, "the model's config is 5; expected a JSON object"],
        [{ class_name: 'Functional', config: { layers: 5 } }, "the model's config has no layers list"],
        [model([input(), 7], []), 'layer 1 of the model is 7; expected a JSON object'],
        [model([input(), layer('', 'd', [])], []), "layer 1 of the model has the class_name ''"],
        [model([input(), layer('Dense', '', [])], []), "layer 1 of the model has the name ''"],
        [model([input(), layer('Dense', 'd', 5)], []), "layer 'd' has inbound_nodes 5"],
        [dense(5), "layer 'd' call 0 is 5; expected a list of tensor references or {args, kwargs}"],
        [dense([['x', 0, 0, {}]], 'd'), "the model's output_layers is 'd'; expected a list of tensor references"],
      ];
      for (const [topology, message] of cases) expect(check(topology)).toThrow(`m.json: ${message}`);
    });

    it('names a malformed reference, a missing class, a bad layer config and a nested model, in full', () => {
      const exactly = (topology: unknown, message: string, numbering?: 'keras') =>
        expect(check(topology, numbering)).toThrow(new Error(`m.json: ${message}`));
      for (const ref of [
        ['x', 0],
        [5, 0, 0],
        ['x', 0.5, 0],
        ['x', 0, 0.5],
        ['x', -1, 0],
      ]) {
        exactly(
          dense([ref]),
          `layer 'd' call 0 has the tensor reference ${JSON.stringify(ref)}; expected [layer name, call, tensor]`,
        );
      }
      exactly(
        model([input(), { name: 'd', config: {} }], []),
        'layer 1 of the model has the class_name undefined (missing)',
      );
      exactly(
        model([input(), { ...layer('Dense', 'd', []), config: 5 }], []),
        'layer 1 of the model is 5; expected a JSON object',
      );
      exactly(
        model([input(), layer('__proto__', 'd', [])], []),
        "layer 1 of the model has the class_name '__proto__', which is no layer class " +
          '(a member of every JavaScript object)',
      );
      exactly(
        model([input(), layer('Dense', 'constructor', [])], []),
        "layer 1 of the model is named 'constructor', a member of every JavaScript object, which tfjs's deserializer " +
          'mistakes for one; rename the layer',
      );
      exactly(dense([['x', 1, 0, {}]]), "layer 'd' call 0 reads call 1 of layer 'x', which is called 1 time(s)");
      exactly(
        dense([['x', 0, 0, {}]], [['zz', 0, 0]]),
        "the model's inputs and outputs reads layer 'zz', which the model does not have",
      );
      exactly(
        model([input(), layer('Dense', 'd', [[['x', 0, 0, {}]]])], [['d', 0, 0]], [['zz', 0, 0]]),
        "the model's inputs and outputs reads layer 'zz', which the model does not have",
      );
      const inner = nest(1) as { config: { layers: Array<{ config: unknown }> } };
      inner.config.layers[1].config = { layers: 5 };
      exactly(inner, "model 'm''s config has no layers list");
      // Without nested models a Keras graph is checked whole.
      const spare = model(
        [input(), layer('Dense', 'd', [[['x', 0, 0, {}]]]), layer('Dense', 'e', [[['x', 0, 0, {}]]])],
        [['d', 0, 0]],
      );
      exactly(spare, "layer 'e' of the model is not used by its outputs; a saved model has no such layer", 'keras');
      // A cycle entered from outside it (p reads q, which is in a cycle with r): the cycle only.
      const cycle = model(
        [
          input(),
          layer('Dense', 'p', [
            [
              ['x', 0, 0, {}],
              ['q', 0, 0, {}],
            ],
          ]),
          layer('Dense', 'q', [[['r', 0, 0, {}]]]),
          layer('Dense', 'r', [[['q', 0, 0, {}]]]),
        ],
        [['p', 0, 0]],
      );
      exactly(cycle, 'the model has a cycle (q call 0 -> r call 0 -> q call 0); a model never does');
    });

    it('a Sequential model names its layers in their configs, or not at all', () => {
      const sequential = (layers: unknown[]) => ({ class_name: 'Sequential', config: layers });
      expect(
        check(
          sequential([
            { class_name: 'Dense', config: { name: 'a' } },
            { class_name: 'Dense', config: {} },
          ]),
        ),
      ).not.toThrow();
      expect(
        check(
          sequential([
            { class_name: 'Dense', config: { name: 'a' } },
            { class_name: 'Dense', config: { name: 'a' } },
          ]),
        ),
      ).toThrow("m.json: the model has two layers named 'a'");
      expect(check(sequential([{ class_name: 'Dense', name: 'toString' }]))).toThrow(
        "m.json: layer 0 of the model is named 'toString', a member of every JavaScript object",
      );
    });
  });
});
