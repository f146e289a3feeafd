// GET /sample: ε ~ N(0, t²) from a seeded generator, decoded in the batcher. The latents come from
// the same generator as Glow.sample (src/glow/random.ts), so a seed means the same images here and
// in the model's own sampler, on every backend.
import { randomInt } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { normalArray } from '../glow/random.ts';
import { imagesJson, sendPng, toNumbers, wantsJson } from '../server/respond.ts';
import { sampleSchema } from '../server/schemas.ts';
import { claimWork, sampleWork } from '../server/work.ts';

export default async function sampleRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.get('/sample', { schema: sampleSchema, onRequest: app.models.admit('sample') }, async (req, reply) => {
    const { info, size } = req.glow.requireReady();
    const { t = 0.7, n = 1, format, scale } = req.query;
    claimWork(req, sampleWork(n));
    const seed = req.query.seed ?? randomInt(0, 2 ** 32 - 1);
    const d = info.latentDim;
    const all = normalArray(n * d, seed, t);
    const latents = Array.from({ length: n }, (_, i) => all.subarray(i * d, (i + 1) * d));
    const images = await req.glow.batcher.decode(latents, 'sample', req.admission);
    reply.header('x-seed', String(seed));
    if (wantsJson(req, format)) {
      return { ...(await imagesJson(images, size, scale)), latents: latents.map(toNumbers), seed, t };
    }
    return sendPng(reply, images, size, { scale });
  });
}
