// Prometheus scrape endpoint.
import type { FastifyInstance } from 'fastify';

const metricsSchema = {
  tags: ['health'],
  summary: 'Prometheus metrics',
  produces: ['text/plain'],
  response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } },
};

export default async function metricsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/metrics', { schema: metricsSchema }, async (_req, reply) => {
    const { registry } = app.metrics;
    reply.type(registry.contentType);
    return registry.metrics();
  });
}
