import { describeValue } from '../describe';

/**
 * A character tokenizer for small text corpora: the vocabulary is the corpus's distinct
 * characters, id 0 is padding (what an embedding's `maskZero` masks) and the characters take ids
 * 1..N in code-point order, so the same corpus always gives the same ids. Plain TypeScript, for
 * Node and the browser.
 *
 * ```ts
 * const tokenizer = CharTokenizer.fromText('to be or not to be');
 * const ids = tokenizer.encode('to be'); // [6, 5, 1, 2, 3]
 * tokenizer.decode(ids); // 'to be'
 * ```
 */
export class CharTokenizer {
  /** The characters, id i + 1 for characters[i]. */
  readonly characters: readonly string[];
  private readonly ids: Map<string, number>;

  constructor(characters: readonly string[]) {
    if (!Array.isArray(characters) || characters.length === 0) {
      throw new Error(`CharTokenizer: characters must be a non-empty array, got ${describeValue(characters)}`);
    }
    this.characters = [...characters];
    this.ids = new Map(this.characters.map((c, i) => [c, i + 1]));
    if (this.ids.size !== this.characters.length || this.characters.some((c) => [...c].length !== 1)) {
      throw new Error(`CharTokenizer: characters must be distinct single characters, got ${describeValue(characters)}`);
    }
  }

  /** The tokenizer of `text`'s distinct characters (by code point, so surrogate pairs stay whole). */
  static fromText(text: string): CharTokenizer {
    if (typeof text !== 'string' || text.length === 0) {
      throw new Error(`CharTokenizer.fromText: text must be a non-empty string, got ${describeValue(text)}`);
    }
    return new CharTokenizer([...new Set(text)].sort());
  }

  /** Ids 0..N: padding and the N characters; an embedding's `inputDim` / `vocabularySize`. */
  get vocabularySize(): number {
    return this.characters.length + 1;
  }

  /** Text to ids; an error names a character outside the vocabulary. */
  encode(text: string): number[] {
    return [...text].map((c, i) => {
      const id = this.ids.get(c);
      if (id == null)
        throw new Error(`CharTokenizer.encode: character ${JSON.stringify(c)} at ${i} is not in the vocabulary`);
      return id;
    });
  }

  /** Ids to text; padding (0) is skipped, and an id outside the vocabulary is an error. */
  decode(ids: readonly number[]): string {
    return ids
      .map((id, i) => {
        if (id === 0) return '';
        const c = this.characters[id - 1];
        if (c == null || !Number.isInteger(id)) {
          throw new Error(
            `CharTokenizer.decode: ids[${i}] is ${describeValue(id)}; expected 0 to ${this.characters.length}`,
          );
        }
        return c;
      })
      .join('');
  }
}
