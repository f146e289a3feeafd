// POST /decode: latents -> images (PNG, a grid when several, or JSON).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { DecodeInput } from '../inference/model-session.ts';
import { bodyKind } from '../server/inputs.ts';
import { admit } from '../server/model-plugin.ts';
import { imagesJson, sendPng, wantsJson } from '../server/respond.ts';
import { decodeSchema, type DecodeBody } from '../server/schemas.ts';

export default async function decodeRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.post('/decode', { schema: decodeSchema, onRequest: admit('decode') }, async (req, reply) => {
    const { images, size } = await req.model.decode(readLatents(req));
    const { format, scale } = req.query;
    if (wantsJson(req, format)) return imagesJson(images, size, scale);
    return sendPng(reply, images, size, { scale });
  });
}

/** JSON latents, or application/octet-stream: n·latentDim little-endian float32 values, no framing (never a serialised object). */
function readLatents(req: FastifyRequest): DecodeInput {
  const kind = bodyKind(req, ['json', 'float32']);
  if (kind === 'float32') return { float32: req.body as Buffer };
  return { latents: (req.body as DecodeBody).latents.map((latent, i) => ({ latent, what: `latents[${i}]` })) };
}
