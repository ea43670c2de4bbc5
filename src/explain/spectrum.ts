/**
 * The OV circuit of an attention head (Elhage et al. 2021, "A Mathematical Framework for
 * Transformer Circuits"; TransformerLens's `OV`): W_V^h W_O^h, the (Dv, Dout) matrix that maps what
 * a key position holds to what the head adds to the output for it. Its singular values say how
 * many directions of the input a head's value matrix can carry, and how strongly; the effective
 * rank (Roy & Vetterli 2007, "The effective rank: a measure of effective dimensionality") sums
 * that up in one number between 1 and V (the head's value size; 0 for an all-zero matrix).
 *
 * The singular values are computed in float64 plain code, by one-sided Jacobi rotations (Hestenes
 * 1958), which are accurate for small matrices down to the smallest singular values (a Gram
 * matrix's eigenvalues would square the condition number). The product W_V^h W_O^h has rank at
 * most V, so it is never formed: Jacobi on W_V^h (Dv, V) gives W_V^h = U diag(s) R^T with U's
 * columns orthonormal, hence W_V^h W_O^h = U (diag(s) R^T W_O^h), whose singular values are those
 * of the (V, Dout) factor in brackets: Jacobi on it gives them.
 */
import type { MultiHeadAttention } from '../layers/multi_head_attention';

/** A head's OV spectrum. */
export interface OvSpectrum {
  /** Singular values of W_V^h W_O^h, largest first: V of them (V the head's value size). */
  singularValues: number[];
  /** exp of the entropy of the singular values divided by their sum: in [1, V], 0 when all are 0. */
  effectiveRank: number;
}

/** Sweeps after which Jacobi stops even if not converged (it converges in well under 20 for these sizes). */
const MAX_SWEEPS = 60;

/**
 * One-sided Jacobi on the columns of `a` (rows x columns, row-major, float64), in place: rotates
 * pairs of columns until every pair is orthogonal to working precision, accumulating the
 * rotations in `r` (columns x columns, starts as the identity) when given. Afterwards a's
 * column lengths are its singular values and a_in = a_out r^T.
 */
function orthogonalizeColumns(a: Float64Array, rows: number, columns: number, r?: Float64Array): void {
  const dot = (p: number, q: number) => {
    let sum = 0;
    for (let i = 0; i < rows; i++) sum += a[i * columns + p] * a[i * columns + q];
    return sum;
  };
  const rotate = (m: Float64Array, length: number, p: number, q: number, c: number, s: number) => {
    for (let i = 0; i < length; i++) {
      const x = m[i * columns + p];
      const y = m[i * columns + q];
      m[i * columns + p] = c * x - s * y;
      m[i * columns + q] = s * x + c * y;
    }
  };
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let rotated = false;
    for (let p = 0; p < columns - 1; p++) {
      for (let q = p + 1; q < columns; q++) {
        const alpha = dot(p, p);
        const beta = dot(q, q);
        const gamma = dot(p, q);
        if (Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta) || gamma === 0) continue;
        rotated = true;
        // The rotation that zeroes the pair's inner product (Golub & Van Loan, Algorithm 8.6.1 applied to a^T a).
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        rotate(a, rows, p, q, c, s);
        if (r) rotate(r, columns, p, q, c, s);
      }
    }
    if (!rotated) return;
  }
}

/**
 * Singular values of the product a b, largest first, for a (m, k) and b (k, n) row-major with k
 * small (see the file comment): min(m, k, n) values.
 */
export function productSingularValues(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  m: number,
  k: number,
  n: number,
): number[] {
  if (a.length !== m * k || b.length !== k * n) {
    throw new Error(
      `productSingularValues: a must hold ${m}x${k} and b ${k}x${n} numbers, got ${a.length} and ${b.length}`,
    );
  }
  // 1. a = U diag(s) r^T: Jacobi on a's k columns, rotations in r (k, k).
  const u = Float64Array.from(a);
  const r = new Float64Array(k * k);
  for (let i = 0; i < k; i++) r[i * k + i] = 1;
  orthogonalizeColumns(u, m, k, r);
  const s = Array.from({ length: k }, (_x, j) => {
    let sum = 0;
    for (let i = 0; i < m; i++) sum += u[i * k + j] ** 2;
    return Math.sqrt(sum);
  });
  // 2. c = diag(s) r^T b, (k, n); stored transposed, (n, k), so that Jacobi works on its k columns.
  const ct = new Float64Array(n * k);
  for (let j = 0; j < k; j++) {
    for (let col = 0; col < n; col++) {
      let sum = 0;
      for (let i = 0; i < k; i++) sum += r[i * k + j] * b[i * n + col];
      ct[col * k + j] = s[j] * sum;
    }
  }
  orthogonalizeColumns(ct, n, k);
  const values = Array.from({ length: k }, (_x, j) => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += ct[i * k + j] ** 2;
    return Math.sqrt(sum);
  });
  return values.sort((x, y) => y - x).slice(0, Math.min(m, k, n));
}

/** exp(entropy of p), p = values / sum(values): Roy & Vetterli's effective rank; 0 when every value is 0. */
export function effectiveRank(values: readonly number[]): number {
  const total = values.reduce((sum, v) => sum + v, 0);
  if (!(total > 0)) return 0;
  const entropy = values.reduce((sum, v) => (v > 0 ? sum - (v / total) * Math.log(v / total) : sum), 0);
  return Math.exp(entropy);
}

/**
 * The OV spectrum of every head of a built MultiHeadAttention, from its value kernel [Dv, H, V]
 * and output kernel [H, V, Dout] (the biases move every output alike and are left out, as in
 * TransformerLens's OV).
 */
export function ovSpectra(attention: MultiHeadAttention): OvSpectrum[] {
  if (attention.valueDense?.kernel == null || attention.outputDense?.kernel == null) {
    throw new Error(`ovSpectra: MultiHeadAttention '${attention.name}' is not built; apply it once first`);
  }
  const value = attention.valueDense.kernel.read();
  const output = attention.outputDense.kernel.read();
  const [dv, heads, v] = value.shape as number[];
  const dout = output.shape[2] as number;
  const valueData = value.dataSync();
  const outputData = output.dataSync();
  return Array.from({ length: heads }, (_x, h) => {
    // W_V^h: [Dv, H, V] at head h -> (Dv, V); W_O^h: [H, V, Dout] at head h -> (V, Dout).
    const wv = new Float64Array(dv * v);
    for (let i = 0; i < dv; i++) for (let j = 0; j < v; j++) wv[i * v + j] = valueData[(i * heads + h) * v + j];
    const wo = outputData.subarray(h * v * dout, (h + 1) * v * dout);
    const singularValues = productSingularValues(wv, wo, dv, v, dout);
    return { singularValues, effectiveRank: effectiveRank(singularValues) };
  });
}
