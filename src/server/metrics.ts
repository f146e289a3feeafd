// Prometheus metrics of the HTTP server: one registry per app instance (so tests can build several
// apps in one process without "metric already registered" clashes), holding the process's default
// metrics, the request durations below, and the inference runtime's metrics (src/inference/metrics.ts).
import client from 'prom-client';
import { DURATION_BUCKETS } from '../inference/metrics.ts';

export interface HttpMetrics {
  registry: client.Registry;
  /** Labelled with the model a request addressed (empty for requests without one). */
  httpDuration: client.Histogram<'route' | 'method' | 'status_code' | 'model'>;
}

export function createHttpMetrics(): HttpMetrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const httpDuration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route template, method and status code',
    labelNames: ['route', 'method', 'status_code', 'model'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  return { registry, httpDuration };
}
