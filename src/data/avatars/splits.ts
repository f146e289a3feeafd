// The splits: disjoint seed ranges, so no face of one split is in another, and a split in memory.

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

/** A generated split in memory. */
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
