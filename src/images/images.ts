// Image I/O with sharp (libvips, runs on the libuv pool, so it stays off the event loop):
// untrusted bytes -> model-sized NHWC uint8 pixels, and pixels -> PNG, grids and strips.
import sharp, { type Metadata } from 'sharp';
import { DomainError, InvalidError, TooLargeError, UnsupportedError } from '../errors.ts';
import { fitImage, flattenBackground, type FitSpec, type Fitted } from './fit.ts';
import type { ImageSize } from './image-size.ts';
import { decodePlainPng, encodeRawPng } from './png.ts';

export type { ImageSize } from './image-size.ts';

export interface DecodedImage {
  /** height·width·channels bytes, NHWC, 0..255, at the model's size. */
  pixels: Uint8Array;
  resized: boolean;
  original: { width: number; height: number; format: string };
  /** With a fit step: what fitting did (see fit.ts). */
  fitted?: Fitted;
}

const FORMATS = new Set(['png', 'jpeg', 'webp']);

/** What an upload may be: at most `pixels` in all and `side` pixels on either side (both read from the header). */
export interface ImageLimits {
  pixels: number;
  side: number;
}

// libvips caches whole operations across calls; for a server decoding one-off uploads that is
// memory held for nothing. One libvips thread per image: uploads are decoded side by side already
// (below), and every extra thread keeps its own buffers (and malloc arena) alive after a burst.
sharp.cache(false);
sharp.concurrency(1);

/**
 * Images being decoded at once, across all requests: peak memory is what these hold, so a burst of
 * large uploads waits here instead of decoding 64 at a time. Two keep both cores busy.
 */
const DECODE_LANES = 2;
let decoding = 0;
const waiting: (() => void)[] = [];

async function inLane<T>(fn: () => Promise<T>): Promise<T> {
  if (decoding >= DECODE_LANES) await new Promise<void>((resolve) => waiting.push(resolve));
  else decoding++;
  try {
    return await fn();
  } finally {
    const next = waiting.shift();
    if (next)
      next(); // the lane passes straight to the next waiter
    else decoding--;
  }
}

/**
 * Decodes one uploaded image and converts it to the model's geometry: grey or sRGB, alpha flattened
 * onto black (the MNIST background), resized with `contain` (aspect kept, black bars) when the size differs.
 * With `fit`, fitted to the model's data instead (fit.ts).
 * `what` names the image in error messages (e.g. "file 'image' #2"). Every refusal is in our words:
 * nothing the image library says reaches the client.
 */
export async function decodeImage(
  buf: Uint8Array,
  size: ImageSize,
  limits: number | ImageLimits,
  what = 'image',
  fit?: FitSpec,
): Promise<DecodedImage> {
  const { pixels: maxPixels, side: maxSide } = typeof limits === 'number' ? { pixels: limits, side: Infinity } : limits;
  if (buf.length === 0) throw new InvalidError(`${what} is empty (0 bytes)`);
  // The common case, a plain PNG already at the model's size, without libvips (see png.ts).
  const plain = fit ? undefined : decodePlainPng(buf, size.width, size.height, size.channels);
  if (plain) return { pixels: plain, resized: false, original: { width: size.width, height: size.height, format: 'png' } };
  // Text (SVG, XML, HTML) never reaches the image library: it would hand it to an XML parser.
  if (looksLikeText(buf)) throw new UnsupportedError(`${what} is text (SVG, XML or HTML), which is not accepted; send PNG, JPEG or WebP`);
  const png = pngSize(buf);
  if (png && (png.width === 0 || png.height === 0)) throw new InvalidError(`${what} is ${png.width}×${png.height}: it has no pixels`);
  let meta: Metadata;
  try {
    // Header only, no pixel limit here: we want the dimensions to say why a bomb is refused.
    meta = await sharp(buf, { limitInputPixels: false }).metadata();
  } catch {
    throw new UnsupportedError(`${what} is not a readable image (unknown format, or a damaged header); send PNG, JPEG or WebP`);
  }
  const format = meta.format ?? 'unknown';
  if (!FORMATS.has(format)) throw new UnsupportedError(`${what} is ${format}, which is not accepted; send PNG, JPEG or WebP`);
  const { width = 0, height = 0 } = meta;
  if (width === 0 || height === 0) throw new InvalidError(`${what} is ${width}×${height}: it has no pixels`);
  if (width * height > maxPixels) {
    throw new TooLargeError(`${what} is ${width}×${height} = ${width * height} pixels; the limit is ${maxPixels} pixels`);
  }
  // A thin image within the pixel count (16,777,216 × 1) still costs row buffers its width long.
  if (width > maxSide || height > maxSide)
    throw new TooLargeError(`${what} is ${width}×${height}; the limit is ${maxSide} pixels on either side`);
  if ((meta.pages ?? 1) > 1) throw new InvalidError(`${what} is animated or multi-page (${meta.pages} frames); send a single still image`);

  const resized = width !== size.width || height !== size.height;
  try {
    return await inLane(async () => {
      if (fit) {
        // A phone photo is upright only after its EXIF orientation; transparency becomes paper.
        let img = sharp(buf, { limitInputPixels: maxPixels, failOn: 'warning', autoOrient: true });
        if (meta.hasAlpha) {
          const { data, info } = await sharp(buf, { limitInputPixels: maxPixels, failOn: 'warning' })
            .raw()
            .toBuffer({ resolveWithObject: true });
          img = img.flatten({ background: flattenBackground(data, info.channels) });
        }
        const upright = meta.autoOrient ?? { width, height };
        const { pixels, fitted } = await fitImage(img, upright.width, upright.height, size, fit, what);
        return { pixels, resized: true, original: { width, height, format }, fitted };
      }
      let img = sharp(buf, { limitInputPixels: maxPixels, failOn: 'warning' });
      if (meta.hasAlpha) img = img.flatten({ background: '#000000' });
      img = size.channels === 1 ? img.toColourspace('b-w') : img.toColourspace('srgb');
      if (resized) img = img.resize(size.width, size.height, { fit: 'contain', background: '#000000' });
      const { data, info } = await img.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      if (info.width !== size.width || info.height !== size.height || info.channels !== size.channels) {
        throw new Error(
          `conversion gave ${info.width}×${info.height}×${info.channels}, expected ${size.width}×${size.height}×${size.channels}`,
        );
      }
      return { pixels: new Uint8Array(data.buffer, data.byteOffset, data.length), resized, original: { width, height, format } };
    });
  } catch (err) {
    // Our own refusals (the fit's "no digit") pass; anything the image library threw is not quoted.
    if (err instanceof DomainError) throw err;
    throw new InvalidError(`${what} could not be decoded: it is corrupt or truncated`);
  }
}

/** Starts (after an optional BOM and white space) with `<`: markup, not an image. */
function looksLikeText(buf: Uint8Array): boolean {
  let i = buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  while (i < buf.length && i < 1024 && (buf[i] === 0x20 || buf[i] === 0x09 || buf[i] === 0x0a || buf[i] === 0x0d)) i++;
  return buf[i] === 0x3c;
}

/** A PNG's size from its IHDR chunk (undefined when it is not a PNG). */
function pngSize(buf: Uint8Array): { width: number; height: number } | undefined {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (buf.length < 24 || sig.some((b, i) => buf[i] !== b)) return undefined;
  if (String.fromCharCode(buf[12], buf[13], buf[14], buf[15]) !== 'IHDR') return undefined;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/**
 * One raw NHWC uint8 image -> PNG bytes (grey stays grey), optionally upscaled with nearest
 * neighbour for viewing. Plain zlib rather than sharp: for the small images served here libvips'
 * per-call overhead is ten times the work (see png.ts).
 */
export async function encodePng(pixels: Uint8Array, size: ImageSize, scale = 1): Promise<Buffer> {
  const up = scale === 1 ? { pixels, size } : upscale(pixels, size, scale);
  return encodeRawPng(up.pixels, up.size.width, up.size.height, up.size.channels as 1 | 3);
}

/** Nearest-neighbour upscaling by an integer factor: each pixel becomes a scale × scale block. */
export function upscale(pixels: Uint8Array, size: ImageSize, scale: number): { pixels: Uint8Array; size: ImageSize } {
  const { width: w, height: h, channels: c } = size;
  const W = w * scale;
  const out = new Uint8Array(W * h * scale * c);
  const row = new Uint8Array(W * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const px = pixels.subarray((y * w + x) * c, (y * w + x + 1) * c);
      for (let k = 0; k < scale; k++) row.set(px, (x * scale + k) * c);
    }
    for (let k = 0; k < scale; k++) out.set(row, (y * scale + k) * W * c);
  }
  return { pixels: out, size: { width: W, height: h * scale, channels: c } };
}

export interface GridOptions {
  /** Columns; default ceil(sqrt(n)), so a square-ish grid. */
  cols?: number;
  /** Pixels between tiles and around the edge. */
  pad?: number;
  /** Grey level of the padding: mid-grey separates black-background digits. */
  padValue?: number;
}

/** Lays images out row-major in a grid with padding; a strip is a grid with cols = n. */
export function composeGrid(images: Uint8Array[], size: ImageSize, opts: GridOptions = {}): { pixels: Uint8Array; size: ImageSize } {
  const n = images.length;
  const cols = Math.max(1, Math.min(n, opts.cols ?? Math.ceil(Math.sqrt(n))));
  const rows = Math.ceil(n / cols);
  const pad = opts.pad ?? 2;
  const { height: h, width: w, channels: c } = size;
  const W = cols * w + (cols + 1) * pad;
  const H = rows * h + (rows + 1) * pad;
  const out = new Uint8Array(W * H * c).fill(opts.padValue ?? 128);
  images.forEach((img, i) => {
    const x0 = pad + (i % cols) * (w + pad);
    const y0 = pad + Math.floor(i / cols) * (h + pad);
    for (let y = 0; y < h; y++) out.set(img.subarray(y * w * c, (y + 1) * w * c), ((y0 + y) * W + x0) * c);
  });
  return { pixels: out, size: { height: H, width: W, channels: c } };
}

/** PNG of one image, or of a grid (cols given: a strip) when there are several. */
export async function imagesToPng(images: Uint8Array[], size: ImageSize, opts: GridOptions & { scale?: number } = {}): Promise<Buffer> {
  if (images.length === 1) return encodePng(images[0], size, opts.scale);
  const grid = composeGrid(images, size, opts);
  return encodePng(grid.pixels, grid.size, opts.scale);
}
