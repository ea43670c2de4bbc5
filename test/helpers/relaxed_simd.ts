/**
 * A jest setup file (jest.config.js): the SIMD kernels of the test file that follows are assembled
 * with relaxed SIMD's fused multiply-add, which Node 20 validates only behind V8's
 * `--experimental-wasm-relaxed-simd` (see separate_simd.ts).
 */
import { setFlagsFromString } from 'v8';

setFlagsFromString('--experimental-wasm-relaxed-simd');
// What the test files check that they test (simd_kernels.test.ts).
process.env.TFJS_ATTENTION_TEST_SIMD = 'relaxed';
