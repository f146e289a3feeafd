// A small soak (the full one is `npm run soak`): the real server as a child process serving two tiny
// checkpoints, a few thousand mixed requests for each (`?model=`: every endpoint, attribute create +
// delete, bad input), every one answered as expected, the workers' tensor count exactly where it
// started and resident memory flat. Memory is measured over two rounds: a steady leak grows in both,
// while a one-off growth to a new high-water mark (a larger batch, an allocator arena) shows in one.
import path from 'node:path';
import t from 'tap';
import { tempDir } from '../fixtures/app.ts';
import { makeTinyCheckpoint } from '../fixtures/model.ts';
import { killHard, startServer } from '../fixtures/server-process.ts';
import { parseMetrics, runTraffic, scrape, soakKinds } from '../../scripts/lib/traffic.ts';

const ROUND = 1000;
const REQUESTS = 2 * ROUND;
const MiB = 2 ** 20;

t.test(`soak: ${REQUESTS} mixed requests leave tensors and memory flat`, async (t) => {
  const root = tempDir(t, 'glow-serve-models-');
  for (const [name, seed] of [
    ['alpha', 7],
    ['beta', 8],
  ] as const)
    await makeTinyCheckpoint(path.join(root, name), name, seed);
  const server = await startServer({
    GLOW_MODELS_DIR: root,
    GLOW_MODELS: '',
    GLOW_MODEL_DIR: '',
    GLOW_DATA_DIR: tempDir(t),
    DATABASE_URL: '',
    // V8 grows its heap lazily up to a limit set by the machine's memory (gigabytes here), so resident
    // memory rises for thousands of requests before a full collection. A small old space makes it
    // collect often: a JavaScript leak then fails the server, and any other leak shows in RSS.
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-old-space-size=128`,
  });
  t.teardown(() => killHard(server));
  const kinds = await soakKinds(server.base, [
    { model: 'alpha', latentDim: 784 },
    { model: 'beta', latentDim: 784 },
  ]);
  await runTraffic(server.base, kinds, 500, 16); // warm-up: JIT, pools, heap growth to its working size

  const start = await scrape(server.base);
  const first = await runTraffic(server.base, kinds, ROUND, 16);
  const middle = await scrape(server.base);
  const second = await runTraffic(server.base, kinds, ROUND, 16);
  const text = await (await fetch(`${server.base}/metrics`)).text();
  const end = parseMetrics(text); // summed over models; the text keeps each model's own counts
  for (const model of ['alpha', 'beta'])
    t.match(text, new RegExp(`glow_images_processed_total\\{[^}]*model="${model}"[^}]*\\} [1-9]`), `${model} did work`);
  t.comment(`${REQUESTS} requests in ${(first.seconds + second.seconds).toFixed(1)} s`);

  t.same([...first.unexpected, ...second.unexpected], [], 'every request got its expected status');
  t.equal(Object.keys(first.counts).length, kinds.length, 'every kind of request was sent');
  const tensors = [start.get('glow_worker_tensors'), end.get('glow_worker_tensors')];
  t.ok(tensors[0]! > 0);
  t.equal(tensors[1], tensors[0], `worker tensors ${tensors[0]} -> ${tensors[1]}`);
  const rss = [start, middle, end].map((m) => m.get('process_resident_memory_bytes')! / MiB);
  const growth = [rss[1] - rss[0], rss[2] - rss[1]];
  // 32 MiB in each of two rounds of 1,000 requests: a leak of 32 KiB a request or more fails.
  t.ok(Math.min(...growth) < 32, `server RSS ${rss.map((v) => v.toFixed(1)).join(' -> ')} MiB`);
  t.equal(end.get('glow_attributes{source="user"}'), 2, 'created attributes were deleted again (one soak attribute per model is left)');
  for (const op of ['encode', 'decode', 'sample']) t.equal(end.get(`glow_queue_depth{operation="${op}"}`), 0);

  server.child.kill('SIGTERM');
  t.equal((await server.exited).code, 0, 'clean exit');
});
