// Latent manipulation measured against ground truth, on the generated avatars: for a face without an
// attribute (A) and the same face with it (B), encode A, add α·direction, decode to A′, and compare
//   ratio = Σ|A′ − B| / Σ|A − B|   over every pixel and channel of every pair
// (1.0 = no closer to B than A was, 0 = exactly B). α is chosen on validation pairs, reported on test pairs;
// the same for the edit in passes (src/attributes/passes.ts), α and pass size chosen together.
import * as tf from '@tensorflow/tfjs';
import { attributePair, attributeVariants } from '../data/avatars/labels.ts';
import { avatarOptions } from '../data/avatars/options.ts';
import { renderAvatars } from '../data/avatars/render.ts';
import { splitSeeds, type AvatarSplit } from '../data/avatars/splits.ts';
import type { Glow } from '../glow/glow.ts';
import { editInPasses, type PassModel } from '../attributes/passes.ts';
import { direction } from '../attributes/vectors.ts';
import { uniformGenerator } from '../glow/random.ts';
import { Adam } from '../train/adam.ts';
import { modelUnits } from '../glow/pixels.ts';
import { decodeLatents, encodePixels } from './latents.ts';

export interface PairSet {
  attribute: string;
  seeds: Uint32Array;
  size: number;
  /** NHWC uint8, one image per seed: the face without the attribute (A) … */
  without: Uint8Array;
  /** … and the same face with it (B). */
  with: Uint8Array;
}

/** Ground-truth pairs of the first `count` seeds of a split. */
export async function renderPairs(attribute: string, split: AvatarSplit, count: number, size: number): Promise<PairSet> {
  const seeds = splitSeeds(split, count);
  avatarOptions(seeds[0]); // fail early on a bad split
  const pairs = [...seeds].map((s) => attributePair(s, attribute));
  return {
    attribute,
    seeds,
    size,
    without: await renderAvatars(
      pairs.map((p) => p.without),
      size,
    ),
    with: await renderAvatars(
      pairs.map((p) => p.with),
      size,
    ),
  };
}

export interface Score {
  /** Σ|A′ − B| / Σ|A − B|. */
  ratio: number;
  /** The part of the ratio from pixels where A and B differ (in any channel): the attribute's own region… */
  inside: number;
  /** … and from the pixels where they are equal: what the edit changed that it should have left alone. */
  outside: number;
  /** Share of pairs whose own ratio is below 1 (the edit moved them towards B). */
  improved: number;
}

/** Scores edited images against a pair set. */
export function score(edited: Uint8Array, pairs: PairSet): Score {
  const n = pairs.seeds.length;
  const px = pairs.size * pairs.size * 3;
  if (edited.length !== n * px || pairs.without.length !== n * px || pairs.with.length !== n * px)
    throw new Error('edited images and pairs differ in size');
  let inside = 0;
  let outside = 0;
  let den = 0;
  let improved = 0;
  const { without, with: target } = pairs;
  for (let i = 0; i < n; i++) {
    let a = 0;
    let b = 0;
    for (let k = i * px; k < (i + 1) * px; k += 3) {
      const err = Math.abs(edited[k] - target[k]) + Math.abs(edited[k + 1] - target[k + 1]) + Math.abs(edited[k + 2] - target[k + 2]);
      const diff = Math.abs(without[k] - target[k]) + Math.abs(without[k + 1] - target[k + 1]) + Math.abs(without[k + 2] - target[k + 2]);
      if (diff > 0) inside += err;
      else outside += err;
      a += err;
      b += diff;
    }
    den += b;
    if (a < b) improved++;
  }
  return den === 0
    ? { ratio: NaN, inside: NaN, outside: NaN, improved: improved / n }
    : { ratio: (inside + outside) / den, inside: inside / den, outside: outside / den, improved: improved / n };
}

/**
 * The least ratio an edit can expect that draws the attribute perfectly on A but cannot know which style B
 * drew (which smile, which glasses). B's style is uniform over the attribute's styles, so at each pixel the
 * least expected |A′ − B| is reached at the median over the styles; the floor is that expected error over
 * the expected |A − B|. Not 0 for attributes with several styles: reported beside the ratio.
 */
export async function styleFloor(pairs: PairSet): Promise<number> {
  const px = pairs.size * pairs.size * 3;
  const variants = [...pairs.seeds].map((seed) => attributeVariants(attributePair(seed, pairs.attribute).with, pairs.attribute));
  const styles = variants[0].length;
  const rendered = await renderAvatars(variants.flat(), pairs.size); // face i, style j at (i·styles + j)·px
  const values = new Float64Array(styles);
  let num = 0;
  let den = 0;
  for (let i = 0; i < pairs.seeds.length; i++) {
    for (let k = 0; k < px; k++) {
      for (let j = 0; j < styles; j++) values[j] = rendered[(i * styles + j) * px + k];
      values.sort();
      const median = styles % 2 ? values[styles >> 1] : (values[styles / 2 - 1] + values[styles / 2]) / 2;
      const a = pairs.without[i * px + k];
      for (let j = 0; j < styles; j++) {
        num += Math.abs(median - values[j]) / styles;
        den += Math.abs(a - values[j]) / styles;
      }
    }
  }
  return num / den;
}

/** The glow as a PassModel: latents to 8-bit images and back, in batches. */
export function glowPasses(glow: Glow, batch = 64): PassModel<{ pixels: Uint8Array }> {
  const px = glow.config.height * glow.config.width * glow.config.channels;
  return {
    decode: async (latents) => {
      const flat = await decodeLatents(glow, latents, batch);
      return latents.map((_, i) => ({ pixels: flat.subarray(i * px, (i + 1) * px) }));
    },
    encode: (images) => encodePixels(glow, concat(images), batch),
  };
}

function concat(images: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(images.reduce((n, im) => n + im.length, 0));
  let at = 0;
  for (const im of images) {
    out.set(im, at);
    at += im.length;
  }
  return out;
}

/** decode(ε + α·direction) for every ε, as one NHWC uint8 buffer; with `passes` > 1, in that many passes (see editInPasses). */
export async function edit(
  glow: Glow,
  eps: Float64Array[],
  direction: Float32Array,
  alpha: number,
  batch = 64,
  passes = 1,
): Promise<Uint8Array> {
  const { decoded } = await editInPasses(
    glowPasses(glow, batch),
    eps,
    eps.map(() => [{ alpha, vector: direction }]),
    passes,
  );
  return concat(decoded.map((d) => d.pixels));
}

export interface AlphaSearch {
  alpha: number;
  score: Score;
  /** Every α tried and its score. */
  curve: { alpha: number; ratio: number }[];
}

/** The α of the grid with the smallest ratio on the pairs (the first, on ties). */
export async function chooseAlpha(glow: Glow, pairs: PairSet, direction: Float32Array, alphas: number[], batch = 64): Promise<AlphaSearch> {
  const eps = await encodePixels(glow, pairs.without, batch);
  let best: AlphaSearch | undefined;
  const curve: AlphaSearch['curve'] = [];
  for (const alpha of alphas) {
    const s = score(await edit(glow, eps, direction, alpha, batch), pairs);
    curve.push({ alpha, ratio: s.ratio });
    // NaN never wins; a non-finite decode (huge α) is just a bad α.
    if (Number.isFinite(s.ratio) && (!best || s.ratio < best.score.ratio)) best = { alpha, score: s, curve };
  }
  if (!best) throw new Error(`no α in [${alphas.join(', ')}] gave a finite ratio for ${pairs.attribute}`);
  return best;
}

export interface PassSearch {
  alpha: number;
  /** The α of one pass: the edit is `passes` = α / passSize passes. */
  passSize: number;
  passes: number;
  score: Score;
  /** Per pass size, the ratio at every α of the grid it reaches in whole passes. */
  curves: { passSize: number; curve: { alpha: number; ratio: number }[] }[];
}

/**
 * The edit in passes (editInPasses) with the smallest ratio on the pairs, over the α grid and the pass
 * sizes: for each pass size δ one walk of passes of δ, scored after every pass whose total α is on the grid
 * (α = 0 is A itself, ratio 1, and is not searched here: chooseAlpha has it).
 */
export async function choosePasses(
  glow: Glow,
  pairs: PairSet,
  direction: Float32Array,
  alphas: number[],
  passSizes: number[],
  batch = 64,
): Promise<PassSearch> {
  const eps = await encodePixels(glow, pairs.without, batch);
  const model = glowPasses(glow, batch);
  let best: Omit<PassSearch, 'curves'> | undefined;
  const curves: PassSearch['curves'] = [];
  for (const passSize of passSizes) {
    if (!(passSize > 0)) throw new Error(`pass size ${passSize} is not positive`);
    const stops = new Map<number, number>(); // passes → the α of the grid they reach
    for (const a of alphas) {
      const k = Math.round(a / passSize);
      if (a > 0 && Math.abs(a - k * passSize) < 1e-9) stops.set(k, a);
    }
    const reach = Math.max(0, ...stops.keys());
    const curve: { alpha: number; ratio: number }[] = [];
    curves.push({ passSize, curve });
    if (reach === 0) continue;
    const terms = eps.map(() => [{ alpha: reach * passSize, vector: direction }]);
    await editInPasses(model, eps, terms, reach, (passes, decoded) => {
      const alpha = stops.get(passes);
      if (alpha === undefined) return;
      const s = score(concat(decoded.map((d) => d.pixels)), pairs);
      curve.push({ alpha, ratio: s.ratio });
      if (Number.isFinite(s.ratio) && (!best || s.ratio < best.score.ratio)) best = { alpha, passSize, passes, score: s };
    });
  }
  if (!best)
    throw new Error(
      `no α in [${alphas.join(', ')}] is a whole number of passes of [${passSizes.join(', ')}] with a finite ratio for ${pairs.attribute}`,
    );
  return { ...best, curves };
}

export interface FitOptions {
  steps: number;
  lr: number;
  batch: number;
  seed: number;
}

/**
 * The yardstick for the mean difference: the one direction d that does best on training pairs,
 * min over d of mean |decode(ε(A) + d) − B| (grey levels), by Adam through the decoder, from `init`.
 * It sees what the mean difference cannot (B itself), so if even it stays near 1 on held-out pairs, the
 * limit is the model, not the estimate (a local optimum of the fit, so a bound only in practice).
 */
export async function fitDirection(
  glow: Glow,
  pairs: PairSet,
  init: Float32Array,
  opts: FitOptions,
  onStep?: (step: number, loss: number) => void,
): Promise<Float32Array> {
  const { height, width, channels, nBits } = glow.config;
  const px = height * width * channels;
  const d = glow.latentDim;
  const n = pairs.seeds.length;
  const eps = await encodePixels(glow, pairs.without, opts.batch);
  const targets = modelUnits(pairs.with, nBits);
  const rand = uniformGenerator(opts.seed);
  const m = Math.min(opts.batch, n);
  const v = tf.tidy(() => tf.variable(tf.tensor2d(init, [1, d]))); // tidy frees the initial tensor, not the variable
  const adam = new Adam(new Map([['direction', v]]));
  try {
    for (let t = 1; t <= opts.steps; t++) {
      const e = new Float32Array(m * d);
      const b = new Float32Array(m * px);
      for (let j = 0; j < m; j++) {
        const i = Math.min(n - 1, Math.floor(rand() * n));
        e.set(eps[i], j * d);
        b.set(targets.subarray(i * px, (i + 1) * px), j * px);
      }
      const [et, bt] = [tf.tensor2d(e, [m, d]), tf.tensor4d(b, [m, height, width, channels])];
      // Mean |A′ − B| of the batch in grey levels (of the model's bit depth), and its gradient in d.
      const { value, grad } = tf.valueAndGrad(
        (x: tf.Tensor2D) => tf.mean(tf.abs(tf.sub(glow.decode(tf.add(et, x) as tf.Tensor2D), bt))).mul(2 ** nBits) as tf.Scalar,
      )(v);
      const [loss, g] = [(await value.data())[0], (await grad.data()) as Float32Array];
      tf.dispose([value, grad, et, bt]);
      adam.apply(new Map([['direction', g]]), opts.lr);
      onStep?.(t, loss);
    }
    return (await v.data()) as Float32Array;
  } finally {
    v.dispose();
  }
}

/** Mean of B − A over the pairs, per pixel and channel: the edit of pixel arithmetic (`direction` on pixels). */
export function meanPixelDifference(pairs: PairSet): Float32Array {
  const px = pairs.size * pairs.size * 3;
  const images = (buf: Uint8Array) => [...pairs.seeds.keys()].map((i) => Float32Array.from(buf.subarray(i * px, (i + 1) * px)));
  return direction(images(pairs.with), images(pairs.without));
}

/** A + α·difference, rounded and clipped to pixels: what the latent edit has to beat. */
export function pixelEdit(pairs: PairSet, difference: Float32Array, alpha: number): Uint8Array {
  const px = difference.length;
  const out = new Uint8Array(pairs.without.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.max(0, Math.min(255, Math.round(pairs.without[i] + alpha * difference[i % px])));
  return out;
}

/**
 * The baseline without a model: add the mean pixel difference of the validation pairs (twins, so a stronger
 * direction than labelled sets give) with the α of the grid that is best on them, and score the test pairs.
 */
export function pixelArithmetic(validation: PairSet, test: PairSet, alphas: number[]): { alpha: number; validation: Score; test: Score } {
  const d = meanPixelDifference(validation);
  let best: { alpha: number; validation: Score } | undefined;
  for (const alpha of alphas) {
    const s = score(pixelEdit(validation, d, alpha), validation);
    if (!best || s.ratio < best.validation.ratio) best = { alpha, validation: s };
  }
  return { ...best!, test: score(pixelEdit(test, d, best!.alpha), test) };
}

/** "lo:hi:step" (inclusive) or a comma list. */
export function parseAlphas(spec: string): number[] {
  const range = /^(-?[\d.]+):(-?[\d.]+):([\d.]+)$/.exec(spec.trim());
  let out: number[];
  if (range) {
    const [lo, hi, step] = range.slice(1).map(Number);
    if (!(step > 0) || hi < lo) throw new Error(`bad alpha range "${spec}"`);
    const n = Math.round((hi - lo) / step);
    out = Array.from({ length: n + 1 }, (_, i) => Number((lo + i * step).toFixed(6)));
  } else {
    out = spec.split(',').map((s) => Number(s.trim()));
  }
  if (out.length === 0 || out.some((a) => !Number.isFinite(a))) throw new Error(`bad alphas "${spec}": give lo:hi:step or a comma list`);
  return out;
}
