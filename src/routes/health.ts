// Liveness and readiness, for orchestrators and load balancers.
import type { FastifyInstance } from 'fastify';
import { healthSchema, readySchema } from '../server/schemas.ts';

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  // Alive as long as the event loop answers, model or not.
  app.get('/healthz', { schema: healthSchema }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', { schema: readySchema }, async (_req, reply) => {
    const g = app.glow;
    // Draining first: a load balancer stops routing here while in-flight requests finish.
    if (g.stopping) return reply.status(503).send({ status: 'stopping', message: 'shutting down' });
    if (g.state === 'ready' && g.client.ready) return { status: 'ready' as const };
    if (g.state === 'ready') return reply.status(503).send({ status: 'loading', message: 'inference worker is restarting' });
    if (g.state === 'failed') return reply.status(503).send({ status: 'failed', message: g.failure?.message.split('\n')[0] ?? 'model failed to load' });
    return reply.status(503).send({ status: 'loading', message: 'model is loading' });
  });
}
