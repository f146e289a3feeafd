// The Fastify glue of the inference runtime: app.models (the ModelRegistry) and, on every route
// whose query takes `?model=`, req.model (that model's ModelSession for this request). A route that
// runs the model says which work in its config (`config: { modelWork: 'encode' }`), and its request
// takes its place in the model's queue before the body is read.
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { Op } from '../inference/batcher.ts';
import type { ModelRegistry } from '../inference/model-registry.ts';
import type { ModelService } from '../inference/model-service.ts';
import type { ModelSession } from '../inference/model-session.ts';
import { MODEL_NAME } from '../inference/options.ts';
import { HttpError } from './errors.ts';

declare module 'fastify' {
  interface FastifyInstance {
    models: ModelRegistry;
  }
  interface FastifyRequest {
    /** The model this request addresses (?model=, else the default), as this request's session with it. */
    model: ModelSession<ModelService>;
  }
  interface FastifyContextConfig {
    /** The work this route gives the model: its requests are admitted to that queue (Batcher.admit). */
    modelWork?: Op;
  }
}

export function registerModels(app: FastifyInstance, models: ModelRegistry): void {
  app.decorate('models', models);
  app.decorateRequest('model', null as never);

  // After the route's own onRequest hooks (an admin check comes first), so a refused request never
  // takes a place in the queue.
  app.addHook('onRoute', (route) => {
    const op = route.config?.modelWork;
    if (!op) return;
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [...own, admit(op)];
  });

  /**
   * App-wide, before any route hook runs: on routes whose query schema takes `model`, req.model is
   * a session with the model of `?model=`. Other routes (the page, /healthz, /models, …) ignore
   * the parameter, so a stale ?model= in a bookmark still loads the page.
   */
  app.addHook('onRequest', async (req, reply) => {
    const query = req.routeOptions.schema?.querystring as { properties?: Record<string, unknown> } | undefined;
    if (!query?.properties?.model) return;
    // The request stays on this load to the end, even if a reload swaps in another meanwhile.
    const session = models.get(modelParam(req)).session();
    req.model = session;
    // 'close' fires when the response is done or the connection died, whichever comes first.
    reply.raw.once('close', () => session.end());
  });

  // A model that is loading (or failed) answers 503 before the route looks at the request's body.
  app.addHook('preHandler', async (req) => {
    if (req.model) req.model.service.requireReady();
  });
}

/**
 * onRequest hook for routes that run the model: 503 + Retry-After at once when that model's queue
 * is full, else the request holds its place (see Batcher.admit) until its response is done.
 */
function admit(op: Op): onRequestAsyncHookHandler {
  return async (req) => req.model.admit(op);
}

/**
 * `?model=` read from the raw query: this runs in onRequest, before schema validation, and the
 * name is only ever looked up in the map, so a strange value is just an unknown model.
 */
function modelParam(req: FastifyRequest): string | undefined {
  const v = (req.query as Record<string, unknown> | undefined)?.model;
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new HttpError(400, 'querystring/model must be given once');
  // The schema's limits, enforced here since this runs before validation: never echo a long value.
  if (!MODEL_NAME.test(v))
    throw new HttpError(
      400,
      'querystring/model must be a model name: 1–64 characters of a-z, 0-9, _, . and -, starting with a letter or digit (GET /models lists them)',
      {},
      'FST_ERR_VALIDATION',
    );
  return v;
}
