// Overload in miniature (the full picture is `npm run load`): with a tiny queue and many concurrent
// requests, every request either succeeds or gets 503 with Retry-After, multi-step requests that
// were let in are finished, and the server is fine afterwards.
import t from 'tap';
import { json, makeApp, mnistPng } from '../fixtures/app.ts';
import { parseMetrics } from '../../scripts/lib/traffic.ts';

t.test('a full queue answers 503 + Retry-After and nothing else; admitted requests finish', async (t) => {
  // A long batching delay keeps items queued, so the 4-item queue is full most of the time.
  const app = await makeApp(t, { maxQueue: 4, maxBatch: 4, maxDelayMs: 40 });
  await app.inject({
    method: 'POST',
    url: '/attributes',
    ...json({ name: 'load', positive: [new Array(784).fill(0.1)], negative: [new Array(784).fill(0)] }),
  });
  const png = (await mnistPng(0)).toString('base64');
  const before = (await app.inject('/metrics')).payload;
  const tensors = (text: string) => parseMetrics(text).get('glow_worker_tensors') ?? NaN;

  const requests = Array.from({ length: 60 }, (_, i) => {
    if (i % 3 === 0) return app.inject(`/sample?seed=${i}`);
    if (i % 3 === 1)
      return app.inject({ method: 'POST', url: '/encode', payload: Buffer.from(png, 'base64'), headers: { 'content-type': 'image/png' } });
    return app.inject({ method: 'POST', url: '/manipulate', ...json({ image: png, edits: [{ attribute: 'load', alpha: 1 }] }) });
  });
  const replies = await Promise.all(requests);
  const codes = replies.map((r) => r.statusCode);
  const ok = codes.filter((c) => c === 200).length;
  const busy = replies.filter((r) => r.statusCode === 503);
  t.equal(ok + busy.length, 60, `only 200s (${ok}) and 503s (${busy.length}): ${[...new Set(codes)].join(', ')}`);
  t.ok(busy.length > 0, 'the queue did fill up');
  t.ok(ok >= 4, 'and work still got done');
  for (const r of busy) {
    t.ok(Number(r.headers['retry-after']) >= 1, `Retry-After: ${r.headers['retry-after']}`);
    t.match(r.json(), { statusCode: 503, error: 'Service Unavailable', message: /inference queue is full/ });
  }
  const manipulated = replies.filter((r, i) => i % 3 === 2 && r.statusCode === 200).length;
  t.comment(`${ok} ok (${manipulated} /manipulate), ${busy.length} × 503`);

  t.equal((await app.inject('/healthz')).statusCode, 200);
  t.equal(app.models.get().batcher.reservedSlots, 0, 'no admission slot left behind');
  const after = (await app.inject('/metrics')).payload;
  t.ok(tensors(before) > 0, 'the tensor gauge is read');
  t.equal(tensors(after), tensors(before), 'worker tensors unchanged');
  t.match(after, /glow_queue_rejections_total\{model="[^"]+",operation="\w+",reason="full"\} [1-9]/);
  t.equal((await app.inject('/sample?seed=1')).statusCode, 200, 'serves normally once the burst is over');
});
