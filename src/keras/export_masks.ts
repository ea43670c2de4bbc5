/**
 * The padding masks each layer of a tfjs model really uses at `predict`, worked out from the graph,
 * so that the Keras model written by save.ts passes exactly those masks, explicitly.
 *
 * tfjs 4.22 hands masks around in two ways (tfjs-layers engine/executor.ts `execute`, and
 * `Layer.apply`), and a layer of this package reads both (src/layers/masks.ts
 * `resolveInputMasks`):
 * - the executor's masks: each call's output gets `computeMask(inputs, inputMasks)` of its layer
 *   when `supportsMasking` (a stock layer passes its first input's on; a merge layer returns a
 *   mask of another shape); before a call that has any masked input the executor sets the shared
 *   `kwargs.mask` to its FIRST input's mask, and that object is handed to every later call too;
 * - the tensors' own `kerasMask`: `Layer.apply` sets `computeMask(inputs)` without input masks,
 *   which only mask-making layers (Embedding, our embeddings) and our pass-through layers fill.
 * So a layer of ours sees as its first input's mask `kwargs.mask` when it has that input's
 * (B, L) shape, else that tensor's `kerasMask`, and as every other input's mask its `kerasMask`:
 * a value that passed through a stock Dense on its way to an attention layer has none.
 *
 * A mask here is the AND of `ids != 0` over one or more token-id tensors (an Embedding's or
 * TokenAndPositionEmbedding's input, with `maskZero`). The Keras model gets none implicitly (its
 * embeddings have `mask_zero=False`); each mask a layer used is written as
 * `keras.ops.not_equal(ids, 0)` and passed to the layer (`padding_mask=`, `attention_mask=`,
 * `value_mask=`), so Keras computes what tfjs computed on any Keras 3 version, whatever its own mask
 * propagation does (it has changed between releases: README "Masks").
 */
import * as tf from '@tensorflow/tfjs';
import type { KerasGraphWriter, KerasTensor } from './keras_graph_writer';
import { executionOrder, type TfjsCall, type TfjsGraph } from './tfjs_graph';

/** A padding mask: 1 where every one of the `ids` tensors (keys, sorted) is not 0. */
export interface PaddingMask {
  ids: string[];
}

/** A mask tfjs holds that is not a (B, L) padding mask (a merge layer's (1, B, L)): no layer uses it. */
const OTHER = 'other' as const;
type Mask = PaddingMask | typeof OTHER | null;

/** The masks one call receives. */
export interface CallMasks {
  /** Per input, what `resolveInputMasks` gives it (null: none): the masks this package's layers use. */
  inputs: Array<PaddingMask | null>;
  /**
   * The executor's shared `kwargs.mask` at the call, for the layers that read it directly
   * (KerasGlobalAveragePooling1D, KerasSoftmax): the call's own first input's padding mask,
   * 'foreign' (another call's mask, or one of another shape), or null.
   */
  kwargsMask: PaddingMask | 'foreign' | null;
}

/** Where the masks of a call come from, by layer class: the classes with a `computeMask` of their own. */
type MaskRule =
  | { kind: 'makes'; when: (layer: tf.layers.Layer) => boolean }
  | { kind: 'passes'; from: (layer: tf.layers.Layer, inputCount: number) => number }
  | { kind: 'merges' }
  | { kind: 'ands'; when: (layer: tf.layers.Layer) => boolean }
  | { kind: 'concatenates' }
  | { kind: 'none' };

const maskZero = (layer: tf.layers.Layer) => (layer as unknown as { maskZero?: boolean }).maskZero === true;
/** The input index whose mask a layer of ours passes on (`incrementalRole`-style helpers know it). */
const first = () => 0;
const named =
  (name: string, fallback: number) =>
  (layer: tf.layers.Layer): number => {
    const args = (layer as unknown as { callArguments?: string[] | null }).callArguments;
    return args == null ? fallback : args.indexOf(name);
  };

const MASK_RULES: Record<string, MaskRule> = {
  Embedding: { kind: 'makes', when: maskZero },
  TokenAndPositionEmbedding: { kind: 'makes', when: maskZero },
  'keras_hub>TokenAndPositionEmbedding': { kind: 'makes', when: maskZero },
  MultiHeadAttention: { kind: 'passes', from: named('query', 0) },
  TransformerEncoderBlock: { kind: 'passes', from: first },
  TransformerDecoderBlock: { kind: 'passes', from: first },
  'keras_hub>TransformerEncoder': { kind: 'passes', from: named('inputs', 0) },
  'keras_hub>TransformerDecoder': { kind: 'passes', from: named('decoder_sequence', 0) },
  MaskedLayerNormalization: { kind: 'passes', from: first },
  SinusoidalPositionEncoding: { kind: 'passes', from: first },
  'keras_hub>PositionEmbedding': { kind: 'none' },
  'keras_hub>SinePositionEncoding': { kind: 'none' },
  // tfjs 4.22's merge layers: the first input's mask with a leading axis (layers/merge.js).
  Add: { kind: 'merges' },
  Multiply: { kind: 'merges' },
  Average: { kind: 'merges' },
  Maximum: { kind: 'merges' },
  Minimum: { kind: 'merges' },
  Concatenate: { kind: 'concatenates' },
  // The loader's classes (op_layers.ts, slicing.ts): Keras's merge layers AND their inputs' masks.
  ElementwiseOperation: { kind: 'ands', when: (layer) => (layer as unknown as { mergeMasks: boolean }).mergeMasks },
  SliceOperation: { kind: 'none' },
  KerasGlobalAveragePooling1D: { kind: 'none' },
};

/** The masks every call of `graph` uses, by call. Throws where tfjs's result depends on its defects. */
export function effectiveMasks(graph: TfjsGraph, where: string): Map<TfjsCall, CallMasks> {
  const executor = new Map<string, Mask>(); // the executor's mask of each tensor
  const own = new Map<string, Mask>(); // each tensor's kerasMask
  const result = new Map<TfjsCall, CallMasks>();
  let shared: { mask: Mask; from: TfjsCall } | null = null; // the executor's kwargs.mask
  for (const call of executionOrder(graph)) {
    const inputMasks = call.inputs.map((key) => executor.get(key) ?? null);
    const ownMasks = call.inputs.map((key) => own.get(key) ?? null);
    // 1. What the call receives: kwargs.mask, kept only when it is a (B, L) mask of its first input.
    if (inputMasks.some((m) => m != null)) shared = { mask: inputMasks[0], from: call };
    let given: PaddingMask | null = null;
    if (shared != null && isPadding(shared.mask)) {
      if (shared.from === call) given = shared.mask;
      else if (usesMasks(call.layer)) {
        throw new Error(
          `${where}: layer '${call.layer.name}' (${call.layer.getClassName()}) receives the padding mask of ` +
            `layer '${shared.from.layer.name}' through tfjs 4.22's shared call arguments (README "Known ` +
            'limitations"), which Keras would not pass it; give its input a padding mask of its own (maskZero on ' +
            'its embedding) before saving',
        );
      }
    }
    result.set(call, {
      inputs: [given ?? padding(ownMasks[0]), ...ownMasks.slice(1).map(padding)],
      kwargsMask: shared?.mask == null ? null : (given ?? 'foreign'),
    });
    // 2. What its outputs carry.
    const rule = MASK_RULES[call.layer.getClassName()];
    const outputs = outputMasks(rule, call, inputMasks, ownMasks);
    call.outputs.forEach((key) => {
      executor.set(key, outputs.executor);
      own.set(key, key === call.outputs[0] ? outputs.own : null);
    });
  }
  return result;
}

function outputMasks(
  rule: MaskRule | undefined,
  call: TfjsCall,
  inputMasks: Mask[],
  ownMasks: Mask[],
): { executor: Mask; own: Mask } {
  const layer = call.layer;
  switch (rule?.kind) {
    case 'makes': {
      const mask = rule.when(layer) ? { ids: [call.inputs[0]] } : null;
      return { executor: mask, own: mask };
    }
    case 'passes': {
      const i = rule.from(layer, call.inputs.length);
      return { executor: inputMasks[i] ?? ownMasks[i], own: ownMasks[i] };
    }
    case 'merges':
      return { executor: inputMasks[0] == null ? null : OTHER, own: null };
    case 'ands': {
      const given = inputMasks.filter((m) => m != null);
      if (!rule.when(layer) || given.length === 0) return { executor: null, own: null };
      return { executor: given.every(isPadding) ? and(given) : OTHER, own: null };
    }
    case 'concatenates': {
      if (inputMasks.every((m) => m == null)) return { executor: null, own: null };
      const axis = (layer as unknown as { axis: number }).axis;
      const rank = (layer.getOutputAt(call.node) as tf.SymbolicTensor).shape.length;
      // Along the features the masks are ANDed (an unmasked input counts as ones); else a mask of another shape.
      if ((axis !== -1 && axis !== rank - 1) || inputMasks.some((m) => m === OTHER))
        return { executor: OTHER, own: null };
      return { executor: and(inputMasks.filter(isPadding)), own: null };
    }
    case 'none':
      return { executor: null, own: null };
    default:
      // tfjs's own Layer.computeMask: the executor's list of input masks, of which it keeps the first.
      return { executor: layer.supportsMasking ? inputMasks[0] : null, own: null };
  }
}

/** Whether a layer computes with the masks it receives (this package's layers do; tfjs's stock ones do not). */
function usesMasks(layer: tf.layers.Layer): boolean {
  const rule = MASK_RULES[layer.getClassName()];
  return rule?.kind === 'passes';
}

function isPadding(mask: Mask | undefined): mask is PaddingMask {
  return mask != null && mask !== OTHER;
}

function padding(mask: Mask): PaddingMask | null {
  return isPadding(mask) ? mask : null;
}

function and(masks: PaddingMask[]): PaddingMask {
  return { ids: [...new Set(masks.flatMap((m) => m.ids))].sort() };
}

/** A mask of the Keras graph: a padding mask of the tfjs model, or a Keras tensor passed as a mask. */
export type MaskSource = PaddingMask | KerasTensor;

/**
 * The Keras tensors of the masks: `not_equal(ids, 0)` (B, L) for a padding mask, `mask[:, :, None]`
 * (B, T, 1) and `mask[:, None, :]` (B, 1, S), and their AND (B, T, S), each written once.
 */
export class MaskTensors {
  private readonly cache = new Map<string, KerasTensor>();

  constructor(
    private readonly graph: KerasGraphWriter,
    /** The Keras tensor of a tfjs tensor key (the token ids). */
    private readonly tensorOf: (key: string) => KerasTensor,
  ) {}

  /** The mask as a bool Keras tensor (B, L). */
  padding(source: MaskSource): KerasTensor {
    if ('ids' in source) {
      const tensors = source.ids.map((key) =>
        this.once(`padding ${key}`, () => {
          const ids = this.tensorOf(key);
          return this.graph.op('NotEqual', `${ids.layer}_padding_mask`, [ids, 0], {}, spec(ids.shape, 'bool'));
        }),
      );
      return tensors.reduce((a, b) => this.and(a, b));
    }
    if (source.dtype === 'bool') return source;
    return this.once(`bool ${key(source)}`, () =>
      this.graph.op('NotEqual', `${source.layer}_mask`, [source, 0], {}, spec(source.shape, 'bool')),
    );
  }

  /** (B, T, 1): the mask of the queries, each row all masked or not. */
  rows(source: MaskSource): KerasTensor {
    const mask = this.padding(source);
    return this.once(`rows ${key(mask)}`, () =>
      this.graph.op('GetItem', `${mask.layer}_rows`, [mask, [ALL, ALL, null]], {}, spec([...mask.shape, 1], 'bool')),
    );
  }

  /** (B, 1, S): the mask of the keys. */
  columns(source: MaskSource): KerasTensor {
    const mask = this.padding(source);
    const [batch, length] = mask.shape;
    return this.once(`columns ${key(mask)}`, () =>
      this.graph.op('GetItem', `${mask.layer}_columns`, [mask, [ALL, null, ALL]], {}, spec([batch, 1, length], 'bool')),
    );
  }

  /** Elementwise AND, broadcast. */
  and(a: KerasTensor, b: KerasTensor): KerasTensor {
    const shape = a.shape.map((d, i) => (d === 1 ? b.shape[i] : d));
    return this.once(`and ${key(a)} ${key(b)}`, () =>
      this.graph.op('LogicalAnd', `${a.layer}_and_${b.layer}`, [a, b], {}, spec(shape, 'bool')),
    );
  }

  /** (B, T, S) = queries x keys: 1 where query t (mask `rows`) may attend to key s (every mask of `columns`). */
  pair(rows: MaskSource, columns: MaskSource[]): KerasTensor {
    return columns.map((c) => this.columns(c)).reduce((a, b) => this.and(a, b), this.rows(rows));
  }

  private once(name: string, make: () => KerasTensor): KerasTensor {
    let tensor = this.cache.get(name);
    if (tensor == null) {
      tensor = make();
      this.cache.set(name, tensor);
    }
    return tensor;
  }
}

/** Keras's `slice(None)` in a GetItem key (`x[:, :, None]`). */
const ALL = { class_name: '__slice__', config: { start: null, stop: null, step: null } };

function key(tensor: KerasTensor): string {
  return `${tensor.layer}/${tensor.node}/${tensor.index}`;
}

function spec(shape: Array<number | null>, dtype: string): { shape: Array<number | null>; dtype: string } {
  return { shape, dtype };
}
