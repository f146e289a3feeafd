// POST /decode.
import { Type, type Static } from '@sinclair/typebox';
import { MAX_IMAGES } from '../inference/limits.ts';
import { errors, ImageReplyQuery, Latent, NonFinite, pngOrJson } from './common.schema.ts';

export const DecodeBody = Type.Object({ latents: Type.Array(Latent, { minItems: 1, maxItems: MAX_IMAGES }) });
export type DecodeBody = Static<typeof DecodeBody>;
export const ImagesJson = Type.Object({ images: Type.Array(Type.String({ description: 'base64 PNG' })), nonFinite: NonFinite });

export const decodeSchema = {
  tags: ['latent'],
  summary: 'Latents -> image(s)',
  querystring: ImageReplyQuery,
  description: 'Body: JSON {latents:[[…]…]}, or application/octet-stream with n·latentDim little-endian float32 values.',
  body: {
    content: { 'application/json': { schema: DecodeBody }, 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
  },
  produces: ['image/png', 'application/json'],
  response: { 200: pngOrJson(ImagesJson, 'The decoded images'), ...errors(400, 404, 413, 415, 503) },
};
