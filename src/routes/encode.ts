// POST /encode: image(s) -> standardised ε and exact bits/dim.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { MAX_IMAGES } from '../inference/limits.ts';
import type { ImageItem } from '../inference/model-session.ts';
import { base64, readBody, type BodySpec } from '../server/body.ts';
import { fittedJson, toNumbers } from '../server/respond.ts';
import { EncodeJsonBody, encodeSchema } from './encode.schema.ts';

/** A multipart form with files `image`, a raw image, or JSON {images: [base64…]}. */
const body: BodySpec<typeof EncodeJsonBody, 'images', 'multipart' | 'image' | 'json'> = {
  accepts: ['multipart', 'image', 'json'],
  schema: EncodeJsonBody,
  form: {
    images: ['images'],
    files: { image: { max: (config) => Math.min(MAX_IMAGES, config.maxFiles), missing: 'no file field "image" in the form' } },
  },
};

export default async function encodeRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.post('/encode', { schema: encodeSchema, config: { modelWork: 'encode' } }, async (req) => {
    const images = await readImages(req);
    const { items, size } = await req.model.encode({ images, verify: req.query.verify ?? false, fit: req.query.fit ?? false });
    const fitted = await Promise.all(items.map((it) => (it.fitted ? fittedJson(it.fitted, size) : undefined)));
    return {
      model: req.model.name,
      items: items.map((it, i) => ({
        latent: toNumbers(it.latent),
        bpd: it.bpd,
        resized: it.resized,
        original: it.original,
        fitted: fitted[i],
        roundTrip: it.roundTrip,
      })),
    };
  });
}

/** The images, each named as the client would name it. */
async function readImages(req: FastifyRequest): Promise<ImageItem[]> {
  const read = await readBody(req, body);
  if (read.kind === 'json') return read.body.images.map((s, i) => ({ image: base64(s, `images[${i}]`), what: `images[${i}]` }));
  const files = read.kind === 'multipart' ? read.files.get('image')! : [read.bytes];
  return files.map((image, i) => ({ image, what: files.length > 1 ? `image #${i + 1}` : 'image' }));
}
