import { describeValue } from '../describe';

const TWO_POW_32 = 0x1_0000_0000;

/** The complete generator state: sfc32's words a, b, c and the counter. */
export type RandomState = readonly [number, number, number, number];

function isUint32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < TWO_POW_32;
}

/**
 * A small seeded pseudo-random generator for the toy tasks, independent of TensorFlow.js so
 * that the same seed gives the same samples in Node and in the browser.
 *
 * The generator is sfc32, Chris Doty-Humphrey's "small fast counting" generator from PractRand
 * (128-bit state), following its reference C code exactly. The four state words are filled from the
 * 32-bit seed by splitmix32, and the first 12 outputs are dropped as PractRand's own seeding does,
 * so that nearby seeds (0, 1, 2, ...) give unrelated streams. The held-out evaluation sets are
 * defined by this generator: changing it changes every task's held-out set.
 *
 * Example:
 * ```ts
 * const rng = new Random(42);
 * const die = rng.nextInt(1, 6); // an integer in [1, 6]
 * const u = rng.nextFloat();     // a float in [0, 1)
 * ```
 */
export class Random {
  private a = 0;
  private b = 0;
  private c = 0;
  private counter = 0;

  /** @param seed an integer in [0, 2^32 - 1]. */
  constructor(seed: number) {
    if (!isUint32(seed)) {
      throw new Error(`Random: seed must be an integer in [0, 4294967295], got ${describeValue(seed)}`);
    }
    // splitmix32 (Steele, Lea & Flood 2014, 32-bit variant) spreads the seed over the state.
    let s = seed;
    const splitmix32 = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = splitmix32();
    this.b = splitmix32();
    this.c = splitmix32();
    this.counter = splitmix32();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** A uniform integer in [0, 2^32 - 1]. */
  nextUint32(): number {
    // PractRand sfc32: tmp = a + b + counter++; a = b ^ (b >> 9); b = c + (c << 3);
    // c = rotl(c, 21) + tmp; return tmp.
    const t = (this.a + this.b + this.counter) >>> 0;
    this.counter = (this.counter + 1) >>> 0;
    this.a = (this.b ^ (this.b >>> 9)) >>> 0;
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = (((this.c << 21) | (this.c >>> 11)) + t) >>> 0;
    return t;
  }

  /** A uniform float in [0, 1), with 32 random bits. */
  nextFloat(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /**
   * A uniform integer in [minInclusive, maxInclusive]; the range may hold at most 2^32 values.
   * Rejection sampling keeps it exactly uniform (no modulo bias).
   */
  nextInt(minInclusive: number, maxInclusive: number): number {
    if (!Number.isSafeInteger(minInclusive)) {
      throw new Error(`Random.nextInt: minInclusive must be a safe integer, got ${describeValue(minInclusive)}`);
    }
    if (!Number.isSafeInteger(maxInclusive) || maxInclusive < minInclusive) {
      throw new Error(
        `Random.nextInt: maxInclusive must be an integer >= minInclusive (${minInclusive}), ` +
          `got ${describeValue(maxInclusive)}`,
      );
    }
    const n = maxInclusive - minInclusive + 1;
    if (n > TWO_POW_32) {
      throw new Error(
        `Random.nextInt: the range [${minInclusive}, ${maxInclusive}] holds ${n} values; ` +
          `expected at most 4294967296`,
      );
    }
    if (n === TWO_POW_32) return minInclusive + this.nextUint32();
    // Accept only draws below the largest multiple of n, so every residue is equally likely.
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return minInclusive + (x % n);
  }

  /** The state, to resume the exact same stream later with `setState` (e.g. from a checkpoint). */
  getState(): RandomState {
    return [this.a, this.b, this.c, this.counter];
  }

  /** Continues from a state `getState` returned. */
  setState(state: RandomState): void {
    if (!Array.isArray(state) || state.length !== 4 || !state.every(isUint32)) {
      throw new Error(
        `Random.setState: state must be 4 integers in [0, 4294967295] (from getState), got ` +
          `${Array.isArray(state) ? `[${state.map(describeValue).join(', ')}]` : describeValue(state)}`,
      );
    }
    [this.a, this.b, this.c, this.counter] = state;
  }
}
