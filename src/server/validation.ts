// Turning malformed requests into 4xx replies that say what was wrong: the JSON body parser, the
// wording of schema errors, and Fastify's own URL errors. Nothing here ever echoes more than a short
// slice of what the client sent.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifySchemaValidationError } from 'fastify/types/schema.js';
import sjson from 'secure-json-parse';
import { ATTRIBUTE_NAME } from '../attributes/store.ts';
import { HttpError } from './errors.ts';

/**
 * application/json bodies. JSON.parse is not recursive in V8, so deep nesting cannot overflow the
 * stack; `__proto__` / `constructor.prototype` keys are refused (prototype poisoning). NaN and
 * Infinity are not JSON: the message says so, since that is the usual way a latent goes wrong.
 */
export function parseJsonBody(_req: FastifyRequest, body: string, done: (err: Error | null, body?: unknown) => void): void {
  if (body.length === 0) return done(new HttpError(400, 'the JSON body is empty (0 bytes)'));
  try {
    done(null, sjson.parse(body, null, { protoAction: 'error', constructorAction: 'error' }));
  } catch (err) {
    const reason = String((err as Error).message);
    if (/forbidden (prototype|constructor) property/.test(reason)) {
      return done(new HttpError(400, 'the JSON body has a "__proto__" or "constructor.prototype" key, which is refused'));
    }
    const hint = /(^|[^A-Za-z"])-?(NaN|Infinity)\b/.test(body)
      ? ' (NaN and Infinity are not JSON numbers: every value must be finite)'
      : '';
    // Where it broke, in our words (the runtime's parser text is not part of the API).
    const at = /position (\d+)/.exec(reason);
    const where = at
      ? `it breaks at character ${Number(at[1]) + 1} of ${body.length}`
      : /end of JSON/i.test(reason)
        ? 'it ends before the JSON does'
        : 'it does not parse';
    done(new HttpError(400, `the body is not valid JSON: ${where}${hint}`));
  }
}

interface AjvError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/**
 * ajv errors -> one message. Attribute-name patterns are spelled out; for unions (anyOf) the
 * branch that got furthest is reported instead of "must match a schema in anyOf".
 */
export function formatSchemaErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const list = errors as unknown as AjvError[];
  const anyOf = list.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath);
  const describe = (e: AjvError) => `${dataVar}${e.instancePath} ${explain(e)}`;
  let message: string;
  if (anyOf.length === 0) message = list.map(describe).join(', ');
  else {
    const at = anyOf[0];
    // Errors of the branches: a type or const mismatch at the union's own path only says "not this branch".
    const branch = list.filter((e) => e.keyword !== 'anyOf');
    const specific = branch.filter((e) => !(e.instancePath === at && (e.keyword === 'type' || e.keyword === 'const')));
    if (specific.length > 0) message = describe(specific[0]);
    else {
      const types = [...new Set(branch.filter((e) => e.keyword === 'type').map((e) => String(e.params.type)))];
      const consts = branch.filter((e) => e.keyword === 'const').map((e) => JSON.stringify(e.params.allowedValue));
      const options = [
        ...types.map((t) => (t === 'string' ? 'a string (base64 image)' : t === 'array' ? 'an array (latent)' : t)),
        ...consts,
      ];
      message = `${dataVar}${at} must be ${options.length ? `one of ${options.join(', ')}` : 'one of the documented forms'}`;
    }
  }
  // The same code as Fastify's own validation errors, so clients can tell schema failures apart.
  return Object.assign(new HttpError(400, message), { code: 'FST_ERR_VALIDATION' });
}

/** How a refused attribute name is explained, in JSON bodies, forms and paths alike. */
export const NOT_AN_ATTRIBUTE_NAME =
  'is not a valid attribute name: use 1–64 characters of a-z, 0-9, _ and -, starting with a letter or digit';

function explain(e: AjvError): string {
  if (e.keyword === 'pattern' && e.params.pattern === ATTRIBUTE_NAME.source) return NOT_AN_ATTRIBUTE_NAME;
  return e.message ?? 'is invalid';
}

/** Fastify's own URL errors (undecodable %-escapes, over-long path parameters) in the usual error shape. */
export function frameworkErrors(err: Error & { code?: string }, _req: FastifyRequest, reply: FastifyReply): void {
  let status = 400;
  let message = 'the URL could not be understood';
  if (err.code === 'FST_ERR_BAD_URL') message = 'the URL path has an invalid %-escape';
  else if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    status = 414;
    message = 'a path parameter is longer than 100 characters (attribute names are at most 64)';
  }
  void reply
    .status(status)
    .type('application/json')
    .send({ statusCode: status, error: status === 414 ? 'URI Too Long' : 'Bad Request', message, code: err.code });
}
