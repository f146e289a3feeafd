// Errors that carry their HTTP status; the app's error handler turns them into
// {statusCode, error, message} (plus Retry-After for 503s).
import { STATUS_CODES } from 'node:http';

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

/** 503 with Retry-After: queue full, timed out in the queue, model loading or shutting down. */
export class UnavailableError extends HttpError {
  constructor(message: string, retryAfterSeconds: number, code?: string) {
    super(503, message, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) }, code);
    this.name = 'UnavailableError';
  }
}
