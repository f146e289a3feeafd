// Small dense float64 linear algebra for the 1×1 convolution: TF.js has no matrix inverse,
// LU or QR, and the channel counts here are tiny (4–48), so plain JS is exact and instant.
// Matrices are row-major Float64Array of size n*n.

export function identity(n: number): Float64Array {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  return m;
}

export function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      for (let j = 0; j < n; j++) out[i * n + j] += aik * b[k * n + j];
    }
  return out;
}

/** Orthogonal Q of the QR decomposition (modified Gram–Schmidt on the columns). */
export function orthogonalFrom(a: Float64Array, n: number): Float64Array {
  const q = Float64Array.from(a);
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < j; k++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += q[i * n + j] * q[i * n + k];
      for (let i = 0; i < n; i++) q[i * n + j] -= dot * q[i * n + k];
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += q[i * n + j] ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < n; i++) q[i * n + j] /= norm;
  }
  return q;
}

/** LU with partial pivoting: a = P·L·U, L unit lower triangular, U upper triangular. */
export function luDecompose(a: Float64Array, n: number): { p: Float64Array; l: Float64Array; u: Float64Array } {
  const u = Float64Array.from(a);
  const l = identity(n);
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let k = 0; k < n; k++) {
    let pivot = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(u[i * n + k]) > Math.abs(u[pivot * n + k])) pivot = i;
    if (pivot !== k) {
      for (let j = 0; j < n; j++) [u[k * n + j], u[pivot * n + j]] = [u[pivot * n + j], u[k * n + j]];
      for (let j = 0; j < k; j++) [l[k * n + j], l[pivot * n + j]] = [l[pivot * n + j], l[k * n + j]];
      [perm[k], perm[pivot]] = [perm[pivot], perm[k]];
    }
    for (let i = k + 1; i < n; i++) {
      const f = u[i * n + k] / u[k * n + k];
      l[i * n + k] = f;
      for (let j = k; j < n; j++) u[i * n + j] -= f * u[k * n + j];
    }
  }
  // Rows were permuted: (perm-applied a) = L·U, so a = Pᵀ... written as P with P[perm[i], i] = 1.
  const p = new Float64Array(n * n);
  for (let i = 0; i < n; i++) p[perm[i] * n + i] = 1;
  return { p, l, u };
}

/** Inverse by Gauss–Jordan elimination with partial pivoting. */
export function invert(a: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a);
  const inv = identity(n);
  for (let k = 0; k < n; k++) {
    let pivot = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(m[i * n + k]) > Math.abs(m[pivot * n + k])) pivot = i;
    if (m[pivot * n + k] === 0) throw new Error('matrix is singular');
    if (pivot !== k)
      for (let j = 0; j < n; j++) {
        [m[k * n + j], m[pivot * n + j]] = [m[pivot * n + j], m[k * n + j]];
        [inv[k * n + j], inv[pivot * n + j]] = [inv[pivot * n + j], inv[k * n + j]];
      }
    const d = m[k * n + k];
    for (let j = 0; j < n; j++) {
      m[k * n + j] /= d;
      inv[k * n + j] /= d;
    }
    for (let i = 0; i < n; i++) {
      if (i === k) continue;
      const f = m[i * n + k];
      if (f === 0) continue;
      for (let j = 0; j < n; j++) {
        m[i * n + j] -= f * m[k * n + j];
        inv[i * n + j] -= f * inv[k * n + j];
      }
    }
  }
  return inv;
}
