// What is being served: architecture, checkpoint and backend.
import type { FastifyInstance } from 'fastify';
import { modelSchema } from '../server/schemas.ts';

export default async function modelRoutes(app: FastifyInstance): Promise<void> {
  app.get('/model', { schema: modelSchema }, async () => {
    const { info } = app.glow.requireReady();
    const c = info.config;
    const { maxBatch, maxDelayMs, maxQueue } = app.glow.config;
    return {
      name: info.name,
      dataset: info.dataset,
      image: { height: c.height, width: c.width, channels: c.channels },
      latentDim: info.latentDim,
      levels: c.levels,
      depth: c.depth,
      hidden: c.hidden,
      coupling: c.coupling,
      nBits: c.nBits,
      parameterCount: info.parameterCount,
      steps: info.steps,
      testBpd: info.testBpd,
      backend: info.backend,
      checkpoint: info.fingerprint.slice(0, 16),
      batching: { maxBatch, maxDelayMs, maxQueue },
    };
  });
}
