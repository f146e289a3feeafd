// The one body parser of the routes that take images. A request brings JSON, a multipart form, or
// a raw image / float32 body; whichever it is, the route gets its input in one shape, checked by
// the route's one TypeBox schema. JSON is checked by Fastify (ajv) before the handler runs. A form
// is turned into the same object (text fields read as the schema's numbers, JSON-valued fields
// parsed, a form's shorthand fields placed where the JSON has them) and checked against the same
// schema here; only the properties a form sends as files are left out of that check, and its
// refusals name the form's fields ('field "steps" …') instead of JSON paths. Either way the
// schema's defaults are filled in.
import type { FastifyRequest } from 'fastify';
import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import sjson from 'secure-json-parse';
import { ATTRIBUTE_NAME } from '../attributes/store.ts';
import type { Config } from './config.ts';
import { HttpError } from './errors.ts';
import { readMultipart } from './multipart.ts';
import { NOT_AN_ATTRIBUTE_NAME } from './validation.ts';

export type BodyKind = 'json' | 'multipart' | 'image' | 'float32';

const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/webp']);

/** How a multipart form maps onto a route's body schema. */
export interface FormSpec<K extends string> {
  /** The schema's properties the form sends as files (or not at all); the schema checks the rest. */
  images: readonly K[];
  /** File fields: most files each takes (1: a single file), and what is said when it has none. */
  files: Record<string, { max: number | ((config: Config) => number); missing: string }>;
  /** Cap on files in the whole form (default GLOW_MAX_FILES). */
  maxFiles?: (config: Config) => number;
  /** Text fields (each at most once). */
  fields?: Record<string, FormField>;
}

export interface FormField {
  /** Where in the body the field's value goes, as a JSON pointer (default: /<field>). */
  at?: string;
  /** The field holds JSON (parsed, refusing prototype keys as JSON bodies do). */
  json?: boolean;
  /** What is said when the schema requires the field and it is absent (default: missing field "<field>"). */
  missing?: string;
  /** For JSON fields: the expected shape, appended to a refusal. */
  expected?: string;
}

export interface BodySpec<S extends TObject, K extends string, A extends BodyKind> {
  /** The body kinds the route takes; others are a 415 naming these, in this order. */
  accepts: A[];
  /** The JSON body's schema (the same object the route's Fastify schema uses). */
  schema: S;
  /** How a form maps onto the schema, when the route takes forms. */
  form?: FormSpec<K>;
}

/** A body as read: a JSON or form body of the schema's shape (a form's files beside it), or raw bytes. */
export type Body<S extends TObject, K extends string, A extends BodyKind> = Extract<
  | { kind: 'json'; body: Static<S> }
  | { kind: 'multipart'; body: Omit<Static<S>, K>; files: Map<string, Buffer[]> }
  | { kind: 'image'; bytes: Buffer }
  | { kind: 'float32'; bytes: Buffer },
  { kind: A }
>;

/** The request's body as the route's input shape (see the top of this file). */
export async function readBody<S extends TObject, K extends string, A extends BodyKind>(
  req: FastifyRequest,
  spec: BodySpec<S, K, A>,
): Promise<Body<S, K, A>> {
  const kind = bodyKind(req, spec.accepts);
  if (kind === 'json') return { kind, body: req.body as Static<S> } as Body<S, K, A>;
  if (kind === 'image' || kind === 'float32') return { kind, bytes: req.body as Buffer } as Body<S, K, A>;
  const form = spec.form!;
  const config = req.server.config;
  const max = (m: number | ((c: Config) => number)) => (typeof m === 'number' ? m : m(config));
  const fields = form.fields ?? {};
  const data = await readMultipart(
    req,
    { files: Object.fromEntries(Object.entries(form.files).map(([name, f]) => [name, max(f.max)])), fields: Object.keys(fields) },
    { maxFileBytes: config.maxFileBytes, maxFiles: form.maxFiles?.(config) ?? config.maxFiles },
  );
  for (const [name, f] of Object.entries(form.files)) if (!data.files.get(name)?.length) throw new HttpError(400, f.missing);
  const schema = formSchema(spec.schema, form.images);
  const body = formBody(data.fields, fields, schema);
  Value.Default(schema, body);
  const error = Value.Errors(schema, body).First();
  if (error) throw new HttpError(400, formError(error, data.fields, fields));
  return { kind, body: body as Omit<Static<S>, K>, files: data.files } as Body<S, K, A>;
}

/** Which of the accepted body kinds this request has; anything else is a 415 naming the accepted ones. */
export function bodyKind<A extends BodyKind>(req: FastifyRequest, accepted: A[]): A {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  let kind: BodyKind | undefined;
  if (type === 'application/json') kind = 'json';
  else if (type === 'multipart/form-data') kind = 'multipart';
  else if (IMAGE_TYPES.has(type)) kind = 'image';
  else if (type === 'application/octet-stream') kind = 'float32';
  if (kind && (accepted as BodyKind[]).includes(kind)) return kind as A;
  const names = accepted.map(
    (k) =>
      ({
        json: 'application/json',
        multipart: 'multipart/form-data',
        image: 'image/png, image/jpeg or image/webp',
        float32: 'application/octet-stream (little-endian float32)',
      })[k],
  );
  throw new HttpError(415, `${type ? `content type ${type} is not accepted here` : 'missing content type'}; send ${names.join(', or ')}`);
}

/** base64 (or a data: URL) -> bytes; refuses text that is not base64 at all. */
export function base64(s: string, what: string): Buffer {
  const body = s.startsWith('data:') ? s.slice(s.indexOf(',') + 1) : s;
  const clean = body.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(clean)) throw new HttpError(400, `${what} is not valid base64`);
  return Buffer.from(clean, clean.includes('-') || clean.includes('_') ? 'base64url' : 'base64');
}

const formSchemas = new WeakMap<TObject, Map<string, TObject>>();

/** The route's schema without the properties a form sends as files. */
function formSchema(schema: TObject, images: readonly string[]): TObject {
  const key = images.join();
  let forms = formSchemas.get(schema);
  if (!forms) formSchemas.set(schema, (forms = new Map()));
  let form = forms.get(key);
  if (!form) forms.set(key, (form = Type.Omit(schema, [...images]) as TObject));
  return form;
}

/** Text fields -> the body object: each at its place, numbers where the schema has numbers, JSON parsed. */
function formBody(values: Map<string, string>, fields: Record<string, FormField>, schema: TObject): Record<string, unknown> {
  const given = [...values.keys()];
  for (const name of given) {
    // A field whose place lies inside another's (`alpha` in `edits`): one form or the other.
    const outer = given.find((other) => other !== name && inside(pointer(name, fields), pointer(other, fields)));
    if (outer) {
      const parts = Object.keys(fields).filter((f) => inside(pointer(f, fields), pointer(outer, fields)));
      throw new HttpError(400, `send either "${outer}" or ${parts.map((f) => `"${f}"`).join(' and ')}, not both`);
    }
  }
  const body: Record<string, unknown> = {};
  for (const [name, raw] of values) {
    const at = pointer(name, fields);
    const value = fields[name]?.json ? parseJsonField(name, raw) : number(raw, schemaAt(schema, at));
    place(body, at, value);
  }
  return body;
}

function pointer(name: string, fields: Record<string, FormField>): string {
  return fields[name]?.at ?? `/${name}`;
}

function inside(at: string, outer: string): boolean {
  return at.startsWith(`${outer}/`);
}

function parseJsonField(name: string, raw: string): unknown {
  try {
    return sjson.parse(raw, null, { protoAction: 'error', constructorAction: 'error' });
  } catch (err) {
    // The same refusal as in a JSON body (validation.ts).
    if (/forbidden (prototype|constructor) property/.test(String((err as Error).message)))
      throw new HttpError(400, `field "${name}" has a "__proto__" or "constructor.prototype" key, which is refused`);
    throw new HttpError(400, `field "${name}" is not valid JSON`);
  }
}

/** Form text as the number the schema wants there; what is not a finite number stays text, for the schema to refuse. */
function number(raw: string, schema: TSchema | undefined): unknown {
  if (schema?.type !== 'number' && schema?.type !== 'integer') return raw;
  const v = raw.trim() === '' ? NaN : Number(raw);
  return Number.isFinite(v) ? v : raw;
}

/** The schema of the value at a JSON pointer (through object properties and array items). */
function schemaAt(schema: TSchema, at: string): TSchema | undefined {
  let node: TSchema | undefined = schema;
  for (const key of at.split('/').slice(1))
    node = node?.type === 'object' ? node.properties?.[key] : node?.type === 'array' ? node.items : undefined;
  return node;
}

/** Sets body at a JSON pointer such as /edits/0/alpha, making the objects and arrays on the way. */
function place(body: Record<string, unknown>, at: string, value: unknown): void {
  const keys = at.split('/').slice(1);
  let node = body;
  keys.slice(0, -1).forEach((key, i) => {
    node[key] ??= /^\d+$/.test(keys[i + 1]) ? [] : {};
    node = node[key] as Record<string, unknown>;
  });
  node[keys[keys.length - 1]] = value;
}

/** The schema's first refusal, in the words of the form: which field, and what it must be. */
function formError(error: ValueError, values: Map<string, string>, fields: Record<string, FormField>): string {
  // The field whose place is the error's, or holds it (a JSON field): the innermost one the form
  // has, else (a missing field) the innermost one it could have had.
  const at = (names: string[]) =>
    names
      .filter((n) => error.path === pointer(n, fields) || inside(error.path, pointer(n, fields)))
      .sort((a, b) => pointer(b, fields).length - pointer(a, fields).length)[0];
  const name = at([...values.keys()]) ?? at(Object.keys(fields));
  if (name === undefined) return `the form is invalid: ${error.path} ${error.message}`;
  const field = fields[name] ?? {};
  const where = pointer(name, fields);
  if (error.type === ValueErrorType.ObjectRequiredProperty && error.path === where) return field.missing ?? `missing field "${name}"`;
  if (field.json)
    return `field "${name}"${error.path.slice(where.length)} ${error.message}${field.expected ? `; expected ${field.expected}` : ''}`;
  return `field "${name}" ${fieldRule(error, values.get(name) ?? '')}`;
}

/** What a text field's value must be, said from its schema. */
function fieldRule(error: ValueError, raw: string): string {
  const s = error.schema;
  if (s.type === 'integer' || s.type === 'number') {
    const range = s.minimum !== undefined && s.maximum !== undefined ? ` in [${s.minimum}, ${s.maximum}]` : '';
    return `must be ${s.type === 'integer' ? 'an integer' : 'a number'}${range}, not "${raw.slice(0, 40)}"`;
  }
  if (s.pattern === ATTRIBUTE_NAME.source) return NOT_AN_ATTRIBUTE_NAME;
  if (error.type === ValueErrorType.StringMaxLength) return `is longer than ${s.maxLength} characters`;
  return error.message;
}
