// The disk cache of generated splits: one file per split, size and count under
// $GLOW_CACHE_DIR/avatars (default <repo>/.cache/avatars, git-ignored). A file records what made it
// (the generator's version, the attributes, the drawing packages' versions), and one made by other
// code or packages is ignored rather than read.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ATTRIBUTE_NAMES } from './attributes.ts';
import { type AvatarSet, type AvatarSplit, SPLITS, splitSeeds } from './splits.ts';

const require = createRequire(import.meta.url);
/** The repository (this file is src/data/avatars/cache.ts). */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Bump when the option sampling, the crop or the file layout changes: old cache files are then ignored. */
export const AVATARS_VERSION = 3; // 2: the one smiling mouth; 3: one pair of glasses, one beard

export function cacheDir(): string {
  return path.join(path.resolve(process.env.GLOW_CACHE_DIR || path.join(REPO_ROOT, '.cache')), 'avatars');
}

/** Installed versions of the packages that draw the faces: part of the cache's identity. */
function packageVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['@dicebear/core', '@dicebear/avataaars', '@resvg/resvg-wasm']) {
    let dir = path.dirname(require.resolve(name));
    while (!existsSync(path.join(dir, 'package.json')) || JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).name !== name) {
      const up = path.dirname(dir);
      if (up === dir) throw new Error(`cannot find ${name}'s package.json`);
      dir = up;
    }
    out[name] = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  }
  return out;
}

interface CacheHeader {
  version: number;
  split: AvatarSplit;
  size: number;
  seedStart: number;
  count: number;
  attributes: string[];
  packages: Record<string, string>;
}

const MAGIC = 'GLOWAVT1';

export function cacheFile(split: AvatarSplit, size: number, count: number, dir = cacheDir()): string {
  return path.join(dir, `avatars-v${AVATARS_VERSION}-${size}px-${split}-${SPLITS[split].start}-${count}.bin`);
}

function expectedHeader(split: AvatarSplit, size: number, count: number): CacheHeader {
  return {
    version: AVATARS_VERSION,
    split,
    size,
    seedStart: SPLITS[split].start,
    count,
    attributes: [...ATTRIBUTE_NAMES],
    packages: packageVersions(),
  };
}

/** File layout: magic, uint32 LE header length, JSON header, labels, images. */
function encodeCache(h: CacheHeader, set: AvatarSet): Buffer {
  const json = Buffer.from(JSON.stringify(h));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  return Buffer.concat([Buffer.from(MAGIC), len, json, set.labels, set.images]);
}

/** The cached split, or undefined when there is none (or it was made by other code or packages). */
export function readAvatarCache(split: AvatarSplit, size: number, count: number, dir = cacheDir()): AvatarSet | undefined {
  const file = cacheFile(split, size, count, dir);
  if (!existsSync(file)) return undefined;
  const buf = readFileSync(file);
  if (buf.subarray(0, 8).toString() !== MAGIC) return undefined;
  const len = buf.readUInt32LE(8);
  let header: CacheHeader;
  try {
    header = JSON.parse(buf.subarray(12, 12 + len).toString());
  } catch {
    return undefined;
  }
  if (JSON.stringify(header) !== JSON.stringify(expectedHeader(split, size, count))) return undefined;
  const nAttr = header.attributes.length;
  const labelsStart = 12 + len;
  const imagesStart = labelsStart + count * nAttr;
  if (buf.length !== imagesStart + count * size * size * 3) return undefined;
  // Copies, so the arrays own aligned buffers of exactly their size.
  return {
    split,
    size,
    seeds: splitSeeds(split, count),
    labels: new Uint8Array(buf.subarray(labelsStart, imagesStart)),
    images: new Uint8Array(buf.subarray(imagesStart)),
    attributeNames: header.attributes,
  };
}

/** Writes a generated split where readAvatarCache finds it (whole or not at all); returns the file. */
export function writeAvatarCache(set: AvatarSet, dir = cacheDir()): string {
  const count = set.seeds.length;
  mkdirSync(dir, { recursive: true });
  const file = cacheFile(set.split, set.size, count, dir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, encodeCache(expectedHeader(set.split, set.size, count), set));
  renameSync(tmp, file);
  return file;
}
