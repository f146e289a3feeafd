// The models served by one process, each a GlowService with its own worker thread, batcher and
// attributes, behind one HTTP server and one metrics registry. A request picks one with `?model=`
// (the default is the first); the app's onRequest hook resolves it before anything else runs.
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { AttributeStore } from '../attributes/store.ts';
import type { Op } from '../inference/batcher.ts';
import { MODEL_NAME, type Config, type ModelSpec } from './config.ts';
import { ConflictError, NotFoundError, UnavailableError } from '../errors.ts';
import { HttpError } from './errors.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { GlowService } from './service.ts';
import type { ModelInfo } from '../inference/worker-protocol.ts';

type Log = (level: 'info' | 'warn' | 'error', msg: string) => void;

export class ModelRegistry {
  readonly services = new Map<string, GlowService>();
  readonly defaultName: string;
  readonly metrics: Metrics;
  /** Set on SIGTERM before the server stops accepting: /readyz answers 503 from then on. */
  stopping = false;
  /** Resolves when every model is loaded and warm; rejects when one cannot be loaded. */
  readonly ready: Promise<void>;
  private readonly reloading = new Set<string>();
  /** Loads not in `services`: a reload's new one while it warms up, the old one while it retires. */
  private readonly offstage = new Set<GlowService>();
  private closed = false;

  constructor(
    readonly config: Config,
    specs: ModelSpec[],
    private readonly store: AttributeStore,
    private readonly log: Log,
  ) {
    this.metrics = createMetrics({ models: () => [...this.services.values()] });
    for (const spec of specs) this.services.set(spec.name, new GlowService(config, spec, store, this.metrics, log));
    this.defaultName = specs[0].name;
    this.ready = Promise.all([...this.services.values()].map((s) => s.ready)).then(() => {});
    this.ready.catch(() => {});
  }

  /** The named model, or the default; an unknown name is a 404 that lists the served ones. */
  get(name?: string): GlowService {
    const service = this.services.get(name ?? this.defaultName);
    if (!service) throw new NotFoundError(`unknown model "${name}"; this server has ${[...this.services.keys()].join(', ')} (GET /models)`);
    return service;
  }

  /**
   * App-wide onRequest hook (before any route hook runs): on routes whose query schema takes
   * `model`, req.glow is the model of `?model=`. Other routes (the page, /healthz, /models, …)
   * ignore the parameter, so a stale ?model= in a bookmark still loads the page.
   */
  readonly resolve: onRequestAsyncHookHandler = async (req, reply) => {
    const query = req.routeOptions.schema?.querystring as { properties?: Record<string, unknown> } | undefined;
    if (!query?.properties?.model) return;
    // The request stays on this load to the end, even if a reload swaps in another meanwhile.
    const service = this.get(modelParam(req));
    req.glow = service;
    service.enter();
    reply.raw.once('close', () => service.leave());
  };

  /**
   * Loads a model's checkpoint from disk again, without downtime: the new load is started and
   * warmed beside the old one, then takes every new request, while requests already on the old
   * one finish there (for at most shutdownTimeoutMs) before it closes. If the new checkpoint cannot
   * be loaded, nothing changes. One reload per model at a time, counting the old load's retirement,
   * so there are never more than two loads of a model in memory.
   * User attributes stay tied to the weights they were made with (a retrained model has none yet).
   */
  async reload(name: string): Promise<{ previous: ModelInfo | undefined; current: ModelInfo; seconds: number }> {
    const old = this.get(name);
    if (this.stopping || this.closed) throw new UnavailableError('server is shutting down', 5);
    if (this.reloading.has(old.name)) throw new ConflictError(`model ${old.name} is already being reloaded (or its previous weights are still finishing requests)`);
    if (old.state === 'loading') throw new ConflictError(`model ${old.name} is still loading; reload it once it is ready`);
    this.reloading.add(old.name);
    const started = performance.now();
    const fresh = new GlowService(this.config, old.spec, this.store, this.metrics, this.log);
    this.offstage.add(fresh);
    let current: ModelInfo;
    try {
      current = (await fresh.ready).info;
      if (this.stopping || this.closed) throw new UnavailableError('server is shutting down', 5);
    } catch (err) {
      this.offstage.delete(fresh);
      this.reloading.delete(old.name);
      await fresh.close();
      if (err instanceof UnavailableError) throw err;
      this.metrics.reloads.inc({ model: old.name, result: 'failed' });
      const serving = old.state === 'ready' ? `; still serving the checkpoint of step ${old.requireReady().info.steps}` : '';
      throw new HttpError(500, `model ${old.name} could not be reloaded: ${fresh.failureMessage}${serving}`, {}, 'RELOAD_FAILED');
    }
    const previous = old.state === 'ready' ? old.requireReady().info : undefined;
    this.services.set(old.name, fresh);
    this.offstage.delete(fresh);
    this.offstage.add(old);
    if (previous) this.metrics.forgetModelInfo(old.name, previous, current);
    this.metrics.reloads.inc({ model: old.name, result: 'ok' });
    this.log('info', `reloaded ${old.name}: step ${previous?.steps ?? '–'} → ${current.steps} (weights ${current.fingerprint.slice(0, 16)})`);
    void old
      .retire(this.config.shutdownTimeoutMs)
      .catch((err: Error) => this.log('error', `closing the previous load of ${old.name}: ${err.message}`))
      .finally(() => {
        this.offstage.delete(old);
        this.reloading.delete(old.name);
      });
    return { previous, current, seconds: (performance.now() - started) / 1000 };
  }

  /**
   * onRequest hook for routes that use the model: 503 + Retry-After at once when that model's
   * queue is full, else the request is admitted (req.admission; see Batcher.admit) until its
   * response is done.
   */
  admit(op: Op): onRequestAsyncHookHandler {
    return async (req, reply) => {
      const { batcher } = req.glow;
      const admission = batcher.admit(op);
      req.admission = admission;
      // 'close' fires when the response is done or the connection died, whichever comes first.
      reply.raw.once('close', () => batcher.end(admission));
    };
  }

  /** Waits for every queue to empty (or the timeout), then fails what is left with `err`. */
  async drain(timeoutMs: number, err: Error): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all([...this.services.values()].map((s) => s.batcher.drain())), timeout]);
    clearTimeout(timer);
    for (const s of this.services.values()) s.batcher.failAll(err);
  }

  /** Closes every load: the served ones, and any still warming up or retiring after a reload. */
  async close(): Promise<void> {
    this.closed = true;
    const reason = new UnavailableError('server is shutting down', 5);
    await Promise.all([...this.services.values(), ...this.offstage].map((s) => s.close(reason)));
  }
}

/**
 * `?model=` read from the raw query: this runs in onRequest, before schema validation, and the
 * name is only ever looked up in the map, so a strange value is just an unknown model.
 */
function modelParam(req: FastifyRequest): string | undefined {
  const v = (req.query as Record<string, unknown> | undefined)?.model;
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new HttpError(400, 'querystring/model must be given once');
  // The schema's limits, enforced here since this runs before validation: never echo a long value.
  if (!MODEL_NAME.test(v)) throw new HttpError(400, 'querystring/model must be a model name: 1–64 characters of a-z, 0-9, _, . and -, starting with a letter or digit (GET /models lists them)', {}, 'FST_ERR_VALIDATION');
  return v;
}
