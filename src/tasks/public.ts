/**
 * The toy tasks as the package exports them (`import { tasks } from 'tfjs-attention'`): the
 * tasks, their vocabulary's special tokens, the held-out and fresh test sets, the training stream
 * and batching (README, "Toy tasks"). The seeds and limits behind the sets stay internal.
 */
export { BOS, EOS, FIRST_SYMBOL, PAD, SPECIAL_TOKEN_NAMES } from './vocabulary';
export { Random } from './random';
export type { RandomState } from './random';
export { createTask, TASK_NAMES } from './tasks';
export type { Task, TaskName, TaskOptions } from './tasks';
export {
  createTrainingStream,
  freshTestSet,
  FRESH_TEST_SIZE,
  generateSamples,
  heldOutSet,
  HELD_OUT_SIZE,
  TrainingStream,
} from './samples';
export type { Sample } from './samples';
export { encodeBatch } from './encode';
export type { EncodedBatch } from './encode';
