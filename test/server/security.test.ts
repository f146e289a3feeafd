// Who may change things and what browsers are told: the admin token on writes, security headers,
// CORS (off unless configured), per-client rate limiting (off unless configured), and latents only
// as JSON numbers or raw float32.
import t from 'tap';
import { loadConfig } from '../../src/server/config.ts';
import { json, makeApp } from '../fixtures/app.ts';

const TOKEN = 'test-admin-token-0123456789abcdef';
const latent = (v: number) => new Array(784).fill(v);
const create = (name: string) => json({ name, positive: [latent(0.1)], negative: [latent(0)] });

t.test('GLOW_ADMIN_TOKEN: writes need the Bearer token (401 without, 403 wrong), reads stay open', async (t) => {
  const app = await makeApp(t, { adminToken: TOKEN });
  const post = (headers: Record<string, string> = {}, name = 'guarded') => {
    const body = create(name);
    return app.inject({ method: 'POST', url: '/attributes', payload: body.payload, headers: { ...body.headers, ...headers } });
  };

  const none = await post();
  t.equal(none.statusCode, 401, 'no Authorization header -> 401');
  t.match(none.json(), { statusCode: 401, error: 'Unauthorized', message: /needs the admin token: send "Authorization: Bearer <token>"/ });
  t.equal(none.headers['www-authenticate'], 'Bearer realm="glow-serve"');
  t.equal(
    (await post({ authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` })).statusCode,
    401,
    'Basic auth -> 401',
  );
  t.equal((await post({ authorization: 'Bearer' })).statusCode, 401, 'Bearer without a token -> 401');
  for (const wrong of ['wrong-token-0123456789abcdef-xxxx', TOKEN.slice(0, -1), `${TOKEN}x`, TOKEN.toUpperCase(), 'x']) {
    const res = await post({ authorization: `Bearer ${wrong}` });
    t.equal(res.statusCode, 403, `wrong token "${wrong.slice(0, 12)}…" (${wrong.length} chars) -> 403`);
    t.match(res.json().message, /admin token is not valid/);
  }
  t.equal((await app.inject('/attributes/guarded')).statusCode, 404, 'nothing was created');

  // The token is checked before the body is read: a bad request body still gets 401, not 400.
  t.equal(
    (await app.inject({ method: 'POST', url: '/attributes', payload: '{', headers: { 'content-type': 'application/json' } })).statusCode,
    401,
  );

  const ok = await post({ authorization: `Bearer ${TOKEN}` });
  t.equal(ok.statusCode, 201, 'right token -> 201');
  t.equal((await post({ authorization: `bearer  ${TOKEN}` }, 'guarded-2')).statusCode, 201, 'scheme is case-insensitive');

  // Reads stay open.
  t.equal((await app.inject('/attributes')).statusCode, 200);
  t.equal((await app.inject('/attributes/guarded?vector=true')).statusCode, 200);
  t.equal((await app.inject('/model')).statusCode, 200);
  t.equal((await app.inject('/sample?seed=1')).statusCode, 200);
  t.equal(
    (await app.inject({ method: 'POST', url: '/decode', ...json({ latents: [latent(0)] }) })).statusCode,
    200,
    'model calls are not writes',
  );

  t.equal((await app.inject({ method: 'DELETE', url: '/attributes/guarded' })).statusCode, 401);
  t.equal(
    (await app.inject({ method: 'DELETE', url: '/attributes/guarded', headers: { authorization: 'Bearer nope-nope-nope-nope' } }))
      .statusCode,
    403,
  );
  t.equal(
    (await app.inject({ method: 'DELETE', url: '/attributes/guarded', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode,
    204,
  );

  const doc = (await app.inject('/openapi.json')).json();
  t.match(doc.components.securitySchemes.adminToken, { type: 'http', scheme: 'bearer' }, 'OpenAPI security scheme');
  t.same(doc.paths['/attributes'].post.security, [{ adminToken: [] }]);
  t.same(doc.paths['/attributes/{name}'].delete.security, [{ adminToken: [] }]);
  t.same(doc.paths['/models/{model}/reload'].post.security, [{ adminToken: [] }]);
  t.notOk(doc.paths['/attributes'].get.security, 'reads need nothing');
  t.ok(doc.paths['/attributes'].post.responses['401'] && doc.paths['/attributes'].post.responses['403']);
});

t.test('without GLOW_ADMIN_TOKEN writes are open; a weak token is refused at start-up', async (t) => {
  const app = await makeApp(t);
  t.equal((await app.inject({ method: 'POST', url: '/attributes', ...create('open') })).statusCode, 201);
  t.equal((await app.inject({ method: 'DELETE', url: '/attributes/open' })).statusCode, 204);
  t.throws(() => loadConfig({ GLOW_ADMIN_TOKEN: 'short' }), /at least 16 characters/);
  t.throws(() => loadConfig({ GLOW_ADMIN_TOKEN: 'has a space in it, 1234567890' }), /printable ASCII without spaces/);
  t.equal(loadConfig({ GLOW_ADMIN_TOKEN: TOKEN }).adminToken, TOKEN);
  t.equal(loadConfig({}).adminToken, undefined);
});

t.test('security headers fit the API and the page; CORS and rate limiting are off by default', async (t) => {
  const app = await makeApp(t);
  const page = await app.inject('/');
  t.equal(page.statusCode, 200);
  const csp = String(page.headers['content-security-policy']);
  t.match(csp, /default-src 'self'/);
  t.match(csp, /script-src 'self';/);
  t.match(csp, /style-src 'self';/);
  t.match(csp, /img-src 'self' data: blob:/);
  t.match(csp, /object-src 'none'/);
  t.notMatch(csp, /unsafe-inline|unsafe-eval|upgrade-insecure-requests/);
  t.equal(page.headers['x-content-type-options'], 'nosniff');
  t.equal(page.headers['x-frame-options'], 'SAMEORIGIN');
  t.equal(page.headers['cross-origin-resource-policy'], 'same-origin');
  t.ok(page.headers['strict-transport-security']);
  t.notOk(page.headers['x-powered-by']);

  const png = await app.inject('/sample?seed=1');
  t.equal(png.headers['x-content-type-options'], 'nosniff', 'PNG replies are not sniffed');
  const err = await app.inject('/sample?t=9');
  t.equal(err.headers['x-content-type-options'], 'nosniff', 'error replies carry the headers too');

  const docs = await app.inject('/docs/');
  t.equal(docs.statusCode, 200);
  const docsCsp = String(docs.headers['content-security-policy']);
  t.match(docsCsp, /script-src 'self'/, "swagger-ui's own policy (its code is all in files)");
  t.notMatch(docsCsp, /unsafe-inline|unsafe-eval|upgrade-insecure-requests/);

  // CORS off: no Access-Control headers for another origin, preflight not answered with them.
  const cross = await app.inject({ url: '/model', headers: { origin: 'https://elsewhere.example' } });
  t.equal(cross.statusCode, 200);
  t.notOk(cross.headers['access-control-allow-origin']);
  const pre = await app.inject({
    method: 'OPTIONS',
    url: '/encode',
    headers: { origin: 'https://elsewhere.example', 'access-control-request-method': 'POST' },
  });
  t.notOk(pre.headers['access-control-allow-origin']);

  // Rate limiting off: a burst is fine and there are no rate-limit headers.
  const burst = await Promise.all(Array.from({ length: 40 }, () => app.inject('/model')));
  t.ok(burst.every((r) => r.statusCode === 200));
  t.notOk(burst[0].headers['x-ratelimit-limit']);
});

t.test('CORS when configured: only the listed origins, with the headers a browser client needs', async (t) => {
  const app = await makeApp(t, { corsOrigins: ['https://app.example'] });
  const pre = await app.inject({
    method: 'OPTIONS',
    url: '/encode',
    headers: {
      origin: 'https://app.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type,authorization',
    },
  });
  t.equal(pre.statusCode, 204);
  t.equal(pre.headers['access-control-allow-origin'], 'https://app.example');
  t.match(String(pre.headers['access-control-allow-methods']), /POST/);
  t.match(String(pre.headers['access-control-allow-headers']), /Authorization/);
  const get = await app.inject({ url: '/sample?seed=1', headers: { origin: 'https://app.example' } });
  t.equal(get.headers['access-control-allow-origin'], 'https://app.example');
  // A page on another origin can read the headers that describe the PNG (its seed, how many images, which are unsound).
  for (const h of ['X-Seed', 'X-Image-Count', 'X-Non-Finite-Values'])
    t.match(String(get.headers['access-control-expose-headers']), new RegExp(`\\b${h}\\b`), `${h} exposed`);
  t.equal(get.headers['cross-origin-resource-policy'], 'cross-origin', 'other origins may embed the PNGs');
  const other = await app.inject({ url: '/model', headers: { origin: 'https://evil.example' } });
  t.notOk(other.headers['access-control-allow-origin'], 'unlisted origin gets nothing');

  const any = await makeApp(t, { corsOrigins: ['*'] });
  t.equal(
    (await any.inject({ url: '/model', headers: { origin: 'https://whoever.example' } })).headers['access-control-allow-origin'],
    '*',
  );
  t.same(loadConfig({ GLOW_CORS_ORIGINS: 'https://a.example, https://b.example' }).corsOrigins, ['https://a.example', 'https://b.example']);
  t.same(loadConfig({}).corsOrigins, []);
});

t.test('rate limiting when configured: 429 + Retry-After per client; probes and metrics exempt', async (t) => {
  const app = await makeApp(t, { rateLimitMax: 3, rateLimitWindowMs: 60_000 });
  const codes: number[] = [];
  for (let i = 0; i < 5; i++) codes.push((await app.inject({ url: '/model', remoteAddress: '10.0.0.1' })).statusCode);
  t.same(codes, [200, 200, 200, 429, 429]);
  const limited = await app.inject({ url: '/model', remoteAddress: '10.0.0.1' });
  t.match(limited.json(), { statusCode: 429, error: 'Too Many Requests', message: /rate limit exceeded: at most 3 requests per 60 s/ });
  t.ok(Number(limited.headers['retry-after']) > 0, `Retry-After: ${limited.headers['retry-after']}`);
  t.equal(limited.headers['x-ratelimit-limit'], '3');
  t.equal((await app.inject({ url: '/model', remoteAddress: '10.0.0.2' })).statusCode, 200, 'another client is not affected');
  for (const probe of ['/healthz', '/readyz', '/metrics']) {
    const res = await Promise.all(Array.from({ length: 5 }, () => app.inject({ url: probe, remoteAddress: '10.0.0.1' })));
    t.ok(
      res.every((r) => r.statusCode === 200),
      `${probe} is never limited`,
    );
  }
  const c = loadConfig({ GLOW_RATE_LIMIT_MAX: '100', GLOW_RATE_LIMIT_WINDOW_MS: '1000' });
  t.match(c, { rateLimitMax: 100, rateLimitWindowMs: 1000 });
  t.equal(loadConfig({}).rateLimitMax, 0, 'off by default');
});

t.test('latents travel only as JSON numbers or raw little-endian float32', async (t) => {
  const app = await makeApp(t);
  const doc = (await app.inject('/openapi.json')).json();
  t.same(Object.keys(doc.paths['/decode'].post.requestBody.content).sort(), ['application/json', 'application/octet-stream']);
  for (const type of [
    'application/x-python-pickle',
    'application/python-pickle',
    'application/x-npy',
    'application/x-msgpack',
    'application/cbor',
    'application/x-protobuf',
    'application/vnd.apache.arrow.stream',
  ]) {
    const res = await app.inject({
      method: 'POST',
      url: '/decode',
      payload: Buffer.from([0x80, 4, 0x95, 0, 0, 0, 0]),
      headers: { 'content-type': type },
    });
    t.equal(res.statusCode, 415, `${type} -> 415`);
  }
  // The float32 layout: n × 784 little-endian values, exactly what JSON numbers give.
  const v = Float32Array.from({ length: 784 }, (_, i) => Math.sin(i) * 0.5);
  const viaJson = await app.inject({ method: 'POST', url: '/decode', ...json({ latents: [Array.from(v)] }) });
  const viaRaw = await app.inject({
    method: 'POST',
    url: '/decode',
    payload: Buffer.from(v.buffer),
    headers: { 'content-type': 'application/octet-stream' },
  });
  t.equal(viaRaw.statusCode, 200);
  t.same(viaRaw.rawPayload, viaJson.rawPayload, 'same image either way');
});
