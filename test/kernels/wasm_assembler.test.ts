/**
 * The WebAssembly assembler (src/kernels/wasm_assembler.ts) byte for byte against the WebAssembly
 * Core Specification 2.0 (section 5: binary format), SIMD and bulk memory included, and the relaxed
 * SIMD proposal; then the engine as a second judge: modules it assembles validate and compute what
 * the code says. No tfjs: the file runs in well under a second.
 *
 * Opcodes, from the specification's section 5.4 (a SIMD opcode is 0xFD then its number as an
 * unsigned LEB128, so numbers from 128 take two bytes: 0xE4 is 0xE4 0x01).
 */
import {
  assembleModule,
  bulkMemory,
  defineFunction,
  f32,
  f32x4,
  forLoop,
  get,
  i32,
  i32x4,
  ifElse,
  set,
  v128,
  type Code,
  getGlobal,
  type Local,
  VectorConstants,
} from '../../src/kernels/wasm_assembler';

/** Marker operands: each stands for the code of one operand, so the order of operands shows. */
const A: Code = [0xa1];
const B: Code = [0xb1];
const C: Code = [0xc1];

/** The SIMD prefix and an opcode number's unsigned LEB128. */
const SIMD = 0xfd;

describe('wasm_assembler: encodings', () => {
  test('local.get and local.set take the index as an unsigned LEB128', () => {
    expect(get({ index: 0, type: 'i32' })).toEqual([0x20, 0x00]);
    expect(get({ index: 127, type: 'f32' })).toEqual([0x20, 0x7f]);
    expect(get({ index: 128, type: 'v128' })).toEqual([0x20, 0x80, 0x01]);
    // The specification's own example: 624485 is E5 8E 26.
    expect(get({ index: 624485, type: 'i32' })).toEqual([0x20, 0xe5, 0x8e, 0x26]);
    expect(set({ index: 3, type: 'i32' }, A)).toEqual([0xa1, 0x21, 0x03]);
    expect(set({ index: 300, type: 'i32' }, A)).toEqual([0xa1, 0x21, 0xac, 0x02]);
  });

  test('i32.const takes a signed LEB128 of the value as an i32', () => {
    const cases: [number, Code][] = [
      [0, [0x00]],
      [1, [0x01]],
      [63, [0x3f]],
      [64, [0xc0, 0x00]],
      [127, [0xff, 0x00]],
      [128, [0x80, 0x01]],
      [8191, [0xff, 0x3f]],
      [8192, [0x80, 0xc0, 0x00]],
      [-1, [0x7f]],
      [-64, [0x40]],
      [-65, [0xbf, 0x7f]],
      [-128, [0x80, 0x7f]],
      [-123456, [0xc0, 0xbb, 0x78]],
      [2147483647, [0xff, 0xff, 0xff, 0xff, 0x07]],
      [-2147483648, [0x80, 0x80, 0x80, 0x80, 0x78]],
      // Values past the i32 range wrap to it (`value | 0`): 2^31 is -2^31, 2^32 + 5 is 5.
      [2 ** 31, [0x80, 0x80, 0x80, 0x80, 0x78]],
      [2 ** 32 + 5, [0x05]],
    ];
    for (const [value, leb] of cases) expect([value, i32.const(value)]).toEqual([value, [0x41, ...leb]]);
  });

  test('i32 and f32 instructions: operands first, then the opcode', () => {
    expect(i32.add(A, B)).toEqual([0xa1, 0xb1, 0x6a]);
    expect(i32.mul(A, B)).toEqual([0xa1, 0xb1, 0x6c]);
    expect(i32.ltS(A, B)).toEqual([0xa1, 0xb1, 0x48]);
    expect(f32.add(A, B)).toEqual([0xa1, 0xb1, 0x92]);
    expect(f32.sub(A, B)).toEqual([0xa1, 0xb1, 0x93]);
    expect(f32.mul(A, B)).toEqual([0xa1, 0xb1, 0x94]);
    expect(f32.div(A, B)).toEqual([0xa1, 0xb1, 0x95]);
    expect(f32.max(A, B)).toEqual([0xa1, 0xb1, 0x97]);
    expect(f32.sqrt(A)).toEqual([0xa1, 0x91]);
    // f32.load and f32.store: memarg align 2 (log2 of 4 bytes), offset 0.
    expect(f32.load(A)).toEqual([0xa1, 0x2a, 0x02, 0x00]);
    expect(f32.store(A, B)).toEqual([0xa1, 0xb1, 0x38, 0x02, 0x00]);
  });

  test('f32.const takes the float32 bytes, little-endian', () => {
    expect(f32.const(1)).toEqual([0x43, 0x00, 0x00, 0x80, 0x3f]);
    expect(f32.const(-2.5)).toEqual([0x43, 0x00, 0x00, 0x20, 0xc0]);
    expect(f32.const(0)).toEqual([0x43, 0x00, 0x00, 0x00, 0x00]);
  });

  test('f32x4 instructions: 0xFD and the opcode as an unsigned LEB128', () => {
    expect(f32x4.splat(A)).toEqual([0xa1, SIMD, 0x13]);
    expect(f32x4.extractLane(A, 3)).toEqual([0xa1, SIMD, 0x1f, 0x03]);
    expect(f32x4.add(A, B)).toEqual([0xa1, 0xb1, SIMD, 0xe4, 0x01]);
    expect(f32x4.sub(A, B)).toEqual([0xa1, 0xb1, SIMD, 0xe5, 0x01]);
    expect(f32x4.mul(A, B)).toEqual([0xa1, 0xb1, SIMD, 0xe6, 0x01]);
    expect(f32x4.div(A, B)).toEqual([0xa1, 0xb1, SIMD, 0xe7, 0x01]);
    expect(f32x4.abs(A)).toEqual([0xa1, SIMD, 0xe0, 0x01]);
    expect(f32x4.neg(A)).toEqual([0xa1, SIMD, 0xe1, 0x01]);
    expect(f32x4.sqrt(A)).toEqual([0xa1, SIMD, 0xe3, 0x01]);
    expect(f32x4.min(A, B)).toEqual([0xa1, 0xb1, SIMD, 0xe8, 0x01]);
    expect(f32x4.max(A, B)).toEqual([0xa1, 0xb1, SIMD, 0xe9, 0x01]);
    expect(f32x4.pmin(A, B)).toEqual([0xa1, 0xb1, SIMD, 0xea, 0x01]);
    expect(f32x4.pmax(A, B)).toEqual([0xa1, 0xb1, SIMD, 0xeb, 0x01]);
    expect(f32x4.nearest(A)).toEqual([0xa1, SIMD, 0x6a]);
    expect(f32x4.gt(A, B)).toEqual([0xa1, 0xb1, SIMD, 0x44]);
    // Relaxed SIMD: f32x4.relaxed_madd is 0x105.
    expect(f32x4.relaxedMadd(A, B, C)).toEqual([0xa1, 0xb1, 0xc1, SIMD, 0x85, 0x02]);
  });

  test('i8x16.shuffle takes the 16 byte lanes of the four float lanes asked for', () => {
    expect(f32x4.shuffle(A, B, [0, 5, 2, 7])).toEqual([
      ...[0xa1, 0xb1, SIMD, 0x0d],
      ...[0, 1, 2, 3, 20, 21, 22, 23, 8, 9, 10, 11, 28, 29, 30, 31],
    ]);
    expect(f32x4.shuffle(A, B, [3, 3, 4, 1])).toEqual([
      ...[0xa1, 0xb1, SIMD, 0x0d],
      ...[12, 13, 14, 15, 12, 13, 14, 15, 16, 17, 18, 19, 4, 5, 6, 7],
    ]);
  });

  test('v128 loads and stores: memarg align 2 then the offset, 0 unless given', () => {
    expect(f32x4.load(A)).toEqual([0xa1, SIMD, 0x00, 0x02, 0x00]);
    expect(f32x4.load(A, 16)).toEqual([0xa1, SIMD, 0x00, 0x02, 0x10]);
    expect(f32x4.load(A, 200)).toEqual([0xa1, SIMD, 0x00, 0x02, 0xc8, 0x01]);
    expect(f32x4.loadSplat(A)).toEqual([0xa1, SIMD, 0x09, 0x02, 0x00]);
    expect(f32x4.loadSplat(A, 4)).toEqual([0xa1, SIMD, 0x09, 0x02, 0x04]);
    expect(f32x4.store(A, B)).toEqual([0xa1, 0xb1, SIMD, 0x0b, 0x02, 0x00]);
    expect(f32x4.store(A, B, 32)).toEqual([0xa1, 0xb1, SIMD, 0x0b, 0x02, 0x20]);
  });

  test('i32x4 and v128 instructions', () => {
    expect(i32x4.splat(A)).toEqual([0xa1, SIMD, 0x11]);
    expect(i32x4.add(A, B)).toEqual([0xa1, 0xb1, SIMD, 0xae, 0x01]);
    expect(i32x4.shl(A, B)).toEqual([0xa1, 0xb1, SIMD, 0xab, 0x01]);
    expect(i32x4.truncSatF32x4(A)).toEqual([0xa1, SIMD, 0xf8, 0x01]);
    expect(v128.and(A, B)).toEqual([0xa1, 0xb1, SIMD, 0x4e]);
    expect(v128.or(A, B)).toEqual([0xa1, 0xb1, SIMD, 0x50]);
    expect(v128.xor(A, B)).toEqual([0xa1, 0xb1, SIMD, 0x51]);
  });

  test('global.get takes the index as an unsigned LEB128; a vector constant is a global, one per value', () => {
    expect(getGlobal(0)).toEqual([0x23, 0x00]);
    expect(getGlobal(200)).toEqual([0x23, 0xc8, 0x01]);
    const constants = new VectorConstants();
    expect(constants.f32(1.5)).toEqual([0x23, 0x00]);
    expect(constants.i32(0x7fffffff)).toEqual([0x23, 0x01]);
    expect(constants.f32(1.5)).toEqual([0x23, 0x00]);
    // 0.1 as a float32 is 0x3DCCCCCD: the same global as the float32 it rounds to.
    expect(constants.f32(0.1)).toEqual([0x23, 0x02]);
    expect(constants.f32(Math.fround(0.1))).toEqual([0x23, 0x02]);
    // 1.0 (0x3F800000) and the integer 0x3F800000 have the same lanes: one global.
    expect(constants.f32(1)).toEqual([0x23, 0x03]);
    expect(constants.i32(0x3f800000)).toEqual([0x23, 0x03]);
    // Bytes 1, 23, 0, 0 and 12, 3, 0, 0 are two values (written without separators, one string).
    expect(constants.i32(1 + 23 * 256)).toEqual([0x23, 0x04]);
    expect(constants.i32(12 + 3 * 256)).toEqual([0x23, 0x05]);
    // Each global: type v128 (0x7B), immutable (0), v128.const (0xFD 12) of its 16 bytes, end.
    const lanes = (bytes: number[]) => [...bytes, ...bytes, ...bytes, ...bytes];
    expect(constants.globals()).toEqual([
      [0x7b, 0x00, SIMD, 0x0c, ...lanes([0x00, 0x00, 0xc0, 0x3f]), 0x0b],
      [0x7b, 0x00, SIMD, 0x0c, ...lanes([0xff, 0xff, 0xff, 0x7f]), 0x0b],
      [0x7b, 0x00, SIMD, 0x0c, ...lanes([0xcd, 0xcc, 0xcc, 0x3d]), 0x0b],
      [0x7b, 0x00, SIMD, 0x0c, ...lanes([0x00, 0x00, 0x80, 0x3f]), 0x0b],
      [0x7b, 0x00, SIMD, 0x0c, ...lanes([1, 23, 0, 0]), 0x0b],
      [0x7b, 0x00, SIMD, 0x0c, ...lanes([12, 3, 0, 0]), 0x0b],
    ]);
  });

  test('memory.fill: 0xFC 11 and memory index 0', () => {
    expect(bulkMemory.fill(A, B, C)).toEqual([0xa1, 0xb1, 0xc1, 0xfc, 0x0b, 0x00]);
  });

  test('if/else: the condition, if with the empty block type 0x40, then, else, end', () => {
    expect(ifElse(A, B, C)).toEqual([0xa1, 0x04, 0x40, 0xb1, 0x05, 0xc1, 0x0b]);
  });

  test('forLoop: a block around a loop, br_if out to the block unless counter < to, step added, br back', () => {
    const counter: Local = { index: 2, type: 'i32' };
    expect(forLoop(counter, A, B, 4, C)).toEqual([
      ...[0xa1, 0x21, 0x02], // counter = from
      ...[0x02, 0x40], // block
      ...[0x03, 0x40], // loop
      ...[0x20, 0x02, 0xb1, 0x48, 0x45, 0x0d, 0x01], // br_if 1 (the block) if !(counter < to)
      0xc1, // body
      ...[0x20, 0x02, 0x41, 0x04, 0x6a, 0x21, 0x02], // counter += 4
      ...[0x0c, 0x00], // br 0 (the loop)
      ...[0x0b, 0x0b], // end loop, end block
    ]);
  });

  test('defineFunction numbers the parameters first, then the locals', () => {
    const seen: Local[][] = [];
    const fn = defineFunction('f', ['i32', 'f32'], ['v128', 'i32', 'f32'], (params, locals) => {
      seen.push(params, locals);
      return [0x01];
    });
    expect(seen).toEqual([
      [
        { index: 0, type: 'i32' },
        { index: 1, type: 'f32' },
      ],
      [
        { index: 2, type: 'v128' },
        { index: 3, type: 'i32' },
        { index: 4, type: 'f32' },
      ],
    ]);
    expect(fn).toEqual({ name: 'f', params: ['i32', 'f32'], locals: ['v128', 'i32', 'f32'], body: [0x01] });
  });
});

describe('wasm_assembler: modules', () => {
  /** Two functions: f(i32, f32) with locals v128 and i32, body nop; g() with no locals, body nop. */
  const twoFunctions = () => [
    defineFunction('f', ['i32', 'f32'], ['v128', 'i32'], () => [0x01]),
    defineFunction('gh', [], [], () => [0x01]),
  ];

  /** The module of `twoFunctions` with the given import section (id 2). */
  const twoFunctionModule = (importSection: Code) => [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version 1
    // Type section (1), 9 bytes: 2 types; func (i32 f32) -> (), func () -> ().
    ...[0x01, 0x09, 0x02, 0x60, 0x02, 0x7f, 0x7d, 0x00, 0x60, 0x00, 0x00],
    ...importSection,
    // Function section (3): 2 functions, of types 0 and 1.
    ...[0x03, 0x03, 0x02, 0x00, 0x01],
    // Export section (7): "f" function 0, "gh" function 1.
    ...[0x07, 0x0a, 0x02, 0x01, 0x66, 0x00, 0x00, 0x02, 0x67, 0x68, 0x00, 0x01],
    // Code section (10), 13 bytes: 2 bodies. f: size 7, 2 local runs (1 v128, 1 i32), nop, end.
    ...[0x0a, 0x0d, 0x02, 0x07, 0x02, 0x01, 0x7b, 0x01, 0x7f, 0x01, 0x0b],
    // gh: size 3, no locals, nop, end.
    ...[0x03, 0x00, 0x01, 0x0b],
  ];
  /** Import section: 1 import, "env" "memory", a memory (0x02) with these limits. */
  const memoryImport = (limits: Code) => [
    ...[0x02, 13 + limits.length, 0x01],
    ...[0x03, 0x65, 0x6e, 0x76, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02],
    ...limits,
  ];

  test('a module of two functions, byte for byte', () => {
    const bytes = assembleModule(twoFunctions());
    // Limits 0x00: min 1 page, no maximum.
    expect(Array.from(bytes)).toEqual(twoFunctionModule(memoryImport([0x00, 0x01])));
    const memory = new WebAssembly.Memory({ initial: 1 });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    expect(Object.keys(instance.exports)).toEqual(['f', 'gh']);
  });

  test('a shared memory: limits 0x03, min 1 page, the maximum as an unsigned LEB128', () => {
    const bytes = assembleModule(twoFunctions(), 16384);
    expect(Array.from(bytes)).toEqual(twoFunctionModule(memoryImport([0x03, 0x01, 0x80, 0x80, 0x01])));
    expect(Array.from(assembleModule(twoFunctions(), 2))).toEqual(twoFunctionModule(memoryImport([0x03, 0x01, 0x02])));
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 16384, shared: true });
    expect(() => new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } })).not.toThrow();
  });

  test('names are counted in UTF-8 bytes', () => {
    const bytes = assembleModule([defineFunction('é', [], [], () => [])]);
    expect(WebAssembly.validate(bytes)).toBe(true);
    const memory = new WebAssembly.Memory({ initial: 1 });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    expect(Object.keys(instance.exports)).toEqual(['é']);
  });

  test('a body longer than 127 bytes and a module longer than 127: sizes as unsigned LEB128', () => {
    // 200 nops: the body (no locals, the nops, end: 202 bytes) and the section (1 + 2 + 202 = 205)
    // each have a size of two bytes.
    const bytes = Array.from(assembleModule([defineFunction('n', [], [], () => Array(200).fill(0x01))]));
    const code = bytes.length - (3 + 205);
    expect(bytes.slice(code, code + 8)).toEqual([0x0a, 0xcd, 0x01, 0x01, 0xca, 0x01, 0x00, 0x01]);
    expect(bytes.slice(-2)).toEqual([0x01, 0x0b]);
    expect(WebAssembly.validate(new Uint8Array(bytes))).toBe(true);
  });
});

describe('wasm_assembler: what the engine computes', () => {
  /** Instantiates `functions` on a fresh one-page memory; returns the exports and the memory's floats. */
  function run(functions: ReturnType<typeof defineFunction>[]) {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const bytes = assembleModule(functions);
    expect(WebAssembly.validate(bytes)).toBe(true);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    return {
      exports: instance.exports as Record<string, (...args: number[]) => void>,
      floats: new Float32Array(memory.buffer),
      ints: new Int32Array(memory.buffer),
    };
  }

  test("vector constants: the module's globals hold them, pmin and pmax read them as the spec says", () => {
    const constants = new VectorConstants();
    const memory = new WebAssembly.Memory({ initial: 1 });
    const x = f32x4.load(i32.const(64));
    const fn = defineFunction('consts', [], [], () => [
      ...f32x4.store(i32.const(0), constants.f32(-2.5)),
      ...f32x4.store(i32.const(16), v128.xor(constants.i32(0x80000000 | 0), constants.f32(-2.5))),
      // pmin(a, b) = b < a ? b : a; pmax(a, b) = a < b ? b : a: a NaN a stays, -0 against +0 stays a.
      ...f32x4.store(i32.const(32), f32x4.pmin(x, constants.f32(0))),
      ...f32x4.store(i32.const(48), f32x4.pmax(x, constants.f32(0))),
    ]);
    const bytes = assembleModule([fn], undefined, constants);
    expect(WebAssembly.validate(bytes)).toBe(true);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    const floats = new Float32Array(memory.buffer);
    floats.set([NaN, -0, -3, 2], 16);
    (instance.exports.consts as () => void)();
    expect(Array.from(floats.subarray(0, 8))).toEqual([-2.5, -2.5, -2.5, -2.5, 2.5, 2.5, 2.5, 2.5]);
    expect(Array.from(floats.subarray(8, 12))).toEqual([NaN, -0, -3, 0]);
    expect(Array.from(floats.subarray(12, 16))).toEqual([NaN, -0, 0, 2]);
  });

  test('scalar arithmetic, loads and stores', () => {
    const { exports, floats, ints } = run([
      defineFunction('scalars', ['f32', 'f32'], [], ([x, y]) => [
        ...f32.store(i32.const(0), f32.add(get(x), get(y))),
        ...f32.store(i32.const(4), f32.sub(get(x), get(y))),
        ...f32.store(i32.const(8), f32.mul(get(x), get(y))),
        ...f32.store(i32.const(12), f32.div(get(x), get(y))),
        ...f32.store(i32.const(16), f32.max(get(x), get(y))),
        ...f32.store(i32.const(20), f32.sqrt(get(x))),
        ...f32.store(i32.const(24), f32.load(i32.const(100))),
        ...f32.store(i32.const(28), f32.const(-0.75)),
      ]),
      defineFunction('ints', ['i32', 'i32'], [], ([a, b]) => [
        ...f32.store(i32.const(32), f32.const(0)),
        ...[0x41, 0x20, ...i32.add(get(a), get(b)), 0x36, 0x02, 0x00], // i32.store at 32
        ...[0x41, 0x24, ...i32.mul(get(a), get(b)), 0x36, 0x02, 0x00], // at 36
        ...[0x41, 0x28, ...i32.ltS(get(a), get(b)), 0x36, 0x02, 0x00], // at 40
        ...[0x41, 0x2c, ...i32.const(-123456), 0x36, 0x02, 0x00], // at 44
      ]),
    ]);
    floats[25] = 6.5;
    exports.scalars(9, 4);
    expect(Array.from(floats.subarray(0, 8))).toEqual([13, 5, 36, 2.25, 9, 3, 6.5, -0.75]);
    exports.ints(-3, 7);
    expect(Array.from(ints.subarray(8, 12))).toEqual([4, -21, 1, -123456]);
    exports.ints(7, -3);
    expect(ints[10]).toBe(0);
  });

  test('f32x4 lanes: arithmetic, sign bits, shuffle, comparison, rounding, integer lanes', () => {
    const x = (address: number) => f32x4.load(i32.const(address));
    const { exports, floats, ints } = run([
      defineFunction('lanes', [], [], () => [
        // x at 0: [4, -9, 2.5, -0.5]; y at 16: [2, 3, -1, 0.25]; results from 64, one vector each.
        ...f32x4.store(i32.const(64), f32x4.add(x(0), x(16))),
        ...f32x4.store(i32.const(80), f32x4.sub(x(0), x(16))),
        ...f32x4.store(i32.const(96), f32x4.mul(x(0), x(16))),
        ...f32x4.store(i32.const(112), f32x4.div(x(0), x(16))),
        ...f32x4.store(i32.const(128), f32x4.min(x(0), x(16))),
        ...f32x4.store(i32.const(144), f32x4.max(x(0), x(16))),
        ...f32x4.store(i32.const(160), f32x4.abs(x(0))),
        ...f32x4.store(i32.const(176), f32x4.neg(x(0))),
        ...f32x4.store(i32.const(192), f32x4.sqrt(f32x4.abs(x(0)))),
        // y with its sign flipped where x is negative: xor with x's sign bits.
        ...f32x4.store(i32.const(208), v128.xor(x(16), v128.and(x(0), i32x4.splat(i32.const(0x80000000 | 0))))),
        ...f32x4.store(i32.const(224), f32x4.shuffle(x(0), x(16), [3, 4, 1, 6])),
        ...f32x4.store(i32.const(240), f32x4.gt(x(0), x(16))),
        ...f32x4.store(i32.const(256), f32x4.nearest(x(0))),
        ...f32x4.store(i32.const(272), f32x4.splat(f32x4.extractLane(x(0), 2))),
        ...f32x4.store(i32.const(288), f32x4.loadSplat(i32.const(0), 4)),
        ...f32x4.store(i32.const(304), f32x4.load(i32.const(0), 16)),
        ...f32x4.store(i32.const(300), x(16), 20), // at 320
        ...f32x4.store(i32.const(336), i32x4.truncSatF32x4(x(0))),
        ...f32x4.store(i32.const(352), i32x4.add(i32x4.splat(i32.const(5)), i32x4.truncSatF32x4(x(16)))),
        ...f32x4.store(i32.const(368), i32x4.shl(i32x4.splat(i32.const(3)), i32.const(4))),
        ...f32x4.store(i32.const(384), v128.and(i32x4.truncSatF32x4(x(0)), i32x4.splat(i32.const(6)))),
        ...f32x4.store(i32.const(400), v128.or(i32x4.truncSatF32x4(x(0)), i32x4.splat(i32.const(1)))),
      ]),
    ]);
    floats.set([4, -9, 2.5, -0.5, 2, 3, -1, 0.25]);
    exports.lanes();
    const vectorAt = (address: number) => Array.from(floats.subarray(address / 4, address / 4 + 4));
    const intsAt = (address: number) => Array.from(ints.subarray(address / 4, address / 4 + 4));
    expect(vectorAt(64)).toEqual([6, -6, 1.5, -0.25]);
    expect(vectorAt(80)).toEqual([2, -12, 3.5, -0.75]);
    expect(vectorAt(96)).toEqual([8, -27, -2.5, -0.125]);
    expect(vectorAt(112)).toEqual([2, -3, -2.5, -2]);
    expect(vectorAt(128)).toEqual([2, -9, -1, -0.5]);
    expect(vectorAt(144)).toEqual([4, 3, 2.5, 0.25]);
    expect(vectorAt(160)).toEqual([4, 9, 2.5, 0.5]);
    expect(vectorAt(176)).toEqual([-4, 9, -2.5, 0.5]);
    expect(vectorAt(192)).toEqual([2, 3, Math.sqrt(2.5), Math.fround(Math.sqrt(0.5))].map(Math.fround));
    expect(vectorAt(208)).toEqual([2, -3, -1, -0.25]);
    expect(vectorAt(224)).toEqual([-0.5, 2, -9, -1]);
    expect(intsAt(240)).toEqual([-1, 0, -1, 0]);
    expect(vectorAt(256)).toEqual([4, -9, 2, -0]);
    expect(vectorAt(272)).toEqual([2.5, 2.5, 2.5, 2.5]);
    expect(vectorAt(288)).toEqual([-9, -9, -9, -9]);
    expect(vectorAt(304)).toEqual([2, 3, -1, 0.25]);
    expect(vectorAt(320)).toEqual([2, 3, -1, 0.25]);
    expect(intsAt(336)).toEqual([4, -9, 2, 0]);
    expect(intsAt(352)).toEqual([7, 8, 4, 5]);
    expect(intsAt(368)).toEqual([48, 48, 48, 48]);
    expect(intsAt(384)).toEqual([4, 6, 2, 0]);
    expect(intsAt(400)).toEqual([5, -9, 3, 1]);
  });

  test('forLoop, ifElse and memory.fill', () => {
    const { exports, floats } = run([
      // For at from `from` to `to` by 8 bytes: the float at `at` is 1 if at < 40, else 2.
      defineFunction('loop', ['i32', 'i32'], ['i32'], ([from, to], [at]) =>
        forLoop(
          at,
          get(from),
          get(to),
          8,
          ifElse(i32.ltS(get(at), i32.const(40)), f32.store(get(at), f32.const(1)), f32.store(get(at), f32.const(2))),
        ),
      ),
      defineFunction('fill', ['i32', 'i32'], [], ([address, bytes]) =>
        bulkMemory.fill(get(address), i32.const(0), get(bytes)),
      ),
    ]);
    exports.loop(8, 64);
    expect(Array.from(floats.subarray(0, 17))).toEqual([0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 2, 0, 2, 0, 2, 0, 0]);
    // from >= to: the body never runs.
    exports.loop(80, 80);
    exports.loop(96, 88);
    expect(Array.from(floats.subarray(20, 26))).toEqual([0, 0, 0, 0, 0, 0]);
    floats.fill(5, 0, 8);
    exports.fill(8, 12);
    expect(Array.from(floats.subarray(0, 8))).toEqual([5, 5, 0, 0, 0, 5, 5, 5]);
  });
});
