/**
 * Runs one of this project's TypeScript command lines (`npm run train`, `bench`, `evaluate`, `demo`)
 * through ts-node, on a Node whose WebAssembly has relaxed SIMD, so that the SIMD kernels get their
 * fused multiply-add (src/kernels/simd_kernels.ts): Node 22 and later have it on; Node 20 validates
 * it only behind V8's --experimental-wasm-relaxed-simd, so there this starts Node again with that
 * flag (Node 20 only: later V8s may not know it). The library itself never sets V8 flags.
 *
 *   node scripts/run.cjs scripts/bench.ts --json --only train-reference
 *
 * The command lines also start the wasm backend with tfjs's tensors in the SIMD kernels' memory
 * (initBackend's `sharedHeap`, src/kernels/shared_heap.ts) by setting TFJS_ATTENTION_SHARED_HEAP to
 * 1 where it is not set: TFJS_ATTENTION_SHARED_HEAP=0 runs them without. The library's default is
 * without.
 */
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');

const FLAG = '--experimental-wasm-relaxed-simd';

/**
 * Whether this engine validates f32x4.relaxed_madd: the bytes of a module with one function,
 * (func (param v128) (drop (f32x4.relaxed_madd (local.get 0) (local.get 0) (local.get 0)))).
 */
function hasRelaxedSimd() {
  if (typeof WebAssembly !== 'object') return false; // node --jitless
  const body = [0x00, 0x20, 0, 0x20, 0, 0x20, 0, 0xfd, 0x85, 0x02, 0x1a, 0x0b];
  const header = [0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
  const types = [1, 5, 1, 0x60, 1, 0x7b, 0];
  const functions = [3, 2, 1, 0];
  const code = [10, body.length + 2, 1, body.length, ...body];
  return WebAssembly.validate(new Uint8Array([...header, ...types, ...functions, ...code]));
}

const [entry, ...args] = process.argv.slice(2);
if (entry === undefined) {
  console.error('usage: node scripts/run.cjs SCRIPT.ts [ARGS...]');
  process.exit(2);
}

process.env.TFJS_ATTENTION_SHARED_HEAP ??= '1';

const node20 = process.versions.node.split('.')[0] === '20';
if (!node20 || hasRelaxedSimd() || process.execArgv.includes(FLAG)) {
  // Here, in this process: the entry reads its arguments from process.argv as if run directly.
  require('ts-node').register({ transpileOnly: true });
  process.argv = [process.argv[0], path.resolve(entry), ...args];
  require(path.resolve(entry));
} else {
  const child = spawn(process.execPath, [FLAG, ...process.execArgv, __filename, entry, ...args], {
    stdio: 'inherit',
  });
  // Ctrl-C reaches the child from the terminal (train.ts saves a checkpoint on it): this process
  // waits for the child instead of dying first; a signal sent to this process alone is passed on.
  process.on('SIGINT', () => {});
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal === null) process.exit(code);
    // Ended by a signal: end the same way, without the handlers above.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  });
}
