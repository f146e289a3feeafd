// The inference engines the worker can run a model on: TF.js (the model's own forward and reverse,
// on the backend initBackend chose) or ONNX Runtime (the graphs the model's layers emit, built from
// the very weights loaded). GLOW_ENGINE=auto|onnx|tfjs; auto is ONNX Runtime when it loads.
// Training always stays on TF.js.
import * as tf from '@tensorflow/tfjs';
import type { Glow } from '../glow/glow.ts';
import { onnxModels } from '../glow/onnx-export.ts';
import { OnnxLanes } from './onnx-lanes.ts';
import { PreciseCodec } from './precise-codec.ts';
import { ENGINES, type EngineChoice, type EngineName } from './worker-protocol.ts';
import { quantise } from '../glow/pixels.ts';
import { isFloat32 } from '../attributes/vectors.ts';

type Encoded = { eps: Float64Array; bpd: Float32Array };

/**
 * Images and latents in, images and latents out: everything in model units, batch-major. Latents are
 * float64 arrays: a latent of float32 values is the engine's own, decoded on it; one with a value that
 * is no float32 comes from the precise path (PreciseCodec), which alone decodes it to its image.
 */
export interface InferenceEngine {
  readonly name: EngineName;
  /** x: n images, NHWC, model units. `reencoded`: how many took the precise pass (encodeInTwoPasses). */
  encode(n: number, x: Float32Array): Promise<Encoded & { reencoded: number }>;
  /** n images, NHWC, model units (not yet quantised: NaN and ±Inf are counted by the caller). */
  decode(n: number, latents: Float64Array): Promise<Float32Array>;
  close(): Promise<void>;
}

/**
 * Inside [−PRECISE_BEYOND, PRECISE_BEYOND] the engine's float32 round trip holds with a wide margin
 * (largest error 0.007 levels over 256 images of each robustness category); beyond it, far from the
 * data, float32 rounding amplified through the reverse cost a few images a grey level. Such an image's
 * latent is checked by decoding it, and encoded on the precise path unless it comes back
 * (docs/stability.md).
 */
export const PRECISE_BEYOND = 5;

/** Whether every value of the latent is inside [−PRECISE_BEYOND, PRECISE_BEYOND] (NaN is not). */
export function latentInRange(eps: ArrayLike<number>): boolean {
  for (let i = 0; i < eps.length; i++) if (!(Math.abs(eps[i]) <= PRECISE_BEYOND)) return false;
  return true;
}

/** The given rows of a batch-major array whose rows hold `d` values each, packed in that order. */
function pickRows<A extends Float32Array | Float64Array>(a: A, rows: number[], d: number): A {
  const out = new (a.constructor as new (n: number) => A)(rows.length * d);
  rows.forEach((row, k) => out.set(a.subarray(row * d, (row + 1) * d), k * d));
  return out;
}

type BatchArray = ArrayLike<number> & { subarray(start: number, end: number): ArrayLike<number> };

/** The rows of a batch whose values pass `test`, and the others. */
function partitionRows(a: BatchArray, n: number, d: number, test: (row: ArrayLike<number>) => boolean): [number[], number[]] {
  const [pass, fail]: [number[], number[]] = [[], []];
  for (let i = 0; i < n; i++) (test(a.subarray(i * d, (i + 1) * d)) ? pass : fail).push(i);
  return [pass, fail];
}

/**
 * Given the first pass's results for a batch (float32), runs `again` (the precise path) for the rows
 * whose latent leaves [−PRECISE_BEYOND, PRECISE_BEYOND], but for those `comesBack` finds to decode to
 * their image on the engine as they are, and puts its results, packed in that order, in their place.
 */
export async function encodeInTwoPasses(
  first: { eps: Float32Array; bpd: Float32Array },
  latentDim: number,
  again: (rows: number[]) => Encoded | Promise<Encoded>,
  comesBack: (rows: number[]) => Promise<number[]> = async () => [],
): Promise<Encoded & { reencoded: number }> {
  const n = first.bpd.length;
  const eps = Float64Array.from(first.eps);
  const [, outOfRange] = partitionRows(first.eps, n, latentDim, latentInRange);
  const back = outOfRange.length > 0 ? new Set(await comesBack(outOfRange)) : new Set<number>();
  const rows = outOfRange.filter((row) => !back.has(row));
  if (rows.length === 0) return { eps, bpd: first.bpd, reencoded: 0 };
  const second = await again(rows);
  rows.forEach((row, k) => {
    eps.set(second.eps.subarray(k * latentDim, (k + 1) * latentDim), row * latentDim);
    first.bpd[row] = second.bpd[k];
  });
  return { eps, bpd: first.bpd, reencoded: rows.length };
}

/**
 * Decodes the latents of float32 values on `fast` (the engine, in one batch) and the others on
 * `precise`, each image in its place.
 */
export async function decodeInTwoParts(
  n: number,
  latents: Float64Array,
  latentDim: number,
  imageSize: number,
  fast: (n: number, latents: Float32Array) => Promise<Float32Array>,
  precise: (n: number, latents: Float64Array) => Float32Array,
): Promise<Float32Array> {
  const out = new Float32Array(n * imageSize);
  const [float32, float64] = partitionRows(latents, n, latentDim, isFloat32);
  const parts: [number[], (rows: number[]) => Promise<Float32Array> | Float32Array][] = [
    [float32, (rows) => fast(rows.length, Float32Array.from(pickRows(latents, rows, latentDim)))],
    [float64, (rows) => precise(rows.length, pickRows(latents, rows, latentDim))],
  ];
  for (const [rows, run] of parts) {
    if (rows.length === 0) continue;
    const x = await run(rows);
    rows.forEach((row, k) => out.set(x.subarray(k * imageSize, (k + 1) * imageSize), row * imageSize));
  }
  return out;
}

/** The rows of a batch whose decoded values quantise to the very pixels of its images. */
function sameImages(rows: number[], x: Float32Array, decoded: Float32Array, imageSize: number, nBits: number): number[] {
  const [want, got] = [quantise(pickRows(x, rows, imageSize), nBits), quantise(decoded, nBits)];
  return rows.filter((_, k) => {
    for (let j = k * imageSize; j < (k + 1) * imageSize; j++) if (want[j] !== got[j]) return false;
    return true;
  });
}

/**
 * The model's own forward and reverse on the backend initBackend chose, and the precise path beside
 * them. Every image out of range takes the precise path: TF.js's convolutions round differently for
 * different batch sizes, so a decode that gives an image back in one batch may not in another.
 */
export class TfjsEngine implements InferenceEngine {
  readonly name = 'tfjs';
  private readonly precise: PreciseCodec;

  constructor(private readonly glow: Glow) {
    this.precise = new PreciseCodec(glow);
  }

  async encode(n: number, x: Float32Array) {
    const d = x.length / n;
    return encodeInTwoPasses(await this.encodeForward(n, x), this.glow.latentDim, (rows) =>
      this.precise.encode(rows.length, pickRows(x, rows, d)),
    );
  }

  private async encodeForward(n: number, x: Float32Array) {
    const { height, width, channels } = this.glow.config;
    // Every tensor made here is freed also when a call throws: the worker's tensor count must stay flat.
    const made: tf.Tensor[] = [];
    try {
      const xt = tf.tensor4d(x, [n, height, width, channels]);
      made.push(xt);
      const { eps, bpd } = tf.tidy(() => {
        const { eps, logpx } = this.glow.encode(xt, 'forward');
        return { eps, bpd: this.glow.bitsPerDim(logpx) };
      });
      made.push(eps, bpd);
      const [e, b] = await Promise.all([eps.data(), bpd.data()]);
      return { eps: new Float32Array(e as Float32Array), bpd: new Float32Array(b as Float32Array) };
    } finally {
      tf.dispose(made);
    }
  }

  decode(n: number, latents: Float64Array) {
    const D = this.glow.latentDim;
    return decodeInTwoParts(
      n,
      latents,
      D,
      D,
      (k, eps) => this.decodeFast(k, eps),
      (k, eps) => this.precise.decode(k, eps),
    );
  }

  private async decodeFast(n: number, latents: Float32Array) {
    const made: tf.Tensor[] = [];
    try {
      const eps = tf.tensor2d(latents, [n, this.glow.latentDim]);
      made.push(eps);
      const x = tf.tidy(() => this.glow.decode(eps));
      made.push(x);
      return new Float32Array((await x.data()) as Float32Array);
    } finally {
      tf.dispose(made);
    }
  }

  async close() {}
}

export interface OnnxOptions {
  /** ONNX Runtime lanes, each a thread with one-thread sessions (GLOW_ONNX_THREADS, default 2: the cores the service is sized for). */
  threads: number;
}

/**
 * Encodes with the forward graph (each prior on the forward pass's half) and decodes with the decode
 * graph, every batch cut over `threads` lanes (onnx-lanes.ts); an image out of range that does not come
 * back on them, and every float64 latent, goes to the precise path. The `encode` graph (priors on the
 * rebuilt halves) is for the exported files.
 */
export class OnnxEngine implements InferenceEngine {
  readonly name = 'onnx';

  private constructor(
    private readonly glow: Glow,
    private readonly lanes: OnnxLanes,
    private readonly precise: PreciseCodec,
  ) {}

  /** Builds the graphs from the model's current weights (they can never be stale) and opens them. */
  static async create(glow: Glow, fingerprint: string, name: string, opts: OnnxOptions): Promise<OnnxEngine> {
    const { encodeForward, decode } = onnxModels(glow, fingerprint, name);
    const lanes = await OnnxLanes.open({ encodeForward, decode }, opts.threads);
    return new OnnxEngine(glow, lanes, new PreciseCodec(glow));
  }

  async encode(n: number, x: Float32Array) {
    const { height, width, channels, nBits } = this.glow.config;
    const first = await this.lanes.run('encodeForward', n, { x: { data: x, dims: [height, width, channels] } });
    const D = this.glow.latentDim;
    const d = x.length / n;
    // ONNX Runtime gives an image the same bits in any batch (tested), so a latent that decodes to its
    // image here does so in any later decode.
    const comesBack = async (rows: number[]) => {
      const back = await this.lanes.run('decode', rows.length, { eps: { data: pickRows(first.eps, rows, D), dims: [D] } });
      return sameImages(rows, x, back.x, d, nBits);
    };
    const precise = (rows: number[]) => this.precise.encode(rows.length, pickRows(x, rows, d));
    return encodeInTwoPasses({ eps: first.eps, bpd: first.bpd }, D, precise, comesBack);
  }

  decode(n: number, latents: Float64Array) {
    const D = this.glow.latentDim;
    return decodeInTwoParts(
      n,
      latents,
      D,
      D,
      async (k, eps) => (await this.lanes.run('decode', k, { eps: { data: eps, dims: [D] } })).x,
      (k, eps) => this.precise.decode(k, eps),
    );
  }

  async close() {
    await this.lanes.close();
  }
}

/** The engine `choice` names; auto falls back to TF.js (saying why) when ONNX Runtime does not load. */
export async function createEngine(
  choice: EngineChoice,
  glow: Glow,
  fingerprint: string,
  name: string,
  opts: OnnxOptions,
  log: (msg: string) => void,
): Promise<InferenceEngine> {
  if (!ENGINES.includes(choice)) throw new Error(`GLOW_ENGINE must be ${ENGINES.join(', ')}, not "${choice}"`);
  if (choice === 'tfjs') return new TfjsEngine(glow);
  try {
    return await OnnxEngine.create(glow, fingerprint, name, opts);
  } catch (err) {
    if (choice === 'onnx') throw err;
    log(`engine: ONNX Runtime did not load (${(err as Error).message}); serving on TF.js`);
    return new TfjsEngine(glow);
  }
}
