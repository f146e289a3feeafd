// The inference engines the worker can run a model on: TF.js (the model's own forward and reverse,
// on the backend initBackend chose) or ONNX Runtime (the graphs the model's layers emit, built from
// the very weights loaded). GLOW_ENGINE=auto|onnx|tfjs; auto is ONNX Runtime when it loads.
// Training always stays on TF.js.
import * as tf from '@tensorflow/tfjs';
import type { Glow, PriorCondition } from '../glow/glow.ts';
import { onnxModels } from '../glow/onnx-export.ts';
import { OnnxLanes } from './onnx-lanes.ts';
import { ENGINES, type EngineChoice, type EngineName } from './worker-protocol.ts';

type Encoded = { eps: Float32Array; bpd: Float32Array };

/** Images and latents in, images and latents out: everything in model units, batch-major. */
export interface InferenceEngine {
  readonly name: EngineName;
  /** x: n images, NHWC, model units. `reencoded`: how many took the second pass (encodeInTwoPasses). */
  encode(n: number, x: Float32Array): Promise<Encoded & { reencoded: number }>;
  /** n images, NHWC, model units (not yet quantised: NaN and ±Inf are counted by the caller). */
  decode(n: number, latents: Float32Array): Promise<Float32Array>;
  close(): Promise<void>;
}

/**
 * An image whose latent has a value beyond ±REENCODE_BEYOND is encoded a second time, with each prior
 * conditioned on the half decode rebuilds (Glow.encode). The first pass conditions on the half the
 * forward pass computed, and so saves a reverse of every level but the first; inside [−5, 5] the
 * prior's error |z − μ|·|Δ log σ| is bounded by 5σ·|Δ log σ|, and the two latents are the same up to
 * rounding (largest round-trip error 0.006 levels over 256 images of each robustness category). Far
 * from the data, where the first pass missed pixels by several levels, every image measured has values
 * beyond it; so do about 5 % of MNIST test digits (docs/stability.md).
 */
export const REENCODE_BEYOND = 5;

/** Whether every value of the latent is inside [−REENCODE_BEYOND, REENCODE_BEYOND] (NaN is not). */
export function latentInRange(eps: Float32Array): boolean {
  return eps.every((v) => Math.abs(v) <= REENCODE_BEYOND);
}

/** The given rows of a batch-major array whose rows hold `d` values each, packed in that order. */
function pickRows(a: Float32Array, rows: number[], d: number): Float32Array {
  const out = new Float32Array(rows.length * d);
  rows.forEach((row, k) => out.set(a.subarray(row * d, (row + 1) * d), k * d));
  return out;
}

/**
 * Given the first pass's results for a batch (each prior conditioned on the forward pass's halves), runs
 * `again` (on the rebuilt halves) for the rows whose latent leaves [−REENCODE_BEYOND, REENCODE_BEYOND]
 * and puts its results, packed in that order, in their place.
 */
export async function encodeInTwoPasses(
  first: Encoded,
  latentDim: number,
  again: (rows: number[]) => Promise<Encoded>,
): Promise<Encoded & { reencoded: number }> {
  const rows: number[] = [];
  for (let i = 0; i < first.bpd.length; i++) if (!latentInRange(first.eps.subarray(i * latentDim, (i + 1) * latentDim))) rows.push(i);
  if (rows.length === 0) return { ...first, reencoded: 0 };
  const second = await again(rows);
  rows.forEach((row, k) => {
    first.eps.set(second.eps.subarray(k * latentDim, (k + 1) * latentDim), row * latentDim);
    first.bpd[row] = second.bpd[k];
  });
  return { ...first, reencoded: rows.length };
}

/**
 * TF.js's convolutions (WASM with the native GEMM) round differently for different batch sizes, so a
 * half rebuilt in encode's second pass would not be the very one decode rebuilds in another batch.
 * Both therefore run one image at a time for latents out of range (about 5 % of MNIST test digits,
 * nearly every image far from the data; ONNX Runtime gives the same bits at any batch size).
 */
export class TfjsEngine implements InferenceEngine {
  readonly name = 'tfjs';

  constructor(private readonly glow: Glow) {}

  async encode(n: number, x: Float32Array) {
    const d = x.length / n;
    return encodeInTwoPasses(await this.encodeOnce(n, x, 'forward'), this.glow.latentDim, (rows) =>
      this.oneAtATime(rows.length, pickRows(x, rows, d), (x1) => this.encodeOnce(1, x1, 'rebuilt')),
    );
  }

  /** Runs `run` on each of the n images alone and concatenates the results. */
  private async oneAtATime(n: number, x: Float32Array, run: (x1: Float32Array) => Promise<Encoded>): Promise<Encoded> {
    const d = x.length / n;
    const out = { eps: new Float32Array(n * this.glow.latentDim), bpd: new Float32Array(n) };
    for (let i = 0; i < n; i++) {
      const one = await run(x.subarray(i * d, (i + 1) * d));
      out.eps.set(one.eps, i * this.glow.latentDim);
      out.bpd[i] = one.bpd[0];
    }
    return out;
  }

  private async encodeOnce(n: number, x: Float32Array, condition: PriorCondition) {
    const { height, width, channels } = this.glow.config;
    // Every tensor made here is freed also when a call throws: the worker's tensor count must stay flat.
    const made: tf.Tensor[] = [];
    try {
      const xt = tf.tensor4d(x, [n, height, width, channels]);
      made.push(xt);
      const { eps, bpd } = tf.tidy(() => {
        const { eps, logpx } = this.glow.encode(xt, condition);
        return { eps, bpd: this.glow.bitsPerDim(logpx) };
      });
      made.push(eps, bpd);
      const [e, b] = await Promise.all([eps.data(), bpd.data()]);
      return { eps: new Float32Array(e as Float32Array), bpd: new Float32Array(b as Float32Array) };
    } finally {
      tf.dispose(made);
    }
  }

  async decode(n: number, latents: Float32Array) {
    const D = this.glow.latentDim;
    const rows = Array.from({ length: n }, (_, i) => i);
    const alone = rows.filter((i) => !latentInRange(latents.subarray(i * D, (i + 1) * D)));
    if (alone.length === 0 || n === 1) return this.decodeOnce(n, latents);
    const together = rows.filter((i) => !alone.includes(i));
    const x = new Float32Array(n * D);
    if (together.length > 0) {
      const batch = await this.decodeOnce(together.length, pickRows(latents, together, D));
      together.forEach((row, k) => x.set(batch.subarray(k * D, (k + 1) * D), row * D));
    }
    for (const row of alone) x.set(await this.decodeOnce(1, latents.subarray(row * D, (row + 1) * D)), row * D);
    return x;
  }

  private async decodeOnce(n: number, latents: Float32Array) {
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
 * Encodes with the forward graph, and re-encodes images out of range with the reencode graph: from the
 * first pass's latent and split levels' z, a reverse of the levels above each split level instead of
 * a second whole encode (the same bits as the `encode` graph, tested). The `encode` graph itself is for
 * the exported files. Every batch is cut over `threads` lanes (onnx-lanes.ts).
 */
export class OnnxEngine implements InferenceEngine {
  readonly name = 'onnx';

  private constructor(
    private readonly glow: Glow,
    private readonly lanes: OnnxLanes,
  ) {}

  /** Builds the graphs from the model's current weights (they can never be stale) and opens them. */
  static async create(glow: Glow, fingerprint: string, name: string, opts: OnnxOptions): Promise<OnnxEngine> {
    const { encodeForward, reencode, decode } = onnxModels(glow, fingerprint, name);
    const lanes = await OnnxLanes.open({ encodeForward, decode, ...(reencode ? { reencode } : {}) }, opts.threads);
    return new OnnxEngine(glow, lanes);
  }

  async encode(n: number, x: Float32Array) {
    const { height, width, channels } = this.glow.config;
    const D = this.glow.latentDim;
    const { eps, bpd, z, logp_base } = await this.lanes.run('encodeForward', n, { x: { data: x, dims: [height, width, channels] } });
    // A one-level model has no split level: its forward encode is the rebuilt one.
    if (this.glow.blocks.length === 1) return { eps, bpd, reencoded: 0 };
    const splitDim = this.glow.splitDim;
    return encodeInTwoPasses({ eps, bpd }, D, async (rows) => {
      const again = await this.lanes.run('reencode', rows.length, {
        eps_forward: { data: pickRows(eps, rows, D), dims: [D] },
        z: { data: pickRows(z, rows, splitDim), dims: [splitDim] },
        logp_base: { data: pickRows(logp_base, rows, 1), dims: [] },
      });
      return { eps: again.eps, bpd: again.bpd };
    });
  }

  async decode(n: number, latents: Float32Array) {
    return (await this.lanes.run('decode', n, { eps: { data: latents, dims: [this.glow.latentDim] } })).x;
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
