// Optional native GEMM (OpenBLAS) for the wasm backend's matMul and convolution kernels (wasm-kernels.ts).
// WASM SIMD is 128 bits wide: XNNPACK's matMul tops out near 30 GFLOP/s a thread here, while OpenBLAS
// uses the CPU's full vector width. The addon (native/blas) reads and writes the wasm heap in place,
// so nothing is copied. It is built by `npm ci` when OpenBLAS is installed (libopenblas-dev); without
// it, or with GLOW_BLAS=off, everything runs in WASM as before.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export interface Blas {
  /** c[M,N] (+)= op(a)·op(b), row-major; op(a) is [M,K] (a stored [K,M] when transA), op(b) is [K,N] (b stored [N,K] when transB). */
  gemm(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    M: number,
    N: number,
    K: number,
    transA: boolean,
    transB: boolean,
    accumulate: boolean,
  ): void;
  /** c[M,N] = a[M,K]·b[K,N] in double precision, row-major (absent from an addon built before it). */
  dgemm?(a: Float64Array, b: Float64Array, c: Float64Array, M: number, N: number, K: number): void;
  setThreads(n: number): void;
  config(): string;
}

export const ADDON = path.resolve(import.meta.dirname, '../../native/blas/build/Release/glow_blas.node');

let loaded: Blas | null | undefined;

/** The addon, or undefined when GLOW_BLAS=off or it is not built. GLOW_BLAS=on makes its absence an error. */
export function nativeBlas(): Blas | undefined {
  if (loaded !== undefined) return loaded ?? undefined;
  const mode = process.env.GLOW_BLAS ?? 'auto';
  if (!['auto', 'on', 'off'].includes(mode)) throw new Error(`GLOW_BLAS must be auto, on or off, not "${mode}"`);
  loaded = null;
  if (mode === 'off') return undefined;
  if (!existsSync(ADDON)) {
    if (mode === 'on')
      throw new Error(`GLOW_BLAS=on but ${ADDON} is not built: apt-get install libopenblas-dev, then npm run build:native`);
    return undefined;
  }
  try {
    loaded = createRequire(import.meta.url)(ADDON) as Blas;
  } catch (err) {
    if (mode === 'on') throw err;
    return undefined; // built against a library that is gone: WASM it is
  }
  return loaded;
}
