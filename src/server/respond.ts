// Content negotiation for image replies: PNG by default, JSON when asked (?format=json or an
// Accept header preferring application/json).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Decoded } from '../inference/batcher.ts';
import type { Fitted, FittedImage } from '../images/fit.ts';
import { encodePng, imagesToPng, type GridOptions, type ImageSize } from '../images/images.ts';

/** The JSON form of a fitted upload, with the fitted image as base64 PNG (at `scale`, like the reply's images). */
export async function fittedJson(f: FittedImage, size: ImageSize, scale = 1): Promise<Fitted & { image: string }> {
  const { pixels, ...done } = f;
  return { ...done, image: (await encodePng(pixels, size, scale)).toString('base64') };
}

/** PNG replies: what was done as JSON in x-fitted, the fitted images in x-fitted-images (null: a latent was given). */
export async function setFittedHeaders(reply: FastifyReply, fitted: (FittedImage | null)[], size: ImageSize): Promise<void> {
  const json = await Promise.all(fitted.map((f) => (f ? fittedJson(f, size) : null)));
  reply.header('x-fitted', JSON.stringify(json.map((f) => (f ? { ...f, image: undefined } : null))));
  reply.header('x-fitted-images', json.map((f) => f?.image ?? '').join(','));
}

export function wantsJson(req: FastifyRequest, format?: 'png' | 'json'): boolean {
  if (format) return format === 'json';
  const accept = req.headers.accept;
  if (!accept) return false;
  let json = -1;
  let png = -1;
  for (const [i, part] of accept.split(',').entries()) {
    const [type, ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    // Earlier entries win ties, as clients usually list their preference first.
    const score = (Number.isFinite(q) ? q : 0) - i * 1e-6;
    if (type === 'application/json') json = Math.max(json, score);
    else if (type === 'image/png' || type === 'image/*') png = Math.max(png, score);
  }
  return json > 0 && json > png;
}

/**
 * Decoded images as one PNG (a grid or strip when several). x-non-finite-values gives each image's
 * count of NaN/±Inf values: those pixels are drawn black (NaN, −Inf) or white (+Inf), and a client
 * cannot tell them from real ones.
 */
export async function sendPng(
  reply: FastifyReply,
  images: Decoded[],
  size: ImageSize,
  opts: GridOptions & { scale?: number } = {},
): Promise<Buffer> {
  const png = await imagesToPng(
    images.map((d) => d.pixels),
    size,
    opts,
  );
  reply
    .type('image/png')
    .header('x-image-count', String(images.length))
    .header('x-non-finite-values', images.map((d) => d.nonFinite).join(','));
  return png;
}

/** The JSON form: each image as its own base64 PNG, and each one's count of NaN/±Inf values. */
export async function imagesJson(images: Decoded[], size: ImageSize, scale = 1): Promise<{ images: string[]; nonFinite: number[] }> {
  const pngs = await Promise.all(images.map(async (d) => (await encodePng(d.pixels, size, scale)).toString('base64')));
  return { images: pngs, nonFinite: images.map((d) => d.nonFinite) };
}

/**
 * A latent -> numbers for JSON. 9 significant digits identify every float32 exactly, so a latent of
 * float32 values sent back to /decode is bit-identical at about half the length of the float64
 * printout; a latent from the precise path (float64: inference/engines.ts) is printed whole.
 */
export function toNumbers(v: Float32Array | Float64Array): number[] {
  if (!v.every((x) => Math.fround(x) === x)) return Array.from(v);
  const out = new Array<number>(v.length);
  for (let i = 0; i < v.length; i++) out[i] = Number(v[i].toPrecision(9));
  return out;
}
