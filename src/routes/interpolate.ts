// POST /interpolate: a strip from one image/latent to another, linear in ε.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { InterpolateInput, Item } from '../inference/model-session.ts';
import { base64, readBody, type BodySpec } from '../server/body.ts';
import { HttpError } from '../server/errors.ts';
import { fittedJson, imagesJson, sendPng, setFittedHeaders, toNumbers, wantsJson } from '../server/respond.ts';
import { InterpolateBody, interpolateSchema } from './interpolate.schema.ts';

/** JSON {from, to, steps} (each end a latent or a base64 image), or a form: files `from` and `to`, field `steps`. */
const both = 'the form needs two files: "from" and "to"';
const body: BodySpec<typeof InterpolateBody, 'from' | 'to', 'json' | 'multipart'> = {
  accepts: ['json', 'multipart'],
  schema: InterpolateBody,
  form: { images: ['from', 'to'], files: { from: { max: 1, missing: both }, to: { max: 1, missing: both } }, fields: { steps: {} } },
};

export default async function interpolateRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.post('/interpolate', { schema: interpolateSchema, config: { modelWork: 'decode' } }, async (req, reply) => {
    const strip = await req.model.interpolate({ ...(await readEnds(req)), fit: req.query.fit ?? false });
    const { images, size, fitted } = strip;
    const { format, scale } = req.query;
    if (wantsJson(req, format)) {
      const [from, to] = await Promise.all((fitted ?? []).map((f) => (f ? fittedJson(f, size, scale) : undefined)));
      return {
        ...(await imagesJson(images, size, scale)),
        latents: strip.latents.map(toNumbers),
        weights: strip.weights,
        fitted: fitted ? { from, to } : undefined,
      };
    }
    if (fitted) await setFittedHeaders(reply, fitted, size);
    return sendPng(reply, images, size, { cols: images.length, scale });
  });
}

async function readEnds(req: FastifyRequest): Promise<Omit<InterpolateInput, 'fit'>> {
  const read = await readBody(req, body);
  // `steps` has the schema's default either way.
  if (read.kind === 'json') return { from: end(read.body.from, 'from'), to: end(read.body.to, 'to'), steps: read.body.steps! };
  const file = (name: string): Item => ({ image: read.files.get(name)![0], what: name });
  return { from: file('from'), to: file('to'), steps: read.body.steps! };
}

function end(e: InterpolateBody['from'], what: string): Item {
  if ((e.latent ? 1 : 0) + (e.image ? 1 : 0) !== 1) throw new HttpError(400, `${what} needs exactly one of "latent" or "image"`);
  return e.latent ? { latent: e.latent, what: `${what}.latent` } : { image: base64(e.image!, `${what}.image`), what };
}
