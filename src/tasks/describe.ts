/** Shows a user-supplied value in an error message, so that `"10"` and `10` read differently. */
export function describeValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string') return `${JSON.stringify(value)} (string)`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (value === null) return 'null';
  return `${String(value)} (${typeof value})`;
}
