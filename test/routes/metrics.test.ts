import t from 'tap';
import { json, makeApp, mnistPng } from '../fixtures/app.ts';

/** Value of one sample line, e.g. metric('glow_batch_size_count', {operation: 'encode'}). */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([^{ ]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',');
    if (want.every((w) => have.includes(w))) return Number(m[3]);
  }
  return NaN;
}

t.test('/metrics after traffic has every metric; 32 concurrent encodes are batched', async (t) => {
  const app = await makeApp(t);
  const png = await mnistPng(0);
  const encodes = await Promise.all(
    Array.from({ length: 32 }, () =>
      app.inject({ method: 'POST', url: '/encode', payload: png, headers: { 'content-type': 'image/png' } }),
    ),
  );
  t.ok(
    encodes.every((r) => r.statusCode === 200),
    'all 32 encodes succeed',
  );
  const latent = encodes[0].json().items[0].latent;
  t.ok(
    encodes.every((r) => r.json().items[0].latent.every((v: number, i: number) => Math.abs(v - latent[i]) < 1e-4)),
    'batched results agree',
  );
  await app.inject('/sample?n=2&seed=1');
  await app.inject({ method: 'POST', url: '/decode', ...json({ latents: [latent] }) });
  await app.inject('/sample?t=9'); // a 400, also counted

  const res = await app.inject('/metrics');
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/plain/);
  const text = res.payload;
  for (const name of [
    'http_request_duration_seconds',
    'glow_inference_duration_seconds',
    'glow_batch_size',
    'glow_queue_wait_seconds',
    'glow_queue_depth',
    'glow_images_processed_total',
    'glow_model_info',
    'glow_attributes',
    'glow_worker_tensors',
    'process_cpu_user_seconds_total',
    'process_resident_memory_bytes',
    'nodejs_eventloop_lag_seconds',
  ]) {
    t.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  const batches = metric(text, 'glow_batch_size_count', { operation: 'encode' });
  const singles = metric(text, 'glow_batch_size_bucket', { operation: 'encode', le: '1' });
  t.ok(batches >= 1 && batches < 32, `32 encodes ran in ${batches} batches`);
  t.ok(batches - singles >= 1, `${batches - singles} encode batches had more than one image`);
  t.equal(metric(text, 'glow_images_processed_total', { operation: 'encode' }), 32);
  t.equal(metric(text, 'glow_images_processed_total', { operation: 'sample' }), 2);
  t.equal(metric(text, 'glow_images_processed_total', { operation: 'decode' }), 1);
  t.equal(metric(text, 'glow_model_info', { name: 'tiny' }), 1);
  t.equal(metric(text, 'glow_queue_depth', { operation: 'encode' }), 0);
  t.equal(metric(text, 'glow_attributes', { source: 'user' }), 0);
  t.ok(metric(text, 'glow_worker_tensors') > 0);
  t.equal(metric(text, 'http_request_duration_seconds_count', { route: '/encode', method: 'POST', status_code: '200' }), 32);
  t.equal(metric(text, 'http_request_duration_seconds_count', { route: '/sample', method: 'GET', status_code: '400' }), 1);
});

t.test('a store that is down does not take /metrics with it: only its attribute gauge is left out', async (t) => {
  const down = () => Promise.reject(new Error('connection refused'));
  const store = { list: down, get: down, put: down, delete: down, count: down, close: async () => {} };
  const app = await makeApp(t, {}, { store });
  const res = await app.inject('/metrics');
  t.equal(res.statusCode, 200);
  t.notMatch(res.payload, /^glow_attributes\{/m);
  t.match(res.payload, /^glow_worker_tensors\{/m, 'the other metrics are there');
  t.equal((await app.inject('/attributes')).statusCode, 500, 'the attribute routes do fail');
});
