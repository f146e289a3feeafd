// The avatars datasets: DiceBear "avataaars" cartoon faces (code MIT, artwork by Pablo Stanley, free
// for personal and commercial use), generated from seeds, 32×32 RGB (`avatars`) or 64×64 (`avatars-64`):
//
//   seed → AvatarOptions (options.ts: explicit choices from the style's option enums, drawn with a seeded PRNG)
//        → SVG → size×size RGB, uint8, NHWC (render.ts: the head cropped out of the 280×280 artwork)
//
// Every face carries exact labels for six binary attributes (attributes.ts, labels.ts), and the same
// face with one attribute switched is ground truth for latent-space manipulation. Splits are
// disjoint seed ranges (splits.ts), generated once (generate.ts) and cached on disk (cache.ts).
import type { Dataset, DatasetSource, Split } from '../dataset.ts';
import { ATTRIBUTES } from './attributes.ts';
import { loadAvatarsSync, prepareAvatars } from './generate.ts';
import type { AvatarSplit } from './splits.ts';

function avatarsOfSize(name: string, size: number): DatasetSource {
  return {
    name,
    load: (split) => loadAvatars(name, size, split),
    prepare: async (split) => void (await prepareAvatars(split, { size })),
  };
}

export const avatars = avatarsOfSize('avatars', 32);
export const avatars64 = avatarsOfSize('avatars-64', 64);

function loadAvatars(name: string, size: number, split: Split): Dataset {
  const set = loadAvatarsSync(split as AvatarSplit, { size });
  const nAttr = ATTRIBUTES.length;
  const count = set.seeds.length;
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) for (let k = 0; k < nAttr; k++) labels[i] |= set.labels[i * nAttr + k] << k;
  return {
    name,
    split,
    images: set.images,
    labels,
    count,
    height: size,
    width: size,
    channels: 3,
    attributes: { names: set.attributeNames, labels: set.labels },
    seeds: set.seeds,
  };
}
