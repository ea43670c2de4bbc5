/**
 * How an error message shows a value it got, the same way in every message of the library:
 * strings quoted ('10', so that they read differently from the number 10), numbers as written
 * (JSON would print NaN and Infinity as null), `undefined (missing)`, anything else as JSON cut
 * at 60 characters (with an array's length when it is cut).
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (value === undefined) return 'undefined (missing)';
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text === undefined) return String(value);
  if (text.length <= 60) return text;
  return Array.isArray(value) ? `an array of length ${value.length}` : `${text.slice(0, 57)}...`;
}

/** Edit distance (Levenshtein) between two names, for "did you mean" suggestions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_x, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** The known name closest to `name` (case-insensitive edit distance), if any is close enough to suggest. */
export function nearestName(name: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best != null && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : null;
}

/**
 * Throws on a key of `options` that is not in `known`, as Keras refuses unknown keyword
 * arguments: "generate: unknown option 'topk'; did you mean 'topK'?".
 */
export function rejectUnknownOptions(where: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const nearest = nearestName(key, known);
    const hint = nearest ? `did you mean '${nearest}'?` : `known options: ${known.join(', ')}`;
    throw new Error(`${where}: unknown option '${key}'; ${hint}`);
  }
}
