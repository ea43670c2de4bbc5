/**
 * `CharTokenizer`: ids 1..N for a corpus's distinct characters in code-point order (the same corpus
 * in any order gives the same ids), 0 for padding, and errors that name the character or the id.
 */
import { CharTokenizer } from '../../src/tasks/char_tokenizer';

describe('CharTokenizer', () => {
  it('numbers the distinct characters 1..N in code-point order, whatever order the text has', () => {
    const a = CharTokenizer.fromText('to be or not to be');
    expect(a.characters).toEqual([' ', 'b', 'e', 'n', 'o', 'r', 't']);
    expect(a.vocabularySize).toBe(8); // 7 characters and padding
    expect(a.encode('to be')).toEqual([7, 5, 1, 2, 3]);
    expect(CharTokenizer.fromText('eb ot ton ro eb ot').characters).toEqual(a.characters);
    // Code points, so a character outside the basic plane is one character with one id.
    const emoji = CharTokenizer.fromText('a😀b');
    expect(emoji.characters).toEqual(['a', 'b', '😀']);
    expect(emoji.encode('😀a')).toEqual([3, 1]);
  });

  it('decodes ids back to text, skipping padding (0)', () => {
    const t = CharTokenizer.fromText('hello, world');
    const ids = t.encode('hold row, dew');
    expect(t.decode(ids)).toBe('hold row, dew');
    expect(t.decode([0, ...t.encode('he'), 0, 0, ...t.encode('ll'), 0])).toBe('hell');
  });

  it('names an unknown character, an id outside the vocabulary and bad arguments', () => {
    const t = CharTokenizer.fromText('abc');
    expect(() => t.encode('abd')).toThrow('CharTokenizer.encode: character "d" at 2 is not in the vocabulary');
    for (const id of [4, -1, 1.5, '1']) {
      expect(() => t.decode([1, id as number])).toThrow(
        `CharTokenizer.decode: ids[1] is ${typeof id === 'string' ? `'1'` : id}; expected 0 to 3`,
      );
    }
    expect(() => new CharTokenizer(['a', 'a'])).toThrow('CharTokenizer: characters must be distinct single characters');
    expect(() => new CharTokenizer(['ab'])).toThrow('CharTokenizer: characters must be distinct single characters');
    expect(() => CharTokenizer.fromText('')).toThrow('CharTokenizer.fromText: text must be a non-empty string');
  });
});
