// "Nothing acknowledged is ever lost": the real server as a child process, several clients creating
// and replacing attributes concurrently, SIGKILL in the middle (at a few different points), restart,
// and every attribute that got a 201 (or a 200 for a replace) is there with exactly its vector; the
// store opens cleanly each time. Against SQLite always, and against PostgreSQL when a test database
// is configured (GLOW_TEST_DATABASE_URL or DATABASE_URL).
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import t, { type Test } from 'tap';
import { tempDir, tinyModelDir } from '../fixtures/app.ts';
import { freshSchema, skipPostgres } from '../fixtures/postgres.ts';
import { killHard, startServer, type ServerProcess } from '../fixtures/server-process.ts';

const D = 784;
const WRITERS = 8;
/** Acknowledged writes after which the server is killed, one round each. */
const KILL_POINTS = [1, 30, 120];

interface Attempt {
  vector: Float32Array;
  acked: boolean;
}

/** A float32-exact vector from a seed, so the expected direction (vector − 0) is known bit for bit. */
function vector(seed: number): Float32Array {
  const v = new Float32Array(D);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < D; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    v[i] = ((x >>> 0) / 2 ** 32) * 4 - 2;
  }
  return v;
}

const same = (a: Float32Array, b: Float32Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

class Ledger {
  /** Every write sent, per name, in order. */
  readonly attempts = new Map<string, Attempt[]>();
  acks = 0;
  private seed = 1;

  next(name: string): Attempt {
    const a = { vector: vector(this.seed++ * 2654435761), acked: false };
    const list = this.attempts.get(name) ?? [];
    list.push(a);
    this.attempts.set(name, list);
    return a;
  }

  /** The vectors the store may hold for `name`: the last acknowledged one or any sent after it. */
  allowed(name: string): { must: boolean; vectors: Float32Array[] } {
    const list = this.attempts.get(name) ?? [];
    const lastAck = list.map((a) => a.acked).lastIndexOf(true);
    return { must: lastAck >= 0, vectors: list.slice(Math.max(0, lastAck)).map((a) => a.vector) };
  }
}

/** Writers hammer the server until it dies; the server is SIGKILLed after `killAt` more acknowledgements. */
async function writeUntilKilled(t: Test, server: ServerProcess, ledger: Ledger, round: number, killAt: number): Promise<void> {
  const target = ledger.acks + killAt;
  let killed = false;
  const zeros = new Array(D).fill(0);
  const writer = async (w: number) => {
    const mine: string[] = [];
    for (let i = 0; !killed; i++) {
      // Mostly new names; every fourth write replaces one of this writer's acknowledged ones.
      const replace = i % 4 === 3 && mine.length > 0;
      const name = replace ? mine[i % mine.length] : `r${round}-w${w}-${i}`;
      const attempt = ledger.next(name);
      let status: number;
      try {
        const res = await fetch(`${server.base}/attributes${replace ? '?replace=true' : ''}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name, positive: [Array.from(attempt.vector)], negative: [zeros] }),
        });
        status = res.status;
        await res.arrayBuffer();
      } catch {
        return; // the server is gone
      }
      if (status !== (replace ? 200 : 201)) {
        t.fail(`unexpected ${status} for ${name}`);
        return;
      }
      attempt.acked = true;
      if (!replace) mine.push(name);
      if (++ledger.acks >= target && !killed) {
        killed = true;
        server.child.kill('SIGKILL');
      }
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  const { signal } = await server.exited;
  t.equal(signal, 'SIGKILL', `round ${round}: killed after ${ledger.acks} acknowledged writes in total`);
}

/** Every acknowledged attribute is present with exactly its vector; nothing else is there. */
async function verify(t: Test, base: string, ledger: Ledger, label: string): Promise<number> {
  const list = (await (await fetch(`${base}/attributes`)).json()) as { attributes: { name: string }[] };
  const present = new Set(list.attributes.map((a) => a.name));
  let missing = 0;
  let wrong = 0;
  let acked = 0;
  for (const name of ledger.attempts.keys()) {
    const { must, vectors } = ledger.allowed(name);
    if (must) acked++;
    if (!present.has(name)) {
      if (must) missing++;
      continue;
    }
    const rec = (await (await fetch(`${base}/attributes/${name}?vector=true`)).json()) as { vector: number[] };
    const got = Float32Array.from(rec.vector);
    if (!vectors.some((v) => same(v, got))) wrong++;
  }
  const stray = [...present].filter((n) => !ledger.attempts.has(n));
  t.equal(missing, 0, `${label}: all ${acked} acknowledged attributes present`);
  t.equal(wrong, 0, `${label}: every vector is exactly the acknowledged one (or a later unacknowledged write)`);
  t.equal(stray.length, 0, `${label}: nothing that was never sent`);
  return present.size;
}

async function scenario(t: Test, env: Record<string, string>, afterwards: (count: number) => Promise<void>): Promise<void> {
  const ledger = new Ledger();
  const common = { GLOW_MODEL_DIR: await tinyModelDir(), ...env };
  for (const [round, killAt] of KILL_POINTS.entries()) {
    const server = await startServer(common);
    t.teardown(() => killHard(server));
    if (round > 0) await verify(t, server.base, ledger, `after restart ${round}`);
    await writeUntilKilled(t, server, ledger, round, killAt);
  }
  const last = await startServer(common);
  t.teardown(() => killHard(last));
  const count = await verify(t, last.base, ledger, `after restart ${KILL_POINTS.length}`);
  last.child.kill('SIGTERM');
  t.equal((await last.exited).code, 0, 'clean shutdown at the end');
  await afterwards(count);
}

t.test('SQLite: SIGKILL mid-write loses nothing acknowledged; the file stays intact', async (t) => {
  const dataDir = tempDir(t);
  await scenario(t, { GLOW_DATA_DIR: dataDir, DATABASE_URL: '' }, async (count) => {
    const db = new Database(path.join(dataDir, 'attributes.sqlite'), { readonly: true });
    t.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'PRAGMA integrity_check');
    t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    t.equal((db.prepare('SELECT count(*) AS n FROM attributes').get() as { n: number }).n, count, 'rows = attributes listed');
    t.equal(
      (db.prepare('SELECT count(*) AS n FROM attributes WHERE length(vector) <> 4 * dim').get() as { n: number }).n,
      0,
      'no torn vectors',
    );
    db.close();
  });
});

t.test('PostgreSQL: SIGKILL mid-write loses nothing acknowledged', { skip: skipPostgres() }, async (t) => {
  const { url, schema } = await freshSchema(t);
  await scenario(t, { DATABASE_URL: url, GLOW_DATA_DIR: tempDir(t) }, async (count) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const tables = await client.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, [schema]);
    t.ok(tables.rowCount! > 0, `tables in ${schema}: ${tables.rows.map((r) => r.table_name).join(', ')}`);
    await client.end();
    t.ok(count > 0);
  });
});
