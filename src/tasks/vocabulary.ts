/**
 * The shared token ids of every toy task (README, "Toy tasks"): three special tokens,
 * then the task's V symbols from id 3 on. Every task uses the same special ids so that the
 * model, the losses and the decoder never need to know which task they run.
 */

/** Padding: never a target, never attended to. */
export const PAD = 0;
/** Begin of sequence: the first decoder input. */
export const BOS = 1;
/** End of sequence: ends every target. */
export const EOS = 2;
/** Id of the first task symbol; symbol i (0-based) has id `FIRST_SYMBOL + i`. */
export const FIRST_SYMBOL = 3;
/** Number of special tokens, equal to `FIRST_SYMBOL`. */
export const NUM_SPECIAL_TOKENS = FIRST_SYMBOL;

/** Display names of the special tokens, indexed by id. */
export const SPECIAL_TOKEN_NAMES: readonly string[] = ['<pad>', '<bos>', '<eos>'];

/**
 * Display characters for the symbols of copy, reverse and sort: digits, then upper-case, then
 * lower-case letters. This is ASCII order, so sorting the displayed characters agrees with
 * sorting the ids, and the first ten symbols read as the digits of the README's worked examples ("Toy tasks").
 */
export const SYMBOL_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Largest number of symbols a copy, reverse or sort task can have (one character each). */
export const MAX_NUM_SYMBOLS = SYMBOL_ALPHABET.length;
