// The app factory: a configured Fastify instance with every route, no listening. The model loads
// in the background (a worker thread); /healthz answers at once, /readyz once the model is warm.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv, type Options as AjvOptions, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { STATUS_CODES } from 'node:http';
import { openStore } from '../attributes/open-store.ts';
import type { AttributeStore } from '../attributes/store.ts';
import attributeRoutes from '../routes/attributes.ts';
import decodeRoutes from '../routes/decode.ts';
import encodeRoutes from '../routes/encode.ts';
import healthRoutes from '../routes/health.ts';
import interpolateRoutes from '../routes/interpolate.ts';
import manipulateRoutes from '../routes/manipulate.ts';
import metricsRoutes from '../routes/metrics.ts';
import modelInfoRoutes from '../routes/model-info.ts';
import pageRoutes from '../routes/page.ts';
import sampleRoutes from '../routes/sample.ts';
import servedModelsRoutes from '../routes/served-models.ts';
import { loadConfig, servedModels, type Config } from './config.ts';
import { DomainError, UnavailableError } from '../errors.ts';
import { HttpError, httpErrorOf } from './errors.ts';
import { ErrorResponse } from '../routes/common.schema.ts';
import { ADMIN_SCHEME, checkContinue, clientErrorHandler, registerSecurity, securityHeadersOf } from './security.ts';
import { ModelRegistry } from '../inference/model-registry.ts';
import { createHttpMetrics, type HttpMetrics } from './metrics.ts';
import { registerModels } from './model-plugin.ts';
import { formatSchemaErrors, frameworkErrors, parseJsonBody } from './validation.ts';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    metrics: HttpMetrics;
  }
}

export interface AppOptions {
  config?: Partial<Config>;
  /** Defaults to openStore(config): PostgreSQL at config.databaseUrl, else SQLite in config.dataDir. The app closes whatever store it is given. */
  store?: AttributeStore;
  logger?: FastifyServerOptions['logger'];
  /** Resolve only once the model is loaded (tests); the server itself starts serving at once. */
  waitForModel?: boolean;
}

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp'];

export async function buildApp(opts: AppOptions = {}): Promise<FastifyInstance> {
  const config: Config = { ...loadConfig(), ...opts.config };
  // The security headers of the app's replies, for those Node writes itself (filled in below).
  const nodeReplyHeaders: Record<string, string> = {};
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: config.bodyLimit,
    // Slow clients: the whole request must arrive within requestTimeout, its headers within
    // headersTimeout (both checked every connectionsCheckingInterval; Node's default is 30 s, which
    // would let a slowloris client overstay by that much); idle keep-alive sockets close after
    // keepAliveTimeout. connectionTimeout (socket inactivity) is off by default, see config.ts.
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    connectionTimeout: config.connectionTimeoutMs,
    http: {
      headersTimeout: config.headersTimeoutMs,
      connectionsCheckingInterval: checkingInterval(config),
    },
    // Fastify answers requests that arrive during close() with 503 + Connection: close.
    return503OnClosing: true,
    // Trust nothing from the client (X-Forwarded-For) unless configured: req.ip keys the rate limit.
    trustProxy: typeof config.trustProxy === 'number' ? hops(config.trustProxy) : config.trustProxy,
    schemaErrorFormatter: formatSchemaErrors,
    frameworkErrors,
    clientErrorHandler: clientErrorHandler(nodeReplyHeaders),
  }).withTypeProvider<TypeBoxTypeProvider>();
  checkContinue(app, config, nodeReplyHeaders);

  installValidators(app);
  app.addSchema(ErrorResponse);

  const log = (level: 'info' | 'warn' | 'error', msg: string) => app.log[level](msg);
  const specs = servedModels(config);
  const store = opts.store ?? (await openStore(config, log));
  const metrics = createHttpMetrics();
  const models = new ModelRegistry(config, specs, store, log, metrics.registry);
  app.decorate('config', config);
  app.decorate('metrics', metrics);
  registerModels(app, models);

  app.addHook('onClose', async () => {
    // In-flight HTTP requests are finished by now; anything still queued is answered first.
    await models.drain(config.shutdownTimeoutMs, new HttpError(503, 'server is shutting down'));
    await models.close();
    await store.close();
  });

  app.addHook('onResponse', async (req, reply) => {
    // The route template, not the URL: unmatched paths share one label so scanners cannot blow up cardinality.
    const route = req.routeOptions.url ?? 'unmatched';
    const labels = { route, method: req.method, status_code: String(reply.statusCode), model: req.model?.name ?? '' };
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((thrown: (FastifyError & { headers?: Record<string, string> }) | DomainError, req, reply) => {
    const refused = thrown instanceof UnavailableError;
    const err = (thrown instanceof DomainError ? httpErrorOf(thrown) : thrown) as FastifyError & { headers?: Record<string, string> };
    let status = err.statusCode ?? 500;
    if (err.validation) status = 400;
    if (status < 400 || status > 599) status = 500;
    if (err instanceof HttpError) reply.headers(err.headers);
    // Refusals the API documents (queue full, model loading, shutting down) are not failures of the
    // server: one warn line, no stack. Anything else at 5xx is, with its stack.
    if (refused) req.log.warn({ statusCode: status, code: err.code, reason: err.message }, 'request refused');
    else if (status >= 500) req.log.error({ err }, 'request failed');
    let message = status >= 500 && !(err instanceof HttpError) ? 'internal error' : err.message;
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      const type = req.headers['content-type'];
      message = `${type ? `content type ${type} is` : 'a body without a content type is'} not accepted; send application/json, multipart/form-data, image/png, image/jpeg, image/webp or application/octet-stream`;
    }
    const body: Record<string, unknown> = { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message };
    if (err.code) body.code = err.code;
    return reply.status(status).type('application/json').send(body);
  });

  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ statusCode: 404, error: 'Not Found', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
  );

  // JSON with messages that say what is wrong (NaN, prototype keys, where the syntax broke).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonBody);
  // Raw image bodies for /encode, raw float32 latents for /decode; Fastify answers other types with
  // 415. There is deliberately no parser for any serialised-object format (pickle, npy, …).
  app.addContentTypeParser([...IMAGE_TYPES, 'application/octet-stream'], { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  await registerSecurity(app, config);

  await app.register(multipart, {
    limits: { fileSize: config.maxFileBytes, files: config.maxFiles },
    throwFileSizeLimit: true,
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'glow-serve',
        version: '0.1.0',
        description: 'Glow normalizing flow: sample, encode, decode, interpolate and manipulate images.',
      },
      tags: [{ name: 'generate' }, { name: 'latent' }, { name: 'attributes' }, { name: 'model' }, { name: 'health' }],
      components: {
        securitySchemes: {
          [ADMIN_SCHEME]: {
            type: 'http',
            scheme: 'bearer',
            description:
              'GLOW_ADMIN_TOKEN. When the server has one, creating and deleting attributes and reloading a model need it (401 without, 403 wrong); reads never do.',
          },
        },
      },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  // swagger-ui's own CSP (hashes of its inline code), minus upgrade-insecure-requests (see security.ts).
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/, ''),
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes);
  await app.register(modelInfoRoutes);
  await app.register(servedModelsRoutes);
  await app.register(metricsRoutes);
  await app.register(sampleRoutes);
  await app.register(encodeRoutes);
  await app.register(decodeRoutes);
  await app.register(interpolateRoutes);
  await app.register(manipulateRoutes);
  await app.register(attributeRoutes);
  await app.register(pageRoutes);

  await app.ready();
  Object.assign(nodeReplyHeaders, await securityHeadersOf(config));
  if (opts.waitForModel) {
    try {
      await models.ready;
    } catch (err) {
      await app.close();
      throw err;
    }
  }
  return app;
}

/** trustProxy as a hop count: the n proxies nearest to us are trusted. */
function hops(n: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < n;
}

/** How often Node checks request/headers timeouts: often enough that they hold to about a second. */
function checkingInterval(config: Config): number {
  const timeouts = [config.requestTimeoutMs, config.headersTimeoutMs].filter((t) => t > 0);
  return Math.max(50, Math.min(1000, ...timeouts.map((t) => Math.floor(t / 4))));
}

/**
 * Bodies are validated without type coercion (Fastify's default would turn `null` into 0 and "1"
 * into 1 inside a latent); query strings and params need coercion since they arrive as text.
 * Non-JSON bodies (multipart, raw images) are described in the schema for the docs only; a form is
 * checked against the route's JSON schema by the body parser (body.ts).
 */
function installValidators(app: FastifyInstance): void {
  const base: AjvOptions = { useDefaults: true, removeAdditional: true, allErrors: false, strict: false };
  const strict = addFormats.default(new Ajv({ ...base, coerceTypes: false }));
  const coercing = addFormats.default(new Ajv({ ...base, coerceTypes: 'array' }));
  app.setValidatorCompiler(({ schema, httpPart, ...rest }) => {
    const contentType = (rest as { contentType?: string }).contentType;
    if (httpPart === 'body') {
      if (contentType && contentType !== 'application/json') return () => true;
      return strict.compile(schema);
    }
    return decimalOnly(coercing.compile(schema), schema);
  });
}

/**
 * Coercion reads numbers as JavaScript does, so `seed=0x10` would be 16 and `n=0b11` 3. Query
 * numbers are decimal: a hexadecimal, octal or binary one fails validation like any other non-number.
 */
function decimalOnly(validate: ValidateFunction, schema: unknown): ValidateFunction {
  const properties = (schema as { properties?: Record<string, { type?: string }> }).properties ?? {};
  const numeric = Object.keys(properties).filter((k) => properties[k].type === 'integer' || properties[k].type === 'number');
  if (numeric.length === 0) return validate;
  const check = ((data: Record<string, unknown> | null) => {
    for (const key of numeric) {
      const v = data?.[key];
      if (typeof v === 'string' && /^\s*[-+]?0[xob]/i.test(v)) {
        check.errors = [{ keyword: 'type', instancePath: `/${key}`, schemaPath: '', params: {}, message: 'must be a decimal number' }];
        return false;
      }
    }
    const ok = validate(data);
    check.errors = validate.errors;
    return ok;
  }) as ValidateFunction;
  return check;
}
