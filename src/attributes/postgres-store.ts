// PostgreSQL attribute store (the `pg` client): the shared store for several replicas behind a load
// balancer. One table; vectors are little-endian float32 `bytea`. The table is created at start-up
// by an idempotent migration that holds a transaction-scoped advisory lock, so replicas starting
// together do not race on CREATE TABLE. A put that returned has been committed (synchronous_commit
// is on by default), so a 201 survives a crash of the server, or of the database.
import pg from 'pg';
import { UnavailableError } from '../errors.ts';
import type { AttributeMeta, AttributeRecord, AttributeStore, ModelKey, PutResult } from './store.ts';

const SCHEMA_VERSION = 1;
/** The table's comment records the schema version (one table, no separate bookkeeping table). */
const VERSION_TAG = 'glow-serve attributes schema ';
/** pg_advisory_xact_lock key for the migration: 'glow' 'attr' as two int4s, fixed forever. */
const LOCK_KEYS = [0x676c6f77, 0x61747472] as const;
export const TABLE = 'glow_attributes';

interface Row {
  name: string;
  positive: number;
  negative: number;
  norm: number;
  created_at: Date;
  description: string | null;
  vector?: Buffer;
}

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database[?sslmode=…&options=-c%20search_path%3D…] */
  connectionString: string;
  /** Pool size per replica. Attribute reads are a few per request at most; the default is plenty. */
  max?: number;
  /** Called for errors on idle connections (e.g. the database restarted); the pool replaces them. */
  onError?: (err: Error) => void;
}

export class PostgresAttributeStore implements AttributeStore {
  private readonly pool: pg.Pool;
  private closed = false;

  private constructor(opts: PostgresStoreOptions) {
    this.pool = new pg.Pool({
      connectionString: opts.connectionString,
      max: opts.max ?? 5,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 10_000,
      application_name: 'glow-serve',
    });
    // Without a listener an idle client's error (server restart, network cut) kills the process.
    this.pool.on('error', (err) => opts.onError?.(err));
  }

  /** Connects, migrates, and returns a ready store; fails (closing the pool) if the database cannot be used. */
  static async open(opts: PostgresStoreOptions | string): Promise<PostgresAttributeStore> {
    const store = new PostgresAttributeStore(typeof opts === 'string' ? { connectionString: opts } : opts);
    try {
      await store.migrate();
    } catch (err) {
      await store.close();
      throw new Error(`PostgreSQL attribute store (${redact(store.pool.options.connectionString)}): ${(err as Error).message}`, {
        cause: err,
      });
    }
    return store;
  }

  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // Serialises concurrent start-ups; released at COMMIT/ROLLBACK, even if the process dies.
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [...LOCK_KEYS]);
      const found = await client.query<{ comment: string | null }>(
        `SELECT obj_description(c.oid, 'pg_class') AS comment FROM pg_class c
         WHERE c.oid = to_regclass($1)`,
        [TABLE],
      );
      if (found.rowCount) {
        const version = Number(
          (found.rows[0].comment ?? '').startsWith(VERSION_TAG) ? found.rows[0].comment!.slice(VERSION_TAG.length) : NaN,
        );
        if (!Number.isInteger(version))
          throw new Error(`table ${TABLE} exists but was not made by glow-serve (comment ${JSON.stringify(found.rows[0].comment)})`);
        if (version > SCHEMA_VERSION)
          throw new Error(`table ${TABLE} has schema version ${version}; this server knows up to ${SCHEMA_VERSION}`);
        // Future versions: ALTER TABLE … here, for version < SCHEMA_VERSION.
      } else {
        await client.query(`
          CREATE TABLE ${TABLE} (
            model       text             NOT NULL,
            checkpoint  text             NOT NULL,
            name        text             NOT NULL,
            dim         integer          NOT NULL CHECK (dim > 0),
            vector      bytea            NOT NULL,
            positive    integer          NOT NULL,
            negative    integer          NOT NULL,
            norm        double precision NOT NULL,
            description text,
            created_at  timestamptz      NOT NULL,
            updated_at  timestamptz      NOT NULL DEFAULT now(),
            PRIMARY KEY (model, checkpoint, name),
            CHECK (octet_length(vector) = 4 * dim)
          )`);
        await client.query(`COMMENT ON TABLE ${TABLE} IS '${VERSION_TAG}${SCHEMA_VERSION}'`);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  /** A query; an unreachable database is a 503 with Retry-After (the replica itself is fine). */
  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (err) {
      if (!storeUnavailable(err)) throw err;
      // The client learns only that it is temporary; the log gets the cause (host, port, reason).
      const unavailable = new UnavailableError('the attribute store is unavailable; try again shortly', 5);
      unavailable.cause = err;
      throw unavailable;
    }
  }

  async list(key: ModelKey): Promise<AttributeMeta[]> {
    const res = await this.query<Row>(
      `SELECT name, positive, negative, norm, created_at, description FROM ${TABLE}
       WHERE model = $1 AND checkpoint = $2 ORDER BY name COLLATE "C"`,
      [key.model, key.checkpoint],
    );
    return res.rows.map(toMeta);
  }

  async get(key: ModelKey, name: string): Promise<AttributeRecord | undefined> {
    const res = await this.query<Row>(
      `SELECT name, positive, negative, norm, created_at, description, vector FROM ${TABLE}
       WHERE model = $1 AND checkpoint = $2 AND name = $3`,
      [key.model, key.checkpoint, name],
    );
    const row = res.rows[0];
    return row ? { ...toMeta(row), vector: decodeVector(row.vector!) } : undefined;
  }

  async put(key: ModelKey, record: AttributeRecord, replace: boolean): Promise<PutResult> {
    const createdAt = new Date(record.createdAt);
    if (Number.isNaN(createdAt.getTime())) throw new Error(`createdAt ${JSON.stringify(record.createdAt)} is not a date`);
    const params = [
      key.model,
      key.checkpoint,
      record.name,
      record.vector.length,
      encodeVector(record.vector),
      record.positive,
      record.negative,
      record.norm,
      record.description ?? null,
      createdAt,
    ];
    const insert = `INSERT INTO ${TABLE} (model, checkpoint, name, dim, vector, positive, negative, norm, description, created_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`;
    // Each is one statement, so atomic on its own: no check-then-write window between replicas.
    if (!replace) {
      const res = await this.query(`${insert} ON CONFLICT (model, checkpoint, name) DO NOTHING`, params);
      return res.rowCount === 1 ? 'created' : 'exists';
    }
    // xmax is 0 on a freshly inserted row version and set on one written by the DO UPDATE branch.
    const res = await this.query<{ inserted: boolean }>(
      `${insert} ON CONFLICT (model, checkpoint, name) DO UPDATE SET dim = excluded.dim, vector = excluded.vector,
         positive = excluded.positive, negative = excluded.negative, norm = excluded.norm,
         description = excluded.description, created_at = excluded.created_at, updated_at = now()
       RETURNING (xmax = 0) AS inserted`,
      params,
    );
    return res.rows[0].inserted ? 'created' : 'replaced';
  }

  async delete(key: ModelKey, name: string): Promise<boolean> {
    const res = await this.query(`DELETE FROM ${TABLE} WHERE model = $1 AND checkpoint = $2 AND name = $3`, [
      key.model,
      key.checkpoint,
      name,
    ]);
    return (res.rowCount ?? 0) > 0;
  }

  async count(key: ModelKey): Promise<number> {
    const res = await this.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${TABLE} WHERE model = $1 AND checkpoint = $2`, [
      key.model,
      key.checkpoint,
    ]);
    return res.rows[0].n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

/** SQLSTATE classes and codes that mean "cannot reach / use the server right now", not a bad query. */
const UNAVAILABLE_SQLSTATE = /^(08|57P0[123]|53300$|53400$)/;
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/** Whether an error from `pg` means the database is unreachable or shutting down (worth a retry). */
export function storeUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as Error & { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_ERRNO.has(code) || UNAVAILABLE_SQLSTATE.test(code))) return true;
  // pg / pg-pool raise these without a code.
  return /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/.test(err.message);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** float32 little-endian bytes, whatever the platform's byte order. */
function encodeVector(v: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  const out = Buffer.allocUnsafe(v.length * 4);
  for (let i = 0; i < v.length; i++) out.writeFloatLE(v[i], i * 4);
  return out;
}

function decodeVector(b: Buffer): Float32Array {
  if (b.length % 4 !== 0) throw new Error(`stored vector has ${b.length} bytes, not a multiple of 4`);
  const out = new Float32Array(b.length / 4);
  // Copy into a fresh, aligned buffer: the bytea Buffer may be a slice at any offset.
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(b);
  else for (let i = 0; i < out.length; i++) out[i] = b.readFloatLE(i * 4);
  return out;
}

function toMeta(row: Row): AttributeMeta {
  const meta: AttributeMeta = {
    name: row.name,
    positive: row.positive,
    negative: row.negative,
    norm: row.norm,
    createdAt: row.created_at.toISOString(),
  };
  if (row.description) meta.description = row.description;
  return meta;
}

/** The URL without its password, for error messages and logs. */
export function redact(url: string | undefined): string {
  if (!url) return '(no URL)';
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}
