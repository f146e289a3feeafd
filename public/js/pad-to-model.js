// The drawing at the model's size: MNIST's own preprocessing for a grey model, a plain scale for a colour one.
import { el } from './dom.js';
import { state } from './state.js';

/** Brightness of the RGBA pixel at byte `i` (Rec. 709 weights), so coloured ink counts too. */
function luma(d, i) {
  return 0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2];
}

/**
 * The pad at the model's size. A grey model gets MNIST's own preprocessing: the ink's bounding box
 * scaled to fit 20×20 (of 28×28), placed in a black image with its centre of mass in the middle.
 * A colour model gets the whole pad scaled down, colours kept. The server converts the PNG to the
 * model's channels (and would resize it too).
 */
export function padToModelCanvas(pad, padCtx) {
  const size = state.info?.image ?? { height: 28, width: 28, channels: 1 };
  if (size.channels !== 1) {
    const out = el('canvas', { width: size.width, height: size.height });
    const octx = out.getContext('2d');
    octx.imageSmoothingEnabled = true;
    octx.imageSmoothingQuality = 'high';
    octx.drawImage(pad, 0, 0, size.width, size.height);
    return out;
  }
  const { data, width, height } = padCtx.getImageData(0, 0, pad.width, pad.height);
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (luma(data, (y * width + x) * 4) > 24) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const box = Math.round(Math.min(size.width, size.height) * (20 / 28));
  const k = box / Math.max(bw, bh);
  const sw = Math.max(1, Math.round(bw * k));
  const sh = Math.max(1, Math.round(bh * k));
  const small = el('canvas', { width: sw, height: sh });
  const sctx = small.getContext('2d', { willReadFrequently: true });
  sctx.imageSmoothingEnabled = true;
  sctx.imageSmoothingQuality = 'high';
  sctx.drawImage(pad, x0, y0, bw, bh, 0, 0, sw, sh);
  const sd = sctx.getImageData(0, 0, sw, sh).data;
  let mass = 0;
  let mx = 0;
  let my = 0;
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < sw; x++) {
      const v = luma(sd, (y * sw + x) * 4);
      mass += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  }
  const cx = mass ? mx / mass : sw / 2;
  const cy = mass ? my / mass : sh / 2;
  const ox = Math.min(Math.max(Math.round(size.width / 2 - cx), 0), size.width - sw);
  const oy = Math.min(Math.max(Math.round(size.height / 2 - cy), 0), size.height - sh);
  const out = el('canvas', { width: size.width, height: size.height });
  const octx = out.getContext('2d');
  octx.fillStyle = '#000';
  octx.fillRect(0, 0, size.width, size.height);
  octx.drawImage(small, ox, oy);
  return out;
}
