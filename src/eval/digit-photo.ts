// An MNIST digit rendered the way a person's photo or scan of a handwritten digit shows it: dark
// ink on light grey paper, upscaled into a larger frame with margins, off-centre, with a light
// gradient across the paper, a little blur and sensor noise, saved as JPEG or PNG. What fitting
// (src/images/fit.ts) is measured against: the fitted photo should come back close to the digit.
import sharp from 'sharp';
import { normalGenerator, uniformGenerator } from '../glow/random.ts';

export interface DigitPhoto {
  /** The encoded file (JPEG or PNG). */
  bytes: Buffer;
  width: number;
  height: number;
  /** Where the 28×28 digit frame was drawn, in the photo's pixels. */
  frame: { left: number; top: number; size: number };
}

/**
 * Renders one 28×28 white-on-black digit as a photo. Every choice (size, position, paper,
 * ink, light, blur, noise, format) is drawn from `seed`, so the same seed gives the same file.
 */
export async function digitPhoto(digit: Uint8Array, seed: number): Promise<DigitPhoto> {
  const rand = uniformGenerator(seed);
  const noise = normalGenerator(seed ^ 0x5eed);
  const between = (a: number, b: number) => a + (b - a) * rand();
  // The digit frame at 4–12× (a phone photo of a small drawing to a scan of a large one).
  const size = Math.round(28 * between(4, 12));
  const width = Math.round(size * between(1.2, 2));
  const height = Math.round(size * between(1.2, 2));
  const left = Math.round(between(0, width - size));
  const top = Math.round(between(0, height - size));
  // Bicubic upscaling: smooth stroke edges, as a pen's are.
  const ink = await sharp(Buffer.from(digit), { raw: { width: 28, height: 28, channels: 1 } })
    .resize(size, size, { kernel: 'cubic' })
    .toColourspace('b-w')
    .raw()
    .toBuffer();

  const paper = between(170, 235);
  const inkLevel = between(10, 70);
  // A linear light gradient across the sheet, in a random direction: up to ±30 levels.
  const angle = between(0, 2 * Math.PI);
  const slope = between(10, 30) / Math.max(width, height);
  const [gx, gy] = [Math.cos(angle) * slope, Math.sin(angle) * slope];
  const sigma = between(2, 6);
  const pixels = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const light = paper + gx * (x - width / 2) + gy * (y - height / 2);
      const inside = x >= left && x < left + size && y >= top && y < top + size;
      const a = inside ? ink[(y - top) * size + (x - left)] / 255 : 0;
      pixels[y * width + x] = Math.max(0, Math.min(255, Math.round(light * (1 - a) + inkLevel * a + noise() * sigma)));
    }
  }
  let img = sharp(Buffer.from(pixels), { raw: { width, height, channels: 1 } }).blur(between(0.6, 2));
  // A phone photo is colour even of black ink on white paper.
  img = rand() < 0.5 ? img.toColourspace('srgb').jpeg({ quality: Math.round(between(75, 95)) }) : img.toColourspace('b-w').png();
  return { bytes: await img.toBuffer(), width, height, frame: { left, top, size } };
}
