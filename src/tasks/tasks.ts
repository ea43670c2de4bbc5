import { describeValue } from '../describe';
import { checkOptionNames } from '../options';
import { Random } from './random';
import { FIRST_SYMBOL, MAX_NUM_SYMBOLS, NUM_SPECIAL_TOKENS, SPECIAL_TOKEN_NAMES, SYMBOL_ALPHABET } from './vocabulary';

/** The toy tasks (README, "Toy tasks": copy, reverse, sort, addition). */
export const TASK_NAMES = ['copy', 'reverse', 'sort', 'addition'] as const;
/** One of `TASK_NAMES`. */
export type TaskName = (typeof TASK_NAMES)[number];

/**
 * Options of `createTask`. copy, reverse and sort take `numSymbols`, `minLen` and `maxLen`;
 * addition takes only `digits` (its symbols and lengths follow from it). An option that does not
 * apply to the task is an error rather than silently ignored.
 */
export interface TaskOptions {
  /** copy/reverse/sort: number of symbols V, in [1, 62]. Default 10. */
  numSymbols?: number;
  /** copy/reverse/sort: shortest source length, at least 1. Default 2. */
  minLen?: number;
  /** copy/reverse/sort: longest source length, at least minLen. Default 12. */
  maxLen?: number;
  /** addition: most decimal digits D of each operand, at least 1. Default 3. */
  digits?: number;
}

/** The tasks' defaults (README, "Toy tasks"). */
export const DEFAULT_NUM_SYMBOLS = 10;
export const DEFAULT_MIN_LEN = 2;
export const DEFAULT_MAX_LEN = 12;
export const DEFAULT_DIGITS = 3;

/**
 * One toy task: its vocabulary, how to sample a source and the one correct target for it.
 * Ids are those of `vocabulary.ts`: 0 PAD, 1 BOS, 2 EOS, then symbol i has id 3 + i.
 */
export interface Task {
  readonly name: TaskName;
  /** The resolved options (defaults filled in); `createTask(task.name, task.options)` rebuilds the task. */
  readonly options: Readonly<TaskOptions>;
  /** V, the number of symbols (addition: 11). */
  readonly numSymbols: number;
  /** Display string of each symbol; `symbols[i]` is the symbol with id `FIRST_SYMBOL + i`. */
  readonly symbols: readonly string[];
  /** 3 special tokens + V symbols: the size of the model's embedding and output layer. */
  readonly vocabularySize: number;
  /** Longest possible source: the width sources are padded to. */
  readonly maxSourceLength: number;
  /** Longest possible target + 1 (for BOS/EOS): the width decoder inputs and targets are padded to. */
  readonly maxTargetLength: number;
  /** Draws one source (symbol ids, unpadded) from the task's distribution. */
  sampleSource(rng: Random): number[];
  /**
   * Draws one source with its lengths uniform, for training mixes that should see short cases as
   * often as long ones (never for evaluation sets, which follow `sampleSource`). copy, reverse and
   * sort: as `sampleSource` (their length is uniform already). addition: each operand's digit count
   * uniform in [1, D], then the operand uniform among the numbers with that many digits; the task's
   * own distribution gives 90% of operands all D digits (for D = 3).
   */
  sampleLengthBalancedSource(rng: Random): number[];
  /** The target symbol ids for a source (without EOS). Throws as `validateSource` does. */
  solve(source: readonly number[]): number[];
  /**
   * Throws a readable error unless `source` is one that `sampleSource` can return: the right
   * length, only symbol ids, and for addition the form `digits '+' digits` without leading zeros.
   */
  validateSource(source: readonly number[]): void;
  /** The probability that `sampleSource` returns exactly `source` (0 if it never does). */
  sourceProbability(source: readonly number[]): number;
  /** Shows ids as text: one character per symbol, specials as `<pad>`, `<bos>`, `<eos>`. */
  tokensToString(ids: readonly number[]): string;
  /** Inverse of `tokensToString`; whitespace is skipped, so `"3 1 4"` and `"314"` are equal. */
  stringToTokens(text: string): number[];
}

/**
 * Creates one of the toy tasks (README, "Toy tasks"); options left out take their defaults.
 *
 * Example (the README's worked example in "Toy tasks"; a test runs it):
 * ```ts
 * const task = createTask('reverse');
 * const source = task.stringToTokens('3 1 4');        // [6, 4, 7]
 * task.tokensToString(task.solve(source));             // '413'
 * const sample = task.sampleSource(new Random(7));     // 2 to 12 symbol ids
 * ```
 */
export function createTask(name: TaskName, options: TaskOptions = {}): Task {
  if (!(TASK_NAMES as readonly unknown[]).includes(name)) {
    throw new Error(`createTask: unknown task ${describeValue(name)}; expected one of ${TASK_NAMES.join(', ')}`);
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new Error(`createTask: options must be an object, got ${describeValue(options)}`);
  }
  if (name === 'addition') {
    checkOptionNames(`createTask('${name}')`, options, ['digits']);
    const digits = options.digits ?? DEFAULT_DIGITS;
    checkInteger('digits', digits, 1, Infinity, 'an integer >= 1');
    return new AdditionTask(digits);
  }
  checkOptionNames(`createTask('${name}')`, options, ['numSymbols', 'minLen', 'maxLen']);
  const numSymbols = options.numSymbols ?? DEFAULT_NUM_SYMBOLS;
  const minLen = options.minLen ?? DEFAULT_MIN_LEN;
  const maxLen = options.maxLen ?? DEFAULT_MAX_LEN;
  checkInteger(
    'numSymbols',
    numSymbols,
    1,
    MAX_NUM_SYMBOLS,
    `an integer in [1, ${MAX_NUM_SYMBOLS}] (one display character per symbol)`,
  );
  checkInteger('minLen', minLen, 1, Infinity, 'an integer >= 1');
  checkInteger('maxLen', maxLen, minLen, Infinity, `an integer >= minLen (${minLen})`);
  return new SymbolSequenceTask(name, numSymbols, minLen, maxLen);
}

function checkInteger(arg: string, value: unknown, min: number, max: number, expected: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new Error(`createTask: ${arg} must be ${expected}, got ${describeValue(value)}`);
  }
}

/** Vocabulary handling shared by all tasks; subclasses add sampling, solving and validation. */
abstract class BaseTask implements Task {
  readonly numSymbols: number;
  readonly vocabularySize: number;
  private readonly idOfSymbol: ReadonlyMap<string, number>;

  constructor(
    readonly name: TaskName,
    readonly options: Readonly<TaskOptions>,
    readonly symbols: readonly string[],
    readonly maxSourceLength: number,
    readonly maxTargetLength: number,
  ) {
    Object.freeze(options);
    this.numSymbols = symbols.length;
    this.vocabularySize = NUM_SPECIAL_TOKENS + symbols.length;
    this.idOfSymbol = new Map(symbols.map((symbol, i) => [symbol, FIRST_SYMBOL + i]));
  }

  abstract sampleSource(rng: Random): number[];
  abstract sampleLengthBalancedSource(rng: Random): number[];
  protected abstract solveValid(source: readonly number[]): number[];
  protected abstract sourceError(source: readonly number[]): string | undefined;
  protected abstract validSourceProbability(source: readonly number[]): number;

  solve(source: readonly number[]): number[] {
    this.validateSource(source);
    return this.solveValid(source);
  }

  validateSource(source: readonly number[]): void {
    const error = this.sourceError(source);
    if (error !== undefined) throw new Error(`${this.name}: ${error}`);
  }

  sourceProbability(source: readonly number[]): number {
    return this.sourceError(source) === undefined ? this.validSourceProbability(source) : 0;
  }

  tokensToString(ids: readonly number[]): string {
    if (!Array.isArray(ids)) {
      throw new Error(`${this.name}.tokensToString: ids must be an array of token ids, got ${describeValue(ids)}`);
    }
    return ids
      .map((id, i) => {
        if (!Number.isInteger(id) || id < 0 || id >= this.vocabularySize) {
          throw new Error(
            `${this.name}.tokensToString: ids[${i}] = ${describeValue(id)} is not a token; ` +
              `expected an integer in [0, ${this.vocabularySize - 1}]`,
          );
        }
        return id < FIRST_SYMBOL ? SPECIAL_TOKEN_NAMES[id] : this.symbols[id - FIRST_SYMBOL];
      })
      .join('');
  }

  stringToTokens(text: string): number[] {
    if (typeof text !== 'string') {
      throw new Error(`${this.name}.stringToTokens: text must be a string, got ${describeValue(text)}`);
    }
    const ids: number[] = [];
    const chars = Array.from(text); // code points, so an emoji is reported whole
    for (let i = 0; i < chars.length; i++) {
      const ch = chars[i];
      if (/\s/.test(ch)) continue;
      const symbolId = this.idOfSymbol.get(ch);
      if (symbolId !== undefined) {
        ids.push(symbolId);
        continue;
      }
      const special = SPECIAL_TOKEN_NAMES.findIndex((token) => chars.slice(i, i + token.length).join('') === token);
      if (special >= 0) {
        ids.push(special);
        i += SPECIAL_TOKEN_NAMES[special].length - 1;
        continue;
      }
      throw new Error(
        `${this.name}.stringToTokens: unexpected character ${JSON.stringify(ch)} at position ${i} of ` +
          `${JSON.stringify(text)}; allowed: the symbols ${JSON.stringify(this.symbols.join(''))}, ` +
          `whitespace and ${SPECIAL_TOKEN_NAMES.join(', ')}`,
      );
    }
    return ids;
  }

  /** The error for the first id of `source` that is not a symbol id, if any. */
  protected symbolIdError(source: readonly number[]): string | undefined {
    for (let i = 0; i < source.length; i++) {
      const id = source[i];
      if (!Number.isInteger(id) || id < FIRST_SYMBOL || id >= this.vocabularySize) {
        const special = Number.isInteger(id) && id >= 0 && id < FIRST_SYMBOL ? ` (${SPECIAL_TOKEN_NAMES[id]})` : '';
        return (
          `source[${i}] = ${describeValue(id)}${special} is not a symbol id; ` +
          `expected an integer in [${FIRST_SYMBOL}, ${this.vocabularySize - 1}]`
        );
      }
    }
    return undefined;
  }

  /** The error for a source that is not an array or whose length is outside [minLen, maxLen]. */
  protected lengthError(source: readonly number[], minLen: number, maxLen: number): string | undefined {
    if (!Array.isArray(source)) return `source must be an array of symbol ids, got ${describeValue(source)}`;
    if (source.length < minLen || source.length > maxLen) {
      return `source has length ${source.length}; expected a length in [${minLen}, ${maxLen}]`;
    }
    return undefined;
  }
}

/** copy, reverse and sort: a source of n uniform symbols, n uniform in [minLen, maxLen]. */
class SymbolSequenceTask extends BaseTask {
  constructor(
    private readonly kind: 'copy' | 'reverse' | 'sort',
    numSymbols: number,
    private readonly minLen: number,
    private readonly maxLen: number,
  ) {
    super(
      kind,
      { numSymbols, minLen, maxLen },
      Array.from(SYMBOL_ALPHABET.slice(0, numSymbols)),
      maxLen,
      maxLen + 1, // the target is as long as the source, plus BOS/EOS
    );
  }

  sampleSource(rng: Random): number[] {
    const length = rng.nextInt(this.minLen, this.maxLen);
    const source: number[] = [];
    for (let i = 0; i < length; i++) source.push(rng.nextInt(FIRST_SYMBOL, this.vocabularySize - 1));
    return source;
  }

  sampleLengthBalancedSource(rng: Random): number[] {
    return this.sampleSource(rng);
  }

  protected solveValid(source: readonly number[]): number[] {
    switch (this.kind) {
      case 'copy':
        return source.slice();
      case 'reverse':
        return source.slice().reverse();
      case 'sort':
        return source.slice().sort((x, y) => x - y); // duplicates kept
    }
  }

  protected sourceError(source: readonly number[]): string | undefined {
    return this.lengthError(source, this.minLen, this.maxLen) ?? this.symbolIdError(source);
  }

  protected validSourceProbability(source: readonly number[]): number {
    const numLengths = this.maxLen - this.minLen + 1;
    return 1 / numLengths / Math.pow(this.numSymbols, source.length);
  }
}

/** Digit ids: the digit d has id FIRST_SYMBOL + d; '+' follows the digits. */
const PLUS = FIRST_SYMBOL + 10;

/**
 * addition: "a+b" with a and b uniform in [0, 10^D - 1], written without leading zeros; the
 * target is a+b, most significant digit first. Numbers are handled as digit lists, so any D works.
 */
class AdditionTask extends BaseTask {
  constructor(private readonly digits: number) {
    super(
      'addition',
      { digits },
      [...'0123456789', '+'],
      2 * digits + 1, // D digits, '+', D digits
      digits + 2, // a + b < 2 * 10^D has at most D + 1 digits, plus BOS/EOS
    );
  }

  sampleSource(rng: Random): number[] {
    return [...this.sampleNumber(rng), PLUS, ...this.sampleNumber(rng)];
  }

  sampleLengthBalancedSource(rng: Random): number[] {
    return [...this.sampleNumberOfLength(rng), PLUS, ...this.sampleNumberOfLength(rng)];
  }

  /** A length n uniform in [1, D], then a number uniform among those with n digits (0 counts as 1 digit). */
  private sampleNumberOfLength(rng: Random): number[] {
    const length = rng.nextInt(1, this.digits);
    const digitIds = [FIRST_SYMBOL + rng.nextInt(length === 1 ? 0 : 1, 9)];
    for (let i = 1; i < length; i++) digitIds.push(FIRST_SYMBOL + rng.nextInt(0, 9));
    return digitIds;
  }

  /** D uniform digits make a uniform number in [0, 10^D - 1]; then drop the leading zeros. */
  private sampleNumber(rng: Random): number[] {
    const digitIds: number[] = [];
    for (let i = 0; i < this.digits; i++) digitIds.push(FIRST_SYMBOL + rng.nextInt(0, 9));
    const firstNonZero = digitIds.findIndex((id) => id !== FIRST_SYMBOL);
    return firstNonZero < 0 ? [FIRST_SYMBOL] : digitIds.slice(firstNonZero);
  }

  protected solveValid(source: readonly number[]): number[] {
    const plus = source.indexOf(PLUS);
    // Schoolbook addition from the least significant digit.
    const a = source.slice(0, plus).reverse();
    const b = source.slice(plus + 1).reverse();
    const sum: number[] = [];
    let carry = 0;
    for (let i = 0; i < Math.max(a.length, b.length) || carry > 0; i++) {
      const total = (i < a.length ? a[i] - FIRST_SYMBOL : 0) + (i < b.length ? b[i] - FIRST_SYMBOL : 0) + carry;
      sum.push(FIRST_SYMBOL + (total % 10));
      carry = Math.floor(total / 10);
    }
    return sum.reverse();
  }

  protected sourceError(source: readonly number[]): string | undefined {
    const error = this.lengthError(source, 3, this.maxSourceLength) ?? this.symbolIdError(source);
    if (error !== undefined) return error;
    const text = JSON.stringify(this.tokensToString(source));
    const numPlus = source.filter((id) => id === PLUS).length;
    if (numPlus !== 1) return `source ${text} must contain exactly one '+'; found ${numPlus}`;
    const plus = source.indexOf(PLUS);
    const operands: Array<[string, readonly number[]]> = [
      ['first', source.slice(0, plus)],
      ['second', source.slice(plus + 1)],
    ];
    for (const [which, operand] of operands) {
      const shown = JSON.stringify(this.tokensToString(operand));
      if (operand.length === 0 || operand.length > this.digits) {
        return (
          `the ${which} operand ${shown} of source ${text} has ${operand.length} digits; ` +
          `expected 1 to ${this.digits} (digits = ${this.digits})`
        );
      }
      if (operand.length > 1 && operand[0] === FIRST_SYMBOL) {
        return `the ${which} operand ${shown} of source ${text} has a leading zero; expected none (0 itself is "0")`;
      }
    }
    return undefined;
  }

  protected validSourceProbability(): number {
    return Math.pow(10, -2 * this.digits);
  }
}
