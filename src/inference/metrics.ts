// The inference runtime's Prometheus metrics: per model (the name ?model= takes, as the `model`
// label), its queue, batches, model calls, weights and attributes. They are registered in a
// registry the caller owns (one per app, so tests can build several apps in one process without
// "metric already registered" clashes), beside whatever else the caller measures there.
import client from 'prom-client';
import type { BatcherObserver, Op } from './batcher.ts';
import type { ModelInfo } from './worker-protocol.ts';

/** Seconds, 1 ms to 10 s: HTTP requests and model calls share one scale. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface ModelMetrics {
  /** The registry these are registered in. */
  registry: client.Registry;
  inferenceDuration: client.Histogram<'model' | 'operation' | 'engine'>;
  batchSize: client.Histogram<'model' | 'operation'>;
  queueWait: client.Histogram<'model' | 'operation'>;
  queueDepth: client.Gauge<'model' | 'operation'>;
  imagesProcessed: client.Counter<'model' | 'operation'>;
  queueRejections: client.Counter<'model' | 'operation' | 'reason'>;
  nonFiniteImages: client.Counter<'model' | 'operation'>;
  reencodedImages: client.Counter<'model'>;
  modelInfo: client.Gauge<'model' | 'name' | 'dataset' | 'backend' | 'engine'>;
  modelSteps: client.Gauge<'model'>;
  reloads: client.Counter<'model' | 'result'>;
  /** After a reload: drops the previous load's info series when its labels differ from the new one's. */
  forgetModelInfo(model: string, previous: ModelInfo, current: ModelInfo): void;
  attributes: client.Gauge<'model' | 'source'>;
  tensors: client.Gauge<'model'>;
  /** The batcher's callbacks for one model; `engine` names the engine that runs it once it is loaded. */
  observer(model: string, engine?: () => string): BatcherObserver;
}

/** What the scrape-time gauges read from one served model. */
export interface ModelSource {
  name: string;
  queueDepth(op: Op): number;
  attributeCounts(): Promise<{ builtin: number; user: number }>;
  /** A fresh reading from the worker when it answers quickly, else the one after its last call. */
  numTensors(): number | Promise<number>;
}

export interface MetricSources {
  models(): ModelSource[];
}

const OPS: Op[] = ['encode', 'decode', 'sample'];

export function createModelMetrics(registry: client.Registry, sources: MetricSources): ModelMetrics {
  const inferenceDuration = new client.Histogram({
    name: 'glow_inference_duration_seconds',
    help: 'Model compute time per batch inside the inference worker, by operation and engine (onnx, tfjs)',
    labelNames: ['model', 'operation', 'engine'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const batchSize = new client.Histogram({
    name: 'glow_batch_size',
    help: 'Items per model call (dynamic batching), by operation',
    labelNames: ['model', 'operation'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [registry],
  });
  const queueWait = new client.Histogram({
    name: 'glow_queue_wait_seconds',
    help: 'Time an item waited in the batching queue before its batch started, by operation',
    labelNames: ['model', 'operation'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const queueDepth = new client.Gauge({
    name: 'glow_queue_depth',
    help: 'Items waiting in the batching queue, by operation',
    labelNames: ['model', 'operation'] as const,
    registers: [registry],
    collect() {
      for (const m of sources.models()) for (const op of OPS) this.set({ model: m.name, operation: op }, m.queueDepth(op));
    },
  });
  const imagesProcessed = new client.Counter({
    name: 'glow_images_processed_total',
    help: 'Images encoded or decoded by the model, by operation',
    labelNames: ['model', 'operation'] as const,
    registers: [registry],
  });
  const queueRejections = new client.Counter({
    name: 'glow_queue_rejections_total',
    help: 'Items refused with 503: queue full, waited too long, or shutting down',
    labelNames: ['model', 'operation', 'reason'] as const,
    registers: [registry],
  });
  // Quantised, NaN and ±Inf pass for black pixels; this is how often the model's reverse produced them.
  const nonFiniteImages = new client.Counter({
    name: 'glow_nonfinite_images_total',
    help: "Decoded images holding NaN or ±Inf values (the reverse's float32 rounding blew up), by operation",
    labelNames: ['model', 'operation'] as const,
    registers: [registry],
  });
  // Far from the data (and in the tails of the data) an image's latent leaves [−5, 5]: encode runs it a
  // second time, in float64 on the halves decode rebuilds, so its round trip holds (docs/stability.md).
  const reencodedImages = new client.Counter({
    name: 'glow_encode_second_pass_images_total',
    help: 'Images encoded a second time, in float64 with each prior conditioned on the half decode rebuilds, because their latent left [-5, 5]',
    labelNames: ['model'] as const,
    registers: [registry],
  });
  const modelInfo = new client.Gauge({
    name: 'glow_model_info',
    help: 'A model being served (value 1); name and dataset from its manifest, the engine that runs it (onnx, tfjs) and the TF.js backend',
    labelNames: ['model', 'name', 'dataset', 'backend', 'engine'] as const,
    registers: [registry],
  });
  const modelSteps = new client.Gauge({
    name: 'glow_model_steps',
    help: 'Training steps of the checkpoint being served (changes when a reload brings newer weights)',
    labelNames: ['model'] as const,
    registers: [registry],
  });
  const reloads = new client.Counter({
    name: 'glow_model_reloads_total',
    help: 'Checkpoint reloads (POST /models/:model/reload, SIGHUP), by result (ok, failed)',
    labelNames: ['model', 'result'] as const,
    registers: [registry],
  });
  const infoLabels = (model: string, i: ModelInfo) => ({ model, name: i.name, dataset: i.dataset, backend: i.backend, engine: i.engine });
  const forgetModelInfo = (model: string, previous: ModelInfo, current: ModelInfo) => {
    const [a, b] = [infoLabels(model, previous), infoLabels(model, current)];
    if (a.name !== b.name || a.dataset !== b.dataset || a.backend !== b.backend || a.engine !== b.engine) modelInfo.remove(a);
  };
  const attributes = new client.Gauge({
    name: 'glow_attributes',
    help: 'Attribute directions available per model, by source (builtin, user)',
    labelNames: ['model', 'source'] as const,
    registers: [registry],
    async collect() {
      for (const m of sources.models()) {
        // A store that is down must not take the whole scrape with it: that model's gauge is left out.
        const c = await m.attributeCounts().catch(() => undefined);
        if (!c) {
          this.remove({ model: m.name, source: 'builtin' });
          this.remove({ model: m.name, source: 'user' });
          continue;
        }
        this.set({ model: m.name, source: 'builtin' }, c.builtin);
        this.set({ model: m.name, source: 'user' }, c.user);
      }
    },
  });
  const tensors = new client.Gauge({
    name: 'glow_worker_tensors',
    help: "tf.memory().numTensors in each model's inference worker, read at scrape time (flat = no leak)",
    labelNames: ['model'] as const,
    registers: [registry],
    async collect() {
      for (const m of sources.models()) this.set({ model: m.name }, await m.numTensors());
    },
  });

  const observer = (model: string, engine = () => ''): BatcherObserver => ({
    batch(op, size, workerMs) {
      batchSize.observe({ model, operation: op }, size);
      inferenceDuration.observe({ model, operation: op, engine: engine() }, workerMs / 1000);
      imagesProcessed.inc({ model, operation: op }, size);
    },
    queueWait(op, ms) {
      queueWait.observe({ model, operation: op }, ms / 1000);
    },
    rejected(op, reason) {
      queueRejections.inc({ model, operation: op, reason });
    },
    nonFinite(op) {
      nonFiniteImages.inc({ model, operation: op });
    },
    reencoded(images) {
      reencodedImages.inc({ model }, images);
    },
  });

  return {
    registry,
    inferenceDuration,
    batchSize,
    queueWait,
    queueDepth,
    imagesProcessed,
    queueRejections,
    nonFiniteImages,
    reencodedImages,
    modelInfo,
    modelSteps,
    reloads,
    forgetModelInfo,
    attributes,
    tensors,
    observer,
  };
}
