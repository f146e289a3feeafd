// The models served by one process, each a ModelService with its own worker thread, batcher and
// attributes, sharing one metrics registry. A request picks one by name (the default is the first).
import type client from 'prom-client';
import type { AttributeStore } from '../attributes/store.ts';
import { ConflictError, FailedError, NotFoundError, UnavailableError } from '../errors.ts';
import { createModelMetrics, type ModelMetrics } from './metrics.ts';
import { ModelService, type Log } from './model-service.ts';
import type { InferenceOptions, ModelSpec } from './options.ts';
import type { ModelInfo } from './worker-protocol.ts';

export class ModelRegistry {
  readonly services = new Map<string, ModelService>();
  readonly defaultName: string;
  readonly metrics: ModelMetrics;
  /** Set on SIGTERM before the server stops accepting: /readyz answers 503 from then on. */
  stopping = false;
  /** Resolves when every model is loaded and warm; rejects when one cannot be loaded. */
  readonly ready: Promise<void>;
  private readonly reloading = new Set<string>();
  /** Loads not in `services`: a reload's new one while it warms up, the old one while it retires. */
  private readonly offstage = new Set<ModelService>();
  private closed = false;

  constructor(
    readonly options: InferenceOptions,
    specs: ModelSpec[],
    private readonly store: AttributeStore,
    private readonly log: Log,
    /** Where the models' metrics are registered. */
    registry: client.Registry,
  ) {
    this.metrics = createModelMetrics(registry, { models: () => [...this.services.values()] });
    for (const spec of specs) this.services.set(spec.name, new ModelService(options, spec, store, this.metrics, log));
    this.defaultName = specs[0].name;
    this.ready = Promise.all([...this.services.values()].map((s) => s.ready)).then(() => {});
    this.ready.catch(() => {});
  }

  /** The named model, or the default; an unknown name is 'not found', listing the served ones. */
  get(name?: string): ModelService {
    const service = this.services.get(name ?? this.defaultName);
    if (!service) throw new NotFoundError(`unknown model "${name}"; this server has ${[...this.services.keys()].join(', ')} (GET /models)`);
    return service;
  }

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
    if (this.reloading.has(old.name))
      throw new ConflictError(`model ${old.name} is already being reloaded (or its previous weights are still finishing requests)`);
    if (old.state === 'loading') throw new ConflictError(`model ${old.name} is still loading; reload it once it is ready`);
    this.reloading.add(old.name);
    const started = performance.now();
    const fresh = new ModelService(this.options, old.spec, this.store, this.metrics, this.log);
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
      throw new FailedError(`model ${old.name} could not be reloaded: ${fresh.failureMessage}${serving}`, 'RELOAD_FAILED');
    }
    const previous = old.state === 'ready' ? old.requireReady().info : undefined;
    this.services.set(old.name, fresh);
    this.offstage.delete(fresh);
    this.offstage.add(old);
    if (previous) this.metrics.forgetModelInfo(old.name, previous, current);
    this.metrics.reloads.inc({ model: old.name, result: 'ok' });
    this.log(
      'info',
      `reloaded ${old.name}: step ${previous?.steps ?? '–'} → ${current.steps} (weights ${current.fingerprint.slice(0, 16)})`,
    );
    void old
      .retire(this.options.shutdownTimeoutMs)
      .catch((err: Error) => this.log('error', `closing the previous load of ${old.name}: ${err.message}`))
      .finally(() => {
        this.offstage.delete(old);
        this.reloading.delete(old.name);
      });
    return { previous, current, seconds: (performance.now() - started) / 1000 };
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
