/**
 * A jest setup file (jest.config.js): the SIMD kernels of the test file that follows are assembled
 * without relaxed SIMD, with separate multiplies and adds, whatever the Node. V8's flags are the
 * process's, and a jest worker runs test files of both projects one after another, so each
 * project's setup file sets the flag its way before the file's first kernel is compiled.
 */
import { setFlagsFromString } from 'v8';

setFlagsFromString('--no-experimental-wasm-relaxed-simd');
// What the test files check that they test (simd_kernels.test.ts).
process.env.TFJS_ATTENTION_TEST_SIMD = 'separate';
