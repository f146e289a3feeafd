// POST, GET and DELETE /attributes.
import { Type, type Static } from '@sinclair/typebox';
import { MAX_SET } from '../inference/limits.ts';
import {
  AttributeName,
  errors,
  FitParam,
  FittedInfo,
  ImageBase64,
  Latent,
  ModelParam,
  ModelQuery,
  multipartImages,
} from './common.schema.ts';

export const SetItem = Type.Union([ImageBase64, Latent], { description: 'A base64 image or a latent' });
export const CreateAttributeBody = Type.Object({
  name: AttributeName,
  positive: Type.Array(SetItem, { minItems: 1, maxItems: MAX_SET }),
  negative: Type.Array(SetItem, { minItems: 1, maxItems: MAX_SET }),
  description: Type.Optional(Type.String({ maxLength: 500 })),
});
export type CreateAttributeBody = Static<typeof CreateAttributeBody>;

export const CreateAttributeQuery = Type.Object({
  model: ModelParam,
  replace: Type.Optional(Type.Boolean({ default: false })),
  fit: FitParam,
});
export const AttributeParams = Type.Object({ name: AttributeName });
export const AttributeGetQuery = Type.Object({ model: ModelParam, vector: Type.Optional(Type.Boolean({ default: false })) });

export const AttributeInfo = Type.Object({
  name: Type.String(),
  source: Type.Union([Type.Literal('builtin'), Type.Literal('user')]),
  positive: Type.Integer(),
  negative: Type.Integer(),
  norm: Type.Number(),
  createdAt: Type.String(),
  description: Type.Optional(Type.String()),
  vector: Type.Optional(Latent),
  fitted: Type.Optional(
    Type.Object(
      { positive: Type.Array(Type.Union([FittedInfo, Type.Null()])), negative: Type.Array(Type.Union([FittedInfo, Type.Null()])) },
      { description: 'With fit=true, what fitting did to each set item (null for latents); not stored' },
    ),
  ),
});
export const AttributeList = Type.Object({ model: Type.String(), attributes: Type.Array(AttributeInfo) });

export const createAttributeSchema = {
  tags: ['attributes'],
  summary: 'Build a direction: mean ε(positive) − mean ε(negative)',
  description:
    'JSON {name, positive:[base64 image | latent…], negative:[…]}, or multipart: field `name`, file fields `positive` and `negative` (repeated).',
  querystring: CreateAttributeQuery,
  body: {
    content: {
      'application/json': { schema: CreateAttributeBody },
      'multipart/form-data': multipartImages(
        {
          name: { type: 'string' },
          description: { type: 'string' },
          positive: { type: 'array', items: { type: 'string', format: 'binary' } },
          negative: { type: 'array', items: { type: 'string', format: 'binary' } },
        },
        ['name', 'positive', 'negative'],
      ),
    },
  },
  security: [{ adminToken: [] }],
  response: { 200: AttributeInfo, 201: AttributeInfo, ...errors(400, 401, 403, 409, 413, 415, 422, 429, 503) },
};
export const listAttributesSchema = {
  tags: ['attributes'],
  summary: "List a model's attributes",
  querystring: ModelQuery,
  response: { 200: AttributeList, ...errors(404, 503) },
};
export const getAttributeSchema = {
  tags: ['attributes'],
  summary: 'One attribute (the vector with ?vector=true)',
  params: AttributeParams,
  querystring: AttributeGetQuery,
  response: { 200: AttributeInfo, ...errors(400, 404, 503) },
};
export const deleteAttributeSchema = {
  tags: ['attributes'],
  summary: 'Delete a user attribute (built-ins cannot be deleted)',
  params: AttributeParams,
  querystring: ModelQuery,
  security: [{ adminToken: [] }],
  response: { 204: Type.Null({ description: 'Deleted' }), ...errors(400, 401, 403, 404, 429, 503) },
};
