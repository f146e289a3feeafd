// GET /sample.
import { Type, type Static } from '@sinclair/typebox';
import { MAX_IMAGES } from '../inference/limits.ts';
import { errors, Format, Latent, ModelParam, NonFinite, pngOrJson, Scale } from './common.schema.ts';

export const SampleQuery = Type.Object({
  model: ModelParam,
  t: Type.Optional(Type.Number({ minimum: 0, maximum: 1.5, default: 0.7, description: 'Temperature: ε ~ N(0, t²)' })),
  n: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_IMAGES, default: 1 })),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xffffffff, description: 'Same seed, same images; random when absent' })),
  format: Format,
  scale: Type.Optional(Scale),
});
export type SampleQuery = Static<typeof SampleQuery>;

export const SampleJson = Type.Object({
  images: Type.Array(Type.String({ description: 'base64 PNG' })),
  nonFinite: NonFinite,
  latents: Type.Array(Latent),
  seed: Type.Integer(),
  t: Type.Number(),
});

export const sampleSchema = {
  tags: ['generate'],
  summary: 'Random samples at temperature t',
  querystring: SampleQuery,
  produces: ['image/png', 'application/json'],
  response: { 200: pngOrJson(SampleJson, 'The samples'), ...errors(400, 404, 503) },
};
