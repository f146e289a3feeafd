// Prometheus metrics. One registry per app instance, so tests can build several apps in one
// process without "metric already registered" clashes.
import client from 'prom-client';
import type { BatcherObserver, Op } from './batcher.ts';

/** Seconds, 1 ms to 10 s: HTTP requests and model calls share one scale. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface Metrics {
  registry: client.Registry;
  httpDuration: client.Histogram<'route' | 'method' | 'status_code'>;
  inferenceDuration: client.Histogram<'operation'>;
  batchSize: client.Histogram<'operation'>;
  queueWait: client.Histogram<'operation'>;
  queueDepth: client.Gauge<'operation'>;
  imagesProcessed: client.Counter<'operation'>;
  queueRejections: client.Counter<'operation' | 'reason'>;
  modelInfo: client.Gauge<'name' | 'dataset' | 'backend'>;
  attributes: client.Gauge<'source'>;
  tensors: client.Gauge;
  observer: BatcherObserver;
}

export interface MetricSources {
  queueDepth(op: Op): number;
  attributeCounts(): Promise<{ builtin: number; user: number }>;
  /** A fresh reading from the worker when it answers quickly, else the one after its last call. */
  numTensors(): number | Promise<number>;
}

const OPS: Op[] = ['encode', 'decode', 'sample'];

export function createMetrics(sources: MetricSources): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });

  const httpDuration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route template, method and status code',
    labelNames: ['route', 'method', 'status_code'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const inferenceDuration = new client.Histogram({
    name: 'glow_inference_duration_seconds',
    help: 'Model compute time per batch inside the inference worker, by operation',
    labelNames: ['operation'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const batchSize = new client.Histogram({
    name: 'glow_batch_size',
    help: 'Items per model call (dynamic batching), by operation',
    labelNames: ['operation'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [registry],
  });
  const queueWait = new client.Histogram({
    name: 'glow_queue_wait_seconds',
    help: 'Time an item waited in the batching queue before its batch started, by operation',
    labelNames: ['operation'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const queueDepth = new client.Gauge({
    name: 'glow_queue_depth',
    help: 'Items waiting in the batching queue, by operation',
    labelNames: ['operation'] as const,
    registers: [registry],
    collect() {
      for (const op of OPS) this.set({ operation: op }, sources.queueDepth(op));
    },
  });
  const imagesProcessed = new client.Counter({
    name: 'glow_images_processed_total',
    help: 'Images encoded or decoded by the model, by operation',
    labelNames: ['operation'] as const,
    registers: [registry],
  });
  const queueRejections = new client.Counter({
    name: 'glow_queue_rejections_total',
    help: 'Items refused with 503: queue full, waited too long, or shutting down',
    labelNames: ['operation', 'reason'] as const,
    registers: [registry],
  });
  const modelInfo = new client.Gauge({
    name: 'glow_model_info',
    help: 'The model being served (value 1)',
    labelNames: ['name', 'dataset', 'backend'] as const,
    registers: [registry],
  });
  const attributes = new client.Gauge({
    name: 'glow_attributes',
    help: 'Attribute directions available for the served model, by source (builtin, user)',
    labelNames: ['source'] as const,
    registers: [registry],
    async collect() {
      const c = await sources.attributeCounts();
      this.set({ source: 'builtin' }, c.builtin);
      this.set({ source: 'user' }, c.user);
    },
  });
  const tensors = new client.Gauge({
    name: 'glow_worker_tensors',
    help: 'tf.memory().numTensors in the inference worker, read at scrape time (flat = no leak)',
    registers: [registry],
    async collect() {
      this.set(await sources.numTensors());
    },
  });

  const observer: BatcherObserver = {
    batch(op, size, workerMs) {
      batchSize.observe({ operation: op }, size);
      inferenceDuration.observe({ operation: op }, workerMs / 1000);
      imagesProcessed.inc({ operation: op }, size);
    },
    queueWait(op, ms) {
      queueWait.observe({ operation: op }, ms / 1000);
    },
    rejected(op, reason) {
      queueRejections.inc({ operation: op, reason });
    },
  };

  return { registry, httpDuration, inferenceDuration, batchSize, queueWait, queueDepth, imagesProcessed, queueRejections, modelInfo, attributes, tensors, observer };
}
