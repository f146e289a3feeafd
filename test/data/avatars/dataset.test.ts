// The avatars datasets through loadDataset: labels, attributes and seeds on the Dataset, and a split
// generated in a child process when it is not cached yet.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ATTRIBUTE_NAMES } from '../../../src/data/avatars/attributes.ts';
import { avatarLabels } from '../../../src/data/avatars/labels.ts';
import { avatarOptions } from '../../../src/data/avatars/options.ts';
import { initRenderer, renderAvatar } from '../../../src/data/avatars/render.ts';
import { SPLITS } from '../../../src/data/avatars/splits.ts';
import { loadDataset, prepareDataset } from '../../../src/data/datasets.ts';

const cache = mkdtempSync(path.join(os.tmpdir(), 'glow-avatars-'));
process.env.GLOW_CACHE_DIR = cache;
t.teardown(() => rmSync(cache, { recursive: true, force: true }));

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

t.before(() => initRenderer());

t.test('loadDataset("avatars"): labels, attributes and seeds on the Dataset', async (t) => {
  process.env.GLOW_AVATARS_VALIDATION = '16';
  process.env.GLOW_AVATARS_TEST = '8';
  t.teardown(() => {
    delete process.env.GLOW_AVATARS_VALIDATION;
    delete process.env.GLOW_AVATARS_TEST;
  });
  await prepareDataset('avatars', ['validation']);
  const ds = loadDataset('avatars', 'validation');
  t.match(ds, { name: 'avatars', split: 'validation', count: 16, height: 32, width: 32, channels: 3 });
  t.equal(ds.images.length, 16 * 32 * 32 * 3);
  t.same(ds.attributes!.names, ATTRIBUTE_NAMES);
  t.equal(ds.attributes!.labels.length, 16 * ATTRIBUTE_NAMES.length);
  for (let i = 0; i < 16; i++) {
    const l = avatarLabels(avatarOptions(ds.seeds![i]));
    t.equal(
      ds.labels[i],
      l.reduce((m, v, k) => m | (v << k), 0),
      `image ${i}: labels is the bit mask`,
    );
    t.same([...ds.attributes!.labels.subarray(i * 6, i * 6 + 6)], [...l]);
  }
  // Not prepared: loadDataset is synchronous, so it generates the split in a child process.
  const files = readdirSync(path.join(cache, 'avatars')).length;
  const test = loadDataset('avatars', 'test');
  t.equal(test.count, 8);
  t.equal(test.seeds![0], SPLITS.test.start);
  t.ok(equal(test.images.subarray(0, 3072), renderAvatar(avatarOptions(SPLITS.test.start))));
  t.equal(readdirSync(path.join(cache, 'avatars')).length, files + 1, 'and caches it');
  t.throws(() => loadDataset('mnist', 'validation'), /no validation split/);
  t.throws(() => loadDataset('celeba', 'train'), /unknown dataset/);
});
