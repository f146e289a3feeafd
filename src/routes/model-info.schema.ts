// GET /model: one served model.
import { Type } from '@sinclair/typebox';
import { FitSpec } from '../images/fit.ts';
import { errors, ModelQuery } from './common.schema.ts';

export const ModelResponse = Type.Object({
  model: Type.String({ description: 'What ?model= takes' }),
  default: Type.Boolean({ description: 'Served when a request names no model' }),
  name: Type.String({ description: 'Name in the checkpoint manifest' }),
  dataset: Type.String(),
  image: Type.Object({ height: Type.Integer(), width: Type.Integer(), channels: Type.Integer() }),
  latentDim: Type.Integer({ description: 'Length of every latent' }),
  levels: Type.Integer(),
  depth: Type.Integer({ description: 'Steps of flow per level (K)' }),
  hidden: Type.Integer({ description: 'Hidden channels of the coupling networks' }),
  coupling: Type.String(),
  priorMinSd: Type.Number({ description: "Soft floor under the priors' σ (0: none)" }),
  minScale: Type.Number({ description: "Affine coupling: the scale's floor (0: none); docs/stability.md" }),
  priorBounds: Type.Union(
    [Type.Object({ mean: Type.Number(), logSd: Type.Array(Type.Number(), { minItems: 2, maxItems: 2 }) }), Type.Null()],
    {
      description: "Where the priors' mean and log σ are clipped (null: not clipped); docs/stability.md",
    },
  ),
  nBits: Type.Integer(),
  parameterCount: Type.Integer(),
  steps: Type.Integer({ description: 'Training steps of the checkpoint' }),
  testBpd: Type.Union([Type.Number(), Type.Null()], { description: 'Bits/dim on the test split, from the manifest' }),
  backend: Type.String({ description: 'TF.js backend in use' }),
  engine: Type.Union([Type.Literal('onnx'), Type.Literal('tfjs')], {
    description: 'Engine that runs encode and decode: ONNX Runtime or TF.js (GLOW_ENGINE)',
  }),
  checkpoint: Type.String({ description: 'sha256 of the weights (first 16 hex digits)' }),
  batching: Type.Object({ maxBatch: Type.Integer(), maxDelayMs: Type.Number(), maxQueue: Type.Integer() }),
  fit: Type.Optional(FitSpec),
});

export const modelSchema = {
  tags: ['model'],
  summary: 'One model being served',
  querystring: ModelQuery,
  response: { 200: ModelResponse, ...errors(404, 503) },
};
