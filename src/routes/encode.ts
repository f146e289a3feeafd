// POST /encode: image(s) -> standardised ε and exact bits/dim.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { MAX_IMAGES } from '../inference/limits.ts';
import type { ImageItem } from '../inference/model-session.ts';
import { HttpError } from '../server/errors.ts';
import { base64, bodyKind, multipartFor } from '../server/inputs.ts';
import { admit } from '../server/model-plugin.ts';
import { fittedJson, toNumbers } from '../server/respond.ts';
import { encodeSchema, type EncodeJsonBody } from '../server/schemas.ts';

export default async function encodeRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.post('/encode', { schema: encodeSchema, onRequest: admit('encode') }, async (req) => {
    const images = await readImages(req);
    const { items, size } = await req.model.encode({ images, verify: req.query.verify ?? false, fit: req.query.fit ?? false });
    const fitted = await Promise.all(items.map((it) => (it.fitted ? fittedJson(it.fitted, size) : undefined)));
    return {
      model: req.model.name,
      items: items.map((it, i) => ({ latent: toNumbers(it.latent), bpd: it.bpd, resized: it.resized, original: it.original, fitted: fitted[i], roundTrip: it.roundTrip })),
    };
  });
}

/** A form's files, a raw image, or JSON base64 images, each named as the client would name it. */
async function readImages(req: FastifyRequest): Promise<ImageItem[]> {
  const kind = bodyKind(req, ['multipart', 'image', 'json']);
  if (kind === 'image') return [{ image: req.body as Buffer, what: 'image' }];
  if (kind === 'json') return (req.body as EncodeJsonBody).images.map((s, i) => ({ image: base64(s, `images[${i}]`), what: `images[${i}]` }));
  const form = await multipartFor(req, { files: { image: Math.min(MAX_IMAGES, req.server.config.maxFiles) }, fields: [] });
  const files = form.files.get('image') ?? [];
  if (files.length === 0) throw new HttpError(400, 'no file field "image" in the form');
  return files.map((image, i) => ({ image, what: files.length > 1 ? `image #${i + 1}` : 'image' }));
}
