// POST /interpolate.
import { Type, type Static } from '@sinclair/typebox';
import { MAX_STEPS } from '../inference/limits.ts';
import {
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

export const Endpoint = Type.Object(
  { latent: Type.Optional(Latent), image: Type.Optional(ImageBase64) },
  { description: 'Exactly one of latent or image' },
);
export const InterpolateBody = Type.Object({
  from: Endpoint,
  to: Endpoint,
  steps: Type.Optional(Type.Integer({ minimum: 2, maximum: MAX_STEPS, default: 8 })),
});
export type InterpolateBody = Static<typeof InterpolateBody>;
export const InterpolateJson = Type.Object({
  images: Type.Array(Type.String()),
  nonFinite: NonFinite,
  latents: Type.Array(Latent),
  weights: Type.Array(Type.Number()),
  fitted: Type.Optional(
    Type.Object(
      { from: Type.Optional(FittedInfo), to: Type.Optional(FittedInfo) },
      { description: 'With fit=true, for each end given as an image' },
    ),
  ),
});

export const interpolateSchema = {
  tags: ['latent'],
  summary: 'Linear interpolation in ε between two images or latents',
  description: 'JSON {from, to, steps}, or multipart with file fields `from` and `to` and field `steps`.' + FITTED_HEADERS,
  querystring: FittingImageReplyQuery,
  body: {
    content: {
      'application/json': { schema: InterpolateBody },
      'multipart/form-data': multipartImages(
        {
          from: { type: 'string', format: 'binary' },
          to: { type: 'string', format: 'binary' },
          steps: { type: 'integer', minimum: 2, maximum: MAX_STEPS },
        },
        ['from', 'to'],
      ),
    },
  },
  produces: ['image/png', 'application/json'],
  response: { 200: pngOrJson(InterpolateJson, 'A strip from `from` to `to`'), ...errors(400, 404, 413, 415, 422, 503) },
};
