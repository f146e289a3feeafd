// GET /models and POST /models/:model/reload.
import { Type } from '@sinclair/typebox';
import { errors } from './common.schema.ts';
import { ModelResponse } from './model-info.schema.ts';

export const ModelState = Type.Union([Type.Literal('loading'), Type.Literal('ready'), Type.Literal('failed')]);
export const ModelsResponse = Type.Object({
  default: Type.String(),
  models: Type.Array(
    Type.Object({
      ...Type.Partial(ModelResponse).properties,
      model: Type.String(),
      default: Type.Boolean(),
      state: ModelState,
      message: Type.Optional(Type.String({ description: 'Why a model failed to load' })),
    }),
  ),
});

export const modelsSchema = { tags: ['model'], summary: 'Every model being served, the default first', response: { 200: ModelsResponse } };

const LoadedCheckpoint = Type.Object({
  steps: Type.Integer(),
  testBpd: Type.Union([Type.Number(), Type.Null()]),
  checkpoint: Type.String({ description: 'sha256 of the weights (first 16 hex digits)' }),
});
export const ReloadParams = Type.Object({ model: Type.String({ maxLength: 64, description: 'A name from GET /models' }) });
export const ReloadResponse = Type.Object({
  model: Type.String(),
  previous: Type.Union([LoadedCheckpoint, Type.Null()], { description: 'What was served before (null if it had failed to load)' }),
  current: LoadedCheckpoint,
  seconds: Type.Number({ description: 'Time to load and warm the new checkpoint' }),
});
export const reloadSchema = {
  tags: ['model'],
  summary: "Load the model's checkpoint from disk again, without downtime",
  description:
    'The new checkpoint is loaded and warmed beside the old one, then serves every new request; requests already running finish on the old one. ' +
    'If it cannot be loaded (500, code RELOAD_FAILED) the old one keeps serving. Needs the admin token when one is configured. SIGHUP reloads every model.',
  params: ReloadParams,
  security: [{ adminToken: [] }],
  response: { 200: ReloadResponse, ...errors(400, 401, 403, 404, 409, 429, 500, 503) },
};
