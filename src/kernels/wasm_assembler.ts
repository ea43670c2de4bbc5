/**
 * A minimal WebAssembly assembler: enough to write small SIMD kernels in TypeScript as expression
 * trees and get a module's bytes, with no toolchain at install or build time (the library ships no
 * binary). Each helper returns the code that leaves its value on the stack, operands first, so
 * `f32x4.add(get(acc), f32x4.mul(load(a), load(b)))` reads like the code it emits.
 *
 * Opcodes: WebAssembly Core Specification 2.0, section 5.4 (instructions), SIMD and bulk memory included, and the
 * relaxed SIMD proposal's (WebAssembly/relaxed-simd, Overview.md, "Binary format").
 */

export type Code = number[];
export type ValueType = 'i32' | 'f32' | 'v128';

const VALUE_TYPE: Record<ValueType, number> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };

function unsignedLeb(value: number): Code {
  const bytes: Code = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

function signedLeb(value: number): Code {
  const bytes: Code = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    const done = (value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0);
    bytes.push(done ? byte : byte | 0x80);
    if (done) return bytes;
  }
}

/** A name: its length in UTF-8 bytes (not UTF-16 units: 'é' is 2 bytes), then the bytes. */
const utf8 = (text: string): Code => {
  const bytes = new TextEncoder().encode(text);
  return [...unsignedLeb(bytes.length), ...bytes];
};
const vector = (items: Code[]): Code => [...unsignedLeb(items.length), ...items.flat()];
const section = (id: number, body: Code): Code => [id, ...unsignedLeb(body.length), ...body];
const simd = (opcode: number): Code => [0xfd, ...unsignedLeb(opcode)];
/** Memory access immediate: log2 of the alignment, then a constant byte offset. */
const memarg = (log2Align: number, offset = 0): Code => [...unsignedLeb(log2Align), ...unsignedLeb(offset)];

/** A local variable (parameters first, then declared locals), by index. */
export interface Local {
  index: number;
  type: ValueType;
}

export const get = (local: Local): Code => [0x20, ...unsignedLeb(local.index)];
/** global.get: the value of the module's global `index` (`VectorConstants`). */
export const getGlobal = (index: number): Code => [0x23, ...unsignedLeb(index)];
export const set = (local: Local, value: Code): Code => [...value, 0x21, ...unsignedLeb(local.index)];

export const i32 = {
  const: (value: number): Code => [0x41, ...signedLeb(value | 0)],
  add: (a: Code, b: Code): Code => [...a, ...b, 0x6a],
  mul: (a: Code, b: Code): Code => [...a, ...b, 0x6c],
  ltS: (a: Code, b: Code): Code => [...a, ...b, 0x48],
};

export const f32 = {
  const: (value: number): Code => [0x43, ...new Uint8Array(new Float32Array([value]).buffer)],
  add: (a: Code, b: Code): Code => [...a, ...b, 0x92],
  sub: (a: Code, b: Code): Code => [...a, ...b, 0x93],
  mul: (a: Code, b: Code): Code => [...a, ...b, 0x94],
  div: (a: Code, b: Code): Code => [...a, ...b, 0x95],
  max: (a: Code, b: Code): Code => [...a, ...b, 0x97],
  sqrt: (a: Code): Code => [...a, 0x91],
  load: (address: Code): Code => [...address, 0x2a, ...memarg(2)],
  store: (address: Code, value: Code): Code => [...address, ...value, 0x38, ...memarg(2)],
};

export const f32x4 = {
  splat: (value: Code): Code => [...value, ...simd(0x13)],
  extractLane: (vector: Code, lane: number): Code => [...vector, ...simd(0x1f), lane],
  add: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe4)],
  sub: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe5)],
  mul: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe6)],
  div: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe7)],
  abs: (a: Code): Code => [...a, ...simd(0xe0)],
  neg: (a: Code): Code => [...a, ...simd(0xe1)],
  sqrt: (a: Code): Code => [...a, ...simd(0xe3)],
  min: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe8)],
  max: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe9)],
  /** f32x4.pmin, b < a ? b : a lane-wise: one instruction on x64, where `min` takes eight (NaN, -0). */
  pmin: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xea)],
  /** f32x4.pmax, a < b ? b : a lane-wise: one instruction on x64, where `max` takes eight (NaN, -0). */
  pmax: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xeb)],
  nearest: (a: Code): Code => [...a, ...simd(0x6a)],
  /**
   * Relaxed SIMD's f32x4.relaxed_madd, a * b + c: fused (one rounding) where the engine uses the
   * CPU's fused multiply-add, else a multiply and an add; the same choice every time in one
   * engine on one CPU. Valid only where the engine has relaxed SIMD (`WebAssembly.validate`).
   */
  relaxedMadd: (a: Code, b: Code, c: Code): Code => [...a, ...b, ...c, ...simd(0x105)],
  /** The lanes `lanes` of a and b side by side (0-3 a's, 4-7 b's): i8x16.shuffle of their bytes. */
  shuffle: (a: Code, b: Code, lanes: [number, number, number, number]): Code => [
    ...a,
    ...b,
    ...simd(0x0d),
    ...lanes.flatMap((lane) => [4 * lane, 4 * lane + 1, 4 * lane + 2, 4 * lane + 3]),
  ],
  /** Lane-wise a < b: all ones where true, zeros where false (false where either is NaN). */
  lt: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x43)],
  /** Lane-wise a > b: all ones where true, zeros where false. */
  gt: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x44)],
  /** v128.load from `address + offset`; it need not be 16-byte aligned (alignment is only a hint). */
  load: (address: Code, offset = 0): Code => [...address, ...simd(0x00), ...memarg(2, offset)],
  /** v128.load32_splat: the float at `address + offset` in all four lanes. */
  loadSplat: (address: Code, offset = 0): Code => [...address, ...simd(0x09), ...memarg(2, offset)],
  store: (address: Code, value: Code, offset = 0): Code => [...address, ...value, ...simd(0x0b), ...memarg(2, offset)],
};

export const i32x4 = {
  splat: (value: Code): Code => [...value, ...simd(0x11)],
  add: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xae)],
  sub: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xb1)],
  /** Each lane shifted right by the i32 `bits`, copying the sign bit in. */
  shrS: (a: Code, bits: Code): Code => [...a, ...bits, ...simd(0xac)],
  /** Each lane shifted left by the i32 `bits`. */
  shl: (a: Code, bits: Code): Code => [...a, ...bits, ...simd(0xab)],
  /** f32 lanes to i32, rounding toward zero and saturating. */
  truncSatF32x4: (a: Code): Code => [...a, ...simd(0xf8)],
};

export const v128 = {
  and: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x4e)],
  /** a & ~b. */
  andnot: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x4f)],
  or: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x50)],
  xor: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x51)],
};

/**
 * Vector constants kept in the module's globals, one immutable v128 global each, read with
 * `global.get`. Written inline as `f32x4.splat(f32.const(c))`, V8 (11.3, Node 20) builds each
 * splat anew at every use inside a loop, three instructions (a move to a general register, one to
 * a vector register, a broadcast), where a global is one load: exact GELU has 22 such constants a
 * vector. The same value gets the same global.
 */
export class VectorConstants {
  /** Each global's 16 bytes, by index. */
  private readonly values: Uint8Array[] = [];
  private readonly indices = new Map<string, number>();

  /** The float `value` in all four lanes (rounded to float32). */
  f32(value: number): Code {
    return this.lanes(new Uint8Array(new Float32Array([value, value, value, value]).buffer));
  }

  /** The 32-bit integer `value` in all four lanes (a bit mask). */
  i32(value: number): Code {
    return this.lanes(new Uint8Array(new Int32Array([value, value, value, value]).buffer));
  }

  /** The global section's entries: v128, immutable, initialized by v128.const. */
  globals(): Code[] {
    return this.values.map((bytes) => [VALUE_TYPE.v128, 0x00, ...simd(0x0c), ...bytes, 0x0b]);
  }

  private lanes(bytes: Uint8Array): Code {
    const key = bytes.join(',');
    let index = this.indices.get(key);
    if (index === undefined) {
      index = this.values.push(bytes) - 1;
      this.indices.set(key, index);
    }
    return getGlobal(index);
  }
}

export const bulkMemory = {
  /** memory.copy (bulk memory): `bytes` bytes from `source` to `destination`, as memmove. */
  copy: (destination: Code, source: Code, bytes: Code): Code => [
    ...destination,
    ...source,
    ...bytes,
    0xfc,
    0x0a,
    0x00,
    0x00,
  ],
  /** memory.fill (bulk memory): `bytes` bytes from `address` set to the low byte of `value`. */
  fill: (address: Code, value: Code, bytes: Code): Code => [...address, ...value, ...bytes, 0xfc, 0x0b, 0x00],
};

/** `if (condition) then else otherwise`, both branches leaving nothing on the stack. */
export function ifElse(condition: Code, then: Code, otherwise: Code): Code {
  return [...condition, 0x04, 0x40, ...then, 0x05, ...otherwise, 0x0b];
}

/**
 * `for (counter = from; counter < to; counter += step) body`, as a block around a loop; the body
 * runs zero times when `from >= to`.
 */
export function forLoop(counter: Local, from: Code, to: Code, step: number, body: Code): Code {
  const exitUnlessBelow = [...i32.ltS(get(counter), to), 0x45 /* i32.eqz */, 0x0d, 1 /* br_if to the block's end */];
  return [
    ...set(counter, from),
    0x02,
    0x40, // block
    0x03,
    0x40, // loop
    ...exitUnlessBelow,
    ...body,
    ...set(counter, i32.add(get(counter), i32.const(step))),
    0x0c,
    0, // br to the loop's start
    0x0b,
    0x0b, // end loop, end block
  ];
}

export interface FunctionSpec {
  name: string;
  params: ValueType[];
  locals: ValueType[];
  body: Code;
}

/** A local for each type of T, by position. */
export type Locals<T extends ValueType[]> = { [I in keyof T]: Local };

/**
 * A function named `name` with the given parameter and local types; `body` receives them as
 * numbered locals (parameters first) and returns the code.
 */
export function defineFunction<P extends ValueType[], L extends ValueType[]>(
  name: string,
  params: [...P],
  locals: [...L],
  body: (params: Locals<P>, locals: Locals<L>) => Code,
): FunctionSpec {
  const all = [...params, ...locals].map((type, index) => ({ index, type }));
  return {
    name,
    params,
    locals,
    body: body(all.slice(0, params.length) as Locals<P>, all.slice(params.length) as Locals<L>),
  };
}

/**
 * A module that imports its memory as `env.memory` and exports `functions` by name, none of
 * which returns a value. With `sharedMaxPages`, the memory imported is a shared one of at most
 * that many 64 kB pages (a `WebAssembly.Memory` made with `shared: true` and that maximum), so
 * that instances in several threads can work on it at once. `constants` are its globals (the
 * functions' `global.get`s index them).
 */
export function assembleModule(
  functions: FunctionSpec[],
  sharedMaxPages?: number,
  constants?: VectorConstants,
): Uint8Array<ArrayBuffer> {
  const types = functions.map((fn) => [0x60, ...vector(fn.params.map((t) => [VALUE_TYPE[t]])), 0]);
  // Limits: 0x00 min (1 page), or 0x03 shared with min (1 page) and max (Core spec 5.3.7).
  const limits = sharedMaxPages === undefined ? [0x00, 0x01] : [0x03, 0x01, ...unsignedLeb(sharedMaxPages)];
  const memoryImport = [...utf8('env'), ...utf8('memory'), 0x02, ...limits];
  const exports = functions.map((fn, index) => [...utf8(fn.name), 0x00, ...unsignedLeb(index)]);
  const bodies = functions.map((fn) => {
    // Locals as (count, type) runs of one each: simple, and these functions have few.
    const body = [...vector(fn.locals.map((t) => [1, VALUE_TYPE[t]])), ...fn.body, 0x0b];
    return [...unsignedLeb(body.length), ...body];
  });
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, vector(types)),
    ...section(2, vector([memoryImport])),
    ...section(3, vector(functions.map((_, index) => unsignedLeb(index)))),
    ...(constants === undefined ? [] : section(6, vector(constants.globals()))),
    ...section(7, vector(exports)),
    ...section(10, vector(bodies)),
  ]);
}
