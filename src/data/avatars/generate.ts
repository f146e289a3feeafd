// Generating a split: every face of its seeds rendered and labelled, with a progress line on
// stderr, then written to the disk cache. loadDataset is synchronous and resvg's WASM only initialises
// asynchronously, so loadAvatarsSync generates a missing split in a child process.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Progress } from '../../progress.ts';
import { ATTRIBUTES, ATTRIBUTE_NAMES } from './attributes.ts';
import { cacheDir, cacheFile, readAvatarCache, writeAvatarCache } from './cache.ts';
import { avatarLabels } from './labels.ts';
import { avatarOptions } from './options.ts';
import { initRenderer, renderAvatar } from './render.ts';
import { type AvatarSet, type AvatarSplit, defaultCount, splitSeeds } from './splits.ts';

/** The repository, where the child process finds tsx (this file is src/data/avatars/generate.ts). */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface GenerateOptions {
  size?: number;
  count?: number;
  dir?: string;
  /** Progress line on stderr; default: when stderr is a terminal. */
  progress?: boolean;
  log?: (msg: string) => void;
}

/** Renders a whole split (no cache involved). */
export async function generateAvatarSet(split: AvatarSplit, opts: GenerateOptions = {}): Promise<AvatarSet> {
  const size = opts.size ?? 32;
  const seeds = splitSeeds(split, opts.count ?? defaultCount(split));
  const count = seeds.length;
  await initRenderer();
  const px = size * size * 3;
  const images = new Uint8Array(count * px);
  const labels = new Uint8Array(count * ATTRIBUTES.length);
  const progress = new Progress(opts.progress ?? process.stderr.isTTY === true, process.stderr, 100);
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const o = avatarOptions(seeds[i]);
    images.set(renderAvatar(o, size), i * px);
    labels.set(avatarLabels(o), i * ATTRIBUTES.length);
    if ((i & 63) === 63) progress.show(progressLine(`avatars ${split} ${size}px`, i + 1, count, started), i + 1 === count);
  }
  progress.show(progressLine(`avatars ${split} ${size}px`, count, count, started), true);
  progress.clear();
  return { split, size, seeds, images, labels, attributeNames: [...ATTRIBUTE_NAMES] };
}

/** The cached split, generated and written first if needed. */
export async function prepareAvatars(split: AvatarSplit, opts: GenerateOptions = {}): Promise<AvatarSet> {
  const size = opts.size ?? 32;
  const count = opts.count ?? defaultCount(split);
  const dir = opts.dir ?? cacheDir();
  const cached = readAvatarCache(split, size, count, dir);
  if (cached) return cached;
  const log = opts.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const started = performance.now();
  log(`generating ${count} avatars (${split}, ${size}×${size}) into ${dir}…`);
  const set = await generateAvatarSet(split, { ...opts, size, count });
  const seconds = (performance.now() - started) / 1000;
  const file = writeAvatarCache(set, dir);
  log(`generated ${count} avatars in ${seconds.toFixed(1)} s (${(count / seconds).toFixed(0)} images/s): ${file}`);
  return set;
}

/**
 * Synchronous form for loadDataset: reads the cache, or (cache miss) runs prepareAvatars in a child
 * process (resvg's WASM only initialises asynchronously) and then reads it. Its progress line goes to stderr.
 */
export function loadAvatarsSync(split: AvatarSplit, opts: { size?: number; count?: number; dir?: string } = {}): AvatarSet {
  const size = opts.size ?? 32;
  const count = opts.count ?? defaultCount(split);
  const dir = opts.dir ?? cacheDir();
  const cached = readAvatarCache(split, size, count, dir);
  if (cached) return cached;
  const self = fileURLToPath(import.meta.url);
  const code = `const m = await import(${JSON.stringify(pathToFileURL(self).href)}); await m.prepareAvatars(${JSON.stringify(split)}, ${JSON.stringify({ size, count, dir })});`;
  execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const made = readAvatarCache(split, size, count, dir);
  if (!made) throw new Error(`generating the avatars ${split} split did not leave a readable ${cacheFile(split, size, count, dir)}`);
  return made;
}

/** `label [#####.....] done/total  rate img/s  ETA s`: the generator's progress line. */
function progressLine(label: string, done: number, total: number, started: number): string {
  const width = 30;
  const filled = Math.round((done / total) * width);
  const rate = done / ((performance.now() - started) / 1000);
  const eta = (total - done) / (rate || 1);
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}  ${rate.toFixed(0)} img/s  ETA ${eta.toFixed(0)} s   `;
}
