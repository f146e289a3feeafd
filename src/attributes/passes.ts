// Editing in passes: move a latent α along directions in k equal parts, decoding each part to 8-bit
// pixels and encoding that image again before the next. Why: one large move also shifts pixels the
// attribute does not touch, by a grey level or two (measured on the faces model: a smile drawn in one
// pass costs more in drift over the rest of the face than it gains at the mouth); a small part shifts
// them by less than half a level, which rounding to 8 bits undoes, while the attribute's own pixels
// move by many levels per part and keep their change. k passes cost k decodes and k − 1 encodes.
import { addScaled } from './vectors.ts';

export interface Term {
  alpha: number;
  vector: Float32Array;
}

export interface PassModel<D extends { pixels: Uint8Array }> {
  decode(latents: Float64Array[]): Promise<D[]>;
  encode(images: Uint8Array[]): Promise<Float64Array[]>;
}

/**
 * Edits each latent `eps[i]` by Σ terms[i] (whole αs) in `passes` equal parts: pass p decodes
 * ε_p + Σ (α/passes)·d, and ε_{p+1} is the encoding of that 8-bit image. With one pass this is
 * decode(ε + Σ α·d). `onPass` sees the images after every pass (a curve over α costs one walk).
 * Returns the last pass's images and the latents they were decoded from.
 */
export async function editInPasses<D extends { pixels: Uint8Array }>(
  model: PassModel<D>,
  eps: Float64Array[],
  terms: Term[][],
  passes: number,
  onPass?: (pass: number, decoded: D[]) => void | Promise<void>,
): Promise<{ decoded: D[]; latents: Float64Array[] }> {
  if (!Number.isInteger(passes) || passes < 1) throw new Error(`passes must be a whole number ≥ 1, not ${passes}`);
  if (terms.length !== eps.length) throw new Error(`${terms.length} edits for ${eps.length} latents`);
  const part = terms.map((row) => row.map((t) => ({ alpha: t.alpha / passes, vector: t.vector })));
  let current = eps;
  for (let pass = 1; ; pass++) {
    const latents = current.map((e, i) => addScaled(e, part[i]));
    const decoded = await model.decode(latents);
    await onPass?.(pass, decoded);
    if (pass === passes) return { decoded, latents };
    current = await model.encode(decoded.map((d) => d.pixels));
  }
}
