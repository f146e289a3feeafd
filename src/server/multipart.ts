// Reading multipart/form-data with explicit allow-lists: only the named file fields (each up to a
// count), only the named text fields (each at most once). Anything else is a 400 naming the field,
// so a typo ("images" for "image") is not silently ignored.
import type { FastifyRequest } from 'fastify';
import { HttpError } from './errors.ts';

export interface MultipartSpec {
  /** File field name -> most files allowed in it. */
  files: Record<string, number>;
  /** Text fields allowed (each at most once). */
  fields: string[];
}

export interface MultipartLimits {
  maxFileBytes: number;
  /** Cap on files overall (busboy enforces it while streaming). */
  maxFiles: number;
}

export interface MultipartData {
  files: Map<string, Buffer[]>;
  fields: Map<string, string>;
}

export async function readMultipart(req: FastifyRequest, spec: MultipartSpec, limits: MultipartLimits): Promise<MultipartData> {
  const files = new Map<string, Buffer[]>();
  const fields = new Map<string, string>();
  const maxFiles = Math.min(
    limits.maxFiles,
    Object.values(spec.files).reduce((a, b) => a + b, 0),
  );
  let seen = 0;
  try {
    const parts = req.parts({
      // One file over the cap still reaches the loop below, so the reply can name the field that
      // is duplicated, unexpected or over its own limit; busboy stops the one after that.
      limits: {
        fileSize: limits.maxFileBytes,
        files: maxFiles + 1,
        fields: spec.fields.length + 4,
        fieldSize: 64 * 1024,
        parts: maxFiles + spec.fields.length + 5,
        headerPairs: 100,
      },
    });
    for await (const part of parts) {
      seen++;
      if (part.type === 'file') {
        const allowed = spec.files[part.fieldname];
        if (allowed === undefined) {
          part.file.resume(); // drain it so the parser can move on to report the error cleanly
          throw new HttpError(400, `unexpected file field "${part.fieldname}"; expected ${names(Object.keys(spec.files))}`);
        }
        const list = files.get(part.fieldname) ?? [];
        if (list.length >= allowed) {
          part.file.resume();
          // A single-file field sent twice is a malformed form; a list over its cap is too much.
          if (allowed === 1) throw new HttpError(400, `file field "${part.fieldname}" given more than once; it takes one file`);
          throw new HttpError(413, `too many files in field "${part.fieldname}"; at most ${allowed}`);
        }
        list.push(await part.toBuffer());
        files.set(part.fieldname, list);
      } else {
        if (spec.files[part.fieldname] !== undefined) throw new HttpError(400, `field "${part.fieldname}" must be a file upload, not text`);
        if (!spec.fields.includes(part.fieldname))
          throw new HttpError(400, `unexpected field "${part.fieldname}"; expected ${names([...spec.fields, ...Object.keys(spec.files)])}`);
        if (fields.has(part.fieldname)) throw new HttpError(400, `field "${part.fieldname}" given more than once`);
        if (part.valueTruncated) throw new HttpError(413, `field "${part.fieldname}" is too long`);
        fields.set(part.fieldname, String(part.value));
      }
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    const e = err as Error & { statusCode?: number; code?: string };
    // @fastify/multipart's own limit errors carry a status (413 for too many files / too large).
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) throw new HttpError(e.statusCode, multipartMessage(e, limits, maxFiles));
    // The parser's own text ("Unexpected end of form", "Malformed part header", …) is not passed on.
    throw new HttpError(400, `malformed multipart body: ${brokenForm(e.message)}`);
  }
  if (seen === 0)
    throw new HttpError(400, `the multipart body is empty: no fields or files${req.headers['content-length'] === '0' ? ' (0 bytes)' : ''}`);
  return { files, fields };
}

function multipartMessage(e: Error & { code?: string }, limits: MultipartLimits, maxFiles: number): string {
  switch (e.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return `a file is larger than the limit of ${limits.maxFileBytes} bytes`;
    case 'FST_FILES_LIMIT':
      return `too many files; at most ${maxFiles}`;
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return 'too many form fields';
    default:
      return 'the form is over a limit of this server';
  }
}

/** What is wrong with a form the parser could not read, in our words. */
function brokenForm(reason: string): string {
  if (/unexpected end/i.test(reason)) return 'Unexpected end of multipart data: the body stops before its closing boundary';
  if (/boundary/i.test(reason)) return 'the content type names no boundary (multipart/form-data; boundary=…)';
  if (/header/i.test(reason)) return 'a part has a broken header';
  return 'it could not be read as multipart/form-data';
}

function names(list: string[]): string {
  return list.map((n) => `"${n}"`).join(', ');
}
