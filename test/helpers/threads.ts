import { simdKernels } from '../../src/kernels/simd_kernels';
import * as threads from '../../src/kernels/threads';

/** Runs the kernels on `count` threads from the next call, once the workers are ready. */
export async function useThreads(count: number): Promise<void> {
  threads.setKernelThreads(count);
  expect(await threads.kernelThreadsReady()).toBe(count);
}

/** Runs `work` with the caller claiming no parts: every part of a threaded call goes to the workers. */
export function onWorkersOnly<T>(work: () => T): T {
  threads.setCallerClaimsParts(false);
  try {
    return work();
  } finally {
    threads.setCallerClaimsParts(true);
  }
}

/**
 * Runs `fn` with the parts of every `inParallelRuns` call interleaved on this thread, one kernel
 * call of each part in turn (the parts in order, or the last first when `reversed`): a
 * deterministic stand-in for parts running at the same time. The parts of a call must not write
 * what another part reads or writes (threads.ts), so any interleaving gives the same floats; parts
 * that share scratch do not. The parts are cut and recorded by `inParallelRuns` itself (its
 * visits record the calls here instead of running them). Returns how many calls had several parts.
 */
export function withPartsInterleaved(reversed: boolean, fn: () => void): number {
  const original = threads.inParallelRuns;
  let interleaved = 0;
  const spy = jest.spyOn(threads, 'inParallelRuns').mockImplementation((items, parts, visit) => {
    const recorded: Array<Array<[string, number[]]>> = [];
    original(items, parts, (_calls, first, end, part) => {
      const calls: Array<[string, number[]]> = (recorded[part] = []);
      const recorder = new Proxy({} as threads.KernelCalls, {
        get:
          (_target, name) =>
          (...args: number[]) =>
            calls.push([String(name), args]),
      });
      visit(recorder, first, end, part);
    });
    if (parts > 1) interleaved++;
    const kernels = simdKernels() as unknown as Record<string, (...args: number[]) => void>;
    const order = reversed ? [...recorded].reverse() : recorded;
    for (let i = 0; order.some((calls) => i < calls.length); i++) {
      for (const calls of order) if (i < calls.length) kernels[calls[i][0]](...calls[i][1]);
    }
  });
  try {
    fn();
  } finally {
    spy.mockRestore();
  }
  return interleaved;
}
