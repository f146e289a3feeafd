// The face of a seed: the avataaars style's option enums, restricted to values with an unambiguous
// label, and the seeded draw that picks one value of each. The same seed gives the same face on every
// machine, and every choice is explicit, so DiceBear's own PRNG decides nothing (render.ts). A change to
// what a seed draws must bump AVATARS_VERSION (cache.ts), or old cache files would pass for new ones.
import { uniformGenerator } from '../../glow/random.ts';
import { ATTRIBUTES, attributeIndex } from './attributes.ts';

const BACKGROUNDS = ['b6e3f4', 'c0aede', 'd1d4f9', 'ffd5dc', 'ffdfbf'];
/** The style's five natural skin tones (its yellow and orange are left out). */
const SKINS = ['614335', 'd08b5b', 'ae5d29', 'edb98a', 'ffdbb4'];
/** Shoulder length or longer. */
export const LONG_HAIR = [
  'bigHair',
  'curvy',
  'dreads',
  'longButNotTooLong',
  'miaWallace',
  'straight01',
  'straight02',
  'straightAndStrand',
] as const;
/** Above the ears. In-between styles (bob, bun, curly, frida, fro, froBand, shavedSides, shaggyMullet) are never drawn. */
export const SHORT_HAIR = [
  'dreads01',
  'dreads02',
  'frizzle',
  'shaggy',
  'shortCurly',
  'shortFlat',
  'shortRound',
  'shortWaved',
  'sides',
  'theCaesar',
  'theCaesarAndSidePart',
] as const;
/** "top" values that cover the hair completely. */
export const HATS = ['hat', 'hijab', 'turban', 'winterHat1', 'winterHat02', 'winterHat03', 'winterHat04'] as const;
/** Blond and platinum; light brown (b58143), pink, red and grey are never drawn. */
export const BLOND_COLOURS = ['d6b370', 'ecdcbf'] as const;
export const DARK_COLOURS = ['2c1b18', '4a312c', '724133', 'a55728'] as const;
const HAT_COLOURS = [
  '262e33',
  '65c9ff',
  '5199e4',
  '25557c',
  'e6e6e6',
  '929598',
  '3c4f5c',
  'b1e2ff',
  'a7ffc4',
  'ffdeb5',
  'ffafb9',
  'ffffb1',
  'ff488e',
  'ff5c5c',
  'ffffff',
];
/**
 * The open smile only, as the issue names it. Version 1 also had the closed smile "twinkle": then "the same
 * face smiling" was one of two mouths at random, and no edit could expect a ratio under 0.777 (styleFloor).
 */
export const SMILING_MOUTHS = ['smile'] as const;
/** Straight line, sad, concerned. The other mouths (the faint "default" smile, twinkle, eating, tongue, vomit, …) are never drawn. */
export const NEUTRAL_MOUTHS = ['serious', 'sad', 'concerned'] as const;
const EYES = ['closed', 'default', 'eyeRoll', 'happy', 'side', 'squint', 'surprised', 'wink', 'winkWacky'] as const;
const EYEBROWS = [
  'angryNatural',
  'defaultNatural',
  'flatNatural',
  'frownNatural',
  'raisedExcitedNatural',
  'sadConcernedNatural',
  'unibrowNatural',
  'upDownNatural',
  'angry',
  'default',
  'raisedExcited',
  'sadConcerned',
  'upDown',
] as const;
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
const CLOTHING = [
  'blazerAndShirt',
  'blazerAndSweater',
  'collarAndSweater',
  'graphicShirt',
  'hoodie',
  'overall',
  'shirtCrewNeck',
  'shirtScoopNeck',
  'shirtVNeck',
] as const;
const CLOTHES_COLOURS = [
  '262e33',
  '65c9ff',
  '5199e4',
  '25557c',
  'e6e6e6',
  '929598',
  '3c4f5c',
  'b1e2ff',
  'a7ffc4',
  'ffafb9',
  'ffffb1',
  'ff488e',
  'ff5c5c',
  'ffffff',
];
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

/** A 32-bit mix of (seed, stream) so that neighbouring seeds give unrelated PRNG streams (stream 0: the face; 1 + k: its flip of attribute k, labels.ts). */
export function mix(seed: number, stream: number): number {
  let h = Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(stream + 0x632be5ab, 0x85ebca6b);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}

/** Choices drawn from one PRNG stream. */
export function chooser(rand: () => number) {
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
