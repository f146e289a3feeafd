// POST /decode: latents -> images (PNG, a grid when several, or JSON).
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { HttpError } from '../server/errors.ts';
import { bodyKind } from '../server/inputs.ts';
import { imagesJson, sendPng, wantsJson } from '../server/respond.ts';
import { MAX_IMAGES, decodeSchema, type DecodeBody } from '../server/schemas.ts';
import { claimWork, decodeWork } from '../server/work.ts';

export default async function decodeRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.post('/decode', { schema: decodeSchema, onRequest: app.models.admit('decode') }, async (req, reply) => {
    const { size, info } = req.glow.requireReady();
    const kind = bodyKind(req, ['json', 'float32']);
    const latents = kind === 'json' ? (req.body as DecodeBody).latents.map((l, i) => req.glow.latent(l, `latents[${i}]`)) : rawLatents(req.body as Buffer, info.latentDim);
    claimWork(req, decodeWork(latents.length));
    const images = await req.glow.batcher.decode(latents, 'decode', req.admission);
    const { format, scale } = req.query;
    if (wantsJson(req, format)) return imagesJson(images, size, scale);
    return sendPng(reply, images, size, { scale });
  });
}

/** application/octet-stream: n·latentDim little-endian float32 values, no framing (never a serialised object). */
function rawLatents(body: Buffer, d: number): Float32Array[] {
  const bytes = 4 * d;
  if (body.length === 0) throw new HttpError(400, `the float32 body is empty (0 bytes); send n × ${bytes} bytes (n latents of ${d} little-endian float32)`);
  if (body.length === 0 || body.length % bytes !== 0) throw new HttpError(400, `a float32 body must be a whole number of latents: ${body.length} bytes is not a multiple of ${bytes} (4 × ${d})`);
  const n = body.length / bytes;
  if (n > MAX_IMAGES) throw new HttpError(400, `${n} latents; at most ${MAX_IMAGES} per request`);
  const out: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const v = new Float32Array(d);
    for (let k = 0; k < d; k++) {
      v[k] = body.readFloatLE(i * bytes + 4 * k);
      if (!Number.isFinite(v[k])) throw new HttpError(400, `latent ${i} value ${k} is not finite`);
    }
    out.push(v);
  }
  return out;
}
