// The inference engines the worker can run a model on: TF.js (the model's own forward and reverse,
// on the backend initBackend chose) or ONNX Runtime (the graphs the model's layers emit, built from
// the very weights loaded). GLOW_ENGINE=auto|onnx|tfjs; auto is ONNX Runtime when it loads.
// Training always stays on TF.js.
import * as tf from '@tensorflow/tfjs';
import type { Glow, PriorCondition } from '../glow/glow.ts';
import { onnxModels } from '../glow/onnx-export.ts';
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
 * `first` (each prior conditioned on the forward pass's halves) on all n images, then `again` (on the
 * rebuilt halves) for the rows whose latent leaves [−REENCODE_BEYOND, REENCODE_BEYOND]: their results
 * packed in that order, put in place of the first ones.
 */
export async function encodeInTwoPasses(
  n: number,
  latentDim: number,
  first: () => Promise<Encoded>,
  again: (rows: number[]) => Promise<Encoded>,
): Promise<Encoded & { reencoded: number }> {
  const out = await first();
  const rows: number[] = [];
  for (let i = 0; i < n; i++) if (!latentInRange(out.eps.subarray(i * latentDim, (i + 1) * latentDim))) rows.push(i);
  if (rows.length === 0) return { ...out, reencoded: 0 };
  const second = await again(rows);
  rows.forEach((row, k) => {
    out.eps.set(second.eps.subarray(k * latentDim, (k + 1) * latentDim), row * latentDim);
    out.bpd[row] = second.bpd[k];
  });
  return { ...out, reencoded: rows.length };
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

  encode(n: number, x: Float32Array) {
    const d = x.length / n;
    return encodeInTwoPasses(
      n,
      this.glow.latentDim,
      () => this.encodeOnce(n, x, 'forward'),
      (rows) => this.oneAtATime(rows.length, pickRows(x, rows, d), (x1) => this.encodeOnce(1, x1, 'rebuilt')),
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
  /** Intra-op threads for batches of more than ONE_THREAD_BATCH images (GLOW_ONNX_THREADS, default 2: the cores the service is sized for). */
  threads: number;
}

/** ONNX Runtime's session options, chosen by measurement (docs/performance.md). */
export function sessionOptions(opts: OnnxOptions) {
  return {
    intraOpNumThreads: opts.threads,
    // One graph at a time per worker (the batcher sends one batch at a time): no inter-op pool.
    interOpNumThreads: 1,
    executionMode: 'sequential' as const,
    // 'all' adds the NCHWc layout and conv+activation fusions: the fastest level measured.
    graphOptimizationLevel: 'all' as const,
    enableCpuMemArena: true,
    enableMemPattern: true,
    logSeverityLevel: 3 as const,
    // Idle intra-op threads sleep instead of spinning: on shared cores spinning cost more than it saved.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

/**
 * Batches of up to this many images run on a session with one intra-op thread. Their operators are
 * small (a batch-1 convolution takes tens of µs), so waking a second thread for each of the graph's
 * ~160 convolutions costs about what it saves: measured side by side, one thread took 13–20 % less
 * time at batch 1 and 6–7 % less at batch 2 on an idle machine (19–26 % at batch 1 beside a training
 * job), while two were even at batch 3 and 8–12 % faster at batch 4 (docs/performance.md). One and
 * two threads give bit-identical results, so which session serves a batch never shows in its latents.
 */
export const ONE_THREAD_BATCH = 2;

interface Sessions {
  encodeForward: import('onnxruntime-node').InferenceSession;
  /** Absent for a one-level model (no split level: its forward encode is the rebuilt one). */
  reencode?: import('onnxruntime-node').InferenceSession;
  decode: import('onnxruntime-node').InferenceSession;
}

/**
 * Encodes with the forward graph, and re-encodes images out of range with the reencode graph: from the
 * first pass's latent and split levels' z, a reverse of the levels above each split level instead of
 * a second whole encode (the same bits as the `encode` graph, tested). The `encode` graph itself is for
 * the exported files.
 */
export class OnnxEngine implements InferenceEngine {
  readonly name = 'onnx';

  private constructor(
    private readonly ort: typeof import('onnxruntime-node'),
    private readonly glow: Glow,
    /** Batches of up to ONE_THREAD_BATCH images. */
    private readonly small: Sessions,
    /** Larger batches, on opts.threads intra-op threads (the same sessions when that is 1). */
    private readonly large: Sessions,
  ) {}

  /** Builds the graphs from the model's current weights (they can never be stale) and opens them. */
  static async create(glow: Glow, fingerprint: string, name: string, opts: OnnxOptions): Promise<OnnxEngine> {
    const ort = await import('onnxruntime-node');
    const models = onnxModels(glow, fingerprint, name);
    const open = async (threads: number): Promise<Sessions> => {
      const options = sessionOptions({ threads });
      const [encodeForward, reencode, decode] = await Promise.all([
        ort.InferenceSession.create(models.encodeForward, options),
        models.reencode && ort.InferenceSession.create(models.reencode, options),
        ort.InferenceSession.create(models.decode, options),
      ]);
      return { encodeForward, reencode, decode };
    };
    const [small, large] = await Promise.all([open(1), opts.threads === 1 ? undefined : open(opts.threads)]);
    return new OnnxEngine(ort, glow, small, large ?? small);
  }

  private sessions(n: number): Sessions {
    return n <= ONE_THREAD_BATCH ? this.small : this.large;
  }

  async encode(n: number, x: Float32Array) {
    const { height, width, channels } = this.glow.config;
    const D = this.glow.latentDim;
    const first = await this.run(this.sessions(n).encodeForward, { x: this.tensor(x, [n, height, width, channels]) });
    const { reencode } = this.sessions(1);
    if (!reencode) return { eps: first.eps, bpd: first.bpd, reencoded: 0 };
    return encodeInTwoPasses(
      n,
      D,
      async () => first,
      async (rows) => {
        const m = rows.length;
        const splitDim = this.glow.splitDim;
        const feeds = {
          eps_forward: this.tensor(pickRows(first.eps, rows, D), [m, D]),
          z: this.tensor(pickRows(first.z, rows, splitDim), [m, splitDim]),
          logp_base: this.tensor(pickRows(first.logp_base, rows, 1), [m]),
        };
        return this.run(this.sessions(m).reencode!, feeds);
      },
    );
  }

  private tensor(data: Float32Array, dims: number[]) {
    return new this.ort.Tensor('float32', data, dims);
  }

  /** Runs a session; its float32 outputs copied (their buffers are transferred to the HTTP thread whole). */
  private async run(session: import('onnxruntime-node').InferenceSession, feeds: Record<string, import('onnxruntime-node').Tensor>) {
    const out = await session.run(feeds);
    try {
      return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Float32Array.from(t.data as Float32Array)])) as Record<
        string,
        Float32Array
      > &
        Encoded;
    } finally {
      for (const t of Object.values(out)) t.dispose();
    }
  }

  async decode(n: number, latents: Float32Array) {
    const out = await this.sessions(n).decode.run({ eps: new this.ort.Tensor('float32', latents, [n, this.glow.latentDim]) });
    try {
      return Float32Array.from(out.x.data as Float32Array);
    } finally {
      out.x.dispose();
    }
  }

  async close() {
    const all = new Set([this.small, this.large].flatMap((s) => [s.encodeForward, s.reencode, s.decode]));
    await Promise.all([...all].map((s) => s?.release()));
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
