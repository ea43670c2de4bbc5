/**
 * A jest setup file (jest.config.js), after relaxed_simd.ts: the test file that follows starts the
 * wasm backend with tfjs's tensors in the SIMD kernels' memory (initBackend's `sharedHeap`, by its
 * environment variable), so that every kernel reads its inputs and writes its outputs in place.
 */
import { SHARED_HEAP_ENV_VAR } from '../../src/backend';

process.env[SHARED_HEAP_ENV_VAR] = '1';
