/**
 * `explainAttention`: what every attention layer of any model attends to and what its heads'
 * value matrices carry, from one forward pass with the masks the model really uses, as bertviz
 * shows the attention of any Hugging Face model, with the value-weighted view of Kobayashi et al.
 * 2020 ("Attention is Not Only a Weight: Analyzing Transformers with Vector Norms") beside the
 * weights. Every MultiHeadAttention counts, on its own or inside a block (ours, keras-hub's), in a
 * functional model, a `tf.sequential`, a model loaded from a Keras file, or a model used as a
 * layer; head masks (Hugging Face's `head_mask`) switch heads off for the pass.
 */
import * as tf from '@tensorflow/tfjs';
import { attentionSites, headMaskArguments, runModel } from '../decode/graph';
import { describeValue } from '../describe';
import { recordAttention } from '../layers/attention_recorder';
import { MultiHeadAttention } from '../layers/multi_head_attention';
import { checkOptionNames, optionNames } from '../options';

/**
 * What an attention layer does: self-attention, causal self-attention, or cross-attention (keys and
 * values from another sequence).
 */
export type AttentionKind = 'self' | 'causal' | 'cross';

/** Options of `explainAttention`. */
export interface ExplainOptions {
  /** Heads switched off (or scaled) for the pass, per attention path: H numbers, as `generate`'s. Default none. */
  headMasks?: Record<string, number[] | tf.Tensor1D>;
  /** Also return each head's share of the layer's output (`headOutputs`). Default false. */
  headOutputs?: boolean;
}

const OPTION_NAMES = optionNames<ExplainOptions>({ headMasks: true, headOutputs: true });

/** One attention call of the pass, per batch row (b), head (h), query (t) and key (s), as plain arrays. */
export interface AttentionExplanation {
  /** Where the layer is: 'block_1/self_attention', or the attention layer's own name. */
  path: string;
  kind: AttentionKind;
  /** The MultiHeadAttention. */
  layer: MultiHeadAttention;
  numHeads: number;
  /** The attention weights, [b][h][t][s]: each row a distribution over the keys. */
  weights: number[][][][];
  /** The length of the vector each key position sends through each head, `||(v W_V^h + b_V^h) W_O^h||`, [b][h][s]. */
  valueNorms: number[][][];
  /** What key s adds to query t's output through head h: weight * value norm, [b][h][t][s]. */
  contributions: number[][][][];
  /** The mean length over the queries of each head's share of the output, [b][h]. */
  importance: number[][];
  /** With `headOutputs`: each head's share of the output before the output bias, [b][h][t][Dout]. */
  headOutputs?: number[][][][];
  /** The head mask the pass used for this layer, (H) or (B, H), or null. */
  headMask: number[] | number[][] | null;
}

/**
 * Runs `model` on `inputs` (what `model.predict` takes: a tensor, or one per model input) once,
 * in inference mode, and returns every attention call it made, in the order it made them. Leaves
 * `tf.memory().numTensors` as it found it; any backend.
 *
 * ```ts
 * const [first] = explainAttention(gpt, tf.tensor2d([[5, 3, 8, 2]], undefined, 'int32'));
 * first.path;              // 'transformer_encoder_block_1/self_attention'
 * first.contributions[0][1]; // head 1's (T, S) value-weighted map
 * ```
 */
export function explainAttention(
  model: tf.LayersModel,
  inputs: tf.Tensor | tf.Tensor[],
  options: ExplainOptions = {},
): AttentionExplanation[] {
  checkOptionNames('explainAttention', options, OPTION_NAMES);
  const list = modelInputs(model, inputs, 'explainAttention');
  const paths = new Map(attentionSites(model).map((site) => [site.attention, site.path]));
  const masks = headMaskArguments(model, options.headMasks ?? {}, 'explainAttention');
  const calls: Array<{
    path: string;
    kind: AttentionKind;
    layer: MultiHeadAttention;
    tensors: tf.Tensor[];
    headMask: tf.Tensor | null;
  }> = [];
  try {
    tf.tidy(() => {
      recordAttention<void, MultiHeadAttention>(
        ({ layer, inputs: call, probabilities, headMask }) => {
          if (!(layer instanceof MultiHeadAttention)) return;
          const kind: AttentionKind = call.value !== call.query ? 'cross' : layer.causal ? 'causal' : 'self';
          const parts = layer.contributionsOf(probabilities, call.value, headMask);
          const tensors = [
            probabilities,
            parts.valueNorms,
            parts.contributions,
            parts.importance,
            ...(options.headOutputs ? [parts.headOutputs] : []),
          ];
          tensors.forEach((t) => tf.keep(t));
          const seen = calls.filter((c) => c.layer === layer).length;
          const path = (paths.get(layer) ?? layer.name) + (seen > 0 ? `#${seen + 1}` : '');
          calls.push({ path, kind, layer, tensors, headMask });
        },
        () => {
          runModel(model, list, masks.extra);
        },
      );
    });
    return calls.map(({ path, kind, layer, tensors, headMask }) => {
      const [weights, valueNorms, contributions, importance, headOutputs] = tensors.map((t) => t.arraySync());
      return {
        path,
        kind,
        layer,
        numHeads: layer.numHeads,
        weights: weights as number[][][][],
        valueNorms: valueNorms as number[][][],
        contributions: contributions as number[][][][],
        importance: importance as number[][],
        ...(options.headOutputs ? { headOutputs: headOutputs as number[][][][] } : {}),
        headMask: headMask == null ? null : (headMask.arraySync() as number[] | number[][]),
      };
    });
  } finally {
    tf.dispose(calls.flatMap((c) => c.tensors));
    tf.dispose(masks.made);
  }
}

/**
 * What `model.predict(inputs)` gives (one batch, inference mode), with heads switched off (or
 * scaled) by `headMasks`, per attention path as `explainAttention` takes them; without masks, the
 * same as `predict`. One tensor per model output (a tensor for a single output, as `predict`); the
 * caller owns them.
 *
 * ```ts
 * const probabilities = predictWithHeadMasks(classifier, x, { attention: [1, 0, 1, 1] }) as tf.Tensor;
 * ```
 */
export function predictWithHeadMasks(
  model: tf.LayersModel,
  inputs: tf.Tensor | tf.Tensor[],
  headMasks: Record<string, number[] | tf.Tensor1D> = {},
): tf.Tensor | tf.Tensor[] {
  const list = modelInputs(model, inputs, 'predictWithHeadMasks');
  const masks = headMaskArguments(model, headMasks, 'predictWithHeadMasks');
  try {
    const outputs = tf.tidy(() => runModel(model, list, masks.extra));
    return outputs.length === 1 ? outputs[0] : outputs;
  } finally {
    tf.dispose(masks.made);
  }
}

/** `inputs` as a list, one tensor per model input; throws, naming `where`, unless `model` is a LayersModel they fit. */
function modelInputs(model: tf.LayersModel, inputs: tf.Tensor | tf.Tensor[], where: string): tf.Tensor[] {
  if (!(model instanceof tf.LayersModel)) {
    throw new Error(`${where}: model must be a tf.LayersModel, got ${describeValue(model)}`);
  }
  const list = Array.isArray(inputs) ? inputs : [inputs];
  if (list.length !== model.inputs.length || list.some((x) => !(x instanceof tf.Tensor))) {
    throw new Error(
      `${where}: inputs must be ${model.inputs.length} tensor(s), one per model input ` +
        `(${model.inputNames.join(', ')}), got ${describeValue(inputs)}`,
    );
  }
  return list;
}
