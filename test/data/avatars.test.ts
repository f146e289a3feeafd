// The generated avatars: deterministic faces, labels that follow the options, one-attribute flips,
// the disk cache, and disjoint splits.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import {
  ATTRIBUTES,
  ATTRIBUTE_NAMES,
  BLOND_COLOURS,
  GLASSES,
  HATS,
  LONG_HAIR,
  SMILING_MOUTHS,
  SPLITS,
  type AvatarOptions,
  attributePair,
  avatarLabels,
  avatarOptions,
  cacheFile,
  hasAttribute,
  initRenderer,
  prepareAvatars,
  readAvatarCache,
  renderAvatar,
  renderAvatars,
  splitSeeds,
  withAttribute,
  attributeVariants,
} from '../../src/data/avatars.ts';
import { loadDataset, prepareDataset } from '../../src/data/datasets.ts';

const cache = mkdtempSync(path.join(os.tmpdir(), 'glow-avatars-'));
process.env.GLOW_CACHE_DIR = cache;
t.teardown(() => rmSync(cache, { recursive: true, force: true }));

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
const changedFields = (a: AvatarOptions, b: AvatarOptions) => (Object.keys(a) as (keyof AvatarOptions)[]).filter((k) => a[k] !== b[k]);

t.before(() => initRenderer());

t.test('the same seed gives the same options and pixels; other seeds other faces', async (t) => {
  t.same(avatarOptions(42), avatarOptions(42));
  const a = renderAvatar(avatarOptions(42));
  const b = renderAvatar(avatarOptions(42));
  t.equal(a.length, 32 * 32 * 3);
  t.ok(equal(a, b), 'identical pixels');
  t.notOk(equal(a, renderAvatar(avatarOptions(43))), 'seed 43 is another face');
  // Not a blank canvas: plenty of distinct colours.
  t.ok(new Set(Array.from({ length: 1024 }, (_, i) => (a[3 * i] << 16) | (a[3 * i + 1] << 8) | a[3 * i + 2])).size > 20);
  const big = renderAvatar(avatarOptions(42), 64);
  t.equal(big.length, 64 * 64 * 3, '64×64 works too');
  // Pinned: a change to sampling or rendering must bump AVATARS_VERSION (the cache key), so fail loudly here.
  t.same(avatarOptions(0), {
    background: 'b6e3f4',
    skin: 'd08b5b',
    hair: 'longButNotTooLong',
    hairColour: '724133',
    hat: null,
    hatColour: 'a7ffc4',
    mouth: 'smile',
    eyes: 'squint',
    eyebrows: 'unibrowNatural',
    glasses: null,
    glassesColour: '262e33',
    beard: 'beardMajestic',
    beardColour: '2c1b18',
    clothing: 'blazerAndShirt',
    clothesColour: '262e33',
    graphic: 'resist',
  });
  t.throws(() => avatarOptions(-1));
  t.throws(() => avatarOptions(1.5));
});

t.test('labels follow the options, and the rates are about as configured', async (t) => {
  const n = 2000;
  const counts = new Array(ATTRIBUTES.length).fill(0);
  for (let s = 0; s < n; s++) {
    const o = avatarOptions(s);
    const l = avatarLabels(o);
    const expected = [
      (SMILING_MOUTHS as readonly string[]).includes(o.mouth),
      o.glasses !== null && (GLASSES as readonly string[]).includes(o.glasses),
      o.beard !== null,
      o.hat !== null && (HATS as readonly string[]).includes(o.hat),
      (BLOND_COLOURS as readonly string[]).includes(o.hairColour),
      (LONG_HAIR as readonly string[]).includes(o.hair),
    ].map(Number);
    if (l.join() !== expected.join()) {
      t.fail(`seed ${s}: labels ${l.join()} but options say ${expected.join()}`);
      return;
    }
    l.forEach((v, k) => (counts[k] += v));
  }
  ATTRIBUTES.forEach((a, k) => t.ok(Math.abs(counts[k] / n - a.rate) < 0.04, `${a.name}: ${counts[k] / n} ≈ ${a.rate}`));
  t.same(ATTRIBUTE_NAMES, ['smiling', 'eyeglasses', 'beard', 'hat', 'blond-hair', 'long-hair']);
});

t.test('a flipped face differs in that label only, and in one option', async (t) => {
  for (let s = 0; s < 40; s++) {
    const o = avatarOptions(s);
    const before = avatarLabels(o);
    for (const [k, name] of ATTRIBUTE_NAMES.entries()) {
      const f = withAttribute(o, name, !hasAttribute(o, name), s);
      const after = avatarLabels(f);
      const diff = [...after.keys()].filter((j) => after[j] !== before[j]);
      t.same(diff, [k], `seed ${s} ${name}: only column ${k} changes`);
      t.equal(changedFields(o, f).length, 1, `seed ${s} ${name}: one option changes (${changedFields(o, f)})`);
      t.same(withAttribute(o, name, !hasAttribute(o, name), s), f, 'deterministic');
      t.same(withAttribute(o, name, hasAttribute(o, name), s), o, 'asking for what it has changes nothing');
    }
  }
});

t.test('ground-truth pairs: without/with the attribute, visibly different, all else equal', async (t) => {
  const hat = ATTRIBUTE_NAMES.indexOf('hat');
  for (let s = 100; s < 112; s++)
    for (const [k, a] of ATTRIBUTES.entries()) {
      const p = attributePair(s, a.name);
      const lw = avatarLabels(p.without);
      const lb = avatarLabels(p.with);
      t.equal(lw[k], 0);
      t.equal(lb[k], 1);
      t.same([...lw.keys()].filter((j) => lw[j] !== lb[j]), [k], `seed ${s} ${a.name}: the pair differs in that label only`);
      if (a.hiddenByHat) t.equal(lw[hat], 0, 'hair attributes are shown without a hat');
      const [A, B] = [renderAvatar(p.without), renderAvatar(p.with)];
      t.notOk(equal(A, B), `seed ${s} ${a.name}: the images differ`);
    }
  // A face that already has the attribute is B as it is.
  const s = [...Array(50).keys()].find((i) => hasAttribute(avatarOptions(i), 'smiling') && !hasAttribute(avatarOptions(i), 'hat'))!;
  t.same(attributePair(s, 'smiling').with, avatarOptions(s));
});

t.test('variants: every style of the attribute on the same face, the twin among them', async (t) => {
  for (let s = 200; s < 220; s++)
    for (const name of ATTRIBUTE_NAMES) {
      const p = attributePair(s, name);
      const variants = attributeVariants(p.with, name);
      // One smile, one pair of glasses, one beard (a single ground truth); several hats, hair colours and lengths.
      t.ok(variants.length >= (['smiling', 'eyeglasses', 'beard'].includes(name) ? 1 : 2), `${name}: ${variants.length} styles`);
      for (const v of variants) {
        t.ok(hasAttribute(v, name), `seed ${s} ${name}: every variant has it`);
        t.ok(changedFields(p.with, v).length <= 1, `seed ${s} ${name}: a variant changes one option at most`);
      }
      t.equal(variants.filter((v) => changedFields(p.with, v).length === 0).length, 1, `seed ${s} ${name}: the twin is one of them`);
      t.equal(new Set(variants.map((v) => JSON.stringify(v))).size, variants.length, 'all different');
    }
});

t.test('splits are disjoint seed ranges', async (t) => {
  const ranges = Object.entries(SPLITS).map(([name, s]) => ({ name, lo: s.start, hi: s.start + s.max }));
  for (const a of ranges) for (const b of ranges) if (a !== b) t.ok(a.hi <= b.lo || b.hi <= a.lo, `${a.name} and ${b.name} do not overlap`);
  const train = new Set(splitSeeds('train', 5000));
  for (const split of ['validation', 'test'] as const) {
    const seeds = splitSeeds(split);
    t.equal(seeds.length, SPLITS[split].count);
    t.ok(seeds.every((s) => !train.has(s)), `${split} shares no seed with train`);
  }
  t.throws(() => splitSeeds('train', 0));
  t.throws(() => splitSeeds('validation', SPLITS.validation.max + 1), 'a split cannot grow into the next');
});

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
    t.equal(ds.labels[i], l.reduce((m, v, k) => m | (v << k), 0), `image ${i}: labels is the bit mask`);
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
