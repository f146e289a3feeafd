// Attribute directions: build one from labelled sets (mean ε(positive) − mean ε(negative)),
// list, read and delete. Built-ins come from the checkpoint and are read-only.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FittedImage } from '../images/fit.ts';
import type { AttributeInput, Item } from '../inference/model-session.ts';
import { base64, readBody, type BodySpec } from '../server/body.ts';
import { HttpError } from '../server/errors.ts';
import { toNumbers } from '../server/respond.ts';
import { adminGuard } from '../server/security.ts';
import {
  CreateAttributeBody,
  createAttributeSchema,
  deleteAttributeSchema,
  getAttributeSchema,
  listAttributesSchema,
} from './attributes.schema.ts';

/** JSON {name, description?, positive, negative} (base64 images or latents), or a form: fields `name`, `description`, files `positive` and `negative`. */
const empty = (set: string) => `the ${set} set is empty; both need at least one image or latent`;
const body: BodySpec<typeof CreateAttributeBody, 'positive' | 'negative', 'json' | 'multipart'> = {
  accepts: ['json', 'multipart'],
  schema: CreateAttributeBody,
  form: {
    images: ['positive', 'negative'],
    files: {
      positive: { max: (config) => config.maxSetFiles, missing: empty('positive') },
      negative: { max: (config) => config.maxSetFiles, missing: empty('negative') },
    },
    maxFiles: (config) => 2 * config.maxSetFiles,
    fields: { name: {}, description: {} },
  },
};

export default async function attributeRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  // Writes need the admin token when one is configured; checked before the body is read.
  const admin = adminGuard(app.config.adminToken);

  app.post('/attributes', { schema: createAttributeSchema, onRequest: admin, config: { modelWork: 'encode' } }, async (req, reply) => {
    const { replace = false, fit = false } = req.query;
    const { created, attribute, fitted } = await req.model.createAttribute({ ...(await readSets(req)), replace, fit });
    reply.status(created ? 201 : 200).header('location', `/attributes/${attribute.name}`);
    // What fitting did to each item, without the images (a set may hold hundreds).
    const done = (list: (FittedImage | null)[]) =>
      list.map((f) => (f ? { inverted: f.inverted, box: f.box, scale: f.scale, shift: f.shift } : null));
    return {
      ...attribute,
      source: 'user' as const,
      fitted: fitted && { positive: done(fitted.positive), negative: done(fitted.negative) },
    };
  });

  app.get('/attributes', { schema: listAttributesSchema }, async (req) => ({
    model: req.model.name,
    attributes: await req.model.attributes.list(),
  }));

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

/** The name, the description and both sets, each item named as the client would name it. */
async function readSets(req: FastifyRequest): Promise<Omit<AttributeInput, 'replace' | 'fit'>> {
  const read = await readBody(req, body);
  const { name, description } = read.body;
  if (read.kind === 'multipart') {
    const files = (set: string) => read.files.get(set)!.map((image, i): Item => ({ image, what: `${set} file #${i + 1}` }));
    return { name, description, positive: files('positive'), negative: files('negative') };
  }
  const items = (set: string, list: (string | number[])[]) =>
    list.map((it, i): Item => {
      const what = `${set}[${i}]`;
      return typeof it === 'string' ? { image: base64(it, what), what } : { latent: it, what };
    });
  return { name, description, positive: items('positive', read.body.positive), negative: items('negative', read.body.negative) };
}
