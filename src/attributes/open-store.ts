// The one place that chooses the attribute store: PostgreSQL when DATABASE_URL is set (several
// replicas share it), else the embedded SQLite file in the data directory.
import { PostgresAttributeStore, redact } from './postgres-store.ts';
import { SqliteAttributeStore } from './sqlite-store.ts';
import type { AttributeStore } from './store.ts';

/** Where attributes live: a PostgreSQL URL (DATABASE_URL), else the SQLite file in dataDir. */
export interface StoreConfig {
  dataDir: string;
  databaseUrl?: string;
}

export async function openStore(
  config: StoreConfig,
  log?: (level: 'info' | 'warn' | 'error', msg: string) => void,
): Promise<AttributeStore> {
  const databaseUrl = checkDatabaseUrl(config.databaseUrl);
  if (databaseUrl) {
    const store = await PostgresAttributeStore.open({
      connectionString: databaseUrl,
      onError: (err) => log?.('warn', `attribute store: idle PostgreSQL connection failed (${err.message}); it will be replaced`),
    });
    log?.('info', `attribute store: PostgreSQL at ${redact(databaseUrl)}`);
    return store;
  }
  const store = new SqliteAttributeStore(config.dataDir);
  log?.('info', `attribute store: SQLite at ${store.file}`);
  return store;
}

/** Accepts only PostgreSQL URLs, so a typo fails at start-up instead of silently using SQLite. */
export function checkDatabaseUrl(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('DATABASE_URL is not a URL; expected postgres://user:password@host:5432/database');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new Error(`DATABASE_URL must be a postgres:// or postgresql:// URL, not ${url.protocol}//…`);
  }
  return raw;
}
