/**
 * The padding masks of a Keras graph, made explicit: the loader works out which mask each layer
 * receives when Keras runs the model, writes each as tensors of the graph (`ids != 0`, and their
 * ANDs and ORs, as Keras operations), and passes it to the layer that uses it as a call argument
 * (`query_mask`, `value_mask`, `key_mask`, `mask`, keras-hub's `padding_mask`s). The embeddings
 * then make no tfjs mask (`mask_zero` false), so tfjs propagates none, and what Keras computes does
 * not depend on how tfjs 4.22 hands masks around: its model executor gives a layer only its first
 * input's mask and leaves an earlier layer's mask in the shared call arguments (TFJS_NOTES), and its
 * merge layers compute another mask than Keras's.
 *
 * How Keras passes masks changed between releases; `maskSemantics` says what the version that
 * wrote a file does (the file's `keras_version`), and this module follows it:
 * - a tensor carries its mask as an attribute, set by the layer that made it
 *   (keras/src/layers/layer.py `_set_mask_metadata`: `compute_mask(first_arg, previous_mask)`, the
 *   first input's mask for a layer that `supports_masking`, none for one that does not);
 * - a layer whose `call` takes `mask` or `<argument>_mask` gets its tensors' masks there unless the
 *   call passes one (layer.py `__call__`, step 6); Keras 3.15 writes some of those into the graph
 *   (GlobalAveragePooling1D's `mask`), which then win;
 * - merge layers (keras/src/layers/merging/base_merge.py `compute_mask`): Keras 2 ANDs the masks
 *   there are; Keras 3.4+ gives none if an input has none, else ORs them; Keras 3.0-3.3 passed a
 *   merge layer no masks (layer.py read the mask of the list itself), so its output has none;
 * - MultiHeadAttention (keras/src/layers/attention/multi_head_attention.py `call`): Keras 3.8+
 *   reads the query's mask from the query itself (ignoring a `query_mask` argument) and clears the
 *   masks of its query, value and key tensors (`backend.set_keras_mask(query, None)`), so a layer
 *   that Keras runs after it on the same tensor sees none (`x + mha(x, x)` carries none); which
 *   layers run after it follows Keras's run order (keras/src/ops/function.py `map_graph`:
 *   decreasing depth, then the order the depths were found in), computed by `kerasRunOrder`.
 *   keras-hub's TransformerEncoder calls that attention on its input (post-LN), so it clears its
 *   input's mask too; keras-hub's TransformerDecoder uses CachedMultiHeadAttention, which reads no
 *   implicit mask and clears none.
 *
 * A model with a layer whose mask handling is not known here (a user's class, the keras.io
 * examples' classes that read masks, a Concatenate of masked inputs along another axis than the
 * last) keeps tfjs's own mask propagation, as before.
 */
import { type KerasGraph, type LayerJson, type NodeCall, TensorRef } from './graph';

/** What the Keras version that wrote a file does with masks. */
export interface MaskSemantics {
  /** Keras 3 (else Keras 2: tf.keras, tf-keras). */
  keras3: boolean;
  /**
   * A merge layer's output mask: the 'and' of the masks there are (Keras 2), their 'or' unless one
   * is missing (Keras 3.4+), or 'none' (Keras 3.0-3.3).
   */
  merge: 'and' | 'or' | 'none';
  /** Keras 3.8+: MultiHeadAttention clears its inputs' masks and reads the query's from the query itself. */
  attentionClearsMasks: boolean;
  /**
   * Keras 3.10+: MultiHeadAttention with dropout or returning its scores gives a query whose keys
   * are all masked zero attention (its masked Softmax); before, and on its fused path, uniform.
   */
  zeroFullyMaskedQueries: boolean;
}

/**
 * The mask behaviours of the Keras that wrote a file: `version` its `keras_version` ('3.15.1',
 * '2.15.0'), `keras3` whether its config is in Keras 3's node format. Without a version a Keras 3
 * config is taken as written by the newest Keras 3, a Keras 2 one by Keras 2.
 */
export function maskSemantics(version: string | null | undefined, keras3: boolean): MaskSemantics {
  const match = typeof version === 'string' ? /^(\d+)\.(\d+)/.exec(version) : null;
  const [major, minor] = match != null ? [Number(match[1]), Number(match[2])] : keras3 ? [3, Infinity] : [2, 0];
  const atLeast = (m: number) => major > 3 || (major === 3 && minor >= m);
  return {
    keras3: major >= 3,
    merge: major < 3 ? 'and' : atLeast(4) ? 'or' : 'none',
    attentionClearsMasks: atLeast(8),
    zeroFullyMaskedQueries: atLeast(10),
  };
}

/** One call of a layer: `node` indexes `layer.nodes` (an InputLayer has one call and no nodes). */
export interface LayerCall {
  layer: LayerJson;
  node: number;
}

/**
 * How each class of layer treats masks, by what `classOf` gives it: 'operation' (Keras 3
 * operations, Keras 2 TFOpLambdas: no mask), 'stock:<Keras class>' for the stock layers, else the
 * tfjs class name it loads as.
 */
type MaskRule =
  | 'input'
  | 'passes'
  | 'passes in Keras 3'
  | 'drops'
  | 'embedding'
  | 'merge'
  | 'concatenate'
  | 'attention'
  | 'reads mask'
  | 'hub encoder'
  | 'hub decoder'
  | 'unmasked only'
  | 'implicit';

const RULES: Record<string, MaskRule> = {
  operation: 'drops',
  'stock:InputLayer': 'input',
  'stock:Embedding': 'embedding',
  // supports_masking without a compute_mask of their own: the first input's mask goes on.
  'stock:Dense': 'passes',
  'stock:LayerNormalization': 'passes',
  'stock:Dropout': 'passes',
  'stock:Activation': 'passes',
  'stock:ReLU': 'passes',
  'stock:LeakyReLU': 'passes',
  'stock:BatchNormalization': 'passes',
  // Keras 3's supports masking; Keras 2's (a PreprocessingLayer) does not.
  'stock:Normalization': 'passes in Keras 3',
  // Neither uses a mask nor passes one on.
  'stock:Conv1D': 'drops',
  'stock:Conv2D': 'drops',
  'stock:GlobalMaxPooling1D': 'drops',
  'stock:GlobalAveragePooling2D': 'drops',
  'stock:Flatten': 'drops',
  'stock:Reshape': 'drops',
  'stock:Permute': 'drops',
  'stock:Cropping1D': 'drops',
  // Their call takes `mask`; GlobalAveragePooling1D's output has none, Softmax passes it on.
  'stock:GlobalAveragePooling1D': 'reads mask',
  'stock:Softmax': 'reads mask',
  'stock:Add': 'merge',
  'stock:Subtract': 'merge',
  'stock:Multiply': 'merge',
  'stock:Average': 'merge',
  'stock:Maximum': 'merge',
  'stock:Minimum': 'merge',
  'stock:Concatenate': 'concatenate',
  MultiHeadAttention: 'attention',
  'keras_hub>TokenAndPositionEmbedding': 'embedding',
  'keras_hub>PositionEmbedding': 'drops',
  'keras_hub>SinePositionEncoding': 'drops',
  'keras_hub>TransformerEncoder': 'hub encoder',
  'keras_hub>TransformerDecoder': 'hub decoder',
  // keras.io examples: the ones that read their input's mask only implicitly load with tfjs's masks.
  KerasIoTokenAndPositionEmbedding: 'drops',
  KerasIoTransformerBlock: 'unmasked only',
  KerasIoTransformerEncoder: 'unmasked only',
  // Makes a mask whatever its arguments (the example's compute_mask).
  KerasIoPositionalEmbedding: 'implicit',
};

/** Thrown inside `explicitMasks` where a mask reaches a layer it cannot make explicit. */
class KeepImplicitMasks extends Error {}

/**
 * `graph` (checked: no cycle, every reference resolves) with its masks made explicit as the file
 * comment says, or, where that is not possible, with only the attention arguments that follow
 * from the version set (`query_mask` dropped where Keras ignores it, `fully_masked_queries`).
 * `classOf` names each layer's class (see `MaskRule`). The graph given is not changed.
 */
export function explicitMasks(
  graph: KerasGraph,
  semantics: MaskSemantics,
  classOf: (layer: LayerJson) => string,
): KerasGraph {
  const implicit = copyGraph(graph);
  attentionArguments(implicit, semantics, classOf);
  try {
    return new MaskWriter(copyGraph(implicit), semantics, classOf).run();
  } catch (error) {
    if (error instanceof KeepImplicitMasks) return implicit;
    throw error;
  }
}

/** A copy whose layers' configs and calls may be changed. */
function copyGraph(graph: KerasGraph): KerasGraph {
  const copyNode = (node: NodeCall): NodeCall => ({ args: [...node.args], kwargs: { ...node.kwargs } });
  return {
    ...graph,
    layers: graph.layers.map((l) => ({ ...l, config: { ...l.config }, nodes: l.nodes.map(copyNode) })),
  };
}

/**
 * The attention arguments that follow from the version alone: Keras 3.8+ ignores a `query_mask`
 * argument (it reads the query's own mask), and Keras 3.10+ gives a fully masked query zero
 * attention when the layer has dropout or returns its scores (keras-hub's transformer layers: when
 * they have dropout, which they pass to their attention).
 */
function attentionArguments(graph: KerasGraph, semantics: MaskSemantics, classOf: (l: LayerJson) => string): void {
  for (const layer of graph.layers) {
    const rule = RULES[classOf(layer)];
    if (rule !== 'attention' && rule !== 'hub encoder' && rule !== 'hub decoder') continue;
    if (rule === 'attention' && semantics.attentionClearsMasks) {
      for (const node of layer.nodes) delete node.kwargs.query_mask;
    }
    const dropout = Number(layer.config.dropout ?? 0);
    const scores = rule === 'attention' && layer.nodes.some((n) => n.kwargs.return_attention_scores === true);
    if (semantics.zeroFullyMaskedQueries && (dropout > 0 || scores)) layer.config.fully_masked_queries = 'zero';
  }
}

const keyOf = (ref: TensorRef) => `${ref.layer}/${ref.node}/${ref.tensor}`;

/** Walks the calls in Keras's run order, keeping each tensor's mask as Keras would at that point. */
class MaskWriter {
  /** The mask each tensor carries now (a bool tensor of the graph), by `keyOf`; absent = none. */
  private readonly masks = new Map<string, TensorRef>();
  /** The mask operations written, by what they compute (each written once). */
  private readonly written = new Map<string, TensorRef>();
  private readonly names: Set<string>;
  /** New layers to insert before the layer of this name. */
  private readonly inserts = new Map<string, LayerJson[]>();
  private current = '';

  constructor(
    private readonly graph: KerasGraph,
    private readonly semantics: MaskSemantics,
    private readonly classOf: (layer: LayerJson) => string,
  ) {
    this.names = new Set(graph.layers.map((l) => l.name));
  }

  run(): KerasGraph {
    for (const { layer, node } of kerasRunOrder(this.graph)) {
      const rule = RULES[this.classOf(layer)];
      // A class whose mask handling is not known here may read or make masks of its own.
      if (rule == null || rule === 'implicit') throw new KeepImplicitMasks();
      this.current = layer.name;
      this.call(rule, layer, layer.nodes[node], node);
    }
    // The mask operations some layer reads (a mask no layer uses would be a layer without outputs).
    const written = new Map([...this.inserts.values()].flat().map((l) => [l.name, l]));
    const used = new Set<string>();
    const use = (ref: TensorRef) => {
      const op = written.get(ref.layer);
      if (op == null || used.has(op.name)) return;
      used.add(op.name);
      refsIn(op.nodes[0]).forEach(use);
    };
    this.graph.layers.forEach((l) => l.nodes.forEach((n) => refsIn(n).forEach(use)));
    const layers = this.graph.layers.flatMap((l) => [
      ...(this.inserts.get(l.name) ?? []).filter((op) => used.has(op.name)),
      l,
    ]);
    return { ...this.graph, layers };
  }

  private maskOf(ref: unknown): TensorRef | null {
    return ref instanceof TensorRef ? (this.masks.get(keyOf(ref)) ?? null) : null;
  }

  private setMask(layer: LayerJson, node: number, tensor: number, mask: TensorRef | null): void {
    const ref = keyOf(new TensorRef(layer.name, node, tensor));
    if (mask == null) this.masks.delete(ref);
    else this.masks.set(ref, mask);
  }

  private clear(ref: unknown): void {
    if (ref instanceof TensorRef) this.masks.delete(keyOf(ref));
  }

  private call(rule: MaskRule, layer: LayerJson, node: NodeCall | undefined, index: number): void {
    if (rule === 'input' || rule === 'implicit' || node == null) return;
    const first = node.args[0];
    switch (rule) {
      case 'passes':
        return this.setMask(layer, index, 0, this.maskOf(first));
      case 'passes in Keras 3':
        return this.setMask(layer, index, 0, this.semantics.keras3 ? this.maskOf(first) : null);
      case 'drops':
        return;
      case 'unmasked only':
        if (refsIn(node).some((r) => this.maskOf(r) != null)) throw new KeepImplicitMasks();
        return;
      case 'embedding':
        if (layer.config.mask_zero !== true) return;
        // The embedding makes no tfjs mask; its mask is `ids != 0`, written once per ids tensor.
        layer.config.mask_zero = false;
        if (!(first instanceof TensorRef)) throw new KeepImplicitMasks();
        return this.setMask(layer, index, 0, this.notZero(first));
      case 'merge':
        return this.setMask(layer, index, 0, this.merged(listOf(node)));
      case 'concatenate': {
        const masks = listOf(node).map((r) => this.maskOf(r));
        if (masks.every((m) => m == null)) return;
        // Along the features (the last axis) a Concatenate merges the masks as the merge layers do.
        if ((layer.config.axis ?? -1) !== -1) throw new KeepImplicitMasks();
        return this.setMask(layer, index, 0, this.merged(listOf(node)));
      }
      case 'reads mask': {
        const mask = node.kwargs.mask instanceof TensorRef ? node.kwargs.mask : this.maskOf(first);
        if (mask != null) node.kwargs.mask = mask;
        if (layer.class_name === 'Softmax') this.setMask(layer, index, 0, mask);
        return;
      }
      case 'attention':
        return this.attention(layer, node, index);
      case 'hub encoder':
        return this.hubEncoder(layer, node, index);
      case 'hub decoder':
        return this.hubDecoder(layer, node, index);
    }
  }

  /**
   * MultiHeadAttention: the query's, value's and key's masks as its `query_mask`, `value_mask` and
   * `key_mask` (a mask the call passes wins, except the query's in Keras 3.8+); the output keeps the
   * query's; Keras 3.8+ then clears the three tensors' masks.
   */
  private attention(layer: LayerJson, node: NodeCall, index: number): void {
    const arg = (name: string, position: number) => node.args[position] ?? node.kwargs[name];
    const [query, value, key] = [arg('query', 0), arg('value', 1), arg('key', 2)];
    const given = (name: string) => (node.kwargs[name] instanceof TensorRef ? (node.kwargs[name] as TensorRef) : null);
    if (node.args.length > 3) throw new KeepImplicitMasks();
    const queryMask = given('query_mask') ?? this.maskOf(query);
    const valueMask = given('value_mask') ?? this.maskOf(value);
    const keyMask = given('key_mask') ?? (key != null ? this.maskOf(key) : null);
    // The same mask as the value's masks the same keys again: one input is enough.
    const sameAsValue = keyMask != null && valueMask != null && keyOf(keyMask) === keyOf(valueMask);
    const set = (name: string, mask: TensorRef | null) => {
      if (mask != null) node.kwargs[name] = mask;
      else delete node.kwargs[name];
    };
    set('query_mask', queryMask);
    set('value_mask', valueMask);
    set('key_mask', sameAsValue ? null : keyMask);
    const outputMask = this.maskOf(query);
    if (this.semantics.attentionClearsMasks) [query, value, key].forEach((r) => this.clear(r));
    this.setMask(layer, index, 0, outputMask);
  }

  /**
   * keras-hub's TransformerEncoder: keras-hub merges the padding mask (`padding_mask`, else the
   * input's) with `attention_mask`, and its MultiHeadAttention adds the input's own mask on the
   * queries and values. As call arguments: `padding_mask` as given, `attention_mask` ANDed with
   * the input's mask as rows and columns (B, T, T). The output keeps the input's mask; Keras 3.8+
   * clears the input's (post-LN: the attention's query is the input itself).
   */
  private hubEncoder(layer: LayerJson, node: NodeCall, index: number): void {
    if (node.args.length > 1) throw new KeepImplicitMasks();
    const inputs = node.args[0] ?? node.kwargs.inputs;
    const own = this.maskOf(inputs);
    if (own != null) {
      const pair = this.and(this.slice(own, 'rows'), this.slice(own, 'columns'));
      const attention = node.kwargs.attention_mask;
      node.kwargs.attention_mask = attention instanceof TensorRef ? this.and(attention, pair) : pair;
    }
    if (this.semantics.attentionClearsMasks && layer.config.normalize_first !== true) this.clear(inputs);
    this.setMask(layer, index, 0, own);
  }

  /**
   * keras-hub's TransformerDecoder: its attentions (CachedMultiHeadAttention) apply only the masks
   * keras-hub merges, the padding masks given, else the sequences' own: as `decoder_padding_mask`
   * and `encoder_padding_mask`. The output keeps the decoder sequence's mask.
   */
  private hubDecoder(layer: LayerJson, node: NodeCall, index: number): void {
    if (node.args.length > 2) throw new KeepImplicitMasks();
    const decoder = node.args[0] ?? node.kwargs.decoder_sequence;
    const encoder = node.args[1] ?? node.kwargs.encoder_sequence;
    const padding = (name: string, sequence: unknown) => {
      if (node.kwargs[name] instanceof TensorRef) return;
      const own = this.maskOf(sequence);
      if (own != null) node.kwargs[name] = own;
    };
    padding('decoder_padding_mask', decoder);
    if (encoder != null) padding('encoder_padding_mask', encoder);
    this.setMask(layer, index, 0, this.maskOf(decoder));
  }

  /** The mask of a merge of `inputs` (see `MaskSemantics.merge`). */
  private merged(inputs: unknown[]): TensorRef | null {
    const masks = inputs.map((r) => this.maskOf(r));
    if (this.semantics.merge === 'none') return null;
    if (this.semantics.merge === 'or' && masks.some((m) => m == null)) return null;
    const present = unique(masks.filter((m): m is TensorRef => m != null));
    if (present.length === 0) return null;
    const combine = this.semantics.merge === 'or' ? 'LogicalOr' : 'LogicalAnd';
    const suffix = combine === 'LogicalOr' ? 'or' : 'and';
    return present.slice(1).reduce((a, b) => this.operation(combine, [a, b], `${a.layer}_${suffix}`), present[0]);
  }

  private and(a: TensorRef, b: TensorRef): TensorRef {
    return this.operation('LogicalAnd', [a, b], `${a.layer}_and`);
  }

  /** `ids != 0`, (B, L). */
  private notZero(ids: TensorRef): TensorRef {
    return this.operation('NotEqual', [ids, 0], `${ids.layer}_padding_mask`);
  }

  /** A (B, L) mask as rows (B, L, 1) or columns (B, 1, L). */
  private slice(mask: TensorRef, as: 'rows' | 'columns'): TensorRef {
    const all = { class_name: '__slice__', config: { start: null, stop: null, step: null } };
    const index = as === 'rows' ? [all, all, null] : [all, null, all];
    return this.operation('GetItem', [mask, index], `${mask.layer}_${as}`);
  }

  /** A Keras 3 operation on `args`, written once, before the layer being converted. */
  private operation(className: string, args: unknown[], name: string): TensorRef {
    const id = `${className} ${JSON.stringify(args)}`;
    const existing = this.written.get(id);
    if (existing != null) return existing;
    let unique = name;
    for (let i = 1; this.names.has(unique); i++) unique = `${name}_${i}`;
    this.names.add(unique);
    const layer: LayerJson = {
      class_name: className,
      name: unique,
      module: 'keras.src.ops.numpy',
      config: { name: unique },
      nodes: [{ args, kwargs: {} }],
      keras3: true,
    };
    if (!this.inserts.has(this.current)) this.inserts.set(this.current, []);
    this.inserts.get(this.current)!.push(layer);
    const ref = new TensorRef(unique, 0, 0);
    this.written.set(id, ref);
    return ref;
  }
}

/** A merge layer's inputs: its one list argument (or its arguments). */
function listOf(node: NodeCall): unknown[] {
  return node.args.length === 1 && Array.isArray(node.args[0]) ? node.args[0] : node.args;
}

function unique(refs: TensorRef[]): TensorRef[] {
  const seen = new Set<string>();
  return refs.filter((r) => !seen.has(keyOf(r)) && seen.add(keyOf(r)) != null);
}

/**
 * Every tensor a call reads, in the order Keras's `Node.arguments.keras_tensors` lists them
 * (`tree.flatten((args, kwargs))`: positional ones first, then keyword ones by sorted name).
 */
export function refsIn(node: NodeCall): TensorRef[] {
  const out: TensorRef[] = [];
  const walk = (value: unknown): void => {
    if (value instanceof TensorRef) out.push(value);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value != null && typeof value === 'object') {
      const object = value as Record<string, unknown>;
      Object.keys(object)
        .sort()
        .forEach((k) => walk(object[k]));
    }
  };
  walk(node.args);
  walk(node.kwargs);
  return out;
}

/**
 * The calls of a checked graph (no cycle, every reference resolves) in the order Keras 3 runs
 * them (keras/src/ops/function.py): `_build_map` lists the calls depth-first from the outputs
 * (inputs before the call that reads them); `map_graph` gives each call a depth, the longest path
 * from it to an output (a shared layer's calls at least the depth of its calls found before), in
 * a dict whose order is the order the calls were first given one; `_run_through_graph` runs the
 * depths from the deepest, each in that order.
 */
export function kerasRunOrder(graph: KerasGraph): LayerCall[] {
  const byName = new Map(graph.layers.map((l) => [l.name, l]));
  const callKey = (layer: string, node: number) => `${node} ${layer}`;
  const calls = new Map<string, LayerCall>();
  const parents = new Map<string, string[]>();
  const callOf = (ref: TensorRef): string => {
    const k = callKey(ref.layer, ref.node);
    if (!calls.has(k)) calls.set(k, { layer: byName.get(ref.layer)!, node: ref.node });
    return k;
  };
  // The calls whose outputs a call reads, found as the walk reaches it (no recursion: a long chain).
  const parentsOf = (k: string): string[] => {
    let found = parents.get(k);
    if (found == null) {
      const { layer, node } = calls.get(k)!;
      const call = layer.class_name === 'InputLayer' ? undefined : layer.nodes[node];
      found = call == null ? [] : refsIn(call).map(callOf);
      parents.set(k, found);
    }
    return found;
  };
  // 1. `_build_map`: depth-first from each output, a call listed after the calls it reads.
  const ordered: string[] = [];
  const finished = new Set<string>();
  for (const output of graph.outputs) {
    const start = callOf(output);
    if (finished.has(start)) continue;
    const stack: { call: string; next: number }[] = [{ call: start, next: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const inputs = parentsOf(top.call);
      if (top.next < inputs.length) {
        const input = inputs[top.next++];
        if (!finished.has(input)) stack.push({ call: input, next: 0 });
        continue;
      }
      stack.pop();
      if (finished.has(top.call)) continue;
      finished.add(top.call);
      ordered.push(top.call);
    }
  }
  // 2. `map_graph`: depths, from the outputs back (Map keeps Python's dict insertion order).
  const depths = new Map<string, number>();
  const layerDepths = new Map<string, number>();
  for (const call of [...ordered].reverse()) {
    if (!depths.has(call)) depths.set(call, 0);
    const layer = calls.get(call)!.layer.name;
    const depth = Math.max(depths.get(call)!, layerDepths.get(layer) ?? 0);
    layerDepths.set(layer, depth);
    depths.set(call, depth);
    for (const parent of parents.get(call)!) depths.set(parent, Math.max(depth + 1, depths.get(parent) ?? 0));
  }
  // 3. `_run_through_graph`: deepest first, each depth in insertion order.
  const byDepth = new Map<number, string[]>();
  for (const [call, depth] of depths) {
    if (!byDepth.has(depth)) byDepth.set(depth, []);
    byDepth.get(depth)!.push(call);
  }
  return [...byDepth.keys()]
    .sort((a, b) => b - a)
    .flatMap((d) => byDepth.get(d)!)
    .map((k) => calls.get(k)!);
}
