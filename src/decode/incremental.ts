/** What the two cached decoders (tfjs_step.ts, typed_array_step.ts) offer the searches in decode.ts. */

/** Incremental decoding of B rows: each step runs only the newest position through the decoder. */
export interface IncrementalDecoder {
  /** Feeds tokens (B) at the next position; returns log-probabilities (B x V, row-major). */
  step(tokens: Int32Array): Float32Array;
  /** Keeps rows `rows` (a beam search's survivors), in that order. */
  reorder(rows: Int32Array): void;
  dispose(): void;
}

/** Which implementation runs the cached decoder step. */
export type DecoderStep = 'auto' | 'tfjs' | 'typed-arrays';
