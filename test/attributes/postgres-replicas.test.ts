// Two real server processes (the `npm start` entry point) sharing one PostgreSQL, as two replicas
// behind a load balancer: an attribute made on one is listed, read, used and deleted on the other.
// Each has its own, empty data directory, so nothing can come through SQLite. Needs
// GLOW_TEST_DATABASE_URL or DATABASE_URL (skipped with a message without one, except in CI).
import t from 'tap';
import { tempDir, tinyModelDir, type Tap } from '../fixtures/app.ts';
import { freshSchema, skipPostgres } from '../fixtures/postgres.ts';
import { killHard, startServer, type ServerProcess } from '../fixtures/server-process.ts';

const skip = skipPostgres();
if (skip) console.log(`# ${skip}`);

/** One replica: the real entry point on its own empty data directory, on the shared database. */
async function startReplica(t: Tap, databaseUrl: string): Promise<ServerProcess> {
  const env = {
    GLOW_MODEL_DIR: await tinyModelDir(),
    GLOW_DATA_DIR: tempDir(t),
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'info',
    GLOW_ADMIN_TOKEN: '',
  };
  const replica = await startServer(env);
  t.teardown(() => killHard(replica));
  return replica;
}

const post = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', accept: 'application/json' } });

t.test('two server processes on one PostgreSQL share their attributes', { skip: skip ?? false }, async (t) => {
  const db = await freshSchema(t);
  // Started together: both run the start-up migration at once.
  const [a, b] = await Promise.all([startReplica(t, db.url), startReplica(t, db.url)]);
  for (const r of [a, b])
    t.ok(
      r.logs.some((l) => l.includes('attribute store: PostgreSQL at postgres')),
      `${r.base} uses PostgreSQL`,
    );

  const z = (await (await fetch(`${a.base}/sample?n=4&seed=11`, { headers: { accept: 'application/json' } })).json()).latents as number[][];
  const made = await post(`${a.base}/attributes`, {
    name: 'shared',
    description: 'made on A',
    positive: [z[0], z[1]],
    negative: [z[2], z[3]],
  });
  t.equal(made.status, 201, made.status === 201 ? 'created on A' : `created on A: ${await made.text()}`);

  const listB = await (await fetch(`${b.base}/attributes`)).json();
  t.match(
    listB.attributes.filter((x: { source: string }) => x.source === 'user'),
    [{ name: 'shared', description: 'made on A', positive: 2, negative: 2 }],
    'listed on B',
  );
  const onA = (await (await fetch(`${a.base}/attributes/shared?vector=true`)).json()).vector as number[];
  const onB = (await (await fetch(`${b.base}/attributes/shared?vector=true`)).json()).vector as number[];
  t.equal(onB.length, 784);
  t.same(onB, onA, 'B reads exactly the vector A stored');

  // B edits with A's direction: ε + 1·d.
  const edited = await post(`${b.base}/manipulate`, { latent: z[0], edits: [{ attribute: 'shared', alpha: 1 }] });
  t.equal(edited.status, 200, 'B can use it at once');

  t.equal(
    (await post(`${b.base}/attributes`, { name: 'shared', positive: [z[0]], negative: [z[1]] })).status,
    409,
    'the name is taken on B too',
  );

  // The same new name on both at once: exactly one wins.
  const race = await Promise.all([a, b].map((r) => post(`${r.base}/attributes`, { name: 'raced', positive: [z[0]], negative: [z[3]] })));
  t.same(race.map((r) => r.status).sort(), [201, 409], 'one 201, one 409');

  t.equal((await fetch(`${b.base}/attributes/shared`, { method: 'DELETE' })).status, 204, 'deleted on B');
  t.equal((await fetch(`${a.base}/attributes/shared`)).status, 404, 'gone on A');
  const rows = await db.query('SELECT name FROM glow_attributes ORDER BY name');
  t.same(
    rows.rows.map((r) => r.name),
    ['raced'],
    'the shared table holds what both did',
  );

  for (const r of [a, b]) r.child.kill('SIGTERM');
  t.same(
    (await Promise.all([a.exited, b.exited])).map((e) => e.code),
    [0, 0],
    'both shut down cleanly (pool closed)',
  );
});
