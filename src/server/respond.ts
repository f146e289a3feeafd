// Content negotiation for image replies: PNG by default, JSON when asked (?format=json or an
// Accept header preferring application/json).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { encodePng, imagesToPng, type GridOptions, type ImageSize } from './images.ts';

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

export async function sendPng(reply: FastifyReply, images: Uint8Array[], size: ImageSize, opts: GridOptions & { scale?: number } = {}): Promise<Buffer> {
  const png = await imagesToPng(images, size, opts);
  reply.type('image/png').header('x-image-count', String(images.length));
  return png;
}

/** Each image as its own base64 PNG, for JSON replies. */
export async function base64Pngs(images: Uint8Array[], size: ImageSize, scale = 1): Promise<string[]> {
  return Promise.all(images.map(async (img) => (await encodePng(img, size, scale)).toString('base64')));
}

/**
 * Float32Array -> numbers for JSON. 9 significant digits identify every float32 exactly, so a
 * latent sent back to /decode is bit-identical, at about half the length of the float64 printout.
 */
export function toNumbers(v: Float32Array): number[] {
  const out = new Array<number>(v.length);
  for (let i = 0; i < v.length; i++) out[i] = Number(v[i].toPrecision(9));
  return out;
}
