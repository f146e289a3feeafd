// Every request and response schema, in one place (TypeBox -> JSON Schema -> ajv validation,
// fast-json-stringify serialisation and the OpenAPI document).
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ATTRIBUTE_NAME } from '../attributes/store.ts';
import { FitSpec } from '../images/fit.ts';
import { MAX_ALPHA, MAX_EDITS, MAX_IMAGES, MAX_PASSES, MAX_SET, MAX_STEPS } from '../inference/limits.ts';

// ---------- shared pieces ----------

export const ErrorResponse = Type.Object(
  {
    statusCode: Type.Integer({ examples: [400] }),
    code: Type.Optional(Type.String({ examples: ['FST_ERR_VALIDATION'] })),
    error: Type.String({ examples: ['Bad Request'] }),
    message: Type.String({ examples: ['querystring/t must be <= 1.5'] }),
  },
  { $id: 'Error', description: 'Every 4xx/5xx reply' },
);

/** Latent lengths are checked against the model in the handler; this bound only stops huge arrays early. */
export const MAX_LATENT_LENGTH = 1 << 18;

export const Latent = Type.Array(Type.Number(), {
  minItems: 1,
  maxItems: MAX_LATENT_LENGTH,
  description: 'Standardised latent ε (every dimension N(0,1) under the prior); its length is GET /model latentDim',
});

export const ImageBase64 = Type.String({
  minLength: 1,
  description: 'A PNG, JPEG or WebP image, base64 (a data: URL prefix is allowed)',
});

export const Format = Type.Optional(
  Type.Union([Type.Literal('png'), Type.Literal('json')], {
    description: 'Reply format; overrides the Accept header (image/png or application/json)',
  }),
);
/** Every route that uses a model takes ?model= (GET /models lists them; absent = the default). */
export const ModelParam = Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Which model (GET /models); the default when absent' }));
export const ModelQuery = Type.Object({ model: ModelParam });

export const FitParam = Type.Optional(
  Type.Boolean({
    default: false,
    description: "Fit each uploaded image to the model's data first (GET /model fit: for MNIST, a photo of a digit on paper becomes an MNIST-style digit); latents are left alone",
  }),
);

export const FittedInfo = Type.Object(
  {
    inverted: Type.Boolean({ description: 'The background was light, so the image was inverted' }),
    box: Type.Object({ left: Type.Integer(), top: Type.Integer(), width: Type.Integer(), height: Type.Integer() }, { description: "The part of the upload kept (the ink's bounding box, or the centred square), in its pixels" }),
    scale: Type.Number({ description: 'Model pixels per upload pixel' }),
    shift: Type.Object({ x: Type.Integer(), y: Type.Integer() }, { description: "Where the scaled box's top-left corner landed in the model's image" }),
    image: Type.Optional(Type.String({ description: 'The fitted image the model saw, base64 PNG' })),
  },
  { description: 'With fit=true: what fitting did to an uploaded image' },
);
/** PNG replies carry the fitted images in headers: x-fitted (JSON, without images) and x-fitted-images (base64 PNGs, comma-separated). */
const FITTED_HEADERS = ' With fit=true, PNG replies carry what was done in x-fitted (a JSON array) and the fitted images in x-fitted-images (base64 PNGs, comma-separated).';

export const Scale = Type.Integer({ minimum: 1, maximum: 16, default: 1, description: 'Nearest-neighbour upscaling of PNG replies' });

// Parameters with defaults are Optional so the OpenAPI document does not call them required;
// ajv's useDefaults still fills them in before the handler runs.
export const ImageReplyQuery = Type.Object({ model: ModelParam, format: Format, scale: Type.Optional(Scale) });
export const FittingImageReplyQuery = Type.Object({ ...ImageReplyQuery.properties, fit: FitParam });

/** Beside every reply of decoded images (the PNG form has it in the x-non-finite-values header, comma-separated). */
export const NonFinite = Type.Array(Type.Integer({ minimum: 0 }), {
  description: "Per image, how many values the model's reverse left NaN or ±Inf (drawn black, +Inf white); 0 for a sound image",
});

const PngReply = {
  description: "PNG image (a grid or strip when several). Headers: x-image-count, and x-non-finite-values with each image's count of NaN/±Inf values (0 = sound)",
  content: { 'image/png': { schema: { type: 'string', format: 'binary' } } },
};

/** A 200 reply that is PNG by default and JSON with Accept: application/json. */
function pngOrJson(json: TSchema, description: string) {
  return {
    description,
    content: {
      'image/png': PngReply.content['image/png'],
      'application/json': { schema: json },
    },
  };
}

const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, { $ref: 'Error#' }]));

// ---------- health, model ----------

export const HealthResponse = Type.Object({ status: Type.Literal('ok') });
export const ReadyResponse = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('loading'), Type.Literal('failed'), Type.Literal('stopping')]),
  message: Type.Optional(Type.String()),
});

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
  priorBounds: Type.Union([Type.Object({ mean: Type.Number(), logSd: Type.Array(Type.Number(), { minItems: 2, maxItems: 2 }) }), Type.Null()], {
    description: "Where the priors' mean and log σ are clipped (null: not clipped); docs/stability.md",
  }),
  nBits: Type.Integer(),
  parameterCount: Type.Integer(),
  steps: Type.Integer({ description: 'Training steps of the checkpoint' }),
  testBpd: Type.Union([Type.Number(), Type.Null()], { description: 'Bits/dim on the test split, from the manifest' }),
  backend: Type.String({ description: 'TF.js backend in use' }),
  engine: Type.Union([Type.Literal('onnx'), Type.Literal('tfjs')], { description: 'Engine that runs encode and decode: ONNX Runtime or TF.js (GLOW_ENGINE)' }),
  checkpoint: Type.String({ description: 'sha256 of the weights (first 16 hex digits)' }),
  batching: Type.Object({ maxBatch: Type.Integer(), maxDelayMs: Type.Number(), maxQueue: Type.Integer() }),
  fit: Type.Optional(FitSpec),
});

export const healthSchema = { tags: ['health'], summary: 'Liveness', response: { 200: HealthResponse } };
export const readySchema = { tags: ['health'], summary: 'Readiness: 200 once the model is loaded and warmed', response: { 200: ReadyResponse, 503: ReadyResponse } };
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

export const modelSchema = { tags: ['model'], summary: 'One model being served', querystring: ModelQuery, response: { 200: ModelResponse, ...errors(404, 503) } };
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
  summary: 'Load the model\'s checkpoint from disk again, without downtime',
  description:
    'The new checkpoint is loaded and warmed beside the old one, then serves every new request; requests already running finish on the old one. ' +
    'If it cannot be loaded (500, code RELOAD_FAILED) the old one keeps serving. Needs the admin token when one is configured. SIGHUP reloads every model.',
  params: ReloadParams,
  security: [{ adminToken: [] }],
  response: { 200: ReloadResponse, ...errors(400, 401, 403, 404, 409, 429, 500, 503) },
};

// ---------- sample ----------

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

// ---------- encode ----------

export const EncodeJsonBody = Type.Object({ images: Type.Array(ImageBase64, { minItems: 1, maxItems: MAX_IMAGES }) });
export type EncodeJsonBody = Static<typeof EncodeJsonBody>;

export const OriginalImage = Type.Object({ width: Type.Integer(), height: Type.Integer(), format: Type.String() });

export const EncodeQuery = Type.Object({
  model: ModelParam,
  verify: Type.Optional(Type.Boolean({ default: false, description: 'Also decode each latent and report how far it lands from the image (costs a decode)' })),
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

const multipartImages = (fields: Record<string, unknown>, required: string[]) => ({
  schema: { type: 'object', properties: fields, required },
});

export const encodeSchema = {
  tags: ['latent'],
  summary: 'Image(s) -> latents and exact bits/dim',
  querystring: EncodeQuery,
  description: 'Body: multipart/form-data with one or more file fields `image`, a raw image (image/png, image/jpeg, image/webp), or JSON {images:[base64…]}.',
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

// ---------- decode ----------

export const DecodeBody = Type.Object({ latents: Type.Array(Latent, { minItems: 1, maxItems: MAX_IMAGES }) });
export type DecodeBody = Static<typeof DecodeBody>;
export const ImagesJson = Type.Object({ images: Type.Array(Type.String({ description: 'base64 PNG' })), nonFinite: NonFinite });

export const decodeSchema = {
  tags: ['latent'],
  summary: 'Latents -> image(s)',
  querystring: ImageReplyQuery,
  description: 'Body: JSON {latents:[[…]…]}, or application/octet-stream with n·latentDim little-endian float32 values.',
  body: { content: { 'application/json': { schema: DecodeBody }, 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
  produces: ['image/png', 'application/json'],
  response: { 200: pngOrJson(ImagesJson, 'The decoded images'), ...errors(400, 404, 413, 415, 503) },
};

// ---------- interpolate ----------

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
  fitted: Type.Optional(Type.Object({ from: Type.Optional(FittedInfo), to: Type.Optional(FittedInfo) }, { description: 'With fit=true, for each end given as an image' })),
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
        { from: { type: 'string', format: 'binary' }, to: { type: 'string', format: 'binary' }, steps: { type: 'integer', minimum: 2, maximum: MAX_STEPS } },
        ['from', 'to'],
      ),
    },
  },
  produces: ['image/png', 'application/json'],
  response: { 200: pngOrJson(InterpolateJson, 'A strip from `from` to `to`'), ...errors(400, 404, 413, 415, 422, 503) },
};

// ---------- manipulate ----------

export const AttributeName = Type.String({ pattern: ATTRIBUTE_NAME.source, description: 'Lower-case letters, digits, _ and -, at most 64' });
export const Alpha = Type.Number({ minimum: -MAX_ALPHA, maximum: MAX_ALPHA });
export const Edit = Type.Object({ attribute: AttributeName, alpha: Alpha });

export const ManipulateBody = Type.Object({
  image: Type.Optional(ImageBase64),
  latent: Type.Optional(Latent),
  edits: Type.Array(Edit, { minItems: 1, maxItems: MAX_EDITS }),
  steps: Type.Optional(
    Type.Integer({ minimum: 2, maximum: MAX_STEPS, description: 'Return a strip: each alpha scaled from −1 to +1 in this many steps (odd: the original is in the middle)' }),
  ),
  passes: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_PASSES,
      default: 1,
      description: 'Apply the edit in this many equal parts, each decoded to 8-bit pixels and encoded again: pixels the attribute does not touch keep their value (about alpha / 0.1 passes; each pass costs a decode and an encode)',
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
  description: 'JSON {image|latent, edits:[{attribute, alpha}], steps?, passes?}, or multipart: file `image`, fields `attribute`, `alpha`, `steps`, `passes` (or `edits` as JSON).' + FITTED_HEADERS,
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

// ---------- attributes ----------

export const SetItem = Type.Union([ImageBase64, Latent], { description: 'A base64 image or a latent' });
export const CreateAttributeBody = Type.Object({
  name: AttributeName,
  positive: Type.Array(SetItem, { minItems: 1, maxItems: MAX_SET }),
  negative: Type.Array(SetItem, { minItems: 1, maxItems: MAX_SET }),
  description: Type.Optional(Type.String({ maxLength: 500 })),
});
export type CreateAttributeBody = Static<typeof CreateAttributeBody>;

export const CreateAttributeQuery = Type.Object({ model: ModelParam, replace: Type.Optional(Type.Boolean({ default: false })), fit: FitParam });
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
  description: 'JSON {name, positive:[base64 image | latent…], negative:[…]}, or multipart: field `name`, file fields `positive` and `negative` (repeated).',
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
export const listAttributesSchema = { tags: ['attributes'], summary: "List a model's attributes", querystring: ModelQuery, response: { 200: AttributeList, ...errors(404, 503) } };
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

export const metricsSchema = {
  tags: ['health'],
  summary: 'Prometheus metrics',
  produces: ['text/plain'],
  response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } },
};
