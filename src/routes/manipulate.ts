// POST /manipulate: ε + Σ αᵢ·directionᵢ, as one image, a strip over α, or in passes (ModelSession.manipulate).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import sjson from 'secure-json-parse';
import { ATTRIBUTE_NAME } from '../attributes/store.ts';
import { MAX_ALPHA, MAX_EDITS, MAX_PASSES, MAX_STEPS } from '../inference/limits.ts';
import type { Edit, ManipulateInput } from '../inference/model-session.ts';
import { HttpError } from '../server/errors.ts';
import { base64, bodyKind, multipartFor } from '../server/inputs.ts';
import { admit } from '../server/model-plugin.ts';
import { numberField } from '../server/multipart.ts';
import { fittedJson, imagesJson, sendPng, setFittedHeaders, toNumbers, wantsJson } from '../server/respond.ts';
import { Edit as EditSchema, ManipulateBody, manipulateSchema } from '../server/schemas.ts';

const Edits = Type.Array(EditSchema, { minItems: 1, maxItems: MAX_EDITS });

export default async function manipulateRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.post('/manipulate', { schema: manipulateSchema, onRequest: admit('encode') }, async (req, reply) => {
    const edited = await req.model.manipulate({ ...(await readEdit(req)), fit: req.query.fit ?? false });
    const { images, size, fitted } = edited;
    const { format, scale } = req.query;
    if (wantsJson(req, format)) {
      const fit = fitted?.[0] ? await fittedJson(fitted[0], size, scale) : undefined;
      return { ...(await imagesJson(images, size, scale)), latents: edited.latents.map(toNumbers), alphas: edited.alphas, passes: edited.passes, edits: edited.edits, fitted: fit };
    }
    if (fitted) await setFittedHeaders(reply, fitted, size);
    return sendPng(reply, images, size, { cols: images.length, scale });
  });
}

/** What to edit (an image or a latent) and how: the edits, the strip's length, the passes. */
async function readEdit(req: FastifyRequest): Promise<Omit<ManipulateInput, 'fit'>> {
  const kind = bodyKind(req, ['json', 'multipart']);
  if (kind === 'json') {
    const body = req.body as Static<typeof ManipulateBody>;
    if ((body.image ? 1 : 0) + (body.latent ? 1 : 0) !== 1) throw new HttpError(400, 'send exactly one of "image" or "latent"');
    const input = body.latent ? { latent: body.latent, what: 'latent' } : { image: base64(body.image!, 'image'), what: 'image' };
    return { input, edits: body.edits, steps: body.steps, passes: body.passes ?? 1 };
  }
  const form = await multipartFor(req, { files: { image: 1 }, fields: ['attribute', 'alpha', 'steps', 'passes', 'edits'] });
  const image = form.files.get('image')?.[0];
  if (!image) throw new HttpError(400, 'no file field "image" in the form');
  return {
    input: { image, what: 'image' },
    edits: formEdits(form.fields),
    steps: numberField(form.fields, 'steps', { min: 2, max: MAX_STEPS, integer: true }),
    passes: numberField(form.fields, 'passes', { min: 1, max: MAX_PASSES, integer: true }) ?? 1,
  };
}

/** Multipart edits: `attribute` + `alpha` fields for one, or `edits` as a JSON array for several. */
function formEdits(fields: Map<string, string>): Edit[] {
  const json = fields.get('edits');
  if (json !== undefined) {
    if (fields.has('attribute') || fields.has('alpha')) throw new HttpError(400, 'send either "edits" or "attribute" and "alpha", not both');
    let parsed: unknown;
    try {
      parsed = sjson.parse(json, null, { protoAction: 'error', constructorAction: 'error' });
    } catch (err) {
      // The same refusal as in a JSON body (src/server/validation.ts).
      if (/forbidden (prototype|constructor) property/.test(String((err as Error).message))) throw new HttpError(400, 'field "edits" has a "__proto__" or "constructor.prototype" key, which is refused');
      throw new HttpError(400, 'field "edits" is not valid JSON');
    }
    if (!Value.Check(Edits, parsed)) {
      const first = Value.Errors(Edits, parsed).First();
      throw new HttpError(400, `field "edits"${first?.path ?? ''} ${first?.message ?? 'is invalid'}; expected [{"attribute": name, "alpha": number in [-${MAX_ALPHA}, ${MAX_ALPHA}]}]`);
    }
    return parsed;
  }
  const attribute = fields.get('attribute');
  if (attribute === undefined) throw new HttpError(400, 'missing field "attribute" (or "edits")');
  if (!ATTRIBUTE_NAME.test(attribute)) throw new HttpError(400, `field "attribute" is not a valid attribute name`);
  const alpha = numberField(fields, 'alpha', { min: -MAX_ALPHA, max: MAX_ALPHA });
  if (alpha === undefined) throw new HttpError(400, 'missing field "alpha"');
  return [{ attribute, alpha }];
}
