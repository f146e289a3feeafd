// A labelled face dataset generated on the fly: DiceBear "avataaars" cartoon faces (code MIT,
// artwork by Pablo Stanley, free for personal and commercial use) rasterised in-process by
// resvg (WASM). Every image comes from a seed:
//
//   seed → AvatarOptions (explicit choices from the style's option enums, drawn with a seeded PRNG)
//        → SVG (@dicebear/core with one-element option lists, so DiceBear's own PRNG decides nothing)
//        → size×size RGB, uint8, NHWC (the head cropped out of the 280×280 artwork)
//
// and carries exact labels for six binary attributes (ATTRIBUTES). `withAttribute` gives the same
// face with one attribute switched on or off and everything else unchanged: ground truth for
// latent-space manipulation (scripts/eval-attributes.ts).
//
// Splits are disjoint seed ranges (SPLITS). A generated split is cached on disk, one file per
// split and size, under $GLOW_CACHE_DIR/avatars (default <repo>/.cache/avatars, git-ignored).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createAvatar } from '@dicebear/core';
import * as avataaars from '@dicebear/avataaars';
import { Resvg, initWasm } from '@resvg/resvg-wasm';
import { uniformGenerator } from '../glow/random.ts';

const require = createRequire(import.meta.url);
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Bump when the option sampling, the crop or the file layout changes: old cache files are then ignored. */
export const AVATARS_VERSION = 3; // 2: the one smiling mouth; 3: one pair of glasses, one beard

// ---------------------------------------------------------------------------------------------
// Options: the style's enums, restricted to values with an unambiguous label.

const BACKGROUNDS = ['b6e3f4', 'c0aede', 'd1d4f9', 'ffd5dc', 'ffdfbf'];
/** The style's five natural skin tones (its yellow and orange are left out). */
const SKINS = ['614335', 'd08b5b', 'ae5d29', 'edb98a', 'ffdbb4'];
/** Shoulder length or longer. */
export const LONG_HAIR = ['bigHair', 'curvy', 'dreads', 'longButNotTooLong', 'miaWallace', 'straight01', 'straight02', 'straightAndStrand'] as const;
/** Above the ears. In-between styles (bob, bun, curly, frida, fro, froBand, shavedSides, shaggyMullet) are never drawn. */
export const SHORT_HAIR = ['dreads01', 'dreads02', 'frizzle', 'shaggy', 'shortCurly', 'shortFlat', 'shortRound', 'shortWaved', 'sides', 'theCaesar', 'theCaesarAndSidePart'] as const;
/** "top" values that cover the hair completely. */
export const HATS = ['hat', 'hijab', 'turban', 'winterHat1', 'winterHat02', 'winterHat03', 'winterHat04'] as const;
/** Blond and platinum; light brown (b58143), pink, red and grey are never drawn. */
export const BLOND_COLOURS = ['d6b370', 'ecdcbf'] as const;
export const DARK_COLOURS = ['2c1b18', '4a312c', '724133', 'a55728'] as const;
const HAT_COLOURS = ['262e33', '65c9ff', '5199e4', '25557c', 'e6e6e6', '929598', '3c4f5c', 'b1e2ff', 'a7ffc4', 'ffdeb5', 'ffafb9', 'ffffb1', 'ff488e', 'ff5c5c', 'ffffff'];
/**
 * The open smile only, as the issue names it. Version 1 also had the closed smile "twinkle": then "the same
 * face smiling" was one of two mouths at random, and no edit could expect a ratio under 0.777 (styleFloor).
 */
export const SMILING_MOUTHS = ['smile'] as const;
/** Straight line, sad, concerned. The other mouths (the faint "default" smile, twinkle, eating, tongue, vomit, …) are never drawn. */
export const NEUTRAL_MOUTHS = ['serious', 'sad', 'concerned'] as const;
const EYES = ['closed', 'default', 'eyeRoll', 'happy', 'side', 'squint', 'surprised', 'wink', 'winkWacky'] as const;
const EYEBROWS = ['angryNatural', 'defaultNatural', 'flatNatural', 'frownNatural', 'raisedExcitedNatural', 'sadConcernedNatural', 'unibrowNatural', 'upDownNatural', 'angry', 'default', 'raisedExcited', 'sadConcerned', 'upDown'] as const;
/**
 * One pair of glasses in one colour: the large dark "kurt" frames. Version 2 drew one of 6 styles in one of 6
 * colours, so "the same face with glasses" was one of 36 at random and no edit could expect a ratio under
 * 0.585 (styleFloor); as the smile in version 2, one value makes the ground truth a single image.
 */
export const GLASSES = ['kurt'] as const;
const GLASSES_COLOURS = ['262e33'];
/** One full dark-brown beard, for the same reason (version 2: 3 styles × 6 colours, floor 0.340). Moustaches are a few pixels at 32×32. */
export const BEARDS = ['beardMajestic'] as const;
const BEARD_COLOURS = ['2c1b18'];
const CLOTHING = ['blazerAndShirt', 'blazerAndSweater', 'collarAndSweater', 'graphicShirt', 'hoodie', 'overall', 'shirtCrewNeck', 'shirtScoopNeck', 'shirtVNeck'] as const;
const CLOTHES_COLOURS = ['262e33', '65c9ff', '5199e4', '25557c', 'e6e6e6', '929598', '3c4f5c', 'b1e2ff', 'a7ffc4', 'ffafb9', 'ffffb1', 'ff488e', 'ff5c5c', 'ffffff'];
const GRAPHICS = ['bat', 'bear', 'cumbia', 'deer', 'diamond', 'hola', 'pizza', 'resist', 'skull', 'skullOutline'] as const;

/** Everything that decides one face. `hair` and `hairColour` exist under a hat too (hidden by it). */
export interface AvatarOptions {
  background: string;
  skin: string;
  hair: string;
  hairColour: string;
  hat: string | null;
  hatColour: string;
  mouth: string;
  eyes: string;
  eyebrows: string;
  glasses: string | null;
  glassesColour: string;
  beard: string | null;
  beardColour: string;
  clothing: string;
  clothesColour: string;
  graphic: string;
}

export interface AttributeInfo {
  name: string;
  description: string;
  /** Probability of the attribute in the generated data. */
  rate: number;
  /** A hat covers the hair: the label still says what is underneath, but nothing of it shows. */
  hiddenByHat: boolean;
}

/** The labelled attributes, in label-column order. */
export const ATTRIBUTES: readonly AttributeInfo[] = [
  { name: 'smiling', description: 'mouth smile (vs serious, sad, concerned)', rate: 0.5, hiddenByHat: false },
  { name: 'eyeglasses', description: 'dark-framed glasses', rate: 0.3, hiddenByHat: false },
  { name: 'beard', description: 'a full beard', rate: 0.3, hiddenByHat: false },
  { name: 'hat', description: 'hat, hijab, turban or winter hat (covers the hair)', rate: 0.2, hiddenByHat: false },
  { name: 'blond-hair', description: 'blond or platinum hair (vs black, dark brown, brown, auburn)', rate: 0.4, hiddenByHat: true },
  { name: 'long-hair', description: 'shoulder-length or longer hair (vs short styles)', rate: 0.45, hiddenByHat: true },
];
export const ATTRIBUTE_NAMES: readonly string[] = ATTRIBUTES.map((a) => a.name);

function attributeIndex(name: string): number {
  const i = ATTRIBUTE_NAMES.indexOf(name);
  if (i < 0) throw new Error(`unknown avatar attribute "${name}" (known: ${ATTRIBUTE_NAMES.join(', ')})`);
  return i;
}

/** A 32-bit mix of (seed, stream) so that neighbouring seeds give unrelated PRNG streams. */
function mix(seed: number, stream: number): number {
  let h = Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(stream + 0x632be5ab, 0x85ebca6b);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}

function chooser(rand: () => number) {
  return {
    /** Always consumes exactly one draw, so later draws do not depend on earlier outcomes. */
    pick: <T>(values: readonly T[]): T => values[Math.min(values.length - 1, Math.floor(rand() * values.length))],
    bool: (p: number): boolean => rand() < p,
  };
}

/** The face of a seed. The same seed gives the same options on every machine. */
export function avatarOptions(seed: number): AvatarOptions {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`avatar seed must be a uint32, not ${seed}`);
  const { pick, bool } = chooser(uniformGenerator(mix(seed, 0)));
  const rate = (name: string) => ATTRIBUTES[attributeIndex(name)].rate;
  // One draw per decision and per pick, in a fixed order.
  const background = pick(BACKGROUNDS);
  const skin = pick(SKINS);
  const long = bool(rate('long-hair'));
  const longStyle = pick(LONG_HAIR);
  const shortStyle = pick(SHORT_HAIR);
  const blond = bool(rate('blond-hair'));
  const blondColour = pick(BLOND_COLOURS);
  const darkColour = pick(DARK_COLOURS);
  const hat = bool(rate('hat'));
  const hatType = pick(HATS);
  const hatColour = pick(HAT_COLOURS);
  const smiling = bool(rate('smiling'));
  const smile = pick(SMILING_MOUTHS);
  const neutral = pick(NEUTRAL_MOUTHS);
  const eyes = pick(EYES);
  const eyebrows = pick(EYEBROWS);
  const glasses = bool(rate('eyeglasses'));
  const glassesType = pick(GLASSES);
  const glassesColour = pick(GLASSES_COLOURS);
  const beard = bool(rate('beard'));
  const beardType = pick(BEARDS);
  // One colour whatever the hair's, so that "blond-hair" is about the hair alone.
  const beardColour = pick(BEARD_COLOURS);
  const clothing = pick(CLOTHING);
  const clothesColour = pick(CLOTHES_COLOURS);
  const graphic = pick(GRAPHICS);
  return {
    background,
    skin,
    hair: long ? longStyle : shortStyle,
    hairColour: blond ? blondColour : darkColour,
    hat: hat ? hatType : null,
    hatColour,
    mouth: smiling ? smile : neutral,
    eyes,
    eyebrows,
    glasses: glasses ? glassesType : null,
    glassesColour,
    beard: beard ? beardType : null,
    beardColour,
    clothing,
    clothesColour,
    graphic,
  };
}

const has = (list: readonly string[], v: string | null) => v !== null && list.includes(v);

/** Whether a face has an attribute (the label of that column). */
export function hasAttribute(o: AvatarOptions, name: string): boolean {
  switch (name) {
    case 'smiling':
      return has(SMILING_MOUTHS, o.mouth);
    case 'eyeglasses':
      return o.glasses !== null;
    case 'beard':
      return o.beard !== null;
    case 'hat':
      return o.hat !== null;
    case 'blond-hair':
      return has(BLOND_COLOURS, o.hairColour);
    case 'long-hair':
      return has(LONG_HAIR, o.hair);
    default:
      throw new Error(`unknown avatar attribute "${name}" (known: ${ATTRIBUTE_NAMES.join(', ')})`);
  }
}

/** One 0/1 label per attribute, in ATTRIBUTES order. */
export function avatarLabels(o: AvatarOptions): Uint8Array {
  return Uint8Array.from(ATTRIBUTE_NAMES, (n) => (hasAttribute(o, n) ? 1 : 0));
}

/** The option that carries each attribute, and its values with the attribute and without (null: not drawn). */
const CARRIERS: Record<string, { key: 'mouth' | 'glasses' | 'beard' | 'hat' | 'hairColour' | 'hair'; on: readonly string[]; off: readonly (string | null)[] }> = {
  smiling: { key: 'mouth', on: SMILING_MOUTHS, off: NEUTRAL_MOUTHS },
  eyeglasses: { key: 'glasses', on: GLASSES, off: [null] },
  beard: { key: 'beard', on: BEARDS, off: [null] },
  hat: { key: 'hat', on: HATS, off: [null] },
  'blond-hair': { key: 'hairColour', on: BLOND_COLOURS, off: DARK_COLOURS },
  'long-hair': { key: 'hair', on: LONG_HAIR, off: SHORT_HAIR },
};

function carrier(name: string) {
  const c = CARRIERS[name];
  if (!c) throw new Error(`unknown avatar attribute "${name}"`);
  return c;
}

/**
 * The same face with the attribute switched on or off: only the one option that carries it changes.
 * When it must change, the new value (which smile, which glasses…) is drawn from a PRNG of (seed,
 * attribute), so the flipped face is deterministic too. Already as asked: the options unchanged.
 */
export function withAttribute(o: AvatarOptions, name: string, on: boolean, seed: number): AvatarOptions {
  const c = carrier(name);
  if (hasAttribute(o, name) === on) return { ...o };
  const { pick } = chooser(uniformGenerator(mix(seed, 1 + attributeIndex(name))));
  return { ...o, [c.key]: pick(on ? c.on : c.off) };
}

/** Every way the face can have the attribute: one face per value that carries it (every smile, every pair of glasses…). */
export function attributeVariants(o: AvatarOptions, name: string): AvatarOptions[] {
  const c = carrier(name);
  return c.on.map((v) => ({ ...o, [c.key]: v }));
}

/**
 * A ground-truth pair for an attribute: the face of `seed` without it and with it, all else equal.
 * For attributes a hat would hide (hair colour, hair length) both faces are drawn without a hat.
 */
export function attributePair(seed: number, name: string): { without: AvatarOptions; with: AvatarOptions } {
  let o = avatarOptions(seed);
  if (ATTRIBUTES[attributeIndex(name)].hiddenByHat) o = withAttribute(o, 'hat', false, seed);
  return { without: withAttribute(o, name, false, seed), with: withAttribute(o, name, true, seed) };
}

// ---------------------------------------------------------------------------------------------
// Rendering

/** The head and shoulders out of the style's 280×280 canvas: hats and long hair still fit. */
const CROP = '40 20 200 200';

export function avatarSvg(o: AvatarOptions): string {
  const svg = createAvatar(avataaars, {
    seed: '',
    backgroundColor: [o.background],
    backgroundType: ['solid'],
    style: ['default'],
    base: ['default'],
    nose: ['default'],
    skinColor: [o.skin],
    top: [(o.hat ?? o.hair) as never],
    topProbability: 100,
    hairColor: [o.hairColour],
    hatColor: [o.hatColour],
    mouth: [o.mouth as never],
    eyes: [o.eyes as never],
    eyebrows: [o.eyebrows as never],
    accessories: o.glasses ? [o.glasses as never] : [],
    accessoriesProbability: o.glasses ? 100 : 0,
    accessoriesColor: [o.glassesColour],
    facialHair: o.beard ? [o.beard as never] : [],
    facialHairProbability: o.beard ? 100 : 0,
    facialHairColor: [o.beardColour],
    clothing: [o.clothing as never],
    clothesColor: [o.clothesColour],
    clothingGraphic: [o.graphic as never],
  }).toString();
  const cropped = svg.replace('viewBox="0 0 280 280"', `viewBox="${CROP}"`);
  if (cropped === svg) throw new Error('unexpected avataaars SVG: no 280×280 viewBox to crop');
  return cropped;
}

let wasmReady: Promise<void> | undefined;

/** Loads resvg's WASM (once per process). Every render function needs it first. */
export function initRenderer(): Promise<void> {
  wasmReady ??= initWasm(readFileSync(require.resolve('@resvg/resvg-wasm/index_bg.wasm')));
  return wasmReady;
}

/** size×size×3 uint8 RGB of a face; call (and await) initRenderer() once before. */
export function renderAvatar(o: AvatarOptions, size = 32): Uint8Array {
  const resvg = new Resvg(avatarSvg(o), { fitTo: { mode: 'width', value: size }, font: { loadSystemFonts: false } });
  const img = resvg.render();
  try {
    if (img.width !== size || img.height !== size) throw new Error(`resvg rendered ${img.width}×${img.height}, expected ${size}×${size}`);
    const rgba = img.pixels;
    const out = new Uint8Array(size * size * 3);
    // The background is opaque, so alpha is 255 everywhere and RGB needs no compositing.
    for (let i = 0, j = 0; j < out.length; i += 4, j += 3) {
      out[j] = rgba[i];
      out[j + 1] = rgba[i + 1];
      out[j + 2] = rgba[i + 2];
    }
    return out;
  } finally {
    img.free();
    resvg.free();
  }
}

/** Renders faces into one NHWC buffer. */
export async function renderAvatars(options: AvatarOptions[], size = 32): Promise<Uint8Array> {
  await initRenderer();
  const n = size * size * 3;
  const out = new Uint8Array(options.length * n);
  options.forEach((o, i) => out.set(renderAvatar(o, size), i * n));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Splits and the disk cache

export type AvatarSplit = 'train' | 'validation' | 'test';

/** Disjoint seed ranges; `count` is the default size (GLOW_AVATARS_TRAIN etc. override it). */
export const SPLITS: Record<AvatarSplit, { start: number; count: number; max: number }> = {
  train: { start: 0, count: 50_000, max: 1_000_000 },
  validation: { start: 1_000_000, count: 5_000, max: 1_000_000 },
  test: { start: 2_000_000, count: 5_000, max: 1_000_000 },
};

/** Seeds of the first `count` images of a split. */
export function splitSeeds(split: AvatarSplit, count = defaultCount(split)): Uint32Array {
  const s = SPLITS[split];
  if (!s) throw new Error(`unknown split "${split}" (train, validation, test)`);
  if (!Number.isInteger(count) || count < 1 || count > s.max) throw new Error(`${split}: count must be 1..${s.max}, not ${count}`);
  return Uint32Array.from({ length: count }, (_, i) => s.start + i);
}

export function defaultCount(split: AvatarSplit): number {
  const env = process.env[`GLOW_AVATARS_${split.toUpperCase()}`];
  return env ? Number(env) : SPLITS[split].count;
}

export function cacheDir(): string {
  return path.join(path.resolve(process.env.GLOW_CACHE_DIR || path.join(REPO_ROOT, '.cache')), 'avatars');
}

export interface AvatarSet {
  split: AvatarSplit;
  size: number;
  seeds: Uint32Array;
  /** NHWC uint8 RGB, image after image. */
  images: Uint8Array;
  /** [count × ATTRIBUTES.length] 0/1, row-major. */
  labels: Uint8Array;
  attributeNames: string[];
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
  return { version: AVATARS_VERSION, split, size, seedStart: SPLITS[split].start, count, attributes: [...ATTRIBUTE_NAMES], packages: packageVersions() };
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

export interface GenerateOptions {
  size?: number;
  count?: number;
  dir?: string;
  /** Progress bar on stderr; default: when stderr is a terminal. */
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
  const bar = new ProgressBar(`avatars ${split} ${size}px`, count, opts.progress ?? process.stderr.isTTY === true);
  for (let i = 0; i < count; i++) {
    const o = avatarOptions(seeds[i]);
    images.set(renderAvatar(o, size), i * px);
    labels.set(avatarLabels(o), i * ATTRIBUTES.length);
    if ((i & 63) === 63) bar.update(i + 1);
  }
  bar.done();
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
  mkdirSync(dir, { recursive: true });
  const file = cacheFile(split, size, count, dir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, encodeCache(expectedHeader(split, size, count), set));
  renameSync(tmp, file);
  log(`generated ${count} avatars in ${seconds.toFixed(1)} s (${(count / seconds).toFixed(0)} images/s): ${file}`);
  return set;
}

/**
 * Synchronous form for loadDataset: reads the cache, or (cache miss) runs prepareAvatars in a child
 * process (resvg's WASM only initialises asynchronously) and then reads it. Its progress bar goes to stderr.
 */
export function loadAvatarsSync(split: AvatarSplit, opts: { size?: number; count?: number; dir?: string } = {}): AvatarSet {
  const size = opts.size ?? 32;
  const count = opts.count ?? defaultCount(split);
  const dir = opts.dir ?? cacheDir();
  const cached = readAvatarCache(split, size, count, dir);
  if (cached) return cached;
  const self = fileURLToPath(import.meta.url);
  const code = `const m = await import(${JSON.stringify(pathToFileURL(self).href)}); await m.prepareAvatars(${JSON.stringify(split)}, ${JSON.stringify({ size, count, dir })});`;
  execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  const made = readAvatarCache(split, size, count, dir);
  if (!made) throw new Error(`generating the avatars ${split} split did not leave a readable ${cacheFile(split, size, count, dir)}`);
  return made;
}

/** A one-line progress bar on stderr; a start and an end line only when not on a terminal. */
class ProgressBar {
  private readonly started = performance.now();
  private last = 0;
  constructor(
    readonly label: string,
    readonly total: number,
    readonly tty: boolean,
  ) {}

  update(done: number): void {
    if (!this.tty) return;
    const now = performance.now();
    if (now - this.last < 100 && done < this.total) return;
    this.last = now;
    const width = 30;
    const filled = Math.round((done / this.total) * width);
    const rate = done / ((now - this.started) / 1000);
    const eta = (this.total - done) / (rate || 1);
    process.stderr.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total}  ${rate.toFixed(0)} img/s  ETA ${eta.toFixed(0)} s   `);
  }

  done(): void {
    if (!this.tty) return;
    this.update(this.total);
    process.stderr.write('\n');
  }
}
