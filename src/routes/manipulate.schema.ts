// POST /manipulate.
import { Type, type Static } from '@sinclair/typebox';
import { MAX_ALPHA, MAX_EDITS, MAX_PASSES, MAX_STEPS } from '../inference/limits.ts';
import {
  AttributeName,
  errors,
  FITTED_HEADERS,
  FittedInfo,
  FittingImageReplyQuery,
  ImageBase64,
  Latent,
  multipartImages,
  NonFinite,
  pngOrJson,
} from './common.schema.ts';

export const Alpha = Type.Number({ minimum: -MAX_ALPHA, maximum: MAX_ALPHA });
export const Edit = Type.Object({ attribute: AttributeName, alpha: Alpha });

export const ManipulateBody = Type.Object({
  image: Type.Optional(ImageBase64),
  latent: Type.Optional(Latent),
  edits: Type.Array(Edit, { minItems: 1, maxItems: MAX_EDITS }),
  steps: Type.Optional(
    Type.Integer({
      minimum: 2,
      maximum: MAX_STEPS,
      description: 'Return a strip: each alpha scaled from −1 to +1 in this many steps (odd: the original is in the middle)',
    }),
  ),
  passes: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_PASSES,
      default: 1,
      description:
        'Apply the edit in this many equal parts, each decoded to 8-bit pixels and encoded again: pixels the attribute does not touch keep their value (about alpha / 0.1 passes; each pass costs a decode and an encode)',
    }),
  ),
});
export type ManipulateBody = Static<typeof ManipulateBody>;

export const ManipulateJson = Type.Object({
  images: Type.Array(Type.String()),
  nonFinite: NonFinite,
  latents: Type.Array(Latent),
  alphas: Type.Array(Type.Array(Type.Number()), { description: 'Per image, the alpha of each edit' }),
  passes: Type.Integer({ description: 'Passes the edit was applied in; latents are those of the last pass' }),
  edits: Type.Array(Type.Object({ attribute: Type.String(), alpha: Type.Number() })),
  fitted: Type.Optional(FittedInfo),
});

export const manipulateSchema = {
  tags: ['attributes'],
  summary: 'Move an image along attribute directions: ε + Σ alpha·direction',
  description:
    'JSON {image|latent, edits:[{attribute, alpha}], steps?, passes?}, or multipart: file `image`, fields `attribute`, `alpha`, `steps`, `passes` (or `edits` as JSON).' +
    FITTED_HEADERS,
  querystring: FittingImageReplyQuery,
  body: {
    content: {
      'application/json': { schema: ManipulateBody },
      'multipart/form-data': multipartImages(
        {
          image: { type: 'string', format: 'binary' },
          attribute: { type: 'string' },
          alpha: { type: 'number' },
          steps: { type: 'integer' },
          passes: { type: 'integer' },
          edits: { type: 'string', description: 'JSON array of {attribute, alpha}' },
        },
        ['image'],
      ),
    },
  },
  produces: ['image/png', 'application/json'],
  response: { 200: pngOrJson(ManipulateJson, 'The edited image, or a strip'), ...errors(400, 404, 413, 415, 422, 503) },
};
