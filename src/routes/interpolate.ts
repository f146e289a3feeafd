// POST /interpolate: a strip from one image/latent to another, linear in ε.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { MAX_STEPS } from '../inference/limits.ts';
import type { Item } from '../inference/model-session.ts';
import { HttpError } from '../server/errors.ts';
import { base64, bodyKind, multipartFor } from '../server/inputs.ts';
import { admit } from '../server/model-plugin.ts';
import { numberField } from '../server/multipart.ts';
import { fittedJson, imagesJson, sendPng, setFittedHeaders, toNumbers, wantsJson } from '../server/respond.ts';
import { interpolateSchema, type InterpolateBody } from '../server/schemas.ts';

export default async function interpolateRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.post('/interpolate', { schema: interpolateSchema, onRequest: admit('decode') }, async (req, reply) => {
    const strip = await req.model.interpolate({ ...(await readEnds(req)), fit: req.query.fit ?? false });
    const { images, size, fitted } = strip;
    const { format, scale } = req.query;
    if (wantsJson(req, format)) {
      const [from, to] = await Promise.all((fitted ?? []).map((f) => (f ? fittedJson(f, size, scale) : undefined)));
      return { ...(await imagesJson(images, size, scale)), latents: strip.latents.map(toNumbers), weights: strip.weights, fitted: fitted ? { from, to } : undefined };
    }
    if (fitted) await setFittedHeaders(reply, fitted, size);
    return sendPng(reply, images, size, { cols: images.length, scale });
  });
}

/** The two ends (JSON: each a latent or a base64 image; a form: files "from" and "to") and the strip's length. */
async function readEnds(req: FastifyRequest): Promise<{ from: Item; to: Item; steps: number }> {
  const kind = bodyKind(req, ['json', 'multipart']);
  if (kind === 'json') {
    const body = req.body as InterpolateBody;
    return { from: endpoint(body.from, 'from'), to: endpoint(body.to, 'to'), steps: body.steps ?? 8 };
  }
  const form = await multipartFor(req, { files: { from: 1, to: 1 }, fields: ['steps'] });
  const from = form.files.get('from')?.[0];
  const to = form.files.get('to')?.[0];
  if (!from || !to) throw new HttpError(400, 'the form needs two files: "from" and "to"');
  const steps = numberField(form.fields, 'steps', { min: 2, max: MAX_STEPS, integer: true }) ?? 8;
  return { from: { image: from, what: 'from' }, to: { image: to, what: 'to' }, steps };
}

function endpoint(e: InterpolateBody['from'], what: string): Item {
  const has = (e.latent ? 1 : 0) + (e.image ? 1 : 0);
  if (has !== 1) throw new HttpError(400, `${what} needs exactly one of "latent" or "image"`);
  return e.latent ? { latent: e.latent, what: `${what}.latent` } : { image: base64(e.image!, `${what}.image`), what };
}
