// Liveness and readiness, for orchestrators and load balancers.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';

const HealthResponse = Type.Object({ status: Type.Literal('ok') });
const ReadyResponse = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('loading'), Type.Literal('failed'), Type.Literal('stopping')]),
  message: Type.Optional(Type.String()),
});
const healthSchema = { tags: ['health'], summary: 'Liveness', response: { 200: HealthResponse } };
const readySchema = {
  tags: ['health'],
  summary: 'Readiness: 200 once the model is loaded and warmed',
  response: { 200: ReadyResponse, 503: ReadyResponse },
};

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  // Alive as long as the event loop answers, model or not.
  app.get('/healthz', { schema: healthSchema }, async () => ({ status: 'ok' as const }));

  // Ready when every served model is loaded, warm and has a live worker: a replica that cannot
  // answer for one of its models should not get traffic for any.
  app.get('/readyz', { schema: readySchema }, async (_req, reply) => {
    // Draining first: a load balancer stops routing here while in-flight requests finish.
    if (app.models.stopping) return reply.status(503).send({ status: 'stopping', message: 'shutting down' });
    const services = [...app.models.services.values()];
    const failed = services.find((m) => m.state === 'failed');
    if (failed)
      return reply.status(503).send({ status: 'failed', message: `${failed.name}: ${failed.failureMessage ?? 'model failed to load'}` });
    const loading = services.find((m) => m.state !== 'ready');
    if (loading) return reply.status(503).send({ status: 'loading', message: `model ${loading.name} is loading` });
    const restarting = services.find((m) => !m.client.ready);
    if (restarting) return reply.status(503).send({ status: 'loading', message: `inference worker of ${restarting.name} is restarting` });
    return { status: 'ready' as const };
  });
}
