// Fitting an upload to a model's data, so that a photo of a handwritten digit reaches the model the
// way MNIST digits do (or a face photo the way the avatars do). A model's manifest names its fit
// step (`fit`); without one it follows from the dataset.
//
// MNIST's own recipe (LeCun et al.): the digit's bounding box scaled to fit 20×20 keeping its
// aspect ratio, anti-aliased to grey levels, then placed in 28×28 with its centre of mass at the
// centre. A photo first needs to become such a digit: white ink on black, the paper's grey level
// and uneven light removed. sharp does the pixel work it can (grey, resize, crop, extend); the
// rest, which it cannot (polarity, background estimate, ink levels, the ink's box, centre of
// mass), is the pure functions below.
import sharp, { type Sharp } from 'sharp';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { UnprocessableError } from '../errors.ts';
import type { ImageSize } from './image-size.ts';

export const FitSpec = Type.Union(
  [
    Type.Object({
      method: Type.Literal('digit'),
      box: Type.Integer({ minimum: 1, description: "Side of the square the ink's bounding box is scaled to fit (MNIST: 20 in 28×28)" }),
    }),
    Type.Object({ method: Type.Literal('centre-crop') }, { description: 'The largest centred square, resized to the model' }),
  ],
  { description: "What fit=true does to an upload for this model (the manifest's fit, else the dataset's)" },
);
export type FitSpec = Static<typeof FitSpec>;

/** What fitting did, in the upload's pixels: enough to map a point of the fitted image back. */
export interface Fitted {
  /** The background was light (judged from the border), so the image was inverted. */
  inverted: boolean;
  /** The part of the upload that was kept: the ink's bounding box, or the centred square. */
  box: { left: number; top: number; width: number; height: number };
  /** Model pixels per upload pixel. */
  scale: number;
  /** Where the scaled box's top-left corner landed in the model's image. */
  shift: { x: number; y: number };
}

/** A fitted upload: what was done and the pixels the model saw. */
export type FittedImage = Fitted & { pixels: Uint8Array };

/** The fit step of a model: the manifest's `fit` when it has one, else what its dataset calls for. */
export function fitSpecOf(manifest: Record<string, unknown>, dataset: string, size: ImageSize): FitSpec {
  const given = manifest.fit;
  if (given !== undefined) {
    if (!Value.Check(FitSpec, given))
      throw new Error(
        `manifest "fit" is invalid: ${JSON.stringify(given)}; expected {"method": "digit", "box": n} or {"method": "centre-crop"}`,
      );
    if (given.method === 'digit' && (size.channels !== 1 || given.box > Math.min(size.width, size.height)))
      throw new Error(`manifest "fit": a digit fit needs a grey model at least ${given.box} pixels wide and high`);
    return given;
  }
  return fitForDataset(dataset);
}

export function fitForDataset(dataset: string): FitSpec {
  return dataset === 'mnist' ? { method: 'digit', box: 20 } : { method: 'centre-crop' };
}

/**
 * Fits one decoded upload (a sharp pipeline, alpha already flattened; `width` × `height` its size)
 * to the model's `size`. Returns NHWC uint8 pixels and what was done; a 422 when a digit fit finds
 * no ink. `what` names the image in that message.
 */
export async function fitImage(
  img: Sharp,
  width: number,
  height: number,
  size: ImageSize,
  spec: FitSpec,
  what = 'image',
): Promise<{ pixels: Uint8Array; fitted: Fitted }> {
  return spec.method === 'digit' ? fitDigit(img, width, height, size, spec.box, what) : centreCrop(img, width, height, size);
}

async function centreCrop(img: Sharp, width: number, height: number, size: ImageSize): Promise<{ pixels: Uint8Array; fitted: Fitted }> {
  // The square is the model's aspect ratio in general: the largest such rectangle, centred.
  const k = Math.min(width / size.width, height / size.height);
  const w = Math.max(1, Math.round(size.width * k));
  const h = Math.max(1, Math.round(size.height * k));
  const box = { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
  const pixels = await toRaw(
    (size.channels === 1 ? img.toColourspace('b-w') : img.toColourspace('srgb'))
      .extract(box)
      .resize(size.width, size.height, { fit: 'fill', kernel: 'lanczos3' }),
    size,
  );
  return { pixels, fitted: { inverted: false, box, scale: size.width / w, shift: { x: 0, y: 0 } } };
}

/**
 * Long side of the working copy: a digit a tenth of the photo's width still spans 51 pixels (2.5×
 * the 20 it is scaled to). The pure-JS steps below run on the event loop: at 1024 they took about
 * three times as long (87 vs 27 ms, one run on a loaded machine) and fitted rendered photos no better.
 */
const WORK_MAX = 512;
/** Small uploads are enlarged first, so the background grid and the ink's box have pixels to work with. */
const WORK_MIN = 256;

/** Below this, a fitted pixel is paper (see fitDigit). */
const FAINTEST = 16;
/** Paper is what lies within this many noise deviations of the background estimate. */
const NOISE_SIGMAS = 5;
/**
 * The ink level that becomes 255: this quantile of what is clearly ink. A stroke's core is solid,
 * and in MNIST about a third of the ink pixels are at 250 or more; measured on rendered photos
 * (scripts/fit-eval.ts), 0.5 matches MNIST's saturation best.
 */
const INK_QUANTILE = 0.5;

async function fitDigit(
  img: Sharp,
  width: number,
  height: number,
  size: ImageSize,
  box: number,
  what: string,
): Promise<{ pixels: Uint8Array; fitted: Fitted }> {
  const long = Math.max(width, height);
  const k = Math.min(WORK_MAX, Math.max(WORK_MIN, long)) / long;
  const ww = Math.max(1, Math.round(width * k));
  const wh = Math.max(1, Math.round(height * k));
  let work = img.toColourspace('b-w');
  if (ww !== width || wh !== height) work = work.resize(ww, wh, { fit: 'fill', kernel: 'cubic' });
  const grey = new Uint8Array(await work.raw({ depth: 'uchar' }).toBuffer());

  const inverted = lightBackground(grey, ww, wh);
  const ink = inkImage(grey, ww, wh, inverted);
  const b = inkBox(ink, ww, wh);
  if (!b) throw new UnprocessableError(`${what} shows no digit to fit: nothing stands out from the background`);

  // The ink's box scaled to fit box × box, anti-aliased by the resize kernel as MNIST's was.
  const s = box / Math.max(b.width, b.height);
  const pw = Math.max(1, Math.round(b.width * s));
  const ph = Math.max(1, Math.round(b.height * s));
  const patch = new Uint8Array(
    await sharp(Buffer.from(ink.buffer, ink.byteOffset, ink.length), { raw: { width: ww, height: wh, channels: 1 } })
      .extract(b)
      .resize(pw, ph, { fit: 'fill', kernel: 'lanczos3' })
      .toColourspace('b-w') // raw grey input would otherwise come out sRGB
      .raw()
      .toBuffer(),
  );
  // Lanczos rings and paper noise leaves faint values that MNIST, whose background is exactly 0,
  // almost never has (about 1 % of its ink pixels are below 16); the model pays bits for each.
  for (let i = 0; i < patch.length; i++) if (patch[i] < FAINTEST) patch[i] = 0;
  const shift = placeByMass(patch, pw, ph, size.width, size.height);
  const pixels = await toRaw(
    sharp(Buffer.from(patch), { raw: { width: pw, height: ph, channels: 1 } })
      .extend({
        left: shift.x,
        top: shift.y,
        right: size.width - pw - shift.x,
        bottom: size.height - ph - shift.y,
        background: { r: 0, g: 0, b: 0 },
      })
      .toColourspace('b-w'), // the colour background would make it sRGB
    size,
  );
  const up = (v: number) => v / k; // working pixels -> upload pixels
  const boxInUpload = {
    left: Math.round(up(b.left)),
    top: Math.round(up(b.top)),
    width: Math.max(1, Math.round(up(b.width))),
    height: Math.max(1, Math.round(up(b.height))),
  };
  return { pixels, fitted: { inverted, box: boxInUpload, scale: s * k, shift } };
}

async function toRaw(img: Sharp, size: ImageSize): Promise<Uint8Array> {
  const { data, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.width !== size.width || info.height !== size.height || info.channels !== size.channels)
    throw new Error(`fitting gave ${info.width}×${info.height}×${info.channels}, expected ${size.width}×${size.height}×${size.channels}`);
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

// ---------- the pure parts ----------

/**
 * What to put under a transparent upload before fitting it (raw pixels with alpha last): white
 * under dark strokes (ink drawn on nothing), black under light ones, judged by the opaque pixels.
 */
export function flattenBackground(pixels: Uint8Array, channels: number): '#ffffff' | '#000000' {
  let weight = 0;
  let sum = 0;
  for (let i = 0; i < pixels.length; i += channels) {
    const alpha = pixels[i + channels - 1];
    const luma = channels >= 4 ? 0.299 * pixels[i] + 0.587 * pixels[i + 1] + 0.114 * pixels[i + 2] : pixels[i];
    weight += alpha;
    sum += alpha * luma;
  }
  return weight > 0 && sum / weight < 128 ? '#ffffff' : '#000000';
}

/** The q-quantile (0..1) of byte values, by histogram. */
export function quantile(values: ArrayLike<number>, q: number): number {
  return histQuantile(histogram(values), values.length, q);
}

function histogram(values: ArrayLike<number>): Uint32Array {
  const hist = new Uint32Array(256);
  for (let i = 0; i < values.length; i++) hist[values[i]]++;
  return hist;
}

/** The q-quantile of the `n` values counted in `hist`. */
function histQuantile(hist: Uint32Array, n: number, q: number): number {
  const target = Math.min(n - 1, Math.floor(q * n));
  let seen = 0;
  for (let v = 0; v < 256; v++) {
    seen += hist[v];
    if (seen > target) return v;
  }
  return 255;
}

/**
 * Whether the background is light: the median of a thin border ring lies above the middle of the
 * image's range. The border is paper in a photo (and black in an MNIST digit) whatever the ink covers.
 */
export function lightBackground(grey: Uint8Array, width: number, height: number): boolean {
  const ring = Math.max(1, Math.round(0.03 * Math.min(width, height)));
  const border = new Uint32Array(256);
  let n = 0;
  for (let y = 0; y < height; y++) {
    const edgeRow = y < ring || y >= height - ring;
    for (let x = 0; x < width; x++) {
      if (edgeRow || x < ring || x >= width - ring) {
        border[grey[y * width + x]]++;
        n++;
      }
    }
  }
  const all = histogram(grey);
  const low = histQuantile(all, grey.length, 0.002);
  const high = histQuantile(all, grey.length, 0.998);
  return histQuantile(border, n, 0.5) > (low + high) / 2;
}

/** Cells of the background grid along the long side: coarse enough that most cells are mostly paper. */
const GRID = 32;
/** Opening radius in cells: removes ink up to 2·R cells wide (a stroke is 1–4 at GRID 32). */
const OPEN_RADIUS = 3;

/**
 * The background (paper) level at every pixel of an image whose ink is bright: the median of each
 * grid cell, a grey-level opening (min then max over neighbouring cells) that removes the strokes
 * but keeps a light gradient, then bilinear interpolation between cell centres.
 */
export function estimateBackground(v: Float32Array, width: number, height: number): Float32Array {
  const cell = Math.max(1, Math.ceil(Math.max(width, height) / GRID));
  const gw = Math.ceil(width / cell);
  const gh = Math.ceil(height / cell);
  const grid = new Float32Array(gw * gh);
  const hist = new Uint32Array(256);
  for (let gy = 0; gy < gh; gy++) {
    for (let gx = 0; gx < gw; gx++) {
      hist.fill(0);
      let n = 0;
      for (let y = gy * cell; y < Math.min(height, (gy + 1) * cell); y++) {
        for (let x = gx * cell; x < Math.min(width, (gx + 1) * cell); x++) {
          hist[Math.max(0, Math.min(255, Math.round(v[y * width + x])))]++;
          n++;
        }
      }
      grid[gy * gw + gx] = histQuantile(hist, n, 0.5);
    }
  }
  const opened = rankFilter(rankFilter(grid, gw, gh, OPEN_RADIUS, Math.min), gw, gh, OPEN_RADIUS, Math.max);
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const fy = Math.max(0, Math.min(gh - 1, (y + 0.5) / cell - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(gh - 1, y0 + 1);
    const ty = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.max(0, Math.min(gw - 1, (x + 0.5) / cell - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(gw - 1, x0 + 1);
      const tx = fx - x0;
      const top = opened[y0 * gw + x0] * (1 - tx) + opened[y0 * gw + x1] * tx;
      const bottom = opened[y1 * gw + x0] * (1 - tx) + opened[y1 * gw + x1] * tx;
      out[y * width + x] = top * (1 - ty) + bottom * ty;
    }
  }
  return out;
}

/** Min or max over a (2r+1)² window, clipped at the edges. */
function rankFilter(a: Float32Array, w: number, h: number, r: number, pick: (...v: number[]) => number): Float32Array {
  const rows = new Float32Array(a.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let m = a[y * w + x];
      for (let d = Math.max(0, x - r); d <= Math.min(w - 1, x + r); d++) m = pick(m, a[y * w + d]);
      rows[y * w + x] = m;
    }
  }
  const out = new Float32Array(a.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let m = rows[y * w + x];
      for (let d = Math.max(0, y - r); d <= Math.min(h - 1, y + r); d++) m = pick(m, rows[d * w + x]);
      out[y * w + x] = m;
    }
  }
  return out;
}

/**
 * Ink as MNIST draws it: 0 where there is paper, 255 where the ink is solid, linear in between.
 * The background estimate is subtracted; what is within a few noise deviations of it is paper,
 * and the ink's own level (a high quantile of what is clearly ink) becomes 255.
 */
export function inkImage(grey: Uint8Array, width: number, height: number, invert: boolean): Uint8Array {
  const v = new Float32Array(grey.length);
  for (let i = 0; i < grey.length; i++) v[i] = invert ? 255 - grey[i] : grey[i];
  const bg = estimateBackground(v, width, height);
  const d = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) d[i] = Math.max(0, Math.min(255, Math.round(v[i] - bg[i])));
  // The noise from paper darker than its estimate (ink only ever lies above it): |noise| there is
  // half-normal, whose median is 0.674 σ.
  const below = new Uint32Array(256);
  let nBelow = 0;
  for (let i = 0; i < v.length; i++) {
    if (v[i] < bg[i]) {
      below[Math.min(255, Math.round(bg[i] - v[i]))]++;
      nBelow++;
    }
  }
  const sigma = Math.max(0.5, nBelow > 0 ? histQuantile(below, nBelow, 0.5) / 0.674 : 0);
  const low = Math.min(96, NOISE_SIGMAS * sigma);
  const clear = new Uint32Array(256);
  let nClear = 0;
  for (let i = 0; i < d.length; i++) {
    if (d[i] > 2 * low) {
      clear[d[i]]++;
      nClear++;
    }
  }
  const high = nClear > 0 ? Math.max(low + 8, histQuantile(clear, nClear, INK_QUANTILE)) : 255;
  const out = new Uint8Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = Math.max(0, Math.min(255, Math.round(((d[i] - low) / (high - low)) * 255)));
  return out;
}

/**
 * The bounding box of the ink: 8-connected parts of the half-ink mask, the largest part that does
 * not touch the image's edge (unless it is under 1/10 of the largest part: then that one) and every
 * part at least 1/20 its size (a digit's
 * separate strokes), but not parts touching the edge when it does not (the paper's edge, a
 * shadow). Undefined when there is no ink.
 */
export function inkBox(
  ink: Uint8Array,
  width: number,
  height: number,
): { left: number; top: number; width: number; height: number } | undefined {
  const label = new Int32Array(ink.length).fill(-1);
  const parts: { area: number; x0: number; y0: number; x1: number; y1: number; edge: boolean }[] = [];
  const stack: number[] = [];
  for (let start = 0; start < ink.length; start++) {
    if (ink[start] < 128 || label[start] >= 0) continue;
    const part = { area: 0, x0: width, y0: height, x1: -1, y1: -1, edge: false };
    label[start] = parts.length;
    stack.push(start);
    while (stack.length) {
      const i = stack.pop()!;
      const x = i % width;
      const y = (i - x) / width;
      part.area++;
      part.x0 = Math.min(part.x0, x);
      part.x1 = Math.max(part.x1, x);
      part.y0 = Math.min(part.y0, y);
      part.y1 = Math.max(part.y1, y);
      if (x === 0 || y === 0 || x === width - 1 || y === height - 1) part.edge = true;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          const ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
          const j = ny * width + nx;
          if (ink[j] >= 128 && label[j] < 0) {
            label[j] = parts.length;
            stack.push(j);
          }
        }
      }
    }
    parts.push(part);
  }
  if (parts.length === 0) return undefined;
  // The paper's edge or a shadow can be larger than the digit: the largest part off the edge leads,
  // unless it is a speck beside a digit that touches the edge (cropped tightly).
  const largest = (list: typeof parts) => list.reduce((a, b) => (b.area > a.area ? b : a));
  const inner = parts.filter((p) => !p.edge);
  const overall = largest(parts);
  const main = inner.length > 0 && largest(inner).area * 10 >= overall.area ? largest(inner) : overall;
  const kept = parts.filter((p) => p === main || (p.area * 20 >= main.area && (main.edge || !p.edge)));
  const left = Math.min(...kept.map((p) => p.x0));
  const top = Math.min(...kept.map((p) => p.y0));
  return { left, top, width: Math.max(...kept.map((p) => p.x1)) + 1 - left, height: Math.max(...kept.map((p) => p.y1)) + 1 - top };
}

/** Centre of mass of a grey patch, in pixel-index coordinates; the patch's centre when it is all 0. */
export function centreOfMass(patch: Uint8Array, width: number, height: number): { x: number; y: number } {
  let m = 0;
  let sx = 0;
  let sy = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = patch[y * width + x];
      m += v;
      sx += v * x;
      sy += v * y;
    }
  }
  return m > 0 ? { x: sx / m, y: sy / m } : { x: (width - 1) / 2, y: (height - 1) / 2 };
}

/**
 * Where to put a patch in a width × height frame so that its centre of mass lands on the frame's
 * centre (index width/2, height/2: where MNIST's average is), in whole pixels, kept inside the frame.
 */
export function placeByMass(patch: Uint8Array, pw: number, ph: number, width: number, height: number): { x: number; y: number } {
  const c = centreOfMass(patch, pw, ph);
  const clamp = (v: number, max: number) => Math.max(0, Math.min(max, v));
  return { x: clamp(Math.round(width / 2 - c.x), width - pw), y: clamp(Math.round(height / 2 - c.y), height - ph) };
}
