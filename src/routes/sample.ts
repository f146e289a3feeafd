// GET /sample: random samples at temperature t, the same images for the same seed.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { imagesJson, sendPng, toNumbers, wantsJson } from '../server/respond.ts';
import { sampleSchema } from './sample.schema.ts';

export default async function sampleRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.get('/sample', { schema: sampleSchema, config: { modelWork: 'sample' } }, async (req, reply) => {
    const { t = 0.7, n = 1, seed, format, scale } = req.query;
    const sample = await req.model.sample({ n, t, seed });
    const { images, size } = sample;
    reply.header('x-seed', String(sample.seed));
    if (wantsJson(req, format)) {
      return { ...(await imagesJson(images, size, scale)), latents: sample.latents.map(toNumbers), seed: sample.seed, t };
    }
    return sendPng(reply, images, size, { scale });
  });
}
