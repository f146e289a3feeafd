// The AttributeStore contract on PostgreSQL, plus what is PostgreSQL's own: the start-up migration
// (idempotent, safe when replicas start together), the table's shape, and errors that say what is
// wrong without leaking the password. Needs GLOW_TEST_DATABASE_URL or DATABASE_URL: skipped with a
// message without one, except in CI, where it fails.
import pg from 'pg';
import t from 'tap';
import { openStore } from '../../src/attributes/open-store.ts';
import { PostgresAttributeStore, TABLE, storeUnavailable } from '../../src/attributes/postgres-store.ts';
import { SqliteAttributeStore } from '../../src/attributes/sqlite-store.ts';
import { tempDir } from '../fixtures/app.ts';
import { freshSchema, skipPostgres, testDatabaseUrl } from '../fixtures/postgres.ts';
import { key, rec, storeContract } from './store-contract.ts';

const skip = skipPostgres();
if (skip) console.log(`# ${skip}`);

storeContract(
  'postgres',
  async (t) => {
    const { url } = await freshSchema(t);
    return { open: () => PostgresAttributeStore.open(url) };
  },
  skip ? { skip } : {},
);

t.test('postgres: replicas starting together migrate once, and again is a no-op', { skip: skip ?? false }, async (t) => {
  const db = await freshSchema(t);
  const opened = await Promise.allSettled(Array.from({ length: 6 }, () => PostgresAttributeStore.open(db.url)));
  const stores = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  t.teardown(() => Promise.all(stores.map((s) => s.close())));
  t.same(
    opened.flatMap((o) => (o.status === 'rejected' ? [String(o.reason)] : [])),
    [],
    'all six start',
  );
  const tables = await db.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, [db.schema]);
  t.same(
    tables.rows.map((r) => r.table_name),
    [TABLE],
    'one table, in the schema on the search_path',
  );
  await stores[0].put(key, rec('kept'), false);
  const again = await PostgresAttributeStore.open(db.url);
  t.teardown(() => again.close());
  t.same((await again.get(key, 'kept'))!.vector, rec('kept').vector, 'a later start keeps the data');
});

t.test(
  'postgres: one table; vectors are float32 little-endian bytea, keyed by model, checkpoint and name',
  { skip: skip ?? false },
  async (t) => {
    const db = await freshSchema(t);
    const store = await PostgresAttributeStore.open(db.url);
    t.teardown(() => store.close());
    const v = new Float32Array([1, -2.5, 1e-3]);
    await store.put(key, { ...rec('raw'), vector: v }, false);
    const row = (await db.query(`SELECT model, checkpoint, name, dim, vector, created_at, updated_at FROM ${TABLE}`)).rows[0];
    const le = Buffer.alloc(12);
    v.forEach((x, i) => le.writeFloatLE(x, i * 4));
    t.same(row.vector, le, 'bytes are float32 little-endian');
    t.match(row, { model: 'mnist', checkpoint: 'aaaa', name: 'raw', dim: 3 });
    t.ok(row.created_at instanceof Date && row.updated_at instanceof Date);
    const cols = await db.query(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`,
      [db.schema, TABLE],
    );
    const types = Object.fromEntries(cols.rows.map((r) => [r.column_name, r.data_type]));
    t.equal(types.vector, 'bytea');
    t.equal(types.created_at, 'timestamp with time zone');
    const pk = await db.query(
      `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
     WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`,
      [`${db.schema}.${TABLE}`],
    );
    t.same(
      pk.rows.map((r) => r.attname),
      ['model', 'checkpoint', 'name'],
    );
    await t.rejects(
      db.query(
        `INSERT INTO ${TABLE} (model, checkpoint, name, dim, vector, positive, negative, norm, created_at) VALUES ('m', 'c', 'n', 2, '\\x00', 1, 1, 1, now())`,
      ),
      /check constraint/,
      'the byte length must match dim',
    );
  },
);

t.test('postgres: refuses a newer schema and a table it did not make', { skip: skip ?? false }, async (t) => {
  const db = await freshSchema(t);
  await (await PostgresAttributeStore.open(db.url)).close();
  await db.query(`COMMENT ON TABLE ${TABLE} IS 'glow-serve attributes schema 99'`);
  await t.rejects(PostgresAttributeStore.open(db.url), /schema version 99; this server knows up to 1/);
  await db.query(`COMMENT ON TABLE ${TABLE} IS NULL`);
  await t.rejects(PostgresAttributeStore.open(db.url), /exists but was not made by glow-serve/);
});

t.test('postgres: errors name the database without its password', { skip: skip ?? false }, async (t) => {
  const url = new URL(testDatabaseUrl()!);
  url.password = 'not-the-password-s3cret';
  const err = await PostgresAttributeStore.open(url.toString()).then(
    () => undefined,
    (e: Error) => e,
  );
  t.ok(err, 'a wrong password fails at start-up');
  t.match(err!.message, /PostgreSQL attribute store \(postgres(ql)?:\/\/[^@]*:\*\*\*@/);
  t.notMatch(err!.message, /s3cret/);

  // Nothing listens on port 1: a clear connection error, quickly, not a hang.
  const closed = new URL(testDatabaseUrl()!);
  closed.port = '1';
  closed.hostname = '127.0.0.1';
  await t.rejects(PostgresAttributeStore.open(closed.toString()), /ECONNREFUSED/);
});

t.test('openStore: DATABASE_URL picks PostgreSQL, else SQLite; other URLs fail at start-up', async (t) => {
  const sqlite = await openStore({ dataDir: tempDir(t) });
  t.teardown(() => sqlite.close());
  t.ok(sqlite instanceof SqliteAttributeStore, 'no DATABASE_URL: SQLite');
  await t.rejects(
    openStore({ dataDir: tempDir(t), databaseUrl: 'mysql://u:p@h/db' }),
    /DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL, not mysql:/,
  );
  await t.rejects(openStore({ dataDir: tempDir(t), databaseUrl: 'not a url' }), /DATABASE_URL is not a URL/);
  if (skip) return;
  const db = await freshSchema(t);
  const logs: string[] = [];
  const pg = await openStore({ dataDir: tempDir(t), databaseUrl: db.url }, (_level, msg) => logs.push(msg));
  t.teardown(() => pg.close());
  t.ok(pg instanceof PostgresAttributeStore, 'DATABASE_URL: PostgreSQL');
  t.match(logs, [/attribute store: PostgreSQL at postgres/]);
  if (new URL(db.url).password)
    t.notOk(
      logs.some((l) => l.includes(decodeURIComponent(new URL(db.url).password))),
      'the password is not logged',
    );
});

t.test(
  'postgres: an unreachable or restarting database is a 503 with Retry-After, a bad query is not',
  { skip: skip ?? false },
  async (t) => {
    const closed = new URL(testDatabaseUrl()!);
    closed.hostname = '127.0.0.1';
    closed.port = '1';
    const refused = await new pg.Client({ connectionString: closed.toString() }).connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(storeUnavailable(refused), 'connection refused');

    // A connection the server terminates (what a restart or failover does): SQLSTATE 57P01.
    const db = await freshSchema(t);
    const victim = new pg.Client({ connectionString: db.url });
    victim.on('error', () => {});
    await victim.connect();
    const pid = (await victim.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const ended = victim.query('SELECT pg_sleep(10)').then(
      () => undefined,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 100));
    await db.query('SELECT pg_terminate_backend($1)', [pid]);
    const terminated = await ended;
    t.ok(storeUnavailable(terminated), `terminated by the server (${(terminated as Error & { code?: string }).code})`);
    await victim.end().catch(() => {});

    const bad = await db.query('SELECT * FROM no_such_table').then(
      () => undefined,
      (e: unknown) => e,
    );
    t.notOk(storeUnavailable(bad), 'a bad query is a real error (500), not a retry');
    t.notOk(storeUnavailable(new Error('something else')));

    // Through the store. Its own application_name, so only its connections are terminated.
    const url = new URL(db.url);
    url.searchParams.set('application_name', `glow-test-${process.pid}`);
    const store = await PostgresAttributeStore.open(url.toString());
    t.teardown(() => store.close());
    await store.put(key, rec('x'), false);
    const killAll = () =>
      db.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [`glow-test-${process.pid}`]);
    await killAll();
    await new Promise((r) => setTimeout(r, 200));
    t.same((await store.get(key, 'x'))!.vector, rec('x').vector, 'the pool replaces terminated connections by itself');
    // Now the database "goes away": new connections are refused.
    store['pool'].options.connectionString = closed.toString();
    await killAll();
    await new Promise((r) => setTimeout(r, 200));
    // The domain's "unavailable, retry in 5 s": a 503 with Retry-After: 5 once the server maps it (test/server/errors.test.ts).
    await t.rejects(store.get(key, 'x'), {
      kind: 'unavailable',
      retryAfterSeconds: 5,
      message: 'the attribute store is unavailable; try again shortly',
    });
    await t.rejects(store.put(key, rec('y'), false), { kind: 'unavailable', message: /unavailable/ });
  },
);
