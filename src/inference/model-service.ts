// One served model: its worker, its batcher and its attribute catalog, plus the input checks that
// need the model's geometry (latent length, image size). ModelRegistry (model-registry.ts) holds
// one per model; a request works with one through a ModelSession (model-session.ts).
import { AttributeCatalog } from '../attributes/catalog.ts';
import { loadBuiltinAttributes } from '../attributes/builtin.ts';
import type { AttributeStore } from '../attributes/store.ts';
import { InvalidError, UnavailableError } from '../errors.ts';
import { fitSpecOf } from '../images/fit.ts';
import { decodeImage, type DecodedImage } from '../images/images.ts';
import { Batcher, type Op } from './batcher.ts';
import { InferenceClient } from './inference-client.ts';
import { MAX_IMAGES } from './limits.ts';
import type { ModelMetrics, ModelSource } from './metrics.ts';
import { ModelSession, type Ready, type SessionService } from './model-session.ts';
import type { InferenceOptions, ModelSpec } from './options.ts';

export type ServiceState = 'loading' | 'ready' | 'failed';

export type Log = (level: 'info' | 'warn' | 'error', msg: string) => void;

export class ModelService implements ModelSource, SessionService {
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
    readonly options: InferenceOptions,
    readonly spec: ModelSpec,
    private readonly store: AttributeStore,
    private readonly metrics: ModelMetrics,
    private readonly log: Log,
  ) {
    this.name = spec.name;
    this.client = new InferenceClient({
      modelDir: spec.dir,
      backend: options.backend,
      engine: options.engine,
      onnxThreads: options.onnxThreads,
      callTimeoutMs: options.inferenceTimeoutMs,
      log,
    });
    this.batcher = new Batcher(
      this.client,
      options,
      metrics.observer(spec.name, () => this.client.info?.engine ?? ''),
    );
    this.ready = this.start();
    // Callers that never await `ready` (requests use requireReady) must not see an unhandled rejection.
    this.ready.catch(() => {});
  }

  private async start(): Promise<Ready> {
    try {
      const info = await this.client.whenReady();
      const { attributes, warnings } = await loadBuiltinAttributes(this.spec.dir, info.latentDim, info.fingerprint);
      for (const w of warnings) this.log('warn', `${this.name}: ${w}`);
      const catalog = new AttributeCatalog(this.store, { model: info.name, checkpoint: info.fingerprint }, info.latentDim, attributes);
      this.metrics.modelInfo.set(
        { model: this.name, name: info.name, dataset: info.dataset, backend: info.backend, engine: info.engine },
        1,
      );
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

  /** The loaded model, or 'unavailable' while it loads (or when it cannot be loaded). */
  requireReady(): Ready {
    if (this.current) return this.current;
    if (this.state === 'failed')
      throw new UnavailableError(`model ${this.name} could not be loaded: ${this.failureMessage}`, 60, 'MODEL_FAILED');
    throw new UnavailableError(`model ${this.name} is still loading; retry shortly`, 2, 'MODEL_LOADING');
  }

  /** Why the model failed to load, for clients: the first line, server paths cut to their last part. */
  get failureMessage(): string | undefined {
    return this.failure?.message.split('\n')[0].replace(/(?:\/[^\s/'":,]+)+\/([^\s/'":,]+)/g, '…/$1');
  }

  /** A request's session with this load (see ModelSession); `end` it when the request is over. */
  session(): ModelSession<ModelService> {
    return new ModelSession(this);
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
        out[i] = await decodeImage(
          buffers[i],
          size,
          { pixels: this.options.maxInputPixels, side: this.options.maxInputSide },
          what(i),
          fit ? spec : undefined,
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, buffers.length) }, lane));
    return out;
  }

  /**
   * JSON numbers -> a latent of the model's length, every value finite. A latent printed as float32s
   * (9 significant digits, as /encode prints the engine's latents) is read as those float32s; any other
   * is kept in float64, as the precise path's latents are printed (inference/engines.ts).
   */
  latent(values: number[], what: string): Float64Array {
    const { info } = this.requireReady();
    if (values.length !== info.latentDim)
      throw new InvalidError(`${what} has ${values.length} values; this model's latents have ${info.latentDim} (GET /model latentDim)`);
    const out = new Float64Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidError(`${what}[${i}] is not a finite number`); // 1e309 parses to Infinity
      out[i] = latentValue(v);
      if (!Number.isFinite(Math.fround(v))) throw new InvalidError(`${what}[${i}] = ${v} is outside the float32 range (±3.4e38)`);
    }
    return out;
  }

  /** n·latentDim little-endian float32 values, no framing (never a serialised object) -> n latents. */
  unpackLatents(bytes: Uint8Array): Float64Array[] {
    const d = this.requireReady().info.latentDim;
    const size = 4 * d;
    if (bytes.length === 0)
      throw new InvalidError(`the float32 body is empty (0 bytes); send n × ${size} bytes (n latents of ${d} little-endian float32)`);
    if (bytes.length % size !== 0)
      throw new InvalidError(
        `a float32 body must be a whole number of latents: ${bytes.length} bytes is not a multiple of ${size} (4 × ${d})`,
      );
    const n = bytes.length / size;
    if (n > MAX_IMAGES) throw new InvalidError(`${n} latents; at most ${MAX_IMAGES} per request`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out: Float64Array[] = [];
    for (let i = 0; i < n; i++) {
      const v = new Float64Array(d);
      for (let k = 0; k < d; k++) {
        v[k] = view.getFloat32(i * size + 4 * k, true);
        if (!Number.isFinite(v[k])) throw new InvalidError(`latent ${i} value ${k} is not finite`);
      }
      out.push(v);
    }
    return out;
  }

  /** Counts a request that addressed this load until it is over (ModelSession). */
  enter(): void {
    this.active++;
  }

  leave(): void {
    if (--this.active === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /**
   * After a reload replaced this load: requests already on it finish on it (an encode and its
   * follow-up decode never see two different weights), for at most `timeoutMs`; then it closes and
   * whatever is still running is refused, to be retried.
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

/** A JSON latent value: the float32 that a 9-digit print (toNumbers) stands for, else the value itself. */
export function latentValue(v: number): number {
  const f = Math.fround(v);
  return Number(f.toPrecision(9)) === v ? f : v;
}
