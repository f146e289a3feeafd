// Rendering: the same options give the same pixels, at 32×32 and 64×64, and other seeds other faces.
import t from 'tap';
import { avatarOptions } from '../../../src/data/avatars/options.ts';
import { initRenderer, renderAvatar } from '../../../src/data/avatars/render.ts';

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

t.before(() => initRenderer());

t.test('the same options give the same pixels; other seeds other faces', async (t) => {
  const a = renderAvatar(avatarOptions(42));
  const b = renderAvatar(avatarOptions(42));
  t.equal(a.length, 32 * 32 * 3);
  t.ok(equal(a, b), 'identical pixels');
  t.notOk(equal(a, renderAvatar(avatarOptions(43))), 'seed 43 is another face');
  // Not a blank canvas: plenty of distinct colours.
  t.ok(new Set(Array.from({ length: 1024 }, (_, i) => (a[3 * i] << 16) | (a[3 * i + 1] << 8) | a[3 * i + 2])).size > 20);
  const big = renderAvatar(avatarOptions(42), 64);
  t.equal(big.length, 64 * 64 * 3, '64×64 works too');
});
