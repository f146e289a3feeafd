// Pixels ↔ latents in batches, for scripts that work on whole sets of images.
import * as tf from '@tensorflow/tfjs';
import type { Glow } from '../glow/glow.ts';
import { fromModelUnits, toModelUnits } from '../glow/pixels.ts';

/** ε of each image (NHWC uint8, image after image): latentDim values per image (float32 values, held as the server holds latents). */
export async function encodePixels(glow: Glow, pixels: Uint8Array, batch = 64): Promise<Float64Array[]> {
  const { height, width, channels, nBits } = glow.config;
  const size = height * width * channels;
  const count = pixels.length / size;
  if (!Number.isInteger(count)) throw new Error(`${pixels.length} bytes are not whole ${height}×${width}×${channels} images`);
  const d = glow.latentDim;
  const out: Float64Array[] = [];
  for (let s = 0; s < count; s += batch) {
    const n = Math.min(batch, count - s);
    const x = toModelUnits(pixels.subarray(s * size, (s + n) * size), [n, height, width, channels], nBits);
    const { eps, logpx } = glow.encode(x);
    const data = (await eps.data()) as Float32Array;
    tf.dispose([x, eps, logpx]);
    for (let i = 0; i < n; i++) out.push(Float64Array.from(data.subarray(i * d, (i + 1) * d)));
  }
  return out;
}

/** Images of latents, as one NHWC uint8 buffer. */
export async function decodeLatents(glow: Glow, latents: (Float32Array | Float64Array)[], batch = 64): Promise<Uint8Array> {
  const { height, width, channels, nBits } = glow.config;
  const size = height * width * channels;
  const d = glow.latentDim;
  const out = new Uint8Array(latents.length * size);
  for (let s = 0; s < latents.length; s += batch) {
    const chunk = latents.slice(s, s + batch);
    const flat = new Float32Array(chunk.length * d);
    chunk.forEach((z, i) => flat.set(z, i * d));
    const e = tf.tensor2d(flat, [chunk.length, d]);
    const x = glow.decode(e);
    out.set(await fromModelUnits(x, nBits), s * size);
    tf.dispose([e, x]);
  }
  return out;
}
