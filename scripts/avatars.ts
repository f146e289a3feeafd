// The generated avatars dataset (src/data/avatars/): fill the cache, look at faces, time the generator.
//   npm run avatars -- --prepare train,validation,test [--size 32]   generate and cache splits
//   npm run avatars -- --grid docs/avatars-grid.png [--n 64] [--split train] [--size 32] [--scale 4]
//                      [--without smiling]   the faces A of the evaluation's pairs: without the attribute
//   npm run avatars -- --flips docs/avatars-flips.png [--n 8]        a face, then it with each attribute flipped
//   npm run avatars -- --bench 2000                                   images/s of seed → options → SVG → pixels
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ATTRIBUTE_NAMES } from '../src/data/avatars/attributes.ts';
import { prepareAvatars } from '../src/data/avatars/generate.ts';
import { attributePair, hasAttribute, withAttribute } from '../src/data/avatars/labels.ts';
import { avatarOptions } from '../src/data/avatars/options.ts';
import { initRenderer, renderAvatar } from '../src/data/avatars/render.ts';
import { type AvatarSplit, splitSeeds } from '../src/data/avatars/splits.ts';
import { imagesToPng } from '../src/images/images.ts';

const { values: args } = parseArgs({
  options: {
    prepare: { type: 'string' },
    grid: { type: 'string' },
    flips: { type: 'string' },
    bench: { type: 'string' },
    split: { type: 'string', default: 'train' },
    n: { type: 'string' },
    without: { type: 'string' },
    size: { type: 'string', default: '32' },
    scale: { type: 'string', default: '4' },
  },
});
const size = Number(args.size);
const scale = Number(args.scale);
if (!args.prepare && !args.grid && !args.flips && !args.bench) throw new Error('give --prepare, --grid, --flips or --bench');
await initRenderer();

if (args.prepare) for (const split of args.prepare.split(',') as AvatarSplit[]) await prepareAvatars(split, { size });

if (args.grid) {
  const n = Number(args.n ?? 64);
  const seeds = splitSeeds(args.split as AvatarSplit, n);
  if (args.without !== undefined && !ATTRIBUTE_NAMES.includes(args.without))
    throw new Error(`unknown attribute "${args.without}" (the avatars have ${ATTRIBUTE_NAMES.join(', ')})`);
  const options = (s: number) => (args.without === undefined ? avatarOptions(s) : attributePair(s, args.without).without);
  const images = [...seeds].map((s) => renderAvatar(options(s), size));
  await mkdir(path.dirname(args.grid), { recursive: true });
  await writeFile(
    args.grid,
    await imagesToPng(images, { height: size, width: size, channels: 3 }, { cols: Math.ceil(Math.sqrt(n)), scale, padValue: 255 }),
  );
  console.log(`wrote ${args.grid}: ${n} ${args.split} faces (seeds ${seeds[0]}…${seeds[n - 1]}), ${size}×${size} shown ×${scale}`);
  for (const [i, s] of [...seeds].slice(0, 8).entries())
    console.log(`  #${i} seed ${s}: ${ATTRIBUTE_NAMES.filter((a) => hasAttribute(options(s), a)).join(', ') || '(none)'}`);
}

if (args.flips) {
  // Rows: faces; columns: the face, then the face with each attribute flipped (in ATTRIBUTE_NAMES order).
  const n = Number(args.n ?? 8);
  const seeds = splitSeeds(args.split as AvatarSplit, n);
  const images: Uint8Array[] = [];
  for (const s of seeds) {
    const o = avatarOptions(s);
    images.push(renderAvatar(o, size));
    for (const a of ATTRIBUTE_NAMES) images.push(renderAvatar(withAttribute(o, a, !hasAttribute(o, a), s), size));
  }
  await mkdir(path.dirname(args.flips), { recursive: true });
  await writeFile(
    args.flips,
    await imagesToPng(images, { height: size, width: size, channels: 3 }, { cols: 1 + ATTRIBUTE_NAMES.length, scale, padValue: 255 }),
  );
  console.log(`wrote ${args.flips}: columns original, ${ATTRIBUTE_NAMES.map((a) => `flip ${a}`).join(', ')}`);
}

if (args.bench) {
  const n = Number(args.bench);
  const seeds = splitSeeds('train', n);
  renderAvatar(avatarOptions(0), size); // warm-up
  let t = performance.now();
  const options = [...seeds].map((s) => avatarOptions(s));
  const tOptions = performance.now() - t;
  t = performance.now();
  for (const o of options) renderAvatar(o, size);
  const tRender = performance.now() - t;
  const total = (tOptions + tRender) / 1000;
  console.log(
    `${n} avatars at ${size}×${size}: ${(n / total).toFixed(0)} images/s (${((1000 * total) / n).toFixed(2)} ms each: options ${(tOptions / n).toFixed(3)} ms, SVG + rasterise ${(tRender / n).toFixed(2)} ms), one thread`,
  );
}
