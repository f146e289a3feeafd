// GET /model: what is being served: architecture, checkpoint and backend of one model (?model=, else the default).
import type { FastifyInstance } from 'fastify';
import type { ModelService } from '../inference/model-service.ts';
import { modelSchema } from './model-info.schema.ts';

export default async function modelInfoRoutes(app: FastifyInstance): Promise<void> {
  app.get('/model', { schema: modelSchema }, async (req) => describeModel(req.model.service, app.models.defaultName));
}

/** GET /model's reply; 503 while the model loads. */
export function describeModel(service: ModelService, defaultName: string) {
  const { info, fit } = service.requireReady();
  const c = info.config;
  const { maxBatch, maxDelayMs, maxQueue } = service.options;
  return {
    model: service.name,
    default: service.name === defaultName,
    name: info.name,
    dataset: info.dataset,
    image: { height: c.height, width: c.width, channels: c.channels },
    latentDim: info.latentDim,
    levels: c.levels,
    depth: c.depth,
    hidden: c.hidden,
    coupling: c.coupling,
    priorMinSd: c.priorMinSd ?? 0,
    minScale: c.minScale ?? 0,
    priorBounds: c.priorBounds ?? null,
    nBits: c.nBits,
    parameterCount: info.parameterCount,
    steps: info.steps,
    testBpd: info.testBpd,
    backend: info.backend,
    engine: info.engine,
    checkpoint: info.fingerprint.slice(0, 16),
    batching: { maxBatch, maxDelayMs, maxQueue },
    fit,
  };
}
