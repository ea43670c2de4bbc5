/** Gradient clipping by global norm (src/train/clip.ts), the rule the Trainer applies each step. */
import { clipScale, globalNorm } from '../../src/train/clip';

describe('clipping by global norm', () => {
  // Global norm of [3, 4] and [12] = sqrt(9 + 16 + 144) = 13.
  const gradients = () => [Float32Array.from([3, 4]), Float32Array.from([12])];

  it('measures the L2 norm of all gradients together', () => {
    expect(globalNorm(gradients())).toBeCloseTo(13, 6);
    expect(globalNorm([])).toBe(0);
  });

  it('scales gradients above the limit to exactly the limit, keeping their direction', () => {
    const scale = clipScale(globalNorm(gradients()), 6.5);
    expect(scale).toBeCloseTo(0.5, 6);
    const clipped = gradients().map((g) => g.map((v) => v * scale));
    expect(Array.from(clipped[0])).toEqual([expect.closeTo(1.5, 5), expect.closeTo(2, 5)]);
    expect(globalNorm(clipped)).toBeCloseTo(6.5, 4);
  });

  it('leaves gradients within the limit (and all-zero ones) unchanged', () => {
    expect(clipScale(13, 20)).toBe(1);
    expect(clipScale(0, 1)).toBe(1);
  });

  it('rejects a non-positive limit', () => {
    expect(() => clipScale(1, 0)).toThrow('clipScale: maxNorm must be a positive number, got 0');
  });
});
