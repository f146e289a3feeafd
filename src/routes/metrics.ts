// Prometheus scrape endpoint.
import type { FastifyInstance } from 'fastify';
import { metricsSchema } from '../server/schemas.ts';

export default async function metricsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/metrics', { schema: metricsSchema }, async (_req, reply) => {
    const { registry } = app.metrics;
    reply.type(registry.contentType);
    return registry.metrics();
  });
}
