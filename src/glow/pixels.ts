import * as tf from '@tensorflow/tfjs';

/**
 * 8-bit pixels ↔ model units. With nBits < 8 the low bits are dropped (Glow §5, 5-bit CelebA).
 * A pixel maps to the centre of its bin in [−0.5, 0.5]; training adds uniform noise over the bin instead.
 */
export function toModelUnits(
  pixels: Uint8Array | Float32Array,
  shape: [number, number, number, number],
  nBits: number,
  noise?: Float32Array,
): tf.Tensor4D {
  return tf.tensor4d(modelUnits(pixels, nBits, noise), shape);
}

/** toModelUnits as a plain array. */
export function modelUnits(pixels: Uint8Array | Float32Array, nBits: number, noise?: Float32Array): Float32Array {
  const bins = 2 ** nBits;
  const drop = 2 ** (8 - nBits);
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const bin = Math.floor(pixels[i] / drop);
    out[i] = (bin + (noise ? noise[i] : 0.5)) / bins - 0.5;
  }
  return out;
}

/** Back to 8-bit pixels: the bin the value falls in, clamped to the valid range. */
export async function fromModelUnits(x: tf.Tensor4D, nBits: number): Promise<Uint8Array> {
  const values = await x.data();
  return quantise(values as Float32Array, nBits);
}

/** Per image of `n`, how many values are NaN or ±Inf: quantise turns them into black or white pixels. */
export function countNonFinite(values: Float32Array | Float64Array, n: number): Uint32Array {
  const size = values.length / n;
  const out = new Uint32Array(n);
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) out[Math.floor(i / size)]++;
  return out;
}

export interface RoundTrip {
  /** The latent decodes to exactly the encoded image. */
  exact: boolean;
  /** Largest difference of any pixel value, in 8-bit levels (a NaN value counts as the 0 it is drawn as). */
  maxError: number;
  wrongValues: number;
  /** Values the reverse left NaN or ±Inf. */
  nonFinite: number;
}

/** How far decode(encode(pixels)) landed from `pixels`, as the model sees them (with nBits < 8: their bins). */
export function compareRoundTrip(pixels: Uint8Array, back: { pixels: Uint8Array; nonFinite: number }, nBits: number): RoundTrip {
  const expected = quantise(modelUnits(pixels, nBits), nBits);
  let maxError = 0;
  let wrongValues = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(expected[i] - back.pixels[i]);
    if (d > 0) wrongValues++;
    if (d > maxError) maxError = d;
  }
  return { exact: wrongValues === 0 && back.nonFinite === 0, maxError, wrongValues, nonFinite: back.nonFinite };
}

export function quantise(values: Float32Array, nBits: number): Uint8Array {
  const bins = 2 ** nBits;
  const drop = 2 ** (8 - nBits);
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const bin = Math.min(bins - 1, Math.max(0, Math.floor((values[i] + 0.5) * bins)));
    out[i] = bin * drop + (drop >> 1) * (nBits < 8 ? 1 : 0);
  }
  return out;
}
