// What a face has: its label per attribute, read off its options, and the same face with one
// attribute switched on or off and everything else unchanged: ground truth for latent-space
// manipulation (scripts/eval-attributes.ts).
import { uniformGenerator } from '../../glow/random.ts';
import { ATTRIBUTES, ATTRIBUTE_NAMES, attributeIndex } from './attributes.ts';
import {
  type AvatarOptions,
  BEARDS,
  BLOND_COLOURS,
  DARK_COLOURS,
  GLASSES,
  HATS,
  LONG_HAIR,
  NEUTRAL_MOUTHS,
  SHORT_HAIR,
  SMILING_MOUTHS,
  avatarOptions,
  chooser,
  mix,
} from './options.ts';

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
const CARRIERS: Record<
  string,
  { key: 'mouth' | 'glasses' | 'beard' | 'hat' | 'hairColour' | 'hair'; on: readonly string[]; off: readonly (string | null)[] }
> = {
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
