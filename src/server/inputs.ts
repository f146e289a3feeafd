// Request bodies -> images or latents, whatever the content type. Shared by the routes that take
// images: multipart uploads, raw image bodies and JSON with base64 images or latents.
import type { FastifyRequest } from 'fastify';
import type { Admission } from '../inference/batcher.ts';
import { HttpError } from './errors.ts';
import type { FittedImage } from './respond.ts';
import { readMultipart, type MultipartData, type MultipartSpec } from './multipart.ts';
import { GlowService } from './service.ts';

export type BodyKind = 'json' | 'multipart' | 'image' | 'float32';

const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/webp']);

/** Which of the accepted body kinds this request has; anything else is a 415 naming the accepted ones. */
export function bodyKind(req: FastifyRequest, accepted: BodyKind[]): BodyKind {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  let kind: BodyKind | undefined;
  if (type === 'application/json') kind = 'json';
  else if (type === 'multipart/form-data') kind = 'multipart';
  else if (IMAGE_TYPES.has(type)) kind = 'image';
  else if (type === 'application/octet-stream') kind = 'float32';
  if (kind && accepted.includes(kind)) return kind;
  const names = accepted.map(
    (k) => ({ json: 'application/json', multipart: 'multipart/form-data', image: 'image/png, image/jpeg or image/webp', float32: 'application/octet-stream (little-endian float32)' })[k],
  );
  throw new HttpError(415, `${type ? `content type ${type} is not accepted here` : 'missing content type'}; send ${names.join(', or ')}`);
}

/** `maxFiles` overrides GLOW_MAX_FILES as the cap on files in the whole form (POST /attributes: two sets). */
export function multipartFor(req: FastifyRequest, glow: GlowService, spec: MultipartSpec, maxFiles = glow.config.maxFiles): Promise<MultipartData> {
  return readMultipart(req, spec, { maxFileBytes: glow.config.maxFileBytes, maxFiles });
}

/** One set item from JSON: a base64 image (string) or a latent (numbers). */
export type ImageOrLatent = { image: Uint8Array } | { latent: Float32Array };

export function fromJsonItem(glow: GlowService, item: string | number[], what: string): ImageOrLatent {
  return typeof item === 'string' ? { image: GlowService.base64(item, what) } : { latent: glow.latent(item, what) };
}

/**
 * Resolves a mix of images and latents to latents: images are decoded (sharp) and encoded in
 * batcher submissions of up to one batch each, under the request's `admission` (see Batcher).
 * Returns the latents in input order. Given `fitted`, images are fitted to the model's data and
 * fitted[i] says what was done to item i (null for latents).
 */
export async function toLatents(
  glow: GlowService,
  items: ImageOrLatent[],
  what: (i: number) => string,
  admission?: Admission | null,
  fitted?: (FittedImage | null)[],
): Promise<Float32Array[]> {
  admission ??= { admitted: false };
  const imageIdx: number[] = [];
  const bytes: Uint8Array[] = [];
  items.forEach((it, i) => {
    if ('image' in it) {
      imageIdx.push(i);
      bytes.push(it.image);
    }
  });
  const out: Float32Array[] = items.map((it) => ('latent' in it ? it.latent : new Float32Array(0)));
  fitted?.splice(0, fitted.length, ...items.map(() => null));
  // Chunks of one batch each: a large attribute set then queues like several ordinary requests
  // instead of needing the whole queue at once.
  const chunk = glow.config.maxBatch;
  for (let start = 0; start < bytes.length; start += chunk) {
    const idx = imageIdx.slice(start, start + chunk);
    const decoded = await glow.decodeImages(bytes.slice(start, start + chunk), (k) => what(idx[k]), fitted !== undefined);
    const encoded = await glow.batcher.encode(decoded.map((d) => d.pixels), admission);
    encoded.forEach((e, k) => (out[idx[k]] = e.eps));
    if (fitted) decoded.forEach((d, k) => (fitted[idx[k]] = { ...d.fitted!, pixels: d.pixels }));
  }
  return out;
}
