/**
 * Training checkpoints: everything a resumed run needs, in ONE file, so that
 * a single atomic rename commits it (../io/atomic.ts). A crash, Ctrl-C or
 * SIGKILL at any moment leaves either the previous checkpoint or the new one,
 * never a mix of weights from one step and optimizer moments from another.
 *
 * Layout of `checkpoint.bin` (little-endian):
 *
 *     8 bytes   magic "TFACKPT1"
 *     4 bytes   uint32 n: length of the JSON header
 *     n bytes   UTF-8 JSON header {format, version, step, weights: [{name, shape}],
 *               firstMoments: [...], secondMoments: [...], extra}
 *     padding   zeros up to a multiple of 4 bytes
 *     float32   every weight, then every first moment, then every second
 *               moment, in header order
 *
 * `extra` is any JSON the caller wants restored with the state (the training
 * stream's RNG state, the options, the log).
 */
import { atomicWriteFile, nodeFs } from '../io/atomic';
import type { TrainerState } from './trainer';

export const CHECKPOINT_FILE = 'checkpoint.bin';
const MAGIC = 'TFACKPT1';
const FORMAT = 'tfjs-attention-checkpoint';
const VERSION = 1;

interface TensorEntry {
  name: string;
  shape: number[];
}

interface Header {
  format: typeof FORMAT;
  version: typeof VERSION;
  step: number;
  weights: TensorEntry[];
  firstMoments: TensorEntry[];
  secondMoments: TensorEntry[];
  extra: unknown;
}

/** A trainer state plus the caller's JSON `extra`. */
export interface Checkpoint<Extra = unknown> {
  state: TrainerState;
  /** Names and shapes of the weights, in state order (for error messages and checks). */
  weightSpecs: TensorEntry[];
  extra: Extra;
}

/** Serialises a checkpoint; `weightSpecs` names the state's weights (model.weights order). */
export function encodeCheckpoint(checkpoint: Checkpoint): Uint8Array {
  const { state, weightSpecs, extra } = checkpoint;
  if (weightSpecs.length !== state.weights.length) {
    throw new Error(`encodeCheckpoint: ${weightSpecs.length} weight specs for ${state.weights.length} weights`);
  }
  const momentSpecs = (suffix: string) =>
    state.firstMoments.map((_m, i) => ({ name: `moment${i}/${suffix}`, shape: [state.firstMoments[i].length] }));
  const header: Header = {
    format: FORMAT,
    version: VERSION,
    step: state.step,
    weights: weightSpecs,
    firstMoments: momentSpecs('m'),
    secondMoments: momentSpecs('v'),
    extra,
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const dataStart = align4(MAGIC.length + 4 + headerBytes.length);
  const arrays = [...state.weights, ...state.firstMoments, ...state.secondMoments];
  const floats = arrays.reduce((sum, a) => sum + a.length, 0);
  const bytes = new Uint8Array(dataStart + 4 * floats);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(bytes.buffer).setUint32(MAGIC.length, headerBytes.length, true);
  bytes.set(headerBytes, MAGIC.length + 4);
  const data = new Float32Array(bytes.buffer, dataStart, floats);
  let offset = 0;
  for (const a of arrays) {
    data.set(a, offset);
    offset += a.length;
  }
  return bytes;
}

/** Parses `encodeCheckpoint`'s bytes; `source` names the file in errors. */
export function decodeCheckpoint<Extra = unknown>(bytes: Uint8Array, source: string): Checkpoint<Extra> {
  const bad = (what: string) => new Error(`${source} is not a usable training checkpoint: ${what}`);
  if (bytes.length < MAGIC.length + 4 || new TextDecoder().decode(bytes.subarray(0, MAGIC.length)) !== MAGIC) {
    throw bad(`it does not start with "${MAGIC}"`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(MAGIC.length, true);
  if (MAGIC.length + 4 + headerLength > bytes.length)
    throw bad(`the header needs ${headerLength} bytes, the file is too short`);
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(MAGIC.length + 4, MAGIC.length + 4 + headerLength)));
  } catch (error) {
    throw bad(`its header is not JSON (${(error as Error).message})`);
  }
  if (header.format !== FORMAT || header.version !== VERSION) {
    throw bad(
      `format ${JSON.stringify(header.format)} version ${header.version}; expected ${FORMAT} version ${VERSION}`,
    );
  }
  const dataStart = align4(MAGIC.length + 4 + headerLength);
  const entries = [...header.weights, ...header.firstMoments, ...header.secondMoments];
  const sizes = entries.map((e) => e.shape.reduce((p, d) => p * d, 1));
  const floats = sizes.reduce((sum, n) => sum + n, 0);
  if (bytes.length !== dataStart + 4 * floats) {
    throw bad(`${bytes.length} bytes, but its header lists ${floats} float32 values (${dataStart + 4 * floats} bytes)`);
  }
  // Copy into a fresh, aligned buffer: `bytes` may be a view at any offset of a larger
  // buffer, and a Node Buffer's slice() is a view too, so copy explicitly.
  const body = new Uint8Array(bytes.length - dataStart);
  body.set(bytes.subarray(dataStart));
  const data = new Float32Array(body.buffer);
  const arrays: Float32Array[] = [];
  let offset = 0;
  for (const size of sizes) {
    arrays.push(data.slice(offset, offset + size));
    offset += size;
  }
  const w = header.weights.length;
  const m = header.firstMoments.length;
  return {
    state: {
      step: header.step,
      weights: arrays.slice(0, w),
      firstMoments: arrays.slice(w, w + m),
      secondMoments: arrays.slice(w + m),
    },
    weightSpecs: header.weights,
    extra: header.extra as Extra,
  };
}

/** Writes `file` atomically: it holds the old checkpoint or the new one, whole. Node only. */
export async function writeCheckpoint(file: string, checkpoint: Checkpoint): Promise<void> {
  await atomicWriteFile(file, encodeCheckpoint(checkpoint));
}

/** Reads a checkpoint written by `writeCheckpoint`. Node only. */
export async function readCheckpoint<Extra = unknown>(file: string): Promise<Checkpoint<Extra>> {
  let bytes: Uint8Array;
  try {
    bytes = await nodeFs().promises.readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`no training checkpoint at ${file}; train without --resume first (it writes one)`);
    }
    throw error;
  }
  return decodeCheckpoint<Extra>(bytes, file);
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}
