// Kernel replacements for the TF.js 'wasm' backend, so that training a conv net there is possible and fast.
//
// The stock wasm backend has no Conv2DBackpropFilter, and its transposed BatchMatMul, Conv2DBackpropInput and
// strided Slice/SplitV/Concat run 10-40x below the plain (XNNPACK) matMul rate. Each replacement below reduces the
// op to the fast kernels (plain BatchMatMul, forward Conv2D, Transpose) plus short JS loops over the wasm heap.
// Unsupported cases fall through to the original kernel, captured with tf.getKernel before replacing it.
//
// With the optional native GEMM (native-blas.ts, OpenBLAS; wasmKernelOptions.blas), every matMul and convolution
// here becomes one sgemm on the wasm heap in place (convolutions through im2col), transposes included.
//
// Heap pitfall: any allocation (makeOutput, or calling a kernel) may grow the wasm memory and detach every
// Float32Array view taken before it, so views are always taken after the last allocation they must survive.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { Blas } from './native-blas.ts';

type TensorInfo = tf.TensorInfo;
type Attrs = Record<string, unknown>;
type KernelArgs = { inputs: Record<string, TensorInfo>; backend: BackendWasm; attrs: Attrs };
type KernelFn = (args: KernelArgs) => TensorInfo | TensorInfo[];

const BACKEND = 'wasm';
const REPLACED = ['Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'BatchMatMul', 'Slice', 'SplitV', 'Concat', 'Sum'] as const;
const MARK = Symbol.for('glow.wasmKernel');
/** Original kernel configs (undefined where wasm has none), captured on the first registration; kept on globalThis
 * like the kernel registry itself, so that a second copy of this module still finds them. */
const globalStore = globalThis as { [MARK]?: Map<string, tf.KernelConfig | undefined> };
const originals = (globalStore[MARK] ??= new Map());

/**
 * Tunables, exported for tests. kChunk / kChunkMinMN: products with K ≥ 2·kChunk and M·N ≥ kChunkMinMN are cut into
 * K-chunks (see matMulLongK). im2colMaxFloats bounds one im2col buffer. filterGrad / inputGrad force a strategy.
 */
export const wasmKernelOptions = {
  kChunk: 2048,
  kChunkMinMN: 128 * 128,
  im2colMaxFloats: 48 * 1024 * 1024,
  filterGrad: 'auto' as 'auto' | 'im2col' | 'conv',
  inputGrad: 'auto' as 'auto' | 'conv' | 'col2im',
  /** With the native GEMM: expand the input side (im2col) or the output side of a conv; auto = the side with fewer channels. */
  convSide: 'auto' as 'auto' | 'input' | 'output',
  /** The native GEMM, when loaded (backend.ts sets it); undefined = everything in WASM. */
  blas: undefined as Blas | undefined,
};

/** Registers the replacement kernels for the 'wasm' backend. Idempotent. Call after importing the wasm backend. */
export function registerWasmKernels(): void {
  if ((tf.getKernel('BatchMatMul', BACKEND) as unknown as Record<symbol, unknown> | undefined)?.[MARK]) return;
  if (!tf.getKernel('Conv2D', BACKEND)) throw new Error('registerWasmKernels: the wasm backend is not loaded');
  for (const name of REPLACED) if (!originals.has(name)) originals.set(name, tf.getKernel(name, BACKEND));
  const mine: Record<(typeof REPLACED)[number], KernelFn> = {
    Conv2D: conv2D,
    Conv2DBackpropFilter: conv2DBackpropFilter,
    Conv2DBackpropInput: conv2DBackpropInput,
    BatchMatMul: batchMatMul,
    Slice: slice,
    SplitV: splitV,
    Concat: concat,
    Sum: sum,
  };
  for (const name of REPLACED) {
    const orig = originals.get(name);
    if (orig) tf.unregisterKernel(name, BACKEND);
    // Keep the original setupFunc: it binds the C++ entry points we call through orig.kernelFunc.
    tf.registerKernel({
      kernelName: name,
      backendName: BACKEND,
      setupFunc: orig?.setupFunc,
      kernelFunc: mine[name] as unknown as tf.KernelFunc,
      [MARK]: true,
    } as tf.KernelConfig);
  }
}

/** Puts the stock wasm kernels back (for benchmarks and tests). */
export function restoreWasmKernels(): void {
  if (!(tf.getKernel('BatchMatMul', BACKEND) as unknown as Record<symbol, unknown> | undefined)?.[MARK]) return;
  for (const name of REPLACED) {
    tf.unregisterKernel(name, BACKEND);
    const orig = originals.get(name);
    if (orig) tf.registerKernel(orig);
  }
}

function orig(name: string): KernelFn {
  const k = originals.get(name);
  if (!k) throw new Error(`wasm kernel ${name} is not available`);
  return k.kernelFunc as unknown as KernelFn;
}

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
const f32 = (backend: BackendWasm, t: TensorInfo): Float32Array => backend.typedArrayFromHeap(t) as Float32Array;
/** A reshaped alias sharing t's data (the wasm kernels only read dataId and shape). */
const view = (t: TensorInfo, shape: number[]): TensorInfo => ({ dataId: t.dataId, shape, dtype: t.dtype });

/** Plain (non-transposed) product [1,M,K]·[1,K,N]: native GEMM, else XNNPACK (the only fast matmul path in tfjs-backend-wasm). */
function plainMatMul(backend: BackendWasm, a: TensorInfo, b: TensorInfo): TensorInfo {
  const blas = wasmKernelOptions.blas;
  if (blas) {
    const [M, K] = a.shape.slice(-2),
      N = b.shape[b.shape.length - 1];
    return gemm(blas, backend, a, b, M, N, K, false, false, [1, M, N]);
  }
  return orig('BatchMatMul')({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } }) as TensorInfo;
}

/** A new tensor of `shape` holding op(a)·op(b) by the native GEMM (views taken after the allocation). */
function gemm(
  blas: Blas,
  backend: BackendWasm,
  a: TensorInfo,
  b: TensorInfo,
  M: number,
  N: number,
  K: number,
  ta: boolean,
  tb: boolean,
  shape: number[],
): TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  blas.gemm(f32(backend, a), f32(backend, b), f32(backend, out), M, N, K, ta, tb, false);
  return out;
}

const chunkLongK = (M: number, K: number, N: number): boolean =>
  K >= 2 * wasmKernelOptions.kChunk && M * N >= wasmKernelOptions.kChunkMinMN;

/**
 * a[M,K]·b[K,N] (2-D operands). For long K (weight gradients, K = N·H·W) XNNPACK streams the whole packed b once
 * per few rows of a; cutting K into chunks whose packed weights stay in cache and summing the partial products is
 * ~1.4x faster (measured at M=N=256..512, K=8k..50k), despite copying the operands once.
 */
function matMulLongK(backend: BackendWasm, a: TensorInfo, b: TensorInfo, M: number, K: number, N: number): TensorInfo {
  if (wasmKernelOptions.blas || !chunkLongK(M, K, N)) return plainMatMul(backend, view(a, [1, M, K]), view(b, [1, K, N]));
  const chunks = Math.ceil(K / wasmKernelOptions.kChunk),
    kc0 = Math.ceil(K / chunks);
  let acc: TensorInfo | undefined;
  for (let k0 = 0; k0 < K; k0 += kc0) {
    const kc = Math.min(kc0, K - k0);
    const ac = backend.makeOutput([1, M, kc], 'float32'),
      bc = backend.makeOutput([1, kc, N], 'float32');
    const A = f32(backend, a),
      Ac = f32(backend, ac);
    for (let m = 0; m < M; m++) Ac.set(A.subarray(m * K + k0, m * K + k0 + kc), m * kc);
    f32(backend, bc).set(f32(backend, b).subarray(k0 * N, (k0 + kc) * N));
    const part = plainMatMul(backend, ac, bc);
    backend.disposeData(ac.dataId);
    backend.disposeData(bc.dataId);
    acc = accumulate(backend, acc, part);
  }
  return acc!;
}

/** acc += part (disposing part); returns part itself when there is no acc yet. */
function accumulate(backend: BackendWasm, acc: TensorInfo | undefined, part: TensorInfo): TensorInfo {
  if (!acc) return part;
  const A = f32(backend, acc),
    B = f32(backend, part);
  for (let i = 0; i < A.length; i++) A[i] += B[i];
  backend.disposeData(part.dataId);
  return acc;
}

function transposeKernel(backend: BackendWasm, x: TensorInfo, perm: number[]): TensorInfo {
  return tf.getKernel('Transpose', BACKEND)!.kernelFunc({ inputs: { x }, backend, attrs: { perm } } as never) as TensorInfo;
}

/** Stride-1 NHWC Conv2D with explicit padding, on the stock (XNNPACK) kernel. */
function conv2DKernel(backend: BackendWasm, x: TensorInfo, filter: TensorInfo, pad: number[][]): TensorInfo {
  return tf.getKernel('Conv2D', BACKEND)!.kernelFunc({
    inputs: { x, filter },
    backend,
    attrs: { strides: 1, pad, dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined },
  } as never) as TensorInfo;
}

/** [rows, cols] → [cols, rows] through the wasm Transpose kernel (faster than a JS loop at these sizes, measured). */
function transpose2D(backend: BackendWasm, t: TensorInfo, rows: number, cols: number): TensorInfo {
  return transposeKernel(backend, view(t, [rows, cols]), [1, 0]);
}

// ---------------------------------------------------------------------------------------------------------------
// Conv2DBackpropFilter (missing on wasm), stride 1, NHWC. Three routes, picked by measurement:
//  - 1x1 without padding: dW[Cin, Cout] = xᵀ[Cin, N·H·W] · dy[N·H·W, Cout] (explicit transpose, plain matMul).
//  - Cout ≥ Cin: dW[kh·kw·Cin, Cout] = im2colᵀ[kh·kw·Cin, N·Ho·Wo] · dy[N·Ho·Wo, Cout], im2colᵀ built in JS.
//  - Cout < Cin (e.g. a Glow coupling's last conv, 512→12): im2col would be a kh·kw-fold JS copy of a big x feeding
//    a thin GEMM (2 GFLOP/s at 256→4), so run it as a forward Conv2D instead: measured 2-3x faster for Cout < Cin,
//    slower for Cout > Cin (e.g. 3x3 2→256: 25 ms vs 6 ms by im2col).

/** Conv route for dW when Cout < Cin and the filter is bigger than 1x1 (or as forced by wasmKernelOptions). */
function useConvTrick(info: tf.backend_util.Conv2DInfo): boolean {
  const o = wasmKernelOptions;
  if (o.filterGrad !== 'auto') return o.filterGrad === 'conv';
  if (o.blas) return false; // the im2col GEMM is fast at any shape
  return info.filterHeight * info.filterWidth > 1 && info.outChannels < info.inChannels;
}

function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as {
    strides: number | [number, number];
    pad: tf.backend_util.ExplicitPadding | 'same' | 'valid' | number;
    dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
  };
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
  if (info.dataFormat !== 'channelsLast') throw new Error('wasm Conv2DBackpropFilter: only NHWC is supported');
  if (info.strideHeight !== 1 || info.strideWidth !== 1 || info.dilationHeight !== 1 || info.dilationWidth !== 1)
    throw new Error(
      `wasm Conv2DBackpropFilter: only stride 1 and dilation 1 are supported (got strides ${info.strideHeight}x${info.strideWidth})`,
    );
  const {
    batchSize: N,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    outHeight: Ho,
    outWidth: Wo,
    outChannels: Co,
    filterHeight: KH,
    filterWidth: KW,
  } = info;
  const { top: pt, left: pl, bottom: pb, right: pr } = info.padInfo;
  const rows = KH * KW * C;
  const pix = Ho * Wo;

  if (useConvTrick(info)) {
    // Few output channels: im2col would expand x KH·KW-fold in JS for a thin GEMM. Instead correlate x with dy as
    // a conv with channels as batch and images as input channels: out[c,i,j,co] = Σ_{n,y,x} x[n,y+i,x+j,c]·dy[n,y,x,co].
    const xt = transposeKernel(backend, view(x, [N, H * W, C]), [2, 1, 0]); // [C, H, W, N]
    const dyt = transposeKernel(backend, view(dy, [N, pix, Co]), [1, 0, 2]); // [Ho, Wo, N, Co]
    const o = conv2DKernel(backend, view(xt, [C, H, W, N]), view(dyt, [Ho, Wo, N, Co]), [
      [0, 0],
      [pt, pb],
      [pl, pr],
      [0, 0],
    ]);
    const dw = transposeKernel(backend, view(o, [C, KH * KW, Co]), [1, 0, 2]);
    for (const t of [xt, dyt, o]) backend.disposeData(t.dataId);
    return view(dw, filterShape);
  }

  const blas = wasmKernelOptions.blas;
  if (blas) return view(filterGradBlas(blas, backend, x, dy, info), filterShape);

  if (KH === 1 && KW === 1 && pt + pl + pb + pr === 0) {
    // 1x1: im2colᵀ is just xᵀ.
    const xt = transpose2D(backend, x, N * H * W, C);
    const out = matMulLongK(backend, xt, dy, C, N * pix, Co);
    backend.disposeData(xt.dataId);
    return view(out, filterShape);
  }

  // Images per im2col chunk: ~kChunk columns when that makes the GEMM faster (see matMulLongK), else as many as fit.
  const fit = Math.floor(wasmKernelOptions.im2colMaxFloats / (rows * pix));
  const chunk = Math.max(1, Math.min(N, chunkLongK(rows, N * pix, Co) ? Math.min(fit, Math.round(wasmKernelOptions.kChunk / pix)) : fit));
  let result: TensorInfo | undefined;
  for (let n0 = 0; n0 < N; n0 += chunk) {
    const nc = Math.min(chunk, N - n0);
    const P = nc * pix;
    const cols = backend.makeOutput([1, rows, P], 'float32');
    // dy for this chunk: the whole of dy, or a copy of its rows (the matMul needs a tensor of its own).
    let dyc = view(dy, [1, P, Co]);
    if (nc !== N) dyc = backend.makeOutput([1, P, Co], 'float32');
    const X = f32(backend, x);
    const D = f32(backend, cols);
    if (nc !== N) f32(backend, dyc).set(f32(backend, dy).subarray(n0 * pix * Co, (n0 + nc) * pix * Co));
    im2colT(X, D, n0, nc, H, W, C, Ho, Wo, KH, KW, pt, pl, P);
    const part = plainMatMul(backend, cols, dyc);
    backend.disposeData(cols.dataId);
    if (nc !== N) backend.disposeData(dyc.dataId);
    result = accumulate(backend, result, part);
  }
  return view(result!, filterShape);
}

/**
 * Writes the im2col matrix of images n0..n0+nc-1 directly in transposed layout: row (i·KW+j)·C+c, column
 * (n·Ho+y)·Wo+x holds X[n, y+i-pt, x+j-pl, c] (0 outside). Tiled over blocks of PB columns so that both the
 * strided reads (PB source pixels, reused for every c) and the sequential writes stay in cache.
 */
const PB = 256;
const srcOff = new Int32Array(PB);
function im2colT(
  X: Float32Array,
  D: Float32Array,
  n0: number,
  nc: number,
  H: number,
  W: number,
  C: number,
  Ho: number,
  Wo: number,
  KH: number,
  KW: number,
  pt: number,
  pl: number,
  P: number,
): void {
  for (let i = 0; i < KH; i++) {
    for (let j = 0; j < KW; j++) {
      const row0 = (i * KW + j) * C;
      for (let p0 = 0; p0 < P; p0 += PB) {
        const pe = Math.min(PB, P - p0);
        for (let k = 0, p = p0; k < pe; k++, p++) {
          const n = Math.floor(p / (Ho * Wo)),
            y = Math.floor(p / Wo) % Ho,
            x = p % Wo;
          const iy = y + i - pt,
            ix = x + j - pl;
          srcOff[k] = iy >= 0 && iy < H && ix >= 0 && ix < W ? (((n0 + n) * H + iy) * W + ix) * C : -1;
        }
        for (let c = 0; c < C; c++) {
          const d = (row0 + c) * P + p0;
          for (let k = 0; k < pe; k++) {
            const s = srcOff[k];
            D[d + k] = s >= 0 ? X[s + c] : 0;
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// With the native GEMM, Conv2D forward and its filter gradient are one GEMM each around a JS copy that expands the
// side with fewer channels KH·KW-fold (the GEMM is cheap; the copy is what costs):
//  - input side (C ≤ Co): im2col cols[P, KH·KW·C] (row p an output pixel, its receptive field in filter order), so
//    y[P, Co] = cols · W[KH·KW·C, Co] and dW[KH·KW·C, Co] = colsᵀ · dy[P, Co]. Images are done in chunks so that one
//    cols buffer stays under im2colMaxFloats.
//  - output side (C > Co, e.g. a coupling's zero-initialised last conv, 512→12): every input pixel's contribution to
//    every tap, Z[N·H·W, KH·KW·Co] = x · W'[C, KH·KW·Co], gathered into y (col2im); for dW, dy is spread to the input
//    positions it depends on, D[N·H·W, KH·KW·Co], and dW'[C, KH·KW·Co] = xᵀ · D.

function outputSide(C: number, Co: number): boolean {
  const side = wasmKernelOptions.convSide;
  return side === 'auto' ? C > Co : side === 'output';
}

/** W[KH, KW, C, Co] → W'[C, KH·KW·Co] (the output-side layout), as a new tensor. */
function filterToOutputSide(backend: BackendWasm, filter: TensorInfo, KH: number, KW: number, C: number, Co: number): TensorInfo {
  return transposeKernel(backend, view(filter, [KH * KW, C, Co]), [1, 0, 2]);
}

function conv2D(args: KernelArgs): TensorInfo {
  const {
    inputs: { x, filter },
    backend,
    attrs,
  } = args;
  const blas = wasmKernelOptions.blas;
  if (!blas || x.dtype !== 'float32') return orig('Conv2D')(args) as TensorInfo;
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs as {
    strides: number | [number, number];
    pad: tf.backend_util.ExplicitPadding | 'same' | 'valid' | number;
    dataFormat: 'NHWC' | 'NCHW';
    dilations: number | [number, number];
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
  if (
    info.dataFormat !== 'channelsLast' ||
    info.strideHeight !== 1 ||
    info.strideWidth !== 1 ||
    info.dilationHeight !== 1 ||
    info.dilationWidth !== 1
  )
    return orig('Conv2D')(args) as TensorInfo;
  const {
    batchSize: N,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    outHeight: Ho,
    outWidth: Wo,
    outChannels: Co,
    filterHeight: KH,
    filterWidth: KW,
  } = info;
  const { top: pt, left: pl, bottom: pb, right: pr } = info.padInfo;
  if (KH * KW === 1 && pt + pl + pb + pr === 0) return gemm(blas, backend, x, filter, N * H * W, Co, C, false, false, info.outShape);
  if (outputSide(C, Co)) {
    const wr = filterToOutputSide(backend, filter, KH, KW, C, Co);
    const z = gemm(blas, backend, x, wr, N * H * W, KH * KW * Co, C, false, false, [N * H * W, KH * KW * Co]);
    backend.disposeData(wr.dataId);
    const out = backend.makeOutput(info.outShape, 'float32');
    tapSum(f32(backend, z), f32(backend, out), true, info, Co);
    backend.disposeData(z.dataId);
    return out;
  }
  const R = KH * KW * C,
    pix = Ho * Wo;
  const out = backend.makeOutput(info.outShape, 'float32');
  eachIm2colChunk(backend, x, info, (cols, n0, P) =>
    blas.gemm(cols, f32(backend, filter), f32(backend, out).subarray(n0 * pix * Co, n0 * pix * Co + P * Co), P, Co, R, false, false, false),
  );
  return out;
}

/**
 * The im2col rows of x's images a chunk at a time (so that one buffer stays under im2colMaxFloats), handed to `use`
 * with the chunk's first image and row count; `use` may take heap views but must not allocate.
 */
function eachIm2colChunk(
  backend: BackendWasm,
  x: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  use: (cols: Float32Array, n0: number, P: number) => void,
): void {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo, filterHeight: KH, filterWidth: KW } = info;
  const { top: pt, left: pl } = info.padInfo;
  const R = KH * KW * C,
    pix = Ho * Wo;
  const chunk = Math.max(1, Math.min(N, Math.floor(wasmKernelOptions.im2colMaxFloats / (R * pix))));
  for (let n0 = 0; n0 < N; n0 += chunk) {
    const nc = Math.min(chunk, N - n0),
      P = nc * pix;
    const cols = backend.makeOutput([P, R], 'float32');
    const D = f32(backend, cols);
    im2col(f32(backend, x), D, n0, nc, H, W, C, Ho, Wo, KH, KW, pt, pl);
    use(D, n0, P);
    backend.disposeData(cols.dataId);
  }
}

/** dW[KH·KW·C, Co] = Σ over image chunks of colsᵀ · dy (the GEMM accumulates in place). */
function filterGradBlas(blas: Blas, backend: BackendWasm, x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const {
    batchSize: N,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    outHeight: Ho,
    outWidth: Wo,
    outChannels: Co,
    filterHeight: KH,
    filterWidth: KW,
  } = info;
  const { top: pt, left: pl, bottom: pb, right: pr } = info.padInfo;
  const R = KH * KW * C,
    pix = Ho * Wo;
  if (KH * KW === 1 && pt + pl + pb + pr === 0) return gemm(blas, backend, x, dy, C, Co, N * pix, true, false, [R, Co]);
  if (outputSide(C, Co)) {
    // D[q, (i·KW+j)·Co + co] = dy at the output pixel that reads input pixel q through tap (i, j).
    const T = KH * KW * Co;
    const d = backend.makeOutput([N * H * W, T], 'float32');
    const D = f32(backend, d),
      DY = f32(backend, dy);
    for (let n = 0, q = 0; n < N; n++)
      for (let iy = 0; iy < H; iy++)
        for (let ix = 0; ix < W; ix++, q++)
          for (let i = 0; i < KH; i++) {
            const y = iy - i + pt;
            for (let j = 0; j < KW; j++) {
              const xo = ix - j + pl,
                d0 = q * T + (i * KW + j) * Co;
              if (y < 0 || y >= Ho || xo < 0 || xo >= Wo) {
                D.fill(0, d0, d0 + Co);
                continue;
              }
              const s0 = ((n * Ho + y) * Wo + xo) * Co;
              for (let c = 0; c < Co; c++) D[d0 + c] = DY[s0 + c];
            }
          }
    const dwr = gemm(blas, backend, x, d, C, T, N * H * W, true, false, [C, KH * KW, Co]);
    backend.disposeData(d.dataId);
    const dw = transposeKernel(backend, dwr, [1, 0, 2]); // [KH·KW, C, Co]
    backend.disposeData(dwr.dataId);
    return dw;
  }
  const out = backend.makeOutput([R, Co], 'float32');
  eachIm2colChunk(backend, x, info, (cols, n0, P) =>
    blas.gemm(cols, f32(backend, dy).subarray(n0 * pix * Co, n0 * pix * Co + P * Co), f32(backend, out), R, Co, P, true, false, n0 > 0),
  );
  return out;
}

/** cols[p, (i·KW+j)·C + c] = X[n, y+i-pt, x+j-pl, c] (0 outside) for the output pixels p of images n0..n0+nc-1. */
function im2col(
  X: Float32Array,
  D: Float32Array,
  n0: number,
  nc: number,
  H: number,
  W: number,
  C: number,
  Ho: number,
  Wo: number,
  KH: number,
  KW: number,
  pt: number,
  pl: number,
): void {
  const R = KH * KW * C;
  for (let n = 0, p = 0; n < nc; n++) {
    for (let y = 0; y < Ho; y++) {
      for (let x = 0; x < Wo; x++, p++) {
        for (let i = 0; i < KH; i++) {
          const iy = y + i - pt;
          for (let j = 0; j < KW; j++) {
            const ix = x + j - pl,
              d = p * R + (i * KW + j) * C;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) {
              D.fill(0, d, d + C);
              continue;
            }
            const s = (((n0 + n) * H + iy) * W + ix) * C;
            if (C >= SHORT_RUN) D.set(X.subarray(s, s + C), d);
            else for (let c = 0; c < C; c++) D[d + c] = X[s + c];
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Conv2DBackpropInput, stride 1: dx = conv2d(dy, W') with W'[i,j,co,ci] = W[KH-1-i, KW-1-j, ci, co] and the
// complementary padding (KH-1-top, KH-1-bottom, KW-1-left, KW-1-right), on the fast forward Conv2D kernel.

function conv2DBackpropInput(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as {
    strides: number | [number, number];
    pad: tf.backend_util.ExplicitPadding | 'same' | 'valid' | number;
    dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    inputShape: [number, number, number, number];
  };
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
  const { filterHeight: KH, filterWidth: KW, inChannels: C, outChannels: Co } = info;
  const { top, bottom, left, right } = info.padInfo;
  const ok =
    info.dataFormat === 'channelsLast' &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    Math.max(top, bottom) <= KH - 1 &&
    Math.max(left, right) <= KW - 1;
  if (!ok) return orig('Conv2DBackpropInput')(args) as TensorInfo;
  if (useCol2im(info)) return dxCol2im(backend, dy, filter, info);

  let wf: TensorInfo | undefined;
  let w: TensorInfo;
  if (KH * KW > 1 || (C > 1 && Co > 1)) {
    wf = backend.makeOutput([KH, KW, Co, C], 'float32');
    const src = f32(backend, filter),
      dst = f32(backend, wf);
    for (let i = 0; i < KH; i++)
      for (let j = 0; j < KW; j++) {
        const s0 = ((KH - 1 - i) * KW + (KW - 1 - j)) * C * Co,
          d0 = (i * KW + j) * Co * C;
        for (let ci = 0; ci < C; ci++) for (let co = 0; co < Co; co++) dst[d0 + co * C + ci] = src[s0 + ci * Co + co];
      }
    w = wf;
  } else w = view(filter, [KH, KW, Co, C]);
  const explicit = [
    [0, 0],
    [KH - 1 - top, KH - 1 - bottom],
    [KW - 1 - left, KW - 1 - right],
    [0, 0],
  ];
  const dx = conv2DKernel(backend, dy, w, explicit);
  if (wf) backend.disposeData(wf.dataId);
  return dx;
}

/**
 * The sums that turn per-tap products into a conv output or an input gradient (col2im). For every output pixel p
 * and filter tap t = i·KW+j that reads input pixel q, with `channels` values per pixel and tap:
 *   gather (src indexed by q, dst by p):  dst[p, c] += src[q, t, c]
 *   scatter (src indexed by p, dst by q): dst[q, c] += src[p, t, c]
 * dst is zeroed first.
 */
function tapSum(src: Float32Array, dst: Float32Array, gather: boolean, info: tf.backend_util.Conv2DInfo, channels: number): void {
  const { batchSize: N, inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo, filterHeight: KH, filterWidth: KW } = info;
  const { top: pt, left: pl } = info.padInfo;
  const T = KH * KW * channels;
  dst.fill(0);
  for (let n = 0, p = 0; n < N; n++)
    for (let y = 0; y < Ho; y++)
      for (let x = 0; x < Wo; x++, p++)
        for (let i = 0; i < KH; i++) {
          const iy = y + i - pt;
          if (iy < 0 || iy >= H) continue;
          for (let j = 0; j < KW; j++) {
            const ix = x + j - pl;
            if (ix < 0 || ix >= W) continue;
            const q = (n * H + iy) * W + ix,
              tap = (i * KW + j) * channels;
            const d0 = gather ? p * channels : q * channels,
              s0 = gather ? q * T + tap : p * T + tap;
            for (let c = 0; c < channels; c++) dst[d0 + c] += src[s0 + c];
          }
        }
}

function useCol2im(info: tf.backend_util.Conv2DInfo): boolean {
  const o = wasmKernelOptions;
  if (o.inputGrad !== 'auto') return o.inputGrad === 'col2im';
  return info.filterHeight * info.filterWidth > 1 && info.inChannels < info.outChannels && info.inChannels < 8;
}

/**
 * Few input channels: XNNPACK's conv is slow with so few output channels, so compute the patch gradients
 * G[P, KH·KW·C] = dy[P, Co] · W[KH·KW·C, Co]ᵀ with one plain matMul and scatter-add them into dx in JS.
 */
function dxCol2im(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: N, inChannels: C, outHeight: Ho, outWidth: Wo, outChannels: Co, filterHeight: KH, filterWidth: KW } = info;
  const R = KH * KW * C,
    P = N * Ho * Wo;
  const blas = wasmKernelOptions.blas;
  let g: TensorInfo;
  if (blas) g = gemm(blas, backend, dy, filter, P, R, Co, false, true, [P, R]);
  else {
    const wt = transpose2D(backend, filter, R, Co);
    g = plainMatMul(backend, view(dy, [1, P, Co]), view(wt, [1, Co, R]));
    backend.disposeData(wt.dataId);
  }
  const dx = backend.makeOutput(info.inShape, 'float32');
  tapSum(f32(backend, g), f32(backend, dx), false, info, C);
  backend.disposeData(g.dataId);
  return dx;
}

// ---------------------------------------------------------------------------------------------------------------
// BatchMatMul: wasm only uses XNNPACK for non-transposed, unbatched operands; everything else runs a naive
// C++ loop at ~2.5 GFLOP/s. So transpose flagged operands explicitly and fold batches where we can.

function batchMatMul(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  let { a, b } = inputs;
  const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return orig('BatchMatMul')(args) as TensorInfo;
  const ra = a.shape.length,
    rb = b.shape.length;
  const batchA = size(a.shape.slice(0, -2)),
    batchB = size(b.shape.slice(0, -2));
  const [a1, a2] = a.shape.slice(-2),
    [b1, b2] = b.shape.slice(-2);
  const M = transposeA ? a2 : a1,
    K = transposeA ? a1 : a2,
    N = transposeB ? b1 : b2;
  const batch = Math.max(batchA, batchB);
  // Only 1-vs-many or equal batches (what tfjs itself supports for flattened batches).
  if (ra < 2 || rb < 2 || (transposeB ? b2 : b1) !== K || (batchA !== batchB && batchA !== 1 && batchB !== 1))
    return orig('BatchMatMul')(args) as TensorInfo;
  // Tiny products: not worth the extra kernels.
  if (batch * M * K * N < 32768) return orig('BatchMatMul')(args) as TensorInfo;
  const outShape = [...tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)), M, N];

  const blas = wasmKernelOptions.blas;
  if (blas) {
    // The GEMM takes the transposes itself; all of a's batches against one b is a single product.
    if (batchB === 1 && !transposeA) return view(gemm(blas, backend, a, b, batchA * M, N, K, false, transposeB, [batchA * M, N]), outShape);
    const out = backend.makeOutput([batch, M, N], 'float32');
    const A = f32(backend, a),
      B = f32(backend, b),
      O = f32(backend, out);
    for (let i = 0; i < batch; i++) {
      const ia = batchA === 1 ? 0 : i,
        ib = batchB === 1 ? 0 : i;
      blas.gemm(
        A.subarray(ia * M * K, (ia + 1) * M * K),
        B.subarray(ib * K * N, (ib + 1) * K * N),
        O.subarray(i * M * N, (i + 1) * M * N),
        M,
        N,
        K,
        transposeA,
        transposeB,
        false,
      );
    }
    return view(out, outShape);
  }

  const temps: TensorInfo[] = [];
  const tr = (t: TensorInfo, bt: number, r: number, c: number): TensorInfo => {
    const o = bt === 1 ? transpose2D(backend, t, r, c) : transposeKernel(backend, view(t, [bt, r, c]), [0, 2, 1]);
    temps.push(o);
    return o;
  };
  if (transposeA) a = tr(a, batchA, a1, a2);
  if (transposeB) b = tr(b, batchB, b1, b2);

  let out: TensorInfo;
  if (batchB === 1) {
    // All of a's batches against one b: a single [batchA·M, K]·[K, N] product.
    out = matMulLongK(backend, a, b, batchA * M, K, N);
  } else {
    // Batched b: one fast product per batch on per-batch copies (XNNPACK caches packed weights by tensor id, so
    // every b slice must be a fresh tensor).
    out = backend.makeOutput([batch, M, N], 'float32');
    for (let i = 0; i < batch; i++) {
      const ai = backend.makeOutput([1, M, K], 'float32'),
        bi = backend.makeOutput([1, K, N], 'float32');
      const ia = batchA === 1 ? 0 : i;
      f32(backend, ai).set(f32(backend, a).subarray(ia * M * K, (ia + 1) * M * K));
      f32(backend, bi).set(f32(backend, b).subarray(i * K * N, (i + 1) * K * N));
      const oi = plainMatMul(backend, ai, bi);
      f32(backend, out).set(f32(backend, oi), i * M * N);
      for (const t of [ai, bi, oi]) backend.disposeData(t.dataId);
    }
  }
  for (const t of temps) backend.disposeData(t.dataId);
  return view(out, outShape);
}

// ---------------------------------------------------------------------------------------------------------------
// Slice / SplitV / Concat along the last axis (channel split and merge of NHWC tensors). The stock kernels copy
// one short run at a time with subarray().set(), and Slice first copies all of x out of the heap (readSync).

/** Below this many floats per run, a scalar loop beats subarray().set() (crossover measured at ~16). */
const SHORT_RUN = 16;
const numeric = (t: TensorInfo): boolean => t.dtype === 'float32' || t.dtype === 'int32' || t.dtype === 'bool';

function slice(args: KernelArgs): TensorInfo {
  const {
    inputs: { x },
    backend,
    attrs,
  } = args;
  const [begin, sz] = tf.slice_util.parseSliceParams(x as tf.Tensor, attrs.begin as number[], attrs.size as number[]);
  const r = x.shape.length;
  if (!numeric(x) || r < 2 || tf.slice_util.isSliceContinous(x.shape, begin, sz)) return orig('Slice')(args) as TensorInfo;
  // Fast path: any begin/size on the leading axes of a row-major block, i.e. rows of the last axis.
  // Collapse: leading axes must be whole except the first (which may be a sub-range).
  for (let d = 1; d < r - 1; d++) if (begin[d] !== 0 || sz[d] !== x.shape[d]) return orig('Slice')(args) as TensorInfo;
  const C = x.shape[r - 1],
    c0 = begin[r - 1],
    cs = sz[r - 1];
  const inner = size(x.shape.slice(1, -1));
  const rows = sz[0] * inner,
    row0 = begin[0] * inner;
  const out = backend.makeOutput(sz, x.dtype);
  if (sz.some((s) => s === 0)) return out;
  copyRuns(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(out), rows, C, row0 * C + c0, cs, 0, cs);
  return out;
}

/** rows times: dst[dOff + r·dStride + k] = src[sOff + r·sStride + k] for k < run. */
function copyRuns(
  src: tf.TypedArray,
  dst: tf.TypedArray,
  rows: number,
  sStride: number,
  sOff: number,
  run: number,
  dOff: number,
  dStride: number,
): void {
  if (run >= SHORT_RUN) {
    for (let r = 0; r < rows; r++, sOff += sStride, dOff += dStride) dst.set(src.subarray(sOff, sOff + run), dOff);
    return;
  }
  for (let r = 0; r < rows; r++, sOff += sStride, dOff += dStride) for (let k = 0; k < run; k++) dst[dOff + k] = src[sOff + k];
}

function splitV(args: KernelArgs): TensorInfo[] {
  const {
    inputs: { x },
    backend,
    attrs,
  } = args;
  const r = x.shape.length;
  const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0];
  if (!numeric(x) || r < 2 || axis !== r - 1) return orig('SplitV')(args) as TensorInfo[];
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attrs.numOrSizeSplits as number[] | number, axis);
  const C = x.shape[r - 1],
    rows = size(x.shape.slice(0, -1));
  const outs = sizes.map((s) => backend.makeOutput([...x.shape.slice(0, -1), s], x.dtype));
  const src = backend.typedArrayFromHeap(x);
  let c0 = 0;
  sizes.forEach((s, i) => {
    copyRuns(src, backend.typedArrayFromHeap(outs[i]), rows, C, c0, s, 0, s);
    c0 += s;
  });
  return outs;
}

function concat(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const xs = Object.keys(inputs).map((k) => inputs[k]);
  const r = xs[0].shape.length;
  const axis = tf.util.parseAxisParam(attrs.axis as number, xs[0].shape)[0];
  // Inputs arrive as an array-like object; keep non-empty ones as the stock kernel does.
  const live = xs.filter((t) => size(t.shape) > 0);
  const widths = live.map((t) => t.shape[r - 1]);
  // Long runs: the stock row-by-row set() is as fast.
  if (!numeric(xs[0]) || r < 2 || axis !== r - 1 || live.length < 2 || widths.every((w) => w >= SHORT_RUN))
    return orig('Concat')(args) as TensorInfo;
  const Ct = widths.reduce((s, w) => s + w, 0),
    rows = size(live[0].shape.slice(0, -1));
  const out = backend.makeOutput([...live[0].shape.slice(0, -1), Ct], xs[0].dtype);
  const dst = backend.typedArrayFromHeap(out);
  let c0 = 0;
  live.forEach((t, i) => {
    copyRuns(backend.typedArrayFromHeap(t), dst, rows, widths[i], 0, widths[i], c0, Ct);
    c0 += widths[i];
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Sum over every axis but the last (the per-channel sums of NHWC gradients: biases, actnorm): the stock kernel
// transposes the whole tensor first to make the reduced axes innermost. Here: onesᵀ·X by the native GEMM, else
// one pass in JS with a float64 accumulator per channel.

function sum(args: KernelArgs): TensorInfo {
  const {
    inputs: { x },
    backend,
    attrs,
  } = args;
  const r = x.shape.length;
  const axes = tf.util.parseAxisParam(attrs.axis as number | number[], x.shape).sort((a, b) => a - b);
  const leading = axes.length === r - 1 && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || r < 2 || !leading || size(x.shape) < 4096) return orig('Sum')(args) as TensorInfo;
  const C = x.shape[r - 1],
    R = size(x.shape) / C;
  const outShape = attrs.keepDims ? [...new Array(r - 1).fill(1), C] : [C];
  const blas = wasmKernelOptions.blas;
  if (blas) {
    const ones = backend.makeOutput([1, R], 'float32');
    f32(backend, ones).fill(1);
    const out = gemm(blas, backend, ones, x, 1, C, R, false, false, outShape);
    backend.disposeData(ones.dataId);
    return out;
  }
  const out = backend.makeOutput(outShape, 'float32');
  const X = f32(backend, x),
    acc = new Float64Array(C);
  for (let i = 0, k = 0; i < R; i++) for (let c = 0; c < C; c++, k++) acc[c] += X[k];
  f32(backend, out).set(acc);
  return out;
}
