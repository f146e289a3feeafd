// Who may change things, and what browsers are told: the admin token for writes, security headers
// (@fastify/helmet), optional CORS (@fastify/cors) and optional per-client rate limiting
// (@fastify/rate-limit). CORS and rate limiting are off unless configured.
import { createHash, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyRequest, type onRequestAsyncHookHandler } from 'fastify';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { Config } from './config.ts';
import { HttpError } from './errors.ts';

/** The OpenAPI security scheme name used by the write routes. */
export const ADMIN_SCHEME = 'adminToken';

/**
 * onRequest hook for write routes: with GLOW_ADMIN_TOKEN set, `Authorization: Bearer <token>` is
 * required (401 without one, 403 with a wrong one). Runs before the body is read, so an
 * unauthenticated upload costs nothing. Both sides are hashed to 32 bytes first, so the comparison
 * is constant-time and does not reveal the token's length either.
 */
export function adminGuard(token: string | undefined): onRequestAsyncHookHandler {
  const want = token === undefined ? undefined : sha256(token);
  return async (req: FastifyRequest) => {
    if (!want) return;
    const header = req.headers.authorization;
    const challenge = { 'www-authenticate': 'Bearer realm="glow-serve"' };
    if (!header) throw new HttpError(401, 'this operation needs the admin token: send "Authorization: Bearer <token>"', challenge);
    const m = /^Bearer +(\S+) *$/i.exec(header);
    if (!m) throw new HttpError(401, 'the Authorization header must be "Bearer <token>"', challenge);
    if (!timingSafeEqual(sha256(m[1]), want))
      throw new HttpError(403, 'the admin token is not valid', { 'www-authenticate': 'Bearer realm="glow-serve", error="invalid_token"' });
  };
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Routes never rate limited: probes and scrapes must keep working when a client is throttled. */
const UNLIMITED = new Set(['/healthz', '/readyz', '/metrics']);

export async function registerSecurity(app: FastifyInstance, config: Config): Promise<void> {
  const corsOn = config.corsOrigins.length > 0;
  await app.register(helmet, {
    // The page at / loads only its own files; images are data: URLs (and blob: for uploads/canvas).
    // No inline script or style anywhere, so no 'unsafe-inline'. /docs (swagger-ui) sets its own
    // hash-based policy. No upgrade-insecure-requests: the server is often reached over plain HTTP
    // (loopback, inside a cluster) and that directive would break every sub-request there.
    contentSecurityPolicy: {
      useDefaults: true,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        connectSrc: ["'self'", 'data:', 'blob:'],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        frameAncestors: ["'self'"],
        formAction: ["'self'"],
        upgradeInsecureRequests: null,
      },
    },
    // With CORS on, other origins are meant to read our replies (including PNGs in <img>).
    crossOriginResourcePolicy: { policy: corsOn ? 'cross-origin' : 'same-origin' },
  });

  if (corsOn) {
    const any = config.corsOrigins.includes('*');
    await app.register(cors, {
      origin: any ? '*' : config.corsOrigins,
      methods: ['GET', 'HEAD', 'POST', 'DELETE'],
      allowedHeaders: ['Content-Type', 'Authorization', 'Accept'],
      exposedHeaders: [
        'X-Seed',
        'X-Image-Count',
        'X-Non-Finite-Values',
        'Retry-After',
        'Location',
        'X-RateLimit-Limit',
        'X-RateLimit-Remaining',
        'X-RateLimit-Reset',
      ],
      maxAge: 600,
      strictPreflight: true,
    });
  }

  if (config.rateLimitMax > 0) {
    const seconds = config.rateLimitWindowMs / 1000;
    await app.register(rateLimit, {
      global: true,
      max: config.rateLimitMax,
      timeWindow: config.rateLimitWindowMs,
      // Before the body is read; keyed by req.ip (set GLOW_TRUST_PROXY behind a proxy).
      hook: 'onRequest',
      allowList: (req) => UNLIMITED.has(req.routeOptions.url ?? ''),
      errorResponseBuilder: (_req, ctx) =>
        new HttpError(429, `rate limit exceeded: at most ${ctx.max} requests per ${seconds} s from one client; retry in ${ctx.after}`, {
          'retry-after': String(Math.max(1, Math.ceil(ctx.ttl / 1000))),
        }),
    });
  }
}

const HELMET_HEADERS =
  /^(content-security-policy|cross-origin-[a-z-]+|origin-agent-cluster|referrer-policy|strict-transport-security|x-content-type-options|x-dns-prefetch-control|x-download-options|x-frame-options|x-permitted-cross-domain-policies|x-xss-protection)$/;

/**
 * The security headers of the app's replies, for the replies Node writes itself: read from a reply
 * of a throwaway instance with the same settings (so the app's own metrics and logs see nothing).
 */
export async function securityHeadersOf(config: Config): Promise<Record<string, string>> {
  const probe = Fastify({ logger: false });
  await registerSecurity(probe, config);
  probe.get('/', async () => ({}));
  const res = await probe.inject('/');
  await probe.close();
  return Object.fromEntries(
    Object.entries(res.headers).filter(([name, value]) => HELMET_HEADERS.test(name) && typeof value === 'string'),
  ) as Record<string, string>;
}

/** A reply written on the raw socket, in the app's error shape and with its security headers. */
function rawReply(securityHeaders: Record<string, string>, status: number, message: string): string {
  const body = JSON.stringify({ statusCode: status, error: STATUS_CODES[status] ?? 'Error', message });
  const headers = {
    ...securityHeaders,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
  };
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n')}\r\n\r\n${body}`;
}

/**
 * Fastify's clientErrorHandler: what Node cannot parse (400), a request that did not arrive in time
 * (408) and headers over Node's limit (431) get the app's error shape and `headers` (its security headers).
 */
export const clientErrorHandler =
  (headers: Record<string, string>) =>
  (err: Error & { code?: string }, socket: Duplex): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, message] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request did not arrive in time']
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'the request headers are too large']
          : [400, 'the request is not valid HTTP'];
    if (socket.writable) socket.write(rawReply(headers, status, message));
    socket.destroy();
  };

/**
 * `Expect: 100-continue`: Node would invite any body; one declared larger than this route kind
 * accepts gets its 413 instead, before the client sends it. Others get 100 Continue and go on.
 */
export function checkContinue(app: FastifyInstance, config: Config, headers: Record<string, string>): void {
  const multipartLimit = Math.max(config.maxFiles, 2 * config.maxSetFiles) * config.maxFileBytes + 1024 * 1024;
  app.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const length = Number(req.headers['content-length']);
    const limit = /^multipart\//i.test(req.headers['content-type'] ?? '') ? multipartLimit : config.bodyLimit;
    if (Number.isFinite(length) && length > limit) {
      res.socket?.end(rawReply(headers, 413, `the body would be ${length} bytes; the limit is ${limit} bytes`));
      return;
    }
    res.writeContinue();
    app.server.emit('request', req, res);
  });
  // Any other expectation: Node's bare 417, in our shape.
  app.server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    res.socket?.end(rawReply(headers, 417, 'the only expectation understood is "Expect: 100-continue"'));
  });
}
