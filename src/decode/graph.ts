/**
 * A model's graph as incremental decoding runs it (src/decode/runner.ts): the layers' calls
 * (nodes) in an order where every input is ready, each marked by whether it depends on the input
 * that grows (the token ids) and, if it does, how it runs one new position at a time:
 *
 * - static: it does not depend on the growing input (an encoder); it runs once;
 * - position-wise or positioned: the layer's output at a position depends only on its input
 *   there (Dense, norms, activations, ...; position embeddings, told where the positions are);
 * - cached: it mixes positions through attention with key/value caches (src/layers/incremental.ts);
 * - nested: a model used as a layer, planned the same way inside.
 *
 * Anything else that depends on the growing input mixes positions with no cache (Conv1D, pooling,
 * recurrent layers, a user's own layer): planning refuses it with an error that names it.
 * tfjs's own position-wise layers are listed here by class name (they cannot say so themselves);
 * ours say so through `incrementalRole`.
 */
import * as tf from '@tensorflow/tfjs';
import type { Node, SymbolicTensor } from '@tensorflow/tfjs-layers/dist/engine/topology';
import { describeValue } from '../describe';
import { hasAttention } from '../layers/attention_recorder';
import { type CacheSlot, isIncrementalLayer } from '../layers/incremental';

/** tfjs's layers whose output at a position depends only on their input at that position. */
const POSITION_WISE_CLASSES = new Set([
  'Activation',
  'Add',
  'AlphaDropout',
  'Average',
  'Dense',
  'Dropout',
  'ELU',
  'Embedding',
  'GaussianDropout',
  'GaussianNoise',
  'LeakyReLU',
  'Masking',
  'Maximum',
  'Minimum',
  'Multiply',
  'PReLU',
  'ReLU',
  'SpatialDropout1D',
  'Subtract',
  'ThresholdedReLU',
  'TimeDistributed',
]);

/** tfjs layers that are position-wise when they work on the last axis (their `axis` config). */
const LAST_AXIS_CLASSES = new Set(['Concatenate', 'Softmax']);

/**
 * tfjs layers whose `axis` config (a number or a list) names the axes they normalize over or keep
 * weights along: position-wise unless one of them is the positions' axis, 1 (a layer norm over
 * axis 1 mixes positions; a batch norm on axis 1 has weights per position).
 */
const NORMALIZING_CLASSES = new Set(['BatchNormalization', 'LayerNormalization']);

/** A cache of a cached node: over the growing positions (updated each step) or over static ones (written once). */
export interface PlannedSlot extends CacheSlot {
  mode: 'updated' | 'static';
}

export type NodeRun =
  | { kind: 'static' }
  | { kind: 'position-wise' }
  | { kind: 'positioned'; startIndexArgument: string }
  | { kind: 'cached'; slots: PlannedSlot[] }
  | { kind: 'nested'; plan: GraphPlan };

export interface PlannedNode {
  node: Node;
  layer: tf.layers.Layer;
  run: NodeRun;
}

/** A container's nodes in run order, with what each needs. */
export interface GraphPlan {
  model: tf.LayersModel;
  nodes: PlannedNode[];
}

/** `layer 'name' (Class)`, how messages name a layer. */
export function describeLayer(layer: tf.layers.Layer): string {
  return `layer '${layer.name}' (${layer.getClassName()})`;
}

/** The nodes of a container that belong to it, deepest (first to run) first, as tfjs runs them. */
function nodesInRunOrder(model: tf.LayersModel): Node[] {
  const byDepth = model.nodesByDepth;
  const depths = Object.keys(byDepth)
    .map((d) => parseInt(d, 10))
    .sort((a, b) => b - a);
  // Input layers' nodes stand for the container's inputs: nothing to run.
  return depths
    .flatMap((d) => byDepth[d])
    .filter((node) => node.inputTensors.length > 0 && node.outboundLayer.getClassName() !== 'InputLayer');
}

/** Whether `layer` is a model used as a layer (a container of layers). */
export function isContainer(layer: tf.layers.Layer): layer is tf.LayersModel {
  return (layer as Partial<tf.LayersModel>).nodesByDepth != null;
}

/** Whether a tfjs layer not of ours is position-wise (its class is, on the axis it works on). */
function isPositionWise(layer: tf.layers.Layer): boolean {
  const className = layer.getClassName();
  if (POSITION_WISE_CLASSES.has(className)) return true;
  if (LAST_AXIS_CLASSES.has(className)) {
    const axis = layer.getConfig().axis as number | undefined;
    const rank = (layer.outputShape as number[]).length;
    return axis == null || axis === -1 || axis === rank - 1;
  }
  if (NORMALIZING_CLASSES.has(className)) {
    const axes = [layer.getConfig().axis].flat() as number[];
    const rank = (layer.outputShape as number[]).length;
    return !axes.some((axis) => axis === 1 || axis === 1 - rank);
  }
  return false;
}

/**
 * Plans `model` with the tensors `growing` (symbolic tensor ids) as the ones whose positions grow.
 * Throws, naming the layer, when a node that depends on them cannot run one position at a time.
 */
export function planGraph(model: tf.LayersModel, growing: Set<number>): GraphPlan {
  const dynamic = new Set(growing);
  const nodes: PlannedNode[] = [];
  for (const node of nodesInRunOrder(model)) {
    const layer = node.outboundLayer as tf.layers.Layer;
    const inputs = node.inputTensors as SymbolicTensor[];
    const dynamicInputs = inputs.map((t) => dynamic.has(t.id));
    if (!dynamicInputs.includes(true)) {
      nodes.push({ node, layer, run: { kind: 'static' } });
      continue;
    }
    (node.outputTensors as SymbolicTensor[]).forEach((t) => dynamic.add(t.id));
    nodes.push({ node, layer, run: planDynamicNode(layer, inputs, dynamicInputs) });
  }
  return { model, nodes };
}

function planDynamicNode(layer: tf.layers.Layer, inputs: SymbolicTensor[], dynamicInputs: boolean[]): NodeRun {
  if (isContainer(layer)) {
    const inner = layer.inputs.filter((_t, i) => dynamicInputs[i]).map((t) => t.id);
    return { kind: 'nested', plan: planGraph(layer, new Set(inner)) };
  }
  if (isIncrementalLayer(layer)) {
    const role = layer.incrementalRole(inputs.length);
    if (role?.kind === 'cached') {
      return { kind: 'cached', slots: role.slots.map((slot) => planSlot(layer, slot, dynamicInputs)) };
    }
    if (role != null) return role;
  } else if (isPositionWise(layer)) return { kind: 'position-wise' };
  throw new Error(
    `generate: ${describeLayer(layer)} mixes positions and keeps no key/value cache, so the model cannot ` +
      'run one new position at a time; pass useCache: false to rerun the whole model for every token',
  );
}

/** A cache's mode: keys and values from the growing positions (causal attention only) or from static ones. */
function planSlot(layer: tf.layers.Layer, slot: CacheSlot, dynamicInputs: boolean[]): PlannedSlot {
  const sources = slot.keyValueInputs.map((i) => dynamicInputs[i]);
  if (sources.every((d) => !d)) return { ...slot, mode: 'static' };
  if (!sources.every((d) => d)) {
    throw new Error(
      `generate: ${describeLayer(layer)} takes its keys and values from both the growing sequence and a fixed ` +
        'input; it cannot keep one cache of them. Pass useCache: false',
    );
  }
  if (!slot.attention.causal) {
    throw new Error(
      `generate: ${describeLayer(layer)} attends over the growing sequence without a causal mask, so its output ` +
        'at earlier positions changes with every new token and no cache can hold it. Generating needs causal ' +
        'self-attention (causal: true, or keras-hub useCausalMask); pass useCache: false to rerun the model anyway',
    );
  }
  return { ...slot, mode: 'updated' };
}

/** The symbolic tensors (by id) that the nodes depending on the tokens read: what a runner keeps of the fixed part. */
export function readByGrowingPart(plan: GraphPlan): Set<number> {
  return new Set(
    plan.nodes.filter((n) => n.run.kind !== 'static').flatMap((n) => n.node.inputTensors.map((t) => t.id)),
  );
}

/** Every node of a plan, nested plans' included, depth first. */
export function allNodes(plan: GraphPlan): PlannedNode[] {
  return plan.nodes.flatMap((n) => (n.run.kind === 'nested' ? [n, ...allNodes(n.run.plan)] : [n]));
}

/**
 * Whether the model's output is probabilities (its last layer ends in a softmax) rather than
 * logits: a Dense or Activation layer with activation 'softmax', or a Softmax layer.
 */
export function outputIsProbabilities(model: tf.LayersModel): boolean {
  const output = model.outputs[0] as SymbolicTensor;
  const layer = output.sourceLayer as tf.layers.Layer;
  if (isContainer(layer)) return outputIsProbabilities(layer);
  if (layer.getClassName() === 'Softmax') return true;
  const activation = (layer.getConfig() as { activation?: unknown }).activation;
  return activation === 'softmax';
}

/** The layers of every node that depends on the model input `inputIndex`, nested models' included. */
export function layersReading(model: tf.LayersModel, inputIndex: number): tf.layers.Layer[] {
  const walk = (container: tf.LayersModel, dynamic: Set<number>): tf.layers.Layer[] =>
    nodesInRunOrder(container).flatMap((node) => {
      const inputs = node.inputTensors as SymbolicTensor[];
      const reads = inputs.map((t) => dynamic.has(t.id));
      if (!reads.includes(true)) return [];
      (node.outputTensors as SymbolicTensor[]).forEach((t) => dynamic.add(t.id));
      const layer = node.outboundLayer as tf.layers.Layer;
      if (!isContainer(layer)) return [layer];
      return [layer, ...walk(layer, new Set(layer.inputs.filter((_t, i) => reads[i]).map((t) => t.id)))];
    });
  return walk(model, new Set([model.inputs[inputIndex].id]));
}

/**
 * The most positions the model input `inputIndex` can take: the shortest table of our
 * TokenAndPositionEmbedding layers reading it (`sequenceLength`); Infinity without one (other
 * position encodings extend to any length).
 */
export function positionLimit(model: tf.LayersModel, inputIndex: number): number {
  return Math.min(
    Infinity,
    ...layersReading(model, inputIndex)
      .filter((layer) => layer.getClassName() === 'TokenAndPositionEmbedding')
      .map((layer) => (layer as unknown as { sequenceLength: number }).sequenceLength),
  );
}

/** A tensor and its padding mask, as tfjs's executor carries them between layers. */
export interface NodeValue {
  tensor: tf.Tensor;
  mask: tf.Tensor | null;
}

/**
 * Calls one node's layer on its input values as tfjs's executor does (the inputs' masks as
 * `mask`, the node's own call arguments, inference mode) plus `extra` call arguments; returns all
 * the call's outputs and the masks of the node's outputs. Call inside a tidy.
 */
export function callNode(
  node: Node,
  inputs: NodeValue[],
  extra: Record<string, unknown> = {},
): { outputs: tf.Tensor[]; masks: Array<tf.Tensor | null> } {
  const layer = node.outboundLayer as tf.layers.Layer;
  const tensors = inputs.map((v) => v.tensor);
  const masks = inputs.map((v) => v.mask);
  const single = tensors.length === 1;
  const kwargs: Record<string, unknown> = { ...(node.callArgs ?? {}), training: false, ...extra };
  if (kwargs.mask == null) kwargs.mask = single ? masks[0] : masks;
  const outputs = [layer.call(single ? tensors[0] : tensors, kwargs)].flat() as tf.Tensor[];
  // A layer that does not support masking ends the masks (tfjs's executor asks it for none).
  const outputMasks = layer.supportsMasking
    ? [layer.computeMask(single ? tensors[0] : tensors, single ? masks[0]! : (masks as tf.Tensor[]))]
        .flat()
        .map((m) => (m ?? null) as tf.Tensor | null)
    : outputs.map(() => null);
  return { outputs, masks: outputMasks };
}

/**
 * Runs a model on concrete inputs (one per `model.inputs`) node by node, as `model.predict` does
 * for one batch, with extra call arguments for the layers `extra` names (head masks); returns the
 * model's outputs. Models used as layers are run the same way inside. Call inside a tidy.
 */
export function runModel(
  model: tf.LayersModel,
  inputs: tf.Tensor[],
  extra: (layer: tf.layers.Layer) => Record<string, unknown> | undefined = () => undefined,
): tf.Tensor[] {
  const values = new Map<number, NodeValue>();
  model.inputs.forEach((input, i) => values.set(input.id, { tensor: inputs[i], mask: null }));
  runNodes(model, values, extra);
  return model.outputs.map((output) => values.get(output.id)!.tensor);
}

function runNodes(
  model: tf.LayersModel,
  values: Map<number, NodeValue>,
  extra: (layer: tf.layers.Layer) => Record<string, unknown> | undefined,
): void {
  for (const node of nodesInRunOrder(model)) {
    const layer = node.outboundLayer as tf.layers.Layer;
    const inputs = node.inputTensors.map((t) => values.get(t.id)!);
    if (isContainer(layer)) {
      inputs.forEach((v, i) => values.set(layer.inputs[i].id, v));
      runNodes(layer, values, extra);
      node.outputTensors.forEach((t, i) => values.set(t.id, values.get(layer.outputs[i].id)!));
      continue;
    }
    const { outputs, masks } = callNode(node, inputs, extra(layer));
    node.outputTensors.forEach((t, i) => values.set(t.id, { tensor: outputs[i], mask: masks[i] }));
  }
}

/** An attention layer of a model, where it is, and how its heads are masked. */
export interface AttentionSite {
  /** 'block_1/self_attention', 'mha' (a MultiHeadAttention of the model), 'nested/block_0/...'. */
  path: string;
  /** The MultiHeadAttention. */
  attention: tf.layers.Layer;
  /** The model's layer that holds it (the attention itself, or a block). */
  owner: tf.layers.Layer;
  /** The owner's call argument for this attention's head mask. */
  headMaskArgument: string;
}

/** Every attention layer of `model`, in the order of `model.layers` (models used as layers searched inside). */
export function attentionSites(model: tf.LayersModel, prefix = ''): AttentionSite[] {
  return model.layers.flatMap((layer): AttentionSite[] => {
    if (isContainer(layer)) return attentionSites(layer, `${prefix}${layer.name}/`);
    if (!hasAttention<tf.layers.Layer>(layer)) return [];
    return layer.attentionSublayers().map((sub) => ({
      path: `${prefix}${layer.name}${sub.name ? `/${sub.name}` : ''}`,
      attention: sub.attention,
      owner: layer,
      headMaskArgument: sub.headMaskArgument,
    }));
  });
}

/**
 * The head masks by attention path as call arguments of the layers that hold those attentions
 * (`extra`), and the tensors made for them (`made`: the caller disposes them).
 */
export function headMaskArguments(
  model: tf.LayersModel,
  masks: Record<string, number[] | tf.Tensor>,
  where = 'generate',
): { extra: (layer: tf.layers.Layer) => Record<string, unknown> | undefined; made: tf.Tensor[] } {
  const sites = attentionSites(model);
  const byOwner = new Map<tf.layers.Layer, Record<string, unknown>>();
  const made: tf.Tensor[] = [];
  try {
    for (const [path, mask] of Object.entries(masks)) {
      const site = sites.find((s) => s.path === path);
      if (site == null) {
        const paths = sites.map((s) => `'${s.path}'`).join(', ') || 'none';
        throw new Error(
          `${where}: headMasks has ${describeValue(path)}, which is not an attention layer of the model; ` +
            `its attention layers are ${paths}`,
        );
      }
      const heads = (site.attention as unknown as { numHeads: number }).numHeads;
      if (
        !(mask instanceof tf.Tensor) &&
        (!Array.isArray(mask) ||
          mask.length !== heads ||
          mask.some((v) => typeof v !== 'number' || !Number.isFinite(v)))
      ) {
        throw new Error(
          `${where}: headMasks['${path}'] must be ${heads} numbers (one per head), got ${describeValue(mask)}`,
        );
      }
      const tensor = mask instanceof tf.Tensor ? mask : tf.tensor1d(mask);
      if (!(mask instanceof tf.Tensor)) made.push(tensor);
      byOwner.set(site.owner, { ...byOwner.get(site.owner), [site.headMaskArgument]: tensor });
    }
  } catch (error) {
    tf.dispose(made);
    throw error;
  }
  return { extra: (layer) => byOwner.get(layer), made };
}
