// Attributes measured from pixels, for labelling images without human labels (built-in directions):
// thickness (ink mass), slant (second-order moment) and width (bounding box). Images are grey,
// white ink on black, row-major.

/** Total ink in units of fully white pixels. */
export function inkMass(img: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < img.length; i++) s += img[i];
  return s / 255;
}

/**
 * Slant as the shear of the ink: −μ11/μ02 with y pointing down, so positive means the top of the
 * stroke leans right (like italics). 0 for an empty image.
 */
export function slant(img: Uint8Array, width: number, height: number): number {
  let m = 0;
  let sx = 0;
  let sy = 0;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const v = img[y * width + x];
      m += v;
      sx += x * v;
      sy += y * v;
    }
  if (m === 0) return 0;
  const cx = sx / m;
  const cy = sy / m;
  let mu11 = 0;
  let mu02 = 0;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const v = img[y * width + x];
      mu11 += (x - cx) * (y - cy) * v;
      mu02 += (y - cy) * (y - cy) * v;
    }
  return mu02 === 0 ? 0 : -mu11 / mu02;
}

/** Width in pixels of the columns holding ink above `threshold`. 0 for an empty image. */
export function boxWidth(img: Uint8Array, width: number, height: number, threshold = 64): number {
  let lo = width;
  let hi = -1;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      if (img[y * width + x] > threshold) {
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
  return hi < 0 ? 0 : hi - lo + 1;
}

/**
 * Splits items at the median of `values`, within each group (e.g. digit class), so the positive and
 * negative sets hold every group in equal measure and the direction does not drift towards a class.
 * Items equal to their group's median go to neither set.
 */
export function medianSplit(values: number[], groups: number[]): { positive: number[]; negative: number[] } {
  const byGroup = new Map<number, number[]>();
  values.forEach((_, i) => {
    const g = byGroup.get(groups[i]) ?? [];
    g.push(i);
    byGroup.set(groups[i], g);
  });
  const positive: number[] = [];
  const negative: number[] = [];
  for (const idx of byGroup.values()) {
    const sorted = idx.map((i) => values[i]).sort((a, b) => a - b);
    const mid = sorted.length / 2;
    const median = sorted.length % 2 ? sorted[Math.floor(mid)] : (sorted[mid - 1] + sorted[mid]) / 2;
    for (const i of idx) {
      if (values[i] > median) positive.push(i);
      else if (values[i] < median) negative.push(i);
    }
  }
  return { positive, negative };
}
