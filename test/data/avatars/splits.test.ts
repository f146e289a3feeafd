// Splits are disjoint seed ranges.
import t from 'tap';
import { SPLITS, splitSeeds } from '../../../src/data/avatars/splits.ts';

t.test('splits are disjoint seed ranges', async (t) => {
  const ranges = Object.entries(SPLITS).map(([name, s]) => ({ name, lo: s.start, hi: s.start + s.max }));
  for (const a of ranges) for (const b of ranges) if (a !== b) t.ok(a.hi <= b.lo || b.hi <= a.lo, `${a.name} and ${b.name} do not overlap`);
  const train = new Set(splitSeeds('train', 5000));
  for (const split of ['validation', 'test'] as const) {
    const seeds = splitSeeds(split);
    t.equal(seeds.length, SPLITS[split].count);
    t.ok(
      seeds.every((s) => !train.has(s)),
      `${split} shares no seed with train`,
    );
  }
  t.throws(() => splitSeeds('train', 0));
  t.throws(() => splitSeeds('validation', SPLITS.validation.max + 1), 'a split cannot grow into the next');
});
