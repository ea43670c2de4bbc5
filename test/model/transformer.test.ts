import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import '../../src/io/file_system';
import {
  ModelSize,
  presetConfig,
  PRESETS,
  resolveConfig,
  TransformerConfig,
  TransformerConfigInput,
} from '../../src/model/config';
import { createTransformer, LAYER_NAMES } from '../../src/model/transformer';
import { Matrix } from '../layers/attention_reference';
import { describeEachBackend } from '../helpers/backends';
import {
  decoderBlockWeights,
  dense,
  encoderBlockWeights,
  layerNorm,
  referenceDecoderBlock,
  referenceEmbedding,
  referenceEncoderBlock,
} from '../helpers/block_reference';
import { ids, maxAbsDiff, read, seedWeightsByName } from '../helpers/tensors';

/** The task-dependent sizes used throughout: PAD 0, BOS 1, EOS 2, symbols 3..9. */
const TASK = { vocabularySize: 10, maxSourceLength: 8, maxTargetLength: 6 };

const ENCODER_FINAL_NORM = 'encoder_final_layer_norm';

function tinyModel(overrides: ModelSize = {}, seed = 1): { model: tf.LayersModel; config: TransformerConfig } {
  const config = presetConfig('tiny', TASK, overrides);
  const model = createTransformer(config);
  // Glorot kernels with zero biases and unit gammas would hide a swapped bias or norm.
  seedWeightsByName(model, seed);
  return { model, config };
}

type Run = 'predict' | 'apply(training)';

/** Logits (B, T, V) as arrays, by model.predict or by model.apply(..., {training: true}). */
function logits(
  model: tf.LayersModel,
  source: number[][],
  decoderInput: number[][],
  how: Run = 'predict',
): number[][][] {
  const [s, d] = [ids(source), ids(decoderInput)];
  const y = read(
    () => (how === 'predict' ? model.predict([s, d]) : model.apply([s, d], { training: true })) as tf.Tensor,
  );
  tf.dispose([s, d]);
  return y;
}

/**
 * The whole encoder-decoder in plain math (test/helpers/block_reference.ts),
 * from the model's weights, for one batch; PAD = 0 masks source and target.
 */
function referenceTransformer(
  model: tf.LayersModel,
  config: TransformerConfig,
  source: number[][],
  decoderInput: number[][],
): number[][][] {
  const weights = (name: string) =>
    model
      .getLayer(name)
      .getWeights()
      .map((w) => w.arraySync()) as unknown[];
  const learned = config.positionEncoding === 'learned';
  const [sourceTokens, sourcePositions] = weights(LAYER_NAMES.sourceEmbedding) as Matrix[];
  const [targetTokens, targetPositions] = weights(LAYER_NAMES.targetEmbedding) as Matrix[];
  const opts = {
    normalizeFirst: config.normalizeFirst,
    activation: config.activation,
    epsilon: config.layerNormEpsilon,
  };
  const norm = (name: string) => {
    const [gamma, beta] = weights(name) as number[][];
    return { gamma, beta };
  };
  const [kernel, bias] = weights(LAYER_NAMES.logits) as [Matrix, number[]];
  return source.map((src, b) => {
    const sourcePadding = src.map((id) => (id === 0 ? 0 : 1));
    const targetPadding = decoderInput[b].map((id) => (id === 0 ? 0 : 1));
    let encoded = referenceEmbedding(sourceTokens, learned ? sourcePositions : null, src, true);
    for (let i = 0; i < config.numEncoderLayers; i++) {
      encoded = referenceEncoderBlock(
        encoderBlockWeights(weights(LAYER_NAMES.encoderBlock(i))),
        encoded,
        sourcePadding,
        false,
        opts,
      );
    }
    if (config.normalizeFirst) encoded = layerNorm(encoded, norm(ENCODER_FINAL_NORM), config.layerNormEpsilon);
    let decoded = referenceEmbedding(targetTokens, learned ? targetPositions : null, decoderInput[b], true);
    for (let i = 0; i < config.numDecoderLayers; i++) {
      decoded = referenceDecoderBlock(
        decoderBlockWeights(weights(LAYER_NAMES.decoderBlock(i))),
        decoded,
        encoded,
        targetPadding,
        sourcePadding,
        opts,
      );
    }
    if (config.normalizeFirst) decoded = layerNorm(decoded, norm(LAYER_NAMES.finalNorm), config.layerNormEpsilon);
    return dense(decoded, kernel, bias);
  });
}

/** Parameters per layer, counted by hand from the config (Vaswani et al. 2017, with Keras's weight layout). */
function handCount(c: TransformerConfig): Record<string, number> {
  const { embeddingDim: D, numHeads: H, keyDim: K, intermediateDim: I, vocabularySize: V } = c;
  // query, key, value: kernel [D, H, K] + bias [H, K]; output: kernel [H, K, D] + bias [D].
  const attention = 3 * (D * H * K + H * K) + (H * K * D + D);
  const norm = 2 * D;
  const feedForward = D * I + I + I * D + D;
  const embedding = (length: number) => V * D + (c.positionEncoding === 'learned' ? length * D : 0);
  const counts: Record<string, number> = {
    source: 0,
    decoder_input: 0,
    [LAYER_NAMES.sourceEmbedding]: embedding(c.maxSourceLength),
    [LAYER_NAMES.targetEmbedding]: embedding(c.maxTargetLength),
    [LAYER_NAMES.logits]: D * V + V,
  };
  for (let i = 0; i < c.numEncoderLayers; i++) counts[LAYER_NAMES.encoderBlock(i)] = attention + 2 * norm + feedForward;
  for (let i = 0; i < c.numDecoderLayers; i++)
    counts[LAYER_NAMES.decoderBlock(i)] = 2 * attention + 3 * norm + feedForward;
  if (c.normalizeFirst) {
    counts[ENCODER_FINAL_NORM] = norm;
    counts[LAYER_NAMES.finalNorm] = norm;
  }
  return counts;
}

/** Per-layer parameter counts and the total, as model.summary() prints them. */
function summaryCounts(model: tf.LayersModel): { layers: Record<string, number>; total: number; trainable: number } {
  const lines: string[] = [];
  // Wide columns so that no layer type or shape is cut off.
  model.summary(260, [80, 140, 190, 205, 260], (line: string) => lines.push(line));
  const layers: Record<string, number> = {};
  for (const line of lines) {
    const match = /^(\w+) \((\w+)\)\s+\S+\s+\S+\s+(\d+)/.exec(line);
    if (match) layers[match[1]] = Number(match[3]);
  }
  const total = Number(/Total params: (\d+)/.exec(lines.join('\n'))![1]);
  const trainable = Number(/Trainable params: (\d+)/.exec(lines.join('\n'))![1]);
  return { layers, total, trainable };
}

const SOURCE = [
  [3, 4, 5, 6, 0],
  [7, 8, 9, 0, 0],
];
const DECODER_INPUT = [
  [1, 3, 4, 5],
  [1, 7, 8, 9],
];

/**
 * Pinned logits of `tinyModel({}, 1)` (the 'tiny' preset on TASK, every weight
 * seededValues(size, hashSeed('1:' + weight name)) * 0.5) for SOURCE and
 * DECODER_INPUT, as [b, t, v, logit]. Produced once with the plain-math
 * reference `referenceTransformer` (float64), printed with 8 decimals by
 * `PRINT_PINNED=1 npx jest test/model/transformer.test.ts -t pinned`; the
 * model matched them within 1e-5 on cpu and wasm. If the model changes on
 * purpose (weight layout, masking rule), recompute them the same way and say
 * why in the commit.
 */
const PINNED: Array<[number, number, number, number]> = [
  [0, 0, 0, -0.85061226],
  [0, 0, 3, -0.49338657],
  [0, 3, 9, -0.28601992],
  [1, 1, 2, 0.33590372],
  [1, 2, 5, 0.1570709],
  [1, 3, 7, -0.03141659],
];

describeEachBackend('createTransformer', () => {
  it("'tiny' preset: logits of shape (B, T, vocabularySize), finite and not constant", () => {
    const { model } = tinyModel();
    const y = logits(model, SOURCE, DECODER_INPUT);
    expect([y.length, y[0].length, y[0][0].length]).toEqual([2, 4, TASK.vocabularySize]);
    const flat = y.flat(2);
    expect(flat.every((v) => Number.isFinite(v))).toBe(true);
    expect(Math.max(...flat) - Math.min(...flat)).toBeGreaterThan(0.1);
    expect(model.inputLayers.map((l) => l.name)).toEqual(['source', 'decoder_input']);
    model.dispose();
  });

  it("every block gets the config's dropout: training differs from predict, predict from nothing", () => {
    const { model } = tinyModel({ dropout: 0.3 });
    const blocks = model.layers.filter((l) => /_block_/.test(l.name));
    expect(blocks.length).toBeGreaterThan(1);
    expect(blocks.map((b) => (b as unknown as { dropout: number }).dropout)).toEqual(blocks.map(() => 0.3));
    const [inference, again, training] = [
      logits(model, SOURCE, DECODER_INPUT),
      logits(model, SOURCE, DECODER_INPUT),
      logits(model, SOURCE, DECODER_INPUT, 'apply(training)'),
    ];
    expect(maxAbsDiff(inference, again)).toBe(0);
    expect(maxAbsDiff(training, inference)).toBeGreaterThan(1e-3);
    model.dispose();
  });

  describe('equals the plain-math reference (1e-5)', () => {
    const cases: Array<[string, ModelSize]> = [
      ['post-LN, learned positions', {}],
      [
        'pre-LN, sinusoidal positions, gelu, 2+2 layers',
        {
          normalizeFirst: true,
          positionEncoding: 'sinusoidal',
          activation: 'gelu',
          numEncoderLayers: 2,
          numDecoderLayers: 2,
        },
      ],
      // Every norm, the blocks' and both final ones, with the config's epsilon (0.05 shows; 1e-5 would not).
      ['pre-LN, layer-norm epsilon 0.05', { normalizeFirst: true, layerNormEpsilon: 0.05 }],
    ];
    for (const [title, overrides] of cases) {
      for (const how of ['predict', 'apply(training)'] as Run[]) {
        it(`${title}, ${how}`, () => {
          const { model, config } = tinyModel(overrides);
          const y = logits(model, SOURCE, DECODER_INPUT, how);
          const ref = referenceTransformer(model, config, SOURCE, DECODER_INPUT);
          expect(maxAbsDiff(y, ref)).toBeLessThan(1e-5);
          model.dispose();
        });
      }
    }
  });

  it('pinned logits of a seeded tiny model', () => {
    const { model, config } = tinyModel({}, 1);
    if (process.env.PRINT_PINNED) {
      const ref = referenceTransformer(model, config, SOURCE, DECODER_INPUT);
      const at = [
        [0, 0, 0],
        [0, 0, 3],
        [0, 3, 9],
        [1, 1, 2],
        [1, 2, 5],
        [1, 3, 7],
      ];
      console.log(at.map(([b, t, v]) => `  [${b}, ${t}, ${v}, ${ref[b][t][v].toFixed(8)}],`).join('\n'));
    }
    const y = logits(model, SOURCE, DECODER_INPUT);
    expect(PINNED.length).toBeGreaterThan(0);
    for (const [b, t, v, value] of PINNED) {
      expect({ at: [b, t, v], diff: Math.abs(y[b][t][v] - value) < 1e-5 }).toEqual({ at: [b, t, v], diff: true });
    }
    // The numbers were produced by the reference; it must still agree with them.
    const ref = referenceTransformer(model, config, SOURCE, DECODER_INPUT);
    for (const [b, t, v, value] of PINNED) expect(Math.abs(ref[b][t][v] - value)).toBeLessThan(1e-7);
    model.dispose();
  });

  describe('memory', () => {
    for (const normalizeFirst of [false, true]) {
      it(
        `predict and apply(training) leave tf.memory().numTensors ` + `unchanged (normalizeFirst ${normalizeFirst})`,
        () => {
          const { model } = tinyModel({ normalizeFirst });
          const [s, d] = [ids(SOURCE), ids(DECODER_INPUT)];
          const once = (training: boolean) =>
            tf.dispose(
              tf.tidy(() => (training ? model.apply([s, d], { training: true }) : model.predict([s, d])) as tf.Tensor),
            );
          once(false);
          once(true);
          const before = tf.memory().numTensors;
          for (let i = 0; i < 5; i++) {
            once(false);
            once(true);
          }
          expect(tf.memory().numTensors).toBe(before);
          tf.dispose([s, d]);
          model.dispose();
        },
      );
    }
  });

  describe('causality: changing the decoder input at t changes no logit before t', () => {
    for (const normalizeFirst of [false, true]) {
      it(`normalizeFirst ${normalizeFirst}`, () => {
        const { model } = tinyModel({ normalizeFirst });
        const base = logits(model, SOURCE, DECODER_INPUT);
        for (const t of [1, 2, 3]) {
          const changed = DECODER_INPUT.map((row) => row.map((id, i) => (i === t ? (id === 9 ? 3 : id + 1) : id)));
          const after = logits(model, SOURCE, changed);
          for (let b = 0; b < 2; b++) {
            expect(maxAbsDiff(after[b].slice(0, t), base[b].slice(0, t))).toBeLessThan(1e-5);
            expect(maxAbsDiff(after[b][t], base[b][t])).toBeGreaterThan(1e-3);
          }
        }
        model.dispose();
      });
    }
  });

  describe('source padding changes no output', () => {
    const configs: Array<[string, ModelSize]> = [
      ['post-LN', { normalizeFirst: false }],
      ['pre-LN', { normalizeFirst: true }],
      ['sinusoidal', { positionEncoding: 'sinusoidal' }],
    ];
    for (const [title, overrides] of configs) {
      for (const how of ['predict', 'apply(training)'] as Run[]) {
        it(`${title}, ${how}`, () => {
          const { model } = tinyModel(overrides);
          const target = [[1, 3, 4, 5]];
          // [a b c 0 0] vs the same source unpadded, and padded to another length.
          const padded = logits(model, [[3, 4, 5, 0, 0]], target, how);
          expect(maxAbsDiff(padded, logits(model, [[3, 4, 5]], target, how))).toBeLessThan(1e-5);
          expect(maxAbsDiff(padded, logits(model, [[3, 4, 5, 0, 0, 0, 0, 0]], target, how))).toBeLessThan(1e-5);
          // A batch whose rows have different padding gives each row what it gives alone.
          const batch = logits(
            model,
            [
              [3, 4, 5, 0, 0],
              [6, 7, 8, 9, 3],
            ],
            [target[0], target[0]],
            how,
          );
          expect(maxAbsDiff(batch[0], padded[0])).toBeLessThan(1e-5);
          expect(maxAbsDiff(batch[1], logits(model, [[6, 7, 8, 9, 3]], target, how)[0])).toBeLessThan(1e-5);
          // A real token where the padding was does change the logits.
          expect(maxAbsDiff(padded, logits(model, [[3, 4, 5, 6, 0]], target, how))).toBeGreaterThan(1e-3);
          model.dispose();
        });
      }
    }
  });

  describe('parameter counts', () => {
    const configs: Array<[string, ModelSize]> = [
      ["'tiny'", {}],
      [
        "'tiny' pre-LN, sinusoidal, keyDim 8, 2+3 layers",
        { normalizeFirst: true, positionEncoding: 'sinusoidal', keyDim: 8, numEncoderLayers: 2, numDecoderLayers: 3 },
      ],
    ];
    for (const [title, overrides] of configs) {
      it(`model.summary() equals a hand count from the config: ${title}`, () => {
        const config = presetConfig('tiny', TASK, overrides);
        const model = createTransformer(config);
        const expected = handCount(config);
        const { layers, total, trainable } = summaryCounts(model);
        expect(layers).toEqual(expected);
        const sum = Object.values(expected).reduce((a, b) => a + b, 0);
        expect(total).toBe(sum);
        expect(trainable).toBe(sum);
        expect(model.countParams()).toBe(sum);
        model.dispose();
      });
    }

    it("the 'tiny' total, written out", () => {
      // D 32, H 2, K 16, I 64, V 10; attention 3 * (32*32 + 32) + (32*32 + 32) = 4224,
      // encoder 4224 + 4*32 + 4192 = 8544, decoder 2*4224 + 6*32 + 4192 = 12832,
      // embeddings 10*32 + 8*32 = 576 and 10*32 + 6*32 = 512, logits 32*10 + 10 = 330.
      const model = createTransformer(presetConfig('tiny', TASK));
      expect(summaryCounts(model).total).toBe(576 + 512 + 8544 + 12832 + 330);
      model.dispose();
    });
  });

  describe('save -> load gives identical predictions', () => {
    let root: string;
    beforeAll(() => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-attention-transformer-'));
    });
    afterAll(() => {
      fs.rmSync(root, { recursive: true, force: true });
    });

    const configs: Array<[string, ModelSize]> = [
      ['post-LN learned', {}],
      ['pre-LN sinusoidal', { normalizeFirst: true, positionEncoding: 'sinusoidal' }],
    ];
    for (const [title, overrides] of configs) {
      it(`${title}: memory and file://`, async () => {
        const { model } = tinyModel(overrides, 5);
        const before = logits(model, SOURCE, DECODER_INPUT);
        let artifacts: tf.io.ModelArtifacts | null = null;
        await model.save(
          tf.io.withSaveHandler(async (a) => {
            artifacts = a;
            return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
          }),
        );
        const fromMemory = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
        const folder = path.join(root, `${title.replace(/\W+/g, '-')}-${tf.getBackend()}`);
        await model.save(`file://${folder}`);
        const fromFile = await tf.loadLayersModel(`file://${folder}/model.json`);
        for (const loaded of [fromMemory, fromFile]) {
          expect(maxAbsDiff(logits(loaded, SOURCE, DECODER_INPUT), before)).toBe(0);
          expect(loaded.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
          expect(loaded.weights.map((w) => w.originalName)).toEqual(model.weights.map((w) => w.originalName));
          // The config came back too: padding still changes nothing.
          expect(
            maxAbsDiff(logits(loaded, [[3, 4, 5, 0]], [[1, 3]]), logits(loaded, [[3, 4, 5]], [[1, 3]])),
          ).toBeLessThan(1e-5);
          loaded.dispose();
        }
        model.dispose();
      });
    }
  });
});

describe('TransformerConfig', () => {
  it('resolveConfig fills the documented defaults', () => {
    expect(resolveConfig(TASK)).toEqual({
      ...TASK,
      embeddingDim: 64,
      numHeads: 4,
      keyDim: 16,
      intermediateDim: 256,
      numEncoderLayers: 2,
      numDecoderLayers: 2,
      dropout: 0,
      activation: 'relu',
      normalizeFirst: false,
      layerNormEpsilon: 1e-5,
      positionEncoding: 'learned',
    });
  });

  it("presetConfig('tiny') is the preset plus the task, with overrides on top", () => {
    const config = presetConfig('tiny', TASK, { normalizeFirst: true });
    expect(config).toMatchObject({ ...PRESETS.tiny, ...TASK, keyDim: 16, normalizeFirst: true });
    // The task's sizes come from the task: an override that names one is an error, as is a typo.
    expect(() => presetConfig('tiny', TASK, { vocabularySize: 99 } as ModelSize)).toThrow(
      "presetConfig: overrides: unknown option 'vocabularySize'",
    );
    expect(() => presetConfig('tiny', TASK, { numHead: 2 } as ModelSize)).toThrow(
      "presetConfig: overrides: unknown option 'numHead' (did you mean 'numHeads'?)",
    );
  });

  const bad: Array<[string, Partial<TransformerConfigInput> | Record<string, unknown>, RegExp]> = [
    [
      'vocabularySize 3',
      { vocabularySize: 3 },
      /vocabularySize must be at least 4 \(PAD, BOS, EOS and one symbol\), got 3/,
    ],
    ['vocabularySize 10.5', { vocabularySize: 10.5 }, /vocabularySize must be a positive integer, got 10\.5/],
    [
      'maxSourceLength missing',
      { maxSourceLength: undefined },
      /maxSourceLength must be a positive integer, got undefined/,
    ],
    ['maxTargetLength 0', { maxTargetLength: 0 }, /maxTargetLength must be a positive integer, got 0/],
    ['embeddingDim 0', { embeddingDim: 0 }, /embeddingDim must be a positive integer, got 0/],
    ['numHeads 2.5', { numHeads: 2.5 }, /numHeads must be a positive integer, got 2\.5/],
    ['keyDim -1', { keyDim: -1 }, /keyDim must be a positive integer, got -1/],
    ['intermediateDim "64"', { intermediateDim: '64' }, /intermediateDim must be a positive integer, got '64'/],
    ['numEncoderLayers 0', { numEncoderLayers: 0 }, /numEncoderLayers must be an integer >= 1, got 0/],
    ['numDecoderLayers 1.5', { numDecoderLayers: 1.5 }, /numDecoderLayers must be an integer >= 1, got 1\.5/],
    ['dropout 1', { dropout: 1 }, /dropout must be a number in \[0, 1\), got 1/],
    ['dropout NaN', { dropout: NaN }, /dropout must be a number in \[0, 1\), got NaN/],
    ['activation swish', { activation: 'swish' }, /activation must be 'relu' or 'gelu', got 'swish'/],
    [
      'positionEncoding rotary',
      { positionEncoding: 'rotary' },
      /positionEncoding must be 'learned' or 'sinusoidal', got 'rotary'/,
    ],
    ['layerNormEpsilon 0', { layerNormEpsilon: 0 }, /layerNormEpsilon must be a positive number, got 0/],
    ['normalizeFirst "yes"', { normalizeFirst: 'yes' }, /normalizeFirst must be true or false, got 'yes'/],
  ];
  for (const [title, fields, message] of bad) {
    it(`resolveConfig rejects ${title}`, () => {
      expect(() => resolveConfig({ ...TASK, ...fields } as TransformerConfigInput)).toThrow(message);
      expect(() => resolveConfig({ ...TASK, ...fields } as TransformerConfigInput)).toThrow(/^TransformerConfig: /);
    });
  }

  it('presetConfig rejects an unknown preset', () => {
    expect(() => presetConfig('huge' as never, TASK)).toThrow(/unknown preset 'huge'; expected one of tiny, reference/);
  });
});
