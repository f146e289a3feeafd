// POST /encode: image(s) -> standardised ε and exact bits/dim.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { compareRoundTrip } from '../glow/pixels.ts';
import { HttpError } from '../server/errors.ts';
import { bodyKind, multipartFor } from '../server/inputs.ts';
import { fittedJson, toNumbers } from '../server/respond.ts';
import { MAX_IMAGES, encodeSchema, type EncodeJsonBody } from '../server/schemas.ts';
import { GlowService } from '../server/service.ts';
import { claimWork, encodeWork } from '../server/work.ts';

export default async function encodeRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.post('/encode', { schema: encodeSchema, onRequest: app.models.admit('encode') }, async (req) => {
    const { info, size } = req.glow.requireReady();
    const kind = bodyKind(req, ['multipart', 'image', 'json']);
    let buffers: Uint8Array[];
    if (kind === 'image') buffers = [req.body as Buffer];
    else if (kind === 'json') buffers = (req.body as EncodeJsonBody).images.map((s, i) => GlowService.base64(s, `images[${i}]`));
    else {
      const form = await multipartFor(req, req.glow, { files: { image: Math.min(MAX_IMAGES, req.glow.config.maxFiles) }, fields: [] });
      buffers = form.files.get('image') ?? [];
      if (buffers.length === 0) throw new HttpError(400, 'no file field "image" in the form');
    }
    claimWork(req, encodeWork(buffers.length, req.query.verify ?? false));
    const name = (i: number) => (kind === 'json' ? `images[${i}]` : buffers.length > 1 ? `image #${i + 1}` : 'image');
    const decoded = await req.glow.decodeImages(buffers, name, req.query.fit);
    const encoded = await req.glow.batcher.encode(decoded.map((d) => d.pixels), req.admission);
    const fitted = await Promise.all(decoded.map((d) => (d.fitted ? fittedJson({ ...d.fitted, pixels: d.pixels }, size) : undefined)));
    const items = encoded.map((e, i) => ({ latent: toNumbers(e.eps), bpd: e.bpd, resized: decoded[i].resized, original: decoded[i].original, fitted: fitted[i] }));
    if (!req.query.verify) return { model: req.glow.name, items };
    // Exact in theory; in float32 a few images' reverse drifts or overflows. Say which, on request.
    const back = await req.glow.batcher.decode(encoded.map((e) => e.eps), 'decode', req.admission);
    return { model: req.glow.name, items: items.map((item, i) => ({ ...item, roundTrip: compareRoundTrip(decoded[i].pixels, back[i], info.config.nBits) })) };
  });
}
