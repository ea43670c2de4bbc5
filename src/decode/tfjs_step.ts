/**
 * The cached decoder step in tfjs kernels (any backend; decode.ts uses it for batches above
 * TYPED_ARRAY_MAX_ROWS). Each step runs only the newest position through the decoder blocks: the
 * self-attention attends to the keys and values of the positions decoded so far, kept in a
 * cache, and the cross-attention to the encoder output's keys and values, projected once per
 * decode. The attention itself is `scaledDotProductAttention` (src/ops/attention.ts), the same as
 * in the full pass, and the residual structure is the block's own (`runSublayers`), so a step
 * equals the last row of the full pass over all positions so far (the cache holds exactly what
 * the causal mask lets that row see).
 */
import * as tf from '@tensorflow/tfjs';
import { projectJoined } from '../layers/attention_projection';
import type { AttentionInferenceWeights, MultiHeadAttention } from '../layers/multi_head_attention';
import type { TransformerDecoderBlock } from '../layers/transformer_decoder_block';
import { scaledDotProductAttention } from '../ops/attention';
import type { IncrementalDecoder } from './incremental';
import { logitsOf, type TransformerParts } from './transformer_parts';

/**
 * What cached decoding keeps for one block between steps, in the projections' (B, L, H*E) row
 * layout (no transposes). Owned by the DecoderState, which disposes it.
 */
interface BlockCache {
  /** Self-attention keys (B, t, H*K) and values (B, t, H*V) of the t positions so far; null before the first. */
  keys: tf.Tensor3D | null;
  values: tf.Tensor3D | null;
  /**
   * Cross-attention keys and values of the encoder output side by side, (B, S, H*K + H*V);
   * null without cross-attention.
   */
  memory: tf.Tensor3D | null;
  /** The encoder's padding mask (B, 1, S), 1 = real position; or null. */
  memoryMask: tf.Tensor3D | null;
  /** The attention weights fused once for the steps (the same for every step). */
  selfWeights: AttentionInferenceWeights;
  crossWeights: AttentionInferenceWeights | null;
}

/** `tf.tidy` for results that hold tensors in typed objects (tidy keeps every tensor it finds in them). */
function tidyKeep<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}

/** Every tensor a block cache holds, its inference weights included. */
function cacheTensors(cache: BlockCache): tf.Tensor[] {
  const { selfWeights, crossWeights, ...rest } = cache;
  return [...Object.values(rest), ...Object.values(selfWeights), ...Object.values(crossWeights ?? {})].filter(
    (t): t is tf.Tensor => t instanceof tf.Tensor,
  );
}

/** A block's cache before any position: the encoder's keys and values projected once. Call inside a tidy. */
function startCache(block: TransformerDecoderBlock, memory: tf.Tensor, mask: tf.Tensor): BlockCache {
  const cross = block.crossAttention;
  const [batch, length] = mask.shape;
  return {
    keys: null,
    values: null,
    memory: cross ? projectJoined(memory, [cross.keyDense!, cross.valueDense!]) : null,
    memoryMask: cross ? (mask.cast('float32').reshape([batch, 1, length]) as tf.Tensor3D) : null,
    selfWeights: block.selfAttention!.inferenceWeights(),
    crossWeights: cross ? cross.inferenceWeights() : null,
  };
}

/** x (B, 1, D) @ kernel + bias -> (B, 1, E). */
function projectStep(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor): tf.Tensor3D {
  const [batch, , width] = x.shape;
  const rows = tf.fused.matMul({ a: x.reshape([batch, width]) as tf.Tensor2D, b: kernel as tf.Tensor2D, bias });
  return rows.reshape([batch, 1, rows.shape[1] as number]) as tf.Tensor3D;
}

/** Context (B, 1, H, V) through the output projection -> (B, 1, Dout). */
function mergeStep(context: tf.Tensor, weights: AttentionInferenceWeights): tf.Tensor3D {
  const [batch, , heads, valueDim] = context.shape;
  return projectStep(context.reshape([batch, 1, heads * valueDim]), weights.outputKernel, weights.outputBias);
}

/** Causal self-attention of the newest position x (B, 1, D) over the cache and itself. */
function selfAttendStep(layer: MultiHeadAttention, cache: BlockCache, next: BlockCache, x: tf.Tensor): tf.Tensor3D {
  const { numHeads: H, keyDim: K, valueDim: V } = layer;
  const w = cache.selfWeights;
  if (w.queryKeyValueKernel == null || w.queryKeyValueBias == null) {
    throw new Error(`decode: self-attention '${layer.name}' has no joined query/key/value weights`);
  }
  // (B, 1, H*K + H*K + H*V): the scaled query, the key and the value of the new position.
  const projected = projectStep(x, w.queryKeyValueKernel, w.queryKeyValueBias);
  const [batch] = x.shape;
  const key = projected.slice([0, 0, H * K], [batch, 1, H * K]);
  const value = projected.slice([0, 0, 2 * H * K], [batch, 1, H * V]);
  // (B, t, H*E) + (B, 1, H*E) -> (B, t + 1, H*E)
  next.keys = cache.keys ? (tf.concat([cache.keys, key], 1) as tf.Tensor3D) : key;
  next.values = cache.values ? (tf.concat([cache.values, value], 1) as tf.Tensor3D) : value;
  const { context } = scaledDotProductAttention({
    sources: [projected, next.keys, next.values],
    query: { source: 0, offset: 0 },
    key: { source: 1, offset: 0 },
    value: { source: 2, offset: 0 },
    numHeads: H,
    keyDim: K,
    valueDim: V,
    mask: null, // the cache holds only positions <= t: causal by construction
    scale: 1, // inferenceWeights' query kernel is scaled by 1/sqrt(K)
  });
  return mergeStep(context, w);
}

/** Cross-attention of x (B, 1, D) over the encoder's projected keys and values. */
function crossAttendStep(layer: MultiHeadAttention, cache: BlockCache, x: tf.Tensor): tf.Tensor3D {
  const w = cache.crossWeights!;
  const query = projectStep(x, w.queryKernel, w.queryBias); // (B, 1, H*K), scaled
  const { context } = scaledDotProductAttention({
    sources: [query, cache.memory!],
    query: { source: 0, offset: 0 },
    key: { source: 1, offset: 0 },
    value: { source: 1, offset: layer.numHeads * layer.keyDim },
    numHeads: layer.numHeads,
    keyDim: layer.keyDim,
    valueDim: layer.valueDim,
    mask: cache.memoryMask,
    scale: 1,
  });
  return mergeStep(context, w);
}

/** Incremental decoder state for a batch of B rows, stepping with tfjs kernels. */
export class DecoderState implements IncrementalDecoder {
  private caches: BlockCache[];
  position = 0;

  /** `memory` (B, S, D) and `mask` (B, S) are the encoder's output and the source padding mask (1 = real). */
  constructor(
    private readonly parts: TransformerParts,
    memory: tf.Tensor,
    mask: tf.Tensor,
  ) {
    this.caches = tidyKeep(() => parts.decoderBlocks.map((block) => startCache(block, memory, mask)));
  }

  step(tokens: Int32Array): Float32Array {
    if (this.position >= this.parts.maxTargetLength) {
      throw new Error(
        `decode: position ${this.position} is past the model's maxTargetLength ${this.parts.maxTargetLength}`,
      );
    }
    const [logProbs, caches] = tidyKeep(() => {
      const ids = tf.tensor2d(tokens, [tokens.length, 1], 'int32');
      let x: tf.Tensor = this.parts.targetEmbedding.embed(ids, this.position);
      const next = this.parts.decoderBlocks.map((block, i) => {
        const cache = this.caches[i];
        const updated: BlockCache = { ...cache };
        x = block.runSublayers(
          x,
          (q) => selfAttendStep(block.selfAttention!, cache, updated, q),
          block.crossAttention ? (q) => crossAttendStep(block.crossAttention!, cache, q) : null,
          false,
        );
        return updated;
      });
      const logits = logitsOf(this.parts, x).squeeze([1]);
      return [tf.logSoftmax(logits) as tf.Tensor2D, next] as const;
    });
    this.replace(caches);
    this.position++;
    const data = logProbs.dataSync() as Float32Array;
    logProbs.dispose();
    return data;
  }

  reorder(rows: Int32Array): void {
    const caches = tidyKeep(() => {
      const index = tf.tensor1d(rows, 'int32');
      const pick = <T extends tf.Tensor>(t: T | null) => (t ? (tf.gather(t, index) as T) : null);
      return this.caches.map((c) => ({
        ...c,
        keys: pick(c.keys),
        values: pick(c.values),
        memory: pick(c.memory),
        memoryMask: pick(c.memoryMask),
      }));
    });
    this.replace(caches);
  }

  private replace(caches: BlockCache[]): void {
    const keep = new Set(caches.flatMap(cacheTensors));
    tf.dispose(this.caches.flatMap(cacheTensors).filter((t) => !keep.has(t)));
    this.caches = caches;
  }

  dispose(): void {
    tf.dispose(this.caches.flatMap(cacheTensors));
    this.caches = [];
  }
}
