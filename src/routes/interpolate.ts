// POST /interpolate: a strip from one image/latent to another, linear in ε.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { lerpSteps } from '../attributes/vectors.ts';
import { HttpError } from '../server/errors.ts';
import { bodyKind, multipartFor, toLatents, type ImageOrLatent } from '../server/inputs.ts';
import { numberField } from '../server/multipart.ts';
import { fittedJson, imagesJson, sendPng, setFittedHeaders, toNumbers, wantsJson, type FittedImage } from '../server/respond.ts';
import { MAX_STEPS, interpolateSchema, type InterpolateBody } from '../server/schemas.ts';
import { GlowService } from '../server/service.ts';
import { claimWork, interpolateWork } from '../server/work.ts';

export default async function interpolateRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.post('/interpolate', { schema: interpolateSchema, onRequest: app.models.admit('decode') }, async (req, reply) => {
    const { size } = req.glow.requireReady();
    const kind = bodyKind(req, ['json', 'multipart']);
    let ends: ImageOrLatent[];
    let steps: number;
    if (kind === 'json') {
      const body = req.body as InterpolateBody;
      ends = [endpoint(req.glow, body.from, 'from'), endpoint(req.glow, body.to, 'to')];
      steps = body.steps ?? 8;
    } else {
      const form = await multipartFor(req, req.glow, { files: { from: 1, to: 1 }, fields: ['steps'] });
      const from = form.files.get('from')?.[0];
      const to = form.files.get('to')?.[0];
      if (!from || !to) throw new HttpError(400, 'the form needs two files: "from" and "to"');
      ends = [{ image: from }, { image: to }];
      steps = numberField(form.fields, 'steps', { min: 2, max: MAX_STEPS, integer: true }) ?? 8;
    }
    claimWork(req, interpolateWork(ends.filter((e) => 'image' in e).length, steps));
    const fitted: (FittedImage | null)[] | undefined = req.query.fit ? [] : undefined;
    const [a, b] = await toLatents(req.glow, ends, (i) => (i === 0 ? 'from' : 'to'), req.admission, fitted);
    const latents = lerpSteps(a, b, steps);
    const images = await req.glow.batcher.decode(latents, 'decode', req.admission);
    const { format, scale } = req.query;
    if (wantsJson(req, format)) {
      const [from, to] = await Promise.all((fitted ?? []).map((f) => (f ? fittedJson(f, size, scale) : undefined)));
      return {
        ...(await imagesJson(images, size, scale)),
        latents: latents.map(toNumbers),
        weights: latents.map((_, s) => s / (steps - 1)),
        fitted: fitted ? { from, to } : undefined,
      };
    }
    if (fitted) await setFittedHeaders(reply, fitted, size);
    return sendPng(reply, images, size, { cols: images.length, scale });
  });
}

function endpoint(glow: GlowService, e: InterpolateBody['from'], what: string): ImageOrLatent {
  const has = (e.latent ? 1 : 0) + (e.image ? 1 : 0);
  if (has !== 1) throw new HttpError(400, `${what} needs exactly one of "latent" or "image"`);
  return e.latent ? { latent: glow.latent(e.latent, `${what}.latent`) } : { image: GlowService.base64(e.image!, `${what}.image`) };
}
