/**
 * Unknown options are errors, as in Keras (a layer refuses an unknown keyword argument): every
 * options object the library takes is checked against the names it knows, and the error names the
 * unknown key and the nearest known one (`useCausalMask` -> `causal`, `casual` -> `causal`,
 * `num_heads` -> `numHeads`). The command lines use the same rule for their flags (src/train/options.ts).
 */

/**
 * The names of the options type `T`, as a list the code can check against. The object literal
 * must have exactly T's keys, so the compiler keeps the list in step with the type:
 * `optionNames<DecodeOptions>({maxLength: true, beamWidth: true, ...})`.
 */
export function optionNames<T>(names: { readonly [K in keyof Required<T>]: true }): readonly string[] {
  return Object.keys(names);
}

/**
 * Throws when `options` has a key that is not in `known` (a key whose value is `undefined` counts
 * as absent, as it does for defaults): `${owner}: unknown option 'casual' (did you mean 'causal'?)`.
 * Anything but a plain object is left to the caller's own checks.
 */
export function checkOptionNames(owner: string, options: unknown, known: readonly string[]): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) return;
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined && !known.includes(key)) {
      throw new Error(`${owner}: ${unknownNameMessage('option', key, known)}`);
    }
  }
}

/**
 * `unknown option 'casual' (did you mean 'causal'?)`; with no near name,
 * `unknown option 'x'; known options: 'a', 'b'` (or just `unknown option 'x'` when `listKnown` is
 * false: a command line points to its --help instead). `quote` shows a name (`--task` for a flag).
 */
export function unknownNameMessage(
  what: string,
  name: string,
  known: readonly string[],
  { quote = (n: string) => `'${n}'`, listKnown = true }: { quote?: (name: string) => string; listKnown?: boolean } = {},
): string {
  const nearest = nearestName(name, known);
  if (nearest !== undefined) return `unknown ${what} ${quote(name)} (did you mean ${quote(nearest)}?)`;
  return `unknown ${what} ${quote(name)}` + (listKnown ? `; known ${what}s: ${known.map(quote).join(', ')}` : '');
}

/**
 * The known name a mistyped `name` most likely meant, or undefined when none is near. Names are
 * compared in lower case without `_` and `-` (so Keras's snake_case finds our camelCase). The
 * nearest is the one at the smallest edit distance (insertions, deletions, substitutions and swaps
 * of two neighbours: `casual` -> `causal`) if that is at most a third of the longer name (at least
 * 1); else the longest known name of 4 letters or more that is part of the other or the other
 * part of it (`useCausalMask` -> `causal`), or whose letters appear in order in the other's (or the
 * other's in it) with at least half as many (`vocabSize` -> `vocabularySize`).
 */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  const plain = (text: string) => text.toLowerCase().replace(/[-_]/g, '');
  const wanted = plain(name);
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const other = plain(candidate);
    const distance = editDistance(wanted, other);
    const limit = Math.max(1, Math.floor(Math.max(wanted.length, other.length) / 3));
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { name: candidate, distance };
  }
  if (best !== undefined) return best.name;
  let within: string | undefined;
  for (const candidate of known) {
    const other = plain(candidate);
    const [shorter, longer] = other.length <= wanted.length ? [other, wanted] : [wanted, other];
    if (shorter.length < 4) continue;
    if (!longer.includes(shorter) && !(2 * shorter.length >= longer.length && isSubsequence(shorter, longer))) continue;
    if (within === undefined || candidate.length > within.length) within = candidate;
  }
  return within;
}

/** Whether the letters of `short` appear in `long` in the same order. */
function isSubsequence(short: string, long: string): boolean {
  let i = 0;
  for (const letter of long) if (letter === short[i]) i++;
  return i === short.length;
}

/** Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function editDistance(a: string, b: string): number {
  // rows[i][j]: the distance between a's first i and b's first j characters.
  const rows = Array.from({ length: a.length + 1 }, (_r, i) =>
    Array.from({ length: b.length + 1 }, (_c, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      rows[i][j] = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        rows[i][j] = Math.min(rows[i][j], rows[i - 2][j - 2] + 1);
    }
  }
  return rows[a.length][b.length];
}
