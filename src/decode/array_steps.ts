/**
 * Layers on typed arrays, for the typed-array runner (src/decode/array_runner.ts): what each
 * layer computes on the new positions of a decode step, with the typed-array ops of
 * src/ops/rows.ts (the fused kernels' own code) instead of tfjs kernels.
 *
 * Covered: the layers a decoder spends its step in. Dense, LayerNormalization and the layers
 * that are the identity outside training (tfjs's); Activation and the elementwise merges
 * (tfjs's); our projections, layer norm and TokenAndPositionEmbedding; and the cached ones:
 * MultiHeadAttention, and every TransformerBlock (ours, keras-hub's), whose wiring is the
 * block's own (`TransformerBlock.wire`) on arrays. Any other position-wise layer runs through
 * tfjs on the step's arrays (the runner bridges it); a cached layer not covered here sends the
 * whole generation to the tensor runner.
 *
 * Weights are read out of tfjs once per set of values (`readVariable`), so a model that trains
 * between generations generates with its current weights.
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionOutputProjection } from '../layers/attention_output_projection';
import { AttentionProjection } from '../layers/attention_projection';
import { MaskedLayerNormalization } from '../layers/masked_layer_normalization';
import { MultiHeadAttention } from '../layers/multi_head_attention';
import { sinusoidalEncoding } from '../layers/sinusoidal_position_encoding';
import { TokenAndPositionEmbedding } from '../layers/token_and_position_embedding';
import { BLOCK_DENSES, BLOCK_NORMS, type BlockOps, TransformerBlock } from '../layers/transformer_block';
import {
  activateRows,
  addRows,
  attentionRows,
  type DenseArrays,
  denseRows,
  layerNormRows,
  ROW_ACTIVATIONS,
} from '../ops/rows';
import type { PlannedNode, PlannedSlot } from './graph';

/** A value between layers in a typed-array step: floats of `shape`, row-major, and a padding mask (B, L) if any. */
export interface ArrayValue {
  data: Float32Array;
  shape: number[];
  mask: Float32Array | null;
}

/** The new positions of a step: `n` of them, from `index`, in each of `rows` rows. */
export interface StepPositions {
  rows: number;
  n: number;
  index: number;
}

/** A node's layer on typed arrays, with the state it keeps between steps (caches). */
export interface ArrayStep {
  run(inputs: ArrayValue[], at: StepPositions): ArrayValue[];
  /** Keeps state rows `rows` in that order (see StepRunner.reorder). */
  reorder?(rows: Int32Array): void;
}

/** What a step needs to know beyond its layer: rows, the updated caches' length and the call's extra arguments. */
export interface StepSetup {
  rows: number;
  maxLength: number;
  /** Call arguments given for the layer (head masks), or undefined. */
  extra: Record<string, unknown> | undefined;
}

/**
 * The node's array step, or null when it has none (the runner then runs it through tfjs). A
 * static node (one that does not depend on the tokens, run once) runs on whole sequences, its
 * attention over them with their padding masks, and gives its outputs' masks as tfjs would.
 */
export function arrayStepFor(planned: PlannedNode, setup: StepSetup): ArrayStep | null {
  const { layer, node, run } = planned;
  // Call arguments recorded in the graph (a Keras file's) other than masks may change what the
  // layer computes: such nodes run as tfjs runs them.
  const callArgs = Object.keys(node.callArgs ?? {}).filter((k) => k !== 'mask' && k !== 'training');
  if (callArgs.length > 0) return null;
  // An attention's keys from another input than its values (query, value, key): the steps project
  // both from one input (one product fills a cache row), so such a node runs as tfjs runs it.
  const [, value, key = value] = node.inputTensors;
  if (layer instanceof MultiHeadAttention && key !== value) return null;
  const extra = Object.keys(setup.extra ?? {});
  if (run.kind === 'cached') {
    if (layer instanceof MultiHeadAttention) return attentionStep(layer, run.slots[0].mode, setup);
    if (layer instanceof TransformerBlock)
      return blockStep(
        layer,
        run.slots.map((slot) => slot.mode),
        setup,
      );
    return null;
  }
  if (run.kind === 'static') return staticStep(layer, setup);
  if (extra.length > 0) return null;
  if (run.kind === 'positioned') return layer instanceof TokenAndPositionEmbedding ? embeddingStep(layer, setup) : null;
  if (run.kind === 'position-wise') return positionWiseStep(layer);
  return null;
}

/**
 * A node that runs once on whole sequences: attention without a cache, and the layers whose
 * output mask tfjs computes from their input's alone (passed on, or ids != 0 for an embedding).
 */
function staticStep(layer: tf.layers.Layer, setup: StepSetup): ArrayStep | null {
  if (layer instanceof MultiHeadAttention) return attentionStep(layer, 'full', setup);
  if (layer instanceof TransformerBlock) return blockStep(layer, ['full', 'full'], setup);
  if (Object.keys(setup.extra ?? {}).length > 0) return null;
  if (layer instanceof TokenAndPositionEmbedding) {
    const step = embeddingStep(layer, setup);
    return {
      run: (inputs, at) => {
        const [output] = step.run(inputs, at);
        const ids = inputs[0].data;
        return [{ ...output, mask: layer.maskZero ? ids.map((id) => (id !== 0 ? 1 : 0)) : null }];
      },
    };
  }
  const className = layer.getClassName();
  if (className in MERGES || className === 'Average') return null;
  const step = positionWiseStep(layer);
  if (step == null) return null;
  // Single-input layers: tfjs's computeMask passes the input's mask on where the layer supports masking.
  const maskOf = (inputs: ArrayValue[]): Float32Array | null => (layer.supportsMasking ? inputs[0].mask : null);
  return { run: (inputs, at) => step.run(inputs, at).map((v) => ({ ...v, mask: maskOf(inputs) })) };
}

// -------------------------------------------------------------------------------------------------
// Weights.

/** Each variable value's floats, by the value's data id: read once, dropped with the value. */
const readValues = new WeakMap<object, Float32Array>();

/** A variable's current value as floats (not to be written). */
function readVariable(variable: tf.LayerVariable): Float32Array {
  const value = variable.read();
  const id = value.dataId as object;
  let data = readValues.get(id);
  if (data == null) {
    data = Float32Array.from(value.dataSync() as Float32Array);
    readValues.set(id, data);
  }
  return data;
}

/** A kernel as (inputDim, the rest) (default: its first axis by the others) and its bias. */
function denseArrays(
  kernel: tf.LayerVariable,
  bias: tf.LayerVariable | null,
  inputDim = kernel.shape[0] as number,
): DenseArrays {
  const data = readVariable(kernel);
  return { kernel: data, bias: bias ? readVariable(bias) : null, inputDim, outputDim: data.length / inputDim };
}

/** Several dense layers side by side: one product gives each row's outputs of all of them in turn. */
function joinDense(parts: DenseArrays[]): DenseArrays {
  if (parts.length === 1) return parts[0];
  const inputDim = parts[0].inputDim;
  const outputDim = parts.reduce((sum, p) => sum + p.outputDim, 0);
  const kernel = new Float32Array(inputDim * outputDim);
  const bias = new Float32Array(outputDim);
  let column = 0;
  for (const p of parts) {
    for (let i = 0; i < inputDim; i++)
      kernel.set(p.kernel.subarray(i * p.outputDim, (i + 1) * p.outputDim), i * outputDim + column);
    if (p.bias) bias.set(p.bias, column);
    column += p.outputDim;
  }
  return { kernel, bias, inputDim, outputDim };
}

const widthOf = (shape: number[]) => shape[shape.length - 1];

/** A value of the same shape but the last axis, `width` wide. */
const withWidth = (value: ArrayValue, data: Float32Array, width: number): ArrayValue => ({
  data,
  shape: [...value.shape.slice(0, -1), width],
  mask: null,
});

// -------------------------------------------------------------------------------------------------
// Position-wise layers.

/**
 * tfjs's layers that are the identity at inference. Not Masking: it zeroes the positions whose
 * features all equal its mask value and masks them (its own mask, not its input's), so it runs
 * through tfjs.
 */
const IDENTITY_CLASSES = new Set(['Dropout', 'AlphaDropout', 'GaussianDropout', 'GaussianNoise', 'SpatialDropout1D']);

const MERGES: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  Subtract: (a, b) => a - b,
  Multiply: (a, b) => a * b,
  Maximum: Math.max,
  Minimum: Math.min,
};

function positionWiseStep(layer: tf.layers.Layer): ArrayStep | null {
  const className = layer.getClassName();
  const config = layer.getConfig() as Record<string, unknown>;
  if (IDENTITY_CLASSES.has(className)) return { run: (inputs) => [inputs[0]] };
  if (className === 'Dense') {
    const activation = (config.activation as string | undefined) ?? 'linear';
    if (!ROW_ACTIVATIONS.includes(activation)) return null;
    const [kernel, bias = null] = layer.weights;
    return {
      run: ([x]) => {
        const dense = denseArrays(kernel, bias);
        return [withWidth(x, denseRows(x.data, dense, activation), dense.outputDim)];
      },
    };
  }
  if (className === 'Activation') {
    const activation = config.activation as string;
    if (!ROW_ACTIVATIONS.includes(activation)) return null;
    return { run: ([x]) => [{ ...x, data: activateRows(Float32Array.from(x.data), widthOf(x.shape), activation) }] };
  }
  if (className in MERGES || className === 'Average') {
    const f = MERGES[className];
    return {
      run: (inputs) => {
        if (inputs.some((v) => v.data.length !== inputs[0].data.length)) {
          throw new Error(
            `generate: ${layer.name} merges inputs of different shapes, which the typed-array step does not`,
          );
        }
        const out = Float32Array.from(inputs[0].data);
        for (const other of inputs.slice(1))
          for (let i = 0; i < out.length; i++) out[i] = f ? f(out[i], other.data[i]) : out[i] + other.data[i];
        if (!f) for (let i = 0; i < out.length; i++) out[i] /= inputs.length;
        return [{ ...inputs[0], data: out, mask: null }];
      },
    };
  }
  if (className === 'LayerNormalization') return tfjsLayerNormStep(layer, config);
  if (layer instanceof MaskedLayerNormalization) {
    if (layer.gamma!.shape[0]! % 4 !== 0) return null;
    return {
      run: ([x]) => [
        {
          ...x,
          data: layerNormRows(x.data, readVariable(layer.gamma!), readVariable(layer.beta!), layer.epsilon),
          mask: null,
        },
      ],
    };
  }
  if (layer instanceof AttentionProjection) {
    return {
      run: ([x]) => {
        // The kernel [D, H, E] as (D, H*E).
        const data = denseRows(x.data, denseArrays(layer.kernel!, layer.bias));
        return [{ data, shape: [...x.shape.slice(0, -1), layer.numHeads, layer.headDim], mask: null }];
      },
    };
  }
  if (layer instanceof AttentionOutputProjection) {
    return {
      run: ([x]) => {
        const [heads, valueDim] = layer.kernel!.shape as number[];
        const dense = denseArrays(layer.kernel!, layer.bias, heads * valueDim);
        return [{ data: denseRows(x.data, dense), shape: [...x.shape.slice(0, -2), layer.outputDim], mask: null }];
      },
    };
  }
  return null;
}

/** tfjs's LayerNormalization over the last axis (its `axis` -1), with or without gamma and beta. */
function tfjsLayerNormStep(layer: tf.layers.Layer, config: Record<string, unknown>): ArrayStep | null {
  // The layer is built (it has a node): tfjs has made its axes a list of non-negative ones (-1 is rank - 1).
  const axis = config.axis as number[];
  const rank = (layer.outputShape as number[]).length;
  const width = (layer.outputShape as number[])[rank - 1];
  if (axis.length !== 1 || axis[0] !== rank - 1 || width % 4 !== 0) return null;
  const weights = [...layer.weights];
  const gammaVariable = config.scale !== false ? weights.shift()! : null;
  const betaVariable = config.center !== false ? weights.shift()! : null;
  const ones = new Float32Array(width).fill(1);
  const zeros = new Float32Array(width);
  return {
    run: ([x]) => {
      const gamma = gammaVariable ? readVariable(gammaVariable) : ones;
      const beta = betaVariable ? readVariable(betaVariable) : zeros;
      return [{ ...x, data: layerNormRows(x.data, gamma, beta, config.epsilon as number), mask: null }];
    },
  };
}

/** Our token and position embedding on the new positions: token rows (scaled) plus the positions' rows. */
function embeddingStep(layer: TokenAndPositionEmbedding, setup: StepSetup): ArrayStep {
  const D = layer.embeddingDim;
  const scale = layer.scaleEmbeddings ? Math.sqrt(D) : 1;
  // The sinusoidal table once, from the tensor op that defines it.
  const sinusoids =
    layer.positionEncoding === 'sinusoidal'
      ? tf.tidy(() => sinusoidalEncoding(Math.min(setup.maxLength, layer.sequenceLength), D).dataSync() as Float32Array)
      : null;
  return {
    run: ([ids], { rows, n, index }) => {
      const tokens = readVariable(layer.tokenEmbedding!);
      const positions = sinusoids ?? readVariable(layer.positionEmbedding!);
      if (index + n > layer.sequenceLength) {
        throw new Error(
          `TokenAndPositionEmbedding '${layer.name}': positions ${index}..${index + n - 1} ` +
            `exceed sequenceLength ${layer.sequenceLength}`,
        );
      }
      const out = new Float32Array(rows * n * D);
      for (let r = 0; r < rows * n; r++) {
        const id = ids.data[r];
        if (!(id >= 0 && id < layer.vocabularySize)) {
          throw new Error(
            `TokenAndPositionEmbedding '${layer.name}': token id ${id} is outside [0, ${layer.vocabularySize - 1}]`,
          );
        }
        const position = index + (r % n);
        for (let d = 0; d < D; d++) out[r * D + d] = tokens[id * D + d] * scale + positions[position * D + d];
      }
      return [{ data: out, shape: [rows, n, D], mask: null }];
    },
  };
}

// -------------------------------------------------------------------------------------------------
// Attention with a key/value cache.

/** How an attention runs: with an updated or a static cache (PlannedSlot's modes), or without one. */
type AttentionMode = PlannedSlot['mode'] | 'full';

/**
 * Padding masks (B, L) of an attention's query and value, 1 = a real position; null = none. The
 * key is the value's own tensor (arrayStepFor), so its mask is the value's.
 */
export interface PaddingMasks {
  queryMask?: Float32Array | null;
  valueMask?: Float32Array | null;
}

/** One attention layer on arrays, with its cache: what the layer and a block's attention share. */
interface AttentionState {
  /**
   * The outputs for queries `query` (B, n, D) over `memory` (B, S, De): with a cache, the
   * memory's new positions (updated) or, on the first call, all of it (static); without one
   * (`full`), the whole memory every call, with the call's padding masks.
   */
  attend(query: ArrayValue, memory: ArrayValue, at: StepPositions, masks?: PaddingMasks): Float32Array;
  reorder(rows: Int32Array): void;
}

/**
 * MultiHeadAttention's call on arrays (MultiHeadAttention.run's steps): the queries projected; the
 * keys and values projected into the cache (an updated cache at the step's positions; a static
 * one once, from the memory) or, without a cache ('full', a node that runs once), over the whole
 * memory; attention over the keys with the causal and sliding-window masks at the positions'
 * offset and the padding masks (a static cache: the memory's; 'full': the query's and value's, as
 * Keras's `_compute_attention_mask`); the gate, the head mask, the heads merged. Null
 * where the kernels cannot take the layer (K or V not a multiple of 4, `fullyMaskedQueries`
 * 'zero') or the head mask varies by row.
 */
function attentionState(
  layer: MultiHeadAttention,
  mode: AttentionMode,
  setup: StepSetup,
  headMask: tf.Tensor | null,
): AttentionState | null {
  const H = layer.numHeads;
  const [K, V] = [layer.keyDim, layer.valueDim];
  // The row kernel gives a query whose keys are all masked uniform attention only.
  if (K % 4 !== 0 || V % 4 !== 0 || (headMask != null && headMask.rank !== 1) || layer.fullyMaskedQueries === 'zero')
    return null;
  const keysWidth = H * K;
  const width = keysWidth + H * V;
  const heads = headMask ? Float32Array.from(headMask.dataSync()) : null;
  const rows = setup.rows;
  // Filled on the first call: an updated cache holds maxLength positions, a static one the memory's.
  let cache: Float32Array | null = null;
  let length = 0;
  let memoryMask: Float32Array | null = null;
  // Read once per generation: [D, H, E] kernels as (D, H*E), the keys' and values' side by side
  // (one product fills a cache row), the output's [H, V, Dout] as (H*V, Dout).
  const w = {
    query: denseArrays(layer.queryDense!.kernel!, layer.queryDense!.bias),
    keyValue: joinDense([layer.keyDense!, layer.valueDense!].map((p) => denseArrays(p.kernel!, p.bias))),
    gate: layer.gateDense ? denseArrays(layer.gateDense.kernel!, layer.gateDense.bias) : null,
    output: denseArrays(layer.outputDense!.kernel!, layer.outputDense!.bias, H * V),
  };
  const write = (projected: Float32Array, n: number, at: number) => {
    for (let r = 0; r < rows; r++) {
      cache!.set(projected.subarray(r * n * width, (r + 1) * n * width), (r * length + at) * width);
    }
  };
  /** The keys and values to attend to, how many, and the mask, for a call of `mode`. */
  const keysAndValues = (memory: ArrayValue, { n, index }: StepPositions, masks: PaddingMasks) => {
    if (mode === 'full') {
      const S = memory.shape[1];
      const mask = paddingMask(rows, n, S, masks, positionMask(n, S, 0, layer.causal, layer.slidingWindow));
      return { source: denseRows(memory.data, w.keyValue), rowsOf: S, keyLength: S, mask };
    }
    if (mode === 'updated') {
      if (cache == null) {
        length = setup.maxLength;
        cache = new Float32Array(rows * length * width);
      }
      write(denseRows(memory.data, w.keyValue), n, index);
      const keyLength = index + n;
      const mask = positionMask(n, keyLength, index, layer.causal, layer.slidingWindow);
      return { source: cache, rowsOf: length, keyLength, mask };
    }
    if (cache == null) {
      length = memory.shape[1];
      cache = denseRows(memory.data, w.keyValue);
      memoryMask = memory.mask;
    }
    const mask = memoryMask && { values: memoryMask, shape: [rows, 1, length] as [number, number, number] };
    return { source: cache, rowsOf: length, keyLength: length, mask };
  };
  return {
    attend(query, memory, at, masks = {}) {
      const q = denseRows(query.data, w.query);
      const { source, rowsOf, keyLength, mask } = keysAndValues(memory, at, masks);
      const context = attentionRows({
        sources: [q, source],
        shapes: [
          [rows, at.n, keysWidth],
          [rows, rowsOf, width],
        ],
        query: { source: 0, offset: 0 },
        key: { source: 1, offset: 0 },
        value: { source: 1, offset: keysWidth },
        numHeads: H,
        keyDim: K,
        valueDim: V,
        scale: 1 / Math.sqrt(K),
        keyLength,
        mask,
      });
      if (w.gate) {
        const gate = denseRows(query.data, w.gate, 'sigmoid');
        for (let i = 0; i < context.length; i++) context[i] *= gate[i];
      }
      if (heads) {
        for (let i = 0; i < context.length; i++) context[i] *= heads[Math.floor(i / V) % H];
      }
      return denseRows(context, w.output);
    },
    reorder(order) {
      if (cache == null) return;
      const size = length * width;
      const next = new Float32Array(order.length * size);
      order.forEach((from, r) => next.set(cache!.subarray(from * size, (from + 1) * size), r * size));
      cache = next;
      if (memoryMask) {
        const previous = memoryMask;
        memoryMask = new Float32Array(order.length * length);
        order.forEach((from, r) => memoryMask!.set(previous.subarray(from * length, (from + 1) * length), r * length));
      }
    },
  };
}

/**
 * The (B, T, S) mask of padding masks (query (B, T), value (B, S)) times a position mask
 * (1, T, S), or the position mask alone (null: none of them).
 */
function paddingMask(
  rows: number,
  T: number,
  S: number,
  { queryMask, valueMask }: PaddingMasks,
  positions: { values: Float32Array; shape: [number, number, number] } | null,
): { values: Float32Array; shape: [number, number, number] } | null {
  if (queryMask == null && valueMask == null) return positions;
  const values = new Float32Array(rows * T * S);
  for (let b = 0; b < rows; b++) {
    for (let t = 0; t < T; t++) {
      const query = queryMask ? queryMask[b * T + t] : 1;
      for (let s = 0; s < S; s++) {
        const keys = valueMask ? valueMask[b * S + s] : 1;
        const position = positions ? positions.values[t * S + s] : 1;
        values[(b * T + t) * S + s] = query * keys * position;
      }
    }
  }
  return { values, shape: [rows, T, S] };
}

/**
 * The (1, n, keyLength) mask, 1 = may attend, of queries at positions offset.. over the cached
 * keys: causal (key s <= query position), and within a sliding window |t - s| < window; null
 * when neither applies. The same masks as `causalMask` and `slidingWindowMask` (src/layers/masks.ts).
 */
function positionMask(
  n: number,
  keyLength: number,
  offset: number,
  causal: boolean,
  window: number | null,
): { values: Float32Array; shape: [number, number, number] } | null {
  if (!causal && window == null) return null;
  const values = new Float32Array(n * keyLength);
  for (let t = 0; t < n; t++) {
    const position = offset + t;
    for (let s = 0; s < keyLength; s++) {
      const allowed = (!causal || s <= position) && (window == null || Math.abs(position - s) < window);
      values[t * keyLength + s] = allowed ? 1 : 0;
    }
  }
  return { values, shape: [1, n, keyLength] };
}

/**
 * A MultiHeadAttention node: inputs query, [query, value] or [query, value, value] (keys from the
 * values' input: arrayStepFor). Without a cache (`full`), their padding masks apply and the output
 * keeps the query's.
 */
function attentionStep(layer: MultiHeadAttention, mode: AttentionMode, setup: StepSetup): ArrayStep | null {
  if (layer.callArguments != null || layer.returnAttentionScores) return null;
  const headMask = (setup.extra?.headMask as tf.Tensor | undefined) ?? null;
  if (Object.keys(setup.extra ?? {}).some((k) => k !== 'headMask')) return null;
  const state = attentionState(layer, mode, setup, headMask);
  if (state == null) return null;
  return {
    run: (inputs, at) => {
      const [query, value = query] = inputs;
      const output = state.attend(query, value, at, { queryMask: query.mask, valueMask: value.mask });
      const mask = mode === 'full' ? query.mask : null;
      return [{ data: output, shape: [at.rows, at.n, output.length / (at.rows * at.n)], mask }];
    },
    reorder: (rows) => state.reorder(rows),
  };
}

/**
 * A TransformerBlock node: its wiring (`wire`) on arrays, its attentions with their caches, or
 * without (`full`: the block's own padding masks, `paddingMasksOf`; the output keeps the
 * sequence's mask).
 */
function blockStep(block: TransformerBlock, modes: AttentionMode[], setup: StepSetup): ArrayStep | null {
  const extra = setup.extra ?? {};
  if (Object.keys(extra).some((k) => k !== 'selfAttentionHeadMask' && k !== 'crossAttentionHeadMask')) return null;
  const full = modes[0] === 'full';
  if (full && block.paddingMasksOf(null, null) == null) return null;
  const selfMask = (extra.selfAttentionHeadMask as tf.Tensor) ?? null;
  const crossMask = (extra.crossAttentionHeadMask as tf.Tensor) ?? null;
  const self = attentionState(block.selfAttention!, modes[0], setup, selfMask);
  const cross = block.crossAttention
    ? attentionState(block.crossAttention, modes[1] ?? 'full', setup, crossMask)
    : null;
  if (self == null || (block.crossAttention && cross == null)) return null;
  const width = block.selfAttention!.queryDense!.kernel!.shape[0] as number;
  if (width % 4 !== 0) return null;
  const parts = new Map(block.sublayers().map((p) => [p.name, p.variables]));
  return {
    run: (inputs, at) => {
      const [x, memory] = inputs;
      const shape = x.shape;
      const masks = full ? block.paddingMasksOf(x.mask, memory?.mask ?? null)! : { self: {}, cross: {} };
      const asValue = (data: Float32Array): ArrayValue => ({
        data,
        shape: [shape[0], shape[1], data.length / (shape[0] * shape[1])],
        mask: null,
      });
      const ops: BlockOps<Float32Array> = {
        attention: (which, query) =>
          which === 'self'
            ? self.attend(asValue(query), asValue(query), at, masks.self)
            : cross!.attend(asValue(query), memory, at, masks.cross),
        norm: (which, t) => {
          const [gamma, beta] = parts.get(BLOCK_NORMS[which])!;
          return layerNormRows(t, readVariable(gamma), readVariable(beta), block.layerNormEpsilon);
        },
        dense: (which, t, activation) => {
          const [kernel, bias] = parts.get(BLOCK_DENSES[which])!;
          return denseRows(t, denseArrays(kernel, bias), activation);
        },
        add: addRows,
        dropout: (t) => t,
      };
      return [{ data: block.wire(x.data, memory != null, ops), shape, mask: full ? x.mask : null }];
    },
    reorder: (rows) => {
      self.reorder(rows);
      cross?.reorder(rows);
    },
  };
}
