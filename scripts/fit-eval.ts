// Measures fitting (src/images/fit.ts) on MNIST test digits rendered as photos (src/eval/digit-photo.ts):
// how close the fitted image is to the digit (mean |difference| in levels of 255) and how far the
// model's bits/dim of it is from the digit's, beside two other treatments of the same photos: none
// (the server's plain resize) and a quick threshold-crop-resize recipe.
//   npm run fit-eval -- --model models/mnist --count 1000 [--first 0] [--worst out.png]
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { loadDataset } from '../src/data/datasets.ts';
import { digitPhoto } from '../src/eval/digit-photo.ts';
import { initBackend } from '../src/backend/backend.ts';
import { loadCheckpoint } from '../src/glow/checkpoint.ts';
import { toModelUnits } from '../src/glow/pixels.ts';
import { fitImage, fitSpecOf } from '../src/images/fit.ts';
import { composeGrid, decodeImage, encodePng } from '../src/images/images.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/mnist' },
    count: { type: 'string', default: '1000' },
    first: { type: 'string', default: '0' },
    worst: { type: 'string' },
  },
});
const count = Number(args.count);
const first = Number(args.first);
const backend = await initBackend(undefined, () => {});
const { glow, manifest } = await loadCheckpoint(args.model!);
const size = { width: glow.config.width, height: glow.config.height, channels: glow.config.channels };
const spec = fitSpecOf(manifest, manifest.dataset, size);
if (spec.method !== 'digit') throw new Error(`${args.model}: its fit step is ${spec.method}; this script measures digit fits`);
const test = loadDataset(manifest.dataset, 'test');
const px = size.width * size.height;

/**
 * A quick recipe for comparison: grey, invert, threshold at 128, crop to the ink's box, resize it
 * into box × box and centre that in the frame: MNIST's geometry, but binary strokes and no centre of mass.
 */
async function quickRecipe(bytes: Buffer, box: number): Promise<Uint8Array> {
  const { data, info } = await sharp(bytes).toColourspace('b-w').negate().threshold(128).raw().toBuffer({ resolveWithObject: true });
  let [x0, y0, x1, y1] = [info.width, info.height, -1, -1];
  for (let y = 0; y < info.height; y++) {
    for (let x = 0; x < info.width; x++) {
      if (data[y * info.width + x] < 128) continue;
      [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  }
  const w = x1 - x0 + 1;
  const h = y1 - y0 + 1;
  const [pw, ph] = [Math.max(1, Math.round((box * w) / Math.max(w, h))), Math.max(1, Math.round((box * h) / Math.max(w, h)))];
  const left = Math.floor((size.width - pw) / 2);
  const top = Math.floor((size.height - ph) / 2);
  const patch = await sharp(data, { raw: { width: info.width, height: info.height, channels: 1 } })
    .extract({ left: x0, top: y0, width: w, height: h })
    .resize(pw, ph, { fit: 'fill' })
    .toColourspace('b-w')
    .raw()
    .toBuffer();
  const out = new Uint8Array(px);
  for (let y = 0; y < ph; y++) out.set(patch.subarray(y * pw, (y + 1) * pw), (top + y) * size.width + left);
  return out;
}

const digits: Uint8Array[] = [];
const treated: Record<'fitted' | 'unfitted' | 'quick', Uint8Array[]> = { fitted: [], unfitted: [], quick: [] };
let fitMs = 0;
for (let k = 0; k < count; k++) {
  const digit = test.images.slice((first + k) * px, (first + k + 1) * px);
  const photo = await digitPhoto(digit, first + k);
  const t0 = performance.now();
  const meta = await sharp(photo.bytes).metadata();
  treated.fitted.push((await fitImage(sharp(photo.bytes), meta.width!, meta.height!, size, spec)).pixels);
  fitMs += performance.now() - t0;
  treated.unfitted.push((await decodeImage(photo.bytes, size, 1e8)).pixels);
  treated.quick.push(await quickRecipe(photo.bytes, spec.box));
  digits.push(digit);
}

async function bpd(images: Uint8Array[]): Promise<number[]> {
  const out: number[] = [];
  for (let s = 0; s < images.length; s += 64) {
    const batch = images.slice(s, s + 64);
    const all = new Uint8Array(batch.length * px);
    batch.forEach((im, i) => all.set(im, i * px));
    const x = toModelUnits(all, [batch.length, size.height, size.width, size.channels], glow.config.nBits);
    const { eps, logpx } = glow.encode(x);
    const b = glow.bitsPerDim(logpx);
    out.push(...(await b.data()));
    tf.dispose([x, eps, logpx, b]);
  }
  return out;
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2;
};
const quantileOf = (a: number[], q: number) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(q * a.length))];
const original = await bpd(digits);
console.log(
  `model ${manifest.name} (${manifest.steps} steps), backend ${backend}; MNIST test digits ${first}..${first + count - 1} as photos`,
);
console.log(`digits as MNIST draws them: median ${median(original).toFixed(3)} bits/dim`);
console.log('treatment | median bpd | median |gap| | within 1.0 | median |diff| | 90th pct |diff|');
for (const [name, images] of Object.entries(treated)) {
  const b = await bpd(images);
  const gaps = b.map((v, i) => Math.abs(v - original[i]));
  const diffs = images.map((im, i) => im.reduce((s, v, j) => s + Math.abs(v - digits[i][j]), 0) / px);
  const within = (gaps.filter((g) => g <= 1).length / count) * 100;
  console.log(
    `${name} | ${median(b).toFixed(3)} | ${median(gaps).toFixed(3)} | ${within.toFixed(1)} % | ${median(diffs).toFixed(2)} | ${quantileOf(diffs, 0.9).toFixed(2)}`,
  );
  if (name === 'fitted' && args.worst) {
    // The 8 largest gaps: each digit above its fitted photo.
    const order = gaps
      .map((g, i) => [g, i])
      .sort((x, y) => y[0] - x[0])
      .slice(0, 8);
    console.log(`largest gaps: ${order.map(([g, i]) => `#${first + i} ${g.toFixed(2)}`).join(', ')}`);
    const grid = composeGrid([...order.map(([, i]) => digits[i]), ...order.map(([, i]) => images[i])], size, { cols: order.length });
    await sharp(await encodePng(grid.pixels, grid.size, 4)).toFile(args.worst);
  }
}
console.log(`fitting: ${(fitMs / count).toFixed(1)} ms per photo (decode and fit, one at a time)`);
process.exit(0);
