/**
 * Runs any `tf.LayersModel` one new position at a time: the incremental runner behind
 * `generate`, `decode` and `Seq2Seq.generate`.
 *
 * The model's token input grows; its other inputs (an encoder's source, features) stay fixed.
 * `CachedRunner` walks the model's graph (src/decode/graph.ts) as tfjs's own executor does, but
 * the part that does not depend on the tokens runs once, position-wise layers run on the new
 * positions alone, position embeddings are told where those positions are (`startIndex`), and
 * attention keeps its keys and values in caches written in place (MultiHeadAttention's `cache`:
 * updated for causal self-attention, static for cross-attention over an encoder). `RerunRunner`
 * is the reference: it reruns the whole model on every prefix (`useCache: false`), and runs any
 * model.
 *
 * Both give, per row, the log-probabilities of the next token after the positions fed so far; a
 * search (src/decode/search.ts) chooses the tokens.
 */
import * as tf from '@tensorflow/tfjs';
import type { SymbolicTensor } from '@tensorflow/tfjs-layers/dist/engine/topology';
import { describeValue } from '../describe';
import {
  callNode,
  type GraphPlan,
  type NodeRun,
  type NodeValue,
  type PlannedNode,
  readByGrowingPart,
  runModel,
} from './graph';

/** Runs a model's rows position by position. */
export interface StepRunner {
  /** Rows (prompts, or prompts x beams). */
  readonly rows: number;
  /** Whether the model outputs probabilities (a softmax), not logits. */
  readonly probabilities: boolean;
  /**
   * Feeds `tokens` (rows x n, row-major) at positions [index, index + n) of every row (the
   * positions before index were fed already) and returns the model's output for the token after
   * the last of them, (rows, V) logits or probabilities (`logProbabilities` turns them into
   * log-probabilities once read): the caller disposes it.
   */
  advance(tokens: Int32Array, n: number, index: number): tf.Tensor2D;
  /** Keeps rows `rows` in that order (a beam search's survivors; repeats make copies). */
  reorder(rows: Int32Array): void;
  dispose(): void;
}

/** What both runners need: the model, which input grows, the others' tensors, and the output's kind. */
export interface RunnerSetup {
  model: tf.LayersModel;
  /** The index in `model.inputs` of the token input. */
  tokenInput: number;
  /** One tensor per other model input (the token input's entry is null), each with `rows` rows; owned by the runner. */
  fixedInputs: Array<tf.Tensor | null>;
  rows: number;
  /** The model outputs probabilities (a softmax), not logits. */
  probabilities: boolean;
  /** Call arguments for some of the model's layers on every call (head masks), or undefined. */
  extra: (layer: tf.layers.Layer) => Record<string, unknown> | undefined;
}

type Value = NodeValue;

/** (rows, n, V) model output -> its last position (rows, V). Call inside a tidy. */
function lastPosition(output: tf.Tensor): tf.Tensor2D {
  if (output.rank !== 3) {
    throw new Error(
      `generate: the model's output must be (B, T, V) logits or probabilities per position, got shape ` +
        `[${output.shape}]`,
    );
  }
  const [rows, length, vocabulary] = output.shape as number[];
  return output.slice([0, length - 1, 0], [rows, 1, vocabulary]).reshape([rows, vocabulary]) as tf.Tensor2D;
}

/**
 * `rows` rows of V logits or probabilities (read from `advance`'s tensor) as log-probabilities,
 * in place: log-softmax of the logits, the log of the probabilities. In JavaScript: V numbers a
 * row, fewer than the tfjs kernels a log-softmax would take.
 */
export function logProbabilities(values: Float32Array, rows: number, probabilities: boolean): Float32Array {
  const vocabulary = values.length / rows;
  for (let r = 0; r < rows; r++) {
    const row = values.subarray(r * vocabulary, (r + 1) * vocabulary);
    if (probabilities) {
      for (let v = 0; v < vocabulary; v++) row[v] = Math.log(row[v]);
      continue;
    }
    let max = -Infinity;
    for (let v = 0; v < vocabulary; v++) max = Math.max(max, row[v]);
    let total = 0;
    for (let v = 0; v < vocabulary; v++) total += Math.exp(row[v] - max);
    const logTotal = max + Math.log(total);
    for (let v = 0; v < vocabulary; v++) row[v] -= logTotal;
  }
  return values;
}

/** `tf.tidy` for results that hold tensors in arrays, maps' entries or objects (tidy keeps every tensor it finds). */
function tidyKeep<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}

/** The token ids as the model's int32 input (rows, n). */
function tokenTensor(tokens: Int32Array, rows: number, n: number): tf.Tensor2D {
  return tf.tensor2d(tokens, [rows, n], 'int32');
}

/** The reference runner: the whole model on every row's tokens so far, every step. */
export class RerunRunner implements StepRunner {
  readonly rows: number;
  readonly probabilities: boolean;
  private history: Int32Array[];
  private fixed: Array<tf.Tensor | null>;

  constructor(private readonly setup: RunnerSetup) {
    this.rows = setup.rows;
    this.probabilities = setup.probabilities;
    this.fixed = setup.fixedInputs;
    this.history = Array.from({ length: this.rows }, () => new Int32Array(0));
  }

  advance(tokens: Int32Array, n: number, index: number): tf.Tensor2D {
    const length = index + n;
    this.history = this.history.map((row, r) => {
      const grown = new Int32Array(length);
      grown.set(row.subarray(0, index));
      grown.set(tokens.subarray(r * n, (r + 1) * n), index);
      return grown;
    });
    return tf.tidy(() => {
      const flat = new Int32Array(this.rows * length);
      this.history.forEach((row, r) => flat.set(row, r * length));
      const inputs = this.fixed.map((x) => x ?? tokenTensor(flat, this.rows, length));
      const [output] = runModel(this.setup.model, inputs, this.setup.extra);
      return lastPosition(output);
    });
  }

  reorder(rows: Int32Array): void {
    this.history = Array.from(rows, (r) => this.history[r]);
    const index = tf.tensor1d(rows, 'int32');
    const previous = this.fixed;
    this.fixed = tidyKeep(() => previous.map((x) => (x ? tf.gather(x, index) : null)));
    tf.dispose([index, ...previous.filter((x): x is tf.Tensor => x != null)]);
  }

  dispose(): void {
    tf.dispose(this.fixed.filter((x): x is tf.Tensor => x != null));
    this.fixed = [];
  }
}

/**
 * The cached runner (see the file comment). Owns the caches (one tensor per cache slot of every
 * cached node) and the fixed part's outputs that the growing part reads.
 */
export class CachedRunner implements StepRunner {
  readonly rows: number;
  readonly probabilities: boolean;
  /** Outputs of the fixed part that the growing part reads, by symbolic tensor id. */
  private kept = new Map<number, Value>();
  /** Per cached node, its caches in slot order (absent before the first call). */
  private caches = new Map<PlannedNode, tf.Tensor3D[]>();

  constructor(
    private readonly setup: RunnerSetup,
    private readonly plan: GraphPlan,
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

  /** Runs the nodes that do not depend on the tokens once, keeping what the others read. */
  private runFixedPart(): void {
    const { model, fixedInputs, tokenInput } = this.setup;
    const needed = readByGrowingPart(this.plan);
    const kept = tidyKeep(() => {
      const values = new Map<number, Value>();
      model.inputs.forEach((input, i) => {
        if (i !== tokenInput) values.set(input.id, { tensor: fixedInputs[i]!, mask: null });
      });
      for (const planned of this.plan.nodes) {
        if (planned.run.kind === 'static') this.runNode(planned, values, 0, true);
      }
      return [...values].filter(([id]) => needed.has(id));
    });
    this.kept = new Map(kept);
  }

  advance(tokens: Int32Array, n: number, index: number): tf.Tensor2D {
    if (index + n > this.maxLength) {
      throw new Error(`generate: positions up to ${index + n} are past the caches' ${this.maxLength} positions`);
    }
    const { model, tokenInput } = this.setup;
    const previous = this.caches;
    const next = new Map<PlannedNode, tf.Tensor3D[]>();
    const outputs = tf.tidy(() => {
      const values = new Map(this.kept);
      values.set(model.inputs[tokenInput].id, { tensor: tokenTensor(tokens, this.rows, n), mask: null });
      const updated = this.runPlan(this.plan, values, index, next);
      const output = values.get((model.outputs[0] as SymbolicTensor).id);
      if (output == null) throw new Error('generate: the model output does not depend on the token input');
      return [lastPosition(output.tensor), ...updated.flat()] as tf.Tensor[];
    })[0] as tf.Tensor2D;
    // The new caches share the old ones' storage where they were written in place; the old
    // handles go (a cache is donated: nothing reads the handle passed in).
    for (const caches of previous.values()) tf.dispose(caches);
    this.caches = next;
    return outputs;
  }

  /** Runs a plan's growing part on `values`; returns every cache written (kept by the caller's tidy). */
  private runPlan(plan: GraphPlan, values: Map<number, Value>, index: number, next: Map<PlannedNode, tf.Tensor3D[]>) {
    const written: tf.Tensor3D[][] = [];
    for (const planned of plan.nodes) {
      if (planned.run.kind === 'static' && plan === this.plan) continue;
      if (planned.run.kind === 'nested') {
        written.push(...this.runNested(planned, planned.run.plan, values, index, next));
        continue;
      }
      const caches = this.runNode(planned, values, index, false);
      if (caches) {
        next.set(planned, caches);
        written.push(caches);
      }
    }
    return written;
  }

  /** A model used as a layer: its inputs mapped in, its plan run, its outputs mapped out. */
  private runNested(
    planned: PlannedNode,
    inner: GraphPlan,
    values: Map<number, Value>,
    index: number,
    next: Map<PlannedNode, tf.Tensor3D[]>,
  ): tf.Tensor3D[][] {
    planned.node.inputTensors.forEach((t, i) => values.set(inner.model.inputs[i].id, values.get(t.id)!));
    const written = this.runPlan(inner, values, index, next);
    planned.node.outputTensors.forEach((t, i) => values.set(t.id, values.get(inner.model.outputs[i].id)!));
    return written;
  }

  /**
   * Calls one node's layer on its input values (`callNode`) with the call arguments its run
   * needs: caches and their update index, or the first position's index. Returns the node's new
   * caches, if it has any. Call inside a tidy.
   */
  private runNode(
    planned: PlannedNode,
    values: Map<number, Value>,
    index: number,
    fixed: boolean,
  ): tf.Tensor3D[] | null {
    const { node, layer, run } = planned;
    const inputs = node.inputTensors.map((t) => values.get(t.id)!);
    const kwargs: Record<string, unknown> = { ...this.setup.extra(layer) };
    const cached = this.prepareCaches(
      planned,
      run,
      inputs.map((v) => v.tensor),
      index,
      kwargs,
      fixed,
    );
    if (run.kind === 'positioned') kwargs[run.startIndexArgument] = index;
    const { outputs, masks } = callNode(node, inputs, kwargs);
    node.outputTensors.forEach((t, i) => values.set(t.id, { tensor: outputs[i], mask: masks[i] }));
    return cached ? (outputs.slice(node.outputTensors.length) as tf.Tensor3D[]) : null;
  }

  /**
   * A cached node's cache arguments: on its first call new caches (an updated cache holds
   * `maxLength` positions, a static one its keys' and values' own), written from position 0;
   * afterwards the previous ones, updated at `index` or read as they are (static).
   */
  private prepareCaches(
    planned: PlannedNode,
    run: NodeRun,
    tensors: tf.Tensor[],
    index: number,
    kwargs: Record<string, unknown>,
    fixed: boolean,
  ): boolean {
    if (run.kind !== 'cached' || fixed) return false;
    const previous = this.caches.get(planned);
    run.slots.forEach((slot, s) => {
      const first = previous == null;
      const length = slot.mode === 'updated' ? this.maxLength : (tensors[slot.keyValueInputs[0]].shape[1] as number);
      kwargs[slot.cacheArgument] = first ? slot.attention.createCache(this.rows, length) : previous[s];
      kwargs[slot.indexArgument] = slot.mode === 'updated' ? index : first ? 0 : null;
    });
    return true;
  }

  reorder(rows: Int32Array): void {
    const index = tf.tensor1d(rows, 'int32');
    const pick = <T extends tf.Tensor | null>(t: T): T => (t ? (tf.gather(t, index) as T) : t);
    const keptIds = [...this.kept.keys()];
    const cachedNodes = [...this.caches.keys()];
    // Only tensors go through tidy (it walks every object it returns).
    const [kept, caches] = tidyKeep(
      () =>
        [
          keptIds.map((id) => [pick(this.kept.get(id)!.tensor), pick(this.kept.get(id)!.mask)] as const),
          cachedNodes.map((node) => this.caches.get(node)!.map(pick)),
        ] as const,
    );
    index.dispose();
    this.disposeState();
    this.kept = new Map(keptIds.map((id, i) => [id, { tensor: kept[i][0], mask: kept[i][1] }]));
    this.caches = new Map(cachedNodes.map((node, i) => [node, caches[i]]));
  }

  private disposeState(): void {
    for (const v of this.kept.values()) tf.dispose([v.tensor, ...(v.mask ? [v.mask] : [])]);
    for (const caches of this.caches.values()) tf.dispose(caches);
    this.kept.clear();
    this.caches.clear();
  }

  dispose(): void {
    this.disposeState();
    tf.dispose(this.setup.fixedInputs.filter((x): x is tf.Tensor => x != null));
  }
}

/** Throws unless every fixed input has `rows` rows. */
export function checkFixedRows(model: tf.LayersModel, fixedInputs: Array<tf.Tensor | null>, rows: number): void {
  fixedInputs.forEach((x, i) => {
    if (x != null && x.shape[0] !== rows) {
      throw new Error(
        `generate: input '${model.inputNames[i]}' has ${x.shape[0]} rows (shape ${describeValue(x.shape)}); ` +
          `expected one per prompt (${rows})`,
      );
    }
  });
}
