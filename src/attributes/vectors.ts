// Latent arithmetic for attribute directions, interpolation and edits. Plain typed-array math: at
// 784–12k dimensions this is microseconds and keeps TF.js off the HTTP thread. Latents are float64
// arrays; those of float32 values are decoded on the engine, the others (from the precise path) in
// float64 (inference/engines.ts), so arithmetic on float32 latents gives float32 values again.
// Directions are float32.

type Vector = Float32Array | Float64Array;

/** Whether every value is a float32 (NaN counts as one). */
export function isFloat32(latent: ArrayLike<number>): boolean {
  for (let i = 0; i < latent.length; i++) if (Math.fround(latent[i]) !== latent[i] && !Number.isNaN(latent[i])) return false;
  return true;
}

/** v itself, or rounded to float32 where `float32` says the latent it came from was. */
function keepPrecision(v: Float64Array, float32: boolean): Float64Array {
  if (float32) for (let i = 0; i < v.length; i++) v[i] = Math.fround(v[i]);
  return v;
}

/** Element-wise mean of equally long vectors. Accumulates in float64 for large sets. */
export function mean(vectors: Vector[]): Float32Array {
  if (vectors.length === 0) throw new Error('mean of an empty set');
  const d = vectors[0].length;
  const acc = new Float64Array(d);
  for (const v of vectors) {
    if (v.length !== d) throw new Error(`vector of length ${v.length} in a set of length ${d}`);
    for (let i = 0; i < d; i++) acc[i] += v[i];
  }
  const out = new Float32Array(d);
  for (let i = 0; i < d; i++) out[i] = acc[i] / vectors.length;
  return out;
}

/** Direction = mean ε(positive) − mean ε(negative) (Glow paper, §5.2). */
export function direction(positive: Vector[], negative: Vector[]): Float32Array {
  const p = mean(positive);
  const n = mean(negative);
  for (let i = 0; i < p.length; i++) p[i] -= n[i];
  return p;
}

export function norm(v: Vector): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** ε + Σ αᵢ·dᵢ, as a new vector. */
export function addScaled(eps: Float64Array, terms: { alpha: number; vector: Vector }[]): Float64Array {
  const out = new Float64Array(eps);
  for (const { alpha, vector } of terms) {
    if (vector.length !== out.length) throw new Error(`direction of length ${vector.length} for a latent of length ${out.length}`);
    for (let i = 0; i < out.length; i++) out[i] += alpha * vector[i];
  }
  return keepPrecision(out, isFloat32(eps));
}

/** `steps` evenly spaced points from a to b inclusive (linear in ε). */
export function lerpSteps(a: Float64Array, b: Float64Array, steps: number): Float64Array[] {
  const out: Float64Array[] = [];
  const float32 = isFloat32(a) && isFloat32(b);
  for (let s = 0; s < steps; s++) {
    const w = steps === 1 ? 0 : s / (steps - 1);
    const v = new Float64Array(a.length);
    for (let i = 0; i < a.length; i++) v[i] = (1 - w) * a[i] + w * b[i];
    out.push(keepPrecision(v, float32));
  }
  return out;
}

/** `steps` evenly spaced values in [lo, hi]; with an odd count the middle one is exactly (lo+hi)/2. */
export function linspace(lo: number, hi: number, steps: number): number[] {
  if (steps === 1) return [(lo + hi) / 2];
  return Array.from({ length: steps }, (_, i) => {
    // Symmetric formula so that linspace(-a, a, odd)[mid] is exactly 0, not 1e-17.
    const w = i / (steps - 1);
    return lo * (1 - w) + hi * w;
  });
}
