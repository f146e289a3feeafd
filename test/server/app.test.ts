import t from 'tap';
import { makeApp } from '../fixtures/app.ts';

t.test('unknown routes and methods are JSON 404s', async (t) => {
  const app = await makeApp(t);
  const res = await app.inject('/nope');
  t.equal(res.statusCode, 404);
  t.same(res.json(), { statusCode: 404, error: 'Not Found', message: 'no route GET /nope' });
  t.equal((await app.inject({ method: 'PUT', url: '/sample' })).statusCode, 404);
});

t.test('OpenAPI document and UI', async (t) => {
  const app = await makeApp(t);
  const doc = (await app.inject('/openapi.json')).json();
  t.equal(doc.openapi.slice(0, 2), '3.');
  for (const p of [
    '/sample',
    '/encode',
    '/decode',
    '/interpolate',
    '/manipulate',
    '/attributes',
    '/attributes/{name}',
    '/model',
    '/healthz',
    '/readyz',
    '/metrics',
  ])
    t.ok(doc.paths[p], p);
  t.ok(doc.paths['/encode'].post.requestBody.content['multipart/form-data'], 'multipart documented');
  t.ok(doc.paths['/sample'].get.responses['200'].content['image/png'], 'PNG reply documented');
  const ui = await app.inject('/docs/');
  t.equal(ui.statusCode, 200);
  t.match(ui.headers['content-type'], /text\/html/);
});
