// The round-trip promise tried on images nobody trained on: for each category (the test set, its
// images inverted, uniform noise, another dataset's images, random shapes, solid and extreme
// images) how many come back exactly through encode → decode as the server runs them, the largest
// error, and the range of bits/dim; and whether samples at high temperatures stay finite.
import { type Dataset, batchPixels } from '../data/dataset.ts';
import { loadDataset } from '../data/datasets.ts';
import type { GlowConfig } from '../glow/glow.ts';
import { compareRoundTrip, countNonFinite, modelUnits, quantise } from '../glow/pixels.ts';
import { normalArray, uniformGenerator } from '../glow/random.ts';
import type { Codec } from './round-trip.ts';

export interface ImageSet {
  name: string;
  /** NHWC 8-bit pixels of `count` images of the model's shape. */
  pixels: Uint8Array;
  count: number;
}

export interface CategoryReport {
  name: string;
  images: number;
  exact: number;
  /** Largest |decoded − original| of any value, in 8-bit levels (Infinity when a value came back NaN/Inf). */
  maxError: number;
  /** Images whose decode had a NaN/±Inf value, and images whose latent had one. */
  nonFiniteImages: number;
  nonFiniteLatents: number;
  /** Bits/dim of the 8-bit images (pixel-bin centres, no dequantisation noise); null where not finite. */
  bpd: { min: number; max: number; nonFinite: number };
}

export interface Shape {
  height: number;
  width: number;
  channels: number;
}

/** The test split's first `count` images. */
export function testImages(ds: Dataset, count: number): ImageSet {
  const n = Math.min(count, ds.count);
  return {
    name: 'test set',
    pixels: batchPixels(
      ds,
      Array.from({ length: n }, (_, i) => i),
    ),
    count: n,
  };
}

/** The same images as negatives: digits drawn dark on light, faces with inverted colours. */
export function invertedImages(ds: Dataset, count: number, offset = 0): ImageSet {
  const n = Math.min(count, ds.count - offset);
  const pixels = batchPixels(
    ds,
    Array.from({ length: n }, (_, i) => offset + i),
  ).map((v) => 255 - v);
  return { name: 'inverted', pixels, count: n };
}

/** Every value uniform in 0…255. */
export function noiseImages(shape: Shape, count: number, seed: number): ImageSet {
  const rand = uniformGenerator(seed);
  const pixels = new Uint8Array(count * shape.height * shape.width * shape.channels).map(() => Math.floor(rand() * 256));
  return { name: 'uniform noise', pixels, count };
}

/** Another dataset's images resized (nearest / box) and with their channels repeated or averaged to the model's shape. */
export function otherDatasetImages(ds: Dataset, shape: Shape, count: number, offset = 0): ImageSet {
  const n = Math.min(count, ds.count - offset);
  const { height, width, channels } = shape;
  const pixels = new Uint8Array(n * height * width * channels);
  const src = ds.height * ds.width * ds.channels;
  // Source channels averaged into output channel c: the same one when the counts match, else all of them.
  const sourceChannels = Array.from({ length: channels }, (_, c) => (ds.channels === channels ? [c] : [...Array(ds.channels).keys()]));
  for (let i = 0; i < n; i++) {
    const base = (offset + i) * src;
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        // Box average of the source pixels this output pixel covers, over all source channels.
        const y0 = Math.floor((y * ds.height) / height),
          y1 = Math.max(y0 + 1, Math.floor(((y + 1) * ds.height) / height));
        const x0 = Math.floor((x * ds.width) / width),
          x1 = Math.max(x0 + 1, Math.floor(((x + 1) * ds.width) / width));
        for (let c = 0; c < channels; c++) {
          let sum = 0,
            k = 0;
          for (let yy = y0; yy < y1; yy++)
            for (let xx = x0; xx < x1; xx++) {
              for (const cc of sourceChannels[c]) {
                sum += ds.images[base + (yy * ds.width + xx) * ds.channels + cc];
                k++;
              }
            }
          pixels[((i * height + y) * width + x) * channels + c] = Math.round(sum / k);
        }
      }
  }
  return { name: `${ds.name} images`, pixels, count: n };
}

/** Filled rectangles and ellipses of random colours on a random background. */
export function shapeImages(shape: Shape, count: number, seed: number): ImageSet {
  const { height, width, channels } = shape;
  const rand = uniformGenerator(seed);
  const colour = () => Array.from({ length: channels }, () => Math.floor(rand() * 256));
  const pixels = new Uint8Array(count * height * width * channels);
  for (let i = 0; i < count; i++) {
    const image = pixels.subarray(i * height * width * channels, (i + 1) * height * width * channels);
    const bg = colour();
    for (let p = 0; p < height * width; p++) for (let c = 0; c < channels; c++) image[p * channels + c] = bg[c];
    const shapes = 1 + Math.floor(rand() * 4);
    for (let s = 0; s < shapes; s++) {
      const [cy, cx] = [rand() * height, rand() * width];
      const [ry, rx] = [1 + rand() * height * 0.4, 1 + rand() * width * 0.4];
      const ellipse = rand() < 0.5;
      const fg = colour();
      for (let y = 0; y < height; y++)
        for (let x = 0; x < width; x++) {
          const [dy, dx] = [(y + 0.5 - cy) / ry, (x + 0.5 - cx) / rx];
          const inside = ellipse ? dy * dy + dx * dx <= 1 : Math.abs(dy) <= 1 && Math.abs(dx) <= 1;
          if (inside) for (let c = 0; c < channels; c++) image[(y * width + x) * channels + c] = fg[c];
        }
    }
  }
  return { name: 'random shapes', pixels, count };
}

/** Solid black, white and mid-grey, checkerboards of 1- and 2-pixel squares, stripes, salt and pepper. */
export function extremeImages(shape: Shape): ImageSet {
  const { height, width, channels } = shape;
  const rand = uniformGenerator(7);
  const patterns: ((y: number, x: number, c: number) => number)[] = [
    () => 0,
    () => 255,
    () => 128,
    (y, x) => ((y + x) % 2 ? 255 : 0),
    (y, x) => ((y + x) % 2 ? 0 : 255),
    (y, x) => ((Math.floor(y / 2) + Math.floor(x / 2)) % 2 ? 255 : 0),
    (y) => (y % 2 ? 255 : 0),
    (_, x) => (x % 2 ? 255 : 0),
    () => (rand() < 0.5 ? 0 : 255),
    (y, x) => Math.round((255 * (x + y)) / (width + height - 2)),
    (_, __, c) => (c % 2 ? 255 : 0),
    (y, x) => (y === 0 || x === 0 || y === height - 1 || x === width - 1 ? 255 : 0),
  ];
  const pixels = new Uint8Array(patterns.length * height * width * channels);
  patterns.forEach((f, i) => {
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) for (let c = 0; c < channels; c++) pixels[((i * height + y) * width + x) * channels + c] = f(y, x, c);
  });
  return { name: 'solid and extreme', pixels, count: patterns.length };
}

/**
 * The categories for a model of `dataset`: the other dataset is Fashion-MNIST for an MNIST model
 * (MNIST when that is not installed, for a faces model always MNIST).
 */
export function robustnessSets(dataset: string, shape: Shape, perCategory: number, seed = 1): ImageSet[] {
  const test = loadDataset(dataset, 'test');
  const otherName = dataset === 'mnist' ? 'fashion-mnist' : 'mnist';
  let other: Dataset | undefined;
  try {
    other = loadDataset(otherName, 'test');
  } catch {
    other = dataset === 'mnist' ? undefined : loadDataset('mnist', 'test');
  }
  const sets = [
    testImages(test, perCategory),
    // Offset: not the same images as the test category.
    invertedImages(test, perCategory, perCategory),
    noiseImages(shape, perCategory, seed),
    shapeImages(shape, perCategory, seed + 1),
    extremeImages(shape),
  ];
  if (other) sets.splice(3, 0, otherDatasetImages(other, shape, perCategory, (seed * 97) % Math.max(1, other.count - perCategory)));
  return sets;
}

/** Every image of `set` through encode → decode on `codec`, in batches of 64 as the server sends them. */
export async function evaluateSet(codec: Codec, config: GlowConfig, set: ImageSet, batch = 64): Promise<CategoryReport> {
  const { height, width, channels, nBits } = config;
  const size = height * width * channels;
  if (set.pixels.length !== set.count * size) throw new Error(`${set.name}: images are not ${height}×${width}×${channels}`);
  const report: CategoryReport = {
    name: set.name,
    images: set.count,
    exact: 0,
    maxError: 0,
    nonFiniteImages: 0,
    nonFiniteLatents: 0,
    bpd: { min: Infinity, max: -Infinity, nonFinite: 0 },
  };
  for (let start = 0; start < set.count; start += batch) {
    const n = Math.min(batch, set.count - start);
    const pixels = set.pixels.subarray(start * size, (start + n) * size);
    const { eps, bpd: bits } = await codec.encode(n, modelUnits(pixels, nBits));
    const values = await codec.decode(n, eps);
    const latentNonFinite = countNonFinite(eps, n);
    report.nonFiniteLatents += latentNonFinite.filter((k) => k > 0).length;
    const nonFinite = countNonFinite(values, n);
    const decoded = quantise(values, nBits);
    for (let i = 0; i < n; i++) {
      const trip = compareRoundTrip(
        pixels.subarray(i * size, (i + 1) * size),
        { pixels: decoded.subarray(i * size, (i + 1) * size), nonFinite: nonFinite[i] },
        nBits,
      );
      if (trip.exact) report.exact++;
      if (trip.nonFinite > 0) report.nonFiniteImages++;
      report.maxError = Math.max(report.maxError, trip.nonFinite > 0 ? Infinity : trip.maxError);
      if (Number.isFinite(bits[i])) {
        report.bpd.min = Math.min(report.bpd.min, bits[i]);
        report.bpd.max = Math.max(report.bpd.max, bits[i]);
      } else report.bpd.nonFinite++;
    }
  }
  return report;
}

/** How many of `count` latents decode to finite pixels on `codec`, in batches of 64. */
export async function finiteDecodes(codec: Codec, latentDim: number, latents: Float32Array | Float64Array, batch = 64): Promise<number> {
  const count = latents.length / latentDim;
  let finite = 0;
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const values = await codec.decode(n, Float64Array.from(latents.subarray(start * latentDim, (start + n) * latentDim)));
    finite += countNonFinite(values, n).filter((k) => k === 0).length;
  }
  return finite;
}

/** How many of `count` samples at temperature t (ε ~ N(0, t²), seeded) decode to finite pixels. */
export async function finiteSamples(codec: Codec, latentDim: number, count: number, temperature: number, seed = 1): Promise<number> {
  return finiteDecodes(codec, latentDim, normalArray(count * latentDim, seed, temperature));
}
