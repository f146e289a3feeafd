// POST /encode.
import { Type, type Static } from '@sinclair/typebox';
import { MAX_IMAGES } from '../inference/limits.ts';
import { errors, FitParam, FittedInfo, ImageBase64, Latent, ModelParam, multipartImages } from './common.schema.ts';

export const EncodeJsonBody = Type.Object({ images: Type.Array(ImageBase64, { minItems: 1, maxItems: MAX_IMAGES }) });
export type EncodeJsonBody = Static<typeof EncodeJsonBody>;

export const OriginalImage = Type.Object({ width: Type.Integer(), height: Type.Integer(), format: Type.String() });

export const EncodeQuery = Type.Object({
  model: ModelParam,
  verify: Type.Optional(
    Type.Boolean({ default: false, description: 'Also decode each latent and report how far it lands from the image (costs a decode)' }),
  ),
  fit: FitParam,
});

export const RoundTrip = Type.Object(
  {
    exact: Type.Boolean({ description: 'The latent decodes to exactly the image that was encoded' }),
    maxError: Type.Integer({ minimum: 0, description: 'Largest difference of any pixel value, in 8-bit levels (NaN drawn as 0)' }),
    wrongValues: Type.Integer({ minimum: 0, description: 'How many pixel values differ' }),
    nonFinite: Type.Integer({ minimum: 0, description: "Values the model's reverse left NaN or ±Inf" }),
  },
  { description: 'With ?verify=true: the latent decoded and compared with the (resized) image' },
);

export const EncodeResponse = Type.Object({
  model: Type.String(),
  items: Type.Array(
    Type.Object({
      latent: Latent,
      bpd: Type.Number({ description: 'Exact bits/dim of the (8-bit, resized) image under the model' }),
      resized: Type.Boolean({ description: 'True when the image was converted to the model size' }),
      original: OriginalImage,
      roundTrip: Type.Optional(RoundTrip),
      fitted: Type.Optional(FittedInfo),
    }),
  ),
});

export const encodeSchema = {
  tags: ['latent'],
  summary: 'Image(s) -> latents and exact bits/dim',
  querystring: EncodeQuery,
  description:
    'Body: multipart/form-data with one or more file fields `image`, a raw image (image/png, image/jpeg, image/webp), or JSON {images:[base64…]}.',
  body: {
    content: {
      'application/json': { schema: EncodeJsonBody },
      'multipart/form-data': multipartImages({ image: { type: 'array', items: { type: 'string', format: 'binary' } } }, ['image']),
      'image/png': { schema: { type: 'string', format: 'binary' } },
      'image/jpeg': { schema: { type: 'string', format: 'binary' } },
      'image/webp': { schema: { type: 'string', format: 'binary' } },
    },
  },
  response: { 200: EncodeResponse, ...errors(400, 404, 413, 415, 422, 503) },
};
