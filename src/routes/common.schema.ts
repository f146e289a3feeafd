// The pieces every route schema is built from (TypeBox -> JSON Schema -> ajv validation,
// fast-json-stringify serialisation and the OpenAPI document). Each route's own schema is beside it.
import { Type, type TSchema } from '@sinclair/typebox';
import { ATTRIBUTE_NAME } from '../attributes/store.ts';

export const ErrorResponse = Type.Object(
  {
    statusCode: Type.Integer({ examples: [400] }),
    code: Type.Optional(Type.String({ examples: ['FST_ERR_VALIDATION'] })),
    error: Type.String({ examples: ['Bad Request'] }),
    message: Type.String({ examples: ['querystring/t must be <= 1.5'] }),
  },
  { $id: 'Error', description: 'Every 4xx/5xx reply' },
);

/** Latent lengths are checked against the model (ModelService.latent); this bound only stops huge arrays early. */
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
export const ModelParam = Type.Optional(
  Type.String({ minLength: 1, maxLength: 64, description: 'Which model (GET /models); the default when absent' }),
);
export const ModelQuery = Type.Object({ model: ModelParam });

export const FitParam = Type.Optional(
  Type.Boolean({
    default: false,
    description:
      "Fit each uploaded image to the model's data first (GET /model fit: for MNIST, a photo of a digit on paper becomes an MNIST-style digit); latents are left alone",
  }),
);

export const FittedInfo = Type.Object(
  {
    inverted: Type.Boolean({ description: 'The background was light, so the image was inverted' }),
    box: Type.Object(
      { left: Type.Integer(), top: Type.Integer(), width: Type.Integer(), height: Type.Integer() },
      { description: "The part of the upload kept (the ink's bounding box, or the centred square), in its pixels" },
    ),
    scale: Type.Number({ description: 'Model pixels per upload pixel' }),
    shift: Type.Object(
      { x: Type.Integer(), y: Type.Integer() },
      { description: "Where the scaled box's top-left corner landed in the model's image" },
    ),
    image: Type.Optional(Type.String({ description: 'The fitted image the model saw, base64 PNG' })),
  },
  { description: 'With fit=true: what fitting did to an uploaded image' },
);
/** PNG replies carry the fitted images in headers: x-fitted (JSON, without images) and x-fitted-images (base64 PNGs, comma-separated). */
export const FITTED_HEADERS =
  ' With fit=true, PNG replies carry what was done in x-fitted (a JSON array) and the fitted images in x-fitted-images (base64 PNGs, comma-separated).';

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
  description:
    "PNG image (a grid or strip when several). Headers: x-image-count, and x-non-finite-values with each image's count of NaN/±Inf values (0 = sound)",
  content: { 'image/png': { schema: { type: 'string', format: 'binary' } } },
};

/** A 200 reply that is PNG by default and JSON with Accept: application/json. */
export function pngOrJson(json: TSchema, description: string) {
  return {
    description,
    content: {
      'image/png': PngReply.content['image/png'],
      'application/json': { schema: json },
    },
  };
}

/** The error replies a route documents, each the shared Error shape. */
export const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, { $ref: 'Error#' }]));

/** A multipart/form-data body, for the OpenAPI document (forms are checked by src/server/body.ts). */
export const multipartImages = (fields: Record<string, unknown>, required: string[]) => ({
  schema: { type: 'object', properties: fields, required },
});

export const AttributeName = Type.String({
  pattern: ATTRIBUTE_NAME.source,
  description: 'Lower-case letters, digits, _ and -, at most 64',
});
