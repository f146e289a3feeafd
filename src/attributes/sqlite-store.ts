// SQLite attribute store (better-sqlite3). WAL mode with synchronous=FULL: a put that returned has
// been fsynced, so a 201 survives SIGKILL and power loss, and a crash mid-write leaves the previous
// state (SQLite transactions are atomic). Vectors are little-endian float32 BLOBs.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AttributeMeta, AttributeRecord, AttributeStore, ModelKey, PutResult } from './store.ts';

const SCHEMA_VERSION = 1;

interface Row {
  name: string;
  positive: number;
  negative: number;
  norm: number;
  created_at: string;
  description: string | null;
  vector?: Buffer;
}

export class SqliteAttributeStore implements AttributeStore {
  readonly file: string;
  private db: Database.Database;
  private stmts: ReturnType<SqliteAttributeStore['prepare']>;

  /** `location` is a directory (the file is attributes.sqlite in it) or ':memory:'. */
  constructor(location: string) {
    if (location === ':memory:') this.file = location;
    else {
      mkdirSync(location, { recursive: true });
      this.file = path.join(location, 'attributes.sqlite');
    }
    this.db = new Database(this.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    // Several processes (replicas, the attributes script) may share the file: wait, don't fail.
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.stmts = this.prepare();
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) throw new Error(`${this.file} has schema version ${version}; this server knows up to ${SCHEMA_VERSION}`);
    if (version < 1) {
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS attributes (
          model       TEXT    NOT NULL,
          checkpoint  TEXT    NOT NULL,
          name        TEXT    NOT NULL,
          dim         INTEGER NOT NULL,
          vector      BLOB    NOT NULL,
          positive    INTEGER NOT NULL,
          negative    INTEGER NOT NULL,
          norm        REAL    NOT NULL,
          description TEXT,
          created_at  TEXT    NOT NULL,
          PRIMARY KEY (model, checkpoint, name),
          CHECK (length(vector) = 4 * dim)
        ) WITHOUT ROWID;
        PRAGMA user_version = ${SCHEMA_VERSION};
      `);
    }
  }

  private prepare() {
    const cols = 'name, positive, negative, norm, created_at, description';
    return {
      list: this.db.prepare<[string, string], Row>(`SELECT ${cols} FROM attributes WHERE model = ? AND checkpoint = ? ORDER BY name`),
      get: this.db.prepare<[string, string, string], Row>(
        `SELECT ${cols}, vector FROM attributes WHERE model = ? AND checkpoint = ? AND name = ?`,
      ),
      insert: this.db.prepare(
        `INSERT INTO attributes (model, checkpoint, name, dim, vector, positive, negative, norm, description, created_at)
         VALUES (@model, @checkpoint, @name, @dim, @vector, @positive, @negative, @norm, @description, @createdAt)
         ON CONFLICT (model, checkpoint, name) DO NOTHING`,
      ),
      upsert: this.db.prepare(
        `INSERT INTO attributes (model, checkpoint, name, dim, vector, positive, negative, norm, description, created_at)
         VALUES (@model, @checkpoint, @name, @dim, @vector, @positive, @negative, @norm, @description, @createdAt)
         ON CONFLICT (model, checkpoint, name) DO UPDATE SET dim = excluded.dim, vector = excluded.vector,
           positive = excluded.positive, negative = excluded.negative, norm = excluded.norm,
           description = excluded.description, created_at = excluded.created_at`,
      ),
      exists: this.db.prepare<[string, string, string], { one: number }>(
        'SELECT 1 AS one FROM attributes WHERE model = ? AND checkpoint = ? AND name = ?',
      ),
      delete: this.db.prepare('DELETE FROM attributes WHERE model = ? AND checkpoint = ? AND name = ?'),
      count: this.db.prepare<[string, string], { n: number }>('SELECT count(*) AS n FROM attributes WHERE model = ? AND checkpoint = ?'),
    };
  }

  async list(key: ModelKey): Promise<AttributeMeta[]> {
    return this.stmts.list.all(key.model, key.checkpoint).map(toMeta);
  }

  async get(key: ModelKey, name: string): Promise<AttributeRecord | undefined> {
    const row = this.stmts.get.get(key.model, key.checkpoint, name);
    if (!row) return undefined;
    const b = row.vector!;
    // Copy into a fresh, aligned buffer: the BLOB's Buffer may be unaligned for Float32Array.
    const vector = new Float32Array(new Uint8Array(b).buffer);
    return { ...toMeta(row), vector };
  }

  async put(key: ModelKey, record: AttributeRecord, replace: boolean): Promise<PutResult> {
    const v = record.vector;
    const params = {
      ...key,
      name: record.name,
      dim: v.length,
      vector: Buffer.from(v.buffer, v.byteOffset, v.byteLength),
      positive: record.positive,
      negative: record.negative,
      norm: record.norm,
      description: record.description ?? null,
      createdAt: record.createdAt,
    };
    // One transaction: the existence check and the write cannot interleave with another writer.
    return this.db
      .transaction((): PutResult => {
        if (!replace) return this.stmts.insert.run(params).changes === 1 ? 'created' : 'exists';
        const existed = this.stmts.exists.get(key.model, key.checkpoint, record.name) !== undefined;
        this.stmts.upsert.run(params);
        return existed ? 'replaced' : 'created';
      })
      .immediate();
  }

  async delete(key: ModelKey, name: string): Promise<boolean> {
    return this.stmts.delete.run(key.model, key.checkpoint, name).changes > 0;
  }

  async count(key: ModelKey): Promise<number> {
    return this.stmts.count.get(key.model, key.checkpoint)!.n;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function toMeta(row: Row): AttributeMeta {
  const meta: AttributeMeta = { name: row.name, positive: row.positive, negative: row.negative, norm: row.norm, createdAt: row.created_at };
  if (row.description) meta.description = row.description;
  return meta;
}
