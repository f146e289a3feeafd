// Errors that carry their HTTP status; the app's error handler turns them, and the domain's errors
// (src/errors.ts) mapped here, into {statusCode, error, message} (plus Retry-After for 503s).
import { STATUS_CODES } from 'node:http';
import { type DomainError, type ErrorKind, UnavailableError } from '../errors.ts';

export { UnavailableError };

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly headers: Record<string, string> = {},
    /** A stable machine-readable reason (the reply's `code`), for clients that must tell 503s apart. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }

  get error(): string {
    return STATUS_CODES[this.statusCode] ?? 'Error';
  }
}

const STATUS_OF: Record<ErrorKind, number> = {
  invalid: 400,
  'too-large': 413,
  unsupported: 415,
  unprocessable: 422,
  'not-found': 404,
  conflict: 409,
  forbidden: 403,
  unavailable: 503,
  failed: 500,
};

/** The one place a domain error becomes HTTP: its status, and Retry-After for what may succeed later. */
export function httpErrorOf(err: DomainError): HttpError {
  const headers: Record<string, string> =
    err instanceof UnavailableError ? { 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterSeconds))) } : {};
  return new HttpError(STATUS_OF[err.kind], err.message, headers, err.code);
}
