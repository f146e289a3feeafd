// A small soak (the full one is `npm run soak`): the real server as a child process on the tiny
// checkpoint, a few thousand mixed requests (every endpoint, attribute create + delete, bad input),
// every one answered as expected, the worker's tensor count exactly where it started and resident
// memory flat.
import t from 'tap';
import { tempDir, tinyModelDir } from '../fixtures/app.ts';
import { killHard, startServer } from '../fixtures/server-process.ts';
import { createSoakAttribute, requestKinds, runTraffic, scrape } from '../../scripts/lib/traffic.ts';

const REQUESTS = 2000;
const MiB = 2 ** 20;

t.test(`soak: ${REQUESTS} mixed requests leave tensors and memory flat`, async (t) => {
  const server = await startServer({ GLOW_MODEL_DIR: await tinyModelDir(), GLOW_DATA_DIR: tempDir(t), DATABASE_URL: '' });
  t.teardown(() => killHard(server));
  await createSoakAttribute(server.base, 784);
  const kinds = await requestKinds(784);
  await runTraffic(server.base, kinds, 500, 16); // warm-up: JIT, pools, heap growth to its working size

  const start = await scrape(server.base);
  const r = await runTraffic(server.base, kinds, REQUESTS, 16);
  const end = await scrape(server.base);
  t.comment(`${REQUESTS} requests in ${r.seconds.toFixed(1)} s`);

  t.same(r.unexpected, [], 'every request got its expected status');
  t.equal(Object.keys(r.counts).length, kinds.length, 'every kind of request was sent');
  const tensors = [start.get('glow_worker_tensors'), end.get('glow_worker_tensors')];
  t.ok(tensors[0]! > 0);
  t.equal(tensors[1], tensors[0], `worker tensors ${tensors[0]} -> ${tensors[1]}`);
  const rss = [start.get('process_resident_memory_bytes')!, end.get('process_resident_memory_bytes')!];
  t.ok(rss[1] - rss[0] < 64 * MiB, `server RSS ${(rss[0] / MiB).toFixed(1)} -> ${(rss[1] / MiB).toFixed(1)} MiB`);
  t.equal(end.get('glow_attributes{source="user"}'), 1, 'created attributes were deleted again');
  for (const op of ['encode', 'decode', 'sample']) t.equal(end.get(`glow_queue_depth{operation="${op}"}`), 0);

  server.child.kill('SIGTERM');
  t.equal((await server.exited).code, 0, 'clean exit');
});
