import { kernelThreadsReady, setKernelThreads } from '../../src/kernels/threads';

/** Runs the kernels on `count` threads from the next call, once the workers are ready. */
export async function useThreads(count: number): Promise<void> {
  setKernelThreads(count);
  expect(await kernelThreadsReady()).toBe(count);
}
