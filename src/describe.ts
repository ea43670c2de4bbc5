/**
 * How an error message shows a value it got, the same way in every message of the library:
 * strings quoted ('10', so that they read differently from the number 10) and cut at 200
 * characters (a value may come from a crafted file), numbers as written (JSON would print NaN and
 * Infinity as null), `undefined (missing)`, anything else as JSON cut at 60 characters (with an
 * array's length when it is cut).
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    return value.length <= 200 ? `'${value}'` : `'${value.slice(0, 200)}…' (${value.length} characters)`;
  }
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

/** `text` safe inside XML or HTML character data and double-quoted attribute values (the SVG plots). */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
