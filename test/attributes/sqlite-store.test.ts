// The AttributeStore contract on SQLite (the embedded default), plus what is SQLite's own.
import t from 'tap';
import { SqliteAttributeStore } from '../../src/attributes/sqlite-store.ts';
import { tempDir } from '../fixtures/app.ts';
import { key, rec, storeContract } from './store-contract.ts';

storeContract('sqlite', async (t) => {
  const dir = tempDir(t);
  return { open: async () => new SqliteAttributeStore(dir) };
});

t.test('sqlite: an in-memory store works, and files are in WAL mode', async (t) => {
  const mem = new SqliteAttributeStore(':memory:');
  t.teardown(() => mem.close());
  t.equal(await mem.put(key, rec('x'), false), 'created');
  t.equal(mem.file, ':memory:');

  const dir = tempDir(t);
  const a = new SqliteAttributeStore(dir);
  await a.put(key, rec('keep'), false);
  await a.close();
  const b = new SqliteAttributeStore(dir);
  t.teardown(() => b.close());
  t.same((await b.get(key, 'keep'))!.vector, rec('keep').vector);
  // @ts-expect-error: peeking at the private handle to check the journal mode
  t.equal(b.db.pragma('journal_mode', { simple: true }), 'wal');
});
