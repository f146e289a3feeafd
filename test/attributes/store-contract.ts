// The AttributeStore contract, run against every implementation (sqlite-store.test.ts,
// postgres-store.test.ts). A backend gives, per test, fresh empty storage and a way to open any
// number of stores on it (one after another, or at once like several replicas).
import t, { type Test } from 'tap';
import type { AttributeRecord, AttributeStore } from '../../src/attributes/store.ts';

export type { Test };

export interface Backend {
  /** Opens a store on this test's storage. Every call opens a new handle on the same storage. */
  open(): Promise<AttributeStore>;
}

export interface ContractOptions {
  /** Skip the whole suite, with this reason (e.g. no database configured). */
  skip?: string;
}

export const key = { model: 'mnist', checkpoint: 'aaaa' };

export const rec = (name: string, seed = 1, dim = 784): AttributeRecord => ({
  name,
  vector: Float32Array.from({ length: dim }, (_, i) => Math.sin(i * seed) * 1e3 + 1e-7),
  positive: 3,
  negative: 4,
  norm: 12.5,
  createdAt: '2025-01-02T03:04:05.000Z',
});

const bytes = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

export function storeContract(label: string, makeBackend: (t: Test) => Promise<Backend>, opts: ContractOptions = {}): void {
  const test = (name: string, fn: (t: Test, backend: Backend, open: () => Promise<AttributeStore>) => Promise<void>) =>
    t.test(`${label}: ${name}`, { skip: opts.skip ?? false }, async (t) => {
      const backend = await makeBackend(t);
      const open = async () => {
        const store = await backend.open();
        t.teardown(() => store.close());
        return store;
      };
      await fn(t, backend, open);
    });

  test('put, get, list, count, delete; vectors are bit-exact float32', async (t, _b, open) => {
    const store = await open();
    t.equal(await store.put(key, rec('b'), false), 'created');
    t.equal(await store.put(key, { ...rec('a', 2), description: 'first' }, false), 'created');
    t.same(
      (await store.list(key)).map((m) => m.name),
      ['a', 'b'],
    );
    t.equal(await store.count(key), 2);
    const got = await store.get(key, 'b');
    t.same(bytes(got!.vector), bytes(rec('b').vector));
    t.ok(got!.vector instanceof Float32Array);
    t.match(got, { name: 'b', positive: 3, negative: 4, norm: 12.5, createdAt: '2025-01-02T03:04:05.000Z' });
    t.notOk('description' in got!, 'no description key when none was given');
    t.equal((await store.get(key, 'a'))!.description, 'first');
    t.equal(await store.get(key, 'zzz'), undefined);
    t.equal(await store.delete(key, 'b'), true);
    t.equal(await store.delete(key, 'b'), false);
    t.equal(await store.count(key), 1);
  });

  test('list gives metadata only, sorted by name byte-wise', async (t, _b, open) => {
    const store = await open();
    const names = ['b', 'a_b', '0', 'a-b', 'a', 'z9'];
    for (const n of names) await store.put(key, rec(n), false);
    const list = await store.list(key);
    t.same(
      list.map((m) => m.name),
      [...names].sort(),
    );
    t.notOk(
      list.some((m) => 'vector' in m),
      'no vectors in the list',
    );
    t.same(list[0], { name: '0', positive: 3, negative: 4, norm: 12.5, createdAt: '2025-01-02T03:04:05.000Z' });
  });

  test('awkward values round-trip exactly', async (t, _b, open) => {
    const store = await open();
    const special = new Float32Array([
      0,
      -0,
      1.4e-45,
      -1.17549435e-38,
      3.4028234663852886e38,
      -3.4028234663852886e38,
      Infinity,
      -Infinity,
      Math.PI,
      1 / 3,
    ]);
    const big = rec('big', 3, 3 * 64 * 64);
    await store.put(
      key,
      {
        ...rec('special'),
        vector: special,
        norm: 0.1 + 0.2,
        positive: 1,
        negative: 100_000,
        description: 'ünïcødé ✓ \'quotes\' "and" ; DROP TABLE x; --',
      },
      false,
    );
    await store.put(key, big, false);
    const got = (await store.get(key, 'special'))!;
    t.same(bytes(got.vector), bytes(special), 'signed zero, subnormals, extremes and infinities bit-exact');
    t.ok(Object.is(got.vector[1], -0));
    t.equal(got.norm, 0.1 + 0.2, 'norm is a double, not rounded to float');
    t.equal(got.negative, 100_000);
    t.equal(got.description, 'ünïcødé ✓ \'quotes\' "and" ; DROP TABLE x; --');
    t.same(bytes((await store.get(key, 'big'))!.vector), bytes(big.vector), '12,288 dimensions');
    const now = new Date().toISOString();
    await store.put(key, { ...rec('now'), createdAt: now }, false);
    t.equal((await store.get(key, 'now'))!.createdAt, now, 'createdAt round-trips as the same ISO string');
  });

  test('existing names: exists without replace, replaced with it', async (t, _b, open) => {
    const store = await open();
    t.equal(await store.put(key, rec('x', 1), false), 'created');
    t.equal(await store.put(key, rec('x', 2), false), 'exists');
    t.same((await store.get(key, 'x'))!.vector, rec('x', 1).vector, 'not overwritten');
    t.equal(await store.put(key, { ...rec('x', 2), description: 'second', positive: 9 }, true), 'replaced');
    t.match(await store.get(key, 'x'), { vector: rec('x', 2).vector, description: 'second', positive: 9 });
    t.equal(await store.put(key, rec('x', 3), true), 'replaced');
    t.notOk('description' in (await store.get(key, 'x'))!, 'replacing without a description clears it');
    t.equal(await store.put(key, rec('y'), true), 'created');
    t.equal(await store.count(key), 2);
  });

  test('directions are scoped to a model and checkpoint', async (t, _b, open) => {
    const store = await open();
    await store.put(key, rec('x'), false);
    const retrained = { model: 'mnist', checkpoint: 'bbbb' };
    t.same(await store.list(retrained), []);
    t.equal(await store.count(retrained), 0);
    t.equal(await store.get({ model: 'faces', checkpoint: 'aaaa' }, 'x'), undefined);
    t.equal(await store.delete(retrained, 'x'), false, 'delete is scoped too');
    t.equal(await store.put(retrained, rec('x', 3), false), 'created', 'the same name is free in another checkpoint');
    t.same((await store.get(key, 'x'))!.vector, rec('x').vector, 'and does not touch the first');
  });

  test('persists across close and reopen', async (t, _b, open) => {
    const a = await open();
    await a.put(key, rec('keep'), false);
    await a.close();
    await a.close(); // idempotent
    const b = await open();
    t.same((await b.get(key, 'keep'))!.vector, rec('keep').vector);
  });

  test('two handles on the same storage (two replicas) see each other at once', async (t, _b, open) => {
    const [a, b] = [await open(), await open()];
    await a.put(key, rec('from-a'), false);
    t.same((await b.get(key, 'from-a'))!.vector, rec('from-a').vector);
    t.equal(await b.put(key, rec('from-a', 5), false), 'exists');
    t.equal(await b.delete(key, 'from-a'), true);
    t.equal(await a.get(key, 'from-a'), undefined);
  });

  test('concurrent puts of one name: exactly one is created', async (t, _b, open) => {
    const stores = [await open(), await open()];
    const n = 16;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => stores[i % 2].put(key, rec('race', i + 1), false)));
    t.equal(results.filter((r) => r === 'created').length, 1, 'one created');
    t.equal(results.filter((r) => r === 'exists').length, n - 1, 'the rest exist');
    const winner = results.indexOf('created');
    t.same(
      bytes((await stores[1].get(key, 'race'))!.vector),
      bytes(rec('race', winner + 1).vector),
      "the stored vector is the winner's, whole",
    );

    const replaced = await Promise.all(Array.from({ length: n }, (_, i) => stores[i % 2].put(key, rec('race2', i + 1), true)));
    t.equal(replaced.filter((r) => r === 'created').length, 1, 'with replace: one created');
    t.equal(replaced.filter((r) => r === 'replaced').length, n - 1, 'and the rest replaced');
    const stored = (await stores[0].get(key, 'race2'))!.vector;
    t.ok(
      replaced.some((_, i) => bytes(stored).equals(bytes(rec('race2', i + 1).vector))),
      "the stored vector is one writer's, whole",
    );
    t.equal(await stores[0].count(key), 2);
  });
}
