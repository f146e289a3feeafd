import * as tf from '@tensorflow/tfjs';
import { Dataset, batchPixels } from '../data/datasets.ts';
import { Glow } from '../glow/glow.ts';
import { toModelUnits } from '../glow/pixels.ts';
import { uniformArray } from '../glow/random.ts';

export interface EvalResult {
  /** Mean bits/dim with uniform dequantisation noise (seeded: the same figure every run). */
  bpd: number;
  count: number;
  /** max |decode(encode(x)) − x| in model units, when asked for. */
  maxReconstructionError?: number;
}

/** Bits/dim over the first `limit` images of a split (all by default). */
export async function evaluateBpd(glow: Glow, ds: Dataset, opts: { limit?: number; seed?: number; batch?: number; reconstruction?: boolean } = {}): Promise<EvalResult> {
  const count = Math.min(opts.limit ?? ds.count, ds.count);
  const batch = opts.batch ?? 100;
  const seed = opts.seed ?? 12345;
  const size = ds.height * ds.width * ds.channels;
  let total = 0;
  let maxErr = 0;
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const idx = Array.from({ length: n }, (_, i) => start + i);
    const x = toModelUnits(batchPixels(ds, idx), [n, ds.height, ds.width, ds.channels], glow.config.nBits, uniformArray(n * size, seed + start));
    const [sum, err] = tf.tidy(() => {
      const { eps, logpx } = glow.encode(x);
      const s = tf.sum(glow.bitsPerDim(logpx));
      return [s, opts.reconstruction ? tf.max(tf.abs(tf.sub(glow.decode(eps), x))) : tf.scalar(0)];
    });
    total += (await sum.data())[0];
    maxErr = Math.max(maxErr, (await err.data())[0]);
    tf.dispose([x, sum, err]);
  }
  return { bpd: total / count, count, ...(opts.reconstruction ? { maxReconstructionError: maxErr } : {}) };
}
