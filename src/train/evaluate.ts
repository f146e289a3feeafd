import * as tf from '@tensorflow/tfjs';
import { Dataset, batchPixels } from '../data/dataset.ts';
import { Glow } from '../glow/glow.ts';
import { toModelUnits } from '../glow/pixels.ts';
import { uniformArray } from '../glow/random.ts';

export interface EvalResult {
  /** Mean bits/dim with uniform dequantisation noise (seeded: the same figure every run). */
  bpd: number;
  count: number;
  /** Bits/dim of every image, in dataset order: the mean can be ruled by a single outlier. */
  perImage: Float32Array;
}

/** Bits/dim over the first `limit` images of a split (all by default). */
export async function evaluateBpd(
  glow: Glow,
  ds: Dataset,
  opts: { limit?: number; seed?: number; batch?: number } = {},
): Promise<EvalResult> {
  const count = Math.min(opts.limit ?? ds.count, ds.count);
  const batch = opts.batch ?? 100;
  const seed = opts.seed ?? 12345;
  const size = ds.height * ds.width * ds.channels;
  let total = 0;
  const perImage = new Float32Array(count);
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const idx = Array.from({ length: n }, (_, i) => start + i);
    const x = toModelUnits(
      batchPixels(ds, idx),
      [n, ds.height, ds.width, ds.channels],
      glow.config.nBits,
      uniformArray(n * size, seed + start),
    );
    // The forward pass, as in training: bpd needs no latent that decode inverts (Glow.encode's reverse).
    const bpd = tf.tidy(() => glow.bitsPerDim(glow.forward(x).logpx));
    const values = (await bpd.data()) as Float32Array;
    perImage.set(values, start);
    for (const v of values) total += v; // in float64, image by image
    tf.dispose([x, bpd]);
  }
  return { bpd: total / count, count, perImage };
}

/** The median bits/dim and the `k` worst images (index, bpd), worst first. */
export function outliers(perImage: Float32Array, k = 5): { median: number; worst: { index: number; bpd: number }[] } {
  const sorted = Float32Array.from(perImage).sort();
  const n = sorted.length;
  const median = n % 2 ? sorted[n >> 1] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  const worst = [...perImage.keys()].sort((a, b) => perImage[b] - perImage[a] || a - b).slice(0, k);
  return { median, worst: worst.map((index) => ({ index, bpd: perImage[index] })) };
}

/** "3151: 693.5, 9944: 8.0, …" */
export const formatOutliers = (worst: { index: number; bpd: number }[]) => worst.map((w) => `${w.index}: ${w.bpd.toFixed(1)}`).join(', ');
