// GET /models: every model this server has, the default first, with its state (a model that is
// still loading or failed is listed, with what GET /model would say once it is ready).
// POST /models/:model/reload: the model's checkpoint loaded from disk again (after training), without downtime.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { adminGuard } from '../server/security.ts';
import { modelsSchema, reloadSchema } from './served-models.schema.ts';
import type { ModelInfo } from '../inference/worker-protocol.ts';
import { describeModel } from './model-info.ts';

export default async function servedModelsRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/models', { schema: modelsSchema }, async () => ({
    default: app.models.defaultName,
    models: [...app.models.services.values()].map((m) =>
      m.state === 'ready'
        ? { state: m.state, ...describeModel(m, app.models.defaultName) }
        : {
            state: m.state,
            model: m.name,
            default: m.name === app.models.defaultName,
            ...(m.failureMessage ? { message: m.failureMessage } : {}),
          },
    ),
  }));

  app.post('/models/:model/reload', { schema: reloadSchema, onRequest: adminGuard(app.config.adminToken) }, async (req) => {
    const { previous, current, seconds } = await app.models.reload(req.params.model);
    const loaded = (i: ModelInfo) => ({ steps: i.steps, testBpd: i.testBpd, checkpoint: i.fingerprint.slice(0, 16) });
    return {
      model: req.params.model,
      previous: previous ? loaded(previous) : null,
      current: loaded(current),
      seconds: Number(seconds.toFixed(3)),
    };
  });
}
