// POST /decode: latents -> images (PNG, a grid when several, or JSON).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { DecodeInput } from '../inference/model-session.ts';
import { readBody, type BodySpec } from '../server/body.ts';
import { imagesJson, sendPng, wantsJson } from '../server/respond.ts';
import { DecodeBody, decodeSchema } from './decode.schema.ts';

/** JSON latents, or application/octet-stream: n·latentDim little-endian float32 values, no framing (never a serialised object). */
const body: BodySpec<typeof DecodeBody, never, 'json' | 'float32'> = { accepts: ['json', 'float32'], schema: DecodeBody };

export default async function decodeRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.post('/decode', { schema: decodeSchema, config: { modelWork: 'decode' } }, async (req, reply) => {
    const { images, size } = await req.model.decode(await readLatents(req));
    const { format, scale } = req.query;
    if (wantsJson(req, format)) return imagesJson(images, size, scale);
    return sendPng(reply, images, size, { scale });
  });
}

async function readLatents(req: FastifyRequest): Promise<DecodeInput> {
  const read = await readBody(req, body);
  if (read.kind === 'float32') return { float32: read.bytes };
  return { latents: read.body.latents.map((latent, i) => ({ latent, what: `latents[${i}]` })) };
}
