// Labels that follow the options, one-attribute flips, ground-truth pairs and every variant of an attribute.
import t from 'tap';
import { ATTRIBUTES, ATTRIBUTE_NAMES } from '../../../src/data/avatars/attributes.ts';
import { attributePair, attributeVariants, avatarLabels, hasAttribute, withAttribute } from '../../../src/data/avatars/labels.ts';
import {
  BLOND_COLOURS,
  GLASSES,
  HATS,
  LONG_HAIR,
  SMILING_MOUTHS,
  type AvatarOptions,
  avatarOptions,
} from '../../../src/data/avatars/options.ts';
import { initRenderer, renderAvatar } from '../../../src/data/avatars/render.ts';

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
const changedFields = (a: AvatarOptions, b: AvatarOptions) => (Object.keys(a) as (keyof AvatarOptions)[]).filter((k) => a[k] !== b[k]);

t.before(() => initRenderer());

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
      t.same(
        [...lw.keys()].filter((j) => lw[j] !== lb[j]),
        [k],
        `seed ${s} ${a.name}: the pair differs in that label only`,
      );
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
