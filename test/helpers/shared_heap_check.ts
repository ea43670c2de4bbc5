/**
 * A jest setup file run after the test framework (jest.config.js's shared-heap project): the test
 * file that just ran must have had its kernels in tfjs's heap, else the project tested nothing of it.
 */
import { inSharedHeap } from '../../src/kernels/simd_kernels';

afterAll(() => {
  if (!inSharedHeap())
    throw new Error("this test file's SIMD kernels did not run on the shared heap (initBackend's sharedHeap)");
});
