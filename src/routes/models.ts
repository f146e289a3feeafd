// GET /models: every model this server has, the default first, with its state (a model that is
// still loading or failed is listed, with what GET /model would say once it is ready).
import type { FastifyInstance } from 'fastify';
import { modelsSchema } from '../server/schemas.ts';
import { describeModel } from './model.ts';

export default async function modelsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/models', { schema: modelsSchema }, async () => ({
    default: app.models.defaultName,
    models: [...app.models.services.values()].map((g) =>
      g.state === 'ready'
        ? { state: g.state, ...describeModel(g, app.models.defaultName) }
        : { state: g.state, model: g.name, default: g.name === app.models.defaultName, ...(g.failureMessage ? { message: g.failureMessage } : {}) },
    ),
  }));
}
