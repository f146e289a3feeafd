// What the server logs (pino, through Fastify): one line per request at info (method, path, query,
// status, time), expected refusals (queue full, model loading, shutting down) at warn without a
// stack, unexpected failures at error with one. Secrets never reach the log: query parameters this
// API does not define are written as "[redacted]" (a token pasted into a URL stays out of it), and
// Authorization and Cookie headers are redacted should anything log headers.
import type { FastifyRequest } from 'fastify';
import type { LoggerOptions } from 'pino';

/** Every query parameter of the API; anything else is redacted in the log. */
const KNOWN_QUERY = new Set(['model', 't', 'n', 'seed', 'format', 'scale', 'verify', 'replace', 'vector']);

/** The URL as logged: the path, and the query with the values of unknown parameters redacted. */
export function loggedUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const params = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        /* a broken escape is just an unknown name */
      }
      if (KNOWN_QUERY.has(decoded)) return pair.slice(0, 200);
      return `${encodeURIComponent(decoded.slice(0, 40))}=[redacted]`;
    });
  return `${url.slice(0, q)}?${params.join('&')}`;
}

export function loggerOptions(level: string): LoggerOptions & { serializers: Record<string, (v: never) => unknown> } {
  return {
    level,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'], censor: '[redacted]' },
    serializers: {
      req: (req: FastifyRequest) => ({
        method: req.method,
        url: loggedUrl(req.url),
        host: req.host,
        remoteAddress: req.ip,
        remotePort: req.socket?.remotePort,
      }),
    },
  };
}
