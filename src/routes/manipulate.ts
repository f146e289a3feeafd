// POST /manipulate: ε + Σ αᵢ·directionᵢ (Glow paper §5.2, Figure 6). With `steps`, a strip where every
// α is scaled from −1 to +1; with an odd count the unedited image sits in the middle. With `passes`, the
// edit is applied in that many parts through 8-bit pixels (src/attributes/passes.ts: less drift).
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import sjson from 'secure-json-parse';
import { ATTRIBUTE_NAME } from '../attributes/store.ts';
import { editInPasses } from '../attributes/passes.ts';
import { linspace } from '../attributes/vectors.ts';
import { HttpError } from '../server/errors.ts';
import { bodyKind, multipartFor, toLatents, type ImageOrLatent } from '../server/inputs.ts';
import { numberField } from '../server/multipart.ts';
import { fittedJson, imagesJson, sendPng, setFittedHeaders, toNumbers, wantsJson, type FittedImage } from '../server/respond.ts';
import { Edit, MAX_ALPHA, MAX_PASSES, MAX_STEPS, ManipulateBody, manipulateSchema } from '../server/schemas.ts';
import { GlowService } from '../server/service.ts';
import { claimWork, manipulateWork } from '../server/work.ts';

type EditT = Static<typeof Edit>;
const Edits = Type.Array(Edit, { minItems: 1, maxItems: 16 });

export default async function manipulateRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.post('/manipulate', { schema: manipulateSchema, onRequest: app.models.admit('encode') }, async (req, reply) => {
    const { size, catalog } = req.glow.requireReady();
    const kind = bodyKind(req, ['json', 'multipart']);
    let input: ImageOrLatent;
    let edits: EditT[];
    let steps: number | undefined;
    let passes: number;
    if (kind === 'json') {
      const body = req.body as Static<typeof ManipulateBody>;
      if ((body.image ? 1 : 0) + (body.latent ? 1 : 0) !== 1) throw new HttpError(400, 'send exactly one of "image" or "latent"');
      input = body.latent ? { latent: req.glow.latent(body.latent, 'latent') } : { image: GlowService.base64(body.image!, 'image') };
      edits = body.edits;
      steps = body.steps;
      passes = body.passes ?? 1;
    } else {
      const form = await multipartFor(req, req.glow, { files: { image: 1 }, fields: ['attribute', 'alpha', 'steps', 'passes', 'edits'] });
      const image = form.files.get('image')?.[0];
      if (!image) throw new HttpError(400, 'no file field "image" in the form');
      input = { image };
      edits = formEdits(form.fields);
      steps = numberField(form.fields, 'steps', { min: 2, max: MAX_STEPS, integer: true });
      passes = numberField(form.fields, 'passes', { min: 1, max: MAX_PASSES, integer: true }) ?? 1;
    }
    claimWork(req, manipulateWork('image' in input, steps, passes));
    // Unknown attributes are a 404 before any model work is queued.
    const vectors = await catalog.require(edits.map((e) => e.attribute));
    const fitted: (FittedImage | null)[] | undefined = req.query.fit ? [] : undefined;
    const [eps] = await toLatents(req.glow, [input], () => 'image', req.admission, fitted);
    const scales = steps ? linspace(-1, 1, steps) : [1];
    const alphas = scales.map((s) => edits.map((e) => s * e.alpha));
    const terms = alphas.map((row) => row.map((alpha, i) => ({ alpha, vector: vectors.get(edits[i].attribute)! })));
    const { batcher } = req.glow;
    const model = {
      decode: (latents: Float32Array[]) => batcher.decode(latents, 'decode', req.admission),
      encode: async (images: Uint8Array[]) => (await batcher.encode(images, req.admission)).map((e) => e.eps),
    };
    const { decoded: images, latents } = await editInPasses(
      model,
      alphas.map(() => eps),
      terms,
      passes,
    );
    const { format, scale } = req.query;
    if (wantsJson(req, format)) {
      const fit = fitted?.[0] ? await fittedJson(fitted[0], size, scale) : undefined;
      return { ...(await imagesJson(images, size, scale)), latents: latents.map(toNumbers), alphas, passes, edits, fitted: fit };
    }
    if (fitted) await setFittedHeaders(reply, fitted, size);
    return sendPng(reply, images, size, { cols: images.length, scale });
  });
}

/** Multipart edits: `attribute` + `alpha` fields for one, or `edits` as a JSON array for several. */
function formEdits(fields: Map<string, string>): EditT[] {
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
