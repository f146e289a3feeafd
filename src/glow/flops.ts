import { GlowConfig } from './glow.ts';

/**
 * Multiply-add FLOPs (2 per MAC) of one forward pass per image: the convolutions and 1×1 matMuls,
 * which are nearly all the arithmetic. A training step costs 3× this (forward, input gradient,
 * weight gradient), the convention behind "effective GFLOP/s".
 */
export function forwardFlopsPerImage(c: GlowConfig): number {
  let [h, w, ch] = [c.height, c.width, c.channels];
  let flops = 0;
  for (let level = 0; level < c.levels; level++) {
    [h, w, ch] = [h / 2, w / 2, ch * 4];
    const px = h * w;
    const couplingOut = c.coupling === 'affine' ? ch : ch / 2;
    const step = ch * ch + 9 * (ch / 2) * c.hidden + c.hidden * c.hidden + 9 * c.hidden * couplingOut;
    flops += 2 * px * c.depth * step;
    const split = level < c.levels - 1;
    if (split) {
      flops += 2 * px * 9 * (ch / 2) * ch; // the conditional prior
      ch /= 2;
    }
  }
  return flops;
}
