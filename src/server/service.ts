// One served model: its worker, its batcher and its attribute catalog, plus the input checks that
// need the model's geometry (latent length, image size). ModelRegistry (models.ts) holds one per model.
import { AttributeCatalog } from '../attributes/catalog.ts';
import { loadBuiltinAttributes } from '../attributes/builtin.ts';
import type { AttributeStore } from '../attributes/store.ts';
import { Batcher, type Admission, type Op } from '../inference/batcher.ts';
import type { Config, ModelSpec } from './config.ts';
import { InvalidError, UnavailableError } from '../errors.ts';
import { fitSpecOf, type FitSpec } from '../images/fit.ts';
import { decodeImage, type DecodedImage, type ImageSize } from '../images/images.ts';
import { InferenceClient } from '../inference/inference-client.ts';
import type { Metrics, ModelSource } from './metrics.ts';
import type { ModelInfo } from '../inference/worker-protocol.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The model this request addresses (?model=, else the default); set by ModelRegistry.resolve. */
    glow: GlowService;
    /** Set by ModelRegistry.admit on routes that use the model. */
    admission: Admission | null;
  }
}

export type ServiceState = 'loading' | 'ready' | 'failed';

export interface Ready {
  info: ModelInfo;
  catalog: AttributeCatalog;
  size: ImageSize;
  /** What fit=true does to uploads for this model. */
  fit: FitSpec;
}

type Log = (level: 'info' | 'warn' | 'error', msg: string) => void;

export class GlowService implements ModelSource {
  state: ServiceState = 'loading';
  failure: Error | undefined;
  readonly name: string;
  readonly client: InferenceClient;
  readonly batcher: Batcher;
  /** Resolves when the model is loaded, warmed and the attributes are available. */
  readonly ready: Promise<Ready>;
  private current: Ready | undefined;
  /** Requests addressed to this load that have not finished (see retire). */
  private active = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly config: Config,
    readonly spec: ModelSpec,
    private readonly store: AttributeStore,
    private readonly metrics: Metrics,
    private readonly log: Log,
  ) {
    this.name = spec.name;
    this.client = new InferenceClient({ modelDir: spec.dir, backend: config.backend, engine: config.engine, onnxThreads: config.onnxThreads, callTimeoutMs: config.inferenceTimeoutMs, log });
    this.batcher = new Batcher(this.client, config, metrics.observer(spec.name, () => this.client.info?.engine ?? ''));
    this.ready = this.start();
    // Callers that never await `ready` (the routes use requireReady) must not see an unhandled rejection.
    this.ready.catch(() => {});
  }

  private async start(): Promise<Ready> {
    try {
      const info = await this.client.whenReady();
      const { attributes, warnings } = await loadBuiltinAttributes(this.spec.dir, info.latentDim, info.fingerprint);
      for (const w of warnings) this.log('warn', `${this.name}: ${w}`);
      const catalog = new AttributeCatalog(this.store, { model: info.name, checkpoint: info.fingerprint }, info.latentDim, attributes);
      this.metrics.modelInfo.set({ model: this.name, name: info.name, dataset: info.dataset, backend: info.backend, engine: info.engine }, 1);
      this.metrics.modelSteps.set({ model: this.name }, info.steps);
      const { height, width, channels } = info.config;
      const size = { height, width, channels };
      this.current = { info, catalog, size, fit: fitSpecOf(info.manifest, info.dataset, size) };
      this.state = 'ready';
      this.log('info', `serving ${this.name} (${info.dataset}, ${this.spec.dir}): ${attributes.size} built-in attributes`);
      return this.current;
    } catch (err) {
      this.state = 'failed';
      this.failure = err as Error;
      throw err;
    }
  }

  /** The loaded model, or a 503 while it loads (or when it cannot be loaded). */
  requireReady(): Ready {
    if (this.current) return this.current;
    if (this.state === 'failed') throw new UnavailableError(`model ${this.name} could not be loaded: ${this.failureMessage}`, 60, 'MODEL_FAILED');
    throw new UnavailableError(`model ${this.name} is still loading; retry shortly`, 2, 'MODEL_LOADING');
  }

  /** Why the model failed to load, for clients: the first line, server paths cut to their last part. */
  get failureMessage(): string | undefined {
    return this.failure?.message.split('\n')[0].replace(/(?:\/[^\s/'":,]+)+\/([^\s/'":,]+)/g, '…/$1');
  }

  /**
   * Decodes uploads a few at a time (sharp runs on the libuv pool): several large images decoding at
   * once would multiply peak memory for no gain on a 4-thread pool. With `fit`, each is fitted to
   * the model's data (fit.ts).
   */
  async decodeImages(buffers: Uint8Array[], what: (i: number) => string, fit = false): Promise<DecodedImage[]> {
    const { size, fit: spec } = this.requireReady();
    const out: DecodedImage[] = new Array(buffers.length);
    let next = 0;
    const lane = async () => {
      while (next < buffers.length) {
        const i = next++;
        out[i] = await decodeImage(buffers[i], size, { pixels: this.config.maxInputPixels, side: this.config.maxInputSide }, what(i), fit ? spec : undefined);
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, buffers.length) }, lane));
    return out;
  }

  /** base64 (or data: URL) -> bytes; rejects text that is not base64 at all. */
  static base64(s: string, what: string): Buffer {
    const body = s.startsWith('data:') ? s.slice(s.indexOf(',') + 1) : s;
    const clean = body.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(clean)) throw new InvalidError(`${what} is not valid base64`);
    return Buffer.from(clean, clean.includes('-') || clean.includes('_') ? 'base64url' : 'base64');
  }

  /** JSON numbers -> a latent of the model's length, every value finite. */
  latent(values: number[], what: string): Float32Array {
    const { info } = this.requireReady();
    if (values.length !== info.latentDim) throw new InvalidError(`${what} has ${values.length} values; this model's latents have ${info.latentDim} (GET /model latentDim)`);
    const out = new Float32Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidError(`${what}[${i}] is not a finite number`); // 1e309 parses to Infinity
      out[i] = v;
      if (!Number.isFinite(out[i])) throw new InvalidError(`${what}[${i}] = ${v} is outside the float32 range (±3.4e38)`);
    }
    return out;
  }

  /** Counts a request that addressed this load until its response is done (ModelRegistry.resolve). */
  enter(): void {
    this.active++;
  }

  leave(): void {
    if (--this.active === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /**
   * After a reload replaced this load: requests already on it finish on it (an encode and its
   * follow-up decode never see two different weights), for at most `timeoutMs`; then it closes and
   * whatever is still running gets a 503 to retry.
   */
  async retire(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const within = (p: Promise<void>) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        timer.unref(); // a retiring load must not hold the process open
      });
      return Promise.race([p, late]).finally(() => clearTimeout(timer));
    };
    if (this.active > 0) await within(new Promise<void>((resolve) => this.idleWaiters.push(resolve)));
    const gone = new UnavailableError(`model ${this.name} was reloaded; retry`, 1);
    await within(this.batcher.drain(gone.message)); // work of clients that hung up is still queued
    this.batcher.failAll(gone);
    await this.close(gone);
  }

  queueDepth(op: Op): number {
    return this.batcher.depth(op);
  }

  async attributeCounts(): Promise<{ builtin: number; user: number }> {
    return this.current ? this.current.catalog.counts() : { builtin: 0, user: 0 };
  }

  numTensors(): number | Promise<number> {
    return this.client.liveTensors();
  }

  async close(reason?: Error): Promise<void> {
    await this.client.close(reason);
  }
}
