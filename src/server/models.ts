// The models served by one process, each a GlowService with its own worker thread, batcher and
// attributes, behind one HTTP server and one metrics registry. A request picks one with `?model=`
// (the default is the first); the app's onRequest hook resolves it before anything else runs.
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { AttributeStore } from '../attributes/store.ts';
import type { Op } from './batcher.ts';
import type { Config, ModelSpec } from './config.ts';
import { HttpError } from './errors.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { GlowService } from './service.ts';

type Log = (level: 'info' | 'warn' | 'error', msg: string) => void;

export class ModelRegistry {
  readonly services = new Map<string, GlowService>();
  readonly defaultName: string;
  readonly metrics: Metrics;
  /** Set on SIGTERM before the server stops accepting: /readyz answers 503 from then on. */
  stopping = false;
  /** Resolves when every model is loaded and warm; rejects when one cannot be loaded. */
  readonly ready: Promise<void>;

  constructor(
    readonly config: Config,
    specs: ModelSpec[],
    store: AttributeStore,
    log: Log,
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
    if (!service) throw new HttpError(404, `unknown model "${name}"; this server has ${[...this.services.keys()].join(', ')} (GET /models)`);
    return service;
  }

  /**
   * App-wide onRequest hook (before any route hook runs): on routes whose query schema takes
   * `model`, req.glow is the model of `?model=`. Other routes (the page, /healthz, /models, …)
   * ignore the parameter, so a stale ?model= in a bookmark still loads the page.
   */
  readonly resolve: onRequestAsyncHookHandler = async (req) => {
    const query = req.routeOptions.schema?.querystring as { properties?: Record<string, unknown> } | undefined;
    if (query?.properties?.model) req.glow = this.get(modelParam(req));
  };

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
      reply.raw.once('close', () => batcher.release(admission));
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

  async close(): Promise<void> {
    await Promise.all([...this.services.values()].map((s) => s.close()));
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
  return v;
}
