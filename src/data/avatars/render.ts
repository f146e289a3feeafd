// Rendering: a face's options → SVG (@dicebear/core with one-element option lists) → size×size RGB,
// uint8, NHWC, rasterised in-process by resvg (WASM); the head is cropped out of the 280×280 artwork.
// A change to the pixels must bump AVATARS_VERSION (cache.ts), or old cache files would pass for new ones.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createAvatar } from '@dicebear/core';
import * as avataaars from '@dicebear/avataaars';
import { Resvg, initWasm } from '@resvg/resvg-wasm';
import type { AvatarOptions } from './options.ts';

const require = createRequire(import.meta.url);

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
