// What the domain (models, inference, attributes, images) says went wrong, in its own words. It knows
// no HTTP: the server's one error handler maps each kind to a status (src/server/errors.ts).

export type ErrorKind =
  'invalid' | 'too-large' | 'unsupported' | 'unprocessable' | 'not-found' | 'conflict' | 'forbidden' | 'unavailable' | 'failed';

export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    /** A stable machine-readable reason, for clients that must tell refusals apart. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export class InvalidError extends DomainError {
  constructor(message: string, code?: string) {
    super('invalid', message, code);
  }
}

/** An input over a size limit (an image's pixels or sides). */
export class TooLargeError extends DomainError {
  constructor(message: string, code?: string) {
    super('too-large', message, code);
  }
}

/** An input of a kind that is not accepted (an image format, SVG). */
export class UnsupportedError extends DomainError {
  constructor(message: string, code?: string) {
    super('unsupported', message, code);
  }
}

/** A well-formed input that cannot be used (a photo with no digit on it). */
export class UnprocessableError extends DomainError {
  constructor(message: string, code?: string) {
    super('unprocessable', message, code);
  }
}

export class NotFoundError extends DomainError {
  constructor(message: string, code?: string) {
    super('not-found', message, code);
  }
}

export class ConflictError extends DomainError {
  constructor(message: string, code?: string) {
    super('conflict', message, code);
  }
}

export class ForbiddenError extends DomainError {
  constructor(message: string, code?: string) {
    super('forbidden', message, code);
  }
}

/** The work cannot be done now (queue full, model loading, shutting down); a retry later can succeed. */
export class UnavailableError extends DomainError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    code?: string,
  ) {
    super('unavailable', message, code);
    this.name = 'UnavailableError';
  }
}

/** The work was tried and failed in a way the client is told about (a checkpoint that does not load). */
export class FailedError extends DomainError {
  constructor(message: string, code?: string) {
    super('failed', message, code);
  }
}
