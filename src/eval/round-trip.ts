// decode(encode(x)) over a dataset split, the way the server does it: pixel bin centres in, 8-bit
// pixels out, in batches of 64, on an inference engine (float32 on the engine, float64 for the images
// that need it). This finds the images whose round trip fails.
import { batchPixels, type Dataset } from '../data/dataset.ts';
import type { GlowConfig } from '../glow/glow.ts';
import { compareRoundTrip, countNonFinite, modelUnits, quantise, type RoundTrip } from '../glow/pixels.ts';
import type { InferenceEngine } from '../inference/engines.ts';

/** What the evaluations need of an inference engine (src/inference/engines.ts): the server's two calls. */
export type Codec = Pick<InferenceEngine, 'name' | 'encode' | 'decode'>;

/**
 * One RoundTrip per image of the first `limit` (all by default), in dataset order, and the largest
 * |decode(encode(x)) − x| over them all in model units (NaN or Infinity when a value came back so).
 */
export async function roundTrips(
  codec: Codec,
  config: GlowConfig,
  ds: Dataset,
  opts: { limit?: number; batch?: number } = {},
): Promise<{ trips: RoundTrip[]; maxError: number }> {
  const count = Math.min(opts.limit ?? ds.count, ds.count);
  const batch = opts.batch ?? 64; // the server's largest batch
  const { height, width, channels, nBits } = config;
  const size = height * width * channels;
  const trips: RoundTrip[] = [];
  let maxError = 0;
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const pixels = batchPixels(
      ds,
      Array.from({ length: n }, (_, i) => start + i),
    );
    const units = modelUnits(pixels, nBits);
    const values = await codec.decode(n, (await codec.encode(n, units)).eps);
    for (let k = 0; k < values.length; k++) maxError = Math.max(maxError, Math.abs(values[k] - units[k]));
    const nonFinite = countNonFinite(values, n);
    const decoded = quantise(values, nBits);
    for (let i = 0; i < n; i++) {
      trips.push(
        compareRoundTrip(
          pixels.subarray(i * size, (i + 1) * size),
          { pixels: decoded.subarray(i * size, (i + 1) * size), nonFinite: nonFinite[i] },
          nBits,
        ),
      );
    }
  }
  return { trips, maxError };
}

/** "9,989 of 10,000 exact; not: 3151 (784 NaN/Inf), 2535 (1 value off by 1)" */
export function describeRoundTrips(trips: RoundTrip[], show = 12): string {
  const bad = [...trips.keys()].filter((i) => !trips[i].exact);
  const what = (r: RoundTrip) =>
    r.nonFinite > 0 ? `${r.nonFinite} NaN/Inf` : `${r.wrongValues} value${r.wrongValues === 1 ? '' : 's'} off by up to ${r.maxError}`;
  const list = bad
    .slice(0, show)
    .map((i) => `${i} (${what(trips[i])})`)
    .join(', ');
  return (
    `${(trips.length - bad.length).toLocaleString('en')} of ${trips.length.toLocaleString('en')} exact` +
    (bad.length ? `; not: ${list}${bad.length > show ? `, … ${bad.length - show} more` : ''}` : '')
  );
}
