/**
 * The typed-array runner: the cached runner's walk through the model's graph (src/decode/graph.ts)
 * with each step's values in Float32Arrays instead of tensors, for small batches.
 *
 * At batch 1 a decode step is a couple of hundred tfjs kernels of almost no arithmetic each, and
 * tfjs's bookkeeping per kernel is the step's whole cost. Here the layers run on arrays
 * (src/decode/array_steps.ts, through the fused kernels' own code), with their caches in arrays
 * too; a position-wise layer without an array step runs through tfjs on the step's values
 * (bridged). The part of the graph that does not depend on the tokens (an encoder) runs once in
 * tfjs, as in the cached runner, and its outputs are read once.
 */
import * as tf from '@tensorflow/tfjs';
import type { SymbolicTensor } from '@tensorflow/tfjs-layers/dist/engine/topology';
import { type ArrayStep, type ArrayValue, arrayStepFor, type StepPositions } from './array_steps';
import {
  allNodes,
  callNode,
  describeLayer,
  type GraphPlan,
  type NodeValue,
  type PlannedNode,
  readByGrowingPart,
} from './graph';
import type { RunnerSetup, StepRunner } from './runner';

/** How each node that runs every step runs: its array step, or 'bridged' (through tfjs). */
type NodeSteps = Map<PlannedNode, ArrayStep | 'bridged'>;

/**
 * Each node's array step for a runner of `rows` rows, or why the typed-array runner cannot run
 * the plan: a cached layer (attention) it has no array step for.
 */
export function planArraySteps(
  plan: GraphPlan,
  setup: Pick<RunnerSetup, 'rows' | 'extra'>,
  maxLength: number,
): { steps: NodeSteps } | { unsupported: string } {
  const steps: NodeSteps = new Map();
  for (const planned of allNodes(plan)) {
    const { run, layer } = planned;
    if (run.kind === 'nested') continue;
    const step = arrayStepFor(planned, { rows: setup.rows, maxLength, extra: setup.extra(layer) });
    if (step == null && run.kind === 'cached') return { unsupported: describeLayer(layer) };
    steps.set(planned, step ?? 'bridged');
  }
  return { steps };
}

/** A tensor as an array value (its data read), with its mask. */
function toArrays(value: NodeValue): ArrayValue {
  return {
    data: Float32Array.from(value.tensor.dataSync()),
    shape: value.tensor.shape,
    mask: value.mask ? Float32Array.from(value.mask.dataSync()) : null,
  };
}

/** Rows `order` of an array value whose first axis is the rows. */
function pickRows(value: ArrayValue, order: Int32Array): ArrayValue {
  const rowSize = value.data.length / value.shape[0];
  const maskSize = value.mask ? value.mask.length / value.shape[0] : 0;
  const data = new Float32Array(order.length * rowSize);
  const mask = value.mask ? new Float32Array(order.length * maskSize) : null;
  order.forEach((from, r) => {
    data.set(value.data.subarray(from * rowSize, (from + 1) * rowSize), r * rowSize);
    mask?.set(value.mask!.subarray(from * maskSize, (from + 1) * maskSize), r * maskSize);
  });
  return { data, shape: [order.length, ...value.shape.slice(1)], mask };
}

export class ArrayRunner implements StepRunner {
  readonly rows: number;
  readonly probabilities: boolean;
  /** Outputs of the fixed part that the growing part reads, by symbolic tensor id, read into arrays. */
  private kept = new Map<number, ArrayValue>();

  constructor(
    private readonly setup: RunnerSetup,
    private readonly plan: GraphPlan,
    private readonly steps: NodeSteps,
    /** The most positions any row will reach: the length of the updated caches. */
    private readonly maxLength: number,
  ) {
    this.rows = setup.rows;
    this.probabilities = setup.probabilities;
    try {
      this.runFixedPart();
    } catch (error) {
      this.dispose();
      throw error;
    }
  }

  /**
   * Runs the nodes that do not depend on the tokens once, on whole sequences, and keeps what the
   * others take.
   */
  private runFixedPart(): void {
    const { model, fixedInputs, tokenInput } = this.setup;
    const needed = readByGrowingPart(this.plan);
    const values = new Map<number, ArrayValue>();
    model.inputs.forEach((input, i) => {
      if (i !== tokenInput) values.set(input.id, toArrays({ tensor: fixedInputs[i]!, mask: null }));
    });
    for (const planned of this.plan.nodes) {
      if (planned.run.kind !== 'static') continue;
      const inputs = planned.node.inputTensors.map((t) => values.get(t.id)!);
      const at = { rows: this.rows, n: inputs[0].shape[1], index: 0 };
      this.runNode(planned, inputs, at).forEach((v, i) => values.set(planned.node.outputTensors[i].id, v));
    }
    for (const [id, value] of values) if (needed.has(id)) this.kept.set(id, value);
  }

  /** A node's outputs from its inputs: its array step, or through tfjs. */
  private runNode(planned: PlannedNode, inputs: ArrayValue[], at: StepPositions): ArrayValue[] {
    const step = this.steps.get(planned)!;
    return step === 'bridged' ? this.bridge(planned, inputs, at) : step.run(inputs, at);
  }

  advance(tokens: Int32Array, n: number, index: number): tf.Tensor2D {
    if (index + n > this.maxLength) {
      throw new Error(`generate: positions up to ${index + n} are past the caches' ${this.maxLength} positions`);
    }
    const { model, tokenInput } = this.setup;
    const values = new Map(this.kept);
    values.set(model.inputs[tokenInput].id, { data: Float32Array.from(tokens), shape: [this.rows, n], mask: null });
    this.runPlan(this.plan, values, { rows: this.rows, n, index });
    const output = values.get((model.outputs[0] as SymbolicTensor).id);
    if (output == null) throw new Error('generate: the model output does not depend on the token input');
    if (output.shape.length !== 3) {
      throw new Error(
        `generate: the model's output must be (B, T, V) logits or probabilities per position, ` +
          `got shape [${output.shape}]`,
      );
    }
    // The last position of each row.
    const vocabulary = output.shape[2];
    const last = new Float32Array(this.rows * vocabulary);
    for (let r = 0; r < this.rows; r++) {
      const start = (r * n + n - 1) * vocabulary;
      last.set(output.data.subarray(start, start + vocabulary), r * vocabulary);
    }
    return tf.tensor2d(last, [this.rows, vocabulary]);
  }

  private runPlan(plan: GraphPlan, values: Map<number, ArrayValue>, at: StepPositions): void {
    for (const planned of plan.nodes) {
      const { node, run } = planned;
      if (run.kind === 'static' && plan === this.plan) continue;
      if (run.kind === 'nested') {
        const inner = run.plan;
        node.inputTensors.forEach((t, i) => values.set(inner.model.inputs[i].id, values.get(t.id)!));
        this.runPlan(inner, values, at);
        node.outputTensors.forEach((t, i) => values.set(t.id, values.get(inner.model.outputs[i].id)!));
        continue;
      }
      const inputs = node.inputTensors.map((t) => values.get(t.id)!);
      this.runNode(planned, inputs, at).forEach((v, i) => values.set(node.outputTensors[i].id, v));
    }
  }

  /** A node without an array step, through tfjs on the step's values; its outputs' masks as tfjs gives them. */
  private bridge(planned: PlannedNode, inputs: ArrayValue[], at: StepPositions): ArrayValue[] {
    const { node, layer, run } = planned;
    let results: ArrayValue[] = [];
    tf.tidy(() => {
      const values = inputs.map((v, i): NodeValue => ({
        tensor: tf.tensor(v.data, v.shape, (node.inputTensors[i] as SymbolicTensor).dtype),
        mask: v.mask ? tf.tensor(v.mask, v.shape.slice(0, 2)) : null,
      }));
      const kwargs: Record<string, unknown> = { ...this.setup.extra(layer) };
      if (run.kind === 'positioned') kwargs[run.startIndexArgument] = at.index;
      const { outputs, masks } = callNode(node, values, kwargs);
      results = outputs.slice(0, node.outputTensors.length).map((t, i) => ({
        data: Float32Array.from(t.dataSync()),
        shape: t.shape,
        mask: masks[i] ? Float32Array.from(masks[i]!.dataSync()) : null,
      }));
    });
    return results;
  }

  reorder(rows: Int32Array): void {
    for (const [id, value] of this.kept) this.kept.set(id, pickRows(value, rows));
    for (const step of this.steps.values()) if (step !== 'bridged') step.reorder?.(rows);
  }

  dispose(): void {
    this.kept.clear();
    tf.dispose(this.setup.fixedInputs.filter((x): x is tf.Tensor => x != null));
  }
}
