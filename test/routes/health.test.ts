import t from 'tap';
import { buildApp } from '../../src/server/app.ts';
import { tempDir, tinyModelDir } from '../fixtures/app.ts';

t.test('healthz answers at once; readyz is 503 until the model is loaded and warm', async (t) => {
  const app = await buildApp({ config: { modelDir: await tinyModelDir(), dataDir: tempDir(t) } });
  t.teardown(() => app.close());
  t.same((await app.inject('/healthz')).json(), { status: 'ok' });
  const early = await app.inject('/readyz');
  t.equal(early.statusCode, 503);
  t.equal(early.json().status, 'loading');
  // Model routes say so too, with Retry-After.
  const sample = await app.inject('/sample');
  t.equal(sample.statusCode, 503);
  t.ok(Number(sample.headers['retry-after']) >= 1);
  await app.models.ready;
  t.same((await app.inject('/readyz')).json(), { status: 'ready' });
  app.models.stopping = true;
  t.equal((await app.inject('/readyz')).json().status, 'stopping');
});

t.test('a checkpoint that cannot be loaded: readyz says failed, model routes 503', async (t) => {
  const app = await buildApp({ config: { modelDir: tempDir(t, 'glow-serve-empty-'), dataDir: tempDir(t) } });
  t.teardown(() => app.close());
  await t.rejects(app.models.ready);
  const r = await app.inject('/readyz');
  t.equal(r.statusCode, 503);
  t.equal(r.json().status, 'failed');
  t.match(r.json().message, /could not be loaded/);
  t.equal((await app.inject('/model')).statusCode, 503);
  t.equal((await app.inject('/healthz')).statusCode, 200);
});
