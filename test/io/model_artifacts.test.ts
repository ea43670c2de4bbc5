/**
 * The non-finite count every loader runs over the weights (src/io/model_artifacts.ts): its fast
 * path (four running sums of x * 0) must see a NaN or an infinity wherever it is, the tail past the
 * last whole group of four included, and count exactly.
 */
import { countNonFinite } from '../../src/io/model_artifacts';

describe('countNonFinite', () => {
  const finite = () => Float32Array.from({ length: 11 }, (_v, i) => (i % 2 ? -1 : 1) * 3.4e38 * (i / 11));

  it('is 0 for finite values, ±0 and the largest float32 among them', () => {
    const values = finite();
    values[0] = -0;
    values[1] = 3.4028234663852886e38;
    values[2] = -3.4028234663852886e38;
    expect(countNonFinite(values)).toBe(0);
    expect(countNonFinite(new Float32Array(0))).toBe(0);
  });

  it.each([NaN, Infinity, -Infinity])('finds %s at every position (each of the four sums and the tail)', (bad) => {
    for (let at = 0; at < 11; at++) {
      const values = finite();
      values[at] = bad;
      expect([at, countNonFinite(values)]).toEqual([at, 1]);
    }
  });

  it('counts every one, of any kind', () => {
    const values = finite();
    values[1] = NaN;
    values[6] = Infinity;
    values[10] = -Infinity;
    expect(countNonFinite(values)).toBe(3);
  });
});
