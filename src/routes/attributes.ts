// Attribute directions: build one from labelled sets (mean ε(positive) − mean ε(negative)),
// list, read and delete. Built-ins come from the checkpoint and are read-only.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ATTRIBUTE_NAME } from '../attributes/store.ts';
import { direction, norm } from '../attributes/vectors.ts';
import { HttpError } from '../server/errors.ts';
import { adminGuard } from '../server/security.ts';
import { bodyKind, fromJsonItem, multipartFor, toLatents, type ImageOrLatent } from '../server/inputs.ts';
import { toNumbers, type FittedImage } from '../server/respond.ts';
import { claimWork } from '../server/work.ts';
import { createAttributeSchema, deleteAttributeSchema, getAttributeSchema, listAttributesSchema, type CreateAttributeBody } from '../server/schemas.ts';

export default async function attributeRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  // Writes need the admin token when one is configured; checked before the body is read.
  const admin = adminGuard(app.models.config.adminToken);

  app.post('/attributes', { schema: createAttributeSchema, onRequest: [admin, app.models.admit('encode')] }, async (req, reply) => {
    const { catalog } = req.glow.requireReady();
    const kind = bodyKind(req, ['json', 'multipart']);
    let name: string;
    let description: string | undefined;
    let positive: ImageOrLatent[];
    let negative: ImageOrLatent[];
    if (kind === 'json') {
      const body = req.body as CreateAttributeBody;
      name = body.name;
      description = body.description;
      positive = body.positive.map((it, i) => fromJsonItem(req.glow, it, `positive[${i}]`));
      negative = body.negative.map((it, i) => fromJsonItem(req.glow, it, `negative[${i}]`));
    } else {
      const max = req.glow.config.maxSetFiles;
      const form = await multipartFor(req, req.glow, { files: { positive: max, negative: max }, fields: ['name', 'description'] }, 2 * max);
      const field = form.fields.get('name');
      if (field === undefined) throw new HttpError(400, 'missing field "name"');
      name = field;
      description = form.fields.get('description');
      if (description !== undefined && description.length > 500) throw new HttpError(400, 'field "description" is longer than 500 characters');
      positive = (form.files.get('positive') ?? []).map((image) => ({ image }));
      negative = (form.files.get('negative') ?? []).map((image) => ({ image }));
    }
    if (!ATTRIBUTE_NAME.test(name)) throw new HttpError(400, `field "name" is not a valid attribute name: use 1–64 characters of a-z, 0-9, _ and -, starting with a letter or digit`);
    if (positive.length === 0 || negative.length === 0) throw new HttpError(400, `the ${positive.length === 0 ? 'positive' : 'negative'} set is empty; both need at least one image or latent`);
    // Checks that need no model work first: a taken name fails fast (and again atomically on write).
    if (!req.query.replace && (await catalog.get(name))) throw new HttpError(409, `attribute "${name}" already exists; add ?replace=true to overwrite it`);

    // Not under the budget (an admin write, queued one batch at a time), but large for the batcher.
    const images = [...positive, ...negative].filter((it) => 'image' in it).length;
    claimWork(req, { images, how: `${images} encodes` }, false);
    const what = (set: string) => (i: number) => (kind === 'json' ? `${set}[${i}]` : `${set} file #${i + 1}`);
    const fitted = req.query.fit ? { positive: [] as (FittedImage | null)[], negative: [] as (FittedImage | null)[] } : undefined;
    const pos = await toLatents(req.glow, positive, what('positive'), req.admission, fitted?.positive);
    const neg = await toLatents(req.glow, negative, what('negative'), req.admission, fitted?.negative);
    const vector = direction(pos, neg);
    const record = { name, vector, positive: pos.length, negative: neg.length, norm: norm(vector), createdAt: new Date().toISOString(), ...(description ? { description } : {}) };
    const result = await catalog.create(record, req.query.replace ?? false);
    reply.status(result === 'created' ? 201 : 200).header('location', `/attributes/${name}`);
    const { vector: _v, ...meta } = record;
    // What fitting did to each item, without the images (a set may hold hundreds).
    const done = (list: (FittedImage | null)[]) => list.map((f) => (f ? { inverted: f.inverted, box: f.box, scale: f.scale, shift: f.shift } : null));
    return { ...meta, source: 'user' as const, fitted: fitted && { positive: done(fitted.positive), negative: done(fitted.negative) } };
  });

  app.get('/attributes', { schema: listAttributesSchema }, async (req) => {
    const { catalog } = req.glow.requireReady();
    return { model: req.glow.name, attributes: await catalog.list() };
  });

  app.get('/attributes/:name', { schema: getAttributeSchema }, async (req) => {
    const { catalog } = req.glow.requireReady();
    const rec = await catalog.get(req.params.name);
    if (!rec) throw new HttpError(404, `unknown attribute "${req.params.name}"`);
    const { vector, ...meta } = rec;
    return req.query.vector ? { ...meta, vector: toNumbers(vector) } : meta;
  });

  app.delete('/attributes/:name', { schema: deleteAttributeSchema, onRequest: admin }, async (req, reply) => {
    const { catalog } = req.glow.requireReady();
    await catalog.delete(req.params.name);
    return reply.status(204).send(null);
  });
}
