// POST /manipulate: ε + Σ αᵢ·directionᵢ, as one image, a strip over α, or in passes (ModelSession.manipulate).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { MAX_ALPHA } from '../inference/limits.ts';
import type { ManipulateInput } from '../inference/model-session.ts';
import { base64, readBody, type BodySpec } from '../server/body.ts';
import { HttpError } from '../server/errors.ts';
import { fittedJson, imagesJson, sendPng, setFittedHeaders, toNumbers, wantsJson } from '../server/respond.ts';
import { ManipulateBody, manipulateSchema } from './manipulate.schema.ts';

/**
 * JSON {image|latent, edits, steps?, passes?}, or a form: file `image`, fields `steps`, `passes`,
 * and the edits as `edits` (JSON) or, for one, as `attribute` and `alpha`.
 */
const noEdits = 'missing field "attribute" (or "edits")';
const body: BodySpec<typeof ManipulateBody, 'image' | 'latent', 'json' | 'multipart'> = {
  accepts: ['json', 'multipart'],
  schema: ManipulateBody,
  form: {
    images: ['image', 'latent'],
    files: { image: { max: 1, missing: 'no file field "image" in the form' } },
    fields: {
      attribute: { at: '/edits/0/attribute', missing: noEdits },
      alpha: { at: '/edits/0/alpha' },
      steps: {},
      passes: {},
      edits: { json: true, missing: noEdits, expected: `[{"attribute": name, "alpha": number in [-${MAX_ALPHA}, ${MAX_ALPHA}]}]` },
    },
  },
};

export default async function manipulateRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.post('/manipulate', { schema: manipulateSchema, config: { modelWork: 'encode' } }, async (req, reply) => {
    const edited = await req.model.manipulate({ ...(await readEdit(req)), fit: req.query.fit ?? false });
    const { images, size, fitted } = edited;
    const { format, scale } = req.query;
    if (wantsJson(req, format)) {
      const fit = fitted?.[0] ? await fittedJson(fitted[0], size, scale) : undefined;
      return {
        ...(await imagesJson(images, size, scale)),
        latents: edited.latents.map(toNumbers),
        alphas: edited.alphas,
        passes: edited.passes,
        edits: edited.edits,
        fitted: fit,
      };
    }
    if (fitted) await setFittedHeaders(reply, fitted, size);
    return sendPng(reply, images, size, { cols: images.length, scale });
  });
}

/** What to edit (an image or a latent) and how. */
async function readEdit(req: FastifyRequest): Promise<Omit<ManipulateInput, 'fit'>> {
  const read = await readBody(req, body);
  // `passes` has the schema's default either way.
  const { edits, steps, passes } = read.body;
  if (read.kind === 'multipart') return { input: { image: read.files.get('image')![0], what: 'image' }, edits, steps, passes: passes! };
  const { image, latent } = read.body;
  if ((image ? 1 : 0) + (latent ? 1 : 0) !== 1) throw new HttpError(400, 'send exactly one of "image" or "latent"');
  return { input: latent ? { latent, what: 'latent' } : { image: base64(image!, 'image'), what: 'image' }, edits, steps, passes: passes! };
}
