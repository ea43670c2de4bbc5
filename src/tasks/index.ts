/** The toy tasks (README, "Toy tasks"): plain TypeScript, no TensorFlow.js, for Node and the browser. */
export * from './vocabulary';
export { Random, RandomState } from './random';
export * from './tasks';
export * from './samples';
export * from './encode';
export { CharTokenizer } from './char_tokenizer';
