// Attribute directions: build one from labelled sets (mean ε(positive) − mean ε(negative)),
// list, read and delete. Built-ins come from the checkpoint and are read-only.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ATTRIBUTE_NAME } from '../attributes/store.ts';
import type { FittedImage } from '../images/fit.ts';
import type { AttributeInput, Item } from '../inference/model-session.ts';
import { HttpError } from '../server/errors.ts';
import { base64, bodyKind, multipartFor } from '../server/inputs.ts';
import { admit } from '../server/model-plugin.ts';
import { toNumbers } from '../server/respond.ts';
import { adminGuard } from '../server/security.ts';
import { createAttributeSchema, deleteAttributeSchema, getAttributeSchema, listAttributesSchema, type CreateAttributeBody } from '../server/schemas.ts';

export default async function attributeRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  // Writes need the admin token when one is configured; checked before the body is read.
  const admin = adminGuard(app.config.adminToken);

  app.post('/attributes', { schema: createAttributeSchema, onRequest: [admin, admit('encode')] }, async (req, reply) => {
    const { replace = false, fit = false } = req.query;
    const { created, attribute, fitted } = await req.model.createAttribute({ ...(await readSets(req)), replace, fit });
    reply.status(created ? 201 : 200).header('location', `/attributes/${attribute.name}`);
    // What fitting did to each item, without the images (a set may hold hundreds).
    const done = (list: (FittedImage | null)[]) => list.map((f) => (f ? { inverted: f.inverted, box: f.box, scale: f.scale, shift: f.shift } : null));
    return { ...attribute, source: 'user' as const, fitted: fitted && { positive: done(fitted.positive), negative: done(fitted.negative) } };
  });

  app.get('/attributes', { schema: listAttributesSchema }, async (req) => ({ model: req.model.name, attributes: await req.model.attributes.list() }));

  app.get('/attributes/:name', { schema: getAttributeSchema }, async (req) => {
    const rec = await req.model.attributes.get(req.params.name);
    if (!rec) throw new HttpError(404, `unknown attribute "${req.params.name}"`);
    const { vector, ...meta } = rec;
    return req.query.vector ? { ...meta, vector: toNumbers(vector) } : meta;
  });

  app.delete('/attributes/:name', { schema: deleteAttributeSchema, onRequest: admin }, async (req, reply) => {
    await req.model.attributes.delete(req.params.name);
    return reply.status(204).send(null);
  });
}

/** The name, description and both sets (JSON: base64 images or latents; a form: files). */
async function readSets(req: FastifyRequest): Promise<Omit<AttributeInput, 'replace' | 'fit'>> {
  const kind = bodyKind(req, ['json', 'multipart']);
  let name: string;
  let description: string | undefined;
  let positive: Item[];
  let negative: Item[];
  if (kind === 'json') {
    const body = req.body as CreateAttributeBody;
    name = body.name;
    description = body.description;
    const item = (set: string) => (it: string | number[], i: number): Item => {
      const what = `${set}[${i}]`;
      return typeof it === 'string' ? { image: base64(it, what), what } : { latent: it, what };
    };
    positive = body.positive.map(item('positive'));
    negative = body.negative.map(item('negative'));
  } else {
    const max = req.server.config.maxSetFiles;
    const form = await multipartFor(req, { files: { positive: max, negative: max }, fields: ['name', 'description'] }, 2 * max);
    const field = form.fields.get('name');
    if (field === undefined) throw new HttpError(400, 'missing field "name"');
    name = field;
    description = form.fields.get('description');
    if (description !== undefined && description.length > 500) throw new HttpError(400, 'field "description" is longer than 500 characters');
    const files = (set: string) => (form.files.get(set) ?? []).map((image, i) => ({ image, what: `${set} file #${i + 1}` }));
    positive = files('positive');
    negative = files('negative');
  }
  if (!ATTRIBUTE_NAME.test(name)) throw new HttpError(400, `field "name" is not a valid attribute name: use 1–64 characters of a-z, 0-9, _ and -, starting with a letter or digit`);
  if (positive.length === 0 || negative.length === 0) throw new HttpError(400, `the ${positive.length === 0 ? 'positive' : 'negative'} set is empty; both need at least one image or latent`);
  return { name, description, positive, negative };
}
