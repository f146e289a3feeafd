// The disk cache: a split generated once, read back identically, and a damaged or other file is a miss.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { cacheFile, readAvatarCache } from '../../../src/data/avatars/cache.ts';
import { prepareAvatars } from '../../../src/data/avatars/generate.ts';
import { avatarLabels } from '../../../src/data/avatars/labels.ts';
import { avatarOptions } from '../../../src/data/avatars/options.ts';
import { initRenderer, renderAvatars } from '../../../src/data/avatars/render.ts';
import { splitSeeds } from '../../../src/data/avatars/splits.ts';

const cache = mkdtempSync(path.join(os.tmpdir(), 'glow-avatars-'));
process.env.GLOW_CACHE_DIR = cache;
t.teardown(() => rmSync(cache, { recursive: true, force: true }));

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

t.before(() => initRenderer());

t.test('cache: generated once, read back identically, rejected when damaged', async (t) => {
  const dir = path.join(cache, 'roundtrip');
  const logs: string[] = [];
  const made = await prepareAvatars('validation', { count: 24, dir, log: (m) => logs.push(m), progress: false });
  const file = cacheFile('validation', 32, 24, dir);
  t.ok(existsSync(file));
  t.match(logs.join('\n'), /generated 24 avatars/);
  const seeds = splitSeeds('validation', 24);
  t.ok(equal(made.images, await renderAvatars([...seeds].map(avatarOptions))), 'cached pixels are the rendered faces');
  t.ok(equal(made.labels, Uint8Array.from([...seeds].flatMap((s) => [...avatarLabels(avatarOptions(s))]))), 'labels in row order');
  const read = readAvatarCache('validation', 32, 24, dir)!;
  t.ok(read);
  t.ok(equal(read.images, made.images));
  t.ok(equal(read.labels, made.labels));
  t.same([...read.seeds], [...seeds]);
  logs.length = 0;
  await prepareAvatars('validation', { count: 24, dir, log: (m) => logs.push(m) });
  t.same(logs, [], 'second prepare reads the cache');
  writeFileSync(file, Buffer.from('GLOWAVT1 truncated'));
  t.equal(readAvatarCache('validation', 32, 24, dir), undefined, 'a damaged file is a miss');
  t.equal(readAvatarCache('test', 32, 24, dir), undefined, 'another split is a miss');
});
