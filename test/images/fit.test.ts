// The fit step on its own (no model): its pure parts on hand-made arrays, then whole fits of
// MNIST digits, of digit photos (src/eval/digit-photo.ts) and of a face-model centre crop.
import t from 'tap';
import sharp from 'sharp';
import { digitPhoto } from '../../src/eval/digit-photo.ts';
import {
  centreOfMass,
  estimateBackground,
  fitForDataset,
  fitImage,
  fitSpecOf,
  inkBox,
  inkImage,
  lightBackground,
  placeByMass,
  quantile,
} from '../../src/images/fit.ts';
import { DomainError } from '../../src/errors.ts';
import { httpErrorOf } from '../../src/server/errors.ts';
import { decodeImage } from '../../src/images/images.ts';
import { mnistImage } from '../fixtures/mnist.ts';

const MNIST = { width: 28, height: 28, channels: 1 };
const DIGIT = { method: 'digit', box: 20 } as const;

const meanAbsDiff = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;

async function fitBytes(bytes: Buffer, spec = fitForDataset('mnist'), size = MNIST) {
  const meta = await sharp(bytes).metadata();
  return fitImage(sharp(bytes), meta.width!, meta.height!, size, spec);
}

t.test('quantile reads byte values by histogram', async (t) => {
  const v = Uint8Array.from({ length: 101 }, (_, i) => i);
  t.equal(quantile(v, 0.5), 50);
  t.equal(quantile(v, 0), 0);
  t.equal(quantile(v, 1), 100);
});

t.test('the background is light when the border is', async (t) => {
  const w = 40;
  const dark = new Uint8Array(w * w); // black paper, a white bar in the middle
  const light = new Uint8Array(w * w).fill(200); // grey paper, a dark bar
  for (let y = 10; y < 30; y++)
    for (let x = 18; x < 22; x++) {
      dark[y * w + x] = 255;
      light[y * w + x] = 30;
    }
  t.equal(lightBackground(dark, w, w), false);
  t.equal(lightBackground(light, w, w), true);
  t.equal(lightBackground(mnistImage(0), 28, 28), false, 'an MNIST digit is not inverted');
});

t.test('the background estimate follows a light gradient under the strokes', async (t) => {
  const w = 128;
  const v = new Float32Array(w * w);
  const paper = (x: number, y: number) => 20 + 0.3 * x + 0.1 * y; // 20..70 across the sheet
  for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) v[y * w + x] = paper(x, y);
  // Bright strokes a tenth of the image wide, as a digit's are.
  for (let y = 20; y < 110; y++) for (let x = 50; x < 62; x++) v[y * w + x] = 240;
  for (let y = 60; y < 72; y++) for (let x = 20; x < 110; x++) v[y * w + x] = 240;
  const bg = estimateBackground(v, w, w);
  let worst = 0;
  for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) worst = Math.max(worst, Math.abs(bg[y * w + x] - paper(x, y)));
  t.ok(worst < 8, `largest error ${worst.toFixed(2)} levels (paper spans 50, ink is 170+ above it)`);
});

t.test('ink levels: paper becomes 0 and solid ink about 255, whatever the paper and ink levels', async (t) => {
  const w = 96;
  const grey = new Uint8Array(w * w);
  let seed = 1;
  const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 8; // ±4 levels
  for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) grey[y * w + x] = Math.round(190 - 0.2 * x + noise());
  for (let y = 20; y < 80; y++) for (let x = 40; x < 52; x++) grey[y * w + x] = Math.round(60 + noise());
  const ink = inkImage(grey, w, w, true);
  let paperMax = 0;
  let inkMin = 255;
  for (let y = 0; y < w; y++) {
    for (let x = 0; x < w; x++) {
      const inside = y >= 22 && y < 78 && x >= 42 && x < 50;
      const outside = y < 16 || y >= 84 || x < 36 || x >= 56;
      if (outside) paperMax = Math.max(paperMax, ink[y * w + x]);
      if (inside) inkMin = Math.min(inkMin, ink[y * w + x]);
    }
  }
  t.ok(paperMax <= 2, `noisy, uneven paper is 0 or nearly (highest ${paperMax}; the fit's floor of 16 removes the rest)`);
  t.ok(inkMin >= 200, `the stroke's core is ink (lowest ${inkMin})`);
});

t.test("the ink's box: the digit's parts, not specks or the paper's edge", async (t) => {
  const w = 100;
  const ink = new Uint8Array(w * w);
  const fill = (x0: number, y0: number, x1: number, y1: number) => {
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) ink[y * w + x] = 255;
  };
  fill(40, 20, 50, 80); // the digit's stem
  fill(30, 15, 45, 20); // a separate stroke, big enough to count (75 vs 600 pixels)
  fill(80, 85, 82, 87); // a speck
  fill(0, 0, 3, 100); // the paper's edge along the left border
  fill(0, 90, 100, 100); // the table beyond the paper along the bottom: larger than the digit
  t.same(inkBox(ink, w, w), { left: 30, top: 15, width: 20, height: 65 });
  t.equal(inkBox(new Uint8Array(w * w), w, w), undefined, 'no ink, no box');
  // A digit cropped so tightly that it touches the edge, and a speck off the edge: the digit leads.
  ink.fill(0);
  fill(0, 10, 12, 90);
  fill(0, 50, 60, 60);
  fill(80, 20, 83, 23);
  t.same(inkBox(ink, w, w), { left: 0, top: 10, width: 60, height: 80 });
});

t.test('centre of mass and placement', async (t) => {
  const patch = new Uint8Array(20 * 10);
  patch[5 * 10 + 2] = 100;
  patch[5 * 10 + 6] = 100;
  t.same(centreOfMass(patch, 10, 20), { x: 4, y: 5 });
  t.same(placeByMass(patch, 10, 20, 28, 28), { x: 10, y: 8 }, 'mass at (14, 13) would need y = 9; kept inside: 28 − 20 = 8');
  const mid = new Uint8Array(20 * 20);
  mid[10 * 20 + 10] = 255;
  t.same(placeByMass(mid, 20, 20, 28, 28), { x: 4, y: 4 }, 'the mass lands on (14, 14)');
});

t.test('fit steps: from the manifest, else from the dataset', async (t) => {
  t.same(fitForDataset('mnist'), DIGIT);
  t.same(fitForDataset('avatars'), { method: 'centre-crop' });
  t.same(fitSpecOf({}, 'mnist', MNIST), DIGIT);
  t.same(fitSpecOf({ fit: { method: 'centre-crop' } }, 'mnist', MNIST), { method: 'centre-crop' });
  t.throws(() => fitSpecOf({ fit: { method: 'magic' } }, 'mnist', MNIST), /manifest "fit" is invalid/);
  t.throws(() => fitSpecOf({ fit: { method: 'digit', box: 20 } }, 'avatars', { width: 32, height: 32, channels: 3 }), /grey model/);
});

t.test('an MNIST digit fitted again comes back nearly as it was', async (t) => {
  const diffs: number[] = [];
  for (let i = 0; i < 20; i++) {
    const digit = mnistImage(i);
    const png = await sharp(Buffer.from(digit), { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toBuffer();
    const { pixels, fitted } = await fitBytes(png);
    t.equal(fitted.inverted, false);
    diffs.push(meanAbsDiff(pixels, digit));
  }
  diffs.sort((a, b) => a - b);
  t.ok(diffs[10] < 12, `median mean |difference| ${diffs[10].toFixed(2)} levels of 255`);
});

t.test('a photo of a digit: inverted, its box found where it was drawn, close to the digit', async (t) => {
  for (const i of [0, 1, 2]) {
    const digit = mnistImage(i);
    const photo = await digitPhoto(digit, 100 + i);
    const { pixels, fitted } = await fitBytes(photo.bytes);
    t.equal(fitted.inverted, true, `photo ${i}: dark ink on light paper`);
    const { left, top, size } = photo.frame;
    const b = fitted.box;
    t.ok(
      b.left >= left && b.top >= top && b.left + b.width <= left + size && b.top + b.height <= top + size,
      `photo ${i}: box ${JSON.stringify(b)} inside the drawn frame ${JSON.stringify(photo.frame)}`,
    );
    t.ok(
      Math.abs(fitted.scale * Math.max(b.width, b.height) - 20) < 0.5,
      `photo ${i}: the box's long side is scaled to 20 (scale ${fitted.scale})`,
    );
    const mad = meanAbsDiff(pixels, digit);
    t.ok(mad < 20, `photo ${i}: mean |difference| ${mad.toFixed(2)} from the digit`);
  }
});

t.test('uploads are fitted upright (EXIF orientation) and transparency becomes paper', async (t) => {
  const digit = mnistImage(7);
  const photo = await digitPhoto(digit, 7);
  const upright = await decodeImage(photo.bytes, MNIST, 1e8, 'image', DIGIT);
  // Stored turned a quarter left, tagged "turn a quarter right to show": as phones save photos.
  const turned = await sharp(photo.bytes).rotate(270).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toBuffer();
  t.equal((await sharp(turned).metadata()).orientation, 6);
  const fromTurned = await decodeImage(turned, MNIST, 1e8, 'image', DIGIT);
  t.ok(
    meanAbsDiff(fromTurned.pixels, upright.pixels) < 6,
    `the same digit (mean |difference| ${meanAbsDiff(fromTurned.pixels, upright.pixels).toFixed(2)})`,
  );
  t.same([fromTurned.original.width, fromTurned.original.height], [photo.height, photo.width], 'original: the size as stored');

  // Black strokes drawn on nothing (alpha only): flattened onto white, then inverted like ink on paper.
  const rgba = Buffer.alloc(28 * 28 * 4);
  digit.forEach((v, i) => (rgba[i * 4 + 3] = v));
  const png = await sharp(rgba, { raw: { width: 28, height: 28, channels: 4 } })
    .resize(140, 140)
    .png()
    .toBuffer();
  const drawn = await decodeImage(png, MNIST, 1e8, 'image', DIGIT);
  t.equal(drawn.fitted?.inverted, true);
  t.ok(meanAbsDiff(drawn.pixels, digit) < 15, `close to the digit (mean |difference| ${meanAbsDiff(drawn.pixels, digit).toFixed(2)})`);
  // White strokes on nothing go onto black, as without fitting.
  rgba.fill(255);
  digit.forEach((v, i) => (rgba[i * 4 + 3] = v));
  const white = await decodeImage(
    await sharp(rgba, { raw: { width: 28, height: 28, channels: 4 } })
      .png()
      .toBuffer(),
    MNIST,
    1e8,
    'image',
    DIGIT,
  );
  t.equal(white.fitted?.inverted, false);
});

t.test('a blank page is a 422, not a made-up digit', async (t) => {
  const blank = await sharp({ create: { width: 200, height: 150, channels: 3, background: '#d0d0d0' } })
    .png()
    .toBuffer();
  const err = await fitBytes(blank).catch((e: unknown) => e);
  t.ok(err instanceof DomainError && httpErrorOf(err).statusCode === 422, String(err));
});

t.test('centre-crop: the largest centred square, resized', async (t) => {
  // Left half red, right half blue, a green square in the middle third.
  const w = 96;
  const h = 48;
  const rgb = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inMiddle = x >= 24 && x < 72;
      rgb.set(inMiddle ? [0, 200, 0] : x < 48 ? [200, 0, 0] : [0, 0, 200], (y * w + x) * 3);
    }
  }
  const png = await sharp(rgb, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toBuffer();
  const size = { width: 32, height: 32, channels: 3 };
  const { pixels, fitted } = await fitBytes(png, { method: 'centre-crop' }, size);
  t.same(fitted, { inverted: false, box: { left: 24, top: 0, width: 48, height: 48 }, scale: 32 / 48, shift: { x: 0, y: 0 } });
  t.equal(pixels.length, 32 * 32 * 3);
  t.ok(
    pixels.every((v, i) => (i % 3 === 1 ? v > 190 : v < 10)),
    'only the green middle is kept',
  );
});
