// The face of a seed: the same options on every run and machine (pinned), uint32 seeds only.
import t from 'tap';
import { avatarOptions } from '../../../src/data/avatars/options.ts';

t.test('the same seed gives the same options, pinned for seed 0; seeds are uint32', async (t) => {
  t.same(avatarOptions(42), avatarOptions(42));
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
