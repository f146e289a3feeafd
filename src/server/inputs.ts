// Request bodies, whatever the content type: which kind a request has, multipart forms with the
// server's limits, and base64 images in JSON.
import type { FastifyRequest } from 'fastify';
import { HttpError } from './errors.ts';
import { readMultipart, type MultipartData, type MultipartSpec } from './multipart.ts';

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
export function multipartFor(req: FastifyRequest, spec: MultipartSpec, maxFiles = req.server.config.maxFiles): Promise<MultipartData> {
  return readMultipart(req, spec, { maxFileBytes: req.server.config.maxFileBytes, maxFiles });
}

/** base64 (or a data: URL) -> bytes; refuses text that is not base64 at all. */
export function base64(s: string, what: string): Buffer {
  const body = s.startsWith('data:') ? s.slice(s.indexOf(',') + 1) : s;
  const clean = body.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(clean)) throw new HttpError(400, `${what} is not valid base64`);
  return Buffer.from(clean, clean.includes('-') || clean.includes('_') ? 'base64url' : 'base64');
}
