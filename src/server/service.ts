// The model-facing state shared by the routes: the worker, the batcher, the attribute catalog and
// the metrics, plus input checks that need the model's geometry (latent length, image size).
import { AttributeCatalog } from '../attributes/catalog.ts';
import { loadBuiltinAttributes } from '../attributes/builtin.ts';
import type { AttributeStore } from '../attributes/store.ts';
import type { onRequestAsyncHookHandler } from 'fastify';
import { Batcher, type Admission, type Op } from './batcher.ts';
import type { Config } from './config.ts';
import { HttpError, UnavailableError } from './errors.ts';
import { decodeImage, type DecodedImage, type ImageSize } from './images.ts';
import { InferenceClient } from './inference-client.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import type { ModelInfo } from './worker-protocol.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by GlowService.admit on routes that use the model. */
    admission: Admission | null;
  }
}

export type ServiceState = 'loading' | 'ready' | 'failed';

export interface Ready {
  info: ModelInfo;
  catalog: AttributeCatalog;
  size: ImageSize;
}

type Log = (level: 'info' | 'warn' | 'error', msg: string) => void;

export class GlowService {
  state: ServiceState = 'loading';
  /** Set on SIGTERM before the server stops accepting: /readyz answers 503 from then on. */
  stopping = false;
  failure: Error | undefined;
  readonly client: InferenceClient;
  readonly batcher: Batcher;
  readonly metrics: Metrics;
  /** Resolves when the model is loaded, warmed and the attributes are available. */
  readonly ready: Promise<Ready>;
  private current: Ready | undefined;

  constructor(
    readonly config: Config,
    private readonly store: AttributeStore,
    private readonly log: Log,
  ) {
    this.client = new InferenceClient({ modelDir: config.modelDir, backend: config.backend, callTimeoutMs: config.inferenceTimeoutMs, log });
    this.metrics = createMetrics({
      queueDepth: (op) => this.batcher.depth(op),
      attributeCounts: async () => (this.current ? this.current.catalog.counts() : { builtin: 0, user: 0 }),
      numTensors: () => this.client.liveTensors(),
    });
    this.batcher = new Batcher(this.client, config, this.metrics.observer);
    this.ready = this.start();
    // Callers that never await `ready` (the routes use requireReady) must not see an unhandled rejection.
    this.ready.catch(() => {});
  }

  private async start(): Promise<Ready> {
    try {
      const info = await this.client.whenReady();
      const { attributes, warnings } = await loadBuiltinAttributes(this.config.modelDir, info.latentDim, info.fingerprint);
      for (const w of warnings) this.log('warn', w);
      const catalog = new AttributeCatalog(this.store, { model: info.name, checkpoint: info.fingerprint }, info.latentDim, attributes);
      this.metrics.modelInfo.set({ name: info.name, dataset: info.dataset, backend: info.backend }, 1);
      const { height, width, channels } = info.config;
      this.current = { info, catalog, size: { height, width, channels } };
      this.state = 'ready';
      this.log('info', `serving ${info.name}: ${attributes.size} built-in attributes`);
      return this.current;
    } catch (err) {
      this.state = 'failed';
      this.failure = err as Error;
      throw err;
    }
  }

  /**
   * onRequest hook for routes that use the model: 503 + Retry-After at once when the queue is
   * full, else the request is admitted (req.admission; see Batcher.admit) until its response is done.
   */
  admit(op: Op): onRequestAsyncHookHandler {
    return async (req, reply) => {
      const admission = this.batcher.admit(op);
      req.admission = admission;
      // 'close' fires when the response is done or the connection died, whichever comes first.
      reply.raw.once('close', () => this.batcher.release(admission));
    };
  }

  /** The loaded model, or a 503 while it loads (or when it cannot be loaded). */
  requireReady(): Ready {
    if (this.current) return this.current;
    if (this.state === 'failed') throw new UnavailableError(`model could not be loaded: ${this.failure?.message.split('\n')[0]}`, 60);
    throw new UnavailableError('model is still loading; retry shortly', 2);
  }

  /**
   * Decodes uploads a few at a time (sharp runs on the libuv pool): several large images decoding at
   * once would multiply peak memory for no gain on a 4-thread pool.
   */
  async decodeImages(buffers: Uint8Array[], what: (i: number) => string): Promise<DecodedImage[]> {
    const { size } = this.requireReady();
    const out: DecodedImage[] = new Array(buffers.length);
    let next = 0;
    const lane = async () => {
      while (next < buffers.length) {
        const i = next++;
        out[i] = await decodeImage(buffers[i], size, this.config.maxInputPixels, what(i));
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, buffers.length) }, lane));
    return out;
  }

  /** base64 (or data: URL) -> bytes; rejects text that is not base64 at all. */
  static base64(s: string, what: string): Buffer {
    const body = s.startsWith('data:') ? s.slice(s.indexOf(',') + 1) : s;
    const clean = body.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(clean)) throw new HttpError(400, `${what} is not valid base64`);
    return Buffer.from(clean, clean.includes('-') || clean.includes('_') ? 'base64url' : 'base64');
  }

  /** JSON numbers -> a latent of the model's length, every value finite. */
  latent(values: number[], what: string): Float32Array {
    const { info } = this.requireReady();
    if (values.length !== info.latentDim) throw new HttpError(400, `${what} has ${values.length} values; this model's latents have ${info.latentDim} (GET /model latentDim)`);
    const out = new Float32Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new HttpError(400, `${what}[${i}] is not a finite number`); // 1e309 parses to Infinity
      out[i] = v;
      if (!Number.isFinite(out[i])) throw new HttpError(400, `${what}[${i}] = ${v} is outside the float32 range (±3.4e38)`);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
